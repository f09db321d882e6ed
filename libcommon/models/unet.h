/*
 * unet — the U-Net of LRC: encoder El + decoder Dl, 4 levels down and up,
 * last layer D = 64 channels, forward and backward on a batch.
 *
 * Architecture (widths w1..w5 = 16 32 64 128 256 by default, "cbr" =
 * conv3x3 (no bias, padding 1) + norm + ReLU):
 *
 *   enc1  cbr(in -> w1), cbr(w1 -> w1)                  H     x W
 *   enc2  maxpool 2x2, cbr(w1 -> w2), cbr(w2 -> w2)     H/2   x W/2
 *   enc3  maxpool,     cbr(w2 -> w3), cbr(w3 -> w3)     H/4
 *   enc4  maxpool,     cbr(w3 -> w4), cbr(w4 -> w4)     H/8
 *   mid   maxpool,     cbr(w4 -> w5), cbr(w5 -> w5)     H/16  (bottleneck)
 *   dec4  up = convT 2x2/2 (w5 -> w4, bias); cbr(cat[enc4, up] 2w4 -> w4), cbr(w4 -> w4)
 *   dec3  up (w4 -> w3); cbr(cat[enc3, up] -> w3), cbr(w3 -> w3)
 *   dec2  up (w3 -> w2); ...
 *   dec1  up (w2 -> w1); cbr(cat[enc1, up] -> w1), cbr(w1 -> w1)     H x W
 *   head  conv1x1 (w1 -> D, bias), no activation: the features f
 *
 * 1.54 GFLOP forward per 128x128 image with the defaults (unet_flops()).
 * The skip comes FIRST in each concatenation: torch.cat([skip, up], 1).
 *
 * Tensor names (PyTorch state_dict; what ckpt.h writes), for L in
 * enc1..enc4, mid, dec4..dec1 and i in 1, 2:
 *   L.conv{i}.weight                 (out, in, 3, 3)
 *   L.bn{i}.weight, L.bn{i}.bias     (out)   batch norm (norm = NORM_BATCH)
 *   L.bn{i}.running_mean, L.bn{i}.running_var (out), L.bn{i}.num_batches_tracked ([], int64)
 *   L.gn{i}.weight, L.gn{i}.bias     (out)   group norm (norm = NORM_GROUP)
 *   decK.up.weight (in, out, 2, 2), decK.up.bias (out)    ConvTranspose2d
 *   head.weight (D, w1, 1, 1), head.bias (D)
 * tests/py/unet_ref.py builds the same torch.nn.Module.
 *
 * Initialisation: convolutions kaiming_normal_(fan_out, relu) (torchvision);
 * the transposed convolutions and the head PyTorch's default uniform; norm
 * weight 1, bias 0. Deterministic for a given seed.
 *
 * Memory: the first forward at a given (N, H, W) allocates the activation
 * arena; later steps at that shape allocate nothing. A different shape
 * reallocates. One forward, then at most one backward: the backward uses the
 * activations of the last forward. To train on two views (LRC's xq and xp)
 * put both in one batch of 2N (batch statistics are then over both views).
 *
 * Not here: losses, optimisers (optim.h), checkpoint files (ckpt.h;
 * unet_ckpt_put and unet_ckpt_load, model.h, give it the model's kind and
 * configuration).
 */
#ifndef LRC_UNET_H
#define LRC_UNET_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"
#include "nn/nn.h"

typedef struct {
    int in_ch;         /* input channels (1: a CT slice) */
    int widths[5];     /* w1..w4 per level, w5 the bottleneck: 16 32 64 128 256 */
    int out_ch;        /* D, channels of the features: 64 */
    nn_norm_kind norm;    /* NORM_BATCH (the paper's) or NORM_GROUP */
    int groups;        /* GroupNorm groups (8); must divide every width */
    float bn_momentum; /* 0.1, PyTorch's */
    float eps;         /* 1e-5 */
} unet_config;

typedef struct unet unet;

void unet_config_default(unet_config *c);
/* configuration (fields absent from its JSON keep their defaults), create,
 * free, parameters, checkpoints (kind "unet") */
MODEL_API(unet)

/* Training mode (default 1): batch norm uses and updates batch statistics.
 * 0 (evaluation): running statistics, no update. No effect on group norm. */
void unet_set_training(unet *u, int training);

/* x (N, in_ch, H, W) float32, H and W multiples of 16 (>= 16).
 * Returns the features (N, out_ch, H, W), owned by u and valid until the
 * next forward or unet_free; NULL + err_set on a bad shape or out of memory. */
const float *unet_forward(unet *u, const float *x, int N, int H, int W);
/* Backward of the last forward from dfeat (N, out_ch, H, W): accumulates the
 * parameter gradients (unet_params(u)->grad); writes dx (N, in_ch, H, W)
 * unless NULL. 0, or -1 + err_set when no forward came before. */
int unet_backward(unet *u, const float *dfeat, float *dx);

/* Forward FLOPs of one H x W image (2 per multiply-add, convolutions only). */
double unet_flops(const unet_config *c, int H, int W);
/* Bytes of the activation arena at (N, H, W). */
size_t unet_arena_bytes(const unet_config *c, int N, int H, int W);

#endif
