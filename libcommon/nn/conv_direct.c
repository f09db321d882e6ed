/* Direct convolution kernels for AVX-512, NCHW, no im2col: 3x3 (pad 1) and
 * 1x1, stride 1, over an input that may be a concatenation [in1, in2].
 *
 * The pixels of a plane are taken as one flat index p = y W + x in vectors of
 * 16 (H W is a multiple of 16). The input pixel of output p under the shift
 * (dy, dx) is p + dy W + dx for every lane whose row and column stay inside
 * the image; a 16-bit mask per (vector, shift) zeroes the others, and masked
 * loads never fault. So one kernel serves every width, 8x8 included; and the
 * vectors of a tile may come from different images of the batch, so small
 * images fill whole tiles.
 *
 *   forward      out (oc, p) = sum_c sum_s w (oc, c, s) in (c, p + off_s)
 *                micro-kernel: 8 output channels x 3 vectors of pixels, the
 *                weights broadcast from a packed panel [c][K K][8]; the rows
 *                two tiles ahead are prefetched (there are too many planes
 *                for the hardware prefetcher to follow).
 *   backward dX  the same kernel on dout with the weights transposed and
 *                flipped: dinp (c, p) = sum_oc sum_s w (oc, c, KK-1-s) dout (oc, p + off_s).
 *   backward dW  dw (oc, c, s) += sum_p dout (oc, p) in (c, p + off_s):
 *                for planes of 256 pixels or more, micro-kernels of 16-lane
 *                partial sums over the pixels (3x3: 4 output channels x 2
 *                input channels x one kernel row; 1x1: 4 x 4), reduced once
 *                per work item; for smaller planes (few pixels, many
 *                channels) a GEMM over the whole batch, dout (OC, B HW)
 *                times im2col (9 C, B HW)^T.
 *
 * The same kernels serve two more layouts (their sections below): small
 * planes with the batch folded into one tall image (conv_fold_*), and 3x3
 * stride-2 convolutions over the input's four phases (conv_s2_*); a taps
 * struct says where a kernel's taps read.
 *
 * Work is split in items over the engine's thread pool (nn_parallel).
 * Returns -1 (the caller takes the im2col + GEMM path) when the instruction
 * set is not AVX-512 or the pixels fill no whole vectors.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/tensor.h"
#include "nn/internal.h"
#include "nn/nn.h"


#define MR 8  /* output channels per forward micro-kernel */
/* Outputs larger than this (bytes) bypass the caches; LRCPIPE_STREAM_MIN
 * overrides it (the tests use it to exercise the path on small shapes). */
static double stream_min(void)
{
    static double v = -1;
    if (v < 0) {
        const char *e = getenv("LRCPIPE_STREAM_MIN");
        v = e && *e ? atof(e) : 16.0 * (1 << 20);
    }
    return v;
}
#define NVF 3 /* pixel vectors per forward micro-kernel */

/* ---- masks, cached per plane geometry ---- */

typedef struct {
    int H, W, PH, kind;
    uint16_t *m; /* [nvec][9] */
} maskset;

static maskset mcache[32];
static int nmcache;
static pthread_mutex_t mlock = PTHREAD_MUTEX_INITIALIZER;

/* Tap s (ky, kx) of a 3x3 stride-2 convolution reads phase *ph = 2 py + px
 * of the input (py = ky != 1, px = kx != 1: rows 2 oy + ky - 1 are even for
 * ky = 1) at the shift (*dy, *dx): -1 for ky (kx) = 0, else 0. */
static void s2_tap(int s, int *ph, int *dy, int *dx)
{
    int ky = s / 3, kx = s % 3;
    *ph = 2 * (ky != 1) + (kx != 1);
    *dy = ky == 0 ? -1 : 0;
    *dx = kx == 0 ? -1 : 0;
}

/* The taps of a 3x3 stride-2 convolution in phase order (phase 0's one, 1's
 * two, 2's two, 3's four): s2_order[e], phase ph's from s2_first[ph]. */
static const int s2_order[9] = {4, 3, 5, 1, 7, 0, 2, 6, 8};
static const int s2_first[5] = {0, 1, 3, 5, 9};

/* The shift of mask e for a kind of table: MASK_PLAIN (dy, dx) = (e / 3 - 1,
 * e % 3 - 1); MASK_S2 tap e's of a stride-2 convolution's phases; MASK_S2T
 * the backward-data gather of tap s2_order[e]: the opposite shift. */
enum { MASK_PLAIN, MASK_S2, MASK_S2T };
static void mask_shift(int kind, int e, int *dy, int *dx)
{
    int ph;
    if (kind == MASK_PLAIN) {
        *dy = e / 3 - 1, *dx = e % 3 - 1;
        return;
    }
    s2_tap(kind == MASK_S2 ? e : s2_order[e], &ph, dy, dx);
    if (kind == MASK_S2T)
        *dy = -*dy, *dx = -*dx;
}

/* Masks of an H x W plane made of images PH rows high stacked (PH = H: one
 * image; PH < H: a batch folded into one tall plane, conv_fold_*): a shift
 * that crosses an image's top or bottom row is masked like the plane's.
 * Nine per vector of 16 pixels, their shifts as mask_shift(kind) says. */
static const uint16_t *masks_kind(int H, int W, int PH, int kind)
{
    const uint16_t *r = NULL;
    pthread_mutex_lock(&mlock);
    for (int i = 0; i < nmcache; i++)
        if (mcache[i].H == H && mcache[i].W == W && mcache[i].PH == PH && mcache[i].kind == kind) {
            r = mcache[i].m;
            break;
        }
    if (!r) {
        long nvec = (long)H * W / 16;
        uint16_t *m = malloc((size_t)nvec * 9 * sizeof *m);
        if (m) {
            for (long v = 0; v < nvec; v++)
                for (int s = 0; s < 9; s++) {
                    int dy, dx;
                    unsigned bits = 0;
                    mask_shift(kind, s, &dy, &dx);
                    for (int i = 0; i < 16; i++) {
                        long p = 16 * v + i;
                        int y = (int)(p / W % PH), x = (int)(p % W);
                        if (y + dy >= 0 && y + dy < PH && x + dx >= 0 && x + dx < W)
                            bits |= 1u << i;
                    }
                    m[v * 9 + s] = (uint16_t)bits;
                }
            if (nmcache == 32) { /* evict the oldest */
                free(mcache[0].m);
                memmove(mcache, mcache + 1, 31 * sizeof *mcache);
                nmcache--;
            }
            mcache[nmcache++] = (maskset){H, W, PH, kind, m};
            r = m;
        }
    }
    pthread_mutex_unlock(&mlock);
    return r;
}

static const uint16_t *masks_for(int H, int W, int PH)
{
    return masks_kind(H, W, PH, MASK_PLAIN);
}

/* ---- forward micro-kernel ---- */

/* acc (MR x NV vectors) over the channels of one input segment; vector v
 * reads plane c of its image at in[v] + c HW (+ the shift's offset). */
#define FWD_SEGMENT(NV, KK)                                                                 \
    for (int c = 0; c < C; c++) {                                                           \
        const long co = (long)c * xs;                                                       \
        const float *wc = wp + (long)c * KK * MR;                                           \
        if (pf & 1) /* the rows of the tile after next */                                   \
            for (int r = 0; r < t->npf; r++)                                                \
                for (int l = 0; l < 3; l++)                                                 \
                    _mm_prefetch((const char *)(in[0] + co + t->pfo[r] + 96 + 16 * l),      \
                                 _MM_HINT_T0);                                              \
        for (int s = 0; s < KK; s++) {                                                      \
            __m512 x[NV];                                                                   \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) x[v] =                     \
                KK == 1 ? _mm512_loadu_ps(in[v] + co)                                       \
                        : _mm512_maskz_loadu_ps(mk[v][s], in[v] + co + off[s]);             \
            _Pragma("GCC unroll 8") for (int m = 0; m < MR; m++)                            \
            {                                                                               \
                __m512 w = _mm512_set1_ps(wc[s * MR + m]);                                  \
                _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] =            \
                    _mm512_fmadd_ps(w, x[v], acc[m][v]);                                    \
            }                                                                               \
        }                                                                                   \
    }

