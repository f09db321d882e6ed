/* Convolutions of nn.h: conv2d (also over a two-tensor concatenation) and
 * the 2x2 stride-2 transposed convolution. The general path is im2col + GEMM
 * per image; 3x3 stride-1 convolutions take Winograd's F(2x2, 3x3)
 * (winograd.c) where it is faster, else the direct kernels of conv_direct.c,
 * when the instruction set has them. */
#include <string.h>

#include "core/err.h"
#include "nn/internal.h"
#include "nn/nn.h"

/* col (C*K*K, OH*OW) from one image inp (C, H, W). */
static void im2col(float *col, const float *inp, int C, int H, int W, int K, int stride, int pad,
                   int OH, int OW)
{
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *dst = col + ((long)(c * K + ky) * K + kx) * OH * OW;
                const float *src = inp + (long)c * H * W;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + ky;
                    float *d = dst + (long)oy * OW;
                    if (iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *s = src + (long)iy * W;
                    if (stride == 1) {
                        int x0 = pad - kx, lo = NN_MAX(0, x0), hi = NN_MIN(OW, W + x0);
                        /* ox in [lo, hi) reads s[ox - x0] */
                        for (int ox = 0; ox < lo && ox < OW; ox++)
                            d[ox] = 0;
                        if (hi > lo)
                            memcpy(d + lo, s + lo - x0, (size_t)(hi - lo) * sizeof(float));
                        for (int ox = NN_MAX(hi, lo); ox < OW; ox++)
                            d[ox] = 0;
                    } else {
                        for (int ox = 0; ox < OW; ox++) {
                            int ix = ox * stride - pad + kx;
                            d[ox] = ix >= 0 && ix < W ? s[ix] : 0.0f;
                        }
                    }
                }
            }
}

/* dinp (C, H, W) += col2im(col) */
static void col2im_add(float *dinp, const float *col, int C, int H, int W, int K, int stride,
                       int pad, int OH, int OW)
{
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *src = col + ((long)(c * K + ky) * K + kx) * OH * OW;
                float *dst = dinp + (long)c * H * W;
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *s = src + (long)oy * OW;
                    float *d = dst + (long)iy * W;
                    for (int ox = 0; ox < OW; ox++) {
                        int ix = ox * stride - pad + kx;
                        if (ix >= 0 && ix < W)
                            d[ix] += s[ox];
                    }
                }
            }
}

/* Is the input of this layer its own im2col matrix? (1x1, stride 1, no pad) */
static int is_pointwise(int K, int stride, int pad)
{
    return K == 1 && stride == 1 && pad == 0;
}

/* One image of the general forward: out_b (OC, P) (=) from inputs 1 and 2. */
static void conv_fwd_image(float *out, const float *in1, int C1, const float *in2, int C2,
                           const float *weight, const float *bias, int H, int W, int OC, int K,
                           int stride, int pad, int OH, int OW, float *col, int threaded)
{
    int P = OH * OW, KK = K * K, ldw = (C1 + C2) * KK;
    const float *src[2] = {in1, in2};
    int cs[2] = {C1, C2};
    float beta = 0;
    for (int s = 0; s < 2; s++) {
        const float *B;
        if (cs[s] == 0)
            continue;
        if (is_pointwise(K, stride, pad))
            B = src[s];
        else {
            im2col(col, src[s], cs[s], H, W, K, stride, pad, OH, OW);
            B = col;
        }
        nn_gemm(0, 0, OC, P, cs[s] * KK, 1.0f, weight + (s ? C1 * KK : 0), ldw, B, P, beta, out,
                P, threaded);
        beta = 1;
    }
    if (beta == 0)
        memset(out, 0, (size_t)OC * P * sizeof(float));
    if (bias)
        for (int oc = 0; oc < OC; oc++)
            for (int p = 0; p < P; p++)
                out[(long)oc * P + p] += bias[oc];
}

typedef struct {
    float *out;
    const float *in1;
    int C1;
    const float *in2;
    int C2;
    const float *weight, *bias;
    int H, W, OC, K, stride, pad, OH, OW;
    long isz1, isz2, osz;
    size_t colsz;
} conv_img_job;

/* One image per task, on the task's thread's scratch. */
static void conv_img_task(void *ctx, long b, int tid)
{
    const conv_img_job *j = ctx;
    float *col = j->colsz ? nn_scratch(j->colsz * sizeof(float)) : NULL;
    (void)tid;
    conv_fwd_image(j->out + b * j->osz, j->in1 + b * j->isz1, j->C1,
                   j->in2 ? j->in2 + b * j->isz2 : NULL, j->C2, j->weight, j->bias, j->H, j->W,
                   j->OC, j->K, j->stride, j->pad, j->OH, j->OW, col, 0);
}


/* The direct kernels declined a layer on a CPU where they run (a plane
 * that is not a multiple of 16 pixels, a channel count that is not a
 * multiple of their block, no scratch memory): the im2col + GEMM path
 * computes it instead, slower. Said once per process at -v. */
