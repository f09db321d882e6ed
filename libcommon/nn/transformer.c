/* The transformer layers of nn.h: layer norm, GELU, attention, patches,
 * sine-cosine position embeddings. */
#include <math.h>
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"

#define ROWS 64 /* rows per task of the row-wise kernels */

/* ---- layer norm ---- */

typedef struct {
    float *out, *mean, *rstd;
    const float *inp, *w, *b, *dout;
    int N, C;
    float eps;
} ln_job;

static void ln_fwd_task(void *ctx, long k, int tid)
{
    const ln_job *j = ctx;
    const int C = j->C;
    (void)tid;
    for (long n = k * ROWS; n < NN_MIN((k + 1) * ROWS, j->N); n++) {
        const float *x = j->inp + n * C;
        float *o = j->out + n * C;
        double s = 0, ss = 0;
        for (int c = 0; c < C; c++)
            s += x[c];
        const double m = s / C;
        for (int c = 0; c < C; c++)
            ss += (x[c] - m) * (x[c] - m);
        const float rs = (float)(1 / sqrt(ss / C + j->eps)), mf = (float)m;
        for (int c = 0; c < C; c++)
            o[c] = (x[c] - mf) * rs * j->w[c] + j->b[c];
        j->mean[n] = mf;
        j->rstd[n] = rs;
    }
}

void layernorm_forward(float *out, float *save_mean, float *save_rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C, float eps)
{
    ln_job j = {out, save_mean, save_rstd, inp, weight, bias, NULL, N, C, eps};
    nn_parallel_work((N + ROWS - 1) / ROWS, 3L * ROWS * C, ln_fwd_task, &j);
}

/* dinp = rstd (g - mean(g) - xhat mean(g xhat)), g = dout * weight */
static void ln_bwd_task(void *ctx, long k, int tid)
{
    const ln_job *j = ctx;
    const int C = j->C;
    (void)tid;
    for (long n = k * ROWS; n < NN_MIN((k + 1) * ROWS, j->N); n++) {
        const float *x = j->inp + n * C, *d = j->dout + n * C, m = j->mean[n], rs = j->rstd[n];
        float *o = j->out + n * C;
        double sg = 0, sgx = 0;
        for (int c = 0; c < C; c++) {
            const double g = (double)d[c] * j->w[c];
            sg += g;
            sgx += g * (x[c] - m) * rs;
        }
        const float a = (float)(sg / C), b = (float)(sgx / C);
        for (int c = 0; c < C; c++)
            o[c] = rs * (d[c] * j->w[c] - a - (x[c] - m) * rs * b);
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *save_mean, const float *save_rstd,
                        const float *weight, int N, int C)
{
    if (dweight || dbias)
        for (int c = 0; c < C; c++) {
            double sw = 0, sb = 0;
            for (int n = 0; n < N; n++) {
                const float d = dout[(size_t)n * C + c];
                sw += (double)d * (inp[(size_t)n * C + c] - save_mean[n]) * save_rstd[n];
                sb += d;
            }
            if (dweight)
                dweight[c] += (float)sw;
            if (dbias)
                dbias[c] += (float)sb;
        }
    if (dinp) {
        ln_job j = {dinp, (float *)save_mean, (float *)save_rstd, inp, weight, NULL, dout, N, C, 0};
        nn_parallel_work((N + ROWS - 1) / ROWS, 4L * ROWS * C, ln_bwd_task, &j);
    }
}

/* ---- GELU ---- */

void gelu_forward(float *out, const float *inp, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = 0.5f * inp[i] * (1.0f + erff(inp[i] * (float)M_SQRT1_2));
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n)
{
    const float k = (float)(0.5 * M_2_SQRTPI * M_SQRT1_2); /* 1 / sqrt(2 pi) */
    for (size_t i = 0; i < n; i++) {
        const float x = inp[i];
        const float cdf = 0.5f * (1.0f + erff(x * (float)M_SQRT1_2)), pdf = k * expf(-0.5f * x * x);
        dinp[i] = dout[i] * (cdf + x * pdf);
    }
}

/* ---- attention ---- */

typedef struct {
    float *out, *att;
    const float *qkv, *dout;
    int T, C, NH;
} att_job;

/* one (sample, head): S = q k^T / sqrt(hs), att = softmax(S) by rows, out = att v */
static void att_fwd_task(void *ctx, long i, int tid)
{
    const att_job *j = ctx;
    const int T = j->T, C = j->C, NH = j->NH, hs = C / NH, b = (int)(i / NH), h = (int)(i % NH);
    const float *q = j->qkv + (size_t)b * T * 3 * C + h * hs, *k = q + C, *v = q + 2 * C;
    float *a = j->att + (size_t)i * T * T, *o = j->out + (size_t)b * T * C + h * hs;
    (void)tid;
    nn_gemm(0, 1, T, T, hs, (float)(1 / sqrt(hs)), q, 3 * C, k, 3 * C, 0.0f, a, T, 0);
    for (int t = 0; t < T; t++) {
        float *r = a + (size_t)t * T, mx = r[0];
        double z = 0;
        for (int u = 1; u < T; u++)
            mx = r[u] > mx ? r[u] : mx;
        for (int u = 0; u < T; u++) {
            r[u] = expf(r[u] - mx);
            z += r[u];
        }
        const float iz = (float)(1 / z);
        for (int u = 0; u < T; u++)
            r[u] *= iz;
    }
    nn_gemm(0, 0, T, hs, T, 1.0f, a, T, v, 3 * C, 0.0f, o, C, 0);
}

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH)
{
    att_job j = {out, att, qkv, NULL, T, C, NH};
    nn_parallel_work((long)B * NH, (long)T * T * (2L * C / NH / 16 + 3), att_fwd_task, &j);
}

