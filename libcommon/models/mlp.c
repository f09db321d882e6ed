#include "models/mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "nn/block.h"
#include "nn/nn.h"

struct mlp {
    mlp_config cfg;
    pblock pb;
    int iw1, ib1, iw2, ib2;
    nnb_arena ar;
    float *x;      /* copy of the last input (N, in) */
    float *h, *dh; /* hidden layer after ReLU and its gradient (N, hidden) */
    float *o;      /* output (N, out) */
    int N, have_fwd;
};

int mlp_config_check(const mlp_config *c)
{
    if (c->in < 1 || c->hidden < 1 || c->out < 1 || c->in > 65536 || c->hidden > 65536 ||
        c->out > 65536)
        return err_set("mlp: sizes %d -> %d -> %d out of range 1..65536", c->in, c->hidden,
                       c->out);
    return 0;
}

/* the configuration, field by field in JSON order */
static const nnb_cfg_field fields[] = {
    NNB_CFG_REQUIRED(mlp_config, in, NNB_CFG_INT),
    NNB_CFG_REQUIRED(mlp_config, hidden, NNB_CFG_INT),
    NNB_CFG_REQUIRED(mlp_config, out, NNB_CFG_INT),
    {0},
};

void mlp_config_default(mlp_config *c)
{
    memset(c, 0, sizeof *c);
}

/* mlp_config_json, mlp_config_parse */
NNB_MODEL_CONFIG(mlp, fields, "needs integers in, hidden, out")

static int declare(mlp *m)
{
    const mlp_config *c = &m->cfg;
    int64_t w1[2] = {c->hidden, c->in}, b1[1] = {c->hidden}, w2[2] = {c->out, c->hidden},
            b2[1] = {c->out};
    if ((m->iw1 = pblock_add(&m->pb, "fc1.weight", PARAM_TRAIN, 2, w1)) < 0 ||
        (m->ib1 = pblock_add(&m->pb, "fc1.bias", PARAM_TRAIN, 1, b1)) < 0 ||
        (m->iw2 = pblock_add(&m->pb, "fc2.weight", PARAM_TRAIN, 2, w2)) < 0 ||
        (m->ib2 = pblock_add(&m->pb, "fc2.bias", PARAM_TRAIN, 1, b2)) < 0)
        return -1;
    return pblock_alloc(&m->pb);
}

static void init(mlp *m, rng *r)
{
    const mlp_config *c = &m->cfg;
    nn_init_default(pblock_ptr(&m->pb, m->iw1), (size_t)c->hidden * c->in, c->in, r);
    nn_init_default(pblock_ptr(&m->pb, m->ib1), (size_t)c->hidden, c->in, r);
    nn_init_default(pblock_ptr(&m->pb, m->iw2), (size_t)c->out * c->hidden, c->hidden, r);
    nn_init_default(pblock_ptr(&m->pb, m->ib2), (size_t)c->out, c->hidden, r);
}

/* mlp_create */
NNB_MODEL_CREATE(mlp, mlp, declare, init, 0x6d6c70 /* "mlp" */)

/* mlp_free, mlp_get_config, mlp_params */
NNB_MODEL_ACCESSORS(mlp)

static void bind(mlp *m, int N)
{
    m->x = nnb_arena_take(&m->ar, (size_t)N * m->cfg.in);
    m->h = nnb_arena_take(&m->ar, (size_t)N * m->cfg.hidden);
    m->dh = nnb_arena_take(&m->ar, (size_t)N * m->cfg.hidden);
    m->o = nnb_arena_take(&m->ar, (size_t)N * m->cfg.out);
}

static void bind_cb(void *m, int N, int H, int W)
{
    bind(m, N);
}

const float *mlp_forward(mlp *m, const float *x, int N)
{
    m->have_fwd = 0;
    if (N < 1) {
        err_set("mlp: batch %d", N);
        return NULL;
    }
    if (N != m->N) {
        if (nnb_arena_bind(&m->ar, bind_cb, m, N, 1, 1))
            return NULL;
        m->N = N;
    }
    memcpy(m->x, x, (size_t)N * m->cfg.in * sizeof(float));
    linear_forward(m->h, m->x, pblock_ptr(&m->pb, m->iw1), pblock_ptr(&m->pb, m->ib1), N,
                   m->cfg.in, m->cfg.hidden);
    relu_forward(m->h, m->h, (size_t)N * m->cfg.hidden);
    linear_forward(m->o, m->h, pblock_ptr(&m->pb, m->iw2), pblock_ptr(&m->pb, m->ib2), N,
                   m->cfg.hidden, m->cfg.out);
    m->have_fwd = 1;
    return m->o;
}

int mlp_backward(mlp *m, const float *dout, float *dx)
{
    pblock *pb = &m->pb;
    if (!m->have_fwd)
        return err_set("mlp: backward without a forward");
    linear_backward(m->dh, pblock_grad(pb, m->iw2), pblock_grad(pb, m->ib2), dout, m->h,
                    pblock_ptr(pb, m->iw2), m->N, m->cfg.hidden, m->cfg.out);
    relu_backward(m->dh, m->dh, m->h, (size_t)m->N * m->cfg.hidden);
    linear_backward(dx, pblock_grad(pb, m->iw1), pblock_grad(pb, m->ib1), m->dh, m->x,
                    pblock_ptr(pb, m->iw1), m->N, m->cfg.in, m->cfg.hidden);
    return 0;
}

/* nothing checked before the model is made: ckpt_get_params checks every
 * tensor after */
static int expect_shapes(const ckpt *c, const char *prefix, const mlp_config *cfg)
{
    return 0;
}

/* mlp_ckpt_put, mlp_ckpt_load */
NNB_MODEL_CKPT(mlp, expect_shapes)