typedef struct {
    const float *in1[NVF], *in2[NVF]; /* per vector: plane 0 of its image, at its pixels */
    const uint16_t *mk[NVF];          /* per vector: its mask row */
    float *out[NVF];                  /* per vector: output plane oc0 of its image */
    const long *pfo;                  /* the offsets whose rows are prefetched */
    int npf;
} tile;

#define FWD_UKR(NV, KK)                                                                     \
    __attribute__((target("avx512f,avx512bw"))) static void fwd_ukr##NV##_##KK(             \
        const tile *t, int C1, int C2, long xs, long os, const float *wp, const long *off,  \
        int mr, const float *bias, int pf)                                                  \
    {                                                                                       \
        __m512 acc[MR][NV];                                                                 \
        const uint16_t *mk[NV];                                                             \
        _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) mk[v] = t->mk[v];              \
        _Pragma("GCC unroll 8") for (int m = 0; m < MR; m++)                                \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] =                \
                _mm512_setzero_ps();                                                        \
        {                                                                                   \
            const float *in[NV];                                                            \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) in[v] = t->in1[v];         \
            int C = C1;                                                                     \
            FWD_SEGMENT(NV, KK)                                                             \
        }                                                                                   \
        if (C2) {                                                                           \
            const float *in[NV];                                                            \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) in[v] = t->in2[v];         \
            int C = C2;                                                                     \
            wp += (long)C1 * KK * MR;                                                       \
            FWD_SEGMENT(NV, KK)                                                             \
        }                                                                                   \
        _Pragma("GCC unroll 8") for (int m = 0; m < MR; m++) if (m < mr)                    \
        {                                                                                   \
            __m512 b = _mm512_set1_ps(bias ? bias[m] : 0.0f);                               \
            /* a large output streams past the caches (no read for ownership) */            \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)                            \
            {                                                                               \
                if (pf & 2)                                                                 \
                    _mm512_stream_ps(t->out[v] + m * os, _mm512_add_ps(acc[m][v], b));      \
                else                                                                        \
                    _mm512_storeu_ps(t->out[v] + m * os, _mm512_add_ps(acc[m][v], b));      \
            }                                                                               \
        }                                                                                   \
    }

FWD_UKR(1, 9)
FWD_UKR(2, 9)
FWD_UKR(3, 9)
FWD_UKR(1, 1)
FWD_UKR(2, 1)
FWD_UKR(3, 1)
/* 2 and 4 taps: the phases of a stride-2 convolution's backward dX (conv_s2_*) */
FWD_UKR(1, 2)
FWD_UKR(2, 2)
FWD_UKR(3, 2)
FWD_UKR(1, 4)
FWD_UKR(2, 4)
FWD_UKR(3, 4)

typedef void (*fwd_ukr_fn)(const tile *, int, int, long, long, const float *, const long *, int,
                           const float *, int);
static const fwd_ukr_fn fwd_ukrs[10][4] = {
    [1] = {NULL, fwd_ukr1_1, fwd_ukr2_1, fwd_ukr3_1},
    [2] = {NULL, fwd_ukr1_2, fwd_ukr2_2, fwd_ukr3_2},
    [4] = {NULL, fwd_ukr1_4, fwd_ukr2_4, fwd_ukr3_4},
    [9] = {NULL, fwd_ukr1_9, fwd_ukr2_9, fwd_ukr3_9},
};

/* Where a convolution's taps read: KK taps at offsets off[s] from the
 * output pixel, masked by masks[v * 9 + mbase + s] for pixel vector v (NULL
 * for KK = 1: no shift, no mask); input planes xs floats apart, output
 * planes os apart; images xb and ob apart (0: C xs and OC os, one image's
 * planes after the other's; conv_s2_* keep the images of a plane side by
 * side). For a plain K x K convolution on H x W planes xs = os = H W and
 * the masks are masks_for's (taps_plain). */
typedef struct {
    int KK, mbase;
    long off[9], xs, os, xb, ob;
    const uint16_t *masks;
    int npf;     /* the rows prefetched: at offsets pfo[0..npf), or */
    long pfo[4]; /* npf = 0: those of taps 1, 4, 7 (one tap: its own) */
} taps;

static taps taps_plain(int H, int W, int K, const uint16_t *masks)
{
    taps t = {.KK = K * K, .xs = (long)H * W, .os = (long)H * W, .masks = masks};
    for (int s = 0; s < 9; s++)
        t.off[s] = K == 3 ? (long)(s / 3 - 1) * W + (s % 3 - 1) : 0;
    return t;
}

typedef struct {
    float *out;
    const float *in1, *in2, *wp, *bias;
    int C1, C2, OC, nocb, ocg, ngrp, stream;
    long HW, nvec, nq, qspan, nspan;
    taps tp;
} fwd_job;

static void fwd_task(void *ctx, long it, int tid)
{
    const fwd_job *j = ctx;
    const taps *tp = &j->tp;
    int g = (int)(it % j->ngrp);
    long sp = it / j->ngrp, xs = tp->xs, os = tp->os;
    long q0 = sp * j->qspan, q1 = NN_MIN(j->nq, q0 + j->qspan);
    const fwd_ukr_fn *ukr = fwd_ukrs[tp->KK];
    static const uint16_t ones[9] = {0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
                                     0xffff, 0xffff, 0xffff, 0xffff};
    long pfo[4];
    int npf = tp->npf;
    (void)tid;
    if (npf)
        memcpy(pfo, tp->pfo, sizeof pfo);
    else
        for (int r = tp->KK / 2 - tp->KK / 3; r < tp->KK; r += 3)
            pfo[npf++] = tp->off[r];
    for (int ob = g * j->ocg; ob < NN_MIN(j->nocb, (g + 1) * j->ocg); ob++) {
        int nv, oc0 = ob * MR, mr = NN_MIN(MR, j->OC - oc0);
        const float *w = j->wp + (long)ob * (j->C1 + j->C2) * tp->KK * MR;
        for (long q = q0; q < q1; q += nv) {
            /* tiles of 3 vectors; a remainder of 1 borrows one: 2 + 2 */
            nv = (int)NN_MIN(NVF, q1 - q);
            if (q1 - q == 4)
                nv = 2;
            tile t = {.pfo = pfo, .npf = npf};
            for (int v = 0; v < nv; v++) {
                long b = (q + v) / j->nvec, pv = (q + v) % j->nvec;
                t.in1[v] = j->in1 + b * (tp->xb ? tp->xb : j->C1 * xs) + 16 * pv;
                t.in2[v] = j->in2 ? j->in2 + b * j->C2 * xs + 16 * pv : NULL;
                t.out[v] = j->out + b * (tp->ob ? tp->ob : j->OC * os) + oc0 * os + 16 * pv;
                t.mk[v] = tp->masks ? tp->masks + pv * 9 + tp->mbase : ones;
            }
            ukr[nv](&t, j->C1, j->C2, xs, os, w, tp->off, mr, j->bias ? j->bias + oc0 : NULL,
                    (ob == g * j->ocg) | (j->stream << 1));
        }
    }
}

/* The forward "convolution" loop shared by forward and backward-data:
 * out (B, OC, HW) = conv(cat[in1 (B, C1, HW), in2 (B, C2, HW)]) with packed
 * weights wp [ceil(OC/MR)][C1+C2][KK][MR], the taps tp (planes of HW
 * pixels, strides as tp says). Items: (span of pixel vectors over the
 * batch, group of output-channel blocks); the span's rows of all input
 * channels stay in L2 while the group's blocks reuse them. */
