/* vit — the ViT encoder of MAE; see vit.h. */
#include "models/vit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mval.h"
#include "core/rng.h"
#include "core/tensor.h"
#include "nn/block.h"
#include "nn/nn.h"
#include "nn/tblock.h"

#define VIT_MAX_DEPTH 48

struct vit {
    vit_config cfg;
    pblock pb;
    nnb_arena ar;
    nnb_tblock blk[VIT_MAX_DEPTH];
    nnb_tstack st; /* blk and the norm after them */
    int icls, ipw, ipb;
    /* arena (bind) */
    float *patches, *sel, *emb, *x0, *pos, *tok, *fm, *fr, *dA, *dB, *demb;
    int *keep; /* (N, K) of the last forward, malloc'ed */
    size_t keepcap;
    int N, H, W, K, L, bound, have_fwd;
};

static const struct {
    const char *name;
    int depth, width, heads;
} presets[] = {{"tiny", 12, 192, 3}, {"small", 12, 384, 6}, {"base", 12, 768, 12}};

void vit_config_default(vit_config *c)
{
    *c = (vit_config){.in_ch = 1, .patch = 16, .depth = 12, .width = 768, .heads = 12, .mlp_ratio = 4, .eps = 1e-6f};
}

int vit_config_preset(vit_config *c, const char *name)
{
    int d, w, h, n = 0;
    for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
        if (!strcmp(name, presets[i].name)) {
            c->depth = presets[i].depth, c->width = presets[i].width, c->heads = presets[i].heads;
            return 0;
        }
    if (sscanf(name, "%d,%d,%d%n", &d, &w, &h, &n) == 3 && !name[n]) {
        vit_config t = *c;
        t.depth = d, t.width = w, t.heads = h;
        if (vit_config_check(&t))
            return -1;
        *c = t;
        return 0;
    }
    return err_set("'%s' is not a ViT configuration (tiny, small, base or DEPTH,WIDTH,HEADS)", name);
}

int vit_config_check(const vit_config *c)
{
    if (c->in_ch < 1 || c->in_ch > 64)
        return err_set("vit: in_ch %d out of range 1..64", c->in_ch);
    if (c->patch < 1 || c->patch > 256)
        return err_set("vit: patch %d out of range 1..256", c->patch);
    return nnb_tstack_check("vit", c->depth, VIT_MAX_DEPTH, c->width, c->heads, c->mlp_ratio, c->eps);
}

/* the configuration, field by field in JSON order */
static const nnb_cfg_field fields[] = {
    NNB_CFG(vit_config, in_ch, NNB_CFG_INT),
    NNB_CFG(vit_config, patch, NNB_CFG_INT),
    NNB_CFG(vit_config, depth, NNB_CFG_INT),
    NNB_CFG(vit_config, width, NNB_CFG_INT),
    NNB_CFG(vit_config, heads, NNB_CFG_INT),
    NNB_CFG(vit_config, mlp_ratio, NNB_CFG_INT),
    NNB_CFG(vit_config, eps, NNB_CFG_FLOAT),
    {0},
};

/* vit_config_json, vit_config_parse */
NNB_MODEL_CONFIG(vit, fields, NULL)

static int declare(vit *v)
{
    const vit_config *c = &v->cfg;
    const int D = c->width, P = c->patch;
    if ((v->icls = pblock_add(&v->pb, "cls_token", PARAM_TRAIN, 3, (int64_t[]){1, 1, D})) < 0 ||
        (v->ipw = pblock_add(&v->pb, "patch_embed.proj.weight", PARAM_TRAIN, 4, (int64_t[]){D, c->in_ch, P, P})) < 0 ||
        (v->ipb = pblock_add(&v->pb, "patch_embed.proj.bias", PARAM_TRAIN, 1, (int64_t[]){D})) < 0)
        return -1;
    if (nnb_tstack_declare(&v->st, v->blk, c->depth, &v->pb, "blocks", "norm", D, c->heads, c->mlp_ratio * D, c->eps))
        return -1;
    return pblock_alloc(&v->pb);
}

static void init(vit *v, rng *r)
{
    const vit_config *c = &v->cfg;
    const int D = c->width, K = c->in_ch * c->patch * c->patch;
    nn_init_normal(pblock_ptr(&v->pb, v->icls), (size_t)D, 0.02f, r);
    nnb_init_xavier(pblock_ptr(&v->pb, v->ipw), D, K, r);
    nn_init_default(pblock_ptr(&v->pb, v->ipb), (size_t)D, K, r);
    nnb_tstack_init(&v->st, &v->pb, r);
}

/* vit_create */
NNB_MODEL_CREATE(vit, vit, declare, init, 0x71700)

void vit_free(vit *v)
{
    if (!v)
        return;
    pblock_free(&v->pb);
    nnb_arena_free(&v->ar);
    free(v->keep);
    free(v);
}

const vit_config *vit_get_config(const vit *v) { return &v->cfg; }
pblock *vit_params(vit *v) { return &v->pb; }

