/* Winograd's F(2x2, 3x3) for the 3x3, stride-1, pad-1 convolutions (Lavin &
 * Gray 2016), forward and both backward passes, on AVX-512.
 *
 * The output is cut into 2x2 tiles; tile t reads the 4x4 input patch d
 * around it and
 *   y = A^T [ U (.) V ] A,   U = G g G^T (4x4 per (oc, c)),  V = B^T d B,
 * summed over input channels: for each of the 16 positions xi of the 4x4
 * transform domain one GEMM  M[xi] (OC, T) = U[xi] (OC, C) V[xi] (C, T),
 * over all T tiles of the batch. 16 multiplications per 4 outputs instead of
 * 36: 2.25x fewer FLOPs, paid for by the transforms, which read and write
 * 4x the input and output; so it wins where channels are many and planes
 * small, and conv.c takes it only there (wg_wanted).
 *
 *   backward dX  the same forward on dY with the weights transposed and
 *                rotated by 180 degrees (a correlation with the flipped
 *                kernel), U' = G rot(g)^T G^T.
 *   backward dW  by the chain rule through the same transforms: dU[xi]
 *                (OC, C) = sum_t (A dY A^T)[xi] (OC, t) V[xi] (C, t), 16 GEMMs
 *                over the tiles, then dW = G^T dU G.
 *
 * Transforms are vectorised over 16 tiles of a tile row; each row of the
 * input is first split into its even and odd columns, so every operand is a
 * contiguous load. Each output element comes from one work item and each
 * GEMM runs serially inside its item, so results do not depend on the
 * thread count. The error against direct convolution is that of a few more
 * float additions (coefficients 1 and 1/2): tests/test_nn.c bounds it.
 *
 * Modes (nn_set_winograd, LRCPIPE_WINOGRAD): 0 off, 1 where faster than
 * the direct kernels (the default), 2 on every such convolution (tests).
 */
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"

static int wg_mode = -1;

void nn_set_winograd(int mode)
{
    wg_mode = mode < 0 ? 0 : mode > 2 ? 2 : mode;
}

int nn_winograd(void)
{
    if (wg_mode < 0) {
        const char *e = getenv("LRCPIPE_WINOGRAD");
        wg_mode = e && *e ? atoi(e) : 1;
        wg_mode = wg_mode < 0 ? 0 : wg_mode > 2 ? 2 : wg_mode;
    }
    return wg_mode;
}

#define WG_MAXW 1024 /* widest row the transforms take (stack buffers) */

typedef struct {
    int B, C1, C2, C, OC, H, W, nty, ntx, ntxp;
    long T; /* tiles over the batch: B nty ntx */
} wg_shape;

static wg_shape shape_of(int B, int C1, int C2, int H, int W, int OC)
{
    wg_shape s = {B, C1, C2, C1 + C2, OC, H, W, (H + 1) / 2, (W + 1) / 2, 0, 0};
    s.ntxp = (s.ntx + 15) / 16 * 16;
    s.T = (long)B * s.nty * s.ntx;
    return s;
}

static inline __mmask16 mask_n(long n)
{
    return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* even (x[2k]) and odd (x[2k+1]) columns of a row of w floats, k < n,
 * zero past the row */
__attribute__((target("avx512f"))) static void split_row(float *ev, float *od, const float *x,
                                                         int w, int n)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int k = 0; k < n; k += 16) {
        long left = w - 2L * k;
        __m512 a = _mm512_maskz_loadu_ps(mask_n(left), x + 2 * k);
        __m512 b = _mm512_maskz_loadu_ps(mask_n(left - 16), x + 2 * k + 16);
        _mm512_storeu_ps(ev + k, _mm512_permutex2var_ps(a, ie, b));
        _mm512_storeu_ps(od + k, _mm512_permutex2var_ps(a, io, b));
    }
}

/* ---- input transform: V[xi][c][t] = (B^T d B)[xi] ---- */

typedef struct {
    wg_shape s;
    const float *in1, *in2; /* (B, C1, H, W), (B, C2, H, W) */
    const float *w;         /* weights to transform (OC, C, 3, 3) */
    float *V;               /* [16][C][T] */
    float *rbuf;            /* per thread: rows -1 .. 2 nty of d B, 4 x ntxp each */
    size_t rbn;
} in_job;