static void fwd_run(float *out, const float *in1, int C1, const float *in2, int C2,
                    const float *wp, const float *bias, int B, long HW, int OC, const taps *tp)
{
    fwd_job j = {.out = out, .in1 = in1, .in2 = in2, .wp = wp, .bias = bias, .C1 = C1,
                 .C2 = C2, .OC = OC, .tp = *tp};
    int C = C1 + C2, KK = tp->KK;
    j.HW = HW, j.nvec = j.HW / 16, j.nq = B * j.nvec;
    j.nocb = (OC + MR - 1) / MR;
    if ((double)OC * C * KK > (double)B * C * j.HW) {
        /* more weights than input (small planes, many channels): one span of
         * all pixels, so that each weight panel is read once; items are
         * groups of 2 output blocks */
        j.qspan = j.nq;
        j.ocg = NN_MIN(j.nocb, 2);
    } else {
        /* about 256 KB of input rows per span, in whole tiles */
        long span = (256L << 10) / ((long)C * (KK > 1 ? 3 : 1) * 64);
        j.qspan = NN_MAX(NVF, NN_MIN(96, span / NVF * NVF));
        j.ocg = NN_MAX(1, NN_MIN(j.nocb, 8)); /* 64 output channels per item */
    }
    j.nspan = (j.nq + j.qspan - 1) / j.qspan;
    j.ngrp = (j.nocb + j.ocg - 1) / j.ocg;
    /* (streaming stores need 64-byte aligned vectors: planes of 16k floats are) */
    j.stream = (double)B * OC * j.HW * sizeof(float) > stream_min() && !((uintptr_t)out & 63) &&
               !(tp->os & 15);
    /* an item's multiply-adds, 16 to a work unit */
    nn_parallel_work(j.nspan * j.ngrp, (long)j.qspan * j.ocg * MR * C * KK, fwd_task, &j);
    if (j.stream)
        _mm_sfence();
}

static void fwd_loop(float *out, const float *in1, int C1, const float *in2, int C2,
                     const float *wp, const float *bias, int B, int H, int W, int OC, int K,
                     const uint16_t *masks)
{
    taps tp = taps_plain(H, W, K, masks);
    fwd_run(out, in1, C1, in2, C2, wp, bias, B, (long)H * W, OC, &tp);
}

typedef struct {
    float *wp;
    const float *weight;
    int OC, C, KK, i0, ni;
} pack_job;

/* Block ob of wp [ceil(OC/MR)][C][KK][MR] from weight (OC, C, K, K): MR
 * weight rows read side by side (prefetched: the weights come cold from
 * memory after the optimiser step). */
static void pack_task(void *ctx, long ob, int tid)
{
    const pack_job *j = ctx;
    long rowlen = (long)j->C * j->KK;
    const float *row[MR];
    (void)tid;
    for (int m = 0; m < MR; m++)
        row[m] = ob * MR + m < j->OC ? j->weight + (ob * MR + m) * rowlen : NULL;
    float *d = j->wp + ob * rowlen * MR;
    if (row[MR - 1]) { /* a full block, branch-free */
        for (long k = 0; k < rowlen; k++, d += MR) {
            if ((k & 15) == 0)
                for (int m = 0; m < MR; m++)
                    _mm_prefetch((const char *)(row[m] + k + 64), _MM_HINT_T0);
#pragma GCC unroll 8
            for (int m = 0; m < MR; m++)
                d[m] = row[m][k];
        }
        return;
    }
    for (long k = 0; k < rowlen; k++, d += MR)
        for (int m = 0; m < MR; m++)
            d[m] = row[m] ? row[m][k] : 0.0f;
}

static void pack_weights(float *wp, const float *weight, int OC, int C, int KK)
{
    pack_job j = {wp, weight, OC, C, KK, 0, 0};
    nn_parallel_work((OC + MR - 1) / MR, 2L * MR * C * KK, pack_task, &j);
}

/* Block ib of the backward-data panel for input channels [i0, i0 + ni) of
 * weight (OC, C, K, K): transposed and rotated by 180 degrees,
 * wp [ceil(ni/MR)][OC][KK][MR]. For each (block, o) the source is MR x KK
 * consecutive floats of row o. */
static void pack_t_task(void *ctx, long ib, int tid)
{
    const pack_job *j = ctx;
    int KK = j->KK, mr = (int)NN_MIN(MR, j->ni - ib * MR);
    (void)tid;
    for (int o = 0; o < j->OC; o++) {
        const float *src = j->weight + ((long)o * j->C + j->i0 + ib * MR) * KK;
        float *d = j->wp + (ib * j->OC + o) * KK * MR;
        _mm_prefetch((const char *)(src + (long)4 * j->C * KK), _MM_HINT_T0);
        if (mr == MR && KK == 9) {
            /* the common case, branch-free: d[s][m] = src[m][8 - s] */
#pragma GCC unroll 8
            for (int m = 0; m < MR; m++) {
                const float *r = src + m * 9;
#pragma GCC unroll 9
                for (int s = 0; s < 9; s++)
                    d[s * MR + m] = r[8 - s];
            }
            continue;
        }
        for (int s = 0; s < KK; s++)
            for (int m = 0; m < MR; m++)
                d[s * MR + m] = m < mr ? src[m * KK + KK - 1 - s] : 0.0f;
    }
}

static void pack_weights_t(float *wp, const float *weight, int OC, int C, int KK, int i0, int ni)
{
    pack_job j = {wp, weight, OC, C, KK, i0, ni};
    nn_parallel_work((ni + MR - 1) / MR, 2L * MR * OC * KK, pack_t_task, &j);
}

static int usable(int H, int W, int K)
{
    return nn_isa_active() == NN_ISA_AVX512 && ((long)H * W) % 16 == 0 && H >= 1 && W >= 1 &&
           (K == 1 || K == 3);
}

/* ---- backward: weights, by partial sums over the pixels ---- */

#define WOC 4 /* output channels per dW micro-kernel */
#define WC 2  /* input channels per 3x3 dW micro-kernel */
#define WC1 4 /* input channels per 1x1 dW micro-kernel */
#define GOC 16
#define GC 16
#ifndef DWGEMM_MAX
#define DWGEMM_MAX 255
#endif
#ifndef DWCHUNK
#define DWCHUNK 32
#endif

/* Partial sums part (WOC x WC x 3 vectors, kernel row ky) += over vectors
 * [v0, v1) of nimg images, for NC (1 or WC) input channels x0, x1; pfd/pfx:
 * prefetch the next chunk of the dout / input rows (whoever reads a row
 * first in a chunk does). */
