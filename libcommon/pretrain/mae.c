/* mae — Masked Autoencoders as an egtrainer method; see mae.h. */
#include "pretrain/mae.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "nn/nn.h"

enum { ENC, DEC };                  /* parts */
enum { S_KEEP, S_DPRED, S_TARGET }; /* eg_scratch slots */

typedef struct {
    double u;
    int i;
} draw;

static int by_draw(const void *a, const void *b)
{
    const draw *x = a, *y = b;
    return x->u < y->u ? -1 : x->u > y->u ? 1 : x->i - y->i;
}

int mae_keep_count(int L, double mask_ratio)
{
    return (int)(L * (1 - mask_ratio));
}

int mae_draw_keep(int *keep, int N, int L, int K, rng *r)
{
    draw *d = malloc(sizeof *d * (size_t)L);
    if (!d)
        return err_set("out of memory");
    for (int n = 0; n < N; n++) {
        for (int l = 0; l < L; l++)
            d[l] = (draw){rng_uniform(r), l};
        qsort(d, (size_t)L, sizeof *d, by_draw);
        for (int k = 0; k < K; k++)
            keep[n * K + k] = d[k].i;
    }
    free(d);
    return 0;
}

double mae_loss(float *dpred, double *visible, const float *pred, const float *x, const int *keep, int N, int C,
                int H, int W, int P, int K)
{
    const int L = (H / P) * (W / P), KP = C * P * P;
    float *target = dpred; /* the targets first, overwritten by the gradient row by row */
    double loss = 0, vis = 0;
    char *kept = calloc((size_t)L, 1);
    patchify(target, x, N, C, H, W, P);
    for (int n = 0; n < N; n++) {
        memset(kept, 0, (size_t)L);
        for (int k = 0; k < K; k++)
            kept[keep[n * K + k]] = 1;
        for (int l = 0; l < L; l++) {
            const size_t o = ((size_t)n * L + l) * KP;
            double s = 0, ss = 0, e = 0;
            for (int j = 0; j < KP; j++)
                s += target[o + j];
            const double mean = s / KP;
            for (int j = 0; j < KP; j++)
                ss += (target[o + j] - mean) * (target[o + j] - mean);
            const float m = (float)mean, rs = (float)(1 / sqrt(ss / (KP - 1) + 1e-6));
            for (int j = 0; j < KP; j++) {
                const float d = pred[o + j] - (target[o + j] - m) * rs;
                e += (double)d * d;
                dpred[o + j] = kept[l] ? 0.0f : 2 * d / (float)((double)KP * N * (L - K));
            }
            if (kept[l])
                vis += e / KP;
            else
                loss += e / KP;
        }
    }
    free(kept);
    *visible = vis / ((double)N * K);
    return loss / ((double)N * (L - K));
}

/* the method's state: how many patches the last step kept per image */
typedef struct {
    int K;
} mae_state;

const int *mae_keep(const eg_trainer *t, int *K)
{
    *K = ((const mae_state *)t->priv)->K;
    return (const int *)t->scr[S_KEEP];
}

static void mae_free(eg_trainer *t)
{
    free(t->priv);
}

static int mae_init(eg_trainer *t)
{
    const eg_config *c = &t->c;
    const vit_config *v = &c->vit;
    if (!(c->mask_ratio > 0 && c->mask_ratio < 1))
        return err_set("mae: mask ratio %g must be in (0, 1)", c->mask_ratio);
    if (v->in_ch * v->patch * v->patch < 2)
        return err_set("mae: patches of %d pixels; the normalised target needs at least 2", v->patch * v->patch);
    maedec_config dc;
    if (!(t->priv = calloc(1, sizeof(mae_state))))
        return err_set("out of memory");
    maedec_config_default(&dc);
    dc.embed = v->width, dc.in_ch = v->in_ch, dc.patch = v->patch;
    dc.depth = c->dec_depth, dc.width = c->dec_width, dc.heads = c->dec_heads;
    if (eg_add_vit(t, "", "optim.", v) != ENC || eg_add_maedec(t, "decoder.", "optim_decoder.", &dc) != DEC)
        return -1;
    return 0;
}

static int mae_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    const vit_config *v = vit_get_config(t->part[ENC].vit);
    const int H = pairs[0]->H, W = pairs[0]->W, P = v->patch, KP = v->in_ch * P * P;
    if (v->in_ch != 1)
        return err_set("mae: the ViT takes %d channels; slices have 1", v->in_ch);
    if (H % P || W % P)
        return err_set("images of %dx%d pixels; the ViT's patches of %d must divide them", H, W, P);
    const int L = (H / P) * (W / P), K = mae_keep_count(L, t->c.mask_ratio);
    if (K < 1 || K == L)
        return err_set("mae: a mask ratio of %g keeps %d of %d patches; at least one of each is needed",
                       t->c.mask_ratio, K, L);
    const size_t HW = (size_t)H * W;
    float *x = eg_input(t, B * HW), *dpred = eg_scratch(t, S_DPRED, (size_t)B * L * KP);
    int *keep = (int *)eg_scratch(t, S_KEEP, (size_t)B * K);
    if (!x || !dpred || !keep)
        return -1;
    for (int b = 0; b < B; b++)
        memcpy(x + b * HW, pairs[b]->xq, HW * sizeof(float));
    if (mae_draw_keep(keep, B, L, K, r))
        return -1;
    ((mae_state *)t->priv)->K = K;
    const float *lat, *pred, *dlat;
    if (!(lat = vit_forward(t->part[ENC].vit, x, B, H, W, keep, K)) ||
        !(pred = maedec_forward(t->part[DEC].mdec, lat, keep, B, K, H / P, W / P)))
        return -1;
    st->loss = mae_loss(dpred, &st->metric, pred, x, keep, B, 1, H, W, P, K);
    if (!(dlat = maedec_backward(t->part[DEC].mdec, dpred)))
        return -1;
    return vit_backward(t->part[ENC].vit, dlat);
}

static char *mae_json(const eg_trainer *t)
{
    char *s = NULL;
    if (asprintf(&s, "{\"mask_ratio\":%.15g,\"norm_pix_loss\":1}", t->c.mask_ratio) < 0) {
        err_set("out of memory");
        return NULL;
    }
    return s;
}

const eg_ops eg_mae_ops = {
    .name = "mae", .metric = "visible_loss", .lr = 1.5e-4, .lr_per256 = 1, .adamw = 1, .wd = 0.05,
    .init = mae_init, .grad = mae_grad, .json = mae_json, .free = mae_free,
};
