/*
 * densecl — DenseCL (Wang et al., "Dense Contrastive Learning for
 * Self-Supervised Visual Pre-Training", CVPR 2021) as a pre-training method
 * of Eg (egtrainer.h: lrc-train --method densecl), as the authors' code
 * (WXinlong/DenseCL, densecl.py) does it.
 *
 * MoCo v2 plus a dense term. Query encoder: Eg and two heads, the global
 * one on the pooled vector (N, C4), Linear(C4, hidden) ReLU Linear(hidden,
 * dim), and the dense one on the last feature map (N, C4, S, S), the same
 * MLP on every position (the paper's 1x1 convolutions), run here on the
 * N S^2 rows of the map transposed to (N, S^2, C4). Key encoder: a copy of
 * Eg and both heads following them by momentum after every step,
 * theta_k <- m theta_k + (1 - m) theta_q (m = 0.999; trained tensors; the
 * key encoder's batch-norm statistics follow its own forwards), no gradient.
 *
 * A step on B pairs, query xq and key xp = Te(xq):
 *   keys: q-free forwards of xp; k = normalize(global head) (B, dim);
 *     k_grid = normalize(dense head) per position (B, S^2, dim);
 *     k2 = normalize(mean over positions of the dense head's raw output);
 *     f_k = Eg's last map, normalised over channels per position;
 *   L_global = InfoNCE(q, k, queue) (moco.h), tau;
 *   L_dense: query position i of image b is matched to the key position
 *     j* = argmax_j f_q,i . f_k,j of the same image (backbone features,
 *     before the dense head; first maximum; no gradient through the
 *     choice); InfoNCE(q_grid_i, k_grid_j*, queue2), mean over all B S^2
 *     positions;
 *   L = (1 - lambda) L_global + lambda L_dense, lambda = 0.5;
 *   SGD step on Eg and both heads, momentum update, then the B keys k enter
 *   queue and the B keys k2 enter queue2 (each K long, moco.h's ring).
 * Shuffle-BN as mocotrainer.h: with bn_splits = G > 1 dividing B, both
 * encoders run on G sub-batches of B/G images, the keys' in an order drawn
 * from the step's rng, the queries' in order (G = 1 otherwise). The metric
 * is the global term's top-1 (the positive beats every negative), as MoCo's.
 *
 * On several ranks (nn/dist.h), as the authors' code under DDP (MoCo's,
 * mocotrainer.h): each rank brings B pairs, T = ranks x B a step. The key
 * images of all ranks are all-gathered (rank 0's first), one permutation
 * of the T drawn from the step's rng, the same stream on every rank
 * (whenever ranks x G > 1), and rank r encodes positions [r B, r B + B) of
 * the shuffled batch in G sub-batches of B/G. Every key an image yields
 * (k, k2, its grid and its normalised features) is all-gathered and
 * un-shuffled, so each rank holds all T keys k, k2 in rank order and the
 * grids and features of its own B images: its queries meet their own
 * pairs' keys, and are matched against their own pairs' key maps. The
 * gradients are averaged over the ranks (egtrainer.h); all T keys enter
 * each queue, rank 0's first, the pointers advancing by T, which must
 * divide the queue (moco_ranks_check). On one process all of it reduces to
 * the steps above, bit for bit.
 *
 * Parts: Eg under "", the global head under "head.", the dense head under
 * "dense_head." (kind "projector": fc1.weight (hidden, C4) is PyTorch's
 * Conv2d 1x1 weight (hidden, C4, 1, 1) without its unit dimensions), the key
 * encoder under "key.", "key_head.", "key_dense_head."; optimisers
 * "optim.", "optim_head.", "optim_dense_head."; the queues "densecl.queue",
 * "densecl.queue2" (K, dim) F32 and their next rows to overwrite
 * "densecl.queue_ptr", "densecl.queue2_ptr" (int64 scalars); metadata
 * "densecl" = {hidden, dim, queue, m, tau, dense_weight, bn_splits}.
 *
 * Built on egtrainer (parts, optimisers, moving averages, checkpoint
 * checks are what DenseCL needs, and its queues fit the method hooks)
 * rather than next to mocotrainer, whose fixed layout predates them; the
 * rules of several ranks it shares with MoCo are moco.h's.
 */
#ifndef LRC_DENSECL_H
#define LRC_DENSECL_H

#include "pretrain/egtrainer.h"
#include "pretrain/moco.h"

/* The queues of a densecl trainer: 0 global, 1 dense. */
const moco_queue *densecl_queue(const eg_trainer *t, int which);
/* The keys of the last forward (T, dim: every rank's, in rank order)
 * that enter queue `which` after the update, for tests. */
const float *densecl_keys(const eg_trainer *t, int which);
/* The last step's key order (T: image perm[i] was key i of the shuffled
 * batch; the identity without shuffle-BN), for tests. */
const int *densecl_perm(const eg_trainer *t);

#endif
