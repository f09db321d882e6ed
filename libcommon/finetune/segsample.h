/*
 * segsample — which training slices a fine-tuning step sees, as a function
 * of (seed, step) only, so that a resumed run takes the same batches as an
 * uninterrupted one.
 *
 *   the slices: every slice of the training set in canonical order (volume
 *     ids sorted, then z), an organ-free slice kept with probability
 *     empty_keep, drawn from (seed, id, z): the choice depends neither on
 *     the input order nor on the other slices;
 *   the order: epoch e is a permutation of them drawn from (seed, e); the
 *     batches run on across epoch boundaries, so batch s holds positions
 *     s B .. s B + B - 1 of the endless sequence;
 *   the augmentation: each slice of batch s moved by whole pixels (dy, dx)
 *     uniform in [-shift, shift], drawn from (seed, s) (segdata_copy_shifted).
 *
 * Data-parallel training (nn/dist.h): N ranks of B slices each share the
 * batch of N B slices that one process would take, rank r its slices
 * r B .. r B + B - 1 (segsample_batch_part), shifts included; so a step's
 * slices depend on N B, not on how it is split.
 *
 * Not here: holding the slices (segdata.h), the step (segtrain.h).
 */
#ifndef LRC_SEGSAMPLE_H
#define LRC_SEGSAMPLE_H

#include <stdint.h>

#include "finetune/segdata.h"

typedef struct {
    const segdata *d;
    uint64_t seed;
    int64_t *idx;           /* the slices used (into d), in canonical order */
    int64_t n;
    int64_t *perm;          /* the permutation of epoch perm_epoch */
    int64_t perm_epoch;
    int64_t empty_total;    /* organ-free slices in d */
    int64_t empty_kept;     /* of which kept */
} segsample;

/* Choose the slices of d (which must outlive s). 0, or -1 + err_set (out
 * of memory; no slice left: all are organ-free and empty_keep kept none). */
int segsample_init(segsample *s, const segdata *d, uint64_t seed, double empty_keep);
void segsample_free(segsample *s);
/* The slice (index into d) at position p of the endless sequence. */
int64_t segsample_at(segsample *s, int64_t p);
/* Batch step: B slices into x (B, H, W) and y (B, H, W), each moved by up
 * to shift pixels. */
void segsample_batch(segsample *s, float *x, uint8_t *y, int64_t step, int B, int shift);
/* Slices first .. first + n - 1 of batch step of B slices into x (n, H, W)
 * and y (n, H, W), as segsample_batch would put them there. */
void segsample_batch_part(segsample *s, float *x, uint8_t *y, int64_t step, int B, int first, int n, int shift);

#endif
