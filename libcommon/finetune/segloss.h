/*
 * segloss — the fine-tuning loss of seg-finetune: soft Dice over the organ
 * classes, optionally plus cross-entropy, with its gradient with respect to
 * the logits; and the hard (argmax) overlap counts for a training Dice.
 *
 * Definition. logits z (N, C, H, W), labels y (N, H, W) in 0..C-1, class 0
 * the background. p = softmax(z) over C at each pixel. The sums run over
 * ALL pixels of ALL N images of the batch (per-batch Dice, as MONAI's
 * DiceLoss(batch=True)):
 *
 *   I_c = sum p_c [y = c],  P_c = sum p_c,  G_c = sum [y = c]
 *   D_c = (2 I_c + s) / (P_c + G_c + s)                 s = smooth (1e-5)
 *   L_dice = 1 - (1 / (C - 1)) sum_{c = 1..C-1} D_c      (background excluded)
 *   L_ce   = -(1 / (N H W)) sum log p_{y}                (every class, mean)
 *   L      = L_dice + ce_weight L_ce
 *
 * An organ absent from the batch's labels counts as D_c = s / (P_c + s):
 * with s = 1e-5 (nnU-Net's) that is ~0 for any prediction, a constant that
 * leaves the organ to the cross-entropy. A large s is harmful: with s = 1 the
 * term is ~1 - P_c, a pull of up to 1 per pixel (dD_c/dp = -s / (P_c + s)^2)
 * against the ~2 / (P_c + G_c) per pixel that a present organ of a few
 * hundred pixels earns, so small organs absent from most batches were pushed
 * to zero probability everywhere and learnt late or never (measured on the
 * head-and-neck data at |XT| = 3: validation Dice 0.20 after 2500 steps with
 * s = 1, 0.61 after 1750 with s = 1e-5, the same network and seed).
 * Per-batch sums make small organs that are missing from single slices well
 * defined. C = 1 (background only) is refused.
 *
 * Data-parallel training (all_ranks, nn/dist.h): the batch is the union of
 * every rank's N images. The sums I_c, P_c, G_c, the cross-entropy and its
 * pixel count, and the hard counts are added up over the ranks before the
 * loss is formed, so every rank gets the loss of the whole batch in st and,
 * in dlogits, the gradient of that loss with respect to its own logits:
 * the ranks' parameter gradients then add up (not average) to the one
 * process with all the images would have. Every rank must call it together.
 *
 * The gradient is written (not accumulated) into dlogits, for the mean
 * loss L as above (no further scaling by N). Accumulation is in double and
 * single-threaded, so the result does not depend on the thread count.
 *
 * Not here: the network (segnet.h), 3-D metrics (segmetric.h).
 */
#ifndef LRC_SEGLOSS_H
#define LRC_SEGLOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/mval.h"

#define SEGLOSS_MAX_CLASSES 256

typedef struct {
    double smooth;    /* s: 1e-5 */
    double ce_weight; /* 0: Dice only (the paper's) */
    int all_ranks;    /* the batch is every rank's images (above); 0: this process's */
} segloss_config;

void segloss_config_default(segloss_config *c);

typedef struct {
    double loss, dice_loss, ce; /* L, L_dice, L_ce (L_ce computed always) */
    /* hard counts of the argmax prediction per class (first maximum wins) */
    int64_t tp[SEGLOSS_MAX_CLASSES], npred[SEGLOSS_MAX_CLASSES], nref[SEGLOSS_MAX_CLASSES];
} segloss_stats;

/* The loss of logits (N, C, HW) against labels (N, HW) and its gradient
 * dlogits (N, C, HW) (may be NULL: loss only). Labels >= C are an error
 * (-1 + err_set naming the first such pixel's image and value). dlogits may
 * not alias logits. */
int segloss_dice(float *dlogits, segloss_stats *st, const float *logits, const uint8_t *label, int N, int C,
                 int HW, const segloss_config *cfg);

/* Mean hard Dice over organ classes 1..C-1 from stats, excluding classes in
 * neither labels nor prediction; NaN when every class is excluded. The
 * counts are eval/segmetric.h's (segm_tally, segm_mean_dice). */
double segloss_hard_dice(const segloss_stats *st, int C);

/* Running means of a training run's steps between two metrics-log lines:
 * the losses averaged, the pixel counts summed (so train_dice is the Dice
 * of all the interval's pixels). */
typedef struct {
    double loss, dice_loss, ce;
    int64_t n;
    int64_t tp[SEGLOSS_MAX_CLASSES], npred[SEGLOSS_MAX_CLASSES], nref[SEGLOSS_MAX_CLASSES];
} segloss_meter;

/* Add a step's stats (C classes). */
void segloss_meter_add(segloss_meter *m, const segloss_stats *st, int C);
/* Put "loss", "dice_loss", "ce" and (when defined) "train_dice" in a
 * metrics-log record, then start a new interval. */
void segloss_meter_record(segloss_meter *m, mval *rec, int C);

#endif
