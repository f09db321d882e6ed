#include "pretrain/byol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pretrain/egtrainer.h"
#include "pretrain/siamese.h"

enum { ENC = SIAM_ENC, PROJ = SIAM_PROJ, PRED = SIAM_PRED, TENC, TPROJ };

double byol_tau(double base, int64_t k, int64_t K)
{
    if (K <= 0)
        return base;
    if (k > K)
        k = K;
    return 1 - (1 - base) * (cos(M_PI * (double)k / (double)K) + 1) / 2;
}

static int byol_init(eg_trainer *t)
{
    eg_config *c = &t->c;
    if (!c->hidden)
        c->hidden = 2 * t->C4;
    if (!c->dim)
        c->dim = 256;
    if (!(c->ema >= 0 && c->ema <= 1))
        return err_set("byol: the moving-average rate %g is not in [0, 1]", c->ema);
    proj_config g = {.dims = {t->C4}}, q = {.dims = {c->dim}};
    proj_config_add(&g, c->hidden, 1, PROJ_BN, 1);
    proj_config_add(&g, c->dim, 1, PROJ_NO_BN, 0);
    proj_config_add(&q, c->hidden, 1, PROJ_BN, 1);
    proj_config_add(&q, c->dim, 1, PROJ_NO_BN, 0);
    if (siam_add_online(t, &g, &q, 0) || eg_add_resnet(t, "target.", NULL, &c->enc) != TENC ||
        eg_add_proj(t, "target_proj.", NULL, &g, 0) != TPROJ || eg_copy_part(t, TENC, ENC) ||
        eg_copy_part(t, TPROJ, PROJ))
        return -1;
    return 0;
}

static int byol_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    (void)r;
    const int N = 2 * B, D = t->c.dim, H = pairs[0]->H, W = pairs[0]->W;
    const float *pooled, *z, *p;
    siam_bufs b;
    double c;
    if (siam_buffers(t, pairs, B, &b))
        return -1;
    /* the targets, no gradient */
    if (!(pooled = resnet_forward(t->part[TENC].enc, b.x, N, H, W)) || !(z = proj_forward(t->part[TPROJ].proj, pooled, N)))
        return -1;
    memcpy(b.zt, z, sizeof(float) * N * D);
    if (siam_forward(t, &b, N, H, W, &z, &p) || siam_cross_cos(&c, b.dp, p, b.zt, B, D, -4.0))
        return -1;
    st->loss = 4 - 4 * c;
    st->metric = siam_norm_std(z, N, D);
    return siam_backward(t, &b);
}

static void byol_after_update(eg_trainer *t)
{
    /* the optimiser has counted this step: k = steps - 1 */
    double tau = byol_tau(t->c.ema, optim_steps(t->part[ENC].opt) - 1, t->c.total_steps);
    eg_ema_part(t, TENC, ENC, tau);
    eg_ema_part(t, TPROJ, PROJ, tau);
}

static char *byol_json(const eg_trainer *t)
{
    char *s = NULL;
    if (asprintf(&s, "{\"hidden\":%d,\"dim\":%d,\"ema\":%.15g}", t->c.hidden, t->c.dim, t->c.ema) < 0) {
        err_set("out of memory");
        return NULL;
    }
    return s;
}

const eg_ops eg_byol_ops = {
    .name = "byol",
    .metric = "std",
    .lr = 0.05,
    .init = byol_init,
    .grad = byol_grad,
    .after_update = byol_after_update,
    .json = byol_json,
};
