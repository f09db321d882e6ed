/* Batch and group normalisation of nn.h (with optional fused ReLU).
 *
 * Each pass is split per (sample, channel) plane over the thread pool:
 * statistics per plane (float vector partials, then double), combined per
 * channel or group serially (cheap), then the element-wise map per plane.
 * With nn_set_bn_sum's hook, batch norm's per-channel sums in training are
 * summed over the processes of a data-parallel job before use. */
#include <math.h>
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"

typedef struct {
    const float *x, *dout, *out;
    float *y;
    int C, HW, G;
    double *sums;            /* per plane: 2 doubles */
    const float *m0;         /* forward: per-channel shift; backward: mean per plane's stat */
    const float *mean, *rstd; /* per channel (batch) or per (b, g) (group) */
    const float *k1, *k2, *k3; /* per channel (batch) or per (b, c) (group) */
    int per_group, relu;
} norm_job;

/* stat index of plane p = b C + c */
static inline long stat_of(const norm_job *j, long p)
{
    int c = (int)(p % j->C);
    if (!j->per_group)
        return c;
    return (p / j->C) * j->G + c / (j->C / j->G);
}

static void fwd_sums_task(void *ctx, long p, int tid)
{
    const norm_job *j = ctx;
    double *s = j->sums + 2 * p;
    (void)tid;
    s[0] = s[1] = 0;
    nn_ew()->sums(j->x + p * j->HW, j->HW, j->m0[stat_of(j, p)], &s[0], &s[1]);
}

static void affine_task(void *ctx, long p, int tid)
{
    const norm_job *j = ctx;
    (void)tid;
    /* k1 = scale, k2 = shift, per channel (batch) or per (b, c) (group) */
    long k = j->per_group ? p : p % j->C;
    nn_ew()->affine(j->y + p * j->HW, j->x + p * j->HW, j->HW, j->k1[k], j->k2[k], j->relu);
}

static void bwd_sums_task(void *ctx, long p, int tid)
{
    const norm_job *j = ctx;
    double *s = j->sums + 2 * p;
    long st = stat_of(j, p);
    (void)tid;
    s[0] = s[1] = 0;
    /* s[1] = sum g (x - mean): times rstd later */
    nn_ew()->gsums(j->dout + p * j->HW, j->relu ? j->out + p * j->HW : NULL, j->x + p * j->HW,
                j->HW, j->mean[st], &s[0], &s[1]);
}

static void bwd_apply_task(void *ctx, long p, int tid)
{
    const norm_job *j = ctx;
    long st = stat_of(j, p), k = j->per_group ? p : p % j->C;
    (void)tid;
    nn_ew()->gapply(j->y + p * j->HW, j->dout + p * j->HW, j->relu ? j->out + p * j->HW : NULL,
                 j->x + p * j->HW, j->HW, j->mean[st], j->k1[k], j->k2[k] * j->rstd[st],
                 j->k3[k]);
}

static nn_sum_fn bn_sum;  /* nn_set_bn_sum's; NULL: statistics of this process alone */
static int bn_sum_failed; /* a sum failed since nn_bn_sum_status last looked */

void nn_set_bn_sum(nn_sum_fn sum)
{
    bn_sum = sum;
}

int nn_bn_sum_status(void)
{
    int failed = bn_sum_failed;
    bn_sum_failed = 0;
    return failed ? -1 : 0;
}

/* v[0..n) := the sum over the job's processes (err_set and the sticky
 * failure on an error: the kernels return nothing). */
static int sum_all(double *v, int n)
{
    if (bn_sum(v, n)) {
        bn_sum_failed = 1;
        return -1;
    }
    return 0;
}

/* Work space: plane sums (B C x 2 doubles), 3 C + 2 doubles for the sums
 * across processes, and per-channel/plane floats. */
static void *work(int B, int C, int nfloats_per, double **sums, float **f)
{
    size_t ns = (size_t)B * C * 2 + 3 * (size_t)C + 2, nf = (size_t)nfloats_per * B * C;
    char *w = nn_scratch(ns * sizeof(double) + nf * sizeof(float) + 64);
    if (w) {
        *sums = (double *)w;
        *f = (float *)(w + ns * sizeof(double));
    }
    return w;
}

/* mu[c] and var[c] (biased): the mean and variance of channel c over all
 * processes, from this one's plane sums (shifted by m0), in two sums
 * across them: of the values and counts, giving the mean, then of the
 * squares about that mean, so that the variance keeps the shifted sums'
 * precision. ext: C + 1 doubles of work. *n := the values per channel of
 * all processes. */