#define DW_UKR(NC)                                                                          \
    __attribute__((target("avx512f,avx512bw"))) static void dw_ukr##NC(                     \
        float *part, const float *d, const float *x0, const float *x1, long HW, long sd,    \
        long sx0, long sx1, int nimg, const uint16_t *masks, long v0, long v1, int ky,      \
        const long *off, int pfd, int pfx, int first)                                       \
    {                                                                                       \
        __m512 acc[WOC][NC][3];                                                             \
        const float *xs[2] = {x0, x1};                                                      \
        _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++)                               \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                            \
                _Pragma("GCC unroll 3") for (int k = 0; k < 3; k++) acc[m][c][k] =          \
                    first ? _mm512_setzero_ps()                                             \
                          : _mm512_loadu_ps(part + ((m * WC + c) * 3 + k) * 16);            \
        const long o[3] = {off[ky * 3], off[ky * 3 + 1], off[ky * 3 + 2]};                  \
        for (int img = 0; img < nimg; img++, d += sd, xs[0] += sx0, xs[1] += sx1) {        \
            if (pfd || pfx)                                                                 \
                for (long v = v0; v < v1; v++) {                                            \
                    if (pfd)                                                                \
                        for (int m = 0; m < WOC; m++)                                       \
                            _mm_prefetch((const char *)(d + m * HW + 16 * (v + DWCHUNK)),        \
                                         _MM_HINT_T0);                                      \
                    if (pfx) /* the row's taps: of two phases for conv_s2_* */       \
                        for (int c = 0; c < NC; c++) {                                      \
                            _mm_prefetch((const char *)(xs[c] + o[1] + 16 * (v + DWCHUNK)), \
                                         _MM_HINT_T0);                                      \
                            if (o[0] < o[1] - 16)                                           \
                                _mm_prefetch(                                               \
                                    (const char *)(xs[c] + o[0] + 16 * (v + DWCHUNK)),      \
                                    _MM_HINT_T0);                                           \
                        }                                                                   \
                }                                                                           \
            for (long v = v0; v < v1; v++) {                                                \
                const uint16_t *mk = masks + v * 9 + ky * 3;                                \
                __m512 dv[WOC];                                                             \
                _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++) dv[m] =               \
                    _mm512_loadu_ps(d + m * HW + 16 * v);                                   \
                _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                        \
                    _Pragma("GCC unroll 3") for (int k = 0; k < 3; k++)                     \
                {                                                                           \
                    __m512 x = _mm512_maskz_loadu_ps(mk[k], xs[c] + 16 * v + o[k]);         \
                    _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++) acc[m][c][k] =    \
                        _mm512_fmadd_ps(dv[m], x, acc[m][c][k]);                            \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
        _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++)                               \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                            \
                _Pragma("GCC unroll 3") for (int k = 0; k < 3; k++)                         \
                    _mm512_storeu_ps(part + ((m * WC + c) * 3 + k) * 16, acc[m][c][k]);     \
    }

DW_UKR(1)
DW_UKR(2)

/* 1x1: part (WOC x WC1 vectors) += over vectors [v0, v1) of nimg images;
 * xs[0..nc) the input channels (others repeat the last, unused). */
__attribute__((target("avx512f"))) static void dw1_ukr(float *part, const float *d,
                                                       const float *const *xs0, long HW, long sd,
                                                       const long *sx, int nimg, long v0, long v1,
                                                       int pfd, int pfx, int first)
{
    __m512 acc[WOC][WC1];
    const float *xs[WC1];
    for (int c = 0; c < WC1; c++)
        xs[c] = xs0[c];
#pragma GCC unroll 4
    for (int m = 0; m < WOC; m++)
#pragma GCC unroll 4
        for (int c = 0; c < WC1; c++)
            acc[m][c] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(part + (m * WC1 + c) * 16);
    for (int img = 0; img < nimg; img++) {
        for (long v = v0; v < v1; v++) {
            __m512 dv[WOC];
            if (pfd)
                for (int m = 0; m < WOC; m++)
                    _mm_prefetch((const char *)(d + m * HW + 16 * (v + DWCHUNK)), _MM_HINT_T0);
            if (pfx)
                for (int c = 0; c < WC1; c++)
                    _mm_prefetch((const char *)(xs[c] + 16 * (v + DWCHUNK)), _MM_HINT_T0);
#pragma GCC unroll 4
            for (int m = 0; m < WOC; m++)
                dv[m] = _mm512_loadu_ps(d + m * HW + 16 * v);
#pragma GCC unroll 4
            for (int c = 0; c < WC1; c++) {
                __m512 x = _mm512_loadu_ps(xs[c] + 16 * v);
#pragma GCC unroll 4
                for (int m = 0; m < WOC; m++)
                    acc[m][c] = _mm512_fmadd_ps(dv[m], x, acc[m][c]);
            }
        }
        d += sd;
        for (int c = 0; c < WC1; c++)
            xs[c] += sx[c];
    }
#pragma GCC unroll 4
    for (int m = 0; m < WOC; m++)
#pragma GCC unroll 4
        for (int c = 0; c < WC1; c++)
            _mm512_storeu_ps(part + (m * WC1 + c) * 16, acc[m][c]);
}

/* out[i] = sum of the 16 lanes of vector i of p, for 16 vectors: a
 * transpose-and-add tree (45 instructions instead of 16 reductions of 8). */
