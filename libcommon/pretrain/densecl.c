#include "pretrain/densecl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/dist.h"

enum { ENC, HEAD, DENSE, KENC, KHEAD, KDENSE };

/* Work buffers: B pairs on this rank, T = ranks x B in the step. A key
 * row packs one image's keys: k (dim), k2 (dim), its grid (S2 dim) and its
 * features (S2 C4), P values. */
enum {
    B_XALL,   /* (T, 1, H, W) every rank's key images, in rank order */
    B_KS,     /* (T, P) key rows in shuffled order */
    B_K,      /* (T, dim) global keys, in rank order */
    B_K2,     /* (T, dim) dense keys for queue2 */
    B_KGRID,  /* (B, S2, dim) normalised dense key projections of this rank's pairs */
    B_FK,     /* (B, S2, C4) normalised key features of this rank's pairs */
    B_XS,     /* (n, 1, H, W) one sub-batch of images */
    B_ROWS,   /* (n S2, C4) a feature map transposed */
    B_FQ,     /* (n S2, C4) the same rows normalised */
    B_NORM,   /* (n S2) norms */
    B_Q,      /* (n, dim) */
    B_QN,     /* (n) */
    B_DQ,     /* (n, dim) */
    B_DZ,     /* (n, dim) */
    B_DPOOL,  /* (n, C4) */
    B_QD,     /* (n S2, dim) normalised dense queries */
    B_KPOS,   /* (n S2, dim) their matched keys */
    B_DQD,    /* (n S2, dim) */
    B_DD,     /* (n S2, dim) */
    B_DROWS,  /* (n S2, C4) */
    B_DSTAGE, /* (n, C4, S, S) */
    B_MEAN,   /* (dim) */
    NBUF
};

typedef struct {
    moco_queue queue[2];
    int64_t ptr[2]; /* for the checkpoint writer */
    int *perm;      /* (T) */
    int T;          /* keys of the last grad, pushed after the update */
    float *buf[NBUF];
    size_t cap[NBUF], pcap;
} dstate;

static dstate *S(const eg_trainer *t)
{
    return t->priv;
}

const moco_queue *densecl_queue(const eg_trainer *t, int which)
{
    return &S(t)->queue[which != 0];
}

const float *densecl_keys(const eg_trainer *t, int which)
{
    return S(t)->buf[which ? B_K2 : B_K];
}

const int *densecl_perm(const eg_trainer *t)
{
    return S(t)->perm;
}

static float *buf(dstate *s, int i, size_t n)
{
    if (lrc_reserve(&s->buf[i], &s->cap[i], n)) {
        err_set("out of memory (%zu values)", n);
        return NULL;
    }
    return s->buf[i];
}

static void dense_free(eg_trainer *t)
{
    dstate *s = t->priv;
    if (!s)
        return;
    for (int i = 0; i < 2; i++)
        moco_queue_free(&s->queue[i]);
    for (int i = 0; i < NBUF; i++)
        lrc_free(s->buf[i]);
    free(s->perm);
    free(s);
    t->priv = NULL;
}

