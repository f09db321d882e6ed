/*
 * mae — Masked Autoencoders (He et al., "Masked Autoencoders Are Scalable
 * Vision Learners", CVPR 2022; the authors' models_mae.py and
 * main_pretrain.py) as a pre-training method of Eg (egtrainer.h:
 * lrc-train --method mae), Eg a Vision Transformer (vit.h).
 *
 * A step on B pairs uses each pair's `image` xq (xp is not used):
 *   mask     per image, L uniform draws from the step's rng r, one per
 *            patch in grid order; the patches sorted by their draw
 *            (ascending, ties by index: MAE's argsort of noise), the first
 *            K = int(L (1 - mask_ratio)) kept, in that order, the rest
 *            masked (mask ratio 0.75: 9 of 36 patches kept on a 96-pixel
 *            slice at patch 16)
 *   encode   the ViT on the kept patches only, plus its cls token
 *   decode   maedec.h: mask tokens in place of the others, a light
 *            transformer, a linear prediction of every patch's pixels
 *   loss     MAE's norm_pix_loss: each patch's target is its pixels
 *            normalised by the patch's mean and unbiased variance,
 *            (p - mean) / sqrt(var + 1e-6); the loss is the mean squared
 *            error per patch, averaged over the masked patches of the batch
 *   metric   "visible_loss": the same loss over the kept patches (not
 *            trained; how well the decoder copies what the encoder saw)
 * Intensities are taken as they come (slice-extract's [0, 1]); the
 * per-patch normalisation makes the target independent of their scale.
 * A patch of constant pixels has the target 0.
 *
 * Optimiser: AdamW, betas (0.9, 0.95) (beta1 is the momentum option),
 * weight decay 0.05, base learning rate 1.5e-4 at 256 images a step,
 * scaled linearly (main_pretrain.py's blr and rule); main_pretrain.py's
 * warm-up and cosine decay are lrc-train's --schedule cosine --warmup.
 * Biases and norms (the tensors of rank 1) are exempt from the weight
 * decay, as MAE's two parameter groups (optim_factory.add_weight_decay);
 * the cls and mask tokens decay, as there.
 *
 * Parts: Eg (kind "vit") under "" (what seg-finetune --global loads), the
 * decoder (kind "maedec") under "decoder."; optimisers "optim." and
 * "optim_decoder."; metadata "mae" = {"mask_ratio": ...}.
 *
 * Several ranks: masks are per image, so each rank draws for its own
 * pairs (egtrainer.h averages the gradients).
 *
 * Not here: the ViT and decoder (vit.h, maedec.h), fine-tuning (segnet.h).
 */
#ifndef LRC_MAE_H
#define LRC_MAE_H

#include "core/rng.h"
#include "pretrain/egtrainer.h"

/* Each of N images' kept patches (N, K) out of L, K = mae_keep_count:
 * L draws of r per image, sorted as above. 0, or -1 + err_set. */
int mae_draw_keep(int *keep, int N, int L, int K, rng *r);
int mae_keep_count(int L, double mask_ratio);

/* norm_pix_loss of pred (N, L, KP) against the images x (N, C, H, W) cut in
 * P x P patches, over the patches that keep (N, K) leaves out: the loss,
 * the same over the kept ones (*visible), and dpred (N, L, KP) written
 * (0 on kept patches). KP = C P P >= 2. */
double mae_loss(float *dpred, double *visible, const float *pred, const float *x, const int *keep, int N, int C,
                int H, int W, int P, int K);

/* The last grad's masks of an mae trainer: (B, K), and K. */
const int *mae_keep(const eg_trainer *t, int *K);

#endif
