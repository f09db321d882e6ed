#include "nn/block.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/tensor.h"
#include "nn/internal.h"

/* ---- a model's struct ---- */

void *nnb_model_alloc(size_t size)
{
    void *m = calloc(1, size);
    if (!m)
        err_set("out of memory");
    return m;
}

/* ---- arena ---- */

float *nnb_arena_take(nnb_arena *a, size_t n)
{
    size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
    float *p = a->counting ? NULL : (float *)(a->base + a->used);
    a->used += bytes;
    return p;
}

void nnb_arena_count(nnb_arena *a)
{
    a->counting = 1;
    a->used = 0;
}

int nnb_arena_commit(nnb_arena *a)
{
    size_t need = a->used;
    if (need > a->cap) {
        lrc_free(a->base);
        a->cap = 0;
        a->base = nn_alloc_big(need ? need : 64);
        if (!a->base)
            return err_set("out of memory allocating %zu MB of activations", need >> 20);
        a->cap = need;
    }
    a->counting = 0;
    a->used = 0;
    return 0;
}

void nnb_arena_free(nnb_arena *a)
{
    lrc_free(a->base);
    memset(a, 0, sizeof *a);
}

int nnb_check_input(const char *who, int N, int H, int W, size_t maxch)
{
    return nnb_check_input_unit(who, N, H, W, maxch, 16);
}

int nnb_check_input_unit(const char *who, int N, int H, int W, size_t maxch, int unit)
{
    if (N < 1 || H < unit || W < unit || H % unit || W % unit)
        return err_set("%s: input %dx%d (batch %d): height and width must be multiples of %d "
                       "(at least %d), batch at least 1",
                       who, H, W, N, unit, unit);
    if ((double)N * maxch * H * W > 2147483647.0)
        return err_set("%s: batch %d of %dx%d is too large for one step", who, N, H, W);
    return 0;
}

int nnb_arena_bind(nnb_arena *a, void (*bind)(void *m, int N, int H, int W), void *m, int N, int H, int W)
{
    nnb_arena_count(a);
    bind(m, N, H, W);
    if (nnb_arena_commit(a))
        return -1;
    bind(m, N, H, W);
    return 0;
}

/* ---- cbr ---- */

int nnb_cbr_declare(nnb_cbr *c, pblock *pb, const char *prefix, const char *conv_name,
                const char *norm_name, int cin1, int cin2, int cout, int K, int stride, int relu,
                const nnb_normcfg *nc)
{
    char nm[PARAM_NAME_MAX], cn[32], nn_[32];
    int64_t ws[4] = {cout, cin1 + cin2, K, K}, cs[1] = {cout};
    memset(c, 0, sizeof *c);
    c->cin1 = cin1, c->cin2 = cin2, c->cout = cout, c->K = K, c->stride = stride, c->relu = relu;
    c->nc = *nc;
    snprintf(cn, sizeof cn, "%s", conv_name);
    snprintf(nn_, sizeof nn_, "%s", norm_name);
#define ADD(field, suffix, base, kind, rank, shape)                                          \
    do {                                                                                     \
        snprintf(nm, sizeof nm, "%s%s%s.%s", prefix, *prefix ? "." : "", base, suffix);      \
        if ((c->field = pblock_add(pb, nm, kind, rank, shape)) < 0)                          \
            return -1;                                                                       \
    } while (0)
    ADD(iw, "weight", cn, PARAM_TRAIN, 4, ws);
    ADD(ig, "weight", nn_, PARAM_TRAIN, 1, cs);
    ADD(ib, "bias", nn_, PARAM_TRAIN, 1, cs);
    c->irm = c->irv = c->inb = -1;
    if (nc->kind == NORM_BATCH) {
        ADD(irm, "running_mean", nn_, PARAM_BUFFER, 1, cs);
        ADD(irv, "running_var", nn_, PARAM_BUFFER, 1, cs);
        ADD(inb, "num_batches_tracked", nn_, PARAM_COUNT, 0, cs);
    }
#undef ADD
    return 0;
}

