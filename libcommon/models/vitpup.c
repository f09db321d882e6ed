/* vitpup — progressive upsampling on a ViT's tokens; see vitpup.h. */
#include "models/vitpup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mval.h"
#include "core/rng.h"
#include "nn/block.h"
#include "nn/nn.h"

#define PUP_MAX 9 /* stages: patch 256 = 2^8, plus stage 0 */
#define PUP_IMAX(a, b) ((a) > (b) ? (a) : (b))

struct vitpup {
    vitpup_config cfg;
    pblock pb;
    nnb_arena ar;
    nnb_cbr st[PUP_MAX];
    int S, training;
    /* arena (bind) */
    float *map, *dmap, *dtok, *up[PUP_MAX], *g[PUP_MAX], *gu[PUP_MAX];
    int N, H, W, bound, have_fwd;
};

static int log2_of(int P)
{
    int s = 0;
    while ((1 << s) < P)
        s++;
    return (1 << s) == P ? s : -1;
}

static int width_of(const vitpup_config *c, int S, int s)
{
    return s == S ? c->out_ch : PUP_IMAX(c->out_ch, 256 >> s);
}

int vitpup_config_check(const vitpup_config *c)
{
    if (c->embed < 1 || c->embed > 8192 || c->out_ch < 1 || c->out_ch > 1024)
        return err_set("vitpup: embed %d or out_ch %d out of range", c->embed, c->out_ch);
    if (c->patch < 2 || c->patch > 256 || log2_of(c->patch) < 0)
        return err_set("vitpup: the progressive decoder needs a patch that is a power of two (2..256), not %d",
                       c->patch);
    return 0;
}

/* the configuration, field by field in JSON order */
static const nnb_cfg_field fields[] = {
    NNB_CFG_REQUIRED(vitpup_config, embed, NNB_CFG_INT),
    NNB_CFG_REQUIRED(vitpup_config, patch, NNB_CFG_INT),
    NNB_CFG(vitpup_config, out_ch, NNB_CFG_INT),
    {0},
};

void vitpup_config_default(vitpup_config *c)
{
    *c = (vitpup_config){.out_ch = 64};
}

/* vitpup_config_json, vitpup_config_parse */
NNB_MODEL_CONFIG(vitpup, fields, "'embed' and 'patch' are required integers")

static int declare(vitpup *d)
{
    const vitpup_config *c = &d->cfg;
    const nnb_normcfg nc = {NORM_BATCH, 1, 0.1f, 1e-5f};
    char pre[32];
    d->S = log2_of(c->patch);
    d->training = 1;
    for (int s = 0; s <= d->S; s++) {
        snprintf(pre, sizeof pre, "stages.%d", s);
        if (nnb_cbr_declare(&d->st[s], &d->pb, pre, "conv", "bn", s ? width_of(c, d->S, s - 1) : c->embed, 0,
                            width_of(c, d->S, s), 3, 1, 1, &nc))
            return -1;
    }
    return pblock_alloc(&d->pb);
}

static void init(vitpup *d, rng *r)
{
    for (int s = 0; s <= d->S; s++)
        nnb_cbr_init(&d->st[s], &d->pb, r);
}

/* vitpup_create */
NNB_MODEL_CREATE(vitpup, vitpup, declare, init, 0x9C9)

/* vitpup_free, vitpup_get_config, vitpup_params */
NNB_MODEL_ACCESSORS(vitpup)

MODEL_SET_TRAINING(vitpup, vitpup)

static void bind_cb(void *m, int N, int H, int W)
{
    vitpup *d = m;
    const int P = d->cfg.patch, gh = H / P, gw = W / P, D = d->cfg.embed;
    d->map = nnb_arena_take(&d->ar, (size_t)N * D * gh * gw);  /* (N, D, gh, gw) */
    d->dmap = nnb_arena_take(&d->ar, (size_t)N * D * gh * gw);
    d->dtok = nnb_arena_take(&d->ar, (size_t)N * (gh * gw + 1) * D);
    for (int s = 0; s <= d->S; s++) {
        const int h = gh << s, w = gw << s;
        if (s) /* the previous stage's output, upsampled to this one's size */
            d->up[s] = nnb_arena_take(&d->ar, (size_t)N * d->st[s].cin1 * h * w);
        nnb_cbr_bind(&d->st[s], &d->ar, N, h, w);
        d->g[s] = nnb_arena_take(&d->ar, nnb_cbr_out_numel(&d->st[s]));
        if (s)
            d->gu[s] = nnb_arena_take(&d->ar, (size_t)N * d->st[s].cin1 * h * w);
    }
}

