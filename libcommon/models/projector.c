#include "models/projector.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "models/model.h"
#include "nn/block.h"
#include "nn/nn.h"

typedef struct {
    int iw, ib, ig, ibeta, irm, irv, inb; /* pblock indices, -1 when absent */
    float *x;                             /* this layer's input (N, in): the previous a, or p->x */
    float *z, *a;                         /* Linear output, layer output (N, out) */
    float *mean, *rstd;                   /* batch statistics (out) */
} layer;

struct projector {
    proj_config cfg;
    pblock pb;
    layer L[PROJ_MAX_LAYERS];
    float *ones, *zeros; /* gamma and beta of a plain (affine=False) batch norm */
    nnb_arena ar;
    float *x, *g0, *g1;  /* input copy, gradient ping-pong (N, max dim) */
    int N, have_fwd, training;
};

void proj_config_add(proj_config *c, int out, int bias, int bn, int relu)
{
    if (c->n >= PROJ_MAX_LAYERS) {
        c->n = PROJ_MAX_LAYERS + 1; /* proj_config_check says so */
        return;
    }
    c->dims[c->n + 1] = out;
    c->bias[c->n] = bias != 0;
    c->bn[c->n] = bn;
    c->relu[c->n] = relu != 0;
    c->n++;
    if (c->bn_momentum == 0)
        c->bn_momentum = 0.1f;
    if (c->eps == 0)
        c->eps = 1e-5f;
}

int proj_config_check(const proj_config *c)
{
    if (c->n < 1 || c->n > PROJ_MAX_LAYERS)
        return err_set("projector: %d layers (1..%d)", c->n, PROJ_MAX_LAYERS);
    for (int i = 0; i <= c->n; i++)
        if (c->dims[i] < 1 || c->dims[i] > 65536)
            return err_set("projector: width %d out of range 1..65536", c->dims[i]);
    for (int i = 0; i < c->n; i++)
        if (c->bn[i] < PROJ_NO_BN || c->bn[i] > PROJ_BN_PLAIN || (c->bias[i] != 0 && c->bias[i] != 1) ||
            (c->relu[i] != 0 && c->relu[i] != 1))
            return err_set("projector: bad settings of layer %d", i + 1);
    if (!(c->bn_momentum >= 0 && c->bn_momentum <= 1) || !(c->eps > 0))
        return err_set("projector: bn_momentum must be in [0, 1] and eps positive");
    return 0;
}

/* The configuration of n layers, field by field in JSON order (fields
 * holds 7). */
/* the configuration, field by field in JSON order; the arrays' sizes are
 * filled in for n layers by fields_for */
static const nnb_cfg_field proj_fields[] = {
    NNB_CFG_REQUIRED(proj_config, dims, NNB_CFG_INTS),
    NNB_CFG_REQUIRED(proj_config, bias, NNB_CFG_INTS),
    NNB_CFG_REQUIRED(proj_config, bn, NNB_CFG_INTS),
    NNB_CFG_REQUIRED(proj_config, relu, NNB_CFG_INTS),
    NNB_CFG_REQUIRED(proj_config, bn_momentum, NNB_CFG_FLOAT),
    NNB_CFG_REQUIRED(proj_config, eps, NNB_CFG_FLOAT),
    {0},
};

static void fields_for(nnb_cfg_field f[7], int n)
{
    memcpy(f, proj_fields, sizeof proj_fields);
    f[0].n = n + 1;
    f[1].n = f[2].n = f[3].n = n;
}

char *proj_config_json(const proj_config *c)
{
    nnb_cfg_field f[7];
    fields_for(f, c->n);
    return nnb_cfg_json(c, f);
}

int proj_config_parse(const char *json, proj_config *c)
{
    nnb_cfg_field f[7];
    mval m = {0};
    const mval *d;
    int rc;
    memset(c, 0, sizeof *c);
    if (nnb_cfg_open(json, &m, "projector", proj_fields))
        return -1;
    if (!(d = mval_map_get(&m, "dims")) || d->kind != MV_ARRAY || d->a.n < 2 || d->a.n > PROJ_MAX_LAYERS + 1) {
        mval_free(&m);
        return err_set("projector configuration: 'dims' must be an array of 2..%d integers", PROJ_MAX_LAYERS + 1);
    }
    c->n = (int)d->a.n - 1;
    fields_for(f, c->n);
    rc = nnb_cfg_get(&m, c, "projector", f);
    mval_free(&m);
    if (rc)
        return err_set("projector configuration: needs dims, bias, bn, relu, bn_momentum and eps");
    return proj_config_check(c);
}