void nnb_cbr_init(const nnb_cbr *c, pblock *pb, rng *r)
{
    nn_init_kaiming_normal(pblock_ptr(pb, c->iw), pb->e[c->iw].numel, c->cout * c->K * c->K, r);
    for (int i = 0; i < c->cout; i++) {
        pblock_ptr(pb, c->ig)[i] = 1;
        pblock_ptr(pb, c->ib)[i] = 0;
        if (c->irv >= 0) {
            pblock_ptr(pb, c->irm)[i] = 0;
            pblock_ptr(pb, c->irv)[i] = 1;
        }
    }
    if (c->inb >= 0)
        pblock_ptr(pb, c->inb)[0] = 0;
}

void nnb_cbr_bind(nnb_cbr *c, nnb_arena *a, int N, int H, int W)
{
    int pad = c->K / 2;
    c->N = N, c->H = H, c->W = W;
    c->OH = conv_out_size(H, c->K, c->stride, pad);
    c->OW = conv_out_size(W, c->K, c->stride, pad);
    c->z = nnb_arena_take(a, nnb_cbr_out_numel(c));
    c->a = nnb_arena_take(a, nnb_cbr_out_numel(c));
    int ns = c->nc.kind == NORM_BATCH ? c->cout : N * c->nc.groups;
    c->mean = nnb_arena_take(a, (size_t)ns);
    c->rstd = nnb_arena_take(a, (size_t)ns);
}

size_t nnb_cbr_out_numel(const nnb_cbr *c)
{
    return (size_t)c->N * c->cout * c->OH * c->OW;
}

/* z (N, cout, OH, OW) -> a: batch or group norm, then ReLU when asked. */
static void cbr_norm_forward(nnb_cbr *c, pblock *pb, int training)
{
    int HW = c->OH * c->OW;
    if (c->nc.kind == NORM_BATCH) {
        batchnorm_forward(c->a, c->mean, c->rstd, pblock_ptr(pb, c->irm), pblock_ptr(pb, c->irv),
                          c->z, pblock_ptr(pb, c->ig), pblock_ptr(pb, c->ib), c->N, c->cout, HW,
                          c->nc.momentum, c->nc.eps, training, c->relu);
        if (training)
            pblock_ptr(pb, c->inb)[0] += 1;
    } else {
        groupnorm_forward(c->a, c->mean, c->rstd, c->z, pblock_ptr(pb, c->ig),
                          pblock_ptr(pb, c->ib), c->N, c->cout, HW, c->nc.groups, c->nc.eps,
                          c->relu);
    }
}

/* da (gradient of a) -> dz in place, and the norm's parameter gradients. */
static void cbr_norm_backward(nnb_cbr *c, pblock *pb, float *da, int training)
{
    int HW = c->OH * c->OW;
    if (c->nc.kind == NORM_BATCH) {
        if (training)
            batchnorm_backward(da, pblock_grad(pb, c->ig), pblock_grad(pb, c->ib), da, c->z, c->a,
                               c->mean, c->rstd, NULL, pblock_ptr(pb, c->ig), c->N, c->cout, HW,
                               c->nc.eps, 1, c->relu);
        else
            batchnorm_backward(da, pblock_grad(pb, c->ig), pblock_grad(pb, c->ib), da, c->z, c->a,
                               pblock_ptr(pb, c->irm), NULL, pblock_ptr(pb, c->irv),
                               pblock_ptr(pb, c->ig), c->N, c->cout, HW, c->nc.eps, 0, c->relu);
    } else {
        groupnorm_backward(da, pblock_grad(pb, c->ig), pblock_grad(pb, c->ib), da, c->z, c->a,
                           c->mean, c->rstd, pblock_ptr(pb, c->ig), c->N, c->cout, HW,
                           c->nc.groups, c->relu);
    }
}

void nnb_cbr_forward(nnb_cbr *c, pblock *pb, const float *in1, const float *in2, int training)
{
    double fl = nnb_cbr_flops(c, c->H, c->W) * c->N;
    PROF_CALL(PROF_CONV_FWD, fl,
              conv2d_cat_forward(c->z, in1, c->cin1, in2, c->cin2, pblock_ptr(pb, c->iw), NULL, c->N, c->H,
                                 c->W, c->cout, c->K, c->stride, c->K / 2));
    PROF_CALL(PROF_NORM_FWD, 0, cbr_norm_forward(c, pb, training));
}

