#include "pretrain/simsiam.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pretrain/siamese.h"

static int sim_init(eg_trainer *t)
{
    eg_config *c = &t->c;
    if (!c->hidden)
        c->hidden = t->C4;
    if (!c->dim)
        c->dim = t->C4;
    if (!c->pred_dim)
        c->pred_dim = c->dim / 4 > 0 ? c->dim / 4 : 1;
    proj_config f = {.dims = {t->C4}}, h = {.dims = {c->dim}};
    proj_config_add(&f, c->hidden, 0, PROJ_BN, 1);
    proj_config_add(&f, c->hidden, 0, PROJ_BN, 1);
    proj_config_add(&f, c->dim, 0, PROJ_BN_PLAIN, 0);
    proj_config_add(&h, c->pred_dim, 0, PROJ_BN, 1);
    proj_config_add(&h, c->dim, 1, PROJ_NO_BN, 0);
    return siam_add_online(t, &f, &h, c->fix_pred_lr);
}

static int sim_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    (void)r;
    const int N = 2 * B, D = t->c.dim, H = pairs[0]->H, W = pairs[0]->W;
    const float *z, *p;
    siam_bufs b;
    double c;
    if (siam_buffers(t, pairs, B, &b))
        return -1;
    if (siam_forward(t, &b, N, H, W, &z, &p))
        return -1;
    memcpy(b.zt, z, sizeof(float) * N * D); /* the stop-gradient targets */
    if (siam_cross_cos(&c, b.dp, p, b.zt, B, D, -1.0))
        return -1;
    st->loss = -c;
    st->metric = siam_norm_std(b.zt, N, D);
    /* the targets' gradient is not computed: z's arrives through h only */
    return siam_backward(t, &b);
}

static char *sim_json(const eg_trainer *t)
{
    char *s = NULL;
    if (asprintf(&s, "{\"hidden\":%d,\"dim\":%d,\"pred_dim\":%d,\"fix_pred_lr\":%d}", t->c.hidden, t->c.dim,
                 t->c.pred_dim, t->c.fix_pred_lr) < 0) {
        err_set("out of memory");
        return NULL;
    }
    return s;
}

const eg_ops eg_simsiam_ops = {
    .name = "simsiam", .metric = "std", .lr = 0.05, .init = sim_init, .grad = sim_grad, .json = sim_json,
};
