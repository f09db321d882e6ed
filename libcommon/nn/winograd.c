/* Winograd's F(4x4, 3x3) for the 3x3, stride-1, pad-1 convolutions (Lavin &
 * Gray 2016), forward and both backward passes, on AVX-512.
 *
 * The output is cut into 4x4 tiles; tile t reads the 6x6 input patch d
 * around it and
 *   y = A^T [ U (.) V ] A,   U = G g G^T (6x6 per (oc, c)),  V = B^T d B,
 * summed over input channels: for each of the 36 positions xi of the 6x6
 * transform domain one GEMM  M[xi] (OC, T) = U[xi] (OC, C) V[xi] (C, T),
 * over all T tiles of the batch. 36 multiplications per 16 outputs instead
 * of 144: 4x fewer FLOPs, paid for by the transforms, which read and write
 * 2.25x the input and output; so it wins where channels are many, and
 * conv.c takes it only there (wg_wanted). Interpolation points 0, +-1, +-2.
 *
 *   backward dX  the same forward on dY with the weights transposed and
 *                rotated by 180 degrees (a correlation with the flipped
 *                kernel), U' = G rot(g)^T G^T.
 *   backward dW  by the chain rule through the same transforms: dU[xi]
 *                (OC, C) = sum_t (A dY A^T)[xi] (OC, t) V[xi] (C, t), 36 GEMMs
 *                over the tiles, then dW = G^T dU G.
 *
 * Two ways to run it. Unfused: each phase over the whole batch (input
 * transform, 36 GEMMs on the engine's nn_gemm, output transform), the
 * transformed tensors in scratch memory. Fused (few channels, where those
 * would go out to memory and back): one tile row of one image at a time,
 * all in the core's L2 (fz_*).
 *
 * Transforms are vectorised over 16 tiles of a tile row (over the whole
 * plane's tiles when a row has at most 4); each row of the input is split
 * into its four column phases (x[4k + q]) by permutes, so every operand is a
 * vector. Each output element comes from one work item and each GEMM runs
 * serially inside its item, so results do not depend on the thread count.
 * The error against direct convolution grows with the transforms'
 * coefficients (up to 8 and 1/24): tests/test_nn.c measures and bounds it.
 *
 * Modes (nn_set_winograd, LRCPIPE_WINOGRAD): 0 off, 1 where faster than
 * the direct kernels (the default), 2 on every such convolution (tests).
 * Not here: 8x8 and smaller planes, fewer than 64 channels or few tiles,
 * where the direct kernels are faster (wg_wanted says why); strides other
 * than 1.
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

/* the fused path (tests compare both): LRCPIPE_WINOGRAD_FUSED=0 turns it off */
static int wg_fused = -1;

void nn_set_winograd_fused(int on)
{
    wg_fused = on != 0;
}

