/* Convolutions of nn.h: conv2d (also over a two-tensor concatenation) and
 * the 2x2 stride-2 transposed convolution. The general path is im2col + GEMM
 * over a chunk of images; 3x3 stride-1 convolutions take Winograd's F(2x2, 3x3)
 * (winograd.c) where it is faster, else the direct kernels of conv_direct.c
 * (on small planes with the batch folded, conv_fold_*), and 3x3 stride-2
 * ones the same kernels over the input's phases (conv_s2_*), when the
 * instruction set has them. */
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "nn/internal.h"
#include "nn/nn.h"

/* The output columns ox in [*lo, *hi) of a row whose input column
 * ox * stride + x0 lies inside [0, W). */
static void row_range(int W, int OW, int stride, int x0, int *lo, int *hi)
{
    int l = x0 >= 0 ? 0 : (-x0 + stride - 1) / stride;
    int h = W - 1 - x0 < 0 ? 0 : (W - 1 - x0) / stride + 1;
    *lo = NN_MIN(l, OW);
    *hi = NN_MAX(*lo, NN_MIN(h, OW));
}

/* col (C*K*K, OH*OW), row stride ldc, from one image inp (C, H, W); inp
 * NULL stands for zeros. */
static void im2col(float *col, long ldc, const float *inp, int C, int H, int W, int K, int stride,
                   int pad, int OH, int OW)
{
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                float *dst = col + ((long)(c * K + ky) * K + kx) * ldc;
                const float *src = inp ? inp + (long)c * H * W : NULL;
                int x0 = kx - pad, lo, hi;
                row_range(W, OW, stride, x0, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + ky;
                    float *d = dst + (long)oy * OW;
                    if (!src || iy < 0 || iy >= H) {
                        memset(d, 0, (size_t)OW * sizeof(float));
                        continue;
                    }
                    const float *s = src + (long)iy * W + x0; /* d[ox] = s[ox * stride] */
                    for (int ox = 0; ox < lo; ox++)
                        d[ox] = 0;
                    if (stride == 1)
                        for (int ox = lo; ox < hi; ox++)
                            d[ox] = s[ox];
                    else if (stride == 2)
                        for (int ox = lo; ox < hi; ox++)
                            d[ox] = s[2 * ox];
                    else
                        for (int ox = lo; ox < hi; ox++)
                            d[ox] = s[(long)ox * stride];
                    for (int ox = hi; ox < OW; ox++)
                        d[ox] = 0;
                }
            }
}

/* dinp (C, H, W) += col2im(col), col's row stride ldc */
static void col2im_add(float *dinp, const float *col, long ldc, int C, int H, int W, int K,
                       int stride, int pad, int OH, int OW)
{
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++) {
                const float *src = col + ((long)(c * K + ky) * K + kx) * ldc;
                float *dst = dinp + (long)c * H * W;
                int x0 = kx - pad, lo, hi;
                row_range(W, OW, stride, x0, &lo, &hi);
                for (int oy = 0; oy < OH; oy++) {
                    int iy = oy * stride - pad + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *s = src + (long)oy * OW;
                    float *d = dst + (long)iy * W + x0; /* d[ox * stride] += s[ox] */
                    if (stride == 1)
                        for (int ox = lo; ox < hi; ox++)
                            d[ox] += s[ox];
                    else if (stride == 2)
                        for (int ox = lo; ox < hi; ox++)
                            d[2 * ox] += s[ox];
                    else
                        for (int ox = lo; ox < hi; ox++)
                            d[(long)ox * stride] += s[ox];
                }
            }
}

/* ---- the general path: im2col over a chunk of images ----
 *
 * Every convolution that Winograd and the direct kernels do not take (the
 * 1x1 stride-2 shortcut, strides other than 1 and 2, 7x7, planes whose
 * pixels fill no whole vector even over the batch, instruction sets
 * without the direct kernels). im2col turns each image into a
 * matrix of Ct K K rows (Ct = C1 + C2: input 1's rows, then input 2's, as
 * in the weight) by OH OW columns, and the convolution becomes a product
 * with the weight (OC, Ct K K). Two layouts of a chunk of nb images:
 *
 *   direct  image by image, (nb, Ct K K, OH OW): the im2col matrices read
 *           as images of Ct K K channels, whose 1x1 convolution the direct
 *           kernels compute without packing them again (a GEMM would copy
 *           the large matrix once more for a product with few rows: 16
 *           output channels run at 14 GFLOP/s that way, 3x slower). Needs
 *           AVX-512 and OH OW a multiple of 16.
 *   gemm    side by side, (Ct K K, nb OH OW), so that one GEMM with N =
 *           nb OH OW does the work of nb narrow ones (a 6x6 plane gives 36
 *           columns alone); the chunk's outputs (or their gradients) sit
 *           likewise in t (OC, nb OH OW).
 *
 * nb is as large as the batch within im2col_budget() bytes of scratch. */

