/*
 * npcompat — NumPy 1.24 / SciPy 1.10 numerics reproduced bit for bit, for
 * ports that must give the same answer as a Python reference (Debian 12's
 * python3-numpy and python3-scipy on x86-64).
 *
 *   npc_exp            np.exp on float64: on AVX512_SKX CPUs numpy 1.24 runs
 *                      Intel SVML's vector exp, which differs from glibc's exp
 *                      by an ulp for a few per cent of arguments; npc_exp
 *                      follows it there and calls libm's exp elsewhere, as
 *                      numpy does (the CPU is checked once at run time).
 *   npc_sum            np.add.reduce of a contiguous float64 array: 0.0 plus
 *                      numpy's pairwise sum (8 accumulators, blocks of 128).
 *   npc_gaussian_kernel1d  scipy.ndimage._gaussian_kernel1d(sigma, 0, radius)
 *                      with radius int(truncate*sigma + 0.5).
 *   npc_gaussian_filter2d  scipy.ndimage.gaussian_filter on a [H,W] float64
 *                      image, mode 'reflect', axis 0 first, then axis 1, each
 *                      pass in scipy's symmetric correlation order; an axis
 *                      with sigma <= 1e-15 is skipped as scipy does.
 *   npc_argsort        np.argsort(v) (kind='quicksort') of a float64 array:
 *                      numpy's unstable introsort (median of 3, Hoare
 *                      partition, insertion sort below 16, heapsort when the
 *                      depth 2*floor(log2 n) runs out), so that ties come out
 *                      in numpy's order. NaN is not supported. npc_argsort_range
 *                      gives a slice of that order for a fraction of the work.
 *
 * Floating-point contraction must stay off for these to be exact: the build
 * uses no -march flags, so x86-64 code has no FMA instructions to contract
 * into; npc_exp uses fma() where SVML uses a fused multiply-add.
 *
 * Not here: anything numpy does not define bit for bit (other sort kinds,
 * other boundary modes, float32 paths).
 */
#ifndef LRC_NPCOMPAT_H
#define LRC_NPCOMPAT_H

#include <stddef.h>
#include <stdint.h>

double npc_exp(double x);
/* The SVML algorithm itself, whatever the CPU (for tests). */
double npc_exp_svml(double x);
/* 1 when npc_exp follows SVML on this CPU. */
int npc_exp_is_svml(void);

double npc_sum(const double *a, size_t n);

/* Writes 2*radius+1 weights into w (room for 2*npc_gaussian_radius()+1) and
 * returns the radius. */
int npc_gaussian_radius(double sigma, double truncate);
int npc_gaussian_kernel1d(double *w, double sigma, double truncate);

/* out (H, W) = gaussian_filter(in (H, W), (sigma_y, sigma_x), mode='reflect',
 * truncate). out may equal in. tmp: H*W doubles of scratch, or NULL to
 * allocate. Returns 0 or -1 (out of memory, with err_set()). */
int npc_gaussian_filter2d(double *out, const double *in, int64_t H, int64_t W, double sigma_y,
                          double sigma_x, double truncate, double *tmp);

/* idx[0..n) = np.argsort(v[0..n)), n < 2^31. Returns 0 or -1 (out of memory). */
int npc_argsort(int32_t *idx, const double *v, int64_t n);
/* idx[0..hi-lo) = np.argsort(v)[lo:hi], running only the part of the
 * introsort that decides those positions: about 2n element steps plus the
 * sort of the range itself, instead of n log n. */
int npc_argsort_range(int32_t *idx, const double *v, int64_t n, int64_t lo, int64_t hi);
/* The same, for several ranges of one array: each request sorts only what
 * it needs of what the earlier ones left pending, so all of them together
 * cost at most one full sort. new copies v. */
typedef struct npc_lazysort npc_lazysort;
npc_lazysort *npc_lazysort_new(const double *v, int64_t n);
/* Start over on another array, keeping the memory. */
int npc_lazysort_reset(npc_lazysort *s, const double *v, int64_t n);
int npc_lazysort_range(npc_lazysort *s, int32_t *idx, int64_t lo, int64_t hi);
void npc_lazysort_free(npc_lazysort *s);

#endif