__attribute__((target("avx512f"))) static void hsum16(float *out, const float *p)
{
    __m512 x[8], y[4], z[2];
    for (int i = 0; i < 8; i++) {
        __m512 a = _mm512_loadu_ps(p + 32 * i), b = _mm512_loadu_ps(p + 32 * i + 16);
        x[i] = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
    }
    for (int i = 0; i < 4; i++) {
        __m512d a = _mm512_castps_pd(x[2 * i]), b = _mm512_castps_pd(x[2 * i + 1]);
        y[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
    }
    for (int i = 0; i < 2; i++)
        z[i] = _mm512_add_ps(_mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(y[2 * i], y[2 * i + 1], 0xdd));
    _mm512_storeu_ps(out, _mm512_add_ps(_mm512_shuffle_f32x4(z[0], z[1], 0x88),
                                        _mm512_shuffle_f32x4(z[0], z[1], 0xdd)));
}

typedef struct {
    const float *dout, *in1, *in2;
    float *dweight;
    int C1, C2, C, OC, B, K, KK, ngo, ngc;
    long HW, nvec, groups, ipi, parts, vpart, nitems;
    size_t gsz, partn;
    float *slots; /* per item: its group's partial dW (gsz floats) */
    float *part;  /* per thread: vector partials (partn floats) */
    const uint16_t *masks;
    long off[9], xs, xb; /* as taps: the offsets, the input planes' and images' strides */
} dw_job;

static const float *plane(const dw_job *j, int b, int c)
{
    return c < j->C1 ? j->in1 + b * (j->xb ? j->xb : j->C1 * j->xs) + c * j->xs
                     : j->in2 + ((long)b * j->C2 + c - j->C1) * j->xs;
}

/* Item it: group g = it % groups (16 output x 16 input channels), images and
 * pixels of part it / groups; its partial dW goes to slot it, whichever
 * thread runs it, so that the sums do not depend on the scheduling. */
static void dw_task(void *ctx, long it, int tid)
{
    const dw_job *j = ctx;
    long HW = j->HW;
    int OC = j->OC, KK = j->KK, wc = j->K == 3 ? WC : WC1;
    float *part = j->part + (size_t)tid * j->partn, *slot = j->slots + (size_t)it * j->gsz;
    long g = it % j->groups, rest = it / j->groups;
    int b0 = (int)((rest / j->parts) * j->ipi), nimg = (int)NN_MIN(j->ipi, j->B - b0);
    long v0 = (rest % j->parts) * j->vpart, v1 = NN_MIN(j->nvec, v0 + j->vpart);
    int go = (int)(g / j->ngc), gc = (int)(g % j->ngc);
    int oc0 = go * GOC, noc = NN_MIN(GOC, OC - oc0);
    int c0 = gc * GC, nc = NN_MIN(GC, j->C - c0);
    size_t tsz = (size_t)KK * WOC * wc * 16; /* floats of one tile's partials */
    /* the first chunk's calls start from zero; tiles past noc / nc stay unset
     * (and unused); clear them so that hsum16 reads no uninitialised floats */
    if (noc < GOC || nc < GC)
        memset(part, 0, j->partn * sizeof(float));
    /* chunks of DWCHUNK vectors keep the rows of the group in L1/L2 */
    for (long cv = v0; cv < v1; cv += DWCHUNK) {
        long cv1 = NN_MIN(v1, cv + DWCHUNK);
        for (int om = 0; om < noc; om += WOC)
            for (int cm = 0; cm < nc; cm += wc) {
                const float *xs[WC1];
                long sx[WC1];
                int ncc = NN_MIN(wc, nc - cm);
                for (int k = 0; k < wc; k++) {
                    int c = c0 + cm + NN_MIN(k, ncc - 1);
                    xs[k] = plane(j, b0, c);
                    sx[k] = c >= j->C1 ? j->C2 * j->xs : j->xb ? j->xb : j->C1 * j->xs;
                }
                const float *d = j->dout + ((long)b0 * OC + oc0 + om) * HW;
                float *pp = part + ((size_t)(om / WOC) * (GC / wc) + cm / wc) * tsz;
                if (KK == 1)
                    dw1_ukr(pp, d, xs, HW, (long)OC * HW, sx, nimg, cv, cv1, cm == 0, om == 0,
                            cv == v0);
                else
                    for (int ky = 0; ky < 3; ky++)
                        (ncc == 2 ? dw_ukr2 : dw_ukr1)(pp + ky * WOC * WC * 3 * 16, d, xs[0],
                                                       xs[1], HW, (long)OC * HW, sx[0], sx[1],
                                                       nimg, j->masks, cv, cv1, ky, j->off,
                                                       ky == 0 && cm == 0, ky == 0 && om == 0,
                                                       cv == v0);
            }
    }
    /* reduce the partials (16 at a time, in place: vector i's sum lands in
     * part[i]) and place them in the slot: [m < GOC][k < GC][KK] */
    for (size_t i = 0; i < j->partn / 16; i += 16)
        hsum16(part + i, part + 16 * i);
    /* one item per group: straight into dweight (no other item touches the
     * block); else into the item's slot, summed in item order later */
    int direct = j->nitems == j->groups;
    if (!direct)
        memset(slot, 0, j->gsz * sizeof(float));
    for (int om = 0; om < noc; om += WOC)
        for (int cm = 0; cm < nc; cm += wc) {
            const float *ps = part + ((size_t)(om / WOC) * (GC / wc) + cm / wc) * (tsz / 16);
            for (int m = 0; m < WOC && om + m < noc; m++)
                for (int k = 0; k < wc && cm + k < nc; k++) {
                    float *dw = direct ? j->dweight + ((long)(oc0 + om + m) * j->C + c0 + cm + k) * KK
                                       : slot + ((size_t)(om + m) * GC + cm + k) * KK;
                    if (KK == 1)
                        dw[0] += ps[m * WC1 + k];
                    else
                        for (int ky = 0; ky < 3; ky++)
                            for (int kx = 0; kx < 3; kx++)
                                dw[ky * 3 + kx] += ps[ky * WOC * WC * 3 + (m * WC + k) * 3 + kx];
                }
        }
    (void)tid;
}

typedef struct {
    float *dweight;
    const dw_job *j;
} dwsum_job;

/* dweight's block of group g += its items' slots, in item order */
static void dwsum_task(void *ctx, long g, int tid)
{
    const dwsum_job *s = ctx;
    const dw_job *j = s->j;
    int go = (int)(g / j->ngc), gc = (int)(g % j->ngc);
    int oc0 = go * GOC, noc = NN_MIN(GOC, j->OC - oc0);
    int c0 = gc * GC, nc = NN_MIN(GC, j->C - c0);
    (void)tid;
    for (long it = g; it < j->nitems; it += j->groups) {
        const float *slot = j->slots + (size_t)it * j->gsz;
        for (int m = 0; m < noc; m++) {
            float *dw = s->dweight + ((long)(oc0 + m) * j->C + c0) * j->KK;
            const float *sl = slot + (size_t)m * GC * j->KK;
            for (int q = 0; q < nc * j->KK; q++)
                dw[q] += sl[q];
        }
    }
}

/* The work plan of dw for these sizes: items of (group, images, pixels),
 * enough of them to balance two to four threads, small images together. It
 * does not depend on the thread count, so neither do the results. */
static void dw_plan(dw_job *j, int C1, int C2, int B, int H, int W, int OC, int K)
{
    const long want = 8;
    j->C1 = C1, j->C2 = C2, j->C = C1 + C2, j->OC = OC, j->B = B, j->K = K, j->KK = K * K;
    j->HW = (long)H * W, j->nvec = j->HW / 16;
    j->ngo = (OC + GOC - 1) / GOC, j->ngc = (j->C + GC - 1) / GC;
    j->groups = (long)j->ngo * j->ngc;
    j->ipi = j->nvec >= 64 ? 1 : B, j->parts = 1;
    while (j->groups * ((B + j->ipi - 1) / j->ipi) * j->parts < want) {
        if (j->ipi > 1)
            j->ipi = (j->ipi + 1) / 2;
        else if (j->nvec / (j->parts * 2) >= 64)
            j->parts *= 2;
        else
            break;
    }
    j->vpart = (j->nvec + j->parts - 1) / j->parts;
    j->nitems = j->groups * ((B + j->ipi - 1) / j->ipi) * j->parts;
    j->gsz = (size_t)GOC * GC * j->KK;
    j->partn = (size_t)GOC * GC * j->KK * 16;
    for (int s = 0; s < 9; s++)
        j->off[s] = K == 3 ? (long)(s / 3 - 1) * W + (s % 3 - 1) : 0;
    j->xs = j->HW;
}

/* floats of work space dw_loop_at needs */
static size_t dw_space(int C1, int C2, int B, int H, int W, int OC, int K)
{
    dw_job j;
    dw_plan(&j, C1, C2, B, H, W, OC, K);
    return (size_t)j.nitems * j.gsz + (size_t)nn_threads() * j.partn;
}

/* dweight (OC, C1+C2, KK) += sum over the batch, with the work space at buf,
 * for taps tp (KK 1 or 9, masks at mbase 0): planes of HW pixels, input
 * planes tp->xs apart. */
static void dw_taps_at(float *buf, float *dweight, const float *dout, const float *in1, int C1,
                       const float *in2, int C2, int B, long HW, int OC, const taps *tp)
{
    dw_job j = {.dout = dout, .in1 = in1, .in2 = in2, .dweight = dweight, .masks = tp->masks};
    dw_plan(&j, C1, C2, B, 1, (int)HW, OC, tp->KK == 9 ? 3 : 1);
    memcpy(j.off, tp->off, sizeof j.off);
    j.xs = tp->xs, j.xb = tp->xb;
    j.slots = buf;
    j.part = buf + (size_t)j.nitems * j.gsz;
    /* an item's multiply-adds, 16 to a work unit */
    nn_parallel_work(j.nitems, (long)((double)OC * j.C * j.KK * B * HW / 16 / j.nitems), dw_task, &j);
    if (j.nitems > j.groups) {
        dwsum_job s = {dweight, &j};
        nn_parallel_work(j.groups, 2L * (long)j.gsz * (j.nitems / j.groups), dwsum_task, &s);
    }
}

static void dw_loop_at(float *buf, float *dweight, const float *dout, const float *in1, int C1,
                       const float *in2, int C2, int B, int H, int W, int OC, int K,
                       const uint16_t *masks)
{
    taps tp = taps_plain(H, W, K, masks);
    dw_taps_at(buf, dweight, dout, in1, C1, in2, C2, B, (long)H * W, OC, &tp);
}

static void dw_loop(float *dweight, const float *dout, const float *in1, int C1, const float *in2,
                    int C2, int B, int H, int W, int OC, int K, const uint16_t *masks)
{
    float *buf = nn_scratch(dw_space(C1, C2, B, H, W, OC, K) * sizeof(float));
    if (buf)
        dw_loop_at(buf, dweight, dout, in1, C1, in2, C2, B, H, W, OC, K, masks);
}

/* ---- backward: weights, as one GEMM over the batch (small planes) ---- */

typedef struct {
    float *dcat, *col;
    const float *dout, *in1, *in2;
    int C1, C2, OC, B, H, W, K;
} dwg_job;

/* item i < B: gather dout of image i; B <= i < 2B: im2col of image i - B
 * (for K = 1, its planes) */
static void dwg_task(void *ctx, long i, int tid)
{
    const dwg_job *j = ctx;
    long HW = (long)j->H * j->W, P = j->B * HW;
    int C = j->C1 + j->C2, KK = j->K * j->K;
    (void)tid;
    if (i < j->B) {
        for (int oc = 0; oc < j->OC; oc++)
            memcpy(j->dcat + oc * P + i * HW, j->dout + (i * j->OC + oc) * HW,
                   HW * sizeof(float));
        return;
    }
    long b = i - j->B;
    for (int c = 0; c < C; c++) {
        const float *src = c < j->C1 ? j->in1 + (b * j->C1 + c) * HW
                                     : j->in2 + (b * j->C2 + c - j->C1) * HW;
        if (KK == 1) {
            memcpy(j->col + (long)c * P + b * HW, src, HW * sizeof(float));
            continue;
        }
        for (int s = 0; s < 9; s++) {
            int dy = s / 3 - 1, dx = s % 3 - 1;
            float *dst = j->col + ((long)c * 9 + s) * P + b * HW;
            for (int y = 0; y < j->H; y++) {
                int iy = y + dy;
                float *d = dst + (long)y * j->W;
                if (iy < 0 || iy >= j->H) {
                    memset(d, 0, (size_t)j->W * sizeof(float));
                    continue;
                }
                const float *r = src + (long)iy * j->W;
                int x0 = dx < 0 ? 1 : 0, x1 = dx > 0 ? j->W - 1 : j->W;
                if (x0)
                    d[0] = 0;
                if (x1 < j->W)
                    d[j->W - 1] = 0;
                memcpy(d + x0, r + x0 + dx, (size_t)(x1 - x0) * sizeof(float));
            }
        }
    }
}

static size_t dw_gemm_space(int C, int OC, int K, long P)
{
    return ((size_t)OC + (size_t)K * K * C) * P;
}

/* dweight (OC, C K K) += dout (OC, B HW) x im2col(cat[in1, in2]) (C K K, B HW)^T,
 * the batch gathered into buf first (dw_gemm_space floats). */
static void dw_gemm_at(float *buf, float *dweight, const float *dout, const float *in1, int C1,
                       const float *in2, int C2, int B, int H, int W, int OC, int K)
{
    long P = (long)B * H * W;
    int CK = (C1 + C2) * K * K;
    dwg_job j = {buf, buf + (size_t)OC * P, dout, in1, in2, C1, C2, OC, B, H, W, K};
    nn_parallel_work(2L * B, 2L * (OC + (C1 + C2) * K * K) * H * W, dwg_task, &j);
    nn_gemm(0, 1, OC, CK, (int)P, 1.0f, j.dcat, (int)P, j.col, (int)P, 1.0f, dweight, CK, 1);
}

static int dw_gemm(float *dweight, const float *dout, const float *in1, int C1, const float *in2,
                   int C2, int B, int H, int W, int OC, int K)
{
    float *buf = nn_scratch(dw_gemm_space(C1 + C2, OC, K, (long)B * H * W) * sizeof(float));
    if (!buf)
        return -1;
    dw_gemm_at(buf, dweight, dout, in1, C1, in2, C2, B, H, W, OC, K);
    return 0;
}

static size_t scratch_bytes(int C1, int C2, int OC, int K, int B, int H, int W)
{
    int C = C1 + C2;
    size_t dw = dw_space(C1, C2, B, H, W, OC, K);
    size_t dwg = dw_gemm_space(C, OC, K, (long)B * H * W);
    size_t dx = (size_t)((C + MR - 1) / MR) * MR * OC * K * K;
    return NN_MAX(NN_MAX(dw, dwg), dx) * sizeof(float);
}

/* ---- the entry points: forward, then backward ---- */

int conv_direct_forward(float *out, const float *in1, int C1, const float *in2, int C2,
                  const float *weight, const float *bias, int B, int H, int W, int OC, int K)
{
    const uint16_t *masks = NULL;
    float *wp;
    int KK = K * K;
    if (!usable(H, W, K) || (K == 3 && !(masks = masks_for(H, W, H))))
        return -1;
    if (!(wp = nn_scratch((size_t)((OC + MR - 1) / MR) * MR * (C1 + C2) * KK * sizeof(float))))
        return -1;
    pack_weights(wp, weight, OC, C1 + C2, KK);
    fwd_loop(out, in1, C1, in2, C2, wp, bias, B, H, W, OC, K, masks);
    return 0;
}

int conv_direct_backward(float *dinp1, float *dinp2, float *dweight, const float *dout,
                   const float *in1, int C1, const float *in2, int C2, const float *weight,
                   int B, int H, int W, int OC, int K)
{
    const uint16_t *masks = NULL;
    int C = C1 + C2, KK = K * K;
    long HW = (long)H * W;
    if (!usable(H, W, K) || (OC % WOC) || (K == 3 && !(masks = masks_for(H, W, H))))
        return -1;
    /* scratch for both passes up front: after dW has been added, failing
     * would make the caller's fallback add it twice */
    if (!nn_scratch(scratch_bytes(C1, C2, OC, K, B, H, W)))
        return -1;
    if (dweight) {
        if (HW <= DWGEMM_MAX)
            dw_gemm(dweight, dout, in1, C1, in2, C2, B, H, W, OC, K);
        else
            dw_loop(dweight, dout, in1, C1, in2, C2, B, H, W, OC, K, masks);
    }
    for (int part = 0; part < 2; part++) {
        float *dinp = part ? dinp2 : dinp1;
        int i0 = part ? C1 : 0, ni = part ? C2 : C1;
        if (!dinp || !ni)
            continue;
        float *wp = nn_scratch((size_t)((ni + MR - 1) / MR) * MR * OC * KK * sizeof(float));
        pack_weights_t(wp, weight, OC, C, KK, i0, ni);
        fwd_loop(dinp, dout, OC, NULL, 0, wp, NULL, B, H, W, ni, K, masks);
    }
    return 0;
}

/* ---- small planes: the batch folded into one tall image ----
 * A plane whose H W is not a multiple of 16 (the ResNet's last stage, 6x6
 * at 96x96 input, 3x3 at 48x48) leaves the kernels above no whole vector of
 * pixels; im2col + GEMM computed it at a third of their speed. Laid out as
 * (C, B H, W), the batch is one image B H rows high whose flat pixel index
 * runs across the images, and masks_for(B H, W, H) cut the shifts at each
 * image's edges; so the same kernels compute it when B H W is a multiple
 * of 16 (and, for dW by the pixel loop, of 256 or more). The folds cost a
 * copy of each tensor, small at these sizes. Backward takes it on planes of
 * fewer than 256 pixels too, where the direct kernels' dW is a GEMM. */

typedef struct {
    float *dst;
    const float *src;
    int C, Cs, c0, B, unfold;
    long P, ld;
} fold_job;

/* fold: dst (C, B P) rows c0 + c = src (B, Cs, P) channel c; unfold: the
 * other way, src rows c0 + c into dst (B, Cs, P); the folded rows ld apart */
static void fold_task(void *ctx, long c, int tid)
{
    const fold_job *j = ctx;
    long N = j->ld;
    (void)tid;
    for (int b = 0; b < j->B; b++) {
        float *f = (j->unfold ? (float *)j->src : j->dst) + (j->c0 + c) * N + b * j->P;
        float *u = (j->unfold ? j->dst : (float *)j->src) + ((long)b * j->Cs + c) * j->P;
        if (j->unfold)
            memcpy(u, f, (size_t)j->P * sizeof(float));
        else
            memcpy(f, u, (size_t)j->P * sizeof(float));
    }
}

static void fold_ld(float *dst, int c0, const float *src, int Cs, int B, long P, long ld,
                    int unfold)
{
    fold_job j = {dst, src, Cs, Cs, c0, B, unfold, P, ld};
    if (Cs && src)
        nn_parallel_work(Cs, 2L * B * P, fold_task, &j);
}

static void fold(float *dst, int c0, const float *src, int Cs, int B, long P, int unfold)
{
    fold_ld(dst, c0, src, Cs, B, P, B * P, unfold);
}

static int fold_usable(int B, int H, int W, int K)
{
    return nn_isa_active() == NN_ISA_AVX512 && B > 1 && ((long)B * H * W) % 16 == 0 &&
           (K == 1 || K == 3);
}

int conv_fold_forward(float *out, const float *in1, int C1, const float *in2, int C2,
                      const float *weight, const float *bias, int B, int H, int W, int OC, int K)
{
    long P = (long)H * W, N = B * P;
    int C = C1 + C2, KK = K * K;
    const uint16_t *masks = NULL;
    float *f, *wp;
    if (!fold_usable(B, H, W, K) || (K == 3 && !(masks = masks_for(B * H, W, H))))
        return -1;
    if (!(f = nn_scratch_slot(NN_SCRATCH_COL, (size_t)(C + OC) * N * sizeof(float))) ||
        !(wp = nn_scratch((size_t)((OC + MR - 1) / MR) * MR * C * KK * sizeof(float))))
        return -1;
    fold(f, 0, in1, C1, B, P, 0);
    fold(f, C1, in2, C2, B, P, 0);
    pack_weights(wp, weight, OC, C, KK);
    fwd_loop(f + C * N, f, C, NULL, 0, wp, bias, 1, B * H, W, OC, K, masks);
    fold(out, 0, f + C * N, OC, B, P, 1);
    return 0;
}

int conv_fold_backward(float *dinp1, float *dinp2, float *dweight, const float *dout,
                       const float *in1, int C1, const float *in2, int C2, const float *weight,
                       int B, int H, int W, int OC, int K)
{
    long P = (long)H * W, N = B * P;
    int C = C1 + C2, KK = K * K;
    const uint16_t *masks = NULL;
    float *f;
    /* the direct kernels' own planes, unless small enough that their dW
     * takes the GEMM (dw_gemm) and the folded pixel loop is faster: 2.8x on
     * 64 channels of 12x12 at batch 32 */
    if ((P % 16 == 0 && P > DWGEMM_MAX) || (dweight && N <= DWGEMM_MAX))
        return -1;
    if (!fold_usable(B, H, W, K) || OC % WOC ||
        (K == 3 && !(masks = masks_for(B * H, W, H))))
        return -1;
    /* all scratch up front (see conv_direct_backward): the folded dout,
     * input and dX, (OC + 2 C) N floats */
    if (!(f = nn_scratch_slot(NN_SCRATCH_COL, (size_t)(OC + 2 * C) * N * sizeof(float))) ||
        !nn_scratch(scratch_bytes(C, 0, OC, K, 1, B * H, W)))
        return -1;
    float *fd = f, *fx = f + (long)OC * N, *fdx = fx + (long)C * N;
    fold(fd, 0, dout, OC, B, P, 0);
    if (dweight) {
        fold(fx, 0, in1, C1, B, P, 0);
        fold(fx, C1, in2, C2, B, P, 0);
        dw_loop(dweight, fd, fx, C, NULL, 0, 1, B * H, W, OC, K, masks);
    }
    if (dinp1 || dinp2) {
        float *wp = nn_scratch((size_t)((C + MR - 1) / MR) * MR * OC * KK * sizeof(float));
        pack_weights_t(wp, weight, OC, C, KK, 0, C);
        fwd_loop(fdx, fd, OC, NULL, 0, wp, NULL, 1, B * H, W, C, K, masks);
        if (dinp1)
            fold(dinp1, 0, fdx, C1, B, P, 1);
        if (dinp2)
            fold(dinp2, 0, fdx + (long)C1 * N, C2, B, P, 1);
    }
    return 0;
}

/* ---- stride 2: the input split into its four phases ----
 * A 3x3 stride-2 convolution (pad 1; H and W even) reads, for output pixel
 * (oy, ox), input rows 2 oy - 1, 2 oy, 2 oy + 1: odd, even, odd. Split the
 * input into its four phases (py, px), each an OH x OW plane of the pixels
 * (2 oy + py, 2 ox + px), and each tap reads one phase at a shift of 0 or
 * -1 (s2_tap): a stride-1 convolution over (C, 4) planes whose nine offsets
 * name the phase too, which the kernels above compute as they are. im2col
 * wrote 9/4 of the input for it and its GEMM or 1x1 kernel read that back
 * (50-170 GFLOP/s on the ResNet's four of them); the split is one copy of
 * the input. The phases are laid out as conv_fold_* does, (C, 4, B OH OW)
 * (a 6x6 output fills whole vectors too), each plane ld = s2_ld floats
 * from the next: planes a multiple of 2 KB apart (48x48 x 32 images is
 * 288 KB) fall into the same L1 sets, and the kernels read 36 to 512 of
 * them side by side.
 *   forward  fwd_run over the phases, the taps of s2_tap, MASK_S2.
 *   dW       dw_taps_at with the same taps.
 *   dX       phase ph of dX gathers dout at the opposite shifts (0 or +1)
 *            through its own taps only (1, 2, 2 or 4: s2_order): four
 *            fwd_run calls, each writing one phase; then the phases are
 *            interleaved back.
 * Not the 1x1 stride-2 shortcut: it needs phase 0 alone, and splitting
 * all four cost more than im2col's copy of that one. */

static long s2_ld(long N)
{
    return N % 512 ? N : N + 16;
}

typedef struct {
    float *x4;
    const float *x;
    int C, B, H, W, join;
} split_job;

/* item c: x (B, C, H, W) channel c <-> x4 (C, 4, ld) rows 4c .. 4c + 3 */
static void split_task(void *ctx, long c, int tid)
{
    const split_job *j = ctx;
    const nn_ew_ops *e = nn_ew();
    int OH = j->H / 2, OW = j->W / 2;
    long ld = s2_ld((long)j->B * OH * OW);
    (void)tid;
    for (int b = 0; b < j->B; b++)
        for (int y = 0; y < j->H; y++) {
            float *row = (float *)j->x + (((long)b * j->C + c) * j->H + y) * j->W;
            float *p0 = j->x4 + (c * 4 + 2 * (y & 1)) * ld + ((long)b * OH + y / 2) * OW;
            if (j->join)
                e->interleave(row, p0, p0 + ld, OW, 0.0f);
            else
                e->deinterleave(p0, p0 + ld, row, OW);
        }
}

static void s2_split(float *x4, const float *x, int C, int B, int H, int W, int join)
{
    split_job j = {x4, x, C, B, H, W, join};
    nn_parallel_work(C, 2L * B * H * W, split_task, &j);
}

/* The taps of the forward pass (and dW) over x4 */
static taps s2_taps(int OW, long ld, const uint16_t *masks)
{
    taps t = {.KK = 9, .xs = 4 * ld, .os = ld, .masks = masks, .npf = 4};
    for (int s = 0; s < 9; s++) {
        int ph, dy, dx;
        s2_tap(s, &ph, &dy, &dx);
        t.off[s] = ph * ld + (long)dy * OW + dx;
    }
    /* the four phases' rows (taps 4, 5, 7, 8: no shift): taps 1, 4, 7
     * would fetch phase 2 twice and phases 1 and 3 never */
    for (int ph = 0; ph < 4; ph++)
        t.pfo[ph] = ph * ld;
    return t;
}

static int s2_usable(int B, int H, int W)
{
    return nn_isa_active() == NN_ISA_AVX512 && H % 2 == 0 && W % 2 == 0 && H > 0 && W > 0 &&
           ((long)B * (H / 2) * (W / 2)) % 16 == 0;
}

int conv_s2_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                    int C, int H, int W, int OC)
{
    int OH = H / 2, OW = W / 2;
    long P = (long)OH * OW, N = B * P, ld = s2_ld(N);
    /* whole vectors per image: the kernels read the phases' images side by
     * side and write out as it is; else out is computed folded */
    int img = P % 16 == 0;
    const uint16_t *masks;
    float *f, *wp;
    if (!s2_usable(B, H, W) || !(masks = masks_kind(B * OH, OW, OH, MASK_S2)))
        return -1;
    if (!(f = nn_scratch_slot(NN_SCRATCH_COL, (size_t)(4 * C + (img ? 0 : OC)) * ld * sizeof(float))) ||
        !(wp = nn_scratch((size_t)((OC + MR - 1) / MR) * MR * C * 9 * sizeof(float))))
        return -1;
    s2_split(f, inp, C, B, H, W, 0);
    pack_weights(wp, weight, OC, C, 9);
    taps tp = s2_taps(OW, ld, masks);
    if (img) {
        tp.xb = P, tp.os = P;
        fwd_run(out, f, C, NULL, 0, wp, bias, B, P, OC, &tp);
        return 0;
    }
    fwd_run(f + 4 * C * ld, f, C, NULL, 0, wp, bias, 1, N, OC, &tp);
    fold_ld(out, 0, f + 4 * C * ld, OC, B, P, ld, 1);
    return 0;
}