/* (d B) of one input row for every tile column: with d_j = x[2tx - 1 + j],
 * r0 = d0 - d2, r1 = d1 + d2, r2 = d2 - d1, r3 = d1 - d3; r is [4][ntxp]. */
__attribute__((target("avx512f"))) static void row_db(float *r, const float *x, int W, int ntx,
                                                      int ntxp)
{
    float ev[WG_MAXW / 2 + 32], ob[WG_MAXW / 2 + 48];
    /* ob[k] = x[2k - 1]: the odd columns shifted by one, ob[0] = 0 (col -1) */
    split_row(ev, ob + 1, x, W, ntx + 1);
    ob[0] = 0;
    for (int k = 0; k < ntxp; k += 16) {
        __m512 e0 = _mm512_loadu_ps(ev + k), e1 = _mm512_loadu_ps(ev + k + 1);
        __m512 o0 = _mm512_loadu_ps(ob + k), o1 = _mm512_loadu_ps(ob + k + 1);
        _mm512_storeu_ps(r + k, _mm512_sub_ps(o0, o1));
        _mm512_storeu_ps(r + ntxp + k, _mm512_add_ps(e0, o1));
        _mm512_storeu_ps(r + 2 * ntxp + k, _mm512_sub_ps(o1, e0));
        _mm512_storeu_ps(r + 3 * ntxp + k, _mm512_sub_ps(e0, e1));
    }
}

__attribute__((target("avx512f"))) static void in_task(void *ctx, long it, int tid)
{
    const in_job *j = ctx;
    const wg_shape *s = &j->s;
    int b = (int)(it / s->C), c = (int)(it % s->C), ntxp = s->ntxp;
    long HW = (long)s->H * s->W;
    const float *x = c < s->C1 ? j->in1 + ((long)b * s->C1 + c) * HW
                               : j->in2 + ((long)b * s->C2 + c - s->C1) * HW;
    float *R = j->rbuf + (size_t)tid * j->rbn;
    /* row y of the image (y from -1 to 2 nty) at R + (y + 1) 4 ntxp */
    for (int y = -1; y <= 2 * s->nty; y++) {
        float *r = R + (size_t)(y + 1) * 4 * ntxp;
        if (y < 0 || y >= s->H)
            memset(r, 0, 4 * ntxp * sizeof(float));
        else
            row_db(r, x + (long)y * s->W, s->W, s->ntx, ntxp);
    }
    for (int ty = 0; ty < s->nty; ty++) {
        const float *r0 = R + (size_t)(2 * ty) * 4 * ntxp; /* image rows 2ty-1 .. 2ty+2 */
        const float *r1 = r0 + 4 * ntxp, *r2 = r1 + 4 * ntxp, *r3 = r2 + 4 * ntxp;
        long t0 = ((long)b * s->nty + ty) * s->ntx;
        for (int tx = 0; tx < s->ntx; tx += 16) {
            __mmask16 m = mask_n(s->ntx - tx);
            for (int jj = 0; jj < 4; jj++) {
                __m512 a0 = _mm512_loadu_ps(r0 + jj * ntxp + tx);
                __m512 a1 = _mm512_loadu_ps(r1 + jj * ntxp + tx);
                __m512 a2 = _mm512_loadu_ps(r2 + jj * ntxp + tx);
                __m512 a3 = _mm512_loadu_ps(r3 + jj * ntxp + tx);
                float *v = j->V + ((long)jj * s->C + c) * s->T + t0 + tx;
                long xs = 4L * s->C * s->T; /* from row i to i + 1 of the transform */
                _mm512_mask_storeu_ps(v, m, _mm512_sub_ps(a0, a2));
                _mm512_mask_storeu_ps(v + xs, m, _mm512_add_ps(a1, a2));
                _mm512_mask_storeu_ps(v + 2 * xs, m, _mm512_sub_ps(a2, a1));
                _mm512_mask_storeu_ps(v + 3 * xs, m, _mm512_sub_ps(a1, a3));
            }
        }
    }
}

