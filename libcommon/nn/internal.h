/*
 * internal — what the engine's kernel files share and users do not see:
 * the chosen instruction set, per-thread scratch memory, OpenMP helpers.
 *
 * Not here: any public contract (nn.h has it).
 */
#ifndef LRC_NN_IMPL_H
#define LRC_NN_IMPL_H

#include <stddef.h>

#include "core/isa.h"

/* The active ISA (NN_ISA_*, core/isa.h chooses), cached; cheap to call. */
static inline int nn_isa_active(void) { return isa_active(); }

/* Scratch memory of the calling thread, at least bytes, 64-byte aligned, in
 * one of a few slots. The same buffer is returned on each call for a slot
 * (grown when needed): a kernel takes its slot once and carves it up; it must
 * not call another kernel that takes the same slot while using it. The GEMM's
 * packed panels have their own slot, so a kernel may call the GEMM on data
 * in the work slot; conv.c's im2col matrices have theirs (NN_SCRATCH_COL),
 * so that it may call the direct kernels, which use the work slot. NULL on out of memory. */
enum { NN_SCRATCH_WORK, NN_SCRATCH_GEMM, NN_SCRATCH_COL, NN_SCRATCH_SLOTS };
void *nn_scratch_slot(int slot, size_t bytes);
static inline void *nn_scratch(size_t bytes) { return nn_scratch_slot(NN_SCRATCH_WORK, bytes); }

/* Run fn(ctx, i, tid) for i in [0, n) on nn_threads() threads (the caller is
 * tid 0, others 1..T-1), each thread starting on its own T-th of the items
 * and then helping with the rest, in runs of about n / 8T (one at a time
 * when n < 16T); returns when all are done. From inside a task it runs
 * serially. */
typedef void (*nn_task_fn)(void *ctx, long i, int tid);
void nn_parallel(long n, nn_task_fn fn, void *ctx);
/* The same for items of about `work` units each (a float read or written,
 * or 16 multiply-adds): a job of little work runs on the caller alone, and
 * each claim takes enough items to be worth a hand-over. */
void nn_parallel_work(long n, long work, nn_task_fn fn, void *ctx);
/* Threads nn_parallel uses (for per-thread buffers indexed by tid). */
int nn_parallel_threads(void);

/* A large block (activations, scratch): 2 MB aligned and advised for huge
 * pages when 4 MB or more. Freed with lrc_free. */
void *nn_alloc_big(size_t bytes);

/* Free the calling thread's scratch slots (a pool worker does it when it
 * ends). */
void nn_thread_release(void);

/* Split n items into parts: [*lo, *hi) of part i of nparts. */
static inline void nn_split(long n, int i, int nparts, long *lo, long *hi)
{
    long q = n / nparts, r = n % nparts;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + q + (i < r);
}

/* Element-wise kernels for the active ISA (elem.c; semantics in
 * elem_tmpl.h). */
typedef struct {
    void (*sums)(const float *x, long n, float m0, double *s, double *ss);
    void (*affine)(float *out, const float *x, long n, float sc, float sh, int relu);
    void (*gsums)(const float *dout, const float *out, const float *x, long n, float mean,
                  double *sg, double *sgx);
    void (*gapply)(float *dinp, const float *dout, const float *out, const float *x, long n,
                   float mean, float k1, float k2, float k3);
    void (*relu)(float *out, const float *x, long n);
    void (*relu_bwd)(float *dinp, const float *dout, const float *out, long n);
    void (*add)(float *out, const float *a, const float *b, long n);
    double (*sum)(const float *x, long n);
    void (*maxpool_row)(float *o, const float *r0, const float *r1, int ow);
    void (*maxpool_bwd_row)(float *d0, float *d1, const float *r0, const float *r1,
                            const float *o, const float *g, int ow);
    void (*interleave)(float *out, const float *a, const float *b, int n, float c);
    void (*deinterleave)(float *a, float *b, const float *in, int n);
    void (*adam)(float *p, const float *g, float *m, float *v, long n, float wd, int decoupled,
                 float decay, float b1, float b2, float step, float sbc2, float eps);
    void (*sgd)(float *p, const float *g, float *buf, long n, float wd, float mom, int first,
                int nest, float lr);
} nn_ew_ops;
const nn_ew_ops *nn_ew(void);

