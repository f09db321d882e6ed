#include "pretrain/mocotrainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"
#include "models/mlp.h"
#include "nn/dist.h"
#include "nn/nn.h"

/* The projection head: MoCo v2's MLP (mlp.h) or v1's single linear layer. */
typedef struct {
    int version, in, out;
    mlp *mlp;         /* v2 */
    pblock lin;       /* v1: fc.weight (out, in), fc.bias (out) */
    float *y;         /* v1 output (N, out) */
    size_t ycap;
    const float *x;   /* v1: input of the last forward */
    int N;
} head;

struct moco_trainer {
    moco_trainer_config c;
    int C4, hidden;
    resnet *enc, *key;
    head hq, hk;
    optim *opt_enc, *opt_head;
    moco_queue queue;
    int64_t queue_ptr; /* for the checkpoint writer */
    float *xs;         /* one sub-batch of images (n, 1, H, W) */
    float *xall;       /* every rank's key images (T, 1, H, W) */
    float *ks, *k;     /* keys (T, dim): in shuffled order, and un-shuffled */
    float *q, *qn, *dq, *dz, *dpooled;
    int *perm;         /* (T): position j of the shuffled batch is image perm[j] */
    size_t xcap, acap, bcap, tcap;
};

void moco_trainer_config_default(moco_trainer_config *c)
{
    memset(c, 0, sizeof *c);
    resnet_config_default(&c->enc);
    c->version = 2;
    c->dim = 128;
    c->hidden = 0;
    c->queue = 4096;
    c->m = 0.999;
    c->tau = 0.2;
    c->bn_splits = 2;
    optim_config_default(&c->opt, OPTIM_SGD);
}

static char *linear_json(const head *h)
{
    char *s = NULL;
    if (asprintf(&s, "{\"in\":%d,\"out\":%d}", h->in, h->out) < 0)
        return NULL;
    return s;
}

static int head_init(head *h, int version, int in, int hidden, int out, uint64_t seed)
{
    memset(h, 0, sizeof *h);
    h->version = version;
    h->in = in;
    h->out = out;
    pblock_init(&h->lin);
    if (version == 2) {
        mlp_config mc = {.in = in, .hidden = hidden, .out = out};
        return (h->mlp = mlp_create(&mc, seed)) ? 0 : -1;
    }
    rng r;
    if (pblock_add(&h->lin, "fc.weight", PARAM_TRAIN, 2, (int64_t[]){out, in}) < 0 ||
        pblock_add(&h->lin, "fc.bias", PARAM_TRAIN, 1, (int64_t[]){out}) < 0 || pblock_alloc(&h->lin))
        return -1;
    rng_seed(&r, seed, 0x4d6f436f); /* PyTorch's default Linear init */
    nn_init_default(pblock_ptr(&h->lin, 0), (size_t)out * in, in, &r);
    nn_init_default(pblock_ptr(&h->lin, 1), (size_t)out, in, &r);
    return 0;
}

static void head_free(head *h)
{
    mlp_free(h->mlp);
    pblock_free(&h->lin);
    lrc_free(h->y);
    memset(h, 0, sizeof *h);
}

static pblock *head_params(head *h)
{
    return h->mlp ? mlp_params(h->mlp) : &h->lin;
}

static const float *head_forward(head *h, const float *x, int N)
{
    if (h->mlp)
        return mlp_forward(h->mlp, x, N);
    if ((size_t)N * h->out > h->ycap) {
        lrc_free(h->y);
        h->ycap = (size_t)N * h->out;
        if (!(h->y = lrc_alloc(h->ycap * sizeof *h->y))) {
            h->ycap = 0;
            err_set("out of memory");
            return NULL;
        }
    }
    linear_forward(h->y, x, pblock_ptr(&h->lin, 0), pblock_ptr(&h->lin, 1), N, h->in, h->out);
    h->x = x;
    h->N = N;
    return h->y;
}