static void input_transform(float *V, float *rbuf, const float *in1, const float *in2,
                            const wg_shape *s)
{
    in_job j = {*s, in1, in2, NULL, V, rbuf, (size_t)(2 * s->nty + 2) * 4 * s->ntxp};
    nn_parallel((long)s->B * s->C, in_task, &j);
}

static size_t rbuf_floats(const wg_shape *s)
{
    return (size_t)nn_threads() * (2 * s->nty + 2) * 4 * s->ntxp;
}

/* ---- weight transforms ---- */

static const float Gm[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};

typedef struct {
    float *U;
    const float *w;
    int OC, C, C0, NC; /* backward dX: input channels [C0, C0 + NC) */
} wt_job;

/* G g G^T for 16 kernels at once, g_lane at g0 + idx[lane] (9 floats each),
 * rotated by 180 degrees if flip; u[xi] stored at dst + xi xs, lanes in mask */
__attribute__((target("avx512f"))) static void g_transform(float *dst, long xs, const float *g0,
                                                           __m512i idx, __mmask16 m, int flip)
{
    const __m512 h = _mm512_set1_ps(0.5f);
    __m512 g[9], t[4][3];
    for (int k = 0; k < 9; k++)
        g[flip ? 8 - k : k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, g0 + k, 4);
    for (int k = 0; k < 3; k++) { /* t = G g: rows of the kernel combined */
        __m512 a = g[k], b = g[3 + k], c = g[6 + k], ac = _mm512_add_ps(a, c);
        t[0][k] = a;
        t[1][k] = _mm512_mul_ps(h, _mm512_add_ps(ac, b));
        t[2][k] = _mm512_mul_ps(h, _mm512_sub_ps(ac, b));
        t[3][k] = c;
    }
    for (int i = 0; i < 4; i++) { /* (G g) G^T */
        __m512 a = t[i][0], b = t[i][1], c = t[i][2], ac = _mm512_add_ps(a, c);
        _mm512_mask_storeu_ps(dst + (4 * i) * xs, m, a);
        _mm512_mask_storeu_ps(dst + (4 * i + 1) * xs, m, _mm512_mul_ps(h, _mm512_add_ps(ac, b)));
        _mm512_mask_storeu_ps(dst + (4 * i + 2) * xs, m, _mm512_mul_ps(h, _mm512_sub_ps(ac, b)));
        _mm512_mask_storeu_ps(dst + (4 * i + 3) * xs, m, c);
    }
}

/* forward: U[xi][oc][c] = (G g G^T)[xi], g = w[oc][c]; 16 c at a time */
__attribute__((target("avx512f"))) static void wt_task(void *ctx, long oc, int tid)
{
    const wt_job *j = ctx;
    const __m512i lane9 = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(9));
    (void)tid;
    for (int c = 0; c < j->C; c += 16)
        g_transform(j->U + (long)oc * j->C + c, (long)j->OC * j->C, j->w + ((long)oc * j->C + c) * 9,
                    lane9, mask_n(j->C - c), 0);
}

/* backward dX: U[xi][c - C0][oc] = (G rot180(g) G^T)[xi], g = w[oc][c]; 16 oc at a time */
__attribute__((target("avx512f"))) static void wtf_task(void *ctx, long cc, int tid)
{
    const wt_job *j = ctx;
    const __m512i lanes = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(9 * j->C));
    long c = j->C0 + cc;
    (void)tid;
    for (int oc = 0; oc < j->OC; oc += 16)
        g_transform(j->U + cc * j->OC + oc, (long)j->NC * j->OC, j->w + ((long)oc * j->C + c) * 9,
                    lanes, mask_n(j->OC - oc), 1);
}

/* ---- the 16 GEMMs ---- */

typedef struct {
    int ta, tb, M, N, K;
    const float *A, *B;
    float *Cm;
    long sa, sb, sc; /* strides between the xi's */
    int lda, ldb, ldc;
} gemm16_job;

