/* maedec — MAE's decoder; see maedec.h. */
#include "models/maedec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mval.h"
#include "core/rng.h"
#include "nn/block.h"
#include "nn/nn.h"
#include "nn/tblock.h"

#define MAEDEC_MAX_DEPTH 32

struct maedec {
    maedec_config cfg;
    pblock pb;
    nnb_arena ar;
    nnb_tblock blk[MAEDEC_MAX_DEPTH];
    nnb_tstack st; /* blk and the norm after them */
    int imask, iew, ieb, ipw, ipb;
    /* arena (bind) */
    float *e, *x0, *pos, *y, *ym, *yr, *pf, *pred, *dpf, *dA, *dB, *de, *dlat;
    const float *lat;
    int *src; /* (N, 1 + L): the row of e each full token comes from, -1 the mask token */
    size_t srccap;
    int N, K, L, gh, gw, bound, have_fwd;
};

void maedec_config_default(maedec_config *c)
{
    *c = (maedec_config){.embed = 768, .in_ch = 1, .patch = 16, .depth = 8, .width = 512, .heads = 16,
                         .mlp_ratio = 4, .eps = 1e-6f};
}

int maedec_config_check(const maedec_config *c)
{
    if (c->embed < 1 || c->embed > 8192 || c->in_ch < 1 || c->in_ch > 64 || c->patch < 1 || c->patch > 256)
        return err_set("maedec: embed %d, in_ch %d or patch %d out of range", c->embed, c->in_ch, c->patch);
    return nnb_tstack_check("maedec", c->depth, MAEDEC_MAX_DEPTH, c->width, c->heads, c->mlp_ratio, c->eps);
}

/* the configuration, field by field in JSON order */
static const nnb_cfg_field fields[] = {
    NNB_CFG(maedec_config, embed, NNB_CFG_INT),
    NNB_CFG(maedec_config, in_ch, NNB_CFG_INT),
    NNB_CFG(maedec_config, patch, NNB_CFG_INT),
    NNB_CFG(maedec_config, depth, NNB_CFG_INT),
    NNB_CFG(maedec_config, width, NNB_CFG_INT),
    NNB_CFG(maedec_config, heads, NNB_CFG_INT),
    NNB_CFG(maedec_config, mlp_ratio, NNB_CFG_INT),
    NNB_CFG(maedec_config, eps, NNB_CFG_FLOAT),
    {0},
};

/* maedec_config_json, maedec_config_parse */
NNB_MODEL_CONFIG(maedec, fields, NULL)

static int declare(maedec *d)
{
    const maedec_config *c = &d->cfg;
    const int Dd = c->width, KP = c->in_ch * c->patch * c->patch;
    pblock *pb = &d->pb;
    if ((d->imask = pblock_add(pb, "mask_token", PARAM_TRAIN, 3, (int64_t[]){1, 1, Dd})) < 0 ||
        (d->iew = pblock_add(pb, "decoder_embed.weight", PARAM_TRAIN, 2, (int64_t[]){Dd, c->embed})) < 0 ||
        (d->ieb = pblock_add(pb, "decoder_embed.bias", PARAM_TRAIN, 1, (int64_t[]){Dd})) < 0)
        return -1;
    if (nnb_tstack_declare(&d->st, d->blk, c->depth, pb, "decoder_blocks", "decoder_norm", Dd, c->heads,
                           c->mlp_ratio * Dd, c->eps) ||
        (d->ipw = pblock_add(pb, "decoder_pred.weight", PARAM_TRAIN, 2, (int64_t[]){KP, Dd})) < 0 ||
        (d->ipb = pblock_add(pb, "decoder_pred.bias", PARAM_TRAIN, 1, (int64_t[]){KP})) < 0)
        return -1;
    return pblock_alloc(pb);
}

static void init(maedec *d, rng *r)
{
    const maedec_config *c = &d->cfg;
    const int Dd = c->width;
    nn_init_normal(pblock_ptr(&d->pb, d->imask), (size_t)Dd, 0.02f, r);
    nnb_init_xavier(pblock_ptr(&d->pb, d->iew), Dd, c->embed, r);
    nnb_tstack_init(&d->st, &d->pb, r);
    nnb_init_xavier(pblock_ptr(&d->pb, d->ipw), c->in_ch * c->patch * c->patch, Dd, r);
}

