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

#define NN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define NN_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
