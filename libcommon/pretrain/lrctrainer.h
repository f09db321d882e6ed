/*
 * lrctrainer — one training step of LRC's local branch: the U-Net (El + Dl)
 * trained with the local region contrast loss (lrcloss.h) and Adam.
 *
 * A step on B pairs of one shape [H, W] (multiples of 16):
 *   1. x = [xq_1 .. xq_B, xp_1 .. xp_B] (2B, 1, H, W) through the U-Net in
 *      ONE forward (so batch norm's statistics are over both views),
 *      features f (2B, D, H, W); fq_b = f[b], fp_b = f[B + b];
 *   2. for each pair b in order, lrc_sample_draw(rq_b, rp_b, N, r_b) then
 *      the pair's loss and its gradient into df, with scale 1 / (pairs
 *      used); a pair with fewer than 2 regions in both views has no loss;
 *      r_b is the pair's own stream, rng_seed(u, seq_b) with u one draw of
 *      r: a pair's samples depend on the step and the pair, not on its place
 *      in the batch nor on which rank trains it;
 *   3. zero the gradients, backward through the U-Net, one optimiser step
 *      with the given learning rate. When no pair of the batch has a loss,
 *      nothing is updated.
 * The step's loss is the mean over the used pairs of the per-region loss
 * (lrcloss.h), the number the paper's L_l / K is.
 *
 * Under MPI (nn/dist.h) every rank calls the step with its own B pairs;
 * the statistics in st are those of all ranks' pairs together, and the
 * gradients are averaged over all used pairs (each rank's weighing by its
 * pairs) before the optimiser step, so N ranks of B pairs take the step
 * one process would take with the N B pairs in one batch (batch norm's
 * statistics aside: they are per rank, unless synchronised, nn.h). All
 * ranks must call it together, each with at least one pair, but see
 * lrc_trainer_step.
 *
 * Checkpoints: the U-Net under prefix "" (kind "unet", its configuration
 * JSON), the optimiser under "optim.", and metadata "method" = "lrc" and
 * "lrc" = {"tau","samples","normalize","exclude_self"} (JSON). Loading
 * checks the model kind and configuration (ckpt.h) and the method.
 *
 * Not here: reading frames and batching (pairfeed.h), the loop, schedules and
 * logging (nn/trainloop.h, lrc-train).
 */
#ifndef LRC_LRCTRAINER_H
#define LRC_LRCTRAINER_H

#include <stdint.h>

#include "core/rng.h"
#include "models/unet.h"
#include "nn/ckpt.h"
#include "nn/optim.h"
#include "pretrain/lrcloss.h"
#include "pretrain/lrcpair.h"

typedef struct {
    unet_config net;
    optim_config opt; /* Adam by default (paper: beta1 0.9, weight decay 1e-4) */
    lrc_opts loss;
    int samples;      /* N per region, 50 */
} lrc_trainer_config;

void lrc_trainer_config_default(lrc_trainer_config *c);

typedef struct lrc_trainer lrc_trainer;

/* A new trainer with a U-Net initialised from seed. NULL + err_set. */
lrc_trainer *lrc_trainer_create(const lrc_trainer_config *c, uint64_t seed);
void lrc_trainer_free(lrc_trainer *t);
unet *lrc_trainer_net(lrc_trainer *t);
optim *lrc_trainer_optim(lrc_trainer *t);

typedef struct {
    double loss;      /* mean per-region loss over the used pairs (0 if none) */
    int pairs;        /* pairs with a loss */
    int skipped;      /* pairs with fewer than 2 regions */
    double regions;   /* mean regions per used pair */
    int one_sided;    /* region labels present in one view only (ignored) */
} lrc_step_stats;

/* One step as above. pairs[0..B) must carry regions and share one shape.
 * On several ranks B may be 0 on some of them (the uneven shares of a
 * ZeroMQ input): such a rank runs no forward or backward, only the step's
 * reductions, with no gradient of its own; not with synchronised batch
 * norm (its collectives are inside forward and backward). */
int lrc_trainer_step(lrc_trainer *t, lrc_pair *const *pairs, int B, double lr, rng *r, lrc_step_stats *st);

/* Put the model, the optimiser and the method metadata into w (the data must
 * stay valid until ckpt_write). */
int lrc_trainer_save(lrc_trainer *t, ckpt_writer *w);
/* Restore model and optimiser from c (same configuration required). */
int lrc_trainer_load(lrc_trainer *t, const ckpt *c);

#endif
