/*
 * resnet — the global encoder Eg (a ResNet) and its U-Net-shaped decoder Dg.
 *
 * Eg keeps torchvision's ResNet layouts and names, with two changes for CT
 * slices of 128-256 pixels and for a decoder that needs a full-resolution
 * skip: the stem is a 3x3 stride-1 convolution (no 7x7/2, no max pool), and
 * every stage, layer1 included, halves the resolution in its first block
 * (stride-2 3x3 conv; a 1x1/2 conv + norm on the shortcut). Its five feature
 * maps sit where the U-Net's are, so H and W must be multiples of 16:
 *
 *   stage 0  stem   conv3x3 (in -> c0) + norm + ReLU           H    x W
 *   stage 1  layer1 blocks[0] blocks, width w1, stride 2        H/2
 *   stage 2  layer2 width 2 w1                                  H/4
 *   stage 3  layer3 width 4 w1                                  H/8
 *   stage 4  layer4 width 8 w1                                  H/16
 *   pooled   global average of stage 4                          (N, C4)
 *
 * With stem = RESNET_STEM_TORCHVISION Eg is torchvision's ResNet exactly (so
 * that ImageNet weights fit): conv1 7x7 stride 2 (padding 3) + norm + ReLU,
 * a 3x3 stride-2 max pool (padding 1), layer1 at stride 1 (a shortcut
 * convolution only where the widths differ: the bottleneck's), layers 2-4
 * halving; every stage then sits one level lower, so H and W must be
 * multiples of 32:
 *
 *   stage 0  conv1 7x7/2 + norm + ReLU (before the max pool)   H/2
 *   stage 1  layer1 (after the max pool, stride 1)              H/4
 *   stage s  layer s                                            H >> (s + 1)
 *
 * resnet_torchvision_load reads a torchvision state dict (ImageNet weights
 * converted to safetensors with tools/pth2safetensors.py) into such an Eg,
 * conv1's input channels summed into one (a grey slice repeated on R, G and
 * B gives the same first layer output).
 *
 * depth 18: basic blocks [2 2 2 2]; 34: basic [3 4 6 3]; 50: bottleneck
 * [3 4 6 3] (expansion 4: stage s has 4 x its width channels). Widths are
 * torchvision's (64, 128, 256, 512) times `width` (rounded, >= 1): width 0.25
 * gives ResNet-18 16-32-64-128 with c0 = 16, the U-Net's widths.
 *
 * Tensor names (torchvision's state_dict):
 *   conv1.weight (c0, in, 3, 3) (7, 7 with the torchvision stem), bn1.* (or gn1.*)
 *   layer{s}.{b}.conv1.weight, layer{s}.{b}.bn1.*, .conv2.weight, .bn2.*
 *   (bottleneck: + .conv3.weight, .bn3.*; conv1/conv3 are 1x1, the stride
 *   sits on conv2 as in torchvision's "ResNet v1.5")
 *   layer{s}.{b}.downsample.0.weight (1x1, stride 2), layer{s}.{b}.downsample.1.*
 *   bn*.{weight,bias,running_mean,running_var,num_batches_tracked}; gn*.{weight,bias}
 * Initialisation as torchvision: kaiming_normal_(fan_out, relu) convs, norm
 * weight 1, bias 0.
 *
 * Dg (resdec_*) is a fresh U-Net decoder on Eg's stages: dec4 upsamples
 * stage 4 (convT 2x2/2) and concatenates stage 3, ... dec1 concatenates
 * stage 0; then a 1x1 head to out_ch channels. After a torchvision stem the
 * stages are one level lower: the decoder runs at H/2 and its output is
 * up-sampled 2x bilinearly (upsample = 2; no parameters). Its layers and names are the
 * U-Net's decoder's (unet.h: decK.up.*, decK.conv{i}.weight, decK.bn{i}.*,
 * head.*), with widths dec_widths[0..3] for dec1..dec4.
 *
 * Memory and calls as unet.h: forward allocates its arena once per shape;
 * one forward, then at most one backward.
 *
 * Not here: the projection head of MoCo (mlp.h), losses, optimisers.
 */
#ifndef LRC_RESNET_H
#define LRC_RESNET_H

#include <stddef.h>
#include <stdint.h>

#include "models/model.h"
#include "nn/nn.h"

