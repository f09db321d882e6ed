#include "models/unet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/block.h"
#include "nn/internal.h"

struct unet {
    unet_config cfg;
    pblock pb;
    nnb_normcfg nc;
    nnb_cbr c1[5], c2[5]; /* enc1..enc4, mid; level l works at (H >> l, W >> l), widths[l] channels */
    nnb_decoder dec;      /* up to features (N, out_ch, H, W) */
    nnb_arena ar;         /* every buffer below, sized by the last bind */
    float *xin;           /* copy of the last input (N, in_ch, H, W) */
    float *pool[4];       /* maxpool of c2[l].a, the input of level l + 1: (N, widths[l], H >> (l+1), W >> (l+1)) */
    float *gskip[4];      /* gradient of the skip c2[l].a from the decoder: (N, widths[l], H >> l, W >> l) */
    float *gx, *gy;       /* gradient ping-pong, the largest level: (N, widths[l], H >> l, W >> l) */
    float *gbottom;       /* gradient of mid's output: (N, widths[4], H >> 4, W >> 4) */
    int N, H, W, bound, have_fwd, training;
};

void unet_config_default(unet_config *c)
{
    static const int w[5] = {16, 32, 64, 128, 256};
    memset(c, 0, sizeof *c);
    c->in_ch = 1;
    memcpy(c->widths, w, sizeof w);
    c->out_ch = 64;
    c->norm = NORM_BATCH;
    c->groups = 8;
    c->bn_momentum = 0.1f;
    c->eps = 1e-5f;
}

int unet_config_check(const unet_config *c)
{
    if (c->in_ch < 1 || c->in_ch > 4096)
        return err_set("unet: in_ch %d out of range 1..4096", c->in_ch);
    if (c->out_ch < 1 || c->out_ch > 4096)
        return err_set("unet: out_ch %d out of range 1..4096", c->out_ch);
    for (int i = 0; i < 5; i++) {
        if (c->widths[i] < 1 || c->widths[i] > 4096)
            return err_set("unet: widths[%d] = %d out of range 1..4096", i, c->widths[i]);
        if (c->norm == NORM_GROUP && (c->groups < 1 || c->widths[i] % c->groups))
            return err_set("unet: %d groups do not divide width %d", c->groups, c->widths[i]);
    }
    if (c->norm != NORM_BATCH && c->norm != NORM_GROUP)
        return err_set("unet: unknown norm %d", (int)c->norm);
    if (!(c->bn_momentum >= 0 && c->bn_momentum <= 1))
        return err_set("unet: bn_momentum must be in [0, 1]");
    if (!(c->eps > 0))
        return err_set("unet: eps must be positive");
    return 0;
}

static const nnb_cfg_field fields[] = {
    NNB_CFG(unet_config, in_ch, NNB_CFG_INT),
    NNB_CFG_N(unet_config, widths, 5),
    NNB_CFG(unet_config, out_ch, NNB_CFG_INT),
    NNB_CFG_NORM_FIELDS(unet_config),
    {0},
};

/* unet_config_json, unet_config_parse */
NNB_MODEL_CONFIG(unet, fields, NULL)

static int declare(unet *u)
{
    const unet_config *c = &u->cfg;
    char pre[8];
    u->training = 1;
    u->nc = (nnb_normcfg){c->norm, c->groups, c->bn_momentum, c->eps};
    const char *n1 = c->norm == NORM_BATCH ? "bn1" : "gn1", *n2 = c->norm == NORM_BATCH ? "bn2" : "gn2";
    for (int l = 0; l < 5; l++) {
        int in = l == 0 ? c->in_ch : c->widths[l - 1];
        if (l < 4)
            snprintf(pre, sizeof pre, "enc%d", l + 1);
        else
            snprintf(pre, sizeof pre, "mid");
        if (nnb_cbr_declare(&u->c1[l], &u->pb, pre, "conv1", n1, in, 0, c->widths[l], 3, 1, 1,
                        &u->nc) ||
            nnb_cbr_declare(&u->c2[l], &u->pb, pre, "conv2", n2, c->widths[l], 0, c->widths[l], 3, 1,
                        1, &u->nc))
            return -1;
    }
    if (nnb_dec_declare(&u->dec, &u->pb, c->widths, c->widths[4], c->widths, c->out_ch, &u->nc))
        return -1;
    return pblock_alloc(&u->pb);
}

static void init(unet *u, rng *r)
{
    for (int l = 0; l < 5; l++) {
        nnb_cbr_init(&u->c1[l], &u->pb, r);
        nnb_cbr_init(&u->c2[l], &u->pb, r);
    }
    nnb_dec_init(&u->dec, &u->pb, r);
}

/* unet_create */
NNB_MODEL_CREATE(unet, unet, declare, init, 0x756e6574 /* "unet" */)

/* unet_free, unet_get_config, unet_params */
NNB_MODEL_ACCESSORS(unet)

MODEL_SET_TRAINING(unet, unet)

static void bind_all(unet *u, int N, int H, int W)
{
    nnb_arena *a = &u->ar;
    size_t gmax = 0;
    u->xin = nnb_arena_take(a, (size_t)N * u->cfg.in_ch * H * W);
    for (int l = 0; l < 5; l++) {
        int h = H >> l, w = W >> l;
        nnb_cbr_bind(&u->c1[l], a, N, h, w);
        nnb_cbr_bind(&u->c2[l], a, N, h, w);
        gmax = NN_MAX(gmax, (size_t)N * u->cfg.widths[l] * h * w);
        if (l < 4) {
            u->pool[l] = nnb_arena_take(a, (size_t)N * u->cfg.widths[l] * (h / 2) * (w / 2));
            u->gskip[l] = nnb_arena_take(a, (size_t)N * u->cfg.widths[l] * h * w);
        }
    }
    u->gbottom = nnb_arena_take(a, (size_t)N * u->cfg.widths[4] * (H >> 4) * (W >> 4));
    u->gx = nnb_arena_take(a, gmax);
    u->gy = nnb_arena_take(a, gmax);
    nnb_dec_bind(&u->dec, a, N, H, W);
}

