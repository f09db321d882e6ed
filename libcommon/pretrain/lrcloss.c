#include "pretrain/lrcloss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define LRC_NORM_EPS 1e-12

lrc_opts lrc_opts_default(void)
{
    return (lrc_opts){.tau = 0.1, .normalize = 1, .exclude_self = 0};
}

void lrc_sample_init(lrc_sample *s)
{
    memset(s, 0, sizeof *s);
}

void lrc_sample_free(lrc_sample *s)
{
    free(s->label);
    free(s->iq);
    free(s->ip);
    lrc_sample_init(s);
}

static int sample_reserve(lrc_sample *s, int nreg, int N)
{
    if (nreg > s->cap || N != s->N) {
        size_t n = (size_t)(nreg > 0 ? nreg : 1) * (size_t)N;
        int32_t *l = realloc(s->label, (size_t)(nreg > 0 ? nreg : 1) * sizeof *l);
        if (l)
            s->label = l;
        int32_t *a = realloc(s->iq, n * sizeof *a);
        if (a)
            s->iq = a;
        int32_t *b = realloc(s->ip, n * sizeof *b);
        if (b)
            s->ip = b;
        if (!l || !a || !b)
            return err_set("out of memory (%d regions x %d samples)", nreg, N);
        s->cap = nreg;
    }
    s->N = N;
    s->nreg = 0;
    return 0;
}

/* Largest label of a map, checking the range. */
static int map_max(int32_t *maxl, const int32_t *r, int64_t HW, const char *name)
{
    int32_t m = -1;
    for (int64_t i = 0; i < HW; i++) {
        if (r[i] < -1 || r[i] >= HW)
            return err_set("%s: region label %d at pixel %lld is out of range (labels are -1 or 0..K-1)", name,
                           (int)r[i], (long long)i);
        if (r[i] > m)
            m = r[i];
    }
    *maxl = m;
    return 0;
}

/* Pixels of each label, grouped by label (counting sort): off [K+1], pix [HW]. */
static void group_pixels(int32_t *off, int32_t *pix, const int32_t *r, int64_t HW, int K)
{
    memset(off, 0, (size_t)(K + 1) * sizeof *off);
    for (int64_t i = 0; i < HW; i++)
        if (r[i] >= 0)
            off[r[i] + 1]++;
    for (int k = 0; k < K; k++)
        off[k + 1] += off[k];
    int32_t *fill = malloc((size_t)K * sizeof *fill);
    if (fill) {
        memcpy(fill, off, (size_t)K * sizeof *fill);
        for (int64_t i = 0; i < HW; i++)
            if (r[i] >= 0)
                pix[fill[r[i]]++] = (int32_t)i;
        free(fill);
    } else {
        /* no memory for the cursor: a slower pass per label (still correct) */
        for (int k = 0; k < K; k++) {
            int32_t c = off[k];
            for (int64_t i = 0; i < HW; i++)
                if (r[i] == k)
                    pix[c++] = (int32_t)i;
        }
    }
}

int lrc_sample_draw(lrc_sample *s, const int32_t *rq, const int32_t *rp, int64_t HW, int N, rng *r)
{
    int32_t mq = -1, mp = -1;
    if (N < 1)
        return err_set("samples per region must be >= 1 (got %d)", N);
    if (HW < 1 || HW > INT32_MAX)
        return err_set("image of %lld pixels is out of range", (long long)HW);
    if (map_max(&mq, rq, HW, "regions") || map_max(&mp, rp, HW, "regions_p"))
        return -1;
    int K = (int)(mq > mp ? mq : mp) + 1;
    int32_t *offq = malloc((size_t)(K + 1) * sizeof *offq);
    int32_t *offp = malloc((size_t)(K + 1) * sizeof *offp);
    int32_t *pixq = malloc((size_t)HW * sizeof *pixq);
    int32_t *pixp = malloc((size_t)HW * sizeof *pixp);
    int rc = -1, nreg = 0;
    if (!offq || !offp || !pixq || !pixp) {
        err_set("out of memory (region tables of %d regions)", K);
        goto out;
    }
    group_pixels(offq, pixq, rq, HW, K);
    group_pixels(offp, pixp, rp, HW, K);
    s->one_sided = 0;
    for (int k = 0; k < K; k++) {
        int cq = offq[k + 1] - offq[k], cp = offp[k + 1] - offp[k];
        if (cq && cp)
            nreg++;
        else if (cq || cp)
            s->one_sided++;
    }
    if (sample_reserve(s, nreg, N))
        goto out;
    for (int k = 0; k < K; k++) {
        int cq = offq[k + 1] - offq[k], cp = offp[k + 1] - offp[k];
        if (!cq || !cp)
            continue;
        int32_t *iq = s->iq + (size_t)s->nreg * N, *ip = s->ip + (size_t)s->nreg * N;
        for (int n = 0; n < N; n++)
            iq[n] = pixq[offq[k] + (int32_t)rng_below(r, (uint64_t)cq)];
        for (int n = 0; n < N; n++)
            ip[n] = pixp[offp[k] + (int32_t)rng_below(r, (uint64_t)cp)];
        s->label[s->nreg++] = k;
    }
    rc = 0;
out:
    free(offq);
    free(offp);
    free(pixq);
    free(pixp);
    return rc;
}

