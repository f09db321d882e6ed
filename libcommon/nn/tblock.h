/*
 * tblock — the pre-norm transformer block of ViT and MAE (timm's Block):
 *
 *   x1  = x + proj(attn(qkv(LN1(x))))          attention, NH heads
 *   out = x1 + fc2(GELU(fc1(LN2(x1))))          MLP, hidden = 4 C in ViT
 *
 * on B sequences of T tokens of width C, x and out (B, T, C). Layer norms
 * with eps (1e-6 in MAE), GELU exact, no dropout, no drop-path, no layer
 * scale. A piece like block.h's: declare its tensors in a model's pblock,
 * init them, bind its activations in the model's arena for (B, T), then
 * forward and backward on raw pointers.
 *
 * Names, under PREFIX (timm's): norm1.{weight,bias}, attn.qkv.{weight
 * (3C, C), bias (3C)}, attn.proj.{weight (C, C), bias}, norm2.{weight,bias},
 * mlp.fc1.{weight (hidden, C), bias}, mlp.fc2.{weight (C, hidden), bias}.
 * Initialisation as MAE's _init_weights: Xavier-uniform linear weights
 * (qkv as one (3C, C) matrix), zero biases, layer norms 1 and 0.
 *
 * Not here: embeddings, the final norm, heads (vit.h).
 */
#ifndef LRC_TBLOCK_H
#define LRC_TBLOCK_H

#include "core/rng.h"
#include "nn/block.h"
#include "nn/param.h"

typedef struct {
    int C, NH, hidden;
    float eps;
    int in1w, in1b, iqw, iqb, ipw, ipb, in2w, in2b, if1w, if1b, if2w, if2b; /* pblock indices */
    /* arena (bind): activations of the last forward, gradient buffers */
    float *ln1, *m1, *r1, *qkv, *att, *ao, *x1, *ln2, *m2, *r2, *h, *hg, *out;
    float *dC1, *dC2, *d3C, *dH;
    int B, T;
} nnb_tblock;

/* Declare under prefix (e.g. "blocks.3"). C % NH == 0. 0 or -1. */
int nnb_tblock_declare(nnb_tblock *b, pblock *pb, const char *prefix, int C, int NH, int hidden, float eps);
void nnb_tblock_init(const nnb_tblock *b, pblock *pb, rng *r);
void nnb_tblock_bind(nnb_tblock *b, nnb_arena *a, int B, int T);
/* out = b->out (B, T, C) from x (B, T, C), which backward reads again. */
void nnb_tblock_forward(nnb_tblock *b, pblock *pb, const float *x);
/* dx (B, T, C) written from dout (B, T, C) (not modified; dx must not
 * alias it); parameter gradients accumulated. */
void nnb_tblock_backward(nnb_tblock *b, pblock *pb, float *dx, const float *dout, const float *x);
/* forward FLOPs of the block on B T tokens (the products) */
double nnb_tblock_flops(const nnb_tblock *b, int B, int T);

/* The settings of a stack of depth blocks (ViT's encoder, MAE's decoder):
 * depth 1..max_depth, width a multiple of 4 and of the heads, at most
 * 8192, MLP ratio 1..16, eps positive. 0, or -1 + err_set naming who. */
int nnb_tstack_check(const char *who, int depth, int max_depth, int width, int heads, int mlp_ratio, float eps);

/* A stack of blocks and the LayerNorm after them (timm's blocks and norm:
 * ViT's encoder, MAE's decoder). The blocks are the model's array; the
 * stack holds how many, and the norm's tensors and eps. */
typedef struct {
    nnb_tblock *blk;
    int depth, C, inw, inb;
    float eps;
} nnb_tstack;

/* Declare depth blocks of width C as BLOCKS.0, BLOCKS.1, ..., then
 * NORM.weight and NORM.bias. 0 or -1. */
int nnb_tstack_declare(nnb_tstack *s, nnb_tblock *blk, int depth, pblock *pb, const char *blocks, const char *norm,
                       int C, int NH, int hidden, float eps);
/* The blocks' weights from r, the norm's weight 1 (its bias stays 0). */
void nnb_tstack_init(const nnb_tstack *s, pblock *pb, rng *r);
void nnb_tstack_bind(nnb_tstack *s, nnb_arena *a, int B, int T);
/* y (n = B T, C) the norm of the blocks' output on x0 (n, C), keeping
 * mean and rstd (n) for backward. */
void nnb_tstack_forward(nnb_tstack *s, pblock *pb, const float *x0, float *y, float *mean, float *rstd, int n);
/* From dy (n, C), the gradient of x0 into one of a and b (n, C each; a
 * must not alias dy, b may: dy is read first), which is returned;
 * parameter gradients accumulated. */
float *nnb_tstack_backward(nnb_tstack *s, pblock *pb, const float *x0, const float *dy, const float *mean,
                           const float *rstd, float *a, float *b, int n);

/* Xavier-uniform (torch.nn.init.xavier_uniform_) of an (out, in) matrix. */
void nnb_init_xavier(float *w, int out, int in, rng *r);

#endif