static void note_fallback(const char *what, int H, int W)
{
    static int said;
    if (nn_isa_active() != NN_ISA_AVX512 || said)
        return;
    said = 1;
    log_info("%s on a %dx%d plane: the direct AVX-512 kernel does not take it (see conv_direct.c), "
             "im2col + GEMM instead (said once)",
             what, H, W);
}

void conv2d_cat_forward(float *out, const float *inp1, int C1, const float *inp2, int C2,
                        const float *weight, const float *bias, int B, int H, int W, int OC, int K,
                        int stride, int pad)
{
    int OH = conv_out_size(H, K, stride, pad), OW = conv_out_size(W, K, stride, pad);
    long isz1 = (long)C1 * H * W, isz2 = (long)C2 * H * W, osz = (long)OC * OH * OW;
    size_t colsz = is_pointwise(K, stride, pad) ? 0 : (size_t)NN_MAX(C1, C2) * K * K * OH * OW;
    int nt = nn_threads();
    if (K == 3 && stride == 1 && pad == 1 && wg_wanted(B, C1 + C2, H, W, OC) &&
        wg_forward(out, inp1, C1, inp2, C2, weight, bias, B, H, W, OC) == 0)
        return;
    if (stride == 1 && pad == K / 2) {
        if (conv_direct_forward(out, inp1, C1, inp2, C2, weight, bias, B, H, W, OC, K) == 0)
            return;
        note_fallback("convolution", H, W);
    }
    if (B >= nt && nt > 1) {
        conv_img_job j = {out, inp1, C1, inp2, C2, weight, bias, H, W, OC, K, stride, pad,
                          OH, OW, isz1, isz2, osz, colsz};
        nn_parallel(B, conv_img_task, &j);
    } else {
        float *col = colsz ? nn_scratch(colsz * sizeof(float)) : NULL;
        for (int b = 0; b < B; b++)
            conv_fwd_image(out + b * osz, inp1 + b * isz1, C1, inp2 ? inp2 + b * isz2 : NULL, C2,
                           weight, bias, H, W, OC, K, stride, pad, OH, OW, col, 1);
    }
}

void conv2d_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                    int C, int H, int W, int OC, int K, int stride, int pad)
{
    conv2d_cat_forward(out, inp, C, NULL, 0, weight, bias, B, H, W, OC, K, stride, pad);
}

typedef struct {
    float *dbias;
    const float *dout;
    int B, OC, P;
} bias_job;

static void bias_task(void *ctx, long oc, int tid)
{
    const bias_job *j = ctx;
    double s = 0;
    (void)tid;
    for (int b = 0; b < j->B; b++)
        s += nn_ew()->sum(j->dout + ((long)b * j->OC + oc) * j->P, j->P);
    j->dbias[oc] += (float)s;
}

static void bias_grad(float *dbias, const float *dout, int B, int OC, int P)
{
    bias_job j = {dbias, dout, B, OC, P};
    nn_parallel(OC, bias_task, &j);
}

void conv2d_cat_backward(float *dinp1, float *dinp2, float *dweight, float *dbias,
                         const float *dout, const float *inp1, int C1, const float *inp2, int C2,
                         const float *weight, int B, int H, int W, int OC, int K, int stride,
                         int pad)
{
    int OH = conv_out_size(H, K, stride, pad), OW = conv_out_size(W, K, stride, pad);
    int P = OH * OW, KK = K * K, ldw = (C1 + C2) * KK;
    long osz = (long)OC * P;
    const float *src[2] = {inp1, inp2};
    float *dsrc[2] = {dinp1, dinp2};
    int cs[2] = {C1, C2};
    float *col = NULL;
    if (dbias)
        bias_grad(dbias, dout, B, OC, P);
    if (K == 3 && stride == 1 && pad == 1 && wg_wanted(B, C1 + C2, H, W, OC) &&
        wg_backward(dinp1, dinp2, dweight, dout, inp1, C1, inp2, C2, weight, B, H, W, OC) == 0)
        return;
    if (stride == 1 && pad == K / 2) {
        if (conv_direct_backward(dinp1, dinp2, dweight, dout, inp1, C1, inp2, C2, weight, B, H, W, OC, K) == 0)
            return;
        note_fallback("convolution backward", H, W);
    }
    if (!is_pointwise(K, stride, pad))
        col = nn_scratch((size_t)NN_MAX(C1, C2) * KK * P * sizeof(float));
    for (int s = 0; s < 2; s++) {
        long isz = (long)cs[s] * H * W;
        if (cs[s] == 0 || !src[s])
            continue;
        for (int b = 0; b < B; b++) {
            const float *dob = dout + b * osz;
            if (dweight) {
                const float *Bm = src[s] + b * isz;
                if (col) {
                    im2col(col, Bm, cs[s], H, W, K, stride, pad, OH, OW);
                    Bm = col;
                }
                nn_gemm(0, 1, OC, cs[s] * KK, P, 1.0f, dob, P, Bm, P, 1.0f,
                        dweight + (s ? C1 * KK : 0), ldw, 1);
            }
            if (dsrc[s]) {
                float *db = dsrc[s] + b * isz;
                if (col) {
                    nn_gemm(1, 0, cs[s] * KK, P, OC, 1.0f, weight + (s ? C1 * KK : 0), ldw, dob, P,
                            0.0f, col, P, 1);
                    memset(db, 0, (size_t)isz * sizeof(float));
                    col2im_add(db, col, cs[s], H, W, K, stride, pad, OH, OW);
                } else {
                    nn_gemm(1, 0, cs[s], P, OC, 1.0f, weight + (s ? C1 : 0), ldw, dob, P, 0.0f,
                            db, P, 1);
                }
            }
        }
    }
}

void conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int B, int C, int H, int W, int OC,
                     int K, int stride, int pad)
{
    conv2d_cat_backward(dinp, NULL, dweight, dbias, dout, inp, C, NULL, 0, weight, B, H, W, OC, K,
                        stride, pad);
}

/* ---- transposed convolution 2x2 / 2 ---- */

typedef struct {
    float *o;
    float *t;
    const float *bias;
    int H, W, OC;
} convt_job;

/* out plane oc (2H, 2W) from t ((oc, dy, dx), H W) + bias */
static void convt_scatter_task(void *ctx, long oc, int tid)
{
    const convt_job *j = ctx;
    int H = j->H, W = j->W, OW = 2 * W;
    long P = (long)H * W;
    float bv = j->bias ? j->bias[oc] : 0.0f;
    (void)tid;
    for (int y = 0; y < H; y++)
        for (int dy = 0; dy < 2; dy++) {
            float *o = j->o + ((long)oc * 2 * H + 2 * y + dy) * OW;
            const float *t0 = j->t + ((long)(oc * 4 + dy * 2) * P) + (long)y * W;
            const float *t1 = t0 + P;
            for (int x = 0; x < W; x++) {
                o[2 * x] = t0[x] + bv;
                o[2 * x + 1] = t1[x] + bv;
            }
        }
}

/* t ((oc, dy, dx), H W) from dout plane oc */
static void convt_gather_task(void *ctx, long oc, int tid)
{
    const convt_job *j = ctx;
    int H = j->H, W = j->W, OW = 2 * W;
    long P = (long)H * W;
    (void)tid;
    for (int y = 0; y < H; y++)
        for (int dy = 0; dy < 2; dy++) {
            const float *o = j->o + ((long)oc * 2 * H + 2 * y + dy) * OW;
            float *t0 = j->t + ((long)(oc * 4 + dy * 2) * P) + (long)y * W, *t1 = t0 + P;
            for (int x = 0; x < W; x++) {
                t0[x] = o[2 * x];
                t1[x] = o[2 * x + 1];
            }
        }
}

void convt2x2_forward(float *out, const float *inp, const float *weight, const float *bias,
                      int B, int C, int H, int W, int OC)
{
    if (conv_direct_convt_forward(out, inp, weight, bias, B, C, H, W, OC) == 0)
        return;
    note_fallback("up-convolution", H, W);
    int P = H * W;
    float *t = nn_scratch((size_t)OC * 4 * P * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *ib = inp + (long)b * C * P;
        float *ob = out + (long)b * OC * 4 * P;
        /* t ((oc, dy, dx), P) = weight^T ((oc,dy,dx), C) inp_b (C, P) */
        nn_gemm(1, 0, OC * 4, P, C, 1.0f, weight, OC * 4, ib, P, 0.0f, t, P, 1);
        convt_job j = {ob, t, bias, H, W, OC};
        nn_parallel(OC, convt_scatter_task, &j);
    }
}

void convt2x2_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                       const float *inp, const float *weight, int B, int C, int H, int W, int OC)
{
    int P = H * W;
    if (dbias)
        bias_grad(dbias, dout, B, OC, 4 * P);
    if (!dweight && !dinp)
        return;
    if (conv_direct_convt_backward(dinp, dweight, dout, inp, weight, B, C, H, W, OC) == 0)
        return;
    note_fallback("up-convolution backward", H, W);
    float *t = nn_scratch((size_t)OC * 4 * P * sizeof(float));
    for (int b = 0; b < B; b++) {
        const float *db = dout + (long)b * OC * 4 * P;
        /* gather dt ((oc, dy, dx), P) from dout_b (OC, 2H, 2W) */
        convt_job j = {(float *)db, t, NULL, H, W, OC};
        nn_parallel(OC, convt_gather_task, &j);
        if (dweight) /* dweight (C, OC*4) += inp_b (C, P) dt^T */
            nn_gemm(0, 1, C, OC * 4, P, 1.0f, inp + (long)b * C * P, P, t, P, 1.0f, dweight,
                    OC * 4, 1);
        if (dinp) /* dinp_b (C, P) = weight (C, OC*4) dt (OC*4, P) */
            nn_gemm(0, 0, C, P, OC * 4, 1.0f, weight, OC * 4, t, P, 0.0f, dinp + (long)b * C * P,
                    P, 1);
    }
}