enum { RESNET_STEM_3X3 = 0, RESNET_STEM_TORCHVISION = 1 };

typedef struct {
    int in_ch;         /* 1 */
    int stem;          /* RESNET_STEM_3X3 (default) or RESNET_STEM_TORCHVISION */
    int depth;         /* 18, 34 or 50 */
    float width;       /* multiplier of torchvision's widths, (0, 4] */
    nn_norm_kind norm;    /* NORM_BATCH or NORM_GROUP */
    int groups;        /* GroupNorm groups (8) */
    float bn_momentum; /* 0.1 */
    float eps;         /* 1e-5 */
} resnet_config;

typedef struct resnet resnet;

void resnet_config_default(resnet_config *c); /* ResNet-18, width 0.25, batch norm */
/* configuration, create, free, parameters, checkpoints */
MODEL_API(resnet)

/* Channels of stage s (0..4) for this configuration. */
int resnet_stage_channels(const resnet_config *c, int s);
/* Stage s is (H >> shift, W >> shift): shift s, or s + 1 after a torchvision
 * stem; H and W must be multiples of resnet_input_unit (16 or 32). */
int resnet_stage_shift(const resnet_config *c, int s);
int resnet_input_unit(const resnet_config *c);
/* "3x3" or "torchvision", and back (-1 + err_set). */
const char *resnet_stem_name(int stem);
int resnet_stem_parse(const char *s, int *stem);

void resnet_set_training(resnet *r, int training);

/* x (N, in_ch, H, W), H and W multiples of resnet_input_unit. Returns the
 * pooled vector (N, C4), owned by r; NULL + err_set on a bad shape. */
const float *resnet_forward(resnet *r, const float *x, int N, int H, int W);
/* Stage s (0..4) of the last forward: (N, C_s, H >> shift, W >> shift), owned by r. */
const float *resnet_stage(const resnet *r, int s);
/* Backward of the last forward. dpooled (N, C4) or NULL; dstage[s] (the
 * shape of stage s) or NULL for each s, or dstage itself NULL: the gradients
 * arriving at each output (they are summed). Accumulates parameter
 * gradients; writes dx (N, in_ch, H, W) unless NULL. 0 or -1. */
int resnet_backward(resnet *r, const float *dpooled, const float *const *dstage, float *dx);
double resnet_flops(const resnet_config *c, int H, int W);

/* ---- Dg: the U-Net decoder on Eg's stages ---- */

typedef struct {
    int skip_ch[5];    /* channels of stages 0..4 (resdec_config_for fills them) */
    int dec_widths[4]; /* widths of dec1..dec4: 16 32 64 128 */
    int out_ch;        /* 64 */
    int upsample;      /* 1, or 2 on a torchvision stem's stages */
    nn_norm_kind norm;
    int groups;
    float bn_momentum, eps;
} resdec_config;

typedef struct resdec resdec;

/* A decoder for encoder configuration e: skip_ch from e, U-Net widths, D = 64,
 * e's norm. */
void resdec_config_for(const resnet_config *e, resdec_config *c);
/* configuration, create, free, parameters, checkpoints */
MODEL_API(resdec)

void resdec_set_training(resdec *d, int training);

/* stage[s] as resnet_stage(r, s) gives them (the decoder reads them again in
 * backward: keep them unchanged). Returns the features (N, out_ch, H, W). */
const float *resdec_forward(resdec *d, const float *const stage[5], int N, int H, int W);
/* Accumulates parameter gradients and computes the gradients of the five
 * stages, returned by resdec_dstages(d)[s] (owned by d), ready for
 * resnet_backward(r, dpooled, resdec_dstages(d), dx). */
int resdec_backward(resdec *d, const float *dfeat);
const float *const *resdec_dstages(const resdec *d);
double resdec_flops(const resdec_config *c, int H, int W);

/* A torchvision ResNet-18, 34 or 50 state dict under prefix (its names,
 * without lrcpipe's metadata; fc.* and anything else ignored): Eg with the
 * torchvision stem, batch norm (eps 1e-5, momentum 0.1), one input channel
 * (conv1's summed over its inputs), the width from conv1. A file of another
 * layout is an error naming what it holds. */
resnet *resnet_torchvision_load(const ckpt *c, const char *prefix);

#endif