int nn_winograd_fused(void)
{
    if (wg_fused < 0) {
        const char *e = getenv("LRCPIPE_WINOGRAD_FUSED");
        wg_fused = !(e && !strcmp(e, "0"));
    }
    return wg_fused;
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
#define NX 36         /* positions of the 6x6 transform domain */
#define QB 272        /* floats of a phase buffer: WG_MAXW / 4 rounded up to 16, + 16 */

typedef struct {
    int B, C1, C2, C, OC, H, W, nty, ntx, ntxp;
    long T; /* tiles over the batch: B nty ntx */
} wg_shape;

static wg_shape shape_of(int B, int C1, int C2, int H, int W, int OC)
{
    wg_shape s = {B, C1, C2, C1 + C2, OC, H, W, (H + 3) / 4, (W + 3) / 4, 0, 0};
    s.ntxp = (s.ntx + 15) / 16 * 16;
    s.T = (long)B * s.nty * s.ntx;
    return s;
}

static inline __mmask16 mask_n(long n)
{
    return n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

#define V(x) _mm512_set1_ps(x)

/* the four column phases of 64 floats of a row of w from 4k: p[q][l] =
 * x[4 (k + l) + q], zero past the row */
__attribute__((target("avx512f"))) static inline void phases(__m512 p[4], const float *x, int w,
                                                             int k)
{
    const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    long left = w - 4L * k;
    __m512 a = _mm512_maskz_loadu_ps(mask_n(left), x + 4 * k);
    __m512 b = _mm512_maskz_loadu_ps(mask_n(left - 16), x + 4 * k + 16);
    __m512 c = _mm512_maskz_loadu_ps(mask_n(left - 32), x + 4 * k + 32);
    __m512 d = _mm512_maskz_loadu_ps(mask_n(left - 48), x + 4 * k + 48);
    /* x[2s], x[2s + 1] for s < 16, then for 16 <= s < 32 */
    __m512 e0 = _mm512_permutex2var_ps(a, ie, b), o0 = _mm512_permutex2var_ps(a, io, b);
    __m512 e1 = _mm512_permutex2var_ps(c, ie, d), o1 = _mm512_permutex2var_ps(c, io, d);
    p[0] = _mm512_permutex2var_ps(e0, ie, e1);
    p[2] = _mm512_permutex2var_ps(e0, io, e1);
    p[1] = _mm512_permutex2var_ps(o0, ie, o1);
    p[3] = _mm512_permutex2var_ps(o0, io, o1);
}

/* the same for k < n (rounded up to 16) into arrays p[q] */
__attribute__((target("avx512f"))) static void split4(float *const p[4], const float *x, int w,
                                                      int n)
{
    for (int k = 0; k < n; k += 16) {
        __m512 v[4];
        phases(v, x, w, k);
        for (int q = 0; q < 4; q++)
            _mm512_storeu_ps(p[q] + k, v[q]);
    }
}

/* The 1-D transforms, on 16 tiles at once. */

/* B^T: 6 values of the input patch -> 6 */
__attribute__((target("avx512f"))) static inline void bt6(__m512 r[6], const __m512 d[6])
{
    __m512 a = _mm512_sub_ps(d[4], d[2]), b = _mm512_sub_ps(d[3], d[1]);
    __m512 c = _mm512_add_ps(d[3], d[4]), e = _mm512_add_ps(d[1], d[2]);
    __m512 f = _mm512_sub_ps(d[4], d[3]), g = _mm512_sub_ps(d[1], d[2]);
    r[0] = _mm512_fmadd_ps(V(4), d[0], _mm512_fmadd_ps(V(-5), d[2], d[4]));
    r[1] = _mm512_fmadd_ps(V(-4), e, c);
    r[2] = _mm512_fmadd_ps(V(4), g, f);
    r[3] = _mm512_fmadd_ps(V(2), b, a);
    r[4] = _mm512_fmadd_ps(V(-2), b, a);
    r[5] = _mm512_fmadd_ps(V(4), d[1], _mm512_fmadd_ps(V(-5), d[3], d[5]));
}

/* A^T: 6 values of the transform domain -> 4 outputs */
__attribute__((target("avx512f"))) static inline void at6(__m512 o[4], const __m512 v[6])
{
    __m512 p = _mm512_add_ps(v[1], v[2]), m = _mm512_sub_ps(v[1], v[2]);
    __m512 P = _mm512_add_ps(v[3], v[4]), M = _mm512_sub_ps(v[3], v[4]);
    o[0] = _mm512_add_ps(_mm512_add_ps(v[0], p), P);
    o[1] = _mm512_fmadd_ps(V(2), M, m);
    o[2] = _mm512_fmadd_ps(V(4), P, p);
    o[3] = _mm512_add_ps(_mm512_fmadd_ps(V(8), M, m), v[5]);
}

/* A: 4 values of dY -> 6 of the transform domain */
__attribute__((target("avx512f"))) static inline void a4(__m512 o[6], const __m512 v[4])
{
    __m512 s = _mm512_add_ps(v[0], v[2]), t = _mm512_add_ps(v[1], v[3]);
    __m512 S = _mm512_fmadd_ps(V(4), v[2], v[0]), T = _mm512_fmadd_ps(V(8), v[3], _mm512_add_ps(v[1], v[1]));
    o[0] = v[0];
    o[1] = _mm512_add_ps(s, t);
    o[2] = _mm512_sub_ps(s, t);
    o[3] = _mm512_add_ps(S, T);
    o[4] = _mm512_sub_ps(S, T);
    o[5] = v[3];
}

/* ---- input transform: V[xi][c][t] = (B^T d B)[xi] ---- */

typedef struct {
    wg_shape s;
    const float *in1, *in2; /* (B, C1, H, W), (B, C2, H, W) */
    float *V;               /* [36][C][T] */
    float *rbuf;            /* per thread: rows -1 .. 4 nty of d B, 6 x ntxp each */
    size_t rbn;
} in_job;

/* (d B) of one input row for every tile column, d_j = x[4tx - 1 + j]; r is
 * [6][ntxp]. The phases stay in registers: d0 (column 4tx - 1) is phase 3
 * moved up one lane, d5 (column 4tx + 4) phase 0 moved down one. */
__attribute__((target("avx512f"))) static void row_db(float *r, const float *x, int W, int ntx,
                                                      int ntxp)
{
    __m512i prev3 = _mm512_setzero_si512();
    (void)ntx;
    for (int k = 0; k < ntxp; k += 16) {
        __m512 p[4], o[6];
        phases(p, x, W, k);
        long nx = 4L * (k + 16); /* column 4tx + 4 of the chunk's last tile */
        __m512i next0 = _mm512_castps_si512(_mm512_set1_ps(nx < W ? x[nx] : 0.0f));
        __m512i p0 = _mm512_castps_si512(p[0]), p3 = _mm512_castps_si512(p[3]);
        __m512 d[6] = {_mm512_castsi512_ps(_mm512_alignr_epi32(p3, prev3, 15)), p[0], p[1], p[2],
                       p[3], _mm512_castsi512_ps(_mm512_alignr_epi32(next0, p0, 1))};
        prev3 = p3;
        bt6(o, d);
        for (int j = 0; j < 6; j++)
            _mm512_storeu_ps(r + j * ntxp + k, o[j]);
    }
}

/* Small planes (a tile row of at most 4 tiles, dividing 16): vectors of
 * 16 tiles of the whole plane, several tile rows each, so that no lane is
 * idle. The row transforms are laid out by (i, jj) and tile, R2[i][jj][t]
 * with t = ty ntx + tx, the plane's tiles in V's order. */
static int flat_ok(const wg_shape *s)
{
    /* measured: 0.85x the time at 16x16 (ntx 4), but 1.05x at 32x32 (ntx
     * 8), where the copies into R2 cost more than the idle lanes */
    return s->ntx <= 4 && 16 % s->ntx == 0;
}

static size_t flat_plane(const wg_shape *s)
{
    return ((size_t)s->nty * s->ntx + 15) / 16 * 16;
}

__attribute__((target("avx512f"))) static void in_flat(const in_job *j, float *R, const float *x,
                                                       int b, int c)
{
    const wg_shape *s = &j->s;
    int ntx = s->ntx, ntxp = s->ntxp;
    size_t ps = flat_plane(s), npl = (size_t)s->nty * ntx;
    long xs1 = (long)s->C * s->T; /* xi to xi + 1 */
    float *R2 = R, *tmp = R + 36 * ps; /* tmp: one row's d B, [6][ntxp] */
    memset(R2, 0, 36 * ps * sizeof(float));
    for (int y = 0; y < s->H; y++) {
        row_db(tmp, x + (long)y * s->W, s->W, ntx, ntxp);
        /* row y is row i = y + 1 - 4 ty of tile rows ty = (y + 1) / 4 and the one above */
        for (int ty = (y + 1) / 4; ty >= 0 && y + 1 - 4 * ty < 6; ty--) {
            if (ty >= s->nty)
                continue;
            int i = y + 1 - 4 * ty;
            for (int jj = 0; jj < 6; jj++)
                _mm512_mask_storeu_ps(R2 + (size_t)(i * 6 + jj) * ps + (size_t)ty * ntx,
                                      mask_n(ntx), _mm512_loadu_ps(tmp + (size_t)jj * ntxp));
        }
    }
    float *v0 = j->V + (long)c * s->T + (long)b * npl;
    for (size_t t = 0; t < npl; t += 16) {
        __mmask16 m = mask_n((long)(npl - t));
        for (int jj = 0; jj < 6; jj++) {
            __m512 d[6], o[6];
            for (int i = 0; i < 6; i++)
                d[i] = _mm512_loadu_ps(R2 + (size_t)(i * 6 + jj) * ps + t);
            bt6(o, d);
            for (int i = 0; i < 6; i++)
                _mm512_mask_storeu_ps(v0 + (6 * i + jj) * xs1 + t, m, o[i]);
        }
    }
}

__attribute__((target("avx512f"))) static void in_task(void *ctx, long it, int tid)
{
    const in_job *j = ctx;
    const wg_shape *s = &j->s;
    int b = (int)(it / s->C), c = (int)(it % s->C), ntxp = s->ntxp;
    long HW = (long)s->H * s->W, xs = 6L * s->C * s->T; /* xi + 6: the next row of the 6x6 */
    const float *x = c < s->C1 ? j->in1 + ((long)b * s->C1 + c) * HW
                               : j->in2 + ((long)b * s->C2 + c - s->C1) * HW;
    float *R = j->rbuf + (size_t)tid * j->rbn;
    size_t rs = (size_t)6 * ntxp; /* floats per image row in R */
    if (flat_ok(s)) {
        in_flat(j, R, x, b, c);
        return;
    }
    /* image row y (from -1 to 4 nty) at R + (y + 1) rs */
    for (int y = -1; y <= 4 * s->nty; y++) {
        float *r = R + (size_t)(y + 1) * rs;
        if (y < 0 || y >= s->H)
            memset(r, 0, rs * sizeof(float));
        else
            row_db(r, x + (long)y * s->W, s->W, s->ntx, ntxp);
    }
    for (int ty = 0; ty < s->nty; ty++) {
        const float *r0 = R + (size_t)(4 * ty) * rs; /* image rows 4ty-1 .. 4ty+4 */
        long t0 = ((long)b * s->nty + ty) * s->ntx;
        for (int tx = 0; tx < s->ntx; tx += 16) {
            __mmask16 m = mask_n(s->ntx - tx);
            for (int jj = 0; jj < 6; jj++) {
                __m512 d[6], o[6];
                for (int i = 0; i < 6; i++)
                    d[i] = _mm512_loadu_ps(r0 + i * rs + (size_t)jj * ntxp + tx);
                bt6(o, d);
                float *v = j->V + ((long)jj * s->C + c) * s->T + t0 + tx;
                for (int i = 0; i < 6; i++)
                    _mm512_mask_storeu_ps(v + i * xs, m, o[i]);
            }
        }
    }
}

static size_t rbuf_per_thread(const wg_shape *s)
{
    size_t rows = (size_t)(4 * s->nty + 2) * 6 * s->ntxp;
    size_t flat = flat_ok(s) ? 36 * flat_plane(s) + 6 * (size_t)s->ntxp : 0;
    return rows > flat ? rows : flat;
}

static void input_transform(float *Vt, float *rbuf, const float *in1, const float *in2,
                            const wg_shape *s)
{
    in_job j = {*s, in1, in2, Vt, rbuf, rbuf_per_thread(s)};
    nn_parallel((long)s->B * s->C, in_task, &j);
}

static size_t rbuf_floats(const wg_shape *s)
{
    return (size_t)nn_threads() * rbuf_per_thread(s);
}

/* ---- weight transforms ---- */

static const float Gm[6][3] = {{1.0f / 4, 0, 0},
                               {-1.0f / 6, -1.0f / 6, -1.0f / 6},
                               {-1.0f / 6, 1.0f / 6, -1.0f / 6},
                               {1.0f / 24, 1.0f / 12, 1.0f / 6},
                               {1.0f / 24, -1.0f / 12, 1.0f / 6},
                               {0, 0, 1}};

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
    __m512 g[9], t[6][3];
    for (int k = 0; k < 9; k++)
        g[flip ? 8 - k : k] = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, idx, g0 + k, 4);
    for (int i = 0; i < 6; i++) /* t = G g */
        for (int k = 0; k < 3; k++)
            t[i][k] = _mm512_fmadd_ps(V(Gm[i][0]), g[k],
                                      _mm512_fmadd_ps(V(Gm[i][1]), g[3 + k],
                                                      _mm512_mul_ps(V(Gm[i][2]), g[6 + k])));
    for (int i = 0; i < 6; i++) /* (G g) G^T */
        for (int l = 0; l < 6; l++)
            _mm512_mask_storeu_ps(
                dst + (6 * i + l) * xs, m,
                _mm512_fmadd_ps(V(Gm[l][0]), t[i][0],
                                _mm512_fmadd_ps(V(Gm[l][1]), t[i][1],
                                                _mm512_mul_ps(V(Gm[l][2]), t[i][2]))));
}