static void gemm16_task(void *ctx, long x, int tid)
{
    const gemm16_job *j = ctx;
    (void)tid;
    nn_gemm(j->ta, j->tb, j->M, j->N, j->K, 1.0f, j->A + x * j->sa, j->lda, j->B + x * j->sb,
            j->ldb, 0.0f, j->Cm + x * j->sc, j->ldc, 0);
}

/* ---- output transform: y = A^T M A (+ bias) ---- */

typedef struct {
    wg_shape s;
    const float *M; /* [16][NO][T] */
    int NO;         /* output channels in M */
    float *o1, *o2; /* (B, N1, H, W), (B, NO - N1, H, W); either NULL: not wanted */
    int N1;
    const float *bias;
} out_job;

__attribute__((target("avx512f"))) static void out_task(void *ctx, long it, int tid)
{
    const out_job *j = ctx;
    const wg_shape *s = &j->s;
    int b = (int)(it / j->NO), oc = (int)(it % j->NO), W = s->W;
    long HW = (long)s->H * W, xs = (long)j->NO * s->T;
    float *o = oc < j->N1 ? j->o1 + ((long)b * j->N1 + oc) * HW
                          : j->o2 + ((long)b * (j->NO - j->N1) + oc - j->N1) * HW;
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    __m512 bv = _mm512_set1_ps(j->bias ? j->bias[oc] : 0.0f);
    (void)tid;
    for (int ty = 0; ty < s->nty; ty++) {
        const float *mp = j->M + (long)oc * s->T + ((long)b * s->nty + ty) * s->ntx;
        for (int tx = 0; tx < s->ntx; tx += 16) {
            __mmask16 mk = mask_n(s->ntx - tx);
            __m512 m[16];
            for (int x = 0; x < 16; x++)
                m[x] = _mm512_maskz_loadu_ps(mk, mp + x * xs + tx);
            __m512 sr[4], ur[4]; /* rows of A^T M */
            for (int l = 0; l < 4; l++) {
                sr[l] = _mm512_add_ps(_mm512_add_ps(m[l], m[4 + l]), m[8 + l]);
                ur[l] = _mm512_sub_ps(_mm512_sub_ps(m[4 + l], m[8 + l]), m[12 + l]);
            }
            __m512 y[2][2] = {
                {_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(sr[0], sr[1]), sr[2]), bv),
                 _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(sr[1], sr[2]), sr[3]), bv)},
                {_mm512_add_ps(_mm512_add_ps(_mm512_add_ps(ur[0], ur[1]), ur[2]), bv),
                 _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(ur[1], ur[2]), ur[3]), bv)}};
            long left = W - 2L * tx;
            for (int a = 0; a < 2 && 2 * ty + a < s->H; a++) {
                float *row = o + (long)(2 * ty + a) * W + 2 * tx;
                _mm512_mask_storeu_ps(row, mask_n(left),
                                      _mm512_permutex2var_ps(y[a][0], ilo, y[a][1]));
                _mm512_mask_storeu_ps(row + 16, mask_n(left - 16),
                                      _mm512_permutex2var_ps(y[a][0], ihi, y[a][1]));
            }
        }
    }
}

/* ---- dY transform for dW: (A dY A^T)[xi] per tile ---- */

typedef struct {
    wg_shape s;
    const float *dout; /* (B, OC, H, W) */
    float *Gd;         /* [16][OC][T] */
} dy_job;