void nnb_cbr_backward(nnb_cbr *c, pblock *pb, float *da, float *din1, float *din2, const float *in1,
                  const float *in2, int training)
{
    double fl = nnb_cbr_flops(c, c->H, c->W) * c->N;
    PROF_CALL(PROF_NORM_BWD, 0, cbr_norm_backward(c, pb, da, training));
    PROF_CALL(PROF_CONV_DW, fl,
              conv2d_cat_backward(NULL, NULL, pblock_grad(pb, c->iw), NULL, da, in1, c->cin1, in2, c->cin2,
                                  pblock_ptr(pb, c->iw), c->N, c->H, c->W, c->cout, c->K, c->stride,
                                  c->K / 2));
    if (!din1 && !din2)
        return;
    PROF_CALL(PROF_CONV_DX, fl,
              conv2d_cat_backward(din1, din2, NULL, NULL, da, in1, c->cin1, in2, c->cin2,
                                  pblock_ptr(pb, c->iw), c->N, c->H, c->W, c->cout, c->K, c->stride,
                                  c->K / 2));
}

double nnb_cbr_flops(const nnb_cbr *c, int H, int W)
{
    int pad = c->K / 2;
    double OH = conv_out_size(H, c->K, c->stride, pad), OW = conv_out_size(W, c->K, c->stride, pad);
    return 2.0 * c->cout * (c->cin1 + c->cin2) * c->K * c->K * OH * OW;
}

/* ---- up ---- */

int nnb_up_declare(nnb_upconv *u, pblock *pb, const char *prefix, int cin, int cout)
{
    char nm[PARAM_NAME_MAX];
    int64_t ws[4] = {cin, cout, 2, 2}, bs[1] = {cout};
    memset(u, 0, sizeof *u);
    u->cin = cin, u->cout = cout;
    snprintf(nm, sizeof nm, "%s.up.weight", prefix);
    if ((u->iw = pblock_add(pb, nm, PARAM_TRAIN, 4, ws)) < 0)
        return -1;
    snprintf(nm, sizeof nm, "%s.up.bias", prefix);
    if ((u->ib = pblock_add(pb, nm, PARAM_TRAIN, 1, bs)) < 0)
        return -1;
    return 0;
}

void nnb_up_init(const nnb_upconv *u, pblock *pb, rng *r)
{
    /* PyTorch computes ConvTranspose2d's fan_in from weight dim 1: cout * 4 */
    nn_init_default(pblock_ptr(pb, u->iw), pb->e[u->iw].numel, u->cout * 4, r);
    nn_init_default(pblock_ptr(pb, u->ib), (size_t)u->cout, u->cout * 4, r);
}

void nnb_up_bind(nnb_upconv *u, nnb_arena *a, int N, int H, int W)
{
    u->N = N, u->H = H, u->W = W;
    u->u = nnb_arena_take(a, (size_t)N * u->cout * 4 * H * W);
}

void nnb_up_forward(nnb_upconv *u, pblock *pb, const float *in)
{
    PROF_CALL(PROF_UP_FWD, 8.0 * u->N * u->cin * u->cout * u->H * u->W,
              convt2x2_forward(u->u, in, pblock_ptr(pb, u->iw), pblock_ptr(pb, u->ib), u->N, u->cin, u->H,
                               u->W, u->cout));
}

void nnb_up_backward(nnb_upconv *u, pblock *pb, const float *du, float *din, const float *in)
{
    PROF_CALL(PROF_UP_BWD, 16.0 * u->N * u->cin * u->cout * u->H * u->W,
              convt2x2_backward(din, pblock_grad(pb, u->iw), pblock_grad(pb, u->ib), du, in,
                                pblock_ptr(pb, u->iw), u->N, u->cin, u->H, u->W, u->cout));
}

/* ---- decoder ---- */