/* wp [ceil(C/MR)][OC][nt][MR] = weight (OC, C, 3, 3) at the taps list[0..nt) */
static void pack_s2t(float *wp, const float *weight, int OC, int C, const int *list, int nt)
{
    for (int cb = 0; cb < (C + MR - 1) / MR; cb++)
        for (int o = 0; o < OC; o++)
            for (int t = 0; t < nt; t++)
                for (int m = 0; m < MR; m++) {
                    int c = cb * MR + m;
                    wp[((long)(cb * OC + o) * nt + t) * MR + m] =
                        c < C ? weight[((long)o * C + c) * 9 + list[t]] : 0.0f;
                }
}

int conv_s2_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                     const float *weight, int B, int C, int H, int W, int OC)
{
    int OH = H / 2, OW = W / 2;
    long P = (long)OH * OW, N = B * P, ld = s2_ld(N);
    int img = P % 16 == 0, nb = img ? B : 1; /* as in the forward pass */
    long hw = img ? P : N;
    const uint16_t *masks, *tmasks;
    float *f;
    if (!s2_usable(B, H, W) || OC % WOC || !(masks = masks_kind(B * OH, OW, OH, MASK_S2)) ||
        !(tmasks = masks_kind(B * OH, OW, OH, MASK_S2T)))
        return -1;
    size_t wn = NN_MAX(dw_space(C, 0, nb, 1, (int)hw, OC, 3), (size_t)((C + MR - 1) / MR) * MR * OC * 4);
    /* all scratch up front (see conv_direct_backward): the input's phases
     * and dX's, and the folded dout unless img: (8 C ld + OC N) floats */
    if (!(f = nn_scratch_slot(NN_SCRATCH_COL, ((size_t)8 * C * ld + (img ? 0 : (size_t)OC * N)) * sizeof(float))) ||
        !nn_scratch(wn * sizeof(float)))
        return -1;
    float *x4 = f, *dx4 = x4 + 4L * C * ld, *d = img ? (float *)dout : dx4 + 4L * C * ld;
    if (!img)
        fold(d, 0, dout, OC, B, P, 0);
    if (dweight) {
        taps tp = s2_taps(OW, ld, masks);
        tp.xb = img ? P : 0;
        s2_split(x4, inp, C, B, H, W, 0);
        dw_taps_at(nn_scratch(wn * sizeof(float)), dweight, d, x4, C, NULL, 0, nb, hw, OC, &tp);
    }
    if (dinp) {
        float *wp = nn_scratch(wn * sizeof(float));
        for (int ph = 0; ph < 4; ph++) {
            int nt = s2_first[ph + 1] - s2_first[ph];
            /* one tap (phase 0's, the centre): no shift, no mask */
            taps tp = {.KK = nt, .mbase = s2_first[ph], .xs = hw, .os = 4 * ld,
                       .ob = img ? P : 0, .masks = nt > 1 ? tmasks : NULL};
            for (int t = 0; t < nt; t++) {
                int q, dy, dx;
                s2_tap(s2_order[s2_first[ph] + t], &q, &dy, &dx);
                tp.off[t] = -((long)dy * OW + dx);
            }
            pack_s2t(wp, weight, OC, C, s2_order + s2_first[ph], nt);
            fwd_run(dx4 + ph * ld, d, OC, NULL, 0, wp, NULL, nb, hw, C, &tp);
        }
        s2_split(dx4, dinp, C, B, H, W, 1);
    }
    return 0;
}

