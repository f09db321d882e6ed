/* nn_gemm: single-precision matrix multiply with packed panels (Goto/BLIS
 * loop order) and one micro-kernel per instruction set: AVX-512 12x32,
 * AVX2+FMA 6x16, portable C 4x16. The kernels are compiled with target
 * attributes, so the file builds with the project's default flags and the
 * path is chosen at run time (nn_isa_active). */
#include <immintrin.h>
#include <string.h>

#include "core/tensor.h"
#include "nn/internal.h"
#include "nn/nn.h"

#define KC 256
#define MC 96
#define NC 512
#define MAXMR 12
#define MAXNR 32

/* acc (mr x nr) = a^T b over K, then C = alpha acc + beta C (beta 0: C ignored). */
typedef void (*ukr_fn)(int K, const float *a, const float *b, float *c, long ldc, int mr, int nr,
                       float alpha, float beta);

static void ukr_c(int K, const float *a, const float *b, float *c, long ldc, int mr, int nr,
                  float alpha, float beta)
{
    float acc[4][16] = {{0}};
    for (int k = 0; k < K; k++) {
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 16; j++)
                acc[i][j] += a[i] * b[j];
        a += 4;
        b += 16;
    }
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++)
            c[i * ldc + j] = alpha * acc[i][j] + (beta != 0 ? beta * c[i * ldc + j] : 0.0f);
}

__attribute__((target("avx2,fma"))) static void ukr_avx2(int K, const float *a, const float *b,
                                                          float *c, long ldc, int mr, int nr,
                                                          float alpha, float beta)
{
    __m256 acc[6][2];
#pragma GCC unroll 6
    for (int i = 0; i < 6; i++)
        acc[i][0] = acc[i][1] = _mm256_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < 6; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += 6;
        b += 16;
    }
    if (nr == 16) {
        __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            __m256 r0 = _mm256_mul_ps(acc[i][0], va), r1 = _mm256_mul_ps(acc[i][1], va);
            if (beta != 0) {
                r0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci), r0);
                r1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(ci + 8), r1);
            }
            _mm256_storeu_ps(ci, r0);
            _mm256_storeu_ps(ci + 8, r1);
        }
    } else {
        float t[16];
        for (int i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            _mm256_storeu_ps(t, acc[i][0]);
            _mm256_storeu_ps(t + 8, acc[i][1]);
            for (int j = 0; j < nr; j++)
                ci[j] = alpha * t[j] + (beta != 0 ? beta * ci[j] : 0.0f);
        }
    }
}

__attribute__((target("avx512f"))) static void ukr_avx512(int K, const float *a, const float *b,
                                                           float *c, long ldc, int mr, int nr,
                                                           float alpha, float beta)
{
    __m512 acc[12][2];
    /* fetch the C tile while the loop runs: its rows are often 4 KB apart */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(c + i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + i * ldc + 16), _MM_HINT_T0);
    }
#pragma GCC unroll 12
    for (int i = 0; i < 12; i++)
        acc[i][0] = acc[i][1] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
#pragma GCC unroll 12
        for (int i = 0; i < 12; i++) {
            __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += 12;
        b += 32;
    }
    __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1);
    __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int i = 0; i < mr; i++) {
        float *ci = c + i * ldc;
        __m512 r0 = _mm512_mul_ps(acc[i][0], va), r1 = _mm512_mul_ps(acc[i][1], va);
        if (beta != 0) {
            r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, ci), r0);
            r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, ci + 16), r1);
        }
        _mm512_mask_storeu_ps(ci, m0, r0);
        _mm512_mask_storeu_ps(ci + 16, m1, r1);
    }
}

typedef struct {
    int mr, nr;
    ukr_fn ukr;
} gemm_kernel;

static gemm_kernel kernel_for(int isa)
{
    switch (isa) {
    case NN_ISA_AVX512:
        return (gemm_kernel){12, 32, ukr_avx512};
    case NN_ISA_AVX2:
        return (gemm_kernel){6, 16, ukr_avx2};
    default:
        return (gemm_kernel){4, 16, ukr_c};
    }
}

/* dst[c * ds + r] = src[r * ss + c] for r < rows, c < cols: a transposing
 * copy in 8 x 8 tiles, so that both sides stay within a few cache lines. */
