/* tblock — the pre-norm transformer block; see tblock.h. */
#include "nn/tblock.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "nn/nn.h"

void nnb_init_xavier(float *w, int out, int in, rng *r)
{
    nn_init_uniform(w, (size_t)out * in, (float)sqrt(6.0 / (in + out)), r);
}

int nnb_tblock_declare(nnb_tblock *b, pblock *pb, const char *prefix, int C, int NH, int hidden, float eps)
{
    char nm[PARAM_NAME_MAX];
    memset(b, 0, sizeof *b);
    b->C = C, b->NH = NH, b->hidden = hidden, b->eps = eps;
#define ADD(field, name, rank, ...)                                                                   \
    do {                                                                                              \
        snprintf(nm, sizeof nm, "%s.%s", prefix, name);                                               \
        if ((b->field = pblock_add(pb, nm, PARAM_TRAIN, rank, (int64_t[]){__VA_ARGS__})) < 0)         \
            return -1;                                                                                \
    } while (0)
    ADD(in1w, "norm1.weight", 1, C);
    ADD(in1b, "norm1.bias", 1, C);
    ADD(iqw, "attn.qkv.weight", 2, 3 * C, C);
    ADD(iqb, "attn.qkv.bias", 1, 3 * C);
    ADD(ipw, "attn.proj.weight", 2, C, C);
    ADD(ipb, "attn.proj.bias", 1, C);
    ADD(in2w, "norm2.weight", 1, C);
    ADD(in2b, "norm2.bias", 1, C);
    ADD(if1w, "mlp.fc1.weight", 2, hidden, C);
    ADD(if1b, "mlp.fc1.bias", 1, hidden);
    ADD(if2w, "mlp.fc2.weight", 2, C, hidden);
    ADD(if2b, "mlp.fc2.bias", 1, C);
#undef ADD
    return 0;
}

void nnb_tblock_init(const nnb_tblock *b, pblock *pb, rng *r)
{
    const int C = b->C;
    for (int c = 0; c < C; c++)
        pblock_ptr(pb, b->in1w)[c] = pblock_ptr(pb, b->in2w)[c] = 1;
    /* biases and norm shifts stay 0 from pblock_alloc */
    nnb_init_xavier(pblock_ptr(pb, b->iqw), 3 * C, C, r);
    nnb_init_xavier(pblock_ptr(pb, b->ipw), C, C, r);
    nnb_init_xavier(pblock_ptr(pb, b->if1w), b->hidden, C, r);
    nnb_init_xavier(pblock_ptr(pb, b->if2w), C, b->hidden, r);
}

void nnb_tblock_bind(nnb_tblock *b, nnb_arena *a, int B, int T)
{
    const size_t n = (size_t)B * T, C = (size_t)b->C, Hd = (size_t)b->hidden;
    b->B = B, b->T = T;
    b->ln1 = nnb_arena_take(a, n * C);   /* (B, T, C) */
    b->m1 = nnb_arena_take(a, n);
    b->r1 = nnb_arena_take(a, n);
    b->qkv = nnb_arena_take(a, n * 3 * C); /* (B, T, 3C) */
    b->att = nnb_arena_take(a, (size_t)B * b->NH * T * T); /* (B, NH, T, T) */
    b->ao = nnb_arena_take(a, n * C);    /* attention output before proj */
    b->x1 = nnb_arena_take(a, n * C);
    b->ln2 = nnb_arena_take(a, n * C);
    b->m2 = nnb_arena_take(a, n);
    b->r2 = nnb_arena_take(a, n);
    b->h = nnb_arena_take(a, n * Hd);    /* fc1 output (B, T, hidden) */
    b->hg = nnb_arena_take(a, n * Hd);   /* GELU(h) */
    b->out = nnb_arena_take(a, n * C);
    b->dC1 = nnb_arena_take(a, n * C);
    b->dC2 = nnb_arena_take(a, n * C);
    b->d3C = nnb_arena_take(a, n * 3 * C);
    b->dH = nnb_arena_take(a, n * Hd);
}

#define P(i) pblock_ptr(pb, b->i)
#define G(i) pblock_grad(pb, b->i)

void nnb_tblock_forward(nnb_tblock *b, pblock *pb, const float *x)
{
    const int n = b->B * b->T, C = b->C;
    layernorm_forward(b->ln1, b->m1, b->r1, x, P(in1w), P(in1b), n, C, b->eps);
    linear_forward(b->qkv, b->ln1, P(iqw), P(iqb), n, C, 3 * C);
    attention_forward(b->ao, b->att, b->qkv, b->B, b->T, C, b->NH);
    linear_forward(b->x1, b->ao, P(ipw), P(ipb), n, C, C);
    add_forward(b->x1, b->x1, x, (size_t)n * C);
    layernorm_forward(b->ln2, b->m2, b->r2, b->x1, P(in2w), P(in2b), n, C, b->eps);
    linear_forward(b->h, b->ln2, P(if1w), P(if1b), n, C, b->hidden);
    gelu_forward(b->hg, b->h, (size_t)n * b->hidden);
    linear_forward(b->out, b->hg, P(if2w), P(if2b), n, b->hidden, C);
    add_forward(b->out, b->out, b->x1, (size_t)n * C);
}

