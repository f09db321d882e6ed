/*
 * vitpup — the fine-tuning decoder D_g on a ViT encoder (vit.h): SETR's
 * progressive upsampling (Zheng et al., "Rethinking Semantic Segmentation
 * from a Sequence-to-Sequence Perspective with Transformers", CVPR 2021,
 * SETR-PUP), back to the full resolution of the slice, as seg-finetune's
 * global branch needs to sit beside the U-Net's D_l.
 *
 *   tokens (N, 1 + L, D) -> the patch tokens as a map (N, D, H/P, W/P)
 *   stage 0:   conv3x3 D -> w0 + batch norm + ReLU at H/P
 *   stage s:   2x bilinear up-sampling (align_corners=False), then
 *              conv3x3 + batch norm + ReLU, s = 1 .. S, S = log2(P)
 *   features   (N, out_ch, H, W), out_ch = 64 (as resdec's, so the head
 *              sees both branches alike)
 * widths w_s = max(out_ch, 256 >> s) for s < S, w_S = out_ch: 256, 128,
 * 64, 64, 64 at patch 16. P must be a power of two (2..256). The cls
 * token is not used (SETR's decoder reads the patch tokens only).
 *
 * Why progressive upsampling rather than UNETR's decoder: the ViT has one
 * resolution, so UNETR's skips would be tokens of intermediate blocks
 * upsampled by deconvolution stacks to every scale, several times the
 * parameters and compute of this decoder, and they would tie the decoder
 * to the encoder's depth; PUP needs only the last tokens, as D_g on a
 * ResNet reads Eg's own stages, and reaches the full resolution in
 * log2(P) cheap steps.
 *
 * Tensors: stages.S.conv.weight (w_s, w_{s-1} or D, 3, 3),
 * stages.S.bn.{weight,bias,running_mean,running_var,num_batches_tracked}.
 * Initialisation: Kaiming-normal convolutions (fan out), norms 1 and 0.
 * Checkpoints: model kind "vitpup", configuration {"embed","patch","out_ch"}.
 *
 * Not here: the encoder (vit.h), the head and the other branch (segnet.h).
 */
#ifndef LRC_VITPUP_H
#define LRC_VITPUP_H

#include <stdint.h>

#include "models/model.h"

typedef struct {
    int embed, patch, out_ch;
} vitpup_config;

/* out_ch 64; embed and patch must be given */
void vitpup_config_default(vitpup_config *c);

typedef struct vitpup vitpup;

/* configuration, create, free, parameters, checkpoints */
MODEL_API(vitpup)

void vitpup_set_training(vitpup *d, int training);

/* tok (N, 1 + L, D) as vit_forward returns it with every patch (keep NULL)
 * of an H x W image. Returns the features (N, out_ch, H, W), owned by d;
 * NULL + err_set. */
const float *vitpup_forward(vitpup *d, const float *tok, int N, int H, int W);
/* From dfeat (N, out_ch, H, W): parameter gradients accumulated; returns
 * the gradient of tok (N, 1 + L, D) (0 on the cls rows), owned by d. */
const float *vitpup_backward(vitpup *d, const float *dfeat);
double vitpup_flops(const vitpup_config *c, int H, int W);

#endif
