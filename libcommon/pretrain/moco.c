#include "pretrain/moco.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/dist.h"
#include "nn/nn.h"

#define MOCO_NORM_EPS 1e-12f

int moco_queue_init(moco_queue *q, int K, int C, rng *r)
{
    memset(q, 0, sizeof *q);
    if (K < 1 || C < 1)
        return err_set("queue of %d keys of %d dims", K, C);
    q->data = lrc_alloc((size_t)K * C * sizeof *q->data);
    if (!q->data)
        return err_set("out of memory (queue of %d x %d)", K, C);
    q->K = K;
    q->C = C;
    for (size_t i = 0; i < (size_t)K * C; i++)
        q->data[i] = (float)rng_normal(r);
    float *norm = malloc((size_t)K * sizeof *norm);
    if (!norm) {
        moco_queue_free(q);
        return err_set("out of memory");
    }
    moco_l2norm_forward(q->data, norm, q->data, K, C);
    free(norm);
    return 0;
}

void moco_queue_free(moco_queue *q)
{
    lrc_free(q->data);
    memset(q, 0, sizeof *q);
}

void moco_queue_push(moco_queue *q, const float *keys, int B)
{
    for (int b = 0; b < B; b++) {
        memcpy(q->data + (size_t)q->ptr * q->C, keys + (size_t)b * q->C, (size_t)q->C * sizeof *keys);
        q->ptr = (q->ptr + 1) % q->K;
    }
}

void moco_momentum_update(float *key, const float *query, size_t n, float m)
{
    const float a = 1.0f - m;
    for (size_t i = 0; i < n; i++)
        key[i] = m * key[i] + a * query[i];
}

void moco_l2norm_forward(float *out, float *norm, const float *x, int B, int C)
{
    for (int b = 0; b < B; b++) {
        const float *xb = x + (size_t)b * C;
        double s = 0;
        for (int c = 0; c < C; c++)
            s += (double)xb[c] * xb[c];
        float n = (float)sqrt(s);
        if (n < MOCO_NORM_EPS)
            n = MOCO_NORM_EPS;
        norm[b] = n;
        for (int c = 0; c < C; c++)
            out[(size_t)b * C + c] = xb[c] / n;
    }
}

void moco_l2norm_backward(float *dx, const float *dout, const float *out, const float *norm, int B, int C)
{
    for (int b = 0; b < B; b++) {
        const float *y = out + (size_t)b * C, *dy = dout + (size_t)b * C;
        double d = 0;
        for (int c = 0; c < C; c++)
            d += (double)y[c] * dy[c];
        if (norm[b] <= MOCO_NORM_EPS)
            d = 0;
        for (int c = 0; c < C; c++)
            dx[(size_t)b * C + c] += (float)((dy[c] - y[c] * d) / norm[b]);
    }
}

int moco_infonce(double *loss, double *acc, float *dq, const float *q, const float *k, const float *queue, int B,
                 int C, int Kq, double tau, double scale)
{
    if (B < 1 || C < 1 || Kq < 1)
        return err_set("InfoNCE of %d queries, %d dims, %d negatives", B, C, Kq);
    if (!(tau > 0))
        return err_set("InfoNCE: tau must be > 0 (got %g)", tau);
    float *neg = lrc_alloc((size_t)B * Kq * sizeof *neg); /* (B, Kq) logits, then softmax weights */
    if (!neg)
        return err_set("out of memory (InfoNCE logits %d x %d)", B, Kq);
    const double it = 1.0 / tau;
    /* neg = q queue^T / tau, on the engine's GEMM: its sums do not depend on
     * the thread count, nor on which CPU a BLAS library recognises, so the
     * same seed gives the same model on any machine with the same
     * instruction set */
    nn_gemm(0, 1, B, Kq, C, (float)it, q, C, queue, C, 0.0f, neg, Kq, 1);
    double total = 0;
    int hits = 0;
    for (int b = 0; b < B; b++) {
        const float *qb = q + (size_t)b * C, *kb = k + (size_t)b * C;
        float *nb = neg + (size_t)b * Kq;
        double pos = 0, m, z = 0;
        for (int c = 0; c < C; c++)
            pos += (double)qb[c] * kb[c];
        pos *= it;
        m = pos;
        double mneg = -INFINITY;
        for (int j = 0; j < Kq; j++)
            if (nb[j] > mneg)
                mneg = nb[j];
        if (mneg > m)
            m = mneg;
        hits += pos > mneg;
        z = exp(pos - m);
        for (int j = 0; j < Kq; j++)
            z += exp((double)nb[j] - m);
        double lse = m + log(z);
        total += lse - pos;
        if (dq) {
            /* dL_b/dq_b = (1/tau) [ (w_pos - 1) k_b + sum_j w_j queue_j ] */
            double g = scale / B * it;
            float *db = dq + (size_t)b * C;
            double wpos = exp(pos - lse);
            for (int c = 0; c < C; c++)
                db[c] += (float)(g * (wpos - 1) * kb[c]);
            for (int j = 0; j < Kq; j++)
                nb[j] = (float)exp((double)nb[j] - lse);
        }
    }
    if (dq)
        nn_gemm(0, 0, B, C, Kq, (float)(scale / B * it), neg, Kq, queue, C, 1.0f, dq, C, 1);
    *loss = total / B;
    if (acc)
        *acc = (double)hits / B;
    lrc_free(neg);
    return 0;
}

int moco_ranks_check(int K, int batch, int ranks)
{
    const int64_t T = (int64_t)ranks * batch;
    if (ranks > 1 && (T > K || K % T))
        return err_set("--queue %d is not a multiple of the %d keys a step adds (%d ranks x --batch %d)", K, (int)T,
                       ranks, batch);
    return 0;
}

int moco_ranks_alike(int B, int H, int W)
{
    int64_t b0, h0, w0;
    int same = dist_same_i64(B, &b0), sameh = dist_same_i64(H, &h0), samew = dist_same_i64(W, &w0);
    if (same < 0 || sameh < 0 || samew < 0)
        return -1;
    if (!same || !sameh || !samew)
        return err_set("this rank's batch is %d pairs of %dx%d, rank 0's %lld of %lldx%lld (MoCo's all-gathers need "
                       "them alike)",
                       B, H, W, (long long)b0, (long long)h0, (long long)w0);
    return 0;
}

void moco_shuffle_perm(int *perm, int T, int shuffle, rng *r)
{
    for (int b = 0; b < T; b++)
        perm[b] = b;
    for (int b = T - 1; shuffle && b > 0; b--) { /* Fisher-Yates */
        int j = (int)rng_below(r, (uint64_t)b + 1), tmp = perm[b];
        perm[b] = perm[j];
        perm[j] = tmp;
    }
}
