/* The element-wise kernels (elem_tmpl.h) compiled for AVX-512, AVX2 and
 * the baseline ISA, and the table that picks one by nn_isa_active(). */
#include <string.h>

#include "nn/internal.h"
#include "nn/nn.h"

/* 64-byte vectors pass by value between inlined helpers only */
#pragma GCC diagnostic ignored "-Wpsabi"

#include <immintrin.h>
#include <math.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512dq,avx512vl,fma")
static inline __attribute__((always_inline)) float
    __attribute__((vector_size(64))) sqrt_avx512(float __attribute__((vector_size(64))) v)
{
    return (float __attribute__((vector_size(64))))_mm512_sqrt_ps((__m512)v);
}
#define SFX _avx512
#define SQRT sqrt_avx512
#include "nn/elem_tmpl.h"
#undef SQRT
#undef SFX
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma")
static inline __attribute__((always_inline)) float
    __attribute__((vector_size(64))) sqrt_avx2(float __attribute__((vector_size(64))) v)
{
    __m256 lo, hi;
    memcpy(&lo, &v, 32);
    memcpy(&hi, (char *)&v + 32, 32);
    lo = _mm256_sqrt_ps(lo), hi = _mm256_sqrt_ps(hi);
    memcpy(&v, &lo, 32);
    memcpy((char *)&v + 32, &hi, 32);
    return v;
}
#define SFX _avx2
#define SQRT sqrt_avx2
#include "nn/elem_tmpl.h"
#undef SQRT
#undef SFX
#pragma GCC pop_options

static inline float __attribute__((vector_size(64))) sqrt_c(float __attribute__((vector_size(64))) v)
{
    for (int i = 0; i < 16; i++)
        v[i] = sqrtf(v[i]);
    return v;
}
#define SFX _c
#define SQRT sqrt_c
#include "nn/elem_tmpl.h"
#undef SQRT
#undef SFX

#define OPS(s)                                                                              \
    {                                                                                       \
        ew_sums##s, ew_affine##s, ew_gsums##s, ew_gapply##s, ew_relu##s, ew_relu_bwd##s,    \
            ew_add##s, ew_sum##s, ew_maxpool_row##s, ew_maxpool_bwd_row##s,                  \
            ew_interleave##s, ew_deinterleave##s, ew_adam##s, ew_sgd##s                     \
    }

static const nn_ew_ops ops[3] = {OPS(_c), OPS(_avx2), OPS(_avx512)};

const nn_ew_ops *nn_ew(void)
{
    return &ops[nn_isa_active()];
}