int nnb_dec_declare(nnb_decoder *d, pblock *pb, const int skip_ch[4], int bottom_ch, const int widths[4],
                int out_ch, const nnb_normcfg *nc)
{
    char pre[16];
    memset(d, 0, sizeof *d);
    memcpy(d->skip_ch, skip_ch, sizeof d->skip_ch);
    memcpy(d->widths, widths, sizeof d->widths);
    d->bottom_ch = bottom_ch, d->out_ch = out_ch;
    const char *nrm1 = nc->kind == NORM_BATCH ? "bn1" : "gn1";
    const char *nrm2 = nc->kind == NORM_BATCH ? "bn2" : "gn2";
    for (int k = 3; k >= 0; k--) {
        int below = k == 3 ? bottom_ch : widths[k + 1];
        snprintf(pre, sizeof pre, "dec%d", k + 1);
        if (nnb_up_declare(&d->up[k], pb, pre, below, widths[k]) ||
            nnb_cbr_declare(&d->c1[k], pb, pre, "conv1", nrm1, skip_ch[k], widths[k], widths[k], 3, 1,
                        1, nc) ||
            nnb_cbr_declare(&d->c2[k], pb, pre, "conv2", nrm2, widths[k], 0, widths[k], 3, 1, 1, nc))
            return -1;
    }
    int64_t hw[4] = {out_ch, widths[0], 1, 1}, hb[1] = {out_ch};
    if ((d->ihw = pblock_add(pb, "head.weight", PARAM_TRAIN, 4, hw)) < 0 ||
        (d->ihb = pblock_add(pb, "head.bias", PARAM_TRAIN, 1, hb)) < 0)
        return -1;
    return 0;
}

void nnb_dec_init(const nnb_decoder *d, pblock *pb, rng *r)
{
    for (int k = 3; k >= 0; k--) {
        nnb_up_init(&d->up[k], pb, r);
        nnb_cbr_init(&d->c1[k], pb, r);
        nnb_cbr_init(&d->c2[k], pb, r);
    }
    nn_init_default(pblock_ptr(pb, d->ihw), pb->e[d->ihw].numel, d->widths[0], r);
    nn_init_default(pblock_ptr(pb, d->ihb), (size_t)d->out_ch, d->widths[0], r);
}

void nnb_dec_bind(nnb_decoder *d, nnb_arena *a, int N, int H, int W)
{
    size_t gmax = 0;
    d->N = N, d->H = H, d->W = W;
    for (int k = 3; k >= 0; k--) {
        int h = H >> k, w = W >> k;
        nnb_up_bind(&d->up[k], a, N, h / 2, w / 2);
        nnb_cbr_bind(&d->c1[k], a, N, h, w);
        nnb_cbr_bind(&d->c2[k], a, N, h, w);
        gmax = NN_MAX(gmax, (size_t)N * d->widths[k] * h * w);
    }
    d->f = nnb_arena_take(a, (size_t)N * d->out_ch * H * W);
    d->gx = nnb_arena_take(a, gmax);
    d->gy = nnb_arena_take(a, gmax);
}

void nnb_dec_forward(nnb_decoder *d, pblock *pb, const float *const skip[4], const float *bottom,
                 int training)
{
    for (int k = 3; k >= 0; k--) {
        nnb_up_forward(&d->up[k], pb, k == 3 ? bottom : d->c2[k + 1].a);
        nnb_cbr_forward(&d->c1[k], pb, skip[k], d->up[k].u, training);
        nnb_cbr_forward(&d->c2[k], pb, d->c1[k].a, NULL, training);
    }
    PROF_CALL(PROF_HEAD_FWD, 2.0 * d->N * d->H * d->W * d->widths[0] * d->out_ch,
              conv2d_forward(d->f, d->c2[0].a, pblock_ptr(pb, d->ihw), pblock_ptr(pb, d->ihb), d->N,
                             d->widths[0], d->H, d->W, d->out_ch, 1, 1, 0));
}