static const int lane_idx[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* The GEMMs take U transposed (K rows of M floats), which their packing
 * copies row by row. */

/* forward: U[xi][c][oc] = (G g G^T)[xi], g = w[oc][c]; 16 oc at a time */
__attribute__((target("avx512f"))) static void wt_task(void *ctx, long c, int tid)
{
    const wt_job *j = ctx;
    __m512i lanes = _mm512_mullo_epi32(_mm512_loadu_si512(lane_idx), _mm512_set1_epi32(9 * j->C));
    (void)tid;
    for (int oc = 0; oc < j->OC; oc += 16)
        g_transform(j->U + c * j->OC + oc, (long)j->C * j->OC, j->w + ((long)oc * j->C + c) * 9,
                    lanes, mask_n(j->OC - oc), 0);
}

/* backward dX: U[xi][oc][c - C0] = (G rot180(g) G^T)[xi], g = w[oc][c]; 16 c at a time */
__attribute__((target("avx512f"))) static void wtf_task(void *ctx, long oc, int tid)
{
    const wt_job *j = ctx;
    __m512i lanes = _mm512_mullo_epi32(_mm512_loadu_si512(lane_idx), _mm512_set1_epi32(9));
    (void)tid;
    for (int cc = 0; cc < j->NC; cc += 16)
        g_transform(j->U + oc * j->NC + cc, (long)j->OC * j->NC,
                    j->w + ((long)oc * j->C + j->C0 + cc) * 9, lanes, mask_n(j->NC - cc), 1);
}

/* ---- the 36 GEMMs ---- */

typedef struct {
    int ta, tb, M, N, K;
    const float *A, *B;
    float *Cm;
    long sa, sb, sc; /* strides between the xi's */
    int lda, ldb, ldc;
} gemmx_job;

static void gemmx_task(void *ctx, long x, int tid)
{
    const gemmx_job *j = ctx;
    (void)tid;
    nn_gemm(j->ta, j->tb, j->M, j->N, j->K, 1.0f, j->A + x * j->sa, j->lda, j->B + x * j->sb,
            j->ldb, 0.0f, j->Cm + x * j->sc, j->ldc, 0);
}

/* ---- output transform: y = A^T M A (+ bias) ---- */

typedef struct {
    wg_shape s;
    const float *M; /* [36][NO][T] */
    int NO;         /* output channels in M */
    float *o1, *o2; /* (B, N1, H, W), (B, NO - N1, H, W) */
    int N1;
    const float *bias;
} out_job;

static void out_flat(const out_job *j, float *o, int b, int oc);

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
    if (flat_ok(s)) {
        out_flat(j, o, b, oc);
        return;
    }
    for (int ty = 0; ty < s->nty; ty++) {
        const float *mp = j->M + (long)oc * s->T + ((long)b * s->nty + ty) * s->ntx;
        for (int tx = 0; tx < s->ntx; tx += 16) {
            __mmask16 mk = mask_n(s->ntx - tx);
            __m512 z[6][4], y[4][4];
            for (int i = 0; i < 6; i++) { /* rows of M, each through A^T */
                __m512 m[6];
                for (int l = 0; l < 6; l++)
                    m[l] = _mm512_maskz_loadu_ps(mk, mp + (6 * i + l) * xs + tx);
                at6(z[i], m);
            }
            for (int c = 0; c < 4; c++) { /* then the columns */
                __m512 v[6] = {z[0][c], z[1][c], z[2][c], z[3][c], z[4][c], z[5][c]}, r[4];
                at6(r, v);
                for (int a = 0; a < 4; a++)
                    y[a][c] = _mm512_add_ps(r[a], bv);
            }
            long left = W - 4L * tx;
            for (int a = 0; a < 4 && 4 * ty + a < s->H; a++) {
                /* interleave the 4 columns of 16 tiles: row[4 t + c] = y[a][c][t] */
                __m512 e0 = _mm512_permutex2var_ps(y[a][0], ilo, y[a][2]);
                __m512 e1 = _mm512_permutex2var_ps(y[a][0], ihi, y[a][2]);
                __m512 f0 = _mm512_permutex2var_ps(y[a][1], ilo, y[a][3]);
                __m512 f1 = _mm512_permutex2var_ps(y[a][1], ihi, y[a][3]);
                float *row = o + (long)(4 * ty + a) * W + 4 * tx;
                _mm512_mask_storeu_ps(row, mask_n(left), _mm512_permutex2var_ps(e0, ilo, f0));
                _mm512_mask_storeu_ps(row + 16, mask_n(left - 16), _mm512_permutex2var_ps(e0, ihi, f0));
                _mm512_mask_storeu_ps(row + 32, mask_n(left - 32), _mm512_permutex2var_ps(e1, ilo, f1));
                _mm512_mask_storeu_ps(row + 48, mask_n(left - 48), _mm512_permutex2var_ps(e1, ihi, f1));
            }
        }
    }
}