static int moments_all(double *mu, double *var, double *n, double *ext, const double *sums, const float *m0, int B,
                       int C, int HW)
{
    const double nl = (double)B * HW;
    for (int c = 0; c < C; c++) {
        double s = 0;
        for (int b = 0; b < B; b++)
            s += sums[2 * ((long)b * C + c)];
        ext[c] = nl * m0[c] + s;
    }
    ext[C] = nl;
    if (sum_all(ext, C + 1))
        return -1;
    *n = ext[C];
    for (int c = 0; c < C; c++)
        mu[c] = ext[c] / *n;
    for (int c = 0; c < C; c++) {
        double s = 0, ss = 0, d = m0[c] - mu[c];
        for (int b = 0; b < B; b++)
            s += sums[2 * ((long)b * C + c)], ss += sums[2 * ((long)b * C + c) + 1];
        ext[c] = ss + 2 * d * s + nl * d * d; /* sum (x - mu)^2 of this process */
    }
    if (sum_all(ext, C))
        return -1;
    for (int c = 0; c < C; c++)
        var[c] = ext[c] / *n;
    return 0;
}

void batchnorm_forward(float *out, float *save_mean, float *save_rstd, float *running_mean,
                       float *running_var, const float *inp, const float *gamma, const float *beta,
                       int B, int C, int HW, float momentum, float eps, int training, int relu)
{
    double *sums;
    float *f;
    norm_job j = {.x = inp, .y = out, .C = C, .HW = HW, .relu = relu};
    if (!work(B, C, 3, &sums, &f))
        return;
    float *m0 = f, *sc = f + C, *sh = f + 2 * C;
    if (training) {
        for (int c = 0; c < C; c++) /* shift by a value of the channel: small squares */
            m0[c] = inp[(long)c * HW];
        j.sums = sums, j.m0 = m0;
        nn_parallel_work((long)B * C, HW, fwd_sums_task, &j);
    }
    /* with the hook: all processes' means and variances (C each) */
    double *all = sums + (size_t)B * C * 2, nall = 0;
    const int sync = training && bn_sum;
    if (sync && moments_all(all, all + C, &nall, all + 2 * C, sums, m0, B, C, HW))
        return;
    for (int c = 0; c < C; c++) {
        double mu, var, n = sync ? nall : (double)B * HW;
        if (training) {
            if (sync) {
                mu = all[c], var = all[C + c];
            } else {
                double s = 0, ss = 0;
                for (int b = 0; b < B; b++)
                    s += sums[2 * ((long)b * C + c)], ss += sums[2 * ((long)b * C + c) + 1];
                mu = m0[c] + s / n, var = ss / n - (s / n) * (s / n);
            }
            if (var < 0)
                var = 0;
            save_mean[c] = (float)mu;
            save_rstd[c] = (float)(1.0 / sqrt(var + eps));
            if (running_mean)
                running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mu);
            if (running_var)
                running_var[c] = (float)((1 - momentum) * running_var[c] +
                                         momentum * var * (n > 1 ? n / (n - 1) : 1));
        } else {
            mu = running_mean[c], var = running_var[c];
        }
        float rstd = (float)(1.0 / sqrt(var + eps));
        if (training)
            rstd = save_rstd[c];
        sc[c] = gamma[c] * rstd;
        sh[c] = beta[c] - (float)mu * sc[c];
    }
    j.k1 = sc, j.k2 = sh;
    nn_parallel_work((long)B * C, 2L * HW, affine_task, &j);
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *out, const float *save_mean,
                        const float *save_rstd, const float *running_var, const float *gamma,
                        int B, int C, int HW, float eps, int training, int relu)
{
    double *sums;
    float *f;
    norm_job j = {.x = inp, .dout = dout, .out = out, .y = dinp, .C = C, .HW = HW, .relu = relu,
                  .mean = save_mean};
    if (!work(B, C, 4, &sums, &f))
        return;
    float *rstd = f, *k1 = f + C, *k2 = f + 2 * C, *k3 = f + 3 * C;
    for (int c = 0; c < C; c++)
        rstd[c] = save_rstd ? save_rstd[c] : (float)(1.0 / sqrt((double)running_var[c] + eps));
    j.sums = sums, j.rstd = rstd;
    nn_parallel_work((long)B * C, 3L * HW, bwd_sums_task, &j);
    /* with the hook in training: dx takes all processes' sums of g and
     * g xhat (C each) and count; dgamma and dbeta this process's, which the
     * trainer reduces with the other gradients */
    double *all = sums + (size_t)B * C * 2, nall = (double)B * HW;
    const int sync = training && bn_sum;
    for (int c = 0; c < C; c++) {
        double sg = 0, sgx = 0;
        for (int b = 0; b < B; b++)
            sg += sums[2 * ((long)b * C + c)], sgx += sums[2 * ((long)b * C + c) + 1];
        all[c] = sg, all[C + c] = sgx * rstd[c];
    }
    all[2 * C] = nall;
    if (sync) {
        for (int c = 0; c < C; c++) {
            if (dgamma)
                dgamma[c] += (float)all[C + c];
            if (dbeta)
                dbeta[c] += (float)all[c];
        }
        if (sum_all(all, 2 * C + 1))
            return;
    }
    for (int c = 0; c < C; c++) {
        double sg = all[c], sgx = all[C + c], n = all[2 * C];
        if (!sync && dgamma)
            dgamma[c] += (float)sgx;
        if (!sync && dbeta)
            dbeta[c] += (float)sg;
        /* training: dx = gamma rstd (g - mean(g) - xhat mean(g xhat)) */
        k1[c] = gamma[c] * rstd[c];
        k2[c] = training ? (float)(-k1[c] * sgx / n) : 0.0f;
        k3[c] = training ? (float)(-k1[c] * sg / n) : 0.0f;
    }
    if (!dinp)
        return;
    j.k1 = k1, j.k2 = k2, j.k3 = k3;
    nn_parallel_work((long)B * C, 4L * HW, bwd_apply_task, &j);
}

