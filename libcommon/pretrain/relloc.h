/*
 * relloc — relative patch location (Doersch, Gupta and Efros, "Unsupervised
 * visual representation learning by context prediction", ICCV 2015) as a
 * pre-training method of Eg (egtrainer.h: lrc-train --method relloc).
 *
 * A 3 x 3 grid of square patches of side P with gaps G between them is
 * placed at a random position in the slice xq, each patch moved by a
 * random jitter of up to J pixels in y and x (gaps and jitter keep the net
 * from solving the task by continuing edges across patch borders). The
 * centre patch and one of its 8 neighbours, drawn uniformly, go through Eg
 * (one batch: the B centres, then the B neighbours); their pooled vectors,
 * concatenated [centre, neighbour] (2 C4), go through a classifier
 * (fc1 Linear(2 C4, hidden) ReLU, fc2 Linear(hidden, 8)) that predicts which
 * neighbour it was: labels 0..7 are the grid cells in row-major order
 * without the centre (0 top-left, 3 left, 4 right, 7 bottom-right).
 * Cross-entropy, mean over the batch; the metric is the accuracy.
 *
 * Geometry: the original's 96-pixel patches with gaps of 48 and a jitter
 * of up to 7, scaled to the slice: by default (-1) P is the largest
 * multiple of 16 (Eg's input unit) with 4 P <= S, S = min(H, W); G = P / 2;
 * J = min(round(7 P / 96), (S - 3 P - 2 G) / 2). P must be a multiple of
 * 16 and the grid, 3 P + 2 G + 2 J, must fit in the slice.
 * hidden defaults to C4 (the original's fc7 is half as wide as the pair's
 * concatenated features).
 *
 * Parts: Eg under "", the classifier under "head." (fc1, fc2); optimisers
 * "optim.", "optim_head.".
 */
#ifndef LRC_RELLOC_H
#define LRC_RELLOC_H

#include "core/rng.h"

typedef struct {
    int patch, gap, jitter;
} relloc_geom;

/* g from the requested patch, gap, jitter (-1: the default above) for
 * H x W slices; 0, or -1 with err_set when it does not fit. */
int relloc_geom_for(relloc_geom *g, int patch, int gap, int jitter, int H, int W);

/* One draw: d[0] the label 0..7, d[1], d[2] the centre patch's top-left
 * (y, x), d[3], d[4] the neighbour's. Draws, from r, in this order: the
 * grid origin y, x (uniform in [J, side - (3P + 2G) - J]), the label, the
 * centre's jitter y, x, the neighbour's jitter y, x (uniform in [-J, J]). */
void relloc_draw(const relloc_geom *g, int H, int W, rng *r, int d[5]);

#endif
