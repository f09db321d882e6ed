#include "pretrain/siamese.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pretrain/moco.h"

int siam_buffers(eg_trainer *t, lrc_pair *const *pairs, int B, siam_bufs *b)
{
    const size_t ND = (size_t)2 * B * t->c.dim;
    b->x = eg_two_views(t, pairs, B);
    b->zt = eg_scratch(t, 0, ND);
    b->dp = eg_scratch(t, 1, ND);
    b->dz = eg_scratch(t, 2, ND);
    b->dpooled = eg_scratch(t, 3, (size_t)2 * B * t->C4);
    return b->x && b->zt && b->dp && b->dz && b->dpooled ? 0 : -1;
}

int siam_add_online(eg_trainer *t, const proj_config *proj, const proj_config *pred, int fix_pred_lr)
{
    if (eg_add_resnet(t, "", "optim.", &t->c.enc) != SIAM_ENC ||
        eg_add_proj(t, "proj.", "optim_proj.", proj, 0) != SIAM_PROJ ||
        eg_add_proj(t, "pred.", "optim_pred.", pred, fix_pred_lr) != SIAM_PRED)
        return -1;
    return 0;
}

int siam_forward(eg_trainer *t, siam_bufs *b, int N, int H, int W, const float **z, const float **p)
{
    const float *pooled;
    if (!(pooled = resnet_forward(t->part[SIAM_ENC].enc, b->x, N, H, W)) ||
        !(*z = proj_forward(t->part[SIAM_PROJ].proj, pooled, N)) || !(*p = proj_forward(t->part[SIAM_PRED].proj, *z, N)))
        return -1;
    return 0;
}

int siam_backward(eg_trainer *t, siam_bufs *b)
{
    if (proj_backward(t->part[SIAM_PRED].proj, b->dp, b->dz) || proj_backward(t->part[SIAM_PROJ].proj, b->dz, b->dpooled) ||
        resnet_backward(t->part[SIAM_ENC].enc, b->dpooled, NULL, NULL))
        return -1;
    return 0;
}

int siam_cross_cos(double *mean_c, float *dp, const float *p, const float *z, int B, int D, double scale)
{
    const int N = 2 * B;
    float *pn = malloc(sizeof(float) * N * D), *zn = malloc(sizeof(float) * N * D), *g = malloc(sizeof(float) * N * D);
    float *np_ = malloc(sizeof(float) * N), *nz = malloc(sizeof(float) * N);
    int rc = 0;
    if (!pn || !zn || !g || !np_ || !nz) {
        rc = err_set("out of memory");
        goto out;
    }
    moco_l2norm_forward(pn, np_, p, N, D);
    moco_l2norm_forward(zn, nz, z, N, D);
    double s = 0;
    for (int i = 0; i < N; i++) {
        const float *a = pn + (size_t)i * D, *b = zn + (size_t)((i + B) % N) * D;
        double c = 0;
        for (int d = 0; d < D; d++)
            c += (double)a[d] * b[d];
        s += c;
        for (int d = 0; d < D; d++)
            g[(size_t)i * D + d] = (float)(scale / N * b[d]);
    }
    *mean_c = s / N;
    if (dp)
        moco_l2norm_backward(dp, g, pn, np_, N, D);
out:
    free(pn);
    free(zn);
    free(g);
    free(np_);
    free(nz);
    return rc;
}

double siam_norm_std(const float *z, int N, int D)
{
    if (N < 2)
        return 0;
    double *norm = malloc(sizeof(double) * N), total = 0;
    if (!norm)
        return NAN;
    for (int i = 0; i < N; i++) {
        double s = 0;
        for (int d = 0; d < D; d++)
            s += (double)z[(size_t)i * D + d] * z[(size_t)i * D + d];
        norm[i] = fmax(sqrt(s), 1e-12);
    }
    for (int d = 0; d < D; d++) {
        double m = 0, v = 0;
        for (int i = 0; i < N; i++)
            m += z[(size_t)i * D + d] / norm[i];
        m /= N;
        for (int i = 0; i < N; i++) {
            double e = z[(size_t)i * D + d] / norm[i] - m;
            v += e * e;
        }
        total += sqrt(v / (N - 1));
    }
    free(norm);
    return total / D;
}
