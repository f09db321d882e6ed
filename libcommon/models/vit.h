/*
 * vit — the Vision Transformer encoder of MAE (He et al., "Masked
 * Autoencoders Are Scalable Vision Learners", CVPR 2022; the authors'
 * models_mae.py, on timm's blocks), as Eg of lrc-train --method mae and
 * of seg-finetune's global branch.
 *
 *   patches   the image (N, in_ch, H, W) cut into P x P patches, a grid of
 *             gh x gw = H/P x W/P, L = gh gw, row-major
 *   embed     Conv2d(in_ch, D, P, stride P) = patchify + linear (nn.h)
 *   tokens    [cls, e_k + pos(k) for each kept patch k] (N, 1 + K, D):
 *             pos the fixed 2-D sine-cosine embedding of the grid
 *             (sincos_pos_embed_2d, computed, not learnt, not saved), the
 *             cls token's position 0, as MAE's zero first row
 *   blocks    depth pre-norm transformer blocks (tblock.h), heads, MLP
 *             ratio 4, layer-norm eps 1e-6
 *   norm      a final layer norm; the output is every token of it
 * MAE's encoder sees only the K kept patches of each image (keep); the
 * fine-tuning sees them all (keep NULL, K = L, grid order).
 *
 * Configurations (vit_config_preset): tiny 12 x 192, 3 heads; small
 * 12 x 384, 6 heads; base 12 x 768, 12 heads (the paper's ViT-B/16), each
 * with --patch P (16; 8 suits 96-pixel slices). Positions depend only on
 * the grid, so one model takes any image size whose sides P divides.
 *
 * Tensors (the names of models_mae.py's encoder, timm's): cls_token
 * (1, 1, D), patch_embed.proj.weight (D, in_ch, P, P), patch_embed.proj.bias
 * (D), blocks.I.* (tblock.h), norm.weight, norm.bias (D). MAE's pos_embed
 * is a buffer of a fixed grid there: load with strict=False, or add it.
 * Initialisation as MAE's initialize_weights: Xavier-uniform for the patch
 * embedding (as a (D, in_ch P P) matrix) and every linear, cls token
 * N(0, 0.02), zero biases (the patch embedding's bias PyTorch's default
 * U(+-1/sqrt(in_ch P P))), layer norms 1 and 0.
 * Checkpoints: model kind "vit", its configuration JSON
 * {"in_ch","patch","depth","width","heads","mlp_ratio","eps"}.
 *
 * Not here: masking and the MAE decoder (maedec.h, pretrain/mae.h), the
 * segmentation decoder (vitpup.h), dropout, drop-path, layer-wise decay.
 */
#ifndef LRC_VIT_H
#define LRC_VIT_H

#include <stdint.h>

#include "models/model.h"

typedef struct {
    int in_ch, patch, depth, width, heads, mlp_ratio;
    float eps;
} vit_config;

typedef struct vit vit;

/* ViT-B/16, one input channel. */
void vit_config_default(vit_config *c);
/* depth, width and heads of "tiny", "small" or "base", or as given by
 * "DEPTH,WIDTH,HEADS" (a small model for tests); the rest kept. -1 +
 * err_set for another name or a bad configuration (c unchanged). */
int vit_config_preset(vit_config *c, const char *name);
/* configuration, create, free, parameters, checkpoints */
MODEL_API(vit)

/* x (N, in_ch, H, W), H and W multiples of P; keep (N, K): the patches
 * (grid indices) each image's encoder sees, in that order, or NULL for all
 * (K must then be L). Returns the tokens (N, 1 + K, D), owned by v, valid
 * until the next forward; NULL + err_set. */
const float *vit_forward(vit *v, const float *x, int N, int H, int W, const int *keep, int K);
/* Backward of the last forward from dtok (N, 1 + K, D): accumulates the
 * parameter gradients (no input gradient). 0 or -1. */
int vit_backward(vit *v, const float *dtok);
/* forward FLOPs of one image of T = 1 + K tokens */
double vit_flops(const vit_config *c, int T);

#endif