/* ---- dY transform for dW: (A dY A^T)[xi] per tile ---- */

typedef struct {
    wg_shape s;
    const float *dout; /* (B, OC, H, W) */
    float *Gd;         /* [36][OC][T] */
    float *rbuf;       /* per thread, rbn floats (small planes) */
    size_t rbn;
} dy_job;

/* (A dY A^T)[xi] of 16 tiles (lanes in mk) to g + xi xs; dY[4 ty + a][4 tx
 * + l] of the tiles at ph + a as + l ls */
__attribute__((target("avx512f"))) static void dy_tiles(float *g, long xs, __mmask16 mk,
                                                        const float *ph, long as, long ls)
{
    __m512 w[4][6]; /* w[l] = A (column l of the tile) */
    for (int l = 0; l < 4; l++) {
        __m512 v[4];
        for (int a = 0; a < 4; a++)
            v[a] = _mm512_maskz_loadu_ps(mk, ph + a * as + l * ls);
        a4(w[l], v);
    }
    for (int i = 0; i < 6; i++) { /* (A dY) A^T: row i of the result */
        __m512 v[4] = {w[0][i], w[1][i], w[2][i], w[3][i]}, r[6];
        a4(r, v);
        for (int l = 0; l < 6; l++)
            _mm512_mask_storeu_ps(g + (6 * i + l) * xs, mk, r[l]);
    }
}

