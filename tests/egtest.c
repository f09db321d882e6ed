#include "egtest.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "testutil.h"

lrc_pair *egt_pair(int H, int W, uint64_t seed, int shifted)
{
    lrc_pair *p = calloc(1, sizeof *p);
    rng r;
    rng_seed(&r, seed, 0);
    p->H = H, p->W = W;
    p->xq = malloc(sizeof(float) * H * W);
    p->xp = malloc(sizeof(float) * H * W);
    double cy[4], cx[4], a[4];
    for (int k = 0; k < 4; k++)
        cy[k] = rng_uniform(&r) * H, cx[k] = rng_uniform(&r) * W, a[k] = rng_uniform(&r);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double v = 0.1 * rng_normal(&r);
            for (int k = 0; k < 4; k++)
                v += a[k] * exp(-((y - cy[k]) * (y - cy[k]) + (x - cx[k]) * (x - cx[k])) / (0.05 * H * W));
            p->xq[y * W + x] = (float)v;
        }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            p->xp[y * W + x] = shifted ? 1.1f * p->xq[y * W + (x ? x - 1 : 0)] : p->xq[y * W + x];
    return p;
}

double egt_loss(eg_trainer *t, lrc_pair **pairs, int B, eg_stats *st)
{
    eg_stats s;
    rng r;
    rng_seed(&r, 77, 0);
    if (eg_trainer_grad(t, pairs, B, &r, st ? st : &s))
        fail_msg("%s", err_get());
    return st ? st->loss : s.loss;
}

double egt_dirfd(eg_trainer *t, lrc_pair **pairs, int B, pblock *pb, const float *g, const param_entry *e,
                 double hfloor, double *gnorm, double *fd)
{
    float *wt = pb->data + e->offset, *keep = malloc(sizeof(float) * e->numel);
    const float *gt = g + e->offset;
    double gn = 0, wn = 0;
    for (size_t j = 0; j < e->numel; j++)
        gn += (double)gt[j] * gt[j], wn += (double)wt[j] * wt[j];
    gn = sqrt(gn);
    memcpy(keep, wt, sizeof(float) * e->numel);
    double best = 0, e_rel = INFINITY;
    for (int hs = 0; hs < 3; hs++) {
        double h = (double[]){1e-3, 3e-3, 1e-2}[hs] * fmax(sqrt(wn / e->numel), hfloor), l[4];
        for (int q = 0; q < 4; q++) {
            double step = (q & 1 ? -h : h) / (q < 2 ? 1 : 2);
            for (size_t j = 0; j < e->numel; j++)
                wt[j] = keep[j] + (float)(step * gt[j] / gn);
            l[q] = egt_loss(t, pairs, B, NULL);
        }
        double f1 = (l[0] - l[1]) / (2 * h), f2 = (l[2] - l[3]) / h, f = (4 * f2 - f1) / 3;
        if (fabs(f - gn) / gn < e_rel)
            e_rel = fabs(f - gn) / gn, best = f;
    }
    memcpy(wt, keep, sizeof(float) * e->numel);
    free(keep);
    *gnorm = gn;
    *fd = best;
    return e_rel;
}