static int dense_init(eg_trainer *t)
{
    eg_config *c = &t->c;
    dstate *s;
    rng r;
    if (!c->hidden)
        c->hidden = t->C4;
    if (!c->dim)
        c->dim = 128;
    if (c->queue < 1 || c->bn_splits < 1 || !(c->tau > 0) || !(c->m >= 0 && c->m <= 1) ||
        !(c->dense_weight >= 0 && c->dense_weight <= 1))
        return err_set("densecl: bad configuration (queue %d, bn splits %d, tau %g, m %g, dense weight %g)", c->queue,
                       c->bn_splits, c->tau, c->m, c->dense_weight);
    if (!(s = t->priv = calloc(1, sizeof *s)))
        return err_set("out of memory");
    /* MoCo v2's MLP, the same on the pooled vector and on every position */
    proj_config h = {.dims = {t->C4}};
    proj_config_add(&h, c->hidden, 1, PROJ_NO_BN, 1);
    proj_config_add(&h, c->dim, 1, PROJ_NO_BN, 0);
    if (eg_add_resnet(t, "", "optim.", &c->enc) != ENC || eg_add_proj(t, "head.", "optim_head.", &h, 0) != HEAD ||
        eg_add_proj(t, "dense_head.", "optim_dense_head.", &h, 0) != DENSE ||
        eg_add_resnet(t, "key.", NULL, &c->enc) != KENC || eg_add_proj(t, "key_head.", NULL, &h, 0) != KHEAD ||
        eg_add_proj(t, "key_dense_head.", NULL, &h, 0) != KDENSE || eg_copy_part(t, KENC, ENC) ||
        eg_copy_part(t, KHEAD, HEAD) || eg_copy_part(t, KDENSE, DENSE))
        return -1;
    for (int i = 0; i < 2; i++) { /* each queue its own stream */
        rng_seed(&r, t->seed, 0x44434c51 + (uint64_t)i);
        if (moco_queue_init(&s->queue[i], c->queue, c->dim, &r))
            return -1;
    }
    return 0;
}

/* rows (n S2, C) <- map (n, C, S2), or back with to_map */
static void transpose(float *rows, float *map, int n, int C, int S2, int to_map)
{
    for (int b = 0; b < n; b++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < S2; p++) {
                float *r = rows + ((size_t)b * S2 + p) * C + c, *m = map + ((size_t)b * C + c) * S2 + p;
                if (to_map)
                    *m = *r;
                else
                    *r = *m;
            }
}

/* Eg's last map of the last forward of part, as rows (n S2, C4) */
static float *map_rows(eg_trainer *t, int part, int n, int S2)
{
    float *rows = buf(S(t), B_ROWS, (size_t)n * S2 * t->C4);
    if (rows)
        transpose(rows, (float *)resnet_stage(t->part[part].enc, 4), n, t->C4, S2, 0);
    return rows;
}

/* Key rows of positions j0 .. j0 + n - 1 of the shuffled batch (P values
 * each, at their positions in B_KS): images perm[j] of B_XALL. */
static int keys(eg_trainer *t, int j0, int n, int H, int W, int S2, size_t P)
{
    dstate *s = S(t);
    const int D = t->c.dim, C4 = t->C4;
    const size_t HW = (size_t)H * W;
    float *xs = buf(s, B_XS, n * HW), *norm = buf(s, B_NORM, (size_t)n * S2), *mean = buf(s, B_MEAN, D);
    const float *pooled, *z, *d, *rows;
    if (!xs || !norm || !mean)
        return -1;
    for (int i = 0; i < n; i++)
        memcpy(xs + i * HW, s->buf[B_XALL] + (size_t)s->perm[j0 + i] * HW, HW * sizeof(float));
    if (!(pooled = resnet_forward(t->part[KENC].enc, xs, n, H, W)) || !(z = proj_forward(t->part[KHEAD].proj, pooled, n)) ||
        !(rows = map_rows(t, KENC, n, S2)) || !(d = proj_forward(t->part[KDENSE].proj, rows, n * S2)))
        return -1;
    for (int i = 0; i < n; i++) {
        float *k = s->buf[B_KS] + (size_t)(j0 + i) * P, *k2 = k + D, *kgrid = k2 + D, *fk = kgrid + (size_t)S2 * D;
        moco_l2norm_forward(k, norm, z + (size_t)i * D, 1, D);
        moco_l2norm_forward(fk, norm, rows + (size_t)i * S2 * C4, S2, C4);
        moco_l2norm_forward(kgrid, norm, d + (size_t)i * S2 * D, S2, D);
        for (int c = 0; c < D; c++) {
            double a = 0;
            for (int p = 0; p < S2; p++)
                a += d[((size_t)i * S2 + p) * D + c];
            mean[c] = (float)(a / S2);
        }
        moco_l2norm_forward(k2, norm, mean, 1, D);
    }
    return 0;
}

/* Every rank's key rows gathered and un-shuffled: all T keys k, k2 in
 * rank order, the grids and features of this rank's B images. */