static size_t im2col_budget(void)
{
    const char *e = getenv("LRCPIPE_IM2COL_BYTES"); /* the tests make chunks small */
    return e && *e ? (size_t)atof(e) : (size_t)16 << 20;
}

typedef struct {
    float *col, *t; /* im2col matrices, (OC, nb P) (gemm layout) */
    long ld, istride; /* col's row stride, and where image i's columns start */
    float *out;     /* forward: (B, OC, OH, OW) */
    const float *bias;
    const float *in[2];
    float *din[2]; /* backward: (B, C_s, H, W), written */
    const float *dout;
    int C[2], H, W, OC, K, stride, pad, OH, OW, b0, nb;
} gen_job;

/* col's layout for the current chunk: direct (image by image) or gemm */
/* work of one image's im2col, col2im, gather or scatter: its column block */
static long gen_item_work(const gen_job *j)
{
    return 2L * (j->C[0] + j->C[1]) * j->K * j->K * j->OH * j->OW;
}

static void gen_layout(gen_job *j, int direct)
{
    long P = (long)j->OH * j->OW, rows = (long)(j->C[0] + j->C[1]) * j->K * j->K;
    j->ld = direct ? P : j->nb * P;
    j->istride = direct ? rows * P : P;
}

static void gen_im2col_task(void *ctx, long i, int tid)
{
    const gen_job *j = ctx;
    long b = j->b0 + i, ld = j->ld;
    float *col = j->col + i * j->istride;
    (void)tid;
    for (int s = 0; s < 2; s++) {
        if (!j->C[s])
            continue;
        im2col(col, ld, j->in[s] ? j->in[s] + b * j->C[s] * j->H * j->W : NULL, j->C[s], j->H,
               j->W, j->K, j->stride, j->pad, j->OH, j->OW);
        col += (long)j->C[s] * j->K * j->K * ld;
    }
}

/* out (image b0 + i) = t's columns of image i (+ bias) */
static void gen_scatter_task(void *ctx, long i, int tid)
{
    const gen_job *j = ctx;
    long P = (long)j->OH * j->OW, ld = j->ld;
    float *o = j->out + (j->b0 + i) * j->OC * P;
    (void)tid;
    for (int oc = 0; oc < j->OC; oc++) {
        const float *src = j->t + oc * ld + i * P;
        float bb = j->bias ? j->bias[oc] : 0.0f;
        for (long p = 0; p < P; p++)
            o[oc * P + p] = src[p] + bb;
    }
}

/* t's columns of image i = dout (image b0 + i) */
static void gen_gather_task(void *ctx, long i, int tid)
{
    const gen_job *j = ctx;
    long P = (long)j->OH * j->OW, ld = j->ld;
    const float *d = j->dout + (j->b0 + i) * j->OC * P;
    (void)tid;
    for (int oc = 0; oc < j->OC; oc++)
        memcpy(j->t + oc * ld + i * P, d + oc * P, (size_t)P * sizeof(float));
}

/* din_s (image b0 + i) = col2im of col's rows of input s, columns of image i */
static void gen_col2im_task(void *ctx, long i, int tid)
{
    const gen_job *j = ctx;
    long b = j->b0 + i, ld = j->ld;
    const float *col = j->col + i * j->istride;
    (void)tid;
    for (int s = 0; s < 2; s++) {
        long isz = (long)j->C[s] * j->H * j->W;
        if (j->C[s] && j->din[s]) {
            memset(j->din[s] + b * isz, 0, (size_t)isz * sizeof(float));
            col2im_add(j->din[s] + b * isz, col, ld, j->C[s], j->H, j->W, j->K, j->stride, j->pad,
                       j->OH, j->OW);
        }
        col += (long)j->C[s] * j->K * j->K * ld;
    }
}

/* The engine's layer calls have no error return: out of memory for the
 * scratch of a convolution in the middle of a step leaves nothing sensible
 * to do but stop, said on stderr (a null pointer's crash before this). */