void nnb_dec_backward(nnb_decoder *d, pblock *pb, const float *df, float *const dskip[4], float *dbottom,
                  const float *const skip[4], const float *bottom, int training)
{
    float *gx = d->gx, *gy = d->gy, *t;
    PROF_CALL(PROF_HEAD_BWD, 4.0 * d->N * d->H * d->W * d->widths[0] * d->out_ch,
              conv2d_backward(gx, pblock_grad(pb, d->ihw), pblock_grad(pb, d->ihb), df, d->c2[0].a,
                              pblock_ptr(pb, d->ihw), d->N, d->widths[0], d->H, d->W, d->out_ch, 1, 1, 0));
    for (int k = 0; k < 4; k++) {
        /* gx: gradient of c2[k].a */
        nnb_cbr_backward(&d->c2[k], pb, gx, gy, NULL, d->c1[k].a, NULL, training);
        nnb_cbr_backward(&d->c1[k], pb, gy, dskip[k], gx, skip[k], d->up[k].u, training);
        nnb_up_backward(&d->up[k], pb, gx, k == 3 ? dbottom : gy, k == 3 ? bottom : d->c2[k + 1].a);
        t = gx, gx = gy, gy = t;
    }
}

double nnb_dec_flops(const nnb_decoder *d, int H, int W)
{
    double f = 0;
    for (int k = 0; k < 4; k++) {
        int h = H >> k, w = W >> k;
        f += 2.0 * d->up[k].cin * d->up[k].cout * 4 * (h / 2) * (w / 2);
        f += nnb_cbr_flops(&d->c1[k], h, w) + nnb_cbr_flops(&d->c2[k], h, w);
    }
    return f + 2.0 * d->out_ch * d->widths[0] * H * W;
}

/* ---- configuration JSON ---- */

int nnb_cfg_parse(const char *json, mval *m, const char *what, const char *const *allowed)
{
    if (json_parse(json, strlen(json), m))
        return err_prefix("%s configuration", what);
    if (m->kind != MV_MAP) {
        mval_free(m);
        return err_set("%s configuration: not a JSON object", what);
    }
    for (size_t i = 0; i < m->m.n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, m->m.k[i]))
                ok = 1;
        if (!ok) {
            err_set("%s configuration: unknown field '%s'", what, m->m.k[i]);
            mval_free(m);
            return -1;
        }
    }
    return 0;
}

int nnb_cfg_int(const mval *m, const char *what, const char *key, int *out)
{
    const mval *v = mval_map_get(m, key);
    if (!v)
        return 1;
    if (v->kind != MV_INT || v->i < INT32_MIN || v->i > INT32_MAX)
        return err_set("%s configuration: '%s' must be an integer", what, key);
    *out = (int)v->i;
    return 0;
}

int nnb_cfg_float(const mval *m, const char *what, const char *key, float *out)
{
    const mval *v = mval_map_get(m, key);
    double x;
    if (!v)
        return 1;
    if (mval_num(v, &x))
        return err_set("%s configuration: '%s' must be a number", what, key);
    *out = (float)x;
    return 0;
}

int nnb_cfg_ints(const mval *m, const char *what, const char *key, int *out, int n)
{
    const mval *v = mval_map_get(m, key);
    if (!v)
        return 1;
    if (v->kind != MV_ARRAY || v->a.n != (size_t)n)
        return err_set("%s configuration: '%s' must be an array of %d integers", what, key, n);
    for (int i = 0; i < n; i++) {
        if (v->a.v[i].kind != MV_INT || v->a.v[i].i < INT32_MIN || v->a.v[i].i > INT32_MAX)
            return err_set("%s configuration: '%s' must be an array of %d integers", what, key,
                           n);
        out[i] = (int)v->a.v[i].i;
    }
    return 0;
}

const char *const nnb_norm_names[] = {[NORM_BATCH] = "batch", [NORM_GROUP] = "group", NULL};

