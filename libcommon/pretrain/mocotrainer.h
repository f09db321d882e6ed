/*
 * mocotrainer — one training step of LRC's global branch: the encoder Eg (a
 * ResNet, resnet.h) pre-trained with MoCo (moco.h), SGD.
 *
 * The query encoder is Eg plus a head: v2 (default) the MLP of MoCo v2,
 * Linear(C4, hidden) + ReLU + Linear(hidden, dim) (mlp.h, hidden = C4 by
 * default); v1 a single Linear(C4, dim). The key encoder is a copy of both,
 * updated only by momentum: theta_k <- m theta_k + (1 - m) theta_q after
 * every optimiser step (trainable tensors; the key encoder's batch-norm
 * statistics follow its own forwards).
 *
 * A step on B pairs: the query is xq, the positive key xp = Te(xq) (the
 * paper's choice):
 *   1. keys: xp through the key encoder + head, L2-normalised, k (B, dim),
 *      no gradient;
 *   2. queries: xq through Eg + head, L2-normalised, q; InfoNCE against k and
 *      the queue (tau), backward, SGD step on Eg and the head;
 *   3. momentum update of the key encoder; the B keys enter the queue.
 * Shuffle-BN: MoCo computes batch-norm statistics of keys and queries on
 * different subsets (across GPUs) so that a query cannot find its key through
 * the batch statistics. With bn_splits = G > 1 (B divisible by G) both
 * encoders run on G sub-batches of B/G images, the keys' sub-batches drawn
 * by a random permutation of the batch (from the step's rng), the queries' in
 * order; the loss is the mean over all B queries either way. G = 1 turns it
 * off; it does nothing for group norm.
 *
 * On several ranks (nn/dist.h), as the reference implementation's DDP: each
 * rank brings B pairs, T = ranks x B per step. The key images of all ranks
 * are all-gathered (rank 0's B first), one permutation of the T drawn from
 * the step's rng (the same stream on every rank, so the same draw), and
 * rank r encodes positions [r B, r B + B) of the shuffled batch, in G
 * sub-batches of B/G; the keys are all-gathered and un-shuffled, so that
 * every rank holds all T keys in rank order. The permutation is drawn
 * whenever ranks x G > 1 (--bn-splits 1 on several ranks still shuffles
 * across them, as MoCo does across GPUs). Each rank's queries meet their
 * own keys and the queue; the gradients are averaged over the ranks
 * (dist_grad_reduce) before the step, which every rank takes alike; all T
 * keys enter the queue, rank 0's first, the pointer advancing by T, which
 * must divide the queue (moco_trainer_check_ranks; the reference asserts
 * it). On one process all of it reduces to the steps above, bit for bit.
 *
 * Checkpoints: Eg under prefix "" (kind "resnet": what seg-finetune loads),
 * its head under "head." (kind "mlp" for v2, "linear" with fc.weight /
 * fc.bias for v1), the key encoder under "key." and "key_head.", the SGD
 * states under "optim." (Eg) and "optim_head.", the queue as "moco.queue"
 * (K, dim) F32 and "moco.queue_ptr" (int64 scalar), and metadata "method" =
 * "moco", "moco" = this configuration (JSON).
 *
 * Not here: reading frames and batching (pairfeed.h), the loop, schedules and
 * logging (nn/trainloop.h, lrc-train).
 */
#ifndef LRC_MOCOTRAINER_H
#define LRC_MOCOTRAINER_H

#include <stdint.h>

#include "core/rng.h"
#include "models/resnet.h"
#include "nn/ckpt.h"
#include "nn/optim.h"
#include "pretrain/lrcpair.h"
#include "pretrain/moco.h"

typedef struct {
    resnet_config enc;
    int version;      /* 1 or 2 (default 2) */
    int dim;          /* embedding dims, 128 */
    int hidden;       /* v2 head's hidden width; 0 = the encoder's C4 */
    int queue;        /* negatives in the queue, 4096 */
    double m;         /* key encoder momentum, 0.999 */
    double tau;       /* 0.2 */
    int bn_splits;    /* shuffle-BN sub-batches, 2 */
    optim_config opt; /* SGD, lr 0.03, momentum 0.9, weight decay 1e-4 */
} moco_trainer_config;

void moco_trainer_config_default(moco_trainer_config *c);

typedef struct moco_trainer moco_trainer;

moco_trainer *moco_trainer_create(const moco_trainer_config *c, uint64_t seed);
void moco_trainer_free(moco_trainer *t);
resnet *moco_trainer_encoder(moco_trainer *t);
const moco_queue *moco_trainer_queue(const moco_trainer *t);

typedef struct {
    double loss; /* InfoNCE, mean over the batch */
    double acc;  /* fraction of queries whose key beats every negative */
    int pairs;
} moco_step_stats;

/* One step as above; r drives shuffle-BN's permutation and must be the
 * same stream on every rank. On several ranks every rank calls it with a
 * batch of the same size (else an error), and st holds the whole step's
 * numbers (pairs = T, loss and acc over all T queries). */
int moco_trainer_step(moco_trainer *t, lrc_pair *const *pairs, int B, double lr, rng *r, moco_step_stats *st);
/* Whether a job of ranks processes with --batch batch can run c: 0, or
 * -1 + err_set when the T = ranks x batch keys of a step do not divide the
 * queue (one process: any queue, the ring wraps). */
int moco_trainer_check_ranks(const moco_trainer_config *c, int batch, int ranks);
/* Every rank := rank 0's encoders and heads (after create or load). */
int moco_trainer_bcast(moco_trainer *t);

int moco_trainer_save(moco_trainer *t, ckpt_writer *w);
int moco_trainer_load(moco_trainer *t, const ckpt *c);

#endif
