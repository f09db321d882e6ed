/*
 * egtrainer — the global encoder Eg pre-trained by one of the image-level
 * methods of the paper's Table 1 other than MoCo (mocotrainer.h): rotation
 * prediction (rotation.h), relative patch location (relloc.h), BYOL (byol.h),
 * SimSiam (simsiam.h), DenseCL (densecl.h), Models Genesis (genesis.h:
 * image restoration through a decoder) and MAE (mae.h: a ViT Eg, masked
 * patches restored by a light decoder). This module is what they
 * share; each method's file holds only its own forward, loss and backward,
 * and the state that is neither a part nor an optimiser (DenseCL's queues),
 * which it saves and loads through its own hooks.
 *
 * A trainer is a set of named parts: Eg itself (a ResNet, resnet.h; MAE's a
 * ViT, vit.h) and the method's heads (projector.h) or decoder (resdec,
 * resnet.h; MAE's maedec.h), plus, for BYOL, the target network, a part
 * without an optimiser that follows the online one by an exponential moving
 * average. A step on B pairs:
 *   1. zero every gradient;
 *   2. the method's forward, loss and backward (eg_trainer_grad stops here:
 *      the tests compare these gradients with PyTorch's);
 *   3. one SGD step per trained part with the scheduled learning rate lr
 *      (MAE: AdamW, its betas (0.9, 0.95), beta1 from the momentum option,
 *      no weight decay on biases and norms)
 *      (a part marked fixed-lr, SimSiam's predictor, keeps the base rate of
 *      the configuration);
 *   4. the method's after-update work (BYOL's moving average).
 * Every part is in training mode (batch norm with the batch's statistics).
 *
 * Under MPI (nn/dist.h) every rank steps together on its own B pairs:
 * between 2 and 3 the trained parts' gradients are averaged over all ranks'
 * pairs (each rank weighing by its pairs) and st becomes all ranks' (loss
 * and metric averaged over the pairs), so every rank takes the same step.
 * Batch norm and the methods' in-batch work (BYOL's and SimSiam's
 * statistics, rotations, patches) stay per rank, each rank drawing from a
 * stream of its own. A method that gathers every rank's keys (DenseCL, as
 * MoCo: its queues take all ranks' keys, its shuffle-BN spans the ranks;
 * eg_method_gathers) instead needs the same batch size and shape on every
 * rank, the same stream r on every rank, and a queue that the keys of a
 * step divide (eg_method_check_ranks).
 *
 * Checkpoints: each part under its prefix (Eg under "": what seg-finetune
 * --global loads), each optimiser under "optim." (Eg) or "optim_NAME." (a
 * head), the method's own tensors under "NAME." (DenseCL's queues),
 * metadata "method" = the method's name and, under that name, the
 * method's settings (JSON). Loading checks the method, the parts' kinds and
 * configurations and these settings, and restores every tensor, optimiser
 * state and step count, so a resumed run continues as the interrupted one
 * would have (BYOL's moving-average schedule reads the optimiser's step).
 *
 * Not here: reading frames, batching, schedules, logging (lrc-train.c);
 * MoCo (mocotrainer.h, whose checkpoint layout predates this module).
 */
#ifndef LRC_EGTRAINER_H
#define LRC_EGTRAINER_H

#include <stdint.h>

#include "core/rng.h"
#include "models/maedec.h"
#include "models/projector.h"
#include "models/resnet.h"
#include "models/vit.h"
#include "nn/ckpt.h"
#include "nn/optim.h"
#include "pretrain/lrcpair.h"

/* The options of every method; each reads the ones that concern it (the
 * man page lrc-train(1) lists them with their defaults and sources). Widths
 * of 0 mean the method's default, scaled from Eg's pooled width C4. */
