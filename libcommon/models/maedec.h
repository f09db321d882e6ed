/*
 * maedec — MAE's light decoder (models_mae.py's forward_decoder): from the
 * encoder's tokens of the kept patches (vit.h) to pixels of every patch.
 *
 *   embed   Linear(D, Dd) on every encoder token (cls included)
 *   full    (N, 1 + L, Dd): the cls token, then in grid order each patch's
 *           embedded token where the encoder saw it, mask_token elsewhere
 *           (MAE's unshuffle by ids_restore), plus the fixed sine-cosine
 *           positions of the grid (cls: 0)
 *   blocks  depth transformer blocks (tblock.h) of width Dd, heads, MLP
 *           ratio 4, then a layer norm
 *   pred    Linear(Dd, in_ch P P) of every patch token: pred (N, L, in_ch P P),
 *           each row a patch in patchify's (c, py, px) order
 * The paper's decoder: 8 blocks of width 512, 16 heads (maedec_config_default).
 *
 * Tensors (models_mae.py's names): mask_token (1, 1, Dd),
 * decoder_embed.{weight (Dd, D), bias}, decoder_blocks.I.* (tblock.h),
 * decoder_norm.{weight, bias}, decoder_pred.{weight (in_ch P P, Dd), bias}.
 * Initialisation as MAE's: mask token N(0, 0.02), Xavier-uniform linears,
 * zero biases, norms 1 and 0. Checkpoints: model kind "maedec", its
 * configuration {"embed","in_ch","patch","depth","width","heads","mlp_ratio","eps"}.
 *
 * Not here: masking and the loss (pretrain/mae.h).
 */
#ifndef LRC_MAEDEC_H
#define LRC_MAEDEC_H

#include <stdint.h>

#include "models/model.h"

typedef struct {
    int embed;                  /* the encoder's width D */
    int in_ch, patch;           /* as the encoder's */
    int depth, width, heads, mlp_ratio;
    float eps;
} maedec_config;

typedef struct maedec maedec;

/* 8 blocks, width 512, 16 heads, for a ViT-B/16 of one channel. */
void maedec_config_default(maedec_config *c);
/* configuration, create, free, parameters, checkpoints */
MODEL_API(maedec)

/* lat (N, 1 + K, embed) as vit_forward returned it for keep (N, K) on a
 * grid of gh x gw patches. Returns pred (N, gh gw, in_ch P P), owned by d;
 * NULL + err_set. */
const float *maedec_forward(maedec *d, const float *lat, const int *keep, int N, int K, int gh, int gw);
/* Backward from dpred (N, L, in_ch P P): parameter gradients accumulated;
 * returns the gradient of lat (N, 1 + K, embed), owned by d; NULL + err_set. */
const float *maedec_backward(maedec *d, const float *dpred);
double maedec_flops(const maedec_config *c, int K, int L);

#endif
