#include "pretrain/relloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pretrain/egtrainer.h"

enum { ENC, HEAD };
enum { S_CAT, S_DLOGITS, S_DCAT, S_DPOOLED, S_LABELS };

int relloc_geom_for(relloc_geom *g, int patch, int gap, int jitter, int H, int W)
{
    const int S = H < W ? H : W;
    g->patch = patch >= 0 ? patch : 16 * (S / 64);
    g->gap = gap >= 0 ? gap : g->patch / 2;
    if (jitter >= 0)
        g->jitter = jitter;
    else {
        int room = (S - 3 * g->patch - 2 * g->gap) / 2, j = (int)lround(7.0 * g->patch / 96);
        g->jitter = room < 0 ? 0 : j < room ? j : room;
    }
    if (g->patch < 16 || g->patch % 16)
        return err_set("relloc: patches of %d pixels; Eg needs a multiple of 16 (slices of %dx%d: at least 64 "
                       "pixels a side for the default)",
                       g->patch, H, W);
    const int need = 3 * g->patch + 2 * g->gap + 2 * g->jitter;
    if (need > S)
        return err_set("relloc: the grid (3 x %d + 2 x %d gap + 2 x %d jitter = %d pixels) does not fit in %dx%d "
                       "slices",
                       g->patch, g->gap, g->jitter, need, H, W);
    return 0;
}

static int uniform_int(rng *r, int lo, int hi) /* [lo, hi] */
{
    return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1));
}

void relloc_draw(const relloc_geom *g, int H, int W, rng *r, int d[5])
{
    const int P = g->patch, step = g->patch + g->gap, E = 3 * P + 2 * g->gap, J = g->jitter;
    const int oy = uniform_int(r, J, H - E - J), ox = uniform_int(r, J, W - E - J);
    const int label = (int)rng_below(r, 8), cell = label < 4 ? label : label + 1;
    d[0] = label;
    d[1] = oy + step + uniform_int(r, -J, J);
    d[2] = ox + step + uniform_int(r, -J, J);
    d[3] = oy + (cell / 3) * step + uniform_int(r, -J, J);
    d[4] = ox + (cell % 3) * step + uniform_int(r, -J, J);
}

static int rel_init(eg_trainer *t)
{
    if (!t->c.hidden)
        t->c.hidden = t->C4;
    proj_config pc = {.dims = {2 * t->C4}};
    proj_config_add(&pc, t->c.hidden, 1, PROJ_NO_BN, 1);
    proj_config_add(&pc, 8, 1, PROJ_NO_BN, 0);
    if (eg_add_resnet(t, "", "optim.", &t->c.enc) != ENC || eg_add_proj(t, "head.", "optim_head.", &pc, 0) != HEAD)
        return -1;
    return 0;
}

static void copy_patch(float *dst, const float *img, int W, int y, int x, int P)
{
    for (int i = 0; i < P; i++)
        memcpy(dst + (size_t)i * P, img + (size_t)(y + i) * W + x, (size_t)P * sizeof(float));
}

static int rel_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    const int H = pairs[0]->H, W = pairs[0]->W, C4 = t->C4;
    relloc_geom g;
    if (relloc_geom_for(&g, t->c.patch, t->c.gap, t->c.jitter, H, W))
        return -1;
    const int P = g.patch;
    const size_t PP = (size_t)P * P;
    float *x = eg_input(t, 2 * (size_t)B * PP), *cat = eg_scratch(t, S_CAT, (size_t)B * 2 * C4),
          *dlogits = eg_scratch(t, S_DLOGITS, (size_t)B * 8), *dcat = eg_scratch(t, S_DCAT, (size_t)B * 2 * C4),
          *dpooled = eg_scratch(t, S_DPOOLED, (size_t)B * 2 * C4);
    int *labels = (int *)eg_scratch(t, S_LABELS, (size_t)B);
    if (!x || !cat || !dlogits || !dcat || !dpooled || !labels)
        return -1;
    for (int b = 0; b < B; b++) {
        int d[5];
        relloc_draw(&g, H, W, r, d);
        labels[b] = d[0];
        copy_patch(x + b * PP, pairs[b]->xq, W, d[1], d[2], P);
        copy_patch(x + (B + b) * PP, pairs[b]->xq, W, d[3], d[4], P);
    }
    const float *pooled = resnet_forward(t->part[ENC].enc, x, 2 * B, P, P), *logits;
    if (!pooled)
        return -1;
    for (int b = 0; b < B; b++) {
        memcpy(cat + (size_t)b * 2 * C4, pooled + (size_t)b * C4, C4 * sizeof(float));
        memcpy(cat + (size_t)b * 2 * C4 + C4, pooled + (size_t)(B + b) * C4, C4 * sizeof(float));
    }
    if (!(logits = proj_forward(t->part[HEAD].proj, cat, B)))
        return -1;
    eg_softmax_xent(&st->loss, &st->metric, dlogits, logits, labels, B, 8);
    if (proj_backward(t->part[HEAD].proj, dlogits, dcat))
        return -1;
    for (int b = 0; b < B; b++) {
        memcpy(dpooled + (size_t)b * C4, dcat + (size_t)b * 2 * C4, C4 * sizeof(float));
        memcpy(dpooled + (size_t)(B + b) * C4, dcat + (size_t)b * 2 * C4 + C4, C4 * sizeof(float));
    }
    return resnet_backward(t->part[ENC].enc, dpooled, NULL, NULL);
}

static char *rel_json(const eg_trainer *t)
{
    char *s = NULL;
    if (asprintf(&s, "{\"patch\":%d,\"gap\":%d,\"jitter\":%d,\"hidden\":%d}", t->c.patch, t->c.gap, t->c.jitter,
                 t->c.hidden) < 0) {
        err_set("out of memory");
        return NULL;
    }
    return s;
}

/* a given patch goes through Eg, whose input sides are multiples of 16
 * (the default, -1, is chosen from the slice size by relloc_geom_for) */
static int rel_check(const eg_config *c)
{
    if (c->patch > 0 && c->patch % 16)
        return err_set("option --patch: %d is not a multiple of 16 (relloc's patches go through Eg)", c->patch);
    return 0;
}

const eg_ops eg_relloc_ops = {
    .name = "relloc", .metric = "acc", .lr = 0.01, .init = rel_init, .grad = rel_grad, .json = rel_json,
    .check = rel_check,
};
