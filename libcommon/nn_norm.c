/* Batch and group normalisation of nn.h (with optional fused ReLU).
 * Statistics are accumulated in double per (sample, channel) plane. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "nn.h"
#include "nn_impl.h"

/* sum and sum of squared deviations from m of x[0..n) */
static void plane_sums(const float *x, long n, double m, double *s, double *ss)
{
    float a[16] = {0}, q[16] = {0};
    float mf = (float)m;
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float d = x[i + j] - mf;
            a[j] += d;
            q[j] += d * d;
        }
    double sa = 0, sq = 0;
    for (; i < n; i++) {
        double d = x[i] - mf;
        sa += d;
        sq += d * d;
    }
    for (int j = 0; j < 16; j++) {
        sa += a[j];
        sq += q[j];
    }
    *s += sa;
    *ss += sq;
}

/* out = relu?(x * sc + sh) over n */
static void affine(float *out, const float *x, long n, float sc, float sh, int relu)
{
    if (relu)
        for (long i = 0; i < n; i++) {
            float v = x[i] * sc + sh;
            out[i] = v > 0 ? v : 0;
        }
    else
        for (long i = 0; i < n; i++)
            out[i] = x[i] * sc + sh;
}

void batchnorm_forward(float *out, float *save_mean, float *save_rstd, float *running_mean,
                       float *running_var, const float *inp, const float *gamma, const float *beta,
                       int B, int C, int HW, float momentum, float eps, int training, int relu)
{
#pragma omp parallel for num_threads(nn_threads()) schedule(static)
    for (int c = 0; c < C; c++) {
        float mean, rstd;
        if (training) {
            double s = 0, ss = 0, n = (double)B * HW, m0;
            /* shift by the first value to keep the squares small */
            m0 = inp[(long)c * HW];
            for (int b = 0; b < B; b++)
                plane_sums(inp + ((long)b * C + c) * HW, HW, m0, &s, &ss);
            double mu = m0 + s / n, var = ss / n - (s / n) * (s / n);
            if (var < 0)
                var = 0;
            mean = (float)mu;
            rstd = (float)(1.0 / sqrt(var + eps));
            save_mean[c] = mean;
            save_rstd[c] = rstd;
            if (running_mean)
                running_mean[c] = (float)((1 - momentum) * running_mean[c] + momentum * mu);
            if (running_var)
                running_var[c] = (float)((1 - momentum) * running_var[c] +
                                         momentum * var * (n > 1 ? n / (n - 1) : 1));
        } else {
            mean = running_mean[c];
            rstd = (float)(1.0 / sqrt((double)running_var[c] + eps));
        }
        float sc = gamma[c] * rstd, sh = beta[c] - mean * sc;
        for (int b = 0; b < B; b++) {
            long o = ((long)b * C + c) * HW;
            affine(out + o, inp + o, HW, sc, sh, relu);
        }
    }
}

/* sums of g and g * xhat over a plane, with g = dout gated by out > 0 if relu */
static void grad_sums(const float *dout, const float *out, const float *x, long n, float mean,
                      float rstd, int relu, double *sg, double *sgx)
{
    float a[16] = {0}, q[16] = {0};
    long i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) {
            float g = dout[i + j];
            if (relu && !(out[i + j] > 0))
                g = 0;
            a[j] += g;
            q[j] += g * (x[i + j] - mean) * rstd;
        }
    double s1 = 0, s2 = 0;
    for (; i < n; i++) {
        float g = dout[i];
        if (relu && !(out[i] > 0))
            g = 0;
        s1 += g;
        s2 += g * (x[i] - mean) * rstd;
    }
    for (int j = 0; j < 16; j++) {
        s1 += a[j];
        s2 += q[j];
    }
    *sg += s1;
    *sgx += s2;
}

/* dinp = k1 * g + k2 * xhat + k3, g gated as in grad_sums */
static void grad_apply(float *dinp, const float *dout, const float *out, const float *x, long n,
                       float mean, float rstd, int relu, float k1, float k2, float k3)
{
    for (long i = 0; i < n; i++) {
        float g = dout[i];
        if (relu && !(out[i] > 0))
            g = 0;
        dinp[i] = k1 * g + k2 * (x[i] - mean) * rstd + k3;
    }
}

void batchnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *out, const float *save_mean,
                        const float *save_rstd, const float *running_var, const float *gamma,
                        int B, int C, int HW, float eps, int training, int relu)
{
#pragma omp parallel for num_threads(nn_threads()) schedule(static)
    for (int c = 0; c < C; c++) {
        float mean = save_mean[c];
        float rstd = save_rstd ? save_rstd[c] : (float)(1.0 / sqrt((double)running_var[c] + eps));
        double sg = 0, sgx = 0, n = (double)B * HW;
        for (int b = 0; b < B; b++) {
            long o = ((long)b * C + c) * HW;
            grad_sums(dout + o, relu ? out + o : NULL, inp + o, HW, mean, rstd, relu, &sg, &sgx);
        }
        if (dgamma)
            dgamma[c] += (float)sgx;
        if (dbeta)
            dbeta[c] += (float)sg;
        if (!dinp)
            continue;
        /* training: dx = gamma rstd (g - mean(g) - xhat mean(g xhat)) */
        float k1 = gamma[c] * rstd;
        float k2 = training ? (float)(-k1 * sgx / n) : 0.0f;
        float k3 = training ? (float)(-k1 * sg / n) : 0.0f;
        for (int b = 0; b < B; b++) {
            long o = ((long)b * C + c) * HW;
            grad_apply(dinp + o, dout + o, relu ? out + o : NULL, inp + o, HW, mean, rstd, relu,
                       k1, k2, k3);
        }
    }
}

void groupnorm_forward(float *out, float *save_mean, float *save_rstd, const float *inp,
                       const float *gamma, const float *beta, int B, int C, int HW, int G,
                       float eps, int relu)
{
    int cg = C / G;
#pragma omp parallel for collapse(2) num_threads(nn_threads()) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            const float *x = inp + ((long)b * C + (long)g * cg) * HW;
            double s = 0, ss = 0, n = (double)cg * HW, m0 = x[0];
            for (int c = 0; c < cg; c++)
                plane_sums(x + (long)c * HW, HW, m0, &s, &ss);
            double mu = m0 + s / n, var = ss / n - (s / n) * (s / n);
            if (var < 0)
                var = 0;
            float mean = (float)mu, rstd = (float)(1.0 / sqrt(var + eps));
            save_mean[b * G + g] = mean;
            save_rstd[b * G + g] = rstd;
            for (int c = 0; c < cg; c++) {
                int ch = g * cg + c;
                float sc = gamma[ch] * rstd, sh = beta[ch] - mean * sc;
                long o = ((long)b * C + ch) * HW;
                affine(out + o, inp + o, HW, sc, sh, relu);
            }
        }
}

void groupnorm_backward(float *dinp, float *dgamma, float *dbeta, const float *dout,
                        const float *inp, const float *out, const float *save_mean,
                        const float *save_rstd, const float *gamma, int B, int C, int HW, int G,
                        int relu)
{
    int cg = C / G;
    /* per (b, c) sums of g and g xhat: dgamma/dbeta need them per channel,
     * dinp needs sum over the group of gamma * those */
    int nt = nn_threads();
    double *sums = nn_scratch((size_t)B * C * 2 * sizeof(double));
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
    for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++) {
            long o = ((long)b * C + c) * HW;
            int g = c / cg;
            double sg = 0, sgx = 0;
            grad_sums(dout + o, relu ? out + o : NULL, inp + o, HW, save_mean[b * G + g],
                      save_rstd[b * G + g], relu, &sg, &sgx);
            sums[2 * ((long)b * C + c)] = sg;
            sums[2 * ((long)b * C + c) + 1] = sgx;
        }
    for (int c = 0; c < C; c++) {
        double a = 0, q = 0;
        for (int b = 0; b < B; b++) {
            a += sums[2 * ((long)b * C + c)];
            q += sums[2 * ((long)b * C + c) + 1];
        }
        if (dbeta)
            dbeta[c] += (float)a;
        if (dgamma)
            dgamma[c] += (float)q;
    }
    if (!dinp)
        return;
    /* dx = rstd (gamma g - mean_grp(gamma g) - xhat mean_grp(gamma g xhat)) */
#pragma omp parallel for collapse(2) num_threads(nt) schedule(static)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < G; g++) {
            double a = 0, q = 0, n = (double)cg * HW;
            float mean = save_mean[b * G + g], rstd = save_rstd[b * G + g];
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                a += gamma[c] * sums[2 * ((long)b * C + c)];
                q += gamma[c] * sums[2 * ((long)b * C + c) + 1];
            }
            for (int c = g * cg; c < (g + 1) * cg; c++) {
                long o = ((long)b * C + c) * HW;
                float k1 = gamma[c] * rstd;
                grad_apply(dinp + o, dout + o, relu ? out + o : NULL, inp + o, HW, mean, rstd,
                           relu, k1, (float)(-rstd * q / n), (float)(-rstd * a / n));
            }
        }
}