static void bind_cb(void *m, int N, int H, int W)
{
    vit *v = m;
    const size_t D = (size_t)v->cfg.width, KP = (size_t)v->cfg.in_ch * v->cfg.patch * v->cfg.patch;
    const size_t T = (size_t)v->K + 1, n = (size_t)N * T;
    (void)H, (void)W;
    v->patches = nnb_arena_take(&v->ar, (size_t)N * v->L * KP); /* (N, L, in_ch P P) */
    v->sel = nnb_arena_take(&v->ar, (size_t)N * v->K * KP);     /* the kept rows (N K, in_ch P P) */
    v->emb = nnb_arena_take(&v->ar, (size_t)N * v->K * D);
    v->demb = nnb_arena_take(&v->ar, (size_t)N * v->K * D);
    v->pos = nnb_arena_take(&v->ar, (size_t)v->L * D);
    v->x0 = nnb_arena_take(&v->ar, n * D); /* (N, T, D) */
    nnb_tstack_bind(&v->st, &v->ar, N, (int)T);
    v->tok = nnb_arena_take(&v->ar, n * D);
    v->fm = nnb_arena_take(&v->ar, n);
    v->fr = nnb_arena_take(&v->ar, n);
    v->dA = nnb_arena_take(&v->ar, n * D);
    v->dB = nnb_arena_take(&v->ar, n * D);
}

const float *vit_forward(vit *v, const float *x, int N, int H, int W, const int *keep, int K)
{
    const vit_config *c = &v->cfg;
    const int P = c->patch, D = c->width, KP = c->in_ch * P * P, L = (H / P) * (W / P);
    v->have_fwd = 0;
    if (N < 1 || H < P || W < P || H % P || W % P)
        return err_set("vit: input %dx%d (batch %d): sides must be multiples of the patch %d", H, W, N, P), NULL;
    if (K < 1 || K > L || (!keep && K != L))
        return err_set("vit: %d patches kept of %d", K, L), NULL;
    if ((size_t)N * K > v->keepcap) {
        free(v->keep);
        if (!(v->keep = malloc(sizeof(int) * (size_t)N * K)))
            return v->keepcap = 0, err_set("out of memory"), NULL;
        v->keepcap = (size_t)N * K;
    }
    for (int i = 0; i < N * K; i++) {
        v->keep[i] = keep ? keep[i] : i % L;
        if (v->keep[i] < 0 || v->keep[i] >= L)
            return err_set("vit: kept patch %d of a grid of %d", v->keep[i], L), NULL;
    }
    if (!v->bound || N != v->N || H != v->H || W != v->W || K != v->K) {
        v->K = K, v->L = L, v->bound = 0;
        if (nnb_arena_bind(&v->ar, bind_cb, v, N, H, W))
            return NULL;
        v->N = N, v->H = H, v->W = W, v->bound = 1;
        sincos_pos_embed_2d(v->pos, D, H / P, W / P);
    }
    const int T = K + 1;
    patchify(v->patches, x, N, c->in_ch, H, W, P);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            memcpy(v->sel + ((size_t)n * K + k) * KP, v->patches + ((size_t)n * L + v->keep[n * K + k]) * KP,
                   sizeof(float) * KP);
    linear_forward(v->emb, v->sel, pblock_ptr(&v->pb, v->ipw), pblock_ptr(&v->pb, v->ipb), N * K, KP, D);
    const float *cls = pblock_ptr(&v->pb, v->icls);
    for (int n = 0; n < N; n++) {
        float *xn = v->x0 + (size_t)n * T * D;
        memcpy(xn, cls, sizeof(float) * D);
        for (int k = 0; k < K; k++)
            add_forward(xn + (size_t)(k + 1) * D, v->emb + ((size_t)n * K + k) * D,
                        v->pos + (size_t)v->keep[n * K + k] * D, (size_t)D);
    }
    nnb_tstack_forward(&v->st, &v->pb, v->x0, v->tok, v->fm, v->fr, N * T);
    v->have_fwd = 1;
    return v->tok;
}

int vit_backward(vit *v, const float *dtok)
{
    const vit_config *c = &v->cfg;
    const int N = v->N, K = v->K, T = K + 1, D = c->width, KP = c->in_ch * c->patch * c->patch;
    pblock *pb = &v->pb;
    if (!v->have_fwd)
        return err_set("vit: backward without a forward");
    const float *d = nnb_tstack_backward(&v->st, pb, v->x0, dtok, v->fm, v->fr, v->dA, v->dB, N * T);
    /* d = d x0: the cls rows to its token, the others through the embedding */
    float *dcls = pblock_grad(pb, v->icls);
    for (int n = 0; n < N; n++) {
        const float *dn = d + (size_t)n * T * D;
        add_inplace(dcls, dn, (size_t)D);
        memcpy(v->demb + (size_t)n * K * D, dn + D, sizeof(float) * K * D);
    }
    linear_backward(NULL, pblock_grad(pb, v->ipw), pblock_grad(pb, v->ipb), v->demb, v->sel, pblock_ptr(pb, v->ipw),
                    N * K, KP, D);
    v->have_fwd = 0;
    return 0;
}

double vit_flops(const vit_config *c, int T)
{
    const double D = c->width;
    double f = 2.0 * T * D * c->in_ch * c->patch * c->patch;
    f += c->depth * (2 * T * D * (4 * D + 2.0 * c->mlp_ratio * D) + 4.0 * T * T * D);
    return f;
}

/* the sizes a checkpoint's configuration claims, against its tensors */
static int expect_shapes(const ckpt *c, const char *prefix, const vit_config *cfg)
{
    if (ckpt_expect_shape(c, prefix, "patch_embed.proj.weight", cfg->width, cfg->in_ch) ||
        ckpt_expect_shape(c, prefix, "blocks.0.mlp.fc1.weight", (int64_t)cfg->mlp_ratio * cfg->width, cfg->width))
        return -1;
    return 0;
}

/* vit_ckpt_put, vit_ckpt_load */
NNB_MODEL_CKPT(vit, expect_shapes)