static void transpose_copy_c(float *dst, long ds, const float *src, long ss, int rows, int cols)
{
    for (int c0 = 0; c0 < cols; c0 += 8) {
        int cn = NN_MIN(8, cols - c0);
        for (int r0 = 0; r0 < rows; r0 += 8) {
            int rn = NN_MIN(8, rows - r0);
            if (rn == 8 && cn == 8) {
                float t[8][8];
                for (int r = 0; r < 8; r++)
                    memcpy(t[r], src + (long)(r0 + r) * ss + c0, 8 * sizeof(float));
                for (int c = 0; c < 8; c++)
                    for (int r = 0; r < 8; r++)
                        dst[(long)(c0 + c) * ds + r0 + r] = t[r][c];
            } else {
                for (int r = 0; r < rn; r++)
                    for (int c = 0; c < cn; c++)
                        dst[(long)(c0 + c) * ds + r0 + r] = src[(long)(r0 + r) * ss + c0 + c];
            }
        }
    }
}

/* The same in 16 x 16 blocks of AVX-512 registers (unpacks, then 128-bit
 * lane shuffles); partial blocks by masked loads and stores. The GEMMs of
 * dW (both operands reduced along their rows) spend their packing here. */
__attribute__((target("avx512f"))) static void transpose_copy_avx512(float *dst, long ds,
                                                                     const float *src, long ss,
                                                                     int rows, int cols)
{
    for (int r0 = 0; r0 < rows; r0 += 16) {
        int rn = NN_MIN(16, rows - r0);
        __mmask16 mr = rn == 16 ? 0xffff : (__mmask16)((1u << rn) - 1);
        for (int c0 = 0; c0 < cols; c0 += 16) {
            int cn = NN_MIN(16, cols - c0);
            __mmask16 mc = cn == 16 ? 0xffff : (__mmask16)((1u << cn) - 1);
            __m512 r[16], t[16], u[16];
            for (int i = 0; i < 16; i++)
                r[i] = i < rn ? _mm512_maskz_loadu_ps(mc, src + (long)(r0 + i) * ss + c0)
                              : _mm512_setzero_ps();
            for (int i = 0; i < 16; i += 2) {
                t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
                t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
            }
            for (int i = 0; i < 16; i += 4) { /* u[i + k], 128-bit lane L: rows i..i+3 of column 4L + k */
                __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 2]);
                __m512d c = _mm512_castps_pd(t[i + 1]), d = _mm512_castps_pd(t[i + 3]);
                u[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
                u[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
                u[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, d));
                u[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, d));
            }
            for (int k = 0; k < 4; k++) {
                __m512 x0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44);
                __m512 x1 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xee);
                __m512 y0 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44);
                __m512 y1 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xee);
                __m512 col[4] = {_mm512_shuffle_f32x4(x0, y0, 0x88), _mm512_shuffle_f32x4(x0, y0, 0xdd),
                                 _mm512_shuffle_f32x4(x1, y1, 0x88), _mm512_shuffle_f32x4(x1, y1, 0xdd)};
                for (int L = 0; L < 4; L++)
                    if (4 * L + k < cn)
                        _mm512_mask_storeu_ps(dst + (long)(c0 + 4 * L + k) * ds + r0, mr, col[L]);
            }
        }
    }
}

static void transpose_copy(float *dst, long ds, const float *src, long ss, int rows, int cols)
{
    if (nn_isa_active() == NN_ISA_AVX512)
        transpose_copy_avx512(dst, ds, src, ss, rows, cols);
    else
        transpose_copy_c(dst, ds, src, ss, rows, cols);
}

/* op(A) rows [i0, i0+mc), cols [k0, k0+kc) into MR-row panels [k][MR], zero-padded. */
static void pack_a(float *dst, int ta, const float *A, long lda, int i0, int mc, int k0, int kc,
                   int MR)
{
    for (int ir = 0; ir < mc; ir += MR) {
        int mr = NN_MIN(MR, mc - ir);
        if (!ta)
            transpose_copy(dst, MR, A + (long)(i0 + ir) * lda + k0, lda, mr, kc);
        else
            for (int k = 0; k < kc; k++)
                memcpy(dst + (long)k * MR, A + (long)(k0 + k) * lda + i0 + ir,
                       (size_t)mr * sizeof(float));
        if (mr < MR)
            for (int k = 0; k < kc; k++)
                memset(dst + (long)k * MR + mr, 0, (size_t)(MR - mr) * sizeof(float));
        dst += (long)kc * MR;
    }
}

/* op(B) rows [k0, k0+kc), cols [j0, j0+nc) into NR-column panels [k][NR], zero-padded. */
static void pack_b(float *dst, int tb, const float *B, long ldb, int k0, int kc, int j0, int nc,
                   int NR)
{
    for (int jr = 0; jr < nc; jr += NR) {
        int nr = NN_MIN(NR, nc - jr);
        if (!tb)
            for (int k = 0; k < kc; k++)
                memcpy(dst + (long)k * NR, B + (long)(k0 + k) * ldb + j0 + jr,
                       (size_t)nr * sizeof(float));
        else
            transpose_copy(dst, NR, B + (long)(j0 + jr) * ldb + k0, ldb, nr, kc);
        if (nr < NR)
            for (int k = 0; k < kc; k++)
                memset(dst + (long)k * NR + nr, 0, (size_t)(NR - nr) * sizeof(float));
        dst += (long)kc * NR;
    }
}