/* Time spent per kind of work, when LRCPIPE_PROFILE is set in the
 * environment: a table on stderr at exit (wall time and share). */
enum {
    PROF_CONV_FWD, PROF_CONV_DW, PROF_CONV_DX, PROF_NORM_FWD, PROF_NORM_BWD, PROF_UP_FWD,
    PROF_UP_BWD, PROF_HEAD_FWD, PROF_HEAD_BWD, PROF_POOL_FWD, PROF_POOL_BWD, PROF_OPTIM,
    PROF_OTHER, PROF_N
};
extern int nn_prof_on;
double nn_prof_now(void);
void nn_prof_add(int what, double seconds, double flops);
void nn_prof_reset(void); /* e.g. after warm-up steps */
/* Run call (one expression: a kernel call) and, with LRCPIPE_PROFILE, add
 * its time and flops to what; so profiling wraps a call and never sits
 * between the lines of the math. */
#define PROF_CALL(what, flops, call)                                                        \
    do {                                                                                    \
        double prof_t0_ = nn_prof_on ? nn_prof_now() : 0;                                   \
        call;                                                                               \
        if (nn_prof_on)                                                                     \
            nn_prof_add(what, nn_prof_now() - prof_t0_, flops);                             \
    } while (0)

/* Direct AVX-512 convolutions (conv_direct.c): K 1 or 3, stride 1, pad K/2, over
 * cat[in1, in2]; -1 when not applicable (the caller takes im2col + GEMM).
 * Backward: dinp written, dweight accumulated; any may be NULL. */
int conv_direct_forward(float *out, const float *in1, int C1, const float *in2, int C2,
                  const float *weight, const float *bias, int B, int H, int W, int OC, int K);
int conv_direct_backward(float *dinp1, float *dinp2, float *dweight, const float *dout,
                   const float *in1, int C1, const float *in2, int C2, const float *weight,
                   int B, int H, int W, int OC, int K);
/* The same kernels on small planes (H W not a multiple of 16) with the
 * batch folded into one tall image (conv_direct.c): K 1 or 3, stride 1, pad
 * K/2, B H W a multiple of 16, B > 1; backward also needs OC % 4 == 0 and,
 * for dW, B H W >= 256, and takes planes of fewer than 256 pixels (where
 * its dW beats conv_direct_backward's), not larger ones the direct kernels
 * take. -1 when not applicable. */
int conv_fold_forward(float *out, const float *in1, int C1, const float *in2, int C2,
                      const float *weight, const float *bias, int B, int H, int W, int OC, int K);
int conv_fold_backward(float *dinp1, float *dinp2, float *dweight, const float *dout,
                       const float *in1, int C1, const float *in2, int C2, const float *weight,
                       int B, int H, int W, int OC, int K);
/* 3x3 stride-2 pad-1 convolutions by the same kernels over the input's four
 * phases (conv_direct.c): H and W even, B (H/2) (W/2) a multiple of 16;
 * backward also needs OC % 4 == 0. -1 when not applicable. */
int conv_s2_forward(float *out, const float *inp, const float *weight, const float *bias, int B,
                    int C, int H, int W, int OC);
int conv_s2_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                     const float *weight, int B, int C, int H, int W, int OC);
/* ConvTranspose2d(C, OC, 2, 2) by the same kernels (conv_direct.c); -1 when not
 * applicable. Backward: dinp written, dweight accumulated (no bias). */
int conv_direct_convt_forward(float *out, const float *inp, const float *weight, const float *bias,
                        int B, int C, int H, int W, int OC);
int conv_direct_convt_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                         const float *weight, int B, int C, int H, int W, int OC);

/* Winograd F(2x2, 3x3) for 3x3 stride-1 pad-1 convolutions over cat[in1,
 * in2] (winograd.c), AVX-512: -1 when switched off (nn_winograd) or not
 * applicable. wg_wanted: where it beats the direct kernels (conv.c asks). */
int wg_usable(int H, int W);
int wg_wanted(int B, int C, int H, int W, int OC);
int wg_forward(float *out, const float *in1, int C1, const float *in2, int C2,
               const float *weight, const float *bias, int B, int H, int W, int OC);
int wg_backward(float *dinp1, float *dinp2, float *dweight, const float *dout, const float *in1,
                int C1, const float *in2, int C2, const float *weight, int B, int H, int W,
                int OC);

#define NN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