__attribute__((target("avx512f"))) static void dy_task(void *ctx, long it, int tid)
{
    const dy_job *j = ctx;
    const wg_shape *s = &j->s;
    int b = (int)(it / s->OC), oc = (int)(it % s->OC), W = s->W, ntx = s->ntx;
    long HW = (long)s->H * W, xs = (long)s->OC * s->T;
    const float *d = j->dout + ((long)b * s->OC + oc) * HW;
    if (flat_ok(s)) {
        /* small planes: P[a][l][t] over the plane's tiles, then 16 tiles of
         * several tile rows at a time (as in_flat) */
        long ps = (long)flat_plane(s), npl = (long)s->nty * ntx;
        float *P = j->rbuf + (size_t)tid * j->rbn;
        for (int ty = 0; ty < s->nty; ty++)
            for (int a = 0; a < 4; a++) {
                __m512 ph[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                                _mm512_setzero_ps()};
                if (4 * ty + a < s->H)
                    phases(ph, d + (long)(4 * ty + a) * W, W, 0);
                for (int l = 0; l < 4; l++)
                    _mm512_mask_storeu_ps(P + (a * 4 + l) * ps + (long)ty * ntx, mask_n(ntx), ph[l]);
            }
        float *g = j->Gd + (long)oc * s->T + b * npl;
        for (long t = 0; t < npl; t += 16)
            dy_tiles(g + t, xs, mask_n(npl - t), P + t, 4 * ps, ps);
        return;
    }
    float ph[4][4][QB]; /* [row a of the tile][phase l][tile] */
    for (int ty = 0; ty < s->nty; ty++) {
        for (int a = 0; a < 4; a++) {
            if (4 * ty + a < s->H)
                split4((float *const[4]){ph[a][0], ph[a][1], ph[a][2], ph[a][3]},
                       d + (long)(4 * ty + a) * W, W, ntx);
            else
                for (int l = 0; l < 4; l++)
                    memset(ph[a][l], 0, s->ntxp * sizeof(float));
        }
        float *g = j->Gd + (long)oc * s->T + ((long)b * s->nty + ty) * ntx;
        for (int tx = 0; tx < ntx; tx += 16)
            dy_tiles(g + tx, xs, mask_n(ntx - tx), &ph[0][0][tx], 4 * QB, QB);
    }
}

/* dW[oc][c] += G^T dU G, dU [36][OC][C]; 16 c at a time */
typedef struct {
    float *dw;
    const float *dU;
    int OC, C;
} dwt_job;

__attribute__((target("avx512f"))) static void dwt_task(void *ctx, long oc, int tid)
{
    const dwt_job *j = ctx;
    long xs = (long)j->OC * j->C;
    __m512i lanes = _mm512_mullo_epi32(_mm512_loadu_si512(lane_idx), _mm512_set1_epi32(9));
    (void)tid;
    for (int c = 0; c < j->C; c += 16) {
        __mmask16 m = mask_n(j->C - c);
        __m512 t[3][6];
        for (int l = 0; l < 6; l++) { /* G^T u, column l */
            __m512 u[6];
            for (int i = 0; i < 6; i++)
                u[i] = _mm512_maskz_loadu_ps(m, j->dU + (6 * i + l) * xs + oc * j->C + c);
            for (int a = 0; a < 3; a++) {
                __m512 acc = _mm512_mul_ps(V(Gm[0][a]), u[0]);
                for (int i = 1; i < 6; i++)
                    acc = _mm512_fmadd_ps(V(Gm[i][a]), u[i], acc);
                t[a][l] = acc;
            }
        }
        float *dw = j->dw + (oc * j->C + c) * 9;
        for (int a = 0; a < 3; a++) /* (G^T u) G, added into dW */
            for (int k = 0; k < 3; k++) {
                __m512 acc = _mm512_mul_ps(V(Gm[0][k]), t[a][0]);
                for (int l = 1; l < 6; l++)
                    acc = _mm512_fmadd_ps(V(Gm[l][k]), t[a][l], acc);
                float *p = dw + a * 3 + k;
                __m512 old = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, lanes, p, 4);
                _mm512_mask_i32scatter_ps(p, m, lanes, _mm512_add_ps(old, acc), 4);
            }
    }
}

/* ---- fused: one tile row at a time, transforms and GEMMs in the cache ----
 *
 * For few channels on large planes the transformed tensors of all tiles
 * (2.25x the input and the output) would go out to memory and back; here an
 * item is one tile row of one image: its input transform for all channels
 * (Vb [36][C][ntxp]), the 36 products with U by a broadcast micro-kernel
 * (Mb [36][NO][ntxp]) and its output transform, all in the thread's L2. */

#define FOC 12 /* output channels per fused micro-kernel */

/* mb (FOC rows of NV x 16 tiles, stride ms) = u^T vb over c < C: u [C][ldu]
 * (FOC columns from it), vb [C][ntxp]; rows past ocb are computed, not stored */
