/*
 * byol — BYOL (Grill et al., "Bootstrap your own latent", NeurIPS 2020) as a
 * pre-training method of Eg (egtrainer.h: lrc-train --method byol).
 *
 * Online network: Eg, a projector g (fc1 Linear(C4, hidden) bn1 ReLU, fc2
 * Linear(hidden, dim)) and a predictor q (fc1 Linear(dim, hidden) bn1 ReLU,
 * fc2 Linear(hidden, dim)), all with biases: the paper's MLPs, with hidden = 2 C4 (its 4096 for
 * ResNet-50's 2048) and dim = 256 (its value). Target network: a copy of Eg
 * and g, never trained by gradient, following the online weights by an
 * exponential moving average after every step,
 *   xi <- tau xi + (1 - tau) theta,
 *   tau_k = 1 - (1 - tau_base) (cos(pi k / K) + 1) / 2,
 * tau_base = 0.996, k the step (0-based), K the run's total steps (tau
 * rises from tau_base to 1; K = 0: constant tau_base). The average covers
 * the trained tensors; the target's batch-norm statistics follow its own
 * forwards (as MoCo's key encoder's do).
 *
 * A step: the two views [xq..., xp...] as one batch of 2B through the
 * target (no gradient), z' = g'(Eg'(x)), and the online network, p =
 * q(g(Eg(x))); each view's prediction against the other view's target,
 * symmetric, (1/B) sum over both directions of the normalised MSE
 * |p/|p| - z'/|z'||^2 = 2 - 2 cos (siamese.h), in [0, 8]. The metric is the
 * collapse indicator of the online projections z = g(Eg(x)). SGD (the
 * paper's LARS is not implemented).
 *
 * Parts: Eg under "", g under "proj.", q under "pred.", the target's Eg and
 * g under "target." and "target_proj."; optimisers "optim.", "optim_proj.",
 * "optim_pred.". The step count that drives tau is the optimiser's, so a
 * resumed run continues the schedule.
 */
#ifndef LRC_BYOL_H
#define LRC_BYOL_H

#include <stdint.h>

/* tau_k as above (k clamped to K). */
double byol_tau(double base, int64_t k, int64_t K);

#endif
