/* kmeans — k-means++ seeding and Lloyd iterations (see kmeans.h). */
#include "viz/kmeans.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"

static double sqdist(const float *a, const double *c, int d)
{
    double s = 0;
    for (int j = 0; j < d; j++) {
        double t = (double)a[j] - c[j];
        s += t * t;
    }
    return s;
}

int kmeans(int32_t *assign, float *centres, const float *x, int64_t n, int d, int k, int max_iter, uint64_t seed,
           kmeans_info *info)
{
    if (n < 1 || d < 1 || k < 1 || k > n)
        return err_set("kmeans: want 1 <= K <= N (K = %d, N = %lld, D = %d)", k, (long long)n, d);
    if (k > (1 << 20))
        return err_set("kmeans: K = %d is too large", k);
    double *c = malloc(sizeof(double) * (size_t)k * (size_t)d);   /* (K, D) centres */
    double *sum = malloc(sizeof(double) * (size_t)k * (size_t)d); /* (K, D) */
    double *dmin = malloc(sizeof(double) * (size_t)n);             /* (N) */
    int64_t *cnt = malloc(sizeof(int64_t) * (size_t)k);
    int rc = -1;
    if (!c || !sum || !dmin || !cnt) {
        err_set("kmeans: out of memory");
        goto done;
    }
    rng r;
    rng_seed(&r, seed, 0x6b6d);

    /* k-means++ seeding. */
    int64_t first = (int64_t)rng_below(&r, (uint64_t)n);
    for (int j = 0; j < d; j++)
        c[j] = x[first * d + j];
    for (int64_t i = 0; i < n; i++)
        dmin[i] = sqdist(x + i * d, c, d);
    for (int m = 1; m < k; m++) {
        double total = 0;
        for (int64_t i = 0; i < n; i++)
            total += dmin[i];
        int64_t pick = n - 1;
        if (total > 0) {
            double u = rng_uniform(&r) * total, acc = 0;
            pick = -1;
            for (int64_t i = 0; i < n; i++) {
                if (dmin[i] <= 0)
                    continue;
                acc += dmin[i];
                pick = i; /* the last positive one if rounding leaves acc <= u */
                if (acc > u)
                    break;
            }
        } else
            pick = (int64_t)rng_below(&r, (uint64_t)n); /* all points coincide with centres */
        for (int j = 0; j < d; j++)
            c[(size_t)m * d + j] = x[pick * d + j];
        for (int64_t i = 0; i < n; i++) {
            double t = sqdist(x + i * d, c + (size_t)m * d, d);
            if (t < dmin[i])
                dmin[i] = t;
        }
    }

    /* Lloyd iterations. */
    for (int64_t i = 0; i < n; i++)
        assign[i] = -1;
    int it = 0, converged = 0;
    double inertia = 0;
    for (;;) {
        int64_t changed = 0;
        inertia = 0;
#pragma omp parallel for schedule(static) reduction(+ : changed)
        for (int64_t i = 0; i < n; i++) {
            int best = 0;
            double bd = INFINITY;
            for (int m = 0; m < k; m++) {
                double t = sqdist(x + i * d, c + (size_t)m * d, d);
                if (t < bd) {
                    bd = t;
                    best = m;
                }
            }
            dmin[i] = bd;
            if (assign[i] != best) {
                assign[i] = best;
                changed++;
            }
        }
        for (int64_t i = 0; i < n; i++)
            inertia += dmin[i];
        if (!changed) {
            converged = 1;
            break;
        }
        if (it >= max_iter)
            break;
        it++;
        memset(sum, 0, sizeof(double) * (size_t)k * (size_t)d);
        memset(cnt, 0, sizeof(int64_t) * (size_t)k);
        for (int64_t i = 0; i < n; i++) {
            double *s = sum + (size_t)assign[i] * d;
            for (int j = 0; j < d; j++)
                s[j] += x[i * d + j];
            cnt[assign[i]]++;
        }
        for (int m = 0; m < k; m++) {
            if (cnt[m]) {
                for (int j = 0; j < d; j++)
                    c[(size_t)m * d + j] = sum[(size_t)m * d + j] / (double)cnt[m];
                continue;
            }
            /* Empty: take the point farthest from its centre, and make sure
             * the next step does not pick it again. */
            int64_t far = 0;
            for (int64_t i = 1; i < n; i++)
                if (dmin[i] > dmin[far])
                    far = i;
            for (int j = 0; j < d; j++)
                c[(size_t)m * d + j] = x[far * d + j];
            dmin[far] = 0;
        }
    }
    if (centres)
        for (size_t i = 0; i < (size_t)k * (size_t)d; i++)
            centres[i] = (float)c[i];
    if (info) {
        info->iters = it;
        info->converged = converged;
        info->inertia = inertia;
    }
    rc = 0;
done:
    free(c), free(sum), free(dmin), free(cnt);
    return rc;
}