static int head_backward(head *h, const float *dout, float *dx)
{
    if (h->mlp)
        return mlp_backward(h->mlp, dout, dx);
    linear_backward(dx, pblock_grad(&h->lin, 0), pblock_grad(&h->lin, 1), dout, h->x, pblock_ptr(&h->lin, 0),
                    h->N, h->in, h->out);
    return 0;
}

static int head_save(head *h, ckpt_writer *w, const char *prefix)
{
    if (h->mlp)
        return mlp_ckpt_put(w, prefix, h->mlp);
    char *js = linear_json(h);
    int rc = js ? ckpt_put_model(w, prefix, "linear", js, &h->lin) : err_set("out of memory");
    free(js);
    return rc;
}

static int head_load(head *h, const ckpt *c, const char *prefix)
{
    if (h->mlp) {
        char *js = mlp_config_json(mlp_get_config(h->mlp));
        int rc = js ? ckpt_get_model(c, prefix, "mlp", js, mlp_params(h->mlp)) : err_set("out of memory");
        free(js);
        return rc;
    }
    char *js = linear_json(h);
    int rc = js ? ckpt_get_model(c, prefix, "linear", js, &h->lin) : err_set("out of memory");
    free(js);
    return rc;
}

moco_trainer *moco_trainer_create(const moco_trainer_config *c, uint64_t seed)
{
    if (c->version != 1 && c->version != 2) {
        err_set("MoCo version must be 1 or 2 (got %d)", c->version);
        return NULL;
    }
    if (c->dim < 1 || c->queue < 1 || c->hidden < 0 || c->bn_splits < 1 || !(c->tau > 0) || c->m < 0 || c->m > 1) {
        err_set("bad MoCo configuration (dim %d, queue %d, hidden %d, bn splits %d, tau %g, m %g)", c->dim, c->queue,
                c->hidden, c->bn_splits, c->tau, c->m);
        return NULL;
    }
    if (resnet_config_check(&c->enc))
        return NULL;
    moco_trainer *t = calloc(1, sizeof *t);
    rng r;
    if (!t) {
        err_set("out of memory");
        return NULL;
    }
    t->c = *c;
    t->C4 = resnet_stage_channels(&c->enc, 4);
    t->hidden = c->hidden ? c->hidden : t->C4;
    t->c.hidden = t->hidden;
    rng_seed(&r, seed, 0x5155455545); /* the queue's own stream */
    if (!(t->enc = resnet_create(&c->enc, seed)) || !(t->key = resnet_create(&c->enc, seed)) ||
        head_init(&t->hq, c->version, t->C4, t->hidden, c->dim, seed + 1) ||
        head_init(&t->hk, c->version, t->C4, t->hidden, c->dim, seed + 1) ||
        pblock_copy(resnet_params(t->key), resnet_params(t->enc)) || pblock_copy(head_params(&t->hk), head_params(&t->hq)) ||
        !(t->opt_enc = optim_create(&c->opt, resnet_params(t->enc))) ||
        !(t->opt_head = optim_create(&c->opt, head_params(&t->hq))) || moco_queue_init(&t->queue, c->queue, c->dim, &r)) {
        moco_trainer_free(t);
        return NULL;
    }
    return t;
}

void moco_trainer_free(moco_trainer *t)
{
    if (!t)
        return;
    optim_free(t->opt_enc);
    optim_free(t->opt_head);
    resnet_free(t->enc);
    resnet_free(t->key);
    head_free(&t->hq);
    head_free(&t->hk);
    moco_queue_free(&t->queue);
    lrc_free(t->xs);
    lrc_free(t->xall);
    free(t->ks);
    free(t->k);
    free(t->q);
    free(t->qn);
    free(t->dq);
    free(t->dz);
    free(t->dpooled);
    free(t->perm);
    free(t);
}

resnet *moco_trainer_encoder(moco_trainer *t)
{
    return t->enc;
}