static float *pack_space(size_t floats)
{
    return nn_scratch_slot(NN_SCRATCH_GEMM, floats * sizeof(float));
}

/* The serial GEMM on the block of C rows [m0, m1), columns [n0, n1). */
static void gemm_block(gemm_kernel g, int ta, int tb, int m0, int m1, int n0, int n1, int K,
                       float alpha, const float *A, long lda, const float *B, long ldb,
                       float beta, float *C, long ldc)
{
    int M = m1 - m0, N = n1 - n0;
    float *bp, *ap;
    if (M <= 0 || N <= 0)
        return;
    if (K == 0) {
        for (int i = m0; i < m1; i++)
            for (int j = n0; j < n1; j++)
                C[i * ldc + j] = beta != 0 ? beta * C[i * ldc + j] : 0.0f;
        return;
    }
    size_t bsz = (size_t)KC * (NC + MAXNR), asz = (size_t)(MC + MAXMR) * KC;
    bp = pack_space(bsz + asz);
    if (!bp)
        return; /* out of memory in a scratch of < 1 MB: nothing sensible to do */
    ap = bp + bsz;
    for (int jc = 0; jc < N; jc += NC) {
        int nc = NN_MIN(NC, N - jc);
        for (int pc = 0; pc < K; pc += KC) {
            int kc = NN_MIN(KC, K - pc);
            float bet = pc == 0 ? beta : 1.0f;
            pack_b(bp, tb, B, ldb, pc, kc, n0 + jc, nc, g.nr);
            for (int ic = 0; ic < M; ic += MC) {
                int mc = NN_MIN(MC, M - ic);
                pack_a(ap, ta, A, lda, m0 + ic, mc, pc, kc, g.mr);
                for (int jr = 0; jr < nc; jr += g.nr) {
                    int nr = NN_MIN(g.nr, nc - jr);
                    for (int ir = 0; ir < mc; ir += g.mr) {
                        int mr = NN_MIN(g.mr, mc - ir);
                        g.ukr(kc, ap + (long)ir * kc, bp + (long)jr * kc,
                              C + (long)(m0 + ic + ir) * ldc + n0 + jc + jr, ldc, mr, nr, alpha,
                              bet);
                    }
                }
            }
        }
    }
}

typedef struct {
    gemm_kernel g;
    int ta, tb, M, N, K, alongN;
    long units_per_item;
    float alpha, beta;
    const float *A, *B;
    float *C;
    long lda, ldb, ldc;
} gemm_job;

static void gemm_task(void *ctx, long it, int tid)
{
    const gemm_job *j = ctx;
    long lo = it * j->units_per_item, hi = lo + j->units_per_item;
    (void)tid;
    if (j->alongN)
        gemm_block(j->g, j->ta, j->tb, 0, j->M, (int)NN_MIN(lo * j->g.nr, j->N),
                   (int)NN_MIN(hi * j->g.nr, j->N), j->K, j->alpha, j->A, j->lda, j->B, j->ldb,
                   j->beta, j->C, j->ldc);
    else
        gemm_block(j->g, j->ta, j->tb, (int)NN_MIN(lo * j->g.mr, j->M),
                   (int)NN_MIN(hi * j->g.mr, j->M), 0, j->N, j->K, j->alpha, j->A, j->lda, j->B,
                   j->ldb, j->beta, j->C, j->ldc);
}

void nn_gemm(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
             const float *B, int ldb, float beta, float *C, int ldc, int threaded)
{
    gemm_kernel g = kernel_for(nn_isa_active());
    int nt = threaded ? nn_threads() : 1;
    double work = (double)M * N * K;
    if (nt > 1 && work > 2e5) {
        /* split the larger of M and N in whole kernel tiles, a few items per thread */
        gemm_job j = {g, ta, tb, M, N, K, N >= M, 0, alpha, beta, A, B, C, lda, ldb, ldc};
        long units = j.alongN ? (N + g.nr - 1) / g.nr : (M + g.mr - 1) / g.mr;
        long items = NN_MIN(units, 4L * nt);
        j.units_per_item = (units + items - 1) / items;
        items = (units + j.units_per_item - 1) / j.units_per_item;
        nn_parallel_work(items, (long)(work / items / 16), gemm_task, &j);
        return;
    }
    gemm_block(g, ta, tb, 0, M, 0, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