int lrc_sample_set(lrc_sample *s, int nreg, int N, const int32_t *iq, const int32_t *ip, int64_t HW)
{
    if (nreg < 0 || N < 1)
        return err_set("bad sample table (%d regions x %d samples)", nreg, N);
    for (size_t i = 0; i < (size_t)nreg * N; i++)
        if (iq[i] < 0 || iq[i] >= HW || ip[i] < 0 || ip[i] >= HW)
            return err_set("sample index %zu out of range [0, %lld)", i, (long long)HW);
    if (sample_reserve(s, nreg, N))
        return -1;
    memcpy(s->iq, iq, (size_t)nreg * N * sizeof *iq);
    memcpy(s->ip, ip, (size_t)nreg * N * sizeof *ip);
    for (int k = 0; k < nreg; k++)
        s->label[k] = k;
    s->nreg = nreg;
    s->one_sided = 0;
    return 0;
}

/* out [K, D] = X / max(|X_k|, eps) row-wise; norm [K] the clamped norms. */
static void l2norm_rows(double *out, double *norm, const double *X, int K, int D)
{
    for (int k = 0; k < K; k++) {
        double s = 0;
        for (int d = 0; d < D; d++)
            s += X[(size_t)k * D + d] * X[(size_t)k * D + d];
        s = sqrt(s);
        if (s < LRC_NORM_EPS)
            s = LRC_NORM_EPS;
        norm[k] = s;
        for (int d = 0; d < D; d++)
            out[(size_t)k * D + d] = X[(size_t)k * D + d] / s;
    }
}

/* dX [K, D] += scale * d(X / norm)/dX applied to dY: (dY - Y (Y . dY)) / norm.
 * (Where the norm was clamped the map is X / eps and the derivative dY / eps;
 * the projection term then belongs to a non-differentiable point we ignore.) */
static void l2norm_rows_backward(double *dX, const double *dY, const double *Y, const double *norm, int K, int D,
                                 double scale)
{
    for (int k = 0; k < K; k++) {
        const double *y = Y + (size_t)k * D, *dy = dY + (size_t)k * D;
        double dot = 0;
        for (int d = 0; d < D; d++)
            dot += y[d] * dy[d];
        if (norm[k] <= LRC_NORM_EPS)
            dot = 0;
        for (int d = 0; d < D; d++)
            dX[(size_t)k * D + d] += scale * (dy[d] - y[d] * dot) / norm[k];
    }
}

static double dot(const double *a, const double *b, int D)
{
    double s = 0;
    for (int d = 0; d < D; d++)
        s += a[d] * b[d];
    return s;
}

