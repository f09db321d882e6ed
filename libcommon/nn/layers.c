/* Element-wise layers, pooling, concatenation and the linear layer of nn.h. */
#include <stdint.h>
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"

/* Element-wise work in chunks of 16K elements (64 KB) over the pool. */
#define CHUNK 16384L

enum { EW_RELU, EW_RELU_BWD, EW_ADD, EW_ADD_RELU, EW_RELU_BWD2 };

typedef struct {
    int op;
    float *out, *out2; /* out2: EW_RELU_BWD2's copy */
    const float *a, *b;
    long n;
} ew_job;

static void ew_task(void *ctx, long k, int tid)
{
    const ew_job *j = ctx;
    const nn_ew_ops *e = nn_ew();
    long o = k * CHUNK, len = NN_MIN(CHUNK, j->n - o);
    (void)tid;
    /* the fused ops run the second op on the chunk while it is in L1/L2:
     * the same arithmetic as the two calls, one pass over memory */
    switch (j->op) {
    case EW_RELU:
        e->relu(j->out + o, j->a + o, len);
        break;
    case EW_RELU_BWD:
    case EW_RELU_BWD2:
        e->relu_bwd(j->out + o, j->a + o, j->b + o, len);
        if (j->op == EW_RELU_BWD2)
            memcpy(j->out2 + o, j->out + o, (size_t)len * sizeof(float));
        break;
    case EW_ADD:
    case EW_ADD_RELU:
        e->add(j->out + o, j->a + o, j->b + o, len);
        if (j->op == EW_ADD_RELU)
            e->relu(j->out + o, j->out + o, len);
    }
}

static void ew_run(int op, float *out, float *out2, const float *a, const float *b, size_t n)
{
    ew_job j = {op, out, out2, a, b, (long)n};
    /* a chunk reads one or two arrays and writes one (or two): 3 floats
     * per element */
    nn_parallel_work(((long)n + CHUNK - 1) / CHUNK, 3 * CHUNK, ew_task, &j);
}

void relu_forward(float *out, const float *inp, size_t n)
{
    ew_run(EW_RELU, out, NULL, inp, NULL, n);
}

void relu_backward(float *dinp, const float *dout, const float *out, size_t n)
{
    ew_run(EW_RELU_BWD, dinp, NULL, dout, out, n);
}

void relu_backward2(float *dinp, float *dcopy, const float *dout, const float *out, size_t n)
{
    ew_run(EW_RELU_BWD2, dinp, dcopy, dout, out, n);
}

void add_forward(float *out, const float *a, const float *b, size_t n)
{
    ew_run(EW_ADD, out, NULL, a, b, n);
}

void add_relu_forward(float *out, const float *a, const float *b, size_t n)
{
    ew_run(EW_ADD_RELU, out, NULL, a, b, n);
}

void add_inplace(float *dst, const float *src, size_t n)
{
    ew_run(EW_ADD, dst, NULL, dst, src, n);
}

typedef struct {
    float *out;
    const float *inp, *dout, *pooled;
    int H, W;
} pool_job;

static void pool_fwd_task(void *ctx, long p, int tid)
{
    const pool_job *j = ctx;
    const nn_ew_ops *e = nn_ew();
    int H = j->H, W = j->W, OH = H / 2, OW = W / 2;
    const float *x = j->inp + p * H * W;
    float *o = j->out + p * OH * OW;
    (void)tid;
    /* PyTorch's order: row-major in the window, first max wins, NaN wins */
    for (int y = 0; y < OH; y++)
        e->maxpool_row(o + (long)y * OW, x + (long)2 * y * W, x + (long)(2 * y + 1) * W, OW);
}

void maxpool2x2_forward(float *out, const float *inp, int B, int C, int H, int W)
{
    pool_job j = {out, inp, NULL, NULL, H, W};
    nn_parallel_work((long)B * C, 2L * H * W, pool_fwd_task, &j);
}

static void pool_bwd_task(void *ctx, long p, int tid)
{
    const pool_job *j = ctx;
    const nn_ew_ops *e = nn_ew();
    int H = j->H, W = j->W, OH = H / 2, OW = W / 2;
    const float *x = j->inp + p * H * W, *o = j->pooled + p * OH * OW, *d = j->dout + p * OH * OW;
    float *dx = j->out + p * H * W;
    (void)tid;
    for (int y = 0; y < OH; y++)
        e->maxpool_bwd_row(dx + (long)2 * y * W, dx + (long)(2 * y + 1) * W,
                           x + (long)2 * y * W, x + (long)(2 * y + 1) * W, o + (long)y * OW,
                           d + (long)y * OW, OW);
}

void maxpool2x2_backward(float *dinp, const float *dout, const float *inp, const float *out,
                         int B, int C, int H, int W)
{
    pool_job j = {dinp, inp, dout, out, H, W};
    nn_parallel_work((long)B * C, 3L * H * W, pool_bwd_task, &j);
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

#define ARGMAX_TILE 64

void channel_argmax(uint8_t *pred, const float *logits, int N, int C, int HW)
{
    for (int n = 0; n < N; n++) {
        const float *zn = logits + (size_t)n * C * HW;
        uint8_t *pn = pred + (size_t)n * HW;
        for (int j0 = 0; j0 < HW; j0 += ARGMAX_TILE) {
            int m = HW - j0 < ARGMAX_TILE ? HW - j0 : ARGMAX_TILE;
            float best[ARGMAX_TILE];
            for (int j = 0; j < m; j++) {
                best[j] = zn[j0 + j];
                pn[j0 + j] = 0;
            }
            for (int c = 1; c < C; c++) {
                const float *zc = zn + (size_t)c * HW + j0;
                for (int j = 0; j < m; j++)
                    if (zc[j] > best[j]) {
                        best[j] = zc[j];
                        pn[j0 + j] = (uint8_t)c;
                    }
            }
        }
    }
}