static int unshuffle(eg_trainer *t, int B, int S2, size_t P)
{
    dstate *s = S(t);
    const int D = t->c.dim, T = dist_size() * B, mine = dist_rank() * B;
    if (dist_allgather_f32(s->buf[B_KS], (size_t)B * P))
        return -1;
    for (int j = 0; j < T; j++) {
        const int b = s->perm[j];
        const float *k = s->buf[B_KS] + (size_t)j * P;
        memcpy(s->buf[B_K] + (size_t)b * D, k, D * sizeof(float));
        memcpy(s->buf[B_K2] + (size_t)b * D, k + D, D * sizeof(float));
        if (b < mine || b >= mine + B)
            continue;
        memcpy(s->buf[B_KGRID] + (size_t)(b - mine) * S2 * D, k + 2 * D, (size_t)S2 * D * sizeof(float));
        memcpy(s->buf[B_FK] + (size_t)(b - mine) * S2 * t->C4, k + 2 * D + (size_t)S2 * D,
               (size_t)S2 * t->C4 * sizeof(float));
    }
    return 0;
}

/* For each query row of images g n .. g n + n - 1, its key: the key
 * position of the same image whose backbone feature is the most similar. */
static void match(dstate *s, const float *fq, float *kpos, int g, int n, int S2, int C4, int D)
{
    for (int i = 0; i < n; i++) {
        const int b = g * n + i;
        const float *fk = s->buf[B_FK] + (size_t)b * S2 * C4;
        for (int p = 0; p < S2; p++) {
            const float *f = fq + ((size_t)i * S2 + p) * C4;
            int best = 0;
            double bv = -1e300;
            for (int j = 0; j < S2; j++) {
                double v = 0;
                for (int c = 0; c < C4; c++)
                    v += (double)f[c] * fk[(size_t)j * C4 + c];
                if (v > bv)
                    bv = v, best = j;
            }
            memcpy(kpos + ((size_t)i * S2 + p) * D, s->buf[B_KGRID] + ((size_t)b * S2 + best) * D, D * sizeof(float));
        }
    }
}

/* Queries of images g n .. g n + n - 1: both terms, their gradients into
 * Eg and the heads (weighted n / B: the loss is the batch's mean). */
static int queries(eg_trainer *t, lrc_pair *const *pairs, int g, int n, int B, int H, int W, int S2, eg_stats *st)
{
    dstate *s = S(t);
    const int D = t->c.dim, C4 = t->C4, R = n * S2;
    const double lam = t->c.dense_weight, tau = t->c.tau, w = (double)n / B;
    const size_t HW = (size_t)H * W;
    float *xs = buf(s, B_XS, n * HW), *q = buf(s, B_Q, (size_t)n * D), *qn = buf(s, B_QN, n),
          *dq = buf(s, B_DQ, (size_t)n * D), *dz = buf(s, B_DZ, (size_t)n * D), *dpool = buf(s, B_DPOOL, (size_t)n * C4),
          *fq = buf(s, B_FQ, (size_t)R * C4), *norm = buf(s, B_NORM, R), *qd = buf(s, B_QD, (size_t)R * D),
          *kpos = buf(s, B_KPOS, (size_t)R * D), *dqd = buf(s, B_DQD, (size_t)R * D), *dd = buf(s, B_DD, (size_t)R * D),
          *drows = buf(s, B_DROWS, (size_t)R * C4), *dstage = buf(s, B_DSTAGE, (size_t)R * C4);
    const float *pooled, *z, *d, *rows;
    double lg, ld, acc;
    if (!xs || !q || !qn || !dq || !dz || !dpool || !fq || !norm || !qd || !kpos || !dqd || !dd || !drows || !dstage)
        return -1;
    for (int i = 0; i < n; i++)
        memcpy(xs + i * HW, pairs[g * n + i]->xq, HW * sizeof(float));
    if (!(pooled = resnet_forward(t->part[ENC].enc, xs, n, H, W)) || !(z = proj_forward(t->part[HEAD].proj, pooled, n)) ||
        !(rows = map_rows(t, ENC, n, S2)) || !(d = proj_forward(t->part[DENSE].proj, rows, R)))
        return -1;
    moco_l2norm_forward(fq, norm, rows, R, C4);
    match(s, fq, kpos, g, n, S2, C4, D);
    /* the global term */
    moco_l2norm_forward(q, qn, z, n, D);
    memset(dq, 0, sizeof(float) * n * D);
    memset(dz, 0, sizeof(float) * n * D);
    if (moco_infonce(&lg, &acc, dq, q, s->buf[B_K] + ((size_t)dist_rank() * B + g * n) * D, s->queue[0].data, n, D,
                     s->queue[0].K, tau,
                     (1 - lam) * w))
        return -1;
    moco_l2norm_backward(dz, dq, q, qn, n, D);
    /* the dense term */
    moco_l2norm_forward(qd, norm, d, R, D);
    memset(dqd, 0, sizeof(float) * R * D);
    memset(dd, 0, sizeof(float) * R * D);
    if (moco_infonce(&ld, NULL, dqd, qd, kpos, s->queue[1].data, R, D, s->queue[1].K, tau, lam * w))
        return -1;
    moco_l2norm_backward(dd, dqd, qd, norm, R, D);
    st->loss += ((1 - lam) * lg + lam * ld) * w;
    st->metric += acc * w;
    const float *dst[5] = {NULL, NULL, NULL, NULL, dstage};
    if (proj_backward(t->part[HEAD].proj, dz, dpool) || proj_backward(t->part[DENSE].proj, dd, drows))
        return -1;
    transpose(drows, dstage, n, C4, S2, 1);
    return resnet_backward(t->part[ENC].enc, dpool, dst, NULL);
}

