/* Direct 3x3 stride-1 pad-1 convolution kernels for AVX-512, NCHW, no im2col.
 *
 * The pixels of a plane are taken as one flat index p = y W + x in vectors of
 * 16 (H W is a multiple of 16: model inputs are multiples of 16). The input
 * pixel of output p under the shift (dy, dx) is p + dy W + dx for every lane
 * whose row and column stay inside the image; a 16-bit mask per (vector,
 * shift) zeroes the others, and masked loads never fault. So one kernel
 * serves every width, 8x8 bottlenecks included.
 *
 *   forward      out (oc, p) = sum_c sum_s w (oc, c, s) in (c, p + off_s)
 *                micro-kernel: 8 output channels x 3 vectors of pixels, the
 *                weights broadcast from a packed panel [c][9][8].
 *   backward dX  the same kernel on dout with the weights transposed and
 *                flipped: dinp (c, p) = sum_oc sum_s w (oc, c, 8 - s) dout (oc, p + off_s).
 *   backward dW  dw (oc, c, s) += sum_p dout (oc, p) in (c, p + off_s):
 *                micro-kernel 4 output channels x 2 input channels x 3 shifts
 *                (one kernel row) of 16-lane partial sums over the pixels,
 *                kept in a small buffer per work item, reduced once.
 *
 * Work is split in items taken from a shared counter by nn_threads() OpenMP
 * threads (dynamic, so a thread the OS preempts on a busy machine does not
 * hold the other one up for long).
 *
 * Returns -1 (the caller takes the im2col + GEMM path) when the instruction
 * set is not AVX-512 or H W is not a multiple of 16.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn.h"
#include "nn_impl.h"
#include "tensor.h"

int conv3x3_fwd_fast(float *out, const float *in1, int C1, const float *in2, int C2,
                     const float *weight, const float *bias, int B, int H, int W, int OC);
int conv3x3_bwd_fast(float *dinp1, float *dinp2, float *dweight, const float *dout,
                     const float *in1, int C1, const float *in2, int C2, const float *weight,
                     int B, int H, int W, int OC);

#define MR 8  /* output channels per forward micro-kernel */
#define NVF 3 /* pixel vectors per forward micro-kernel */

/* ---- masks, cached per plane geometry ---- */

typedef struct {
    int H, W;
    uint16_t *m; /* [nvec][9] */
} maskset;

static maskset mcache[16];
static int nmcache;
static pthread_mutex_t mlock = PTHREAD_MUTEX_INITIALIZER;

static const uint16_t *masks_for(int H, int W)
{
    const uint16_t *r = NULL;
    pthread_mutex_lock(&mlock);
    for (int i = 0; i < nmcache; i++)
        if (mcache[i].H == H && mcache[i].W == W) {
            r = mcache[i].m;
            break;
        }
    if (!r) {
        long nvec = (long)H * W / 16;
        uint16_t *m = malloc((size_t)nvec * 9 * sizeof *m);
        if (m) {
            for (long v = 0; v < nvec; v++)
                for (int s = 0; s < 9; s++) {
                    int dy = s / 3 - 1, dx = s % 3 - 1;
                    unsigned bits = 0;
                    for (int i = 0; i < 16; i++) {
                        long p = 16 * v + i;
                        int y = (int)(p / W), x = (int)(p % W);
                        if (y + dy >= 0 && y + dy < H && x + dx >= 0 && x + dx < W)
                            bits |= 1u << i;
                    }
                    m[v * 9 + s] = (uint16_t)bits;
                }
            if (nmcache == 16) { /* evict the oldest */
                free(mcache[0].m);
                memmove(mcache, mcache + 1, 15 * sizeof *mcache);
                nmcache--;
            }
            mcache[nmcache++] = (maskset){H, W, m};
            r = m;
        }
    }
    pthread_mutex_unlock(&mlock);
    return r;
}

/* ---- forward micro-kernel ---- */

/* acc (MR x nv vectors) over the channels of one input segment.
 * in: plane 0 of the segment at pixel p0; wp: packed weights [C][9][MR]. */
#define FWD_SEGMENT(NV)                                                                     \
    for (int c = 0; c < C; c++) {                                                           \
        const float *ic = in + (long)c * HW;                                                \
        const float *wc = wp + (long)c * 9 * MR;                                            \
        for (int s = 0; s < 9; s++) {                                                       \
            __m512 x[NV];                                                                   \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) x[v] =                     \
                _mm512_maskz_loadu_ps(mk[v * 9 + s], ic + off[s] + 16 * v);                 \
            _Pragma("GCC unroll 8") for (int m = 0; m < MR; m++)                            \
            {                                                                               \
                __m512 w = _mm512_set1_ps(wc[s * MR + m]);                                  \
                _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] =            \
                    _mm512_fmadd_ps(w, x[v], acc[m][v]);                                    \
            }                                                                               \
        }                                                                                   \
    }