#define FZ_UKR(NV)                                                                          \
    __attribute__((target("avx512f"))) static void fz_ukr##NV(                              \
        float *mb, long ms, const float *u, long ldu, const float *vb, long vs, int C,      \
        int ocb)                                                                            \
    {                                                                                       \
        __m512 acc[FOC][NV];                                                                \
        _Pragma("GCC unroll 12") for (int m = 0; m < FOC; m++)                              \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[m][v] =                \
                _mm512_setzero_ps();                                                        \
        for (int c = 0; c < C; c++, u += ldu, vb += vs) {                                   \
            __m512 x[NV];                                                                   \
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) x[v] =                     \
                _mm512_loadu_ps(vb + 16 * v);                                               \
            _Pragma("GCC unroll 12") for (int m = 0; m < FOC; m++)                          \
            {                                                                               \
                __m512 w = _mm512_set1_ps(u[m]);                                            \
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) acc[m][v] =            \
                    _mm512_fmadd_ps(w, x[v], acc[m][v]);                                    \
            }                                                                               \
        }                                                                                   \
        for (int m = 0; m < ocb; m++)                                                       \
            for (int v = 0; v < NV; v++)                                                    \
                _mm512_storeu_ps(mb + m * ms + 16 * v, acc[m][v]);                          \
    }

FZ_UKR(1)
FZ_UKR(2)

typedef struct {
    wg_shape s;             /* of the input: C = C1 + C2 channels */
    const float *in1, *in2;
    const float *U;         /* [36][C][NO] (+ FOC floats of slack) */
    int NO, N1;             /* outputs: [0, N1) to o1, the rest to o2 */
    float *o1, *o2;
    const float *bias;
    float *work;            /* per thread: wn floats */
    size_t wn;
} fz_job;

/* Write 4 output rows of 16 tiles (y[a][c]: row a, column c of each tile, +
 * bv) at row 4 ty of plane o, clipped to H x W. */
__attribute__((target("avx512f"))) static void store_tiles(float *o, __m512 y[4][4], __m512 bv,
                                                           int ty, int tx, int H, int W)
{
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    long left = W - 4L * tx;
    for (int a = 0; a < 4 && 4 * ty + a < H; a++) {
        __m512 y0 = _mm512_add_ps(y[a][0], bv), y1 = _mm512_add_ps(y[a][1], bv);
        __m512 y2 = _mm512_add_ps(y[a][2], bv), y3 = _mm512_add_ps(y[a][3], bv);
        /* interleave the 4 columns of 16 tiles: row[4 t + c] = y[a][c][t] */
        __m512 e0 = _mm512_permutex2var_ps(y0, ilo, y2), e1 = _mm512_permutex2var_ps(y0, ihi, y2);
        __m512 f0 = _mm512_permutex2var_ps(y1, ilo, y3), f1 = _mm512_permutex2var_ps(y1, ihi, y3);
        float *row = o + (long)(4 * ty + a) * W + 4 * tx;
        _mm512_mask_storeu_ps(row, mask_n(left), _mm512_permutex2var_ps(e0, ilo, f0));
        _mm512_mask_storeu_ps(row + 16, mask_n(left - 16), _mm512_permutex2var_ps(e0, ihi, f0));
        _mm512_mask_storeu_ps(row + 32, mask_n(left - 32), _mm512_permutex2var_ps(e1, ilo, f1));
        _mm512_mask_storeu_ps(row + 48, mask_n(left - 48), _mm512_permutex2var_ps(e1, ihi, f1));
    }
}

/* A^T m A of 16 tiles (lanes in mk), m[xi] at mp + xi xs */
__attribute__((target("avx512f"))) static void tile_out(__m512 y[4][4], const float *mp, long xs,
                                                        __mmask16 mk)
{
    __m512 z[6][4];
    for (int i = 0; i < 6; i++) {
        __m512 m[6];
        for (int l = 0; l < 6; l++)
            m[l] = _mm512_maskz_loadu_ps(mk, mp + (6 * i + l) * xs);
        at6(z[i], m);
    }
    for (int c = 0; c < 4; c++) {
        __m512 v[6] = {z[0][c], z[1][c], z[2][c], z[3][c], z[4][c], z[5][c]}, r[4];
        at6(r, v);
        for (int a = 0; a < 4; a++)
            y[a][c] = r[a];
    }
}

/* out_task on a small plane (flat_ok): 16 tiles of several tile rows at a
 * time; after the interleave, tile row r of the 16 has its 4 output rows at
 * floats [4 r ntx, 4 (r + 1) ntx) of the 64. */
__attribute__((target("avx512f"))) static void out_flat(const out_job *j, float *o, int b, int oc)
{
    const wg_shape *s = &j->s;
    const __m512i ilo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i ihi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    int ntx = s->ntx, W = s->W;
    long npl = (long)s->nty * ntx, xs = (long)j->NO * s->T;
    const float *mp = j->M + (long)oc * s->T + b * npl;
    __m512 bv = _mm512_set1_ps(j->bias ? j->bias[oc] : 0.0f);
    float buf[4][64];
    for (long t = 0; t < npl; t += 16) {
        __m512 y[4][4];
        tile_out(y, mp + t, xs, mask_n(npl - t));
        for (int a = 0; a < 4; a++) {
            __m512 y0 = _mm512_add_ps(y[a][0], bv), y1 = _mm512_add_ps(y[a][1], bv);
            __m512 y2 = _mm512_add_ps(y[a][2], bv), y3 = _mm512_add_ps(y[a][3], bv);
            __m512 e0 = _mm512_permutex2var_ps(y0, ilo, y2), e1 = _mm512_permutex2var_ps(y0, ihi, y2);
            __m512 f0 = _mm512_permutex2var_ps(y1, ilo, y3), f1 = _mm512_permutex2var_ps(y1, ihi, y3);
            _mm512_storeu_ps(buf[a], _mm512_permutex2var_ps(e0, ilo, f0));
            _mm512_storeu_ps(buf[a] + 16, _mm512_permutex2var_ps(e0, ihi, f0));
            _mm512_storeu_ps(buf[a] + 32, _mm512_permutex2var_ps(e1, ilo, f1));
            _mm512_storeu_ps(buf[a] + 48, _mm512_permutex2var_ps(e1, ihi, f1));
        }
        for (int r = 0; r < 16 / ntx && t / ntx + r < s->nty; r++) {
            int ty = (int)(t / ntx) + r;
            for (int a = 0; a < 4 && 4 * ty + a < s->H; a++) {
                float *row = o + (long)(4 * ty + a) * W;
                const float *src = buf[a] + 4 * r * ntx;
                for (int k = 0; k < W; k += 16)
                    _mm512_mask_storeu_ps(row + k, mask_n(W - k), _mm512_loadu_ps(src + k));
            }
        }
    }
}