const moco_queue *moco_trainer_queue(const moco_trainer *t)
{
    return &t->queue;
}

/* Buffers for B pairs on this rank and T = ranks x B in the step. */
static int reserve(moco_trainer *t, int B, int T, size_t npix, size_t npix_all)
{
    if (lrc_reserve(&t->xs, &t->xcap, npix) || lrc_reserve(&t->xall, &t->acap, npix_all))
        return err_set("out of memory");
    if ((size_t)B > t->bcap) {
        size_t n = (size_t)B * t->c.dim;
        free(t->q);
        free(t->qn);
        free(t->dq);
        free(t->dz);
        free(t->dpooled);
        t->q = malloc(n * sizeof *t->q);
        t->qn = malloc((size_t)B * sizeof *t->qn);
        t->dq = malloc(n * sizeof *t->dq);
        t->dz = malloc(n * sizeof *t->dz);
        t->dpooled = malloc((size_t)B * t->C4 * sizeof *t->dpooled);
        t->bcap = (size_t)B;
        if (!t->q || !t->qn || !t->dq || !t->dz || !t->dpooled) {
            t->bcap = 0;
            return err_set("out of memory");
        }
    }
    if ((size_t)T > t->tcap) {
        free(t->ks);
        free(t->k);
        free(t->perm);
        t->ks = malloc((size_t)T * t->c.dim * sizeof *t->ks);
        t->k = malloc((size_t)T * t->c.dim * sizeof *t->k);
        t->perm = malloc((size_t)T * sizeof *t->perm);
        t->tcap = (size_t)T;
        if (!t->ks || !t->k || !t->perm) {
            t->tcap = 0;
            return err_set("out of memory");
        }
    }
    return 0;
}

int moco_trainer_check_ranks(const moco_trainer_config *c, int batch, int ranks)
{
    return moco_ranks_check(c->queue, batch, ranks);
}

/* 1. keys k (T, dim) of every rank's pairs, in rank order: xp of all
 * ranks gathered, this rank's share of the shuffled batch encoded in G
 * sub-batches of n, the keys gathered and un-shuffled. No gradient. */
static int keys(moco_trainer *t, lrc_pair *const *pairs, int B, int G, int H, int W, rng *r)
{
    const int N = dist_size(), rank = dist_rank(), T = N * B, n = B / G, C = t->c.dim;
    const size_t HW = (size_t)H * W;
    for (int b = 0; b < B; b++)
        memcpy(t->xall + ((size_t)rank * B + b) * HW, pairs[b]->xp, HW * sizeof(float));
    if (dist_allgather_f32(t->xall, (size_t)B * HW))
        return -1;
    moco_shuffle_perm(t->perm, T, N * G > 1, r);
    const int *mine = t->perm + (size_t)rank * B;
    float *ks = t->ks + (size_t)rank * B * C;
    for (int g = 0; g < G; g++) {
        for (int i = 0; i < n; i++)
            memcpy(t->xs + (size_t)i * HW, t->xall + (size_t)mine[g * n + i] * HW, HW * sizeof(float));
        const float *pooled = resnet_forward(t->key, t->xs, n, H, W), *z;
        if (!pooled || !(z = head_forward(&t->hk, pooled, n)))
            return -1;
        for (int i = 0; i < n; i++) {
            float norm;
            moco_l2norm_forward(ks + (size_t)(g * n + i) * C, &norm, z + (size_t)i * C, 1, C);
        }
    }
    if (dist_allgather_f32(t->ks, (size_t)B * C))
        return -1;
    for (int j = 0; j < T; j++)
        memcpy(t->k + (size_t)t->perm[j] * C, t->ks + (size_t)j * C, (size_t)C * sizeof *t->k);
    return 0;
}

/* 2. queries of this rank's pairs in order, InfoNCE against their keys (k)
 * and the queue; gradients accumulate over the sub-batches, then are
 * averaged over the ranks. */
