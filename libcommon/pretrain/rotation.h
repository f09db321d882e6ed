/*
 * rotation — rotation prediction (Gidaris, Singh and Komodakis, "Unsupervised
 * representation learning by predicting image rotations", ICLR 2018) as a
 * pre-training method of Eg (egtrainer.h: lrc-train --method rotation).
 *
 * Each slice xq of the batch is rotated by 0, 90, 180 and 270 degrees, and
 * all four copies go through Eg in one batch (the paper found feeding the
 * four together best): x = [rot(xq_1, 0..3), ..., rot(xq_B, 0..3)], 4B
 * images. A linear classifier on Eg's pooled vector, head Linear(C4, 4),
 * predicts k; the loss is the cross-entropy, mean over the 4B images, and
 * the metric is the accuracy. Only xq is used (xp, the positive view, is
 * for the contrastive methods). Slices must be square.
 *
 * Parts (egtrainer.h): Eg under "", the classifier under "head." (fc.weight
 * (4, C4), fc.bias); optimisers "optim.", "optim_head.".
 *
 * Not here: the training loop (egtrainer.h, lrc-train.c).
 */
#ifndef LRC_ROTATION_H
#define LRC_ROTATION_H

/* out (S, S) = in (S, S) rotated by k * 90 degrees counter-clockwise, as
 * torch.rot90(in, k, dims=(0, 1)): k = 1 gives out[y][x] = in[x][S-1-y]. */
void rotation_rot90(float *out, const float *in, int S, int k);

#endif