void nnb_tblock_backward(nnb_tblock *b, pblock *pb, float *dx, const float *dout, const float *x)
{
    const int n = b->B * b->T, C = b->C;
    float *dx1 = b->dC1, *t = b->dC2;
    /* MLP branch: dout reaches x1 directly and through the MLP */
    linear_backward(b->dH, G(if2w), G(if2b), dout, b->hg, P(if2w), n, b->hidden, C);
    gelu_backward(b->dH, b->dH, b->h, (size_t)n * b->hidden);
    linear_backward(t, G(if1w), G(if1b), b->dH, b->ln2, P(if1w), n, C, b->hidden);
    layernorm_backward(dx1, G(in2w), G(in2b), t, b->x1, b->m2, b->r2, P(in2w), n, C);
    add_inplace(dx1, dout, (size_t)n * C);
    /* attention branch: dx1 reaches x directly and through the attention */
    linear_backward(t, G(ipw), G(ipb), dx1, b->ao, P(ipw), n, C, C);
    attention_backward(b->d3C, t, b->qkv, b->att, b->B, b->T, C, b->NH);
    linear_backward(t, G(iqw), G(iqb), b->d3C, b->ln1, P(iqw), n, C, 3 * C);
    layernorm_backward(dx, G(in1w), G(in1b), t, x, b->m1, b->r1, P(in1w), n, C);
    add_inplace(dx, dx1, (size_t)n * C);
}

#undef P
#undef G

double nnb_tblock_flops(const nnb_tblock *b, int B, int T)
{
    const double n = (double)B * T, C = b->C;
    return 2 * n * C * (3 * C + C + 2 * b->hidden) + 4.0 * B * T * T * C;
}

int nnb_tstack_check(const char *who, int depth, int max_depth, int width, int heads, int mlp_ratio, float eps)
{
    if (depth < 1 || depth > max_depth)
        return err_set("%s: depth %d out of range 1..%d", who, depth, max_depth);
    if (heads < 1 || width < 4 || width > 8192 || width % heads || width % 4)
        return err_set("%s: width %d must be a multiple of 4 and of the %d heads, at most 8192", who, width, heads);
    if (mlp_ratio < 1 || mlp_ratio > 16 || !(eps > 0))
        return err_set("%s: mlp_ratio %d out of range 1..16, or eps not positive", who, mlp_ratio);
    return 0;
}

int nnb_tstack_declare(nnb_tstack *s, nnb_tblock *blk, int depth, pblock *pb, const char *blocks, const char *norm,
                       int C, int NH, int hidden, float eps)
{
    char name[64];
    *s = (nnb_tstack){.blk = blk, .depth = depth, .C = C, .eps = eps};
    for (int i = 0; i < depth; i++) {
        snprintf(name, sizeof name, "%s.%d", blocks, i);
        if (nnb_tblock_declare(&blk[i], pb, name, C, NH, hidden, eps))
            return -1;
    }
    snprintf(name, sizeof name, "%s.weight", norm);
    if ((s->inw = pblock_add(pb, name, PARAM_TRAIN, 1, (int64_t[]){C})) < 0)
        return -1;
    snprintf(name, sizeof name, "%s.bias", norm);
    return (s->inb = pblock_add(pb, name, PARAM_TRAIN, 1, (int64_t[]){C})) < 0 ? -1 : 0;
}

void nnb_tstack_init(const nnb_tstack *s, pblock *pb, rng *r)
{
    for (int i = 0; i < s->depth; i++)
        nnb_tblock_init(&s->blk[i], pb, r);
    for (int k = 0; k < s->C; k++)
        pblock_ptr(pb, s->inw)[k] = 1;
}

void nnb_tstack_bind(nnb_tstack *s, nnb_arena *a, int B, int T)
{
    for (int i = 0; i < s->depth; i++)
        nnb_tblock_bind(&s->blk[i], a, B, T);
}

void nnb_tstack_forward(nnb_tstack *s, pblock *pb, const float *x0, float *y, float *mean, float *rstd, int n)
{
    const float *in = x0;
    for (int i = 0; i < s->depth; i++) {
        nnb_tblock_forward(&s->blk[i], pb, in);
        in = s->blk[i].out;
    }
    layernorm_forward(y, mean, rstd, in, pblock_ptr(pb, s->inw), pblock_ptr(pb, s->inb), n, s->C, s->eps);
}

float *nnb_tstack_backward(nnb_tstack *s, pblock *pb, const float *x0, const float *dy, const float *mean,
                           const float *rstd, float *a, float *b, int n)
{
    layernorm_backward(a, pblock_grad(pb, s->inw), pblock_grad(pb, s->inb), dy, s->blk[s->depth - 1].out, mean, rstd,
                       pblock_ptr(pb, s->inw), n, s->C);
    for (int i = s->depth - 1; i >= 0; i--) {
        float *t = a;
        nnb_tblock_backward(&s->blk[i], pb, b, a, i ? s->blk[i - 1].out : x0);
        a = b, b = t;
    }
    return a;
}