#define FWD_UKR(NV)                                                                         \
    __attribute__((target("avx512f,avx512bw"))) static void fwd_ukr##NV(                    \
        const float *in1, int C1, const float *in2, int C2, long HW, const float *wp,       \
        const uint16_t *mk, const long *off, float *out, int mr, const float *bias)         \
    {                                                                                       \
        __m512 acc[MR][NV];                                                                 \
        _Pragma("GCC unroll 8") for (int m = 0; m < MR; m++)                                \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++) acc[m][v] =                \
                _mm512_setzero_ps();                                                        \
        {                                                                                   \
            const float *in = in1;                                                          \
            int C = C1;                                                                     \
            FWD_SEGMENT(NV)                                                                 \
        }                                                                                   \
        if (C2) {                                                                           \
            const float *in = in2;                                                          \
            int C = C2;                                                                     \
            wp += (long)C1 * 9 * MR;                                                        \
            FWD_SEGMENT(NV)                                                                 \
        }                                                                                   \
        _Pragma("GCC unroll 8") for (int m = 0; m < MR; m++) if (m < mr)                    \
        {                                                                                   \
            __m512 b = _mm512_set1_ps(bias ? bias[m] : 0.0f);                               \
            _Pragma("GCC unroll 3") for (int v = 0; v < NV; v++)                            \
                _mm512_storeu_ps(out + m * HW + 16 * v, _mm512_add_ps(acc[m][v], b));       \
        }                                                                                   \
    }

FWD_UKR(1)
FWD_UKR(2)
FWD_UKR(3)

typedef void (*fwd_ukr_fn)(const float *, int, const float *, int, long, const float *,
                           const uint16_t *, const long *, float *, int, const float *);
static const fwd_ukr_fn fwd_ukr[4] = {NULL, fwd_ukr1, fwd_ukr2, fwd_ukr3};

typedef struct {
    float *out;
    const float *in1, *in2, *wp, *bias;
    int C1, C2, OC, nocb, ocg, ngrp;
    long HW, nvec, vspan, nspan;
    const uint16_t *masks;
    long off[9];
} fwd_job;

static void fwd_task(void *ctx, long it, int tid)
{
    const fwd_job *j = ctx;
    int g = (int)(it % j->ngrp);
    long sp = (it / j->ngrp) % j->nspan;
    int b = (int)(it / j->ngrp / j->nspan);
    long HW = j->HW, v0 = sp * j->vspan, v1 = NN_MIN(j->nvec, v0 + j->vspan);
    const float *i1 = j->in1 + (long)b * j->C1 * HW;
    const float *i2 = j->in2 ? j->in2 + (long)b * j->C2 * HW : NULL;
    for (int ob = g * j->ocg; ob < NN_MIN(j->nocb, (g + 1) * j->ocg); ob++) {
        int nv, oc0 = ob * MR, mr = NN_MIN(MR, j->OC - oc0);
        const float *w = j->wp + (long)ob * (j->C1 + j->C2) * 9 * MR;
        float *o = j->out + ((long)b * j->OC + oc0) * HW;
        for (long v = v0; v < v1; v += nv) {
            /* tiles of 3 vectors; a remainder of 1 borrows one: 2 + 2 */
            nv = (int)NN_MIN(NVF, v1 - v);
            if (v1 - v == 4)
                nv = 2;
            fwd_ukr[nv](i1 + 16 * v, j->C1, i2 ? i2 + 16 * v : NULL, j->C2, HW, w,
                        j->masks + v * 9, j->off, o + 16 * v, mr, j->bias ? j->bias + oc0 : NULL);
        }
    }
    (void)tid;
}

/* The forward "convolution" loop shared by forward and backward-data:
 * out (B, OC, HW) = conv(cat[in1 (B, C1, HW), in2 (B, C2, HW)]) with packed
 * weights wp [ceil(OC/MR)][C1+C2][9][MR]. Items: (image, span of pixels,
 * group of output-channel blocks). */
