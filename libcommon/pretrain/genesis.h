/*
 * genesis — Models Genesis (Zhou et al., "Models Genesis: Generic
 * Autodidactic Models for 3D Medical Image Analysis", MICCAI 2019; Medical
 * Image Analysis 67, 2021) as a pre-training method of Eg (egtrainer.h:
 * lrc-train --method genesis), on 2-D slices, with the transformations of
 * the authors' code (MrGiovanni/ModelsGenesis, pytorch/utils.py
 * generate_pair, and pytorch/config.py's rates).
 *
 * Self-supervised restoration: a slice xq (a pair's `image`; xp is not
 * used) is transformed into x~, and Eg with a decoder restores it:
 *   p = sigmoid(head(Dg(Eg(x~))))   (B, 1, H, W)
 *   L = mean over B H W of (p - y)^2 (torch.nn.MSELoss)
 * Dg is the fine-tuning decoder (resdec, resnet.h, resdec_config_for(Eg):
 * 64 channels at full resolution) and head a 1x1 convolution 64 -> 1 with a
 * bias, run as a Linear(64, 1) on every pixel; the sigmoid is the official
 * networks' output layer. The metric "input_mse" is the mean squared error
 * of x~ itself against y, what returning the input would score.
 *
 * Intensities: taken as they come; slice-extract's are in [0, 1] (the HU
 * window, clipped), the range the official cubes have (HU -1000..1000
 * scaled) and that the sigmoid, the curve and the random fills assume.
 *
 * One image's transformation, in the official order, each step with its
 * probability (rates[], defaults of the official config), all draws from
 * the step's rng, in this order:
 *   flip (GENESIS_FLIP, 0.4): while fewer than 3 flips and u < rate, flip
 *     along an axis drawn from {rows, columns} (the official draws from 3
 *     axes of a cube); input and target y alike: y is xq flipped;
 *   local pixel shuffling (GENESIS_LOCAL, 0.5): GENESIS_BLOCKS = 10000
 *     windows, each h = 1 + below(H / 10), w = 1 + below(W / 10), top-left
 *     y = below(H - h + 1), x = below(W - w + 1); the window's pixels of the
 *     image before the shuffling permuted (Fisher-Yates) and written to it
 *     (later windows overwrite earlier ones, all read the unshuffled image);
 *   non-linear intensity (GENESIS_NONLINEAR, 0.9): control points (0, 0),
 *     (x1, y1), (x2, y2), (1, 1) with x1, y1, x2, y2 uniform in [0, 1); the
 *     Bezier curve sampled at GENESIS_CURVE = 100000 parameters t (the
 *     official nTimes; its Bernstein weights C(3, i) t^(3-i) (1 - t)^i run
 *     the curve from (1, 1) at t = 0 to (0, 0)); then with u < 0.5 only the
 *     x samples are sorted ascending (the y samples stay in t order: a
 *     decreasing, inverting curve), otherwise both; every intensity mapped
 *     by linear interpolation between the samples, clamped to the end values
 *     outside them (np.interp);
 *   painting (GENESIS_PAINT, 0.9), out-painting with u < GENESIS_OUTPAINT's
 *     0.8 (the config's outpaint_rate; in-painting is 1 - 0.8 = 0.2):
 *     in-painting: up to 5 boxes, each drawn while u < 0.95, of
 *       h = uniform_int[H / 6, H / 3], w alike, y = uniform_int[3, H - h - 3],
 *       x alike, filled with uniform values in [0, 1) (row-major);
 *     out-painting: every pixel uniform in [0, 1) (row-major), then one box
 *       h = H - uniform_int[3 H / 7, 4 H / 7] (w alike), y =
 *       uniform_int[3, H - h - 3] (x alike), and up to 4 more drawn while
 *       u < 0.95, hold the image before the painting again.
 * Integer divisions truncate, as Python's //. Sides of at least 16 pixels
 * (what Eg needs) keep every range non-empty.
 *
 * Network and optimiser: Eg and Dg as seg-finetune builds them, so Dg's
 * tensors have the layout of the fine-tuning decoder; SGD as every
 * egtrainer method, default learning rate 1, the official config's (the
 * loss's gradients are small: an MSE through a sigmoid; lrc-train(1)
 * gives the measurements behind keeping it).
 *
 * Parts: Eg under "", Dg under "dg." (kind "resdec"), the head under
 * "head." (kind "projector": fc.weight (1, 64), fc.bias (1), PyTorch's
 * Conv2d(64, 1, 1) without its unit dimensions); optimisers "optim.",
 * "optim_dg.", "optim_head."; metadata "genesis" = {"rates": [nonlinear,
 * local, paint, outpaint, flip]}.
 *
 * Several ranks: every transformation is per image, so each rank draws
 * for its own pairs (egtrainer.h averages the gradients).
 *
 * Not here: 3-D cubes; the official validation and early stopping.
 */
#ifndef LRC_GENESIS_H
#define LRC_GENESIS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "pretrain/egtrainer.h"

enum { GENESIS_NONLINEAR, GENESIS_LOCAL, GENESIS_PAINT, GENESIS_OUTPAINT, GENESIS_FLIP };
enum { GENESIS_BLOCKS = 10000, GENESIS_CURVE = 100000, GENESIS_MAX_BOXES = 5 };
enum { GENESIS_NO_PAINT, GENESIS_INPAINT, GENESIS_OUTPAINTED };

/* What one transformation drew, for tests. */
typedef struct {
    int nflip, flip_axis[3];  /* flips in order: axis 0 reverses the rows (y), 1 the columns */
    int shuffle;              /* local pixel shuffling applied */
    int nonlinear, reverse;   /* the curve applied; the decreasing variant */
    double pts[4];            /* x1, y1, x2, y2 */
    int paint;                /* GENESIS_NO_PAINT, _INPAINT, _OUTPAINTED */
    int nbox, box[GENESIS_MAX_BOXES][4]; /* y, x, h, w: filled (in) or kept (out) */
    /* set by the caller, or NULL: room for GENESIS_BLOCKS windows (y, x, h,
     * w), and for H W indices: the pixel of the flipped image each pixel
     * holds after the shuffling (itself without it) */
    int *windows;
    int32_t *src;
} genesis_draw;

/* The probabilities rates[5] (genesis.h's order) are in [0, 1]: 0, or -1 + err_set. */
int genesis_rates_check(const double *rates);

/* out[i] = the intensity curve with inner control points pts = x1, y1,
 * x2, y2 at in[i] (out may be in). 0, or -1 + err_set (out of memory). */
int genesis_curve(float *out, const float *in, size_t n, const double pts[4], int reverse);

/* One image img (H, W) transformed: y the target (img flipped), x the
 * input (H, W each). d NULL or filled in. 0, or -1 + err_set. */
int genesis_transform(float *x, float *y, const float *img, int H, int W, const double *rates, rng *r,
                      genesis_draw *d);

/* The last grad's batch of a genesis trainer: which 0 the inputs x~, 1 the
 * targets y, (B, H, W). */
const float *genesis_batch(const eg_trainer *t, int which);

#endif