int lrc_loss_means(double *loss, double *dQ, double *dP, const double *Q, const double *P, int K, int D,
                   const lrc_opts *o, double scale)
{
    if (K < 1 || D < 1)
        return err_set("local loss: %d regions of %d channels", K, D);
    if (!(o->tau > 0))
        return err_set("local loss: tau must be > 0 (got %g)", o->tau);
    size_t kd = (size_t)K * D, kk = (size_t)K * K;
    double *buf = malloc((4 * kd + 2 * kk + 2 * (size_t)K) * sizeof *buf);
    if (!buf)
        return err_set("out of memory (local loss of %d regions)", K);
    double *Qn = buf, *Pn = Qn + kd, *dQn = Pn + kd, *dPn = dQn + kd, *A = dPn + kd, *B = A + kk;
    double *nq = B + kk, *np = nq + K;
    const double it = 1.0 / o->tau;
    const int grad = dQ || dP;

    if (o->normalize) {
        l2norm_rows(Qn, nq, Q, K, D);
        l2norm_rows(Pn, np, P, K, D);
    } else {
        memcpy(Qn, Q, kd * sizeof *Qn);
        memcpy(Pn, P, kd * sizeof *Pn);
    }
    /* A[k1,k2] = q_k1 . q_k2 / tau, B[k1,k2] = q_k1 . p_k2 / tau */
    for (int i = 0; i < K; i++)
        for (int j = 0; j < K; j++) {
            if (j >= i)
                A[(size_t)i * K + j] = A[(size_t)j * K + i] = dot(Qn + (size_t)i * D, Qn + (size_t)j * D, D) * it;
            B[(size_t)i * K + j] = dot(Qn + (size_t)i * D, Pn + (size_t)j * D, D) * it;
        }
    /* Row-wise log-sum-exp over the 2K (or 2K-1) denominator terms; then A
     * and B become dL/dA and dL/dB (softmax weights, minus 1 at the positive). */
    double total = 0;
    for (int i = 0; i < K; i++) {
        double *a = A + (size_t)i * K, *b = B + (size_t)i * K, m = -INFINITY, z = 0;
        for (int j = 0; j < K; j++) {
            if (!(o->exclude_self && j == i) && a[j] > m)
                m = a[j];
            if (b[j] > m)
                m = b[j];
        }
        for (int j = 0; j < K; j++) {
            if (!(o->exclude_self && j == i))
                z += exp(a[j] - m);
            z += exp(b[j] - m);
        }
        double lse = m + log(z);
        total += lse - b[i];
        if (grad) {
            for (int j = 0; j < K; j++) {
                a[j] = (o->exclude_self && j == i) ? 0 : exp(a[j] - lse) / K;
                b[j] = exp(b[j] - lse) / K;
            }
            b[i] -= 1.0 / K;
        }
    }
    *loss = total / K;
    if (grad) {
        /* dQn = (GA + GA^T) Qn / tau + GB Pn / tau;  dPn = GB^T Qn / tau */
        memset(dQn, 0, 2 * kd * sizeof *dQn);
        for (int i = 0; i < K; i++)
            for (int j = 0; j < K; j++) {
                double ga = (A[(size_t)i * K + j] + A[(size_t)j * K + i]) * it, gb = B[(size_t)i * K + j] * it;
                double *dq = dQn + (size_t)i * D, *dp = dPn + (size_t)j * D;
                const double *qj = Qn + (size_t)j * D, *pj = Pn + (size_t)j * D, *qi = Qn + (size_t)i * D;
                for (int d = 0; d < D; d++) {
                    dq[d] += ga * qj[d] + gb * pj[d];
                    dp[d] += gb * qi[d];
                }
            }
        if (o->normalize) {
            if (dQ)
                l2norm_rows_backward(dQ, dQn, Qn, nq, K, D, scale);
            if (dP)
                l2norm_rows_backward(dP, dPn, Pn, np, K, D, scale);
        } else {
            for (size_t i = 0; i < kd; i++) {
                if (dQ)
                    dQ[i] += scale * dQn[i];
                if (dP)
                    dP[i] += scale * dPn[i];
            }
        }
    }
    free(buf);
    return 0;
}

void lrc_region_means(double *Q, double *P, const float *fq, const float *fp, int D, int64_t HW,
                      const lrc_sample *s)
{
    const int N = s->N;
    for (int k = 0; k < s->nreg; k++) {
        const int32_t *iq = s->iq + (size_t)k * N, *ip = s->ip + (size_t)k * N;
        for (int d = 0; d < D; d++) {
            const float *xq = fq + (size_t)d * HW, *xp = fp + (size_t)d * HW;
            double sq = 0, sp = 0;
            for (int n = 0; n < N; n++) {
                sq += xq[iq[n]];
                sp += xp[ip[n]];
            }
            Q[(size_t)k * D + d] = sq / N;
            P[(size_t)k * D + d] = sp / N;
        }
    }
}

int lrc_pair_loss(double *loss, float *dfq, float *dfp, const float *fq, const float *fp, int D, int64_t HW,
                  const lrc_sample *s, const lrc_opts *o, double scale)
{
    const int K = s->nreg, N = s->N;
    if (K < 1)
        return err_set("local loss: no region to contrast");
    size_t kd = (size_t)K * D;
    double *buf = calloc(4 * kd, sizeof *buf);
    if (!buf)
        return err_set("out of memory (local loss of %d regions)", K);
    double *Q = buf, *P = Q + kd, *dQ = P + kd, *dP = dQ + kd;
    const int grad = dfq || dfp;
    lrc_region_means(Q, P, fq, fp, D, HW, s);
    if (lrc_loss_means(loss, grad ? dQ : NULL, grad ? dP : NULL, Q, P, K, D, o, scale)) {
        free(buf);
        return -1;
    }
    /* Scatter: each of the N samples of region k gets dQ[k] / N. */
    for (int k = 0; grad && k < K; k++) {
        const int32_t *iq = s->iq + (size_t)k * N, *ip = s->ip + (size_t)k * N;
        for (int d = 0; d < D; d++) {
            float gq = (float)(dQ[(size_t)k * D + d] / N), gp = (float)(dP[(size_t)k * D + d] / N);
            float *xq = dfq ? dfq + (size_t)d * HW : NULL, *xp = dfp ? dfp + (size_t)d * HW : NULL;
            for (int n = 0; n < N; n++) {
                if (xq)
                    xq[iq[n]] += gq;
                if (xp)
                    xp[ip[n]] += gp;
            }
        }
    }
    free(buf);
    return 0;
}