const float *vitpup_forward(vitpup *d, const float *tok, int N, int H, int W)
{
    const int P = d->cfg.patch, D = d->cfg.embed;
    d->have_fwd = 0;
    if (N < 1 || H < P || W < P || H % P || W % P)
        return err_set("vitpup: input %dx%d: sides must be multiples of the patch %d", H, W, P), NULL;
    if (!d->bound || N != d->N || H != d->H || W != d->W) {
        d->bound = 0;
        if (nnb_arena_bind(&d->ar, bind_cb, d, N, H, W))
            return NULL;
        d->N = N, d->H = H, d->W = W, d->bound = 1;
    }
    const int L = (H / P) * (W / P);
    for (int n = 0; n < N; n++) /* rows (L, D) after the cls token -> (D, L) */
        for (int l = 0; l < L; l++)
            for (int k = 0; k < D; k++)
                d->map[((size_t)n * D + k) * L + l] = tok[((size_t)n * (L + 1) + 1 + l) * D + k];
    const float *in = d->map;
    for (int s = 0; s <= d->S; s++) {
        nnb_cbr *c = &d->st[s];
        if (s) {
            upsample2x_forward(d->up[s], in, N, c->cin1, c->H / 2, c->W / 2);
            in = d->up[s];
        }
        nnb_cbr_forward(c, &d->pb, in, NULL, d->training);
        in = c->a;
    }
    d->have_fwd = 1;
    return in;
}

const float *vitpup_backward(vitpup *d, const float *dfeat)
{
    const int N = d->N, P = d->cfg.patch, D = d->cfg.embed, L = (d->H / P) * (d->W / P);
    if (!d->have_fwd)
        return err_set("vitpup: backward without a forward"), NULL;
    memcpy(d->g[d->S], dfeat, sizeof(float) * nnb_cbr_out_numel(&d->st[d->S]));
    for (int s = d->S; s >= 0; s--) {
        nnb_cbr *c = &d->st[s];
        if (s) {
            nnb_cbr_backward(c, &d->pb, d->g[s], d->gu[s], NULL, d->up[s], NULL, d->training);
            upsample2x_backward(d->g[s - 1], d->gu[s], N, c->cin1, c->H / 2, c->W / 2);
        } else {
            nnb_cbr_backward(c, &d->pb, d->g[0], d->dmap, NULL, d->map, NULL, d->training);
        }
    }
    for (int n = 0; n < N; n++) {
        memset(d->dtok + (size_t)n * (L + 1) * D, 0, sizeof(float) * D);
        for (int l = 0; l < L; l++)
            for (int k = 0; k < D; k++)
                d->dtok[((size_t)n * (L + 1) + 1 + l) * D + k] = d->dmap[((size_t)n * D + k) * L + l];
    }
    d->have_fwd = 0;
    return d->dtok;
}

double vitpup_flops(const vitpup_config *c, int H, int W)
{
    const int S = log2_of(c->patch);
    double f = 0;
    for (int s = 0; s <= S; s++) {
        const double h = (double)(H / c->patch << s), w = (double)(W / c->patch << s);
        f += 2.0 * 9 * (s ? width_of(c, S, s - 1) : c->embed) * width_of(c, S, s) * h * w;
    }
    return f;
}

/* the sizes a checkpoint's configuration claims, against its tensors */
static int expect_shapes(const ckpt *c, const char *prefix, const vitpup_config *cfg)
{
    return ckpt_expect_shape(c, prefix, "stages.0.conv.weight", PUP_IMAX(cfg->out_ch, 256), cfg->embed);
}

/* vitpup_ckpt_put, vitpup_ckpt_load */
NNB_MODEL_CKPT(vitpup, expect_shapes)