typedef struct {
    resnet_config enc;     /* Eg: ResNet-18 x 0.25 */
    optim_config opt;      /* SGD, momentum 0.9, weight decay 1e-4; lr 0 = the method's */
    int64_t total_steps;   /* BYOL: the length of the moving-average schedule (0: constant) */
    int dim;               /* BYOL/SimSiam/DenseCL: projection width */
    int hidden;            /* hidden width: BYOL's MLPs, relloc's classifier, DenseCL's heads */
    int pred_dim;          /* SimSiam: predictor bottleneck */
    double ema;            /* BYOL: base moving-average rate tau_base, 0.996 */
    int fix_pred_lr;       /* SimSiam: the predictor keeps the base learning rate (1) */
    int patch, gap, jitter; /* relloc: geometry in pixels, -1 = from the slice size */
    int queue;             /* DenseCL: negatives in each queue, 4096 (MoCo's) */
    double m;              /* DenseCL: key encoder momentum, 0.999 */
    double tau;            /* DenseCL: temperature of both InfoNCE terms, 0.2 */
    double dense_weight;   /* DenseCL: lambda, the dense term's weight, 0.5 */
    int bn_splits;         /* DenseCL: shuffle-BN sub-batches, 2 (as mocotrainer.h) */
    /* Models Genesis: the probabilities of its transformations, in
     * genesis.h's order (non-linear, local shuffle, paint, out-paint, flip):
     * the official config's 0.9, 0.5, 0.9, 0.8, 0.4 */
    double genesis_rates[5];
    vit_config vit;        /* MAE: Eg, ViT-B/16 */
    int dec_depth, dec_width, dec_heads; /* MAE's decoder: 8, 512, 16 */
    double mask_ratio;     /* MAE: 0.75 */
} eg_config;

void eg_config_default(eg_config *c);

/* The methods by name: "rotation", "relloc", "byol", "simsiam", "densecl",
 * "genesis", "mae". */
int eg_method_known(const char *name);
/* Their names for a message: "rotation, relloc, byol, simsiam, densecl,
 * genesis or mae". */
const char *eg_method_names(void);
/* 1 if the method's step gathers every rank's keys (above): the caller
 * gives every rank the same stream r and ends the run at the first short
 * batch (MoCo's drop_last). */
int eg_method_gathers(const char *name);
/* Whether a job of ranks processes with --batch batch can run the method
 * with c: 0, or -1 + err_set (DenseCL: the keys of a step must divide
 * --queue). */
int eg_method_check_ranks(const char *name, const eg_config *c, int batch, int ranks);
/* Whether the method can run with c's settings, before any pair is read:
 * 0, or -1 + err_set (relloc: --patch a multiple of 16). */
int eg_method_check(const char *name, const eg_config *c);
/* The default learning rate of a method at B pairs a step, all ranks'
 * (DenseCL: MoCo's 0.03 at 256 scaled linearly, as lrc-train does for
 * MoCo; the others a constant), and the name of its metric in the log
 * ("acc": classification accuracy, or DenseCL's global InfoNCE top-1;
 * "std": the standard deviation of the L2-normalised projections, the
 * collapse indicator). */
double eg_method_lr(const char *name, int64_t B);
const char *eg_method_metric(const char *name);
/* The method's default weight decay, or wd when it has none of its own
 * (MAE: 0.05). */
double eg_method_wd(const char *name, double wd);

typedef struct {
    double loss;   /* the method's loss, mean over the batch */
    double metric; /* as named by eg_method_metric */
    int pairs;
} eg_stats;

typedef struct eg_trainer eg_trainer;

eg_trainer *eg_trainer_create(const char *method, const eg_config *c, uint64_t seed);
void eg_trainer_free(eg_trainer *t);
const char *eg_trainer_method(const eg_trainer *t);
resnet *eg_trainer_encoder(eg_trainer *t); /* NULL when Eg is a ViT */
/* The configuration with every default resolved. */
const eg_config *eg_trainer_config(const eg_trainer *t);

/* Forward, loss and gradients on B pairs; no update. r draws what the
 * method draws (relloc's patches). */
int eg_trainer_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st);
/* A whole step as above. */
int eg_trainer_step(eg_trainer *t, lrc_pair *const *pairs, int B, double lr, rng *r, eg_stats *st);

int eg_trainer_save(eg_trainer *t, ckpt_writer *w);
int eg_trainer_load(eg_trainer *t, const ckpt *c);

/* The parts, for tests: part i of eg_trainer_nparts, its prefix, and
 * whether it is trained (has an optimiser). */
int eg_trainer_nparts(const eg_trainer *t);
pblock *eg_trainer_part(eg_trainer *t, int i, const char **prefix, int *trained);

/* ---- for the methods' files ---- */