static void fwd_loop(float *out, const float *in1, int C1, const float *in2, int C2,
                     const float *wp, const float *bias, int B, int H, int W, int OC,
                     const uint16_t *masks)
{
    fwd_job j = {.out = out, .in1 = in1, .in2 = in2, .wp = wp, .bias = bias, .C1 = C1,
                 .C2 = C2, .OC = OC, .masks = masks};
    j.HW = (long)H * W, j.nvec = j.HW / 16;
    j.nocb = (OC + MR - 1) / MR;
    j.vspan = NN_MIN(j.nvec, 48); /* 768 pixels: the input span stays in L2 */
    j.nspan = (j.nvec + j.vspan - 1) / j.vspan;
    j.ocg = NN_MAX(1, NN_MIN(j.nocb, 8)); /* 64 output channels per item */
    j.ngrp = (j.nocb + j.ocg - 1) / j.ocg;
    for (int s = 0; s < 9; s++)
        j.off[s] = (long)(s / 3 - 1) * W + (s % 3 - 1);
    nn_parallel((long)B * j.nspan * j.ngrp, fwd_task, &j);
}

/* wp [ceil(OC/MR)][C][9][MR] from weight (OC, C, 3, 3). */
static void pack_weights(float *wp, const float *weight, int OC, int C)
{
    int nocb = (OC + MR - 1) / MR;
    for (int ob = 0; ob < nocb; ob++)
        for (int c = 0; c < C; c++)
            for (int s = 0; s < 9; s++)
                for (int m = 0; m < MR; m++) {
                    int oc = ob * MR + m;
                    wp[(((long)ob * C + c) * 9 + s) * MR + m] =
                        oc < OC ? weight[((long)oc * C + c) * 9 + s] : 0.0f;
                }
}

/* The panel of the backward-data "convolution" for input channels
 * [i0, i0 + ni) of weight (OC, C, 3, 3): transposed and rotated by 180
 * degrees, wp [ceil(ni/MR)][OC][9][MR]. */
static void pack_weights_t(float *wp, const float *weight, int OC, int C, int i0, int ni)
{
    int nb = (ni + MR - 1) / MR;
    for (int ib = 0; ib < nb; ib++)
        for (int o = 0; o < OC; o++)
            for (int s = 0; s < 9; s++)
                for (int m = 0; m < MR; m++) {
                    int i = ib * MR + m;
                    wp[(((long)ib * OC + o) * 9 + s) * MR + m] =
                        i < ni ? weight[((long)o * C + i0 + i) * 9 + 8 - s] : 0.0f;
                }
}

static int usable(int H, int W)
{
    return nn_isa_active() == NN_ISA_AVX512 && ((long)H * W) % 16 == 0 && H >= 1 && W >= 1;
}

int conv3x3_fwd_fast(float *out, const float *in1, int C1, const float *in2, int C2,
                     const float *weight, const float *bias, int B, int H, int W, int OC)
{
    const uint16_t *masks;
    float *wp;
    if (!usable(H, W) || !(masks = masks_for(H, W)))
        return -1;
    if (!(wp = nn_scratch((size_t)((OC + MR - 1) / MR) * MR * (C1 + C2) * 9 * sizeof(float))))
        return -1;
    pack_weights(wp, weight, OC, C1 + C2);
    fwd_loop(out, in1, C1, in2, C2, wp, bias, B, H, W, OC, masks);
    return 0;
}

/* ---- backward: weights ---- */

#define WOC 4 /* output channels per dW micro-kernel */
#define WC 2  /* input channels per dW micro-kernel */
#define GOC 16
#define GC 16

/* Partial sums part (WOC x WC x 3 vectors, row ky) += over vectors [v0, v1),
 * for NC (1 or WC) input channels x0, x1. */