/* dv = att^T dout; datt = dout v^T; dS = att (datt - rowsum(datt att));
 * dq = dS k / sqrt(hs); dk = dS^T q / sqrt(hs) */
static void att_bwd_task(void *ctx, long i, int tid)
{
    const att_job *j = ctx;
    const int T = j->T, C = j->C, NH = j->NH, hs = C / NH, b = (int)(i / NH), h = (int)(i % NH);
    const size_t off = (size_t)b * T * 3 * C + h * hs;
    const float *q = j->qkv + off, *k = q + C, *v = q + 2 * C, *a = j->att + (size_t)i * T * T;
    const float *dout = j->dout + (size_t)b * T * C + h * hs, sc = (float)(1 / sqrt(hs));
    float *dq = j->out + off, *dk = dq + C, *dv = dq + 2 * C;
    float *ds = nn_scratch((size_t)T * T * sizeof(float));
    (void)tid;
    nn_gemm(1, 0, T, hs, T, 1.0f, a, T, dout, C, 0.0f, dv, 3 * C, 0);
    nn_gemm(0, 1, T, T, hs, 1.0f, dout, C, v, 3 * C, 0.0f, ds, T, 0);
    for (int t = 0; t < T; t++) {
        const float *ar = a + (size_t)t * T;
        float *dr = ds + (size_t)t * T;
        double s = 0;
        for (int u = 0; u < T; u++)
            s += (double)dr[u] * ar[u];
        for (int u = 0; u < T; u++)
            dr[u] = ar[u] * (dr[u] - (float)s);
    }
    nn_gemm(0, 0, T, hs, T, sc, ds, T, k, 3 * C, 0.0f, dq, 3 * C, 0);
    nn_gemm(1, 0, T, hs, T, sc, ds, T, q, 3 * C, 0.0f, dk, 3 * C, 0);
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att, int B,
                        int T, int C, int NH)
{
    att_job j = {dqkv, (float *)att, qkv, dout, T, C, NH};
    nn_parallel_work((long)B * NH, (long)T * T * (4L * C / NH / 16 + 5), att_bwd_task, &j);
}

/* ---- patches ---- */

/* to_img 0: patches <- img; 1: img <- patches */
static void patch_copy(float *img, float *patches, int B, int C, int H, int W, int P, int to_img)
{
    const int gh = H / P, gw = W / P, D = C * P * P;
    for (int b = 0; b < B; b++)
        for (int gy = 0; gy < gh; gy++)
            for (int gx = 0; gx < gw; gx++) {
                float *row = patches + (((size_t)b * gh + gy) * gw + gx) * D;
                for (int c = 0; c < C; c++)
                    for (int py = 0; py < P; py++) {
                        float *im = img + (((size_t)b * C + c) * H + gy * P + py) * W + gx * P;
                        float *pr = row + ((size_t)c * P + py) * P;
                        if (to_img)
                            memcpy(im, pr, sizeof(float) * P);
                        else
                            memcpy(pr, im, sizeof(float) * P);
                    }
            }
}

void patchify(float *out, const float *inp, int B, int C, int H, int W, int P)
{
    patch_copy((float *)inp, out, B, C, H, W, P, 0);
}

void unpatchify(float *out, const float *patches, int B, int C, int H, int W, int P)
{
    patch_copy(out, (float *)patches, B, C, H, W, P, 1);
}

/* ---- position embeddings ---- */

void sincos_pos_embed_2d(float *out, int D, int gh, int gw)
{
    const int q = D / 4;
    for (int y = 0; y < gh; y++)
        for (int x = 0; x < gw; x++) {
            float *o = out + ((size_t)y * gw + x) * D;
            for (int k = 0; k < q; k++) {
                const double w = 1 / pow(10000.0, (double)k / q);
                o[k] = (float)sin(x * w);
                o[q + k] = (float)cos(x * w);
                o[2 * q + k] = (float)sin(y * w);
                o[3 * q + k] = (float)cos(y * w);
            }
        }
}
