/*
 * segnet — the fine-tuning network of LRC: one or two feature branches side
 * by side on the same slice, their last-layer features concatenated, and a
 * 1x1 convolution to the classes.
 *
 *   branch "global": Eg (resnet.h, a ResNet) with a fresh decoder Dg (the
 *                    U-Net decoder on Eg's five stages), features (N, Dg, H, W)
 *   branch "local":  the U-Net El + Dl (unet.h), features (N, D, H, W)
 *   head:            conv1x1 over cat[f_0, f_1] (branch 0 first), with bias,
 *                    to C logits (N, C, H, W): torch.nn.Conv2d(D0 + D1, C, 1)
 *
 * Architectures (segnet_arch):
 *   SEG_GL  global + local   the paper's model (Eg+Dg beside El+Dl)
 *   SEG_GG  global + global  the paper's Table 2 control: a second MoCo
 *                            model (Eg2+Dg2) in place of the local branch
 *   SEG_G   global only,  SEG_L  local only   (one branch; the head reads it)
 * Every part is initialised at random (each from its own stream of the seed)
 * or, for Eg, Eg2 and El+Dl, taken from a pre-training checkpoint of
 * lrc-train: every global method (moco, rotation, relloc, byol, simsiam, densecl,
 * genesis) holds Eg under prefix "" (model "resnet"), mae a ViT (model
 * "vit", vit.h: then Dg is vitpup.h's progressive upsampling on its
 * tokens, 64 channels at full resolution), `--method lrc` holds El+Dl
 * under "" (model "unet"); Eg may also come from a torchvision ResNet state
 * dict (resnet_torchvision_load: the ImageNet row of the paper's Table 1). Dg is always fresh, its
 * configuration resdec_config_for(Eg's): the U-Net's decoder widths 16 32 64
 * 128 and 64 output channels, Eg's normalisation. A pre-trained part keeps
 * its checkpoint's configuration.
 *
 * Checkpoint layout (ckpt.h; what segnet_ckpt_put writes), by prefix:
 *   "eg."  Eg (resnet|vit)  "dg."  Dg (resdec|vitpup) branch "global"
 *   "eg2." Eg2 (resnet)     "dg2." Dg2 (resdec)       SEG_GG's second branch
 *   "unet." El + Dl (unet)                            branch "local"
 *   "head." weight (C, D0 + D1, 1, 1), bias (C)       model "seghead",
 *           config {"in_ch": D0 + D1, "classes": C}
 *   metadata "arch" = "global+local" | "global+global" | "global" | "local"
 * so that a torch.nn.Module with submodules eg, dg, unet, head loads the
 * tensors as they are.
 *
 * Calls: one forward, then at most one backward (the backward reads the
 * activations of the last forward); parameter gradients accumulate (+=) in
 * each part's pblock until zeroed. Batch norm uses batch statistics in
 * training mode (the default) and running statistics after
 * segnet_set_training(s, 0).
 *
 * Not here: the loss (segloss.h), optimisers and training state (segtrain.h).
 */
#ifndef LRC_SEGNET_H
#define LRC_SEGNET_H

#include <stdint.h>

#include "models/resnet.h"
#include "models/unet.h"
#include "models/vit.h"
#include "models/vitpup.h"
#include "nn/ckpt.h"
#include "nn/param.h"

typedef enum { SEG_GL = 0, SEG_GG = 1, SEG_G = 2, SEG_L = 3 } segnet_arch;

const char *segnet_arch_name(segnet_arch a); /* "global+local" ... */
int segnet_arch_parse(const char *s, segnet_arch *a);

typedef struct {
    segnet_arch arch;
    int classes;          /* C, background included (>= 2) */
    resnet_config enc;    /* random global encoders (resnet_config_default) */
    unet_config local;    /* a random local branch (unet_config_default) */
} segnet_config;

void segnet_config_default(segnet_config *c);

/* Pre-trained parts (NULL: random). global[0] is Eg of the first global
 * branch, global[1] Eg2 (SEG_GG only), local the U-Net. */
typedef struct {
    const ckpt *global[2];
    const ckpt *local;
} segnet_init;

typedef struct segnet segnet;

/* A new network. Pre-trained parts must be of the right kind: a global one
 * a "resnet" or "vit" under prefix "" (any lrc-train global method) or a torchvision
 * ResNet-18/34/50 state dict, a local
 * one a --method lrc checkpoint (a "unet"), each with one input channel;
 * anything else is an error naming the file and what it holds. NULL + err_set. */
segnet *segnet_create(const segnet_config *c, const segnet_init *init, uint64_t seed);
void segnet_free(segnet *s);

segnet_arch segnet_get_arch(const segnet *s);
int segnet_classes(const segnet *s);
/* Branches (1 or 2) and their kinds: 'g' or 'l'. */
int segnet_nbranch(const segnet *s);
char segnet_branch_kind(const segnet *s, int b);
/* The parts for configuration checks (NULL when absent; segnet_encoder
 * also when the branch's Eg is a ViT, which segnet_vit returns). */
const resnet *segnet_encoder(const segnet *s, int b);
const vit *segnet_vit(const segnet *s, int b);
const unet *segnet_unet(const segnet *s);

/* Parameter blocks, for optimisers and checkpoints: part i of
 * segnet_nparts, with its checkpoint prefix ("eg." ...). */
int segnet_nparts(const segnet *s);
pblock *segnet_part(segnet *s, int i, const char **prefix);
size_t segnet_ntrain(const segnet *s); /* trainable floats, all parts */

void segnet_set_training(segnet *s, int training);

/* x (N, 1, H, W), H and W multiples of 16. Returns the logits (N, C, H, W),
 * owned by s and valid until the next forward; NULL + err_set. */
const float *segnet_forward(segnet *s, const float *x, int N, int H, int W);
/* Backward of the last forward from dlogits (N, C, H, W): accumulates every
 * part's parameter gradients. 0 or -1. */
int segnet_backward(segnet *s, const float *dlogits);

/* Evaluation forward (running batch-norm statistics; the network is left
 * in evaluation mode) and the class of every pixel: pred (N, H, W), the
 * argmax of the logits, the first maximum on ties. 0 or -1. */
int segnet_predict(segnet *s, uint8_t *pred, const float *x, int N, int H, int W);

/* Forward FLOPs per H x W image (convolutions). */
double segnet_flops(const segnet *s, int H, int W);

/* Checkpoints: every part under its prefix and the "arch" metadata; and a
 * network rebuilt from such a checkpoint (NULL + err_set when the file is
 * not one, e.g. a pre-training checkpoint). */
int segnet_ckpt_put(ckpt_writer *w, const segnet *s);
segnet *segnet_ckpt_load(const ckpt *c);

#endif