static int queries(moco_trainer *t, lrc_pair *const *pairs, int B, int G, int H, int W, moco_step_stats *st)
{
    const int N = dist_size(), n = B / G, C = t->c.dim;
    const size_t HW = (size_t)H * W;
    const float *k = t->k + (size_t)dist_rank() * B * C;
    pblock_zero_grad(resnet_params(t->enc));
    pblock_zero_grad(head_params(&t->hq));
    for (int g = 0; g < G; g++) {
        double loss, acc;
        for (int i = 0; i < n; i++)
            memcpy(t->xs + (size_t)i * HW, pairs[g * n + i]->xq, HW * sizeof(float));
        const float *pooled = resnet_forward(t->enc, t->xs, n, H, W), *z;
        if (!pooled || !(z = head_forward(&t->hq, pooled, n)))
            return -1;
        moco_l2norm_forward(t->q, t->qn, z, n, C);
        memset(t->dq, 0, (size_t)n * C * sizeof *t->dq);
        memset(t->dz, 0, (size_t)n * C * sizeof *t->dz);
        if (moco_infonce(&loss, &acc, t->dq, t->q, k + (size_t)g * n * C, t->queue.data, n, C, t->queue.K,
                         t->c.tau, (double)n / B))
            return -1;
        st->loss += loss * n / B;
        st->acc += acc * n / B;
        moco_l2norm_backward(t->dz, t->dq, t->q, t->qn, n, C);
        if (head_backward(&t->hq, t->dz, t->dpooled) || resnet_backward(t->enc, t->dpooled, NULL, NULL))
            return -1;
    }
    if (dist_grad_reduce(resnet_params(t->enc), 1.0 / N) || dist_grad_reduce(head_params(&t->hq), 1.0 / N))
        return -1;
    if (N > 1) {
        double sum[2] = {st->loss, st->acc};
        if (dist_sum_f64(sum, 2))
            return -1;
        st->loss = sum[0] / N;
        st->acc = sum[1] / N;
    }
    return 0;
}

int moco_trainer_step(moco_trainer *t, lrc_pair *const *pairs, int B, double lr, rng *r, moco_step_stats *st)
{
    memset(st, 0, sizeof *st);
    if (B < 1)
        return err_set("empty batch");
    const int H = pairs[0]->H, W = pairs[0]->W, N = dist_size(), T = N * B;
    const int G = (t->c.bn_splits > 1 && B % t->c.bn_splits == 0) ? t->c.bn_splits : 1;
    for (int b = 0; b < B; b++)
        if (pairs[b]->H != H || pairs[b]->W != W)
            return err_set("record seq %lld is %dx%d, the batch's first is %dx%d", (long long)pairs[b]->seq,
                           pairs[b]->H, pairs[b]->W, H, W);
    if (N > 1 && (moco_ranks_alike(B, H, W) || moco_trainer_check_ranks(&t->c, B, N)))
        return -1;
    if (reserve(t, B, T, (size_t)(B / G) * H * W, (size_t)T * H * W) || keys(t, pairs, B, G, H, W, r) ||
        queries(t, pairs, B, G, H, W, st))
        return -1;
    optim_step(t->opt_enc, lr);
    optim_step(t->opt_head, lr);
    /* 3. momentum update of the key encoder, then every rank's keys enter the queue */
    pblock *pk = resnet_params(t->key), *pq = resnet_params(t->enc);
    moco_momentum_update(pk->data, pq->data, pq->ntrain, (float)t->c.m);
    pk = head_params(&t->hk);
    pq = head_params(&t->hq);
    moco_momentum_update(pk->data, pq->data, pq->ntrain, (float)t->c.m);
    moco_queue_push(&t->queue, t->k, T);
    st->pairs = T;
    return 0;
}