/* maedec_create */
NNB_MODEL_CREATE(maedec, maedec, declare, init, 0x3AEDEC)

void maedec_free(maedec *d)
{
    if (!d)
        return;
    pblock_free(&d->pb);
    nnb_arena_free(&d->ar);
    free(d->src);
    free(d);
}

const maedec_config *maedec_get_config(const maedec *d) { return &d->cfg; }
pblock *maedec_params(maedec *d) { return &d->pb; }

static void bind_cb(void *m, int N, int H, int W)
{
    maedec *d = m;
    const size_t Dd = (size_t)d->cfg.width, KP = (size_t)d->cfg.in_ch * d->cfg.patch * d->cfg.patch;
    const size_t ne = (size_t)N * (d->K + 1), nf = (size_t)N * (d->L + 1);
    (void)H, (void)W;
    d->e = nnb_arena_take(&d->ar, ne * Dd);   /* embedded encoder tokens (N, 1 + K, Dd) */
    d->de = nnb_arena_take(&d->ar, ne * Dd);
    d->dlat = nnb_arena_take(&d->ar, ne * (size_t)d->cfg.embed);
    d->pos = nnb_arena_take(&d->ar, (size_t)d->L * Dd);
    d->x0 = nnb_arena_take(&d->ar, nf * Dd);  /* full sequences (N, 1 + L, Dd) */
    nnb_tstack_bind(&d->st, &d->ar, N, d->L + 1);
    d->y = nnb_arena_take(&d->ar, nf * Dd);
    d->ym = nnb_arena_take(&d->ar, nf);
    d->yr = nnb_arena_take(&d->ar, nf);
    d->pf = nnb_arena_take(&d->ar, nf * KP);  /* predictions of every token, cls included */
    d->dpf = nnb_arena_take(&d->ar, nf * KP);
    d->pred = nnb_arena_take(&d->ar, (size_t)N * d->L * KP);
    d->dA = nnb_arena_take(&d->ar, nf * Dd);
    d->dB = nnb_arena_take(&d->ar, nf * Dd);
}

const float *maedec_forward(maedec *d, const float *lat, const int *keep, int N, int K, int gh, int gw)
{
    const maedec_config *c = &d->cfg;
    const int Dd = c->width, L = gh * gw, T = L + 1, KP = c->in_ch * c->patch * c->patch;
    pblock *pb = &d->pb;
    d->have_fwd = 0;
    if (N < 1 || K < 1 || K > L)
        return err_set("maedec: %d tokens kept of %d (batch %d)", K, L, N), NULL;
    if ((size_t)N * T > d->srccap) {
        free(d->src);
        if (!(d->src = malloc(sizeof(int) * (size_t)N * T)))
            return d->srccap = 0, err_set("out of memory"), NULL;
        d->srccap = (size_t)N * T;
    }
    for (int n = 0; n < N; n++) {
        int *s = d->src + (size_t)n * T;
        s[0] = n * (K + 1);
        for (int l = 1; l < T; l++)
            s[l] = -1;
        for (int k = 0; k < K; k++) {
            const int p = keep[n * K + k];
            if (p < 0 || p >= L || s[1 + p] >= 0)
                return err_set("maedec: kept patch %d of %d, or twice", p, L), NULL;
            s[1 + p] = n * (K + 1) + 1 + k;
        }
    }
    if (!d->bound || N != d->N || K != d->K || gh != d->gh || gw != d->gw) {
        d->K = K, d->L = L, d->bound = 0;
        if (nnb_arena_bind(&d->ar, bind_cb, d, N, gh, gw))
            return NULL;
        d->N = N, d->gh = gh, d->gw = gw, d->bound = 1;
        sincos_pos_embed_2d(d->pos, Dd, gh, gw);
    }
    d->lat = lat;
    linear_forward(d->e, lat, pblock_ptr(pb, d->iew), pblock_ptr(pb, d->ieb), N * (K + 1), c->embed, Dd);
    const float *mask = pblock_ptr(pb, d->imask);
    for (int n = 0; n < N; n++)
        for (int l = 0; l < T; l++) {
            const int s = d->src[(size_t)n * T + l];
            float *x = d->x0 + ((size_t)n * T + l) * Dd;
            const float *from = s >= 0 ? d->e + (size_t)s * Dd : mask;
            if (l == 0)
                memcpy(x, from, sizeof(float) * Dd);
            else
                add_forward(x, from, d->pos + (size_t)(l - 1) * Dd, (size_t)Dd);
        }
    nnb_tstack_forward(&d->st, pb, d->x0, d->y, d->ym, d->yr, N * T);
    linear_forward(d->pf, d->y, pblock_ptr(pb, d->ipw), pblock_ptr(pb, d->ipb), N * T, Dd, KP);
    for (int n = 0; n < N; n++)
        memcpy(d->pred + (size_t)n * L * KP, d->pf + ((size_t)n * T + 1) * KP, sizeof(float) * L * KP);
    d->have_fwd = 1;
    return d->pred;
}

