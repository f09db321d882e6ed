/*
 * segtrain — one training step of LRC's fine-tuning stage: the segnet.h
 * network trained end to end with the segloss.h loss and Adam, and its
 * checkpoints (network + optimiser state).
 *
 * A step on a batch x (N, 1, H, W), labels y (N, H, W):
 *   1. zero every part's gradients;
 *   2. logits = segnet_forward(x) (training mode: batch statistics);
 *   3. the loss and dL/dlogits (segloss_dice);
 *   4. segnet_backward; one Adam step with learning rate lr on every part
 *      (one optimiser per part, all with the same configuration: Adam's
 *      update is per element, so this is one Adam over the whole network).
 * Under MPI (nn/dist.h), every rank steps together on its own N images:
 * the loss is that of all ranks' images as one batch (segloss.h,
 * all_ranks), the parameter gradients are summed over the ranks after
 * backward, and every rank takes the same Adam step.
 * The defaults are the paper's: Adam, beta1 (its "momentum") 0.9, beta2
 * 0.999, eps 1e-8, weight decay 1e-4 added to the gradient of every weight
 * (PyTorch's Adam), lr 1e-3.
 *
 * Checkpoint (ckpt.h): the network as segnet_ckpt_put writes it, Adam's
 * state of part P under "optim." + P's prefix (optim.eg.exp_avg.conv1.weight
 * ...), metadata method = "seg-finetune" and "loss" = {"smooth", "ce_weight"}
 * (JSON). The trainer adds the step and its own metadata.
 *
 * Not here: data, batching, schedules, validation, logging (seg-finetune.c).
 */
#ifndef LRC_SEGTRAIN_H
#define LRC_SEGTRAIN_H

#include <stdint.h>

#include "finetune/segloss.h"
#include "models/segnet.h"
#include "nn/ckpt.h"
#include "nn/optim.h"

typedef struct segtrain segtrain;

/* Adam with the paper's settings (lr 1e-3, betas 0.9/0.999, wd 1e-4). */
void segtrain_optim_default(optim_config *oc);

/* A trainer owning net (freed with the trainer, also on failure). */
segtrain *segtrain_create(segnet *net, const optim_config *oc, const segloss_config *lc);
/* A trainer restored from a seg-finetune checkpoint: its network and
 * optimiser state (moments and step count; the checkpoint's optimiser must
 * be of oc's kind), with the settings oc and lc (those of the resuming
 * command). NULL + err_set. */
segtrain *segtrain_ckpt_load(const ckpt *c, const optim_config *oc, const segloss_config *lc);
void segtrain_free(segtrain *t);

segnet *segtrain_net(segtrain *t);
const segloss_config *segtrain_loss(const segtrain *t);
const optim_config *segtrain_optim(const segtrain *t);

/* One step as above. y values must be < classes. st receives the loss and
 * the batch's hard counts. 0, or -1 + err_set (a label out of range, a bad
 * shape). A non-finite loss is reported in st->loss; the update is then
 * skipped, and the caller decides. */
int segtrain_step(segtrain *t, const float *x, const uint8_t *y, int N, int H, int W, double lr,
                  segloss_stats *st);

/* Put network, optimiser state and method/loss metadata into w (the data
 * must stay valid until ckpt_write). */
int segtrain_ckpt_put(ckpt_writer *w, segtrain *t);

/* What a fine-tuning run's checkpoints say of it besides the network. */
typedef struct {
    int64_t seed;
    const char *argv_json;     /* the command line, a JSON array */
    const char *classes_json;  /* class names, a JSON array (NULL: none) */
    int num_classes;
    int64_t train_slices;
    const char *init_global, *init_global2, *init_local; /* the checkpoints it began from (NULL: none) */
    double best_dice;          /* the best validation Dice (NAN: none yet) */
    int64_t best_step;
} segtrain_meta;

/* The run's checkpoint at step (network, optimisers, step, meta) written
 * to path, or, with best (val_dice its validation Dice), the network
 * alone with method "seg-finetune": what --predict and --global read.
 * 0 or -1 + err_set. */
int segtrain_save(segtrain *t, int64_t step, const segtrain_meta *m, const char *path);
int segtrain_save_best(segtrain *t, int64_t step, const segtrain_meta *m, double val_dice, const char *path);

#endif