__attribute__((target("avx512f"))) static void fz_task(void *ctx, long it, int tid)
{
    const fz_job *j = ctx;
    const wg_shape *s = &j->s;
    int b = (int)(it / s->nty), ty = (int)(it % s->nty), C = s->C, NO = j->NO, ntxp = s->ntxp;
    long HW = (long)s->H * s->W;
    size_t rs = (size_t)6 * ntxp;
    float *R = j->work + (size_t)tid * j->wn, *Vb = R + 6 * rs, *Mb = Vb + (size_t)NX * C * ntxp;
    /* Vb[xi][c] = (B^T d B)[xi] of the row's tiles */
    for (int c = 0; c < C; c++) {
        const float *x = c < s->C1 ? j->in1 + ((long)b * s->C1 + c) * HW
                                   : j->in2 + ((long)b * s->C2 + c - s->C1) * HW;
        for (int i = 0; i < 6; i++) {
            int y = 4 * ty - 1 + i;
            if (y < 0 || y >= s->H)
                memset(R + i * rs, 0, rs * sizeof(float));
            else
                row_db(R + i * rs, x + (long)y * s->W, s->W, s->ntx, ntxp);
        }
        for (int tx = 0; tx < ntxp; tx += 16)
            for (int jj = 0; jj < 6; jj++) {
                __m512 d[6], o[6];
                for (int i = 0; i < 6; i++)
                    d[i] = _mm512_loadu_ps(R + i * rs + (size_t)jj * ntxp + tx);
                bt6(o, d);
                for (int i = 0; i < 6; i++)
                    _mm512_storeu_ps(Vb + ((size_t)(6 * i + jj) * C + c) * ntxp + tx, o[i]);
            }
    }
    /* Mb[xi] (NO, ntxp) = U[xi]^T (NO, C) Vb[xi] (C, ntxp) */
    for (int x = 0; x < NX; x++)
        for (int oc = 0; oc < NO; oc += FOC)
            for (int tv = 0; tv < ntxp; tv += 32) {
                float *mb = Mb + ((size_t)x * NO + oc) * ntxp + tv;
                const float *u = j->U + (size_t)x * C * NO + oc, *vb = Vb + (size_t)x * C * ntxp + tv;
                if (ntxp - tv >= 32)
                    fz_ukr2(mb, ntxp, u, NO, vb, ntxp, C, NN_MIN(FOC, NO - oc));
                else
                    fz_ukr1(mb, ntxp, u, NO, vb, ntxp, C, NN_MIN(FOC, NO - oc));
            }
    /* y = A^T Mb A into the output rows */
    for (int oc = 0; oc < NO; oc++) {
        float *o = oc < j->N1 ? j->o1 + ((long)b * j->N1 + oc) * HW
                              : j->o2 + ((long)b * (NO - j->N1) + oc - j->N1) * HW;
        __m512 bv = _mm512_set1_ps(j->bias ? j->bias[oc] : 0.0f);
        for (int tx = 0; tx < s->ntx; tx += 16) {
            __m512 y[4][4];
            tile_out(y, Mb + (size_t)oc * ntxp + tx, (long)NO * ntxp, 0xffff);
            store_tiles(o, y, bv, ty, tx, s->H, s->W);
        }
    }
}

static size_t fz_work(const wg_shape *s, int NO)
{
    return (size_t)36 * s->ntxp + (size_t)NX * (s->C + NO) * s->ntxp;
}

/* Is the fused path the one for these sizes? Its working set (U, and the
 * row's transformed input and output) within 768 KB, in a core's L2.
 * Measured against the unfused path (CPU time, paired runs, batch 8):
 * 0.69-0.71x the time on 64x64 planes with 32-64 channels, 0.94x at 32 ->
 * 64 on 32x32 (516 KB), 1.06x at 64 -> 64 on 32x32 (885 KB). */
static int fz_wanted(const wg_shape *s, int NO)
{
    /* a tile row of fewer than 8 tiles would leave most of the micro-kernel's
     * lanes idle (16x16 planes: 2x slower than unfused) */
    return nn_winograd_fused() && s->ntx >= 8 &&
           4.0 * (NX * (double)s->C * NO + fz_work(s, NO)) <= 768 << 10;
}