static int add(pblock *pb, const char *pre, int i, const char *name, param_kind k, int rank, int64_t n0, int64_t n1,
               int one)
{
    char nm[PARAM_NAME_MAX];
    int64_t shape[2] = {n0, n1};
    if (one)
        snprintf(nm, sizeof nm, "%s.%s", pre, name);
    else
        snprintf(nm, sizeof nm, "%s%d.%s", pre, i + 1, name);
    return pblock_add(pb, nm, k, rank, shape);
}

static int declare(projector *p)
{
    const proj_config *c = &p->cfg;
    p->training = 1;
    const int one = c->n == 1;
    int maxd = 1;
    for (int i = 0; i < c->n; i++) {
        layer *l = &p->L[i];
        int in = c->dims[i], out = c->dims[i + 1];
        maxd = out > maxd ? out : maxd;
        l->ib = l->ig = l->ibeta = l->irm = l->irv = l->inb = -1;
        if ((l->iw = add(&p->pb, "fc", i, "weight", PARAM_TRAIN, 2, out, in, one)) < 0 ||
            (c->bias[i] && (l->ib = add(&p->pb, "fc", i, "bias", PARAM_TRAIN, 1, out, 0, one)) < 0))
            return -1;
        if (c->bn[i] == PROJ_BN && ((l->ig = add(&p->pb, "bn", i, "weight", PARAM_TRAIN, 1, out, 0, one)) < 0 ||
                                    (l->ibeta = add(&p->pb, "bn", i, "bias", PARAM_TRAIN, 1, out, 0, one)) < 0))
            return -1;
    }
    for (int i = 0; i < c->n; i++) { /* buffers after every trainable tensor (param.h) */
        layer *l = &p->L[i];
        int out = c->dims[i + 1];
        if (c->bn[i] && ((l->irm = add(&p->pb, "bn", i, "running_mean", PARAM_BUFFER, 1, out, 0, one)) < 0 ||
                         (l->irv = add(&p->pb, "bn", i, "running_var", PARAM_BUFFER, 1, out, 0, one)) < 0 ||
                         (l->inb = add(&p->pb, "bn", i, "num_batches_tracked", PARAM_COUNT, 0, 0, 0, one)) < 0))
            return -1;
    }
    if (pblock_alloc(&p->pb) || !(p->ones = malloc((size_t)maxd * sizeof *p->ones)) ||
        !(p->zeros = calloc((size_t)maxd, sizeof *p->zeros))) {
        err_set("out of memory");
        return -1;
    }
    for (int k = 0; k < maxd; k++)
        p->ones[k] = 1;
    return 0;
}

static void init(projector *p, rng *r)
{
    const proj_config *c = &p->cfg;
    for (int i = 0; i < c->n; i++) {
        layer *l = &p->L[i];
        int in = c->dims[i], out = c->dims[i + 1];
        nn_init_default(pblock_ptr(&p->pb, l->iw), (size_t)out * in, in, r);
        if (l->ib >= 0)
            nn_init_default(pblock_ptr(&p->pb, l->ib), (size_t)out, in, r);
        if (l->ig >= 0)
            memcpy(pblock_ptr(&p->pb, l->ig), p->ones, (size_t)out * sizeof(float));
        if (l->irv >= 0)
            memcpy(pblock_ptr(&p->pb, l->irv), p->ones, (size_t)out * sizeof(float));
    }
}

/* proj_create */
NNB_MODEL_CREATE(proj, projector, declare, init, 0x70726f6a /* "proj" */)

void proj_free(projector *p)
{
    if (!p)
        return;
    pblock_free(&p->pb);
    nnb_arena_free(&p->ar);
    free(p->ones);
    free(p->zeros);
    free(p);
}

const proj_config *proj_get_config(const projector *p)
{
    return &p->cfg;
}

pblock *proj_params(projector *p)
{
    return &p->pb;
}

MODEL_SET_TRAINING(proj, projector)

