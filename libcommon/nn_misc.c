/* Element-wise layers, pooling, concatenation and the linear layer of nn.h. */
#include <omp.h>
#include <string.h>

#include "nn.h"
#include "nn_impl.h"

#define PAR_MIN 32768 /* elements below which threads cost more than they give */

void relu_forward(float *out, const float *inp, size_t n)
{
#pragma omp parallel for num_threads(nn_threads()) schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = inp[i] > 0 ? inp[i] : 0.0f;
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
#pragma omp parallel for num_threads(nn_threads()) schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dinp[i] = out[i] > 0 ? dout[i] : 0.0f;
}

void add_forward(float *out, const float *a, const float *b, size_t n)
{
#pragma omp parallel for num_threads(nn_threads()) schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        out[i] = a[i] + b[i];
}

void add_inplace(float *dst, const float *src, size_t n)
{
#pragma omp parallel for num_threads(nn_threads()) schedule(static) if (n > PAR_MIN)
    for (size_t i = 0; i < n; i++)
        dst[i] += src[i];
}

void maxpool2x2_forward(float *out, const float *inp, int B, int C, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    long planes = (long)B * C;
#pragma omp parallel for num_threads(nn_threads()) schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *x = inp + p * H * W;
        float *o = out + p * OH * OW;
        for (int y = 0; y < OH; y++) {
            const float *r0 = x + (long)2 * y * W, *r1 = r0 + W;
            for (int xo = 0; xo < OW; xo++) {
                /* PyTorch's order: row-major in the window, first max wins, NaN wins */
                float m = r0[2 * xo], v;
                v = r0[2 * xo + 1];
                if (v > m || v != v)
                    m = v;
                v = r1[2 * xo];
                if (v > m || v != v)
                    m = v;
                v = r1[2 * xo + 1];
                if (v > m || v != v)
                    m = v;
                o[(long)y * OW + xo] = m;
            }
        }
    }
}

void maxpool2x2_backward(float *dinp, const float *dout, const float *inp, const float *out,
                         int B, int C, int H, int W)
{
    int OH = H / 2, OW = W / 2;
    long planes = (long)B * C;
#pragma omp parallel for num_threads(nn_threads()) schedule(static)
    for (long p = 0; p < planes; p++) {
        const float *x = inp + p * H * W;
        const float *o = out + p * OH * OW, *d = dout + p * OH * OW;
        float *dx = dinp + p * H * W;
        for (int y = 0; y < OH; y++) {
            const float *r0 = x + (long)2 * y * W, *r1 = r0 + W;
            float *d0 = dx + (long)2 * y * W, *d1 = d0 + W;
            for (int xo = 0; xo < OW; xo++) {
                float m = o[(long)y * OW + xo], g = d[(long)y * OW + xo];
                /* the first element of the window that equals the max (or is NaN) */
                int k = r0[2 * xo] == m || (m != m && r0[2 * xo] != r0[2 * xo])           ? 0
                        : r0[2 * xo + 1] == m || (m != m && r0[2 * xo + 1] != r0[2 * xo + 1]) ? 1
                        : r1[2 * xo] == m || (m != m && r1[2 * xo] != r1[2 * xo])         ? 2
                                                                                          : 3;
                d0[2 * xo] = k == 0 ? g : 0.0f;
                d0[2 * xo + 1] = k == 1 ? g : 0.0f;
                d1[2 * xo] = k == 2 ? g : 0.0f;
                d1[2 * xo + 1] = k == 3 ? g : 0.0f;
            }
        }
    }
}

void concat_forward(float *out, const float *a, const float *b, int B, int Ca, int Cb, int HW)
{
    size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int i = 0; i < B; i++) {
        memcpy(out + i * (na + nb), a + i * na, na * sizeof(float));
        memcpy(out + i * (na + nb) + na, b + i * nb, nb * sizeof(float));
    }
}

void concat_backward(float *da, float *db, const float *dout, int B, int Ca, int Cb, int HW)
{
    size_t na = (size_t)Ca * HW, nb = (size_t)Cb * HW;
    for (int i = 0; i < B; i++) {
        if (da)
            memcpy(da + i * na, dout + i * (na + nb), na * sizeof(float));
        if (db)
            memcpy(db + i * nb, dout + i * (na + nb) + na, nb * sizeof(float));
    }
}

void avgpool_forward(float *out, const float *inp, int B, int C, int HW)
{
    for (long p = 0; p < (long)B * C; p++) {
        double s = 0;
        for (int i = 0; i < HW; i++)
            s += inp[p * HW + i];
        out[p] = (float)(s / HW);
    }
}

void avgpool_backward(float *dinp, const float *dout, int B, int C, int HW)
{
    for (long p = 0; p < (long)B * C; p++) {
        float g = dout[p] / (float)HW;
        for (int i = 0; i < HW; i++)
            dinp[p * HW + i] = g;
    }
}

void linear_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                    int IN, int OUT)
{
    /* out (B, OUT) = inp (B, IN) weight^T (IN, OUT) */
    nn_gemm(0, 1, B, OUT, IN, 1.0f, inp, IN, weight, IN, 0.0f, out, OUT, 1);
    if (bias)
        for (int b = 0; b < B; b++)
            for (int o = 0; o < OUT; o++)
                out[(long)b * OUT + o] += bias[o];
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int B, int IN, int OUT)
{
    if (dbias)
        for (int o = 0; o < OUT; o++) {
            double s = 0;
            for (int b = 0; b < B; b++)
                s += dout[(long)b * OUT + o];
            dbias[o] += (float)s;
        }
    if (dweight) /* dweight (OUT, IN) += dout^T (OUT, B) inp (B, IN) */
        nn_gemm(1, 0, OUT, IN, B, 1.0f, dout, OUT, inp, IN, 1.0f, dweight, IN, 1);
    if (dinp) /* dinp (B, IN) = dout (B, OUT) weight (OUT, IN) */
        nn_gemm(0, 0, B, IN, OUT, 1.0f, dout, OUT, weight, IN, 0.0f, dinp, IN, 1);
}
