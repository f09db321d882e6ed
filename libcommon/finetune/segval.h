/*
 * segval — the validation of a fine-tuning run: 3-D Dice per volume on the
 * stacked validation slices, as dice-eval counts it (segm_tally): an organ
 * in neither the labels nor the prediction of a volume is left out, the
 * others' Dice averaged over every scored (volume, organ) and per organ
 * over volumes.
 *
 * Not here: choosing the best checkpoint or stopping early (seg-finetune).
 */
#ifndef LRC_SEGVAL_H
#define LRC_SEGVAL_H

#include <stdint.h>

#include "core/mval.h"
#include "finetune/segdata.h"
#include "models/segnet.h"

typedef struct {
    double mean;       /* over every scored (volume, organ); NAN: none */
    double *organ;     /* [C]: mean per organ over volumes (NAN: never scored, and for 0) */
    int scored;        /* (volume, organ) pairs */
} segval_result;

/* Predict the slices of va in batches of B through x (B, H, W) and pred
 * (B, H, W) and score them. res->organ is malloc'ed (segval_free). 0 or -1
 * + err_set. */
int segval_run(segval_result *res, segnet *net, const segdata *va, int B, float *x, uint8_t *pred);
void segval_free(segval_result *res);
/* Put the result in a metrics-log record: "val_dice" (when scored),
 * "val_organs" {name or label value: Dice} of the organs scored, and
 * "val_scored". classes: C names by label value, or NULL. */
void segval_record(mval *rec, const segval_result *res, char *const *classes, int C);
/* A validation's whole metrics-log record: "step", "epoch", segval_record's
 * keys, and "best_dice", "best_step" when best is not NaN. rec: an empty
 * map. */
void segval_log_record(mval *rec, int64_t step, double epoch, const segval_result *res, char *const *classes, int C,
                       double best, int64_t best_step);

#endif