static void bind_cb(void *u, int N, int H, int W)
{
    bind_all(u, N, H, W);
}

static int ensure_bound(unet *u, int N, int H, int W)
{
    if (nnb_check_input("unet", N, H, W, NN_MAX(u->cfg.out_ch, 2 * u->cfg.widths[0])))
        return -1;
    if (u->bound && u->N == N && u->H == H && u->W == W)
        return 0;
    u->bound = 0;
    if (nnb_arena_bind(&u->ar, bind_cb, u, N, H, W))
        return -1;
    u->N = N, u->H = H, u->W = W, u->bound = 1;
    return 0;
}

const float *unet_forward(unet *u, const float *x, int N, int H, int W)
{
    const float *skip[4];
    u->have_fwd = 0;
    if (ensure_bound(u, N, H, W))
        return NULL;
    memcpy(u->xin, x, (size_t)N * u->cfg.in_ch * H * W * sizeof(float));
    for (int l = 0; l < 5; l++) {
        nnb_cbr_forward(&u->c1[l], &u->pb, l == 0 ? u->xin : u->pool[l - 1], NULL, u->training);
        nnb_cbr_forward(&u->c2[l], &u->pb, u->c1[l].a, NULL, u->training);
        if (l < 4) {
            PROF_CALL(PROF_POOL_FWD, 0, maxpool2x2_forward(u->pool[l], u->c2[l].a, N, u->cfg.widths[l], H >> l, W >> l));
            skip[l] = u->c2[l].a;
        }
    }
    nnb_dec_forward(&u->dec, &u->pb, skip, u->c2[4].a, u->training);
    u->have_fwd = 1;
    return u->dec.f;
}

int unet_backward(unet *u, const float *dfeat, float *dx)
{
    const float *skip[4];
    float *gx = u->gx, *gy = u->gy, *t;
    int N = u->N, H = u->H, W = u->W;
    if (!u->have_fwd)
        return err_set("unet: backward without a forward");
    for (int l = 0; l < 4; l++)
        skip[l] = u->c2[l].a;
    nnb_dec_backward(&u->dec, &u->pb, dfeat, u->gskip, u->gbottom, skip, u->c2[4].a, u->training);
    /* gx: gradient of c2[l].a */
    memcpy(gx, u->gbottom, (size_t)N * u->cfg.widths[4] * (H >> 4) * (W >> 4) * sizeof(float));
    for (int l = 4; l >= 0; l--) {
        const float *in = l == 0 ? u->xin : u->pool[l - 1];
        nnb_cbr_backward(&u->c2[l], &u->pb, gx, gy, NULL, u->c1[l].a, NULL, u->training);
        nnb_cbr_backward(&u->c1[l], &u->pb, gy, l == 0 ? dx : gx, NULL, in, NULL, u->training);
        if (l == 0)
            break;
        /* gx holds the gradient of pool[l-1]; route it through the max pool */
        int h = H >> (l - 1), w = W >> (l - 1);
        size_t n = (size_t)N * u->cfg.widths[l - 1] * h * w;
        PROF_CALL(PROF_POOL_BWD, 0,
                  maxpool2x2_backward(gy, gx, u->c2[l - 1].a, u->pool[l - 1], N, u->cfg.widths[l - 1], h, w));
        add_inplace(gy, u->gskip[l - 1], n); /* plus the skip connection's gradient */
        t = gx, gx = gy, gy = t;
    }
    return 0;
}

double unet_flops(const unet_config *c, int H, int W)
{
    double f = 0;
    for (int l = 0; l < 5; l++) {
        double hw = (double)(H >> l) * (W >> l);
        int in = l == 0 ? c->in_ch : c->widths[l - 1];
        f += 2.0 * 9 * hw * (in * c->widths[l] + c->widths[l] * c->widths[l]);
        if (l < 4) /* decoder level l: up from below, conv over the concatenation, conv */
            f += 2.0 * hw * (c->widths[l + 1] * c->widths[l] +
                             9 * (2 * c->widths[l] * c->widths[l] + c->widths[l] * c->widths[l]));
    }
    return f + 2.0 * H * W * c->widths[0] * c->out_ch;
}

size_t unet_arena_bytes(const unet_config *c, int N, int H, int W)
{
    unet *u = unet_create(c, 0);
    size_t n;
    if (!u)
        return 0;
    nnb_arena_count(&u->ar);
    bind_all(u, N, H, W);
    n = u->ar.used;
    unet_free(u);
    return n;
}

/* the widths a checkpoint's configuration claims, against its tensors */
static int expect_shapes(const ckpt *c, const char *prefix, const unet_config *cfg)
{
    for (int l = 0; l < 5; l++) {
        char name[32];
        snprintf(name, sizeof name, l < 4 ? "enc%d.conv2.weight" : "mid.conv2.weight", l + 1);
        if (ckpt_expect_shape(c, prefix, name, cfg->widths[l], cfg->widths[l]))
            return -1;
    }
    return 0;
}

/* unet_ckpt_put, unet_ckpt_load */
NNB_MODEL_CKPT(unet, expect_shapes)
