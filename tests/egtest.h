/*
 * egtest — what the tests of the global pre-training methods (test_egmethods,
 * test_mae) share: a synthetic slice pair, the trainer's loss with fixed
 * random draws, and the directional finite-difference check of one tensor.
 */
#ifndef LRC_EGTEST_H
#define LRC_EGTEST_H

#include <stdint.h>

#include "nn/param.h"
#include "pretrain/egtrainer.h"
#include "pretrain/lrcpair.h"

/* A slice-like H x W image: four smooth blobs of random intensity plus
 * noise. The positive view is the same image, or (shifted) the image moved
 * one pixel right and 10 % brighter. */
lrc_pair *egt_pair(int H, int W, uint64_t seed, int shifted);

/* eg_trainer_grad on the pairs with the same random draws every time
 * (relloc's patches, MAE's masks); fails the test on error. Returns the
 * loss, and the step's statistics in *st when st is not NULL. */
double egt_loss(eg_trainer *t, lrc_pair **pairs, int B, eg_stats *st);

/* The gradient g of tensor e (of pb, whose data the loss reads) against
 * Richardson-extrapolated central differences of the loss along g/|g|, at
 * three step sizes of h = {1e-3, 3e-3, 1e-2} x max(rms(e), hfloor); the
 * closest counts. Returns that relative error, |g| in *gnorm and the
 * difference quotient in *fd. The tensor is restored. */
double egt_dirfd(eg_trainer *t, lrc_pair **pairs, int B, pblock *pb, const float *g, const param_entry *e,
                 double hfloor, double *gnorm, double *fd);

#endif