static void oom_stop(size_t bytes)
{
    log_warn("out of memory: %zu bytes of scratch for a convolution; stopping", bytes);
    abort();
}

/* Chunk size and scratch for the general path: j->nb, j->col, j->t (the
 * gemm layout's; direct needs only col). */
static void gen_scratch(gen_job *j, int B, int direct)
{
    long P = (long)j->OH * j->OW, rows = (long)(j->C[0] + j->C[1]) * j->K * j->K;
    size_t per = (size_t)(rows + (direct ? 0 : j->OC)) * P * sizeof(float);
    long nb = (long)(im2col_budget() / per);
    float *buf = NULL;
    for (nb = NN_MAX(1, NN_MIN(nb, B));; nb = (nb + 1) / 2) {
        if ((buf = nn_scratch_slot(NN_SCRATCH_COL, per * (size_t)nb)) || nb == 1)
            break;
    }
    if (!buf)
        oom_stop(per);
    j->nb = (int)nb;
    j->col = buf;
    j->t = buf + rows * P * nb;
}

/* the direct layout: AVX-512 (conv_direct.c's kernels), whole vectors of
 * output pixels, and for the backward pass blocks of 4 output channels */
static int gen_direct(const gen_job *j, int backward)
{
    return nn_isa_active() == NN_ISA_AVX512 && (long)j->OH * j->OW % 16 == 0 &&
           (!backward || j->OC % 4 == 0);
}

static void conv_general_forward(gen_job *j, const float *weight, int B)
{
    int rows = (j->C[0] + j->C[1]) * j->K * j->K, direct = gen_direct(j, 0);
    long P = (long)j->OH * j->OW;
    gen_scratch(j, B, direct);
    int nb = j->nb;
    for (int b0 = 0; b0 < B; b0 += nb) {
        j->b0 = b0, j->nb = NN_MIN(nb, B - b0);
        gen_layout(j, direct);
        nn_parallel_work(j->nb, gen_item_work(j), gen_im2col_task, j);
        if (direct && conv_direct_forward(j->out + b0 * j->OC * P, j->col, rows, NULL, 0, weight,
                                          j->bias, j->nb, j->OH, j->OW, j->OC, 1) == 0)
            continue;
        if (direct) { /* no scratch for the direct kernels: the chunk's im2col again, for GEMM */
            direct = 0;
            gen_scratch(j, B, 0);
            nb = j->nb, j->nb = NN_MIN(nb, B - b0);
            gen_layout(j, 0);
            nn_parallel_work(j->nb, gen_item_work(j), gen_im2col_task, j);
        }
        nn_gemm(0, 0, j->OC, (int)j->ld, rows, 1.0f, weight, rows, j->col, j->ld, 0.0f, j->t, j->ld, 1);
        nn_parallel_work(j->nb, gen_item_work(j), gen_scatter_task, j);
    }
}

/* One chunk in the direct layout; -1 (nothing done) when the direct kernels
 * find no scratch. dX reuses col: once dW has read it, it holds dcol. */
static int gen_direct_backward(gen_job *j, float *dweight, const float *weight, int dx)
{
    int rows = (j->C[0] + j->C[1]) * j->K * j->K;
    const float *dout = j->dout + (long)j->b0 * j->OC * j->OH * j->OW;
    if (dweight) {
        nn_parallel_work(j->nb, gen_item_work(j), gen_im2col_task, j);
        if (conv_direct_backward(NULL, NULL, dweight, dout, j->col, rows, NULL, 0, weight, j->nb,
                                 j->OH, j->OW, j->OC, 1))
            return -1;
    }
    if (dx) {
        if (conv_direct_backward(j->col, NULL, NULL, dout, NULL, rows, NULL, 0, weight, j->nb, j->OH,
                                 j->OW, j->OC, 1)) {
            if (dweight) /* not after dW's call, which took the same scratch; else dW would count twice */
                oom_stop(0);
            return -1;
        }
        nn_parallel_work(j->nb, gen_item_work(j), gen_col2im_task, j);
    }
    return 0;
}