__attribute__((target("avx512f"))) static void dy_task(void *ctx, long it, int tid)
{
    const dy_job *j = ctx;
    const wg_shape *s = &j->s;
    int b = (int)(it / s->OC), oc = (int)(it % s->OC), W = s->W;
    long HW = (long)s->H * W, xs = (long)s->OC * s->T;
    const float *d = j->dout + ((long)b * s->OC + oc) * HW;
    float ev[2][WG_MAXW / 2 + 32], od[2][WG_MAXW / 2 + 32];
    (void)tid;
    for (int ty = 0; ty < s->nty; ty++) {
        for (int a = 0; a < 2; a++) {
            if (2 * ty + a < s->H)
                split_row(ev[a], od[a], d + (long)(2 * ty + a) * W, W, s->ntx);
            else {
                memset(ev[a], 0, s->ntxp * sizeof(float));
                memset(od[a], 0, s->ntxp * sizeof(float));
            }
        }
        float *g = j->Gd + (long)oc * s->T + ((long)b * s->nty + ty) * s->ntx;
        for (int tx = 0; tx < s->ntx; tx += 16) {
            __mmask16 mk = mask_n(s->ntx - tx);
            __m512 dy[2][2] = {{_mm512_loadu_ps(ev[0] + tx), _mm512_loadu_ps(od[0] + tx)},
                               {_mm512_loadu_ps(ev[1] + tx), _mm512_loadu_ps(od[1] + tx)}};
            __m512 w[4][2]; /* A dY */
            for (int l = 0; l < 2; l++) {
                w[0][l] = dy[0][l];
                w[1][l] = _mm512_add_ps(dy[0][l], dy[1][l]);
                w[2][l] = _mm512_sub_ps(dy[0][l], dy[1][l]);
                w[3][l] = _mm512_sub_ps(_mm512_setzero_ps(), dy[1][l]);
            }
            for (int i = 0; i < 4; i++) { /* (A dY) A^T */
                float *gi = g + 4L * i * xs + tx;
                _mm512_mask_storeu_ps(gi, mk, w[i][0]);
                _mm512_mask_storeu_ps(gi + xs, mk, _mm512_add_ps(w[i][0], w[i][1]));
                _mm512_mask_storeu_ps(gi + 2 * xs, mk, _mm512_sub_ps(w[i][0], w[i][1]));
                _mm512_mask_storeu_ps(gi + 3 * xs, mk, _mm512_sub_ps(_mm512_setzero_ps(), w[i][1]));
            }
        }
    }
}

/* dW[oc][c] += G^T dU G, dU [16][OC][C] */
typedef struct {
    float *dw;
    const float *dU;
    int OC, C;
} dwt_job;

static void dwt_task(void *ctx, long oc, int tid)
{
    const dwt_job *j = ctx;
    long xs = (long)j->OC * j->C;
    (void)tid;
    for (int c = 0; c < j->C; c++) {
        float u[4][4], t[3][4];
        for (int x = 0; x < 16; x++)
            u[x / 4][x % 4] = j->dU[x * xs + (long)oc * j->C + c];
        for (int a = 0; a < 3; a++) /* G^T u */
            for (int l = 0; l < 4; l++)
                t[a][l] = Gm[0][a] * u[0][l] + Gm[1][a] * u[1][l] + Gm[2][a] * u[2][l] +
                          Gm[3][a] * u[3][l];
        float *dw = j->dw + ((long)oc * j->C + c) * 9;
        for (int a = 0; a < 3; a++) /* (G^T u) G */
            for (int k = 0; k < 3; k++)
                dw[a * 3 + k] += t[a][0] * Gm[0][k] + t[a][1] * Gm[1][k] + t[a][2] * Gm[2][k] +
                                 t[a][3] * Gm[3][k];
    }
}

/* ---- entry points ---- */

int wg_usable(int H, int W)
{
    return nn_winograd() && nn_isa_active() == NN_ISA_AVX512 && H >= 1 && W >= 1 &&
           W <= WG_MAXW;
}

int wg_forward(float *out, const float *in1, int C1, const float *in2, int C2,
               const float *weight, const float *bias, int B, int H, int W, int OC)
{
    if (!wg_usable(H, W))
        return -1;
    wg_shape s = shape_of(B, C1, C2, H, W, OC);
    size_t nu = (size_t)16 * OC * s.C, nv = (size_t)16 * s.C * s.T, nm = (size_t)16 * OC * s.T;
    float *U = nn_scratch((nu + nv + nm + rbuf_floats(&s)) * sizeof(float));
    if (!U)
        return -1;
    float *V = U + nu, *M = V + nv, *rbuf = M + nm;
    wt_job wj = {U, weight, OC, s.C, 0, 0};
    nn_parallel(OC, wt_task, &wj);
    input_transform(V, rbuf, in1, in2, &s);
    gemm16_job gj = {0, 0, OC, (int)s.T, s.C, U, V, M, (long)OC * s.C, (long)s.C * s.T,
                     (long)OC * s.T, s.C, (int)s.T, (int)s.T};
    nn_parallel(16, gemm16_task, &gj);
    out_job oj = {s, M, OC, out, NULL, OC, bias};
    nn_parallel((long)B * OC, out_task, &oj);
    return 0;
}