#define DW_UKR(NC)                                                                          \
    __attribute__((target("avx512f,avx512bw"))) static void dw_ukr##NC(                     \
        float *part, const float *d, const float *x0, const float *x1, long HW, long sd,    \
        long sx0, long sx1, int nimg, const uint16_t *masks, long v0, long v1, int ky,      \
        const long *off)                                                                    \
    {                                                                                       \
        __m512 acc[WOC][NC][3];                                                             \
        const float *xs[2] = {x0, x1};                                                      \
        _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++)                               \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                            \
                _Pragma("GCC unroll 3") for (int k = 0; k < 3; k++) acc[m][c][k] =          \
                    _mm512_loadu_ps(part + ((m * WC + c) * 3 + k) * 16);                    \
        const long o[3] = {off[ky * 3], off[ky * 3 + 1], off[ky * 3 + 2]};                  \
        for (int img = 0; img < nimg; img++, d += sd, xs[0] += sx0, xs[1] += sx1)          \
        for (long v = v0; v < v1; v++) {                                                    \
            const uint16_t *mk = masks + v * 9 + ky * 3;                                    \
            __m512 dv[WOC];                                                                 \
            _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++) dv[m] =                   \
                _mm512_loadu_ps(d + m * HW + 16 * v);                                       \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                            \
                _Pragma("GCC unroll 3") for (int k = 0; k < 3; k++)                         \
            {                                                                               \
                __m512 x = _mm512_maskz_loadu_ps(mk[k], xs[c] + 16 * v + o[k]);             \
                _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++) acc[m][c][k] =        \
                    _mm512_fmadd_ps(dv[m], x, acc[m][c][k]);                                \
            }                                                                               \
        }                                                                                   \
        _Pragma("GCC unroll 4") for (int m = 0; m < WOC; m++)                               \
            _Pragma("GCC unroll 2") for (int c = 0; c < NC; c++)                            \
                _Pragma("GCC unroll 3") for (int k = 0; k < 3; k++)                         \
                    _mm512_storeu_ps(part + ((m * WC + c) * 3 + k) * 16, acc[m][c][k]);     \
    }

DW_UKR(1)
DW_UKR(2)

__attribute__((target("avx512f"))) static float hsum(const float *p)
{
    return _mm512_reduce_add_ps(_mm512_loadu_ps(p));
}

typedef struct {
    const float *dout, *in1, *in2;
    int C1, C2, C, OC, B, ngo, ngc;
    long HW, nvec, groups, ipi, parts, vpart;
    size_t dwn, partn;
    float *priv;  /* per thread: private dW (dwn) + vector partials (partn) */
    char *zeroed; /* per thread: private dW cleared yet */
    const uint16_t *masks;
    long off[9];
} dw_job;

static void dw_task(void *ctx, long it, int tid)
{
    const dw_job *j = ctx;
    long HW = j->HW;
    int C = j->C, C1 = j->C1, C2 = j->C2, OC = j->OC;
    float *mydw = j->priv + (size_t)tid * (j->dwn + j->partn), *part = mydw + j->dwn;
    if (!j->zeroed[tid]) {
        memset(mydw, 0, j->dwn * sizeof(float));
        j->zeroed[tid] = 1;
    }
    long g = it % j->groups, rest = it / j->groups;
    int b0 = (int)((rest / j->parts) * j->ipi), nimg = (int)NN_MIN(j->ipi, j->B - b0);
    long v0 = (rest % j->parts) * j->vpart, v1 = NN_MIN(j->nvec, v0 + j->vpart);
    int go = (int)(g / j->ngc), gc = (int)(g % j->ngc);
    int oc0 = go * GOC, noc = NN_MIN(GOC, OC - oc0);
    int c0 = gc * GC, nc = NN_MIN(GC, C - c0);
    memset(part, 0, j->partn * sizeof(float));
    /* chunks of 64 vectors keep the rows of the group in L2 */
    for (long cv = v0; cv < v1; cv += 64) {
        long cv1 = NN_MIN(v1, cv + 64);
        for (int om = 0; om < noc; om += WOC)
            for (int cm = 0; cm < nc; cm += WC) {
                const float *xs[WC];
                long sx[WC];
                int ncc = NN_MIN(WC, nc - cm);
                for (int k = 0; k < WC; k++) {
                    int c = c0 + cm + NN_MIN(k, ncc - 1);
                    xs[k] = c < C1 ? j->in1 + ((long)b0 * C1 + c) * HW
                                   : j->in2 + ((long)b0 * C2 + c - C1) * HW;
                    sx[k] = (c < C1 ? C1 : C2) * HW;
                }
                const float *d = j->dout + ((long)b0 * OC + oc0 + om) * HW;
                float *pp = part + ((size_t)(om / WOC) * (GC / WC) + cm / WC) * 9 * WOC * WC * 16;
                for (int ky = 0; ky < 3; ky++)
                    (ncc == 2 ? dw_ukr2 : dw_ukr1)(pp + ky * WOC * WC * 3 * 16, d, xs[0], xs[1],
                                                   HW, (long)OC * HW, sx[0], sx[1], nimg,
                                                   j->masks, cv, cv1, ky, j->off);
            }
    }
    /* reduce the partials into this thread's dW */
    for (int om = 0; om < noc; om += WOC)
        for (int cm = 0; cm < nc; cm += WC) {
            float *pp = part + ((size_t)(om / WOC) * (GC / WC) + cm / WC) * 9 * WOC * WC * 16;
            for (int ky = 0; ky < 3; ky++)
                for (int m = 0; m < WOC && om + m < noc; m++)
                    for (int k = 0; k < WC && cm + k < nc; k++)
                        for (int kx = 0; kx < 3; kx++)
                            mydw[((long)(oc0 + om + m) * C + c0 + cm + k) * 9 + ky * 3 + kx] +=
                                hsum(pp + ky * WOC * WC * 3 * 16 + ((m * WC + k) * 3 + kx) * 16);
        }
}