/* ---- the 2x2 stride-2 transposed convolution as a 1x1 convolution ----
 * t (B, 4 OC, H W) = 1x1 conv of inp with weight (C, OC, 2, 2) read as
 * (C, 4 OC) transposed; out (B, OC, 2H, 2W) interleaves t's four planes
 * (dy, dx) per output channel. Backward: dt gathered from dout; dinp = 1x1
 * conv of dt with weight as (C, 4 OC); dweight (C, 4 OC) += inp x dt^T, the
 * 1x1 weight gradient with the roles of inp and dt exchanged. */

typedef struct {
    float *o, *t;
    const float *bias;
    int H, W, OC;
    int gather;
} ct_job;

/* item (b, oc): plane oc of image b <-> its four planes of t */
static void ct_task(void *ctx, long i, int tid)
{
    const ct_job *j = ctx;
    const nn_ew_ops *e = nn_ew();
    long b = i / j->OC, oc = i % j->OC, P = (long)j->H * j->W;
    float *o = j->o + i * 4 * P, *t = j->t + (b * j->OC + oc) * 4 * P;
    float bv = j->bias ? j->bias[oc] : 0.0f;
    (void)tid;
    for (int y = 0; y < j->H; y++)
        for (int dy = 0; dy < 2; dy++) {
            float *row = o + (long)(2 * y + dy) * 2 * j->W;
            float *t0 = t + (long)(dy * 2) * P + (long)y * j->W, *t1 = t0 + P;
            if (j->gather)
                e->deinterleave(t0, t1, row, j->W);
            else
                e->interleave(row, t0, t1, j->W, bv);
        }
}