typedef struct {
    const char *prefix, *optim_prefix; /* optim_prefix NULL: not trained */
    resnet *enc;                        /* one of enc, dec, proj, vit, mdec */
    resdec *dec;
    projector *proj;
    vit *vit;
    maedec *mdec;
    optim *opt;
    int fixed_lr;
} eg_part;

#define EG_MAX_PARTS 6
#define EG_SCRATCH 6

struct eg_trainer {
    const struct eg_ops *ops;
    eg_config c;
    int C4;                  /* Eg's pooled width */
    uint64_t seed;
    eg_part part[EG_MAX_PARTS];
    int nparts;
    float *x;                /* the batch buffer (eg_input) */
    size_t xcap;
    float *scr[EG_SCRATCH];  /* work buffers (eg_scratch) */
    size_t scap[EG_SCRATCH];
    void *priv;              /* the method's own state (ops->free frees it) */
};

typedef struct eg_ops {
    const char *name, *metric;
    double lr;
    int lr_per256;   /* lr is the rate at 256 pairs a step, scaled linearly */
    int gathers;     /* the step gathers every rank's keys (eg_method_gathers) */
    int adamw;       /* trains with AdamW (betas momentum, 0.95), not SGD */
    double wd;       /* its default weight decay (0: the trainer option's) */
    /* resolve c's defaults, add the parts */
    int (*init)(eg_trainer *t);
    /* forward, loss, backward (gradients zeroed before) */
    int (*grad)(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st);
    /* whether c's settings can work, before any pair is seen (NULL: any) */
    int (*check)(const eg_config *c);
    /* whether ranks processes of batch pairs can run c (NULL: any) */
    int (*check_ranks)(const eg_config *c, int batch, int ranks);
    /* after the optimiser steps (NULL: nothing) */
    void (*after_update)(eg_trainer *t);
    /* the settings saved under the method's name, malloc'ed JSON */
    char *(*json)(const eg_trainer *t);
    /* the method's own tensors into and out of a checkpoint, and its
     * state freed (each NULL: none) */
    int (*save)(eg_trainer *t, ckpt_writer *w);
    int (*load)(eg_trainer *t, const ckpt *c);
    void (*free)(eg_trainer *t);
} eg_ops;

/* Add a part; returns its index or -1. optim_prefix NULL: no optimiser. */
int eg_add_resnet(eg_trainer *t, const char *prefix, const char *optim_prefix, const resnet_config *c);
int eg_add_resdec(eg_trainer *t, const char *prefix, const char *optim_prefix, const resdec_config *c);
int eg_add_proj(eg_trainer *t, const char *prefix, const char *optim_prefix, const proj_config *c, int fixed_lr);
int eg_add_vit(eg_trainer *t, const char *prefix, const char *optim_prefix, const vit_config *c);
int eg_add_maedec(eg_trainer *t, const char *prefix, const char *optim_prefix, const maedec_config *c);
/* Every tensor of part dst set to part src's (a target network's start). */
int eg_copy_part(eg_trainer *t, int dst, int src);
/* dst's trainable tensors <- m dst + (1 - m) src (moco_momentum_update). */
void eg_ema_part(eg_trainer *t, int dst, int src, double m);
/* The batch buffer, at least n floats. NULL + err_set. */
float *eg_input(eg_trainer *t, size_t n);
/* Work buffer `slot` (0..EG_SCRATCH-1), at least n floats (or ints), zeroed. */
float *eg_scratch(eg_trainer *t, int slot, size_t n);
/* Softmax cross-entropy of logits (N, K) against labels (N), mean over N:
 * *loss, *acc (fraction whose first maximum is the label), and
 * dlogits (N, K) = (softmax - onehot) / N written. */
void eg_softmax_xent(double *loss, double *acc, float *dlogits, const float *logits, const int *labels, int N,
                     int K);
/* All B pairs of one shape, H and W the multiples of 16 Eg needs (what
 * lrc-train's reader checks, again for library callers). */
int eg_check_batch(lrc_pair *const *pairs, int B);

/* The batch buffer filled with both views, [xq_1..xq_B, xp_1..xp_B]. */
float *eg_two_views(eg_trainer *t, lrc_pair *const *pairs, int B);

extern const eg_ops eg_rotation_ops, eg_relloc_ops, eg_byol_ops, eg_simsiam_ops, eg_densecl_ops, eg_genesis_ops,
    eg_mae_ops;

#endif
