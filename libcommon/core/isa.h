/*
 * isa — the one place that chooses the instruction set of every hand-written
 * SIMD path (the engine's kernels, the elastic warp, NumPy's exp): the best
 * the CPU has, unless LRCPIPE_ISA=c|avx2|avx512 in the environment (a level
 * the CPU lacks is ignored) or isa_set() chose another (tests, benchmarks).
 *
 *   ISA_AVX2    AVX2 and FMA
 *   ISA_AVX512  AVX-512 F, CD, BW, DQ and VL (Skylake-X and later) and FMA
 *
 * image/npcompat.c asks isa_cpu_has(), not isa_active(): it reproduces
 * NumPy, whose dispatch follows the CPU alone.
 *
 * Not here: the kernels; compiler-dispatched clones (target_clones), which
 * the loader picks by the CPU and which give the same bits on every path.
 */
#ifndef LRC_ISA_H
#define LRC_ISA_H

enum { ISA_C = 0, ISA_AVX2 = 1, ISA_AVX512 = 2 };

/* The level in use (cached; cheap to call). */
int isa_active(void);
/* Whether this CPU has level isa. */
int isa_cpu_has(int isa);
/* Use level isa from now on: 0, or -1 + err_set when the CPU lacks it. */
int isa_set(int isa);
/* "c", "avx2", "avx512". */
const char *isa_name(int isa);

#endif
