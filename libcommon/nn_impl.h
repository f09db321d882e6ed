/*
 * nn_impl — what the engine's kernel files share and users do not see:
 * the chosen instruction set, per-thread scratch memory, OpenMP helpers.
 *
 * Not here: any public contract (nn.h has it).
 */
#ifndef LRC_NN_IMPL_H
#define LRC_NN_IMPL_H

#include <stddef.h>

/* The active ISA (NN_ISA_*), cached; cheap to call. */
int nn_isa_active(void);

/* Scratch memory of the calling thread, at least bytes, 64-byte aligned.
 * The same buffer is returned on each call (grown when needed): a kernel
 * takes it once and carves it up; it must not call another kernel that
 * takes scratch while using it. NULL on out of memory. */
void *nn_scratch(size_t bytes);

/* Split n items into parts: [*lo, *hi) of part i of nparts. */
static inline void nn_split(long n, int i, int nparts, long *lo, long *hi)
{
    long q = n / nparts, r = n % nparts;
    *lo = i * q + (i < r ? i : r);
    *hi = *lo + q + (i < r);
}

/* Element-wise kernels for the active ISA (nn_elem.c; semantics in
 * nn_elem_tmpl.h). */
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
    void (*adam)(float *p, const float *g, float *m, float *v, long n, float wd, int decoupled,
                 float decay, float b1, float b2, float step, float sbc2, float eps);
    void (*sgd)(float *p, const float *g, float *buf, long n, float wd, float mom, int first,
                int nest, float lr);
} ew_ops;
const ew_ops *ew(void);

#define NN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