int moco_trainer_bcast(moco_trainer *t)
{
    pblock *pb[4] = {resnet_params(t->enc), head_params(&t->hq), resnet_params(t->key), head_params(&t->hk)};
    for (int i = 0; i < 4; i++)
        if (dist_bcast_params(pb[i]))
            return -1;
    return 0;
}

static char *moco_meta_json(const moco_trainer_config *c)
{
    char *s = NULL;
    if (asprintf(&s, "{\"version\":%d,\"dim\":%d,\"hidden\":%d,\"queue\":%d,\"m\":%.15g,\"tau\":%.15g,\"bn_splits\":%d}",
                 c->version, c->dim, c->hidden, c->queue, c->m, c->tau, c->bn_splits) < 0)
        return NULL;
    return s;
}

int moco_trainer_save(moco_trainer *t, ckpt_writer *w)
{
    char *cfg = resnet_config_json(&t->c.enc), *meta = moco_meta_json(&t->c);
    int rc = -1;
    t->queue_ptr = t->queue.ptr;
    if (!cfg || !meta)
        err_set("out of memory");
    else if (!ckpt_put_model(w, "", "resnet", cfg, resnet_params(t->enc)) && !head_save(&t->hq, w, "head.") &&
             !ckpt_put_model(w, "key.", "resnet", cfg, resnet_params(t->key)) && !head_save(&t->hk, w, "key_head.") &&
             !ckpt_put_optim(w, "optim.", t->opt_enc) && !ckpt_put_optim(w, "optim_head.", t->opt_head) &&
             !ckpt_put_tensor(w, "moco.queue", DT_F32, 2, (int64_t[]){t->queue.K, t->queue.C}, t->queue.data) &&
             !ckpt_put_tensor(w, "moco.queue_ptr", DT_I64, 0, (int64_t[]){0}, &t->queue_ptr) &&
             !ckpt_put_meta(w, "method", "moco") && !ckpt_put_meta(w, "moco", meta))
        rc = 0;
    free(cfg);
    free(meta);
    return rc;
}

int moco_trainer_load(moco_trainer *t, const ckpt *c)
{
    const char *m = ckpt_meta(c, "method");
    tensor q, p;
    if (!m || strcmp(m, "moco"))
        return err_set("%s: not an lrc-train --method moco checkpoint (method %s)", ckpt_path(c), m ? m : "absent");
    char *cfg = resnet_config_json(&t->c.enc);
    if (!cfg)
        return err_set("out of memory");
    int rc = ckpt_get_model(c, "", "resnet", cfg, resnet_params(t->enc)) || head_load(&t->hq, c, "head.") ||
             ckpt_get_model(c, "key.", "resnet", cfg, resnet_params(t->key)) || head_load(&t->hk, c, "key_head.") ||
             ckpt_get_optim(c, "optim.", t->opt_enc) || ckpt_get_optim(c, "optim_head.", t->opt_head) ||
             ckpt_get_tensor(c, "moco.queue", &q) || ckpt_get_tensor(c, "moco.queue_ptr", &p);
    free(cfg);
    if (rc)
        return -1;
    if (q.dtype != DT_F32 || q.rank != 2 || q.shape[0] != t->queue.K || q.shape[1] != t->queue.C)
        return err_set("%s: the queue is not %d x %d F32 (a different --queue or --dim)", ckpt_path(c), t->queue.K,
                       t->queue.C);
    if (p.dtype != DT_I64 || tensor_numel(&p) != 1)
        return err_set("%s: moco.queue_ptr is not an int64 scalar", ckpt_path(c));
    int64_t ptr = *(const int64_t *)p.data;
    if (ptr < 0 || ptr >= t->queue.K)
        return err_set("%s: moco.queue_ptr %lld out of range", ckpt_path(c), (long long)ptr);
    memcpy(t->queue.data, q.data, tensor_nbytes(&q));
    t->queue.ptr = (int)ptr;
    return 0;
}
