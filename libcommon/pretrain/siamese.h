/*
 * siamese — what BYOL (byol.h) and SimSiam (simsiam.h) share: the two views
 * of B pairs go through the network as one batch of 2B rows, [xq_1..xq_B,
 * xp_1..xp_B], and each view's prediction p_i is compared with the other
 * view's target z_(i+B mod 2B) by their cosine:
 *
 *   c_i = p_i . z_j / (|p_i| |z_j|),  j = (i + B) mod 2B,   mean_c = (1/2B) sum_i c_i
 *
 * BYOL's loss is sum over both directions of the normalised MSE,
 * (1/B) sum_i (2 - 2 c_i) = 4 - 4 mean_c; SimSiam's is -mean_c. The targets
 * carry no gradient (BYOL's come from the target network, SimSiam's are
 * stop-gradient copies): only dp is computed.
 *
 * The collapse indicator (SimSiam, section 4.1): the standard deviation over
 * the batch of the L2-normalised outputs, per channel (unbiased, as
 * torch.std), averaged over channels; about 1/sqrt(D) for outputs spread
 * over the sphere, 0 when every input maps to one vector.
 *
 * Both train the same online branch, parts 0, 1, 2 of the trainer: the
 * encoder, the projector and the predictor; siam_buffers and
 * siam_backward are its step's buffers and its backward pass.
 *
 * Not here: the targets (each method's), the moving average
 * (moco_momentum_update).
 */
#ifndef LRC_SIAMESE_H
#define LRC_SIAMESE_H

#include "pretrain/egtrainer.h"

enum { SIAM_ENC, SIAM_PROJ, SIAM_PRED }; /* the online branch's parts */

/* A step's buffers for B pairs, N = 2B rows: both views x (eg_two_views),
 * the targets zt, dp and dz (N, D), dpooled (N, C4); scratch slots 0..3. */
typedef struct {
    float *x, *zt, *dp, *dz, *dpooled;
} siam_bufs;
/* 0, or -1 (err_set). */
int siam_buffers(eg_trainer *t, lrc_pair *const *pairs, int B, siam_bufs *b);
/* Add the online branch to t: the encoder (c->enc, tensors "", optimiser
 * "optim."), the projector proj ("proj.", "optim_proj.") and the predictor
 * pred ("pred.", "optim_pred."; fix_pred_lr as eg_add_proj's). 0, or -1. */
int siam_add_online(eg_trainer *t, const proj_config *proj, const proj_config *pred, int fix_pred_lr);
/* The online branch on b->x (N, 1, H, W): *z the projection, *p the
 * prediction (N, D), both the parts' own buffers. 0, or -1. */
int siam_forward(eg_trainer *t, siam_bufs *b, int N, int H, int W, const float **z, const float **p);
/* dp back through the predictor, the projector (into dz) and the encoder
 * (dpooled). 0, or -1. */
int siam_backward(eg_trainer *t, siam_bufs *b);

/* *mean_c as above for p, z (2B, D); dp (2B, D) += scale * d(mean_c)/dp.
 * 0, or -1 on allocation failure (err_set). */
int siam_cross_cos(double *mean_c, float *dp, const float *p, const float *z, int B, int D, double scale);
/* The collapse indicator of z (N, D), N >= 2 (0 otherwise). */
double siam_norm_std(const float *z, int N, int D);

#endif