static int dense_check_ranks(const eg_config *c, int batch, int ranks)
{
    return moco_ranks_check(c->queue, batch, ranks);
}

/* As mocotrainer's step: every rank's key images gathered, one
 * permutation of the T drawn alike on every rank, this rank's share of it
 * encoded in G sub-batches, the key rows gathered and un-shuffled; then
 * this rank's queries against their own pairs' keys. */
static int dense_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    dstate *s = S(t);
    const int H = pairs[0]->H, W = pairs[0]->W, sh = resnet_stage_shift(&t->c.enc, 4), D = t->c.dim;
    const int S2 = (H >> sh) * (W >> sh), G = t->c.bn_splits > 1 && B % t->c.bn_splits == 0 ? t->c.bn_splits : 1;
    const int n = B / G, N = dist_size(), T = N * B, mine = dist_rank() * B;
    const size_t HW = (size_t)H * W, P = 2 * (size_t)D + (size_t)S2 * (D + t->C4);
    if (H % resnet_input_unit(&t->c.enc) || W % resnet_input_unit(&t->c.enc))
        return err_set("images of %dx%d pixels; Eg needs sides that are multiples of %d", H, W,
                       resnet_input_unit(&t->c.enc));
    if (N > 1 && (moco_ranks_alike(B, H, W) || moco_ranks_check(t->c.queue, B, N)))
        return -1;
    if ((size_t)T > s->pcap) {
        free(s->perm);
        s->pcap = 0;
        if (!(s->perm = malloc(sizeof(int) * T)))
            return err_set("out of memory");
        s->pcap = (size_t)T;
    }
    if (!buf(s, B_XALL, (size_t)T * HW) || !buf(s, B_KS, (size_t)T * P) || !buf(s, B_K, (size_t)T * D) ||
        !buf(s, B_K2, (size_t)T * D) || !buf(s, B_KGRID, (size_t)B * S2 * D) || !buf(s, B_FK, (size_t)B * S2 * t->C4))
        return -1;
    for (int b = 0; b < B; b++)
        memcpy(s->buf[B_XALL] + (size_t)(mine + b) * HW, pairs[b]->xp, HW * sizeof(float));
    if (dist_allgather_f32(s->buf[B_XALL], (size_t)B * HW))
        return -1;
    moco_shuffle_perm(s->perm, T, N * G > 1, r);
    s->T = 0;
    for (int g = 0; g < G; g++)
        if (keys(t, mine + g * n, n, H, W, S2, P))
            return -1;
    if (unshuffle(t, B, S2, P))
        return -1;
    for (int g = 0; g < G; g++)
        if (queries(t, pairs, g, n, B, H, W, S2, st))
            return -1;
    s->T = T;
    return 0;
}