void groupnorm_forward(float *out, float *save_mean, float *save_rstd, const float *inp,
                       const float *gamma, const float *beta, int B, int C, int HW, int G,
                       float eps, int relu)
{
    double *sums;
    float *f;
    int cg = C / G;
    norm_job j = {.x = inp, .y = out, .C = C, .HW = HW, .G = G, .relu = relu, .per_group = 1};
    if (!work(B, C, 3, &sums, &f))
        return;
    float *m0 = f, *sc = f + (long)B * C, *sh = f + 2L * B * C;
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++)
            m0[b * G + g] = inp[((long)b * C + (long)g * cg) * HW];
    j.sums = sums, j.m0 = m0;
    nn_parallel_work((long)B * C, HW, fwd_sums_task, &j);
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double s = 0, ss = 0, n = (double)cg * HW;
            for (int c = g * cg; c < (g + 1) * cg; c++)
                s += sums[2 * ((long)b * C + c)], ss += sums[2 * ((long)b * C + c) + 1];
            double mu = m0[b * G + g] + s / n, var = ss / n - (s / n) * (s / n);
            if (var < 0)
                var = 0;
            float mean = (float)mu, rstd = (float)(1.0 / sqrt(var + eps));
            save_mean[b * G + g] = mean;
            save_rstd[b * G + g] = rstd;
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                sc[(long)b * C + c] = gamma[c] * rstd;
                sh[(long)b * C + c] = beta[c] - mean * gamma[c] * rstd;
            }
        }
    j.k1 = sc, j.k2 = sh;
    nn_parallel_work((long)B * C, 2L * HW, affine_task, &j);
}

void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *out, const float *save_mean,
                        const float *save_rstd, const float *gamma, int B, int C, int HW, int G,
                        int relu)
{
    double *sums;
    float *f;
    int cg = C / G;
    norm_job j = {.x = inp, .dout = dout, .out = out, .y = dinp, .C = C, .HW = HW, .G = G,
                  .relu = relu, .per_group = 1, .mean = save_mean, .rstd = save_rstd};
    if (!work(B, C, 3, &sums, &f))
        return;
    float *k1 = f, *k2 = f + (long)B * C, *k3 = f + 2L * B * C;
    j.sums = sums;
    nn_parallel_work((long)B * C, 3L * HW, bwd_sums_task, &j);
    /* per plane: sums[0] = sum g, sums[1] = sum g (x - mean) */
    for (int c = 0; c < C; c++) {
        double a = 0, q = 0;
        for (int b = 0; b < B; b++) {
            a += sums[2 * ((long)b * C + c)];
            q += sums[2 * ((long)b * C + c) + 1] * save_rstd[b * G + c / cg];
        }
        if (dbeta)
            dbeta[c] += (float)a;
        if (dgamma)
            dgamma[c] += (float)q;
    }
    if (!dinp)
        return;
    /* dx = rstd (gamma g - mean_grp(gamma g) - xhat mean_grp(gamma g xhat)) */
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double a = 0, q = 0, n = (double)cg * HW;
            float rstd = save_rstd[b * G + g];
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                a += gamma[c] * sums[2 * ((long)b * C + c)];
                q += gamma[c] * sums[2 * ((long)b * C + c) + 1] * rstd;
            }
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                k1[(long)b * C + c] = gamma[c] * rstd;
                k2[(long)b * C + c] = (float)(-rstd * q / n); /* of xhat */
                k3[(long)b * C + c] = (float)(-rstd * a / n);
            }
        }
    j.k1 = k1, j.k2 = k2, j.k3 = k3;
    nn_parallel_work((long)B * C, 4L * HW, bwd_apply_task, &j);
}