const float *maedec_backward(maedec *d, const float *dpred)
{
    const maedec_config *c = &d->cfg;
    const int N = d->N, K = d->K, L = d->L, T = L + 1, Dd = c->width, KP = c->in_ch * c->patch * c->patch;
    pblock *pb = &d->pb;
    if (!d->have_fwd)
        return err_set("maedec: backward without a forward"), NULL;
    for (int n = 0; n < N; n++) { /* the cls token's prediction is dropped: no gradient */
        memset(d->dpf + (size_t)n * T * KP, 0, sizeof(float) * KP);
        memcpy(d->dpf + ((size_t)n * T + 1) * KP, dpred + (size_t)n * L * KP, sizeof(float) * L * KP);
    }
    linear_backward(d->dB, pblock_grad(pb, d->ipw), pblock_grad(pb, d->ipb), d->dpf, d->y, pblock_ptr(pb, d->ipw),
                    N * T, Dd, KP);
    const float *g = nnb_tstack_backward(&d->st, pb, d->x0, d->dB, d->ym, d->yr, d->dA, d->dB, N * T);
    /* g = d x0: each row back to its embedded token or to the mask token */
    float *dmask = pblock_grad(pb, d->imask);
    for (int n = 0; n < N; n++)
        for (int l = 0; l < T; l++) {
            const int s = d->src[(size_t)n * T + l];
            const float *gr = g + ((size_t)n * T + l) * Dd;
            if (s >= 0)
                memcpy(d->de + (size_t)s * Dd, gr, sizeof(float) * Dd);
            else
                add_inplace(dmask, gr, (size_t)Dd);
        }
    linear_backward(d->dlat, pblock_grad(pb, d->iew), pblock_grad(pb, d->ieb), d->de, d->lat, pblock_ptr(pb, d->iew),
                    N * (K + 1), c->embed, Dd);
    d->have_fwd = 0;
    return d->dlat;
}

double maedec_flops(const maedec_config *c, int K, int L)
{
    const double Dd = c->width, T = L + 1;
    double f = 2.0 * (K + 1) * c->embed * Dd + 2.0 * T * Dd * c->in_ch * c->patch * c->patch;
    return f + c->depth * (2 * T * Dd * (4 * Dd + 2.0 * c->mlp_ratio * Dd) + 4.0 * T * T * Dd);
}

/* the sizes a checkpoint's configuration claims, against its tensors */
static int expect_shapes(const ckpt *c, const char *prefix, const maedec_config *cfg)
{
    if (ckpt_expect_shape(c, prefix, "decoder_embed.weight", cfg->width, cfg->embed) ||
        ckpt_expect_shape(c, prefix, "decoder_blocks.0.mlp.fc1.weight", (int64_t)cfg->mlp_ratio * cfg->width, cfg->width))
        return -1;
    return 0;
}

/* maedec_ckpt_put, maedec_ckpt_load */
NNB_MODEL_CKPT(maedec, expect_shapes)
