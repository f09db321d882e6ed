/*
 * simsiam — SimSiam (Chen and He, "Exploring simple Siamese representation
 * learning", CVPR 2021) as a pre-training method of Eg (egtrainer.h:
 * lrc-train --method simsiam).
 *
 * The two views xq, xp of B pairs go through Eg as one batch of 2B, then
 * the projector and the predictor (the paper's, with Eg's pooled width C4
 * in place of ResNet-50's 2048):
 *   projector f: fc1 Linear(C4, hidden) bn1 ReLU, fc2 Linear(hidden, hidden)
 *                bn2 ReLU, fc3 Linear(hidden, dim) bn3 (BatchNorm1d without
 *                affine); no biases (a bias before batch norm has no effect;
 *                the paper's frozen fc3 bias is left out)
 *   predictor h: fc1 Linear(dim, pred_dim) bn1 ReLU, fc2 Linear(pred_dim, dim)
 * Defaults hidden = dim = C4 (the paper's 2048 for ResNet-50), pred_dim =
 * dim / 4 (the paper's 512).
 * z = f(Eg(x)), p = h(z); the loss, symmetric with stop-gradient on the
 * targets (siamese.h), L = -(1/2) (cos(p1, sg(z2)) + cos(p2, sg(z1))),
 * mean over the batch: the gradient reaches z, and so f and Eg, only
 * through the predictor. The metric is the collapse indicator of z.
 * SGD; with fix_pred_lr (the default, the paper's best setting) the
 * predictor keeps the base learning rate while the rest follows the schedule.
 *
 * Parts: Eg under "", f under "proj.", h under "pred."; optimisers "optim.",
 * "optim_proj.", "optim_pred.".
 */
#ifndef LRC_SIMSIAM_H
#define LRC_SIMSIAM_H

#include "pretrain/egtrainer.h"

#endif