int conv_direct_convt_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int B, int C, int H, int W, int OC)
{
    long P = (long)H * W;
    size_t tn = (size_t)B * 4 * OC * P, wn = (size_t)((4 * OC + MR - 1) / MR) * MR * C;
    float *t;
    if (!usable(H, W, 1) || !(t = nn_scratch((tn + wn) * sizeof(float))))
        return -1;
    float *wp = t + tn;
    pack_weights_t(wp, weight, C, 4 * OC, 1, 0, 4 * OC);
    fwd_loop(t, inp, C, NULL, 0, wp, NULL, B, H, W, 4 * OC, 1, NULL);
    ct_job j = {out, t, bias, H, W, OC, 0};
    nn_parallel_work((long)B * OC, 8 * P, ct_task, &j);
    return 0;
}

int conv_direct_convt_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                         const float *weight, int B, int C, int H, int W, int OC)
{
    long P = (long)H * W;
    size_t tn = (size_t)B * 4 * OC * P;
    size_t wn = NN_MAX((size_t)((C + MR - 1) / MR) * MR * 4 * OC,
                       NN_MAX(dw_space(4 * OC, 0, B, H, W, C, 1),
                              dw_gemm_space(4 * OC, C, 1, (long)B * P)));
    float *t;
    if (!usable(H, W, 1) || C % WOC || !(t = nn_scratch((tn + wn) * sizeof(float))))
        return -1;
    ct_job j = {(float *)dout, t, NULL, H, W, OC, 1};
    nn_parallel_work((long)B * OC, 8 * P, ct_task, &j);
    /* dw_loop and the packed panel share the space after t, one at a time */
    if (dweight && P <= DWGEMM_MAX)
        dw_gemm_at(t + tn, dweight, inp, t, 4 * OC, NULL, 0, B, H, W, C, 1);
    else if (dweight)
        dw_loop_at(t + tn, dweight, inp, t, 4 * OC, NULL, 0, B, H, W, C, 1, NULL);
    if (dinp) {
        float *wp = t + tn;
        pack_weights(wp, weight, C, 4 * OC, 1);
        fwd_loop(dinp, t, 4 * OC, NULL, 0, wp, NULL, B, H, W, C, 1, NULL);
    }
    return 0;
}
