/*
 * moco — the pieces of MoCo (He et al. 2020; v2: Chen et al. 2020) that are
 * not a network layer: the InfoNCE loss against a queue of negatives, the
 * queue itself, the momentum update of the key encoder, and the row-wise L2
 * normalisation of embeddings.
 *
 * InfoNCE, for a batch of B L2-normalised queries q [B, C], their keys
 * k [B, C] (from the key encoder, no gradient) and the queue of negatives
 * [Kq, C]:
 *
 *   l_pos[b] = q_b . k_b / tau,  l_neg[b, j] = q_b . queue_j / tau
 *   L = (1/B) sum_b -log( exp l_pos[b] / (exp l_pos[b] + sum_j exp l_neg[b, j]) )
 *
 * (cross-entropy with the positive at index 0, averaged over the batch, as
 * the reference implementation does). The gradient flows into q only.
 *
 * The queue is a ring buffer of Kq keys: moco_queue_push writes the B newest
 * keys over the oldest ones (at ptr, wrapping around; Kq need not be a
 * multiple of B). It starts, as in MoCo, with random unit vectors (normal
 * draws, row-normalised), so that the loss is defined from step 1.
 *
 * Momentum update: theta_k <- m theta_k + (1 - m) theta_q, element-wise on
 * the parameter blocks of the two encoders (m = 0.999 in MoCo).
 *
 * Also the rules that MoCo and DenseCL share on several ranks (below).
 *
 * Not here: the encoder, the MLP head (layers from the engine), the
 * optimiser, shuffle-BN's sub-batches beyond the permutation (the
 * trainers, mocotrainer.h and densecl.h; see lrc-train(1)).
 */
#ifndef LRC_MOCO_H
#define LRC_MOCO_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

typedef struct {
    float *data;  /* [K, C], row i is one key */
    int K, C;
    int ptr;      /* next row to overwrite */
} moco_queue;

/* Allocate a queue of K unit vectors of C dims drawn from r. */
int moco_queue_init(moco_queue *q, int K, int C, rng *r);
void moco_queue_free(moco_queue *q);
/* Overwrite the B oldest keys with keys [B, C] (B <= K). */
void moco_queue_push(moco_queue *q, const float *keys, int B);

/* key[i] = m * key[i] + (1 - m) * query[i], i < n. */
void moco_momentum_update(float *key, const float *query, size_t n, float m);

/* out [B, C] = x / max(|x_b|, 1e-12) row-wise; norm [B] the clamped norms. */
void moco_l2norm_forward(float *out, float *norm, const float *x, int B, int C);
/* dx [B, C] += d(out)/dx applied to dout: (dout - out (out . dout)) / norm. */
void moco_l2norm_backward(float *dx, const float *dout, const float *out, const float *norm, int B, int C);

/* Several ranks stepping together (nn/dist.h), as MoCo's DDP code: each
 * rank brings B pairs of H x W, and the T = ranks x B keys of a step all
 * enter the queue, rank 0's first (mocotrainer.h, densecl.h).
 * moco_ranks_check: T must divide a queue of K keys (the reference asserts
 * it; one process: any K, the ring wraps); 0 or -1 + err_set.
 * moco_ranks_alike: every rank's B, H and W are rank 0's, as the
 * all-gathers need; every rank calls it; 0 or -1 + err_set.
 * moco_shuffle_perm: perm (T) := the order of shuffle-BN's key batch,
 * position j holding image perm[j] of all ranks' T in rank order: a
 * Fisher-Yates draw from r (the same stream on every rank, so the same
 * draw) if shuffle, else the identity. */
int moco_ranks_check(int K, int batch, int ranks);
int moco_ranks_alike(int B, int H, int W);
void moco_shuffle_perm(int *perm, int T, int shuffle, rng *r);

/* InfoNCE as above. q, k [B, C] normalised; queue [Kq, C]. Sets *loss; if
 * dq is not NULL, ADDS scale * dL/dq into it ([B, C]). If acc is not NULL it
 * receives the fraction of queries whose positive logit beats every
 * negative (top-1 "accuracy", a training diagnostic). 0 or -1 (allocation
 * failure, tau <= 0) with err_set. */
int moco_infonce(double *loss, double *acc, float *dq, const float *q, const float *k, const float *queue, int B,
                 int C, int Kq, double tau, double scale);

#endif