/* out = the convolution of s's input with U [36][C][NO], fused */
static void fz_run(float *o1, float *o2, int N1, const float *in1, const float *in2,
                   const float *U, int NO, const float *bias, const wg_shape *s, float *work)
{
    fz_job j = {*s, in1, in2, U, NO, N1, o1, o2, bias, work, fz_work(s, NO)};
    nn_parallel((long)s->B * s->nty, fz_task, &j);
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
    size_t nu = (size_t)NX * OC * s.C + FOC, nv = (size_t)NX * s.C * s.T, nm = (size_t)NX * OC * s.T;
    int fused = fz_wanted(&s, OC);
    if (fused)
        nv = (size_t)nn_threads() * fz_work(&s, OC), nm = 0;
    float *U = nn_scratch((nu + nv + nm + rbuf_floats(&s)) * sizeof(float));
    if (!U)
        return -1;
    float *V = U + nu, *M = V + nv, *rbuf = M + nm;
    wt_job wj = {U, weight, OC, s.C, 0, 0};
    memset(U + nu - FOC, 0, FOC * sizeof(float));
    nn_parallel(s.C, wt_task, &wj);
    if (fused) {
        fz_run(out, NULL, OC, in1, in2, U, OC, bias, &s, V);
        return 0;
    }
    input_transform(V, rbuf, in1, in2, &s);
    gemmx_job gj = {1, 0, OC, (int)s.T, s.C, U, V, M, (long)OC * s.C, (long)s.C * s.T,
                     (long)OC * s.T, OC, (int)s.T, (int)s.T};
    nn_parallel(NX, gemmx_task, &gj);
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
    size_t ndw = (size_t)NX * (C + OC) * s.T + (size_t)NX * OC * C;
    size_t ndx = (size_t)NX * C * OC + FOC + (size_t)NX * (OC + C) * s.T;
    wg_shape sd = shape_of(B, OC, 0, H, W, C); /* dY as the input, C outputs */
    size_t nr = NN_MAX(rbuf_floats(&s), rbuf_floats(&sd));
    float *buf = nn_scratch((NN_MAX(ndw, ndx) + nr) * sizeof(float));
    if (!buf)
        return -1;
    float *rbuf = buf + NN_MAX(ndw, ndx);
    if (dweight) {
        float *V = buf, *Gd = V + (size_t)NX * C * s.T, *dU = Gd + (size_t)NX * OC * s.T;
        input_transform(V, rbuf, in1, in2, &s);
        dy_job yj = {s, dout, Gd, rbuf, rbuf_per_thread(&s)};
        nn_parallel((long)B * OC, dy_task, &yj);
        /* dU[xi] (OC, C) = Gd[xi] (OC, T) V[xi] (C, T)^T */
        gemmx_job gj = {0, 1, OC, C, (int)s.T, Gd, V, dU, (long)OC * s.T, (long)C * s.T,
                         (long)OC * C, (int)s.T, (int)s.T, C};
        nn_parallel(NX, gemmx_task, &gj);
        dwt_job tj = {dweight, dU, OC, C};
        nn_parallel(OC, dwt_task, &tj);
    }
    if (dinp1 || dinp2) {
        /* output channels of the dX "convolution": [c0, c0 + nc) of C */
        int c0 = dinp1 ? 0 : C1, nc = (dinp1 ? C1 : 0) + (dinp2 ? C2 : 0);
        if (nc == 0)
            return 0;
        float *U = buf, *V = U + (size_t)NX * nc * OC + FOC, *M = V + (size_t)NX * OC * sd.T;
        wt_job wj = {U, weight, OC, C, c0, nc};
        memset(V - FOC, 0, FOC * sizeof(float));
        nn_parallel(OC, wtf_task, &wj);
        /* M's rows: [0, C1 - c0) to dinp1 (when c0 = 0), the rest to dinp2 */
        int n1 = c0 == 0 ? NN_MIN(C1, nc) : 0;
        if (fz_wanted(&sd, nc)) {
            fz_run(dinp1, dinp2, n1, dout, NULL, U, nc, NULL, &sd, V);
            return 0;
        }
        input_transform(V, rbuf, dout, NULL, &sd);
        gemmx_job gj = {1, 0, nc, (int)sd.T, OC, U, V, M, (long)nc * OC, (long)OC * sd.T,
                         (long)nc * sd.T, nc, (int)sd.T, (int)sd.T};
        nn_parallel(NX, gemmx_task, &gj);
        out_job oj = {sd, M, nc, dinp1, dinp2, n1, NULL};
        nn_parallel((long)B * nc, out_task, &oj);
    }
    return 0;
}

/* Where F(4x4, 3x3) beats the direct kernels. First measured layer by layer
 * (batch 8, Zen 4, 2026-12-03): 0.57-0.77x the time on 16x16 to 64x64
 * planes with 64 to 256 channels. The direct kernels have gained since
 * (prefetching, the pool's claims), and whole U-Net steps (paired runs,
 * 2 threads, AVX-512 AMD EPYC, 2026-12-06) put the line higher: with the
 * old rule (planes of 256 pixels, C and OC >= 32) a 128x128 batch-2 step
 * took 1.23x the time of the direct kernels alone and batch 8 1.10x, at
 * 256x256 batch 2 par and batch 8 0.94x. What the whole steps chose:
 * C, OC >= 64, C + OC >= 192 and B H W / 16 >= 512 tiles (the 36 GEMMs'
 * N). Why, a reading not measured: with fewer channels the GEMMs are too
 * short to hide the transforms' memory traffic, with fewer tiles the
 * weights' transforms (done per call) weigh more. With this rule, against
 * the direct kernels alone: 256 b8 0.955x, 256 b2 0.987x, 128 b8 1.01x
 * (noise), 128 b2 the same kernels. Not on 8x8 planes, where a tile row
 * fills 2 of a vector's 16 lanes. */
int wg_wanted(int B, int C, int H, int W, int OC)
{
    if (nn_winograd() != 1)
        return nn_winograd() == 2;
    return (long)H * W >= 256 && C >= 64 && OC >= 64 && C + OC >= 192 && (long)B * H * W / 16 >= 512;
}