static void bind(projector *p, int N)
{
    int maxd = p->cfg.dims[0];
    p->x = nnb_arena_take(&p->ar, (size_t)N * p->cfg.dims[0]);
    for (int i = 0; i < p->cfg.n; i++) {
        layer *l = &p->L[i];
        int out = p->cfg.dims[i + 1];
        maxd = out > maxd ? out : maxd;
        l->z = nnb_arena_take(&p->ar, (size_t)N * out);
        l->a = p->cfg.bn[i] || p->cfg.relu[i] ? nnb_arena_take(&p->ar, (size_t)N * out) : l->z;
        l->mean = nnb_arena_take(&p->ar, (size_t)out);
        l->rstd = nnb_arena_take(&p->ar, (size_t)out);
    }
    p->g0 = nnb_arena_take(&p->ar, (size_t)N * maxd);
    p->g1 = nnb_arena_take(&p->ar, (size_t)N * maxd);
}

const float *proj_forward(projector *p, const float *x, int N)
{
    const proj_config *c = &p->cfg;
    pblock *pb = &p->pb;
    int anybn = 0;
    for (int i = 0; i < c->n; i++)
        anybn |= c->bn[i] != PROJ_NO_BN;
    p->have_fwd = 0;
    if (N < 1 || (p->training && anybn && N < 2)) {
        err_set("projector: batch of %d (batch normalisation in training needs at least 2)", N);
        return NULL;
    }
    if (N != p->N) {
        nnb_arena_count(&p->ar);
        bind(p, N);
        if (nnb_arena_commit(&p->ar))
            return NULL;
        bind(p, N);
        p->N = N;
    }
    memcpy(p->x, x, (size_t)N * c->dims[0] * sizeof(float));
    const float *in = p->x;
    for (int i = 0; i < c->n; i++) {
        layer *l = &p->L[i];
        int din = c->dims[i], out = c->dims[i + 1];
        l->x = (float *)in;
        linear_forward(l->z, in, pblock_ptr(pb, l->iw), l->ib >= 0 ? pblock_ptr(pb, l->ib) : NULL, N, din, out);
        if (c->bn[i]) {
            const float *g = l->ig >= 0 ? pblock_ptr(pb, l->ig) : p->ones;
            const float *b = l->ibeta >= 0 ? pblock_ptr(pb, l->ibeta) : p->zeros;
            batchnorm_forward(l->a, l->mean, l->rstd, pblock_ptr(pb, l->irm), pblock_ptr(pb, l->irv), l->z, g, b, N,
                              out, 1, c->bn_momentum, c->eps, p->training, c->relu[i]);
            if (p->training)
                pblock_ptr(pb, l->inb)[0] += 1;
        } else if (c->relu[i]) {
            relu_forward(l->a, l->z, (size_t)N * out);
        }
        in = l->a;
    }
    p->have_fwd = 1;
    return in;
}

int proj_backward(projector *p, const float *dout, float *dx)
{
    const proj_config *c = &p->cfg;
    pblock *pb = &p->pb;
    const int N = p->N;
    if (!p->have_fwd)
        return err_set("projector: backward without a forward");
    float *g = p->g0, *h = p->g1, *t;
    memcpy(g, dout, (size_t)N * c->dims[c->n] * sizeof(float));
    for (int i = c->n - 1; i >= 0; i--) {
        layer *l = &p->L[i];
        int din = c->dims[i], out = c->dims[i + 1];
        if (c->bn[i]) {
            const float *gam = l->ig >= 0 ? pblock_ptr(pb, l->ig) : p->ones;
            batchnorm_backward(g, l->ig >= 0 ? pblock_grad(pb, l->ig) : NULL,
                               l->ibeta >= 0 ? pblock_grad(pb, l->ibeta) : NULL, g, l->z, l->a,
                               p->training ? l->mean : pblock_ptr(pb, l->irm), p->training ? l->rstd : NULL,
                               pblock_ptr(pb, l->irv), gam, N, out, 1, c->eps, p->training, c->relu[i]);
        } else if (c->relu[i]) {
            relu_backward(g, g, l->a, (size_t)N * out);
        }
        float *dst = i == 0 ? dx : h;
        linear_backward(dst, pblock_grad(pb, l->iw), l->ib >= 0 ? pblock_grad(pb, l->ib) : NULL, g, l->x,
                        pblock_ptr(pb, l->iw), N, din, out);
        t = g, g = h, h = t;
    }
    return 0;
}

int proj_ckpt_put(ckpt_writer *w, const char *prefix, const projector *p)
{
    return ckpt_put_model_owned(w, prefix, "projector", proj_config_json(&p->cfg), &p->pb);
}