/* dweight (OC, C1+C2, 3, 3) += sum over the batch. Items: (group of 16
 * output x 16 input channels, images [b0, b0 + ipi), vectors [v0, v0 +
 * vpart)); enough of them for the threads to balance, small images together. */
static void dw_loop(float *dweight, const float *dout, const float *in1, int C1, const float *in2,
                    int C2, int B, int H, int W, int OC, const uint16_t *masks)
{
    dw_job j = {.dout = dout, .in1 = in1, .in2 = in2, .C1 = C1, .C2 = C2, .C = C1 + C2,
                .OC = OC, .B = B, .masks = masks};
    int nt = nn_threads();
    char zeroed[64] = {0};
    j.HW = (long)H * W, j.nvec = j.HW / 16;
    j.ngo = (OC + GOC - 1) / GOC, j.ngc = (j.C + GC - 1) / GC;
    j.groups = (long)j.ngo * j.ngc;
    long want = 4L * nt;
    j.ipi = j.nvec >= 64 ? 1 : B, j.parts = 1;
    while (j.groups * ((B + j.ipi - 1) / j.ipi) * j.parts < want) {
        if (j.ipi > 1)
            j.ipi = (j.ipi + 1) / 2;
        else if (j.nvec / (j.parts * 2) >= 64)
            j.parts *= 2;
        else
            break;
    }
    j.vpart = (j.nvec + j.parts - 1) / j.parts;
    j.dwn = (size_t)OC * j.C * 9;
    j.partn = (size_t)GOC * GC * 9 * 16;
    j.priv = nn_scratch((size_t)nt * (j.dwn + j.partn) * sizeof(float));
    j.zeroed = zeroed;
    if (!j.priv || nt > 64)
        return;
    for (int s = 0; s < 9; s++)
        j.off[s] = (long)(s / 3 - 1) * W + (s % 3 - 1);
    nn_parallel(j.groups * ((B + j.ipi - 1) / j.ipi) * j.parts, dw_task, &j);
    for (int t = 0; t < nt; t++) {
        const float *p = j.priv + (size_t)t * (j.dwn + j.partn);
        if (zeroed[t])
            for (size_t i = 0; i < j.dwn; i++)
                dweight[i] += p[i];
    }
}

static size_t scratch_bytes(int C, int OC, int nt)
{
    size_t dw = (size_t)nt * ((size_t)OC * C * 9 + (size_t)GOC * GC * 9 * 16);
    size_t dx = (size_t)((C + MR - 1) / MR) * MR * OC * 9;
    return NN_MAX(dw, dx) * sizeof(float);
}

int conv3x3_bwd_fast(float *dinp1, float *dinp2, float *dweight, const float *dout,
                     const float *in1, int C1, const float *in2, int C2, const float *weight,
                     int B, int H, int W, int OC)
{
    const uint16_t *masks;
    int C = C1 + C2;
    if (!usable(H, W) || (OC % WOC) || !(masks = masks_for(H, W)))
        return -1;
    /* scratch for both passes up front: after dW has been added, failing
     * would make the caller's fallback add it twice */
    if (!nn_scratch(scratch_bytes(C, OC, nn_threads())))
        return -1;
    if (dweight)
        dw_loop(dweight, dout, in1, C1, in2, C2, B, H, W, OC, masks);
    for (int part = 0; part < 2; part++) {
        float *dinp = part ? dinp2 : dinp1;
        int i0 = part ? C1 : 0, ni = part ? C2 : C1;
        if (!dinp || !ni)
            continue;
        float *wp = nn_scratch((size_t)((ni + MR - 1) / MR) * MR * OC * 9 * sizeof(float));
        if (!wp)
            return -1; /* before anything was written only if part 0 and no dweight */
        pack_weights_t(wp, weight, OC, C, i0, ni);
        fwd_loop(dinp, dout, OC, NULL, 0, wp, NULL, B, H, W, ni, masks);
    }
    return 0;
}