static void conv_general_backward(gen_job *j, float *dweight, const float *weight, int B)
{
    int KK = j->K * j->K, rows = (j->C[0] + j->C[1]) * KK, direct = gen_direct(j, 1);
    /* the rows of col that dX needs: input 1's, input 2's or both */
    int r0 = j->din[0] ? 0 : j->C[0] * KK, r1 = j->din[1] ? rows : j->C[0] * KK;
    gen_scratch(j, B, direct);
    int nb = j->nb;
    for (int b0 = 0; b0 < B; b0 += nb) {
        j->b0 = b0, j->nb = NN_MIN(nb, B - b0);
        gen_layout(j, direct);
        if (direct && gen_direct_backward(j, dweight, weight, r1 > r0) == 0)
            continue;
        if (direct) { /* as in the forward pass: the GEMM layout from here on */
            direct = 0;
            gen_scratch(j, B, 0);
            nb = j->nb, j->nb = NN_MIN(nb, B - b0);
            gen_layout(j, 0);
        }
        long ld = j->ld;
        nn_parallel_work(j->nb, gen_item_work(j), gen_gather_task, j);
        if (dweight) {
            nn_parallel_work(j->nb, gen_item_work(j), gen_im2col_task, j);
            nn_gemm(0, 1, j->OC, rows, (int)ld, 1.0f, j->t, ld, j->col, ld, 1.0f, dweight, rows, 1);
        }
        if (r1 > r0) {
            nn_gemm(1, 0, r1 - r0, (int)ld, j->OC, 1.0f, weight + r0, rows, j->t, ld, 0.0f,
                    j->col + r0 * ld, ld, 1);
            nn_parallel_work(j->nb, gen_item_work(j), gen_col2im_task, j);
        }
    }
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
    if (K == 3 && stride == 1 && pad == 1 && wg_wanted(B, C1 + C2, H, W, OC) &&
        wg_forward(out, inp1, C1, inp2, C2, weight, bias, B, H, W, OC) == 0)
        return;
    if (stride == 1 && pad == K / 2) {
        if (conv_direct_forward(out, inp1, C1, inp2, C2, weight, bias, B, H, W, OC, K) == 0 ||
            conv_fold_forward(out, inp1, C1, inp2, C2, weight, bias, B, H, W, OC, K) == 0)
            return;
        note_fallback("convolution", H, W);
    }
    if (K == 3 && stride == 2 && pad == 1 && !C2 &&
        conv_s2_forward(out, inp1, weight, bias, B, C1, H, W, OC) == 0)
        return;
    gen_job j = {.out = out, .bias = bias, .in = {inp1, inp2}, .C = {C1, C2}, .H = H, .W = W,
                 .OC = OC, .K = K, .stride = stride, .pad = pad, .OH = OH, .OW = OW};
    conv_general_forward(&j, weight, B);
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
    nn_parallel_work(OC, (long)B * P, bias_task, &j);
}

void conv2d_cat_backward(float *dinp1, float *dinp2, float *dweight, float *dbias,
                         const float *dout, const float *inp1, int C1, const float *inp2, int C2,
                         const float *weight, int B, int H, int W, int OC, int K, int stride,
                         int pad)
{
    int OH = conv_out_size(H, K, stride, pad), OW = conv_out_size(W, K, stride, pad);
    if (dbias)
        bias_grad(dbias, dout, B, OC, OH * OW);
    if (K == 3 && stride == 1 && pad == 1 && wg_wanted(B, C1 + C2, H, W, OC) &&
        wg_backward(dinp1, dinp2, dweight, dout, inp1, C1, inp2, C2, weight, B, H, W, OC) == 0)
        return;
    if (stride == 1 && pad == K / 2) {
        /* small planes fold first (the folded dW beats the direct kernels' GEMM on them) */
        if (conv_fold_backward(dinp1, dinp2, dweight, dout, inp1, C1, inp2, C2, weight, B, H, W, OC, K) == 0 ||
            conv_direct_backward(dinp1, dinp2, dweight, dout, inp1, C1, inp2, C2, weight, B, H, W, OC, K) == 0)
            return;
        note_fallback("convolution backward", H, W);
    }
    if (K == 3 && stride == 2 && pad == 1 && !C2 &&
        conv_s2_backward(dinp1, dweight, dout, inp1, weight, B, C1, H, W, OC) == 0)
        return;
    gen_job j = {.in = {inp1, inp2}, .din = {dinp1, dinp2}, .dout = dout, .C = {C1, C2}, .H = H,
                 .W = W, .OC = OC, .K = K, .stride = stride, .pad = pad, .OH = OH, .OW = OW};
    conv_general_backward(&j, dweight, weight, B);
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