static void dense_after_update(eg_trainer *t)
{
    dstate *s = S(t);
    for (int i = 0; i < 3; i++)
        eg_ema_part(t, KENC + i, ENC + i, t->c.m);
    /* every rank's keys, rank 0's first; as moco_queue_push: T <= K, a
     * larger batch's newest K keys stay (one process) */
    for (int b = 0; b < s->T; b += s->queue[0].K) {
        int k = s->T - b < s->queue[0].K ? s->T - b : s->queue[0].K;
        moco_queue_push(&s->queue[0], s->buf[B_K] + (size_t)b * t->c.dim, k);
        moco_queue_push(&s->queue[1], s->buf[B_K2] + (size_t)b * t->c.dim, k);
    }
    s->T = 0;
}

static char *dense_json(const eg_trainer *t)
{
    const eg_config *c = &t->c;
    char *s = NULL;
    if (asprintf(&s,
                 "{\"hidden\":%d,\"dim\":%d,\"queue\":%d,\"m\":%.15g,\"tau\":%.15g,\"dense_weight\":%.15g,"
                 "\"bn_splits\":%d}",
                 c->hidden, c->dim, c->queue, c->m, c->tau, c->dense_weight, c->bn_splits) < 0) {
        err_set("out of memory");
        return NULL;
    }
    return s;
}

static const char *const qname[2] = {"densecl.queue", "densecl.queue2"};
static const char *const pname[2] = {"densecl.queue_ptr", "densecl.queue2_ptr"};

static int dense_save(eg_trainer *t, ckpt_writer *w)
{
    dstate *s = S(t);
    for (int i = 0; i < 2; i++) {
        moco_queue *q = &s->queue[i];
        s->ptr[i] = q->ptr;
        if (ckpt_put_tensor(w, qname[i], DT_F32, 2, (int64_t[]){q->K, q->C}, q->data) ||
            ckpt_put_tensor(w, pname[i], DT_I64, 0, (int64_t[]){0}, &s->ptr[i]))
            return -1;
    }
    return 0;
}

static int dense_load(eg_trainer *t, const ckpt *c)
{
    dstate *s = S(t);
    for (int i = 0; i < 2; i++) {
        moco_queue *q = &s->queue[i];
        tensor d, p;
        if (ckpt_get_tensor(c, qname[i], &d) || ckpt_get_tensor(c, pname[i], &p))
            return -1;
        if (d.dtype != DT_F32 || d.rank != 2 || d.shape[0] != q->K || d.shape[1] != q->C)
            return err_set("%s: %s is not %d x %d F32", ckpt_path(c), qname[i], q->K, q->C);
        if (p.dtype != DT_I64 || tensor_numel(&p) != 1)
            return err_set("%s: %s is not an int64 scalar", ckpt_path(c), pname[i]);
        int64_t ptr = *(const int64_t *)p.data;
        if (ptr < 0 || ptr >= q->K)
            return err_set("%s: %s %lld out of range", ckpt_path(c), pname[i], (long long)ptr);
        memcpy(q->data, d.data, tensor_nbytes(&d));
        q->ptr = (int)ptr;
    }
    return 0;
}

const eg_ops eg_densecl_ops = {
    .name = "densecl",
    .metric = "acc",
    .lr = 0.03,
    .lr_per256 = 1,
    .gathers = 1,
    .init = dense_init,
    .check_ranks = dense_check_ranks,
    .grad = dense_grad,
    .after_update = dense_after_update,
    .json = dense_json,
    .save = dense_save,
    .load = dense_load,
    .free = dense_free,
};