int wg_backward(float *dinp1, float *dinp2, float *dweight, const float *dout, const float *in1,
                int C1, const float *in2, int C2, const float *weight, int B, int H, int W,
                int OC)
{
    if (!wg_usable(H, W))
        return -1;
    wg_shape s = shape_of(B, C1, C2, H, W, OC);
    int C = s.C;
    /* dW: V (C) + Gd (OC) + dU; dX: U' + V (OC) + M (C): the larger, up front
     * (failing after dW was added would make the caller add it twice) */
    size_t ndw = (size_t)16 * (C + OC) * s.T + (size_t)16 * OC * C;
    size_t ndx = (size_t)16 * C * OC + (size_t)16 * (OC + C) * s.T;
    wg_shape sd = shape_of(B, OC, 0, H, W, C); /* dY as the input, C outputs */
    size_t nr = NN_MAX(rbuf_floats(&s), rbuf_floats(&sd));
    float *buf = nn_scratch((NN_MAX(ndw, ndx) + nr) * sizeof(float));
    if (!buf)
        return -1;
    float *rbuf = buf + NN_MAX(ndw, ndx);
    if (dweight) {
        float *V = buf, *Gd = V + (size_t)16 * C * s.T, *dU = Gd + (size_t)16 * OC * s.T;
        input_transform(V, rbuf, in1, in2, &s);
        dy_job yj = {s, dout, Gd};
        nn_parallel((long)B * OC, dy_task, &yj);
        /* dU[xi] (OC, C) = Gd[xi] (OC, T) V[xi] (C, T)^T */
        gemm16_job gj = {0, 1, OC, C, (int)s.T, Gd, V, dU, (long)OC * s.T, (long)C * s.T,
                         (long)OC * C, (int)s.T, (int)s.T, C};
        nn_parallel(16, gemm16_task, &gj);
        dwt_job tj = {dweight, dU, OC, C};
        nn_parallel(OC, dwt_task, &tj);
    }
    if (dinp1 || dinp2) {
        /* output channels of the dX "convolution": [c0, c0 + nc) of C */
        int c0 = dinp1 ? 0 : C1, nc = (dinp1 ? C1 : 0) + (dinp2 ? C2 : 0);
        if (nc == 0)
            return 0;
        float *U = buf, *V = U + (size_t)16 * nc * OC, *M = V + (size_t)16 * OC * sd.T;
        wt_job wj = {U, weight, OC, C, c0, nc};
        nn_parallel(nc, wtf_task, &wj);
        input_transform(V, rbuf, dout, NULL, &sd);
        gemm16_job gj = {0, 0, nc, (int)sd.T, OC, U, V, M, (long)nc * OC, (long)OC * sd.T,
                         (long)nc * sd.T, OC, (int)sd.T, (int)sd.T};
        nn_parallel(16, gemm16_task, &gj);
        /* M's rows: [0, C1 - c0) to dinp1 (when c0 = 0), the rest to dinp2 */
        int n1 = c0 == 0 ? NN_MIN(C1, nc) : 0;
        out_job oj = {sd, M, nc, dinp1, dinp2, n1, NULL};
        nn_parallel((long)B * nc, out_task, &oj);
    }
    return 0;
}

/* Where F(2x2, 3x3) beats the direct kernels (measured layer by layer, CPU
 * time, on AVX-512 Zen 4): 5-10 % faster at 16x16 with 128 channels or
 * more; at par on 8x8, slower on larger planes with fewer channels, where
 * the transforms' memory traffic costs more than the FLOPs saved. */
int wg_wanted(int B, int C, int H, int W, int OC)
{
    (void)B;
    if (nn_winograd() != 1)
        return nn_winograd() == 2;
    return C >= 128 && OC >= 128 && (long)H * W >= 256 && (long)H * W <= 512;
}