/* 0 found, 1 absent, -1 not one of names: "'KEY' must be "A" or "B"". */
static int cfg_enum(const mval *m, const char *what, const char *key, const char *const *names, int *out)
{
    const mval *v = mval_map_get(m, key);
    char list[128];
    size_t len = 0;
    int k;
    if (!v)
        return 1;
    for (k = 0; names[k]; k++)
        if (v->kind == MV_STR && !strcmp(v->s.p, names[k]))
            return *out = k, 0;
    list[0] = 0;
    for (int i = 0; i < k && len < sizeof list; i++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s\"%s\"", i == 0 ? "" : i == k - 1 ? " or " : ", ",
                                names[i]);
    return err_set("%s configuration: '%s' must be %s", what, key, list);
}

void nnb_cfg_put_float(mval *m, const char *key, float v)
{
    char t[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, (double)v);
        if ((float)strtod(t, NULL) == v)
            break;
    }
    mval_put_f64(m, key, strtod(t, NULL));
}

void nnb_cfg_put_ints(mval *m, const char *key, const int *v, int n)
{
    mval *a = mval_map_put(m, key);
    if (!a)
        return;
    mval_set_array(a);
    for (int i = 0; i < n; i++) {
        mval *e = mval_push(a);
        if (e)
            mval_set_int(e, v[i]);
    }
}

char *nnb_cfg_dump(const mval *m)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if (json_dump(m, -1, &buf, &len, &cap) || !(buf = realloc(buf, len + 1))) {
        free(buf);
        err_set("out of memory");
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

char *nnb_cfg_json(const void *cfg, const nnb_cfg_field *f)
{
    const char *base = cfg;
    mval m = {0};
    char *s;
    mval_set_map(&m);
    for (int i = 0; f[i].key; i++) {
        const void *p = base + f[i].off;
        int v, k;
        if (f[i].kind == NNB_CFG_FLOAT) {
            nnb_cfg_put_float(&m, f[i].key, *(const float *)p);
            continue;
        }
        if (f[i].kind == NNB_CFG_INTS) {
            nnb_cfg_put_ints(&m, f[i].key, p, f[i].n);
            continue;
        }
        v = *(const int *)p;
        if (f[i].omit && v == f[i].dflt)
            continue;
        if (f[i].kind == NNB_CFG_INT) {
            mval_put_i64(&m, f[i].key, v);
            continue;
        }
        for (k = 0; f[i].names[k] && k != v; k++)
            ;
        mval_put_str(&m, f[i].key, f[i].names[f[i].names[k] ? k : 0]); /* an unknown value: the first name */
    }
    s = nnb_cfg_dump(&m);
    mval_free(&m);
    return s;
}

int nnb_cfg_open(const char *json, mval *m, const char *what, const nnb_cfg_field *f)
{
    const char *keys[16];
    int nf = 0;
    for (; f[nf].key; nf++) {
        if (nf + 1 == (int)(sizeof keys / sizeof *keys))
            return err_set("%s configuration: more fields than nnb_cfg_open takes", what);
        keys[nf] = f[nf].key;
    }
    keys[nf] = NULL;
    return nnb_cfg_parse(json, m, what, keys);
}

int nnb_cfg_get(const mval *m, void *cfg, const char *what, const nnb_cfg_field *f)
{
    char *base = cfg;
    int rc = 0;
    for (int i = 0; f[i].key && !rc; i++) {
        void *p = base + f[i].off;
        switch (f[i].kind) {
        case NNB_CFG_INT: rc = nnb_cfg_int(m, what, f[i].key, p); break;
        case NNB_CFG_FLOAT: rc = nnb_cfg_float(m, what, f[i].key, p); break;
        case NNB_CFG_INTS: rc = nnb_cfg_ints(m, what, f[i].key, p, f[i].n); break;
        case NNB_CFG_ENUM: rc = cfg_enum(m, what, f[i].key, f[i].names, p); break;
        }
        if (rc > 0 && f[i].required)
            rc = err_set("%s configuration: '%s' is required", what, f[i].key);
        else if (rc > 0)
            rc = 0;
    }
    return rc ? 1 : 0;
}

int nnb_cfg_read(const char *json, void *cfg, const char *what, const nnb_cfg_field *f)
{
    mval m = {0};
    int rc;
    if (nnb_cfg_open(json, &m, what, f))
        return -1;
    rc = nnb_cfg_get(&m, cfg, what, f);
    mval_free(&m);
    return rc;
}
