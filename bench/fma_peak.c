/* The machine's single-precision FMA peak, measured: a register-only loop
 * of independent fused multiply-adds on the instruction set the engine uses
 * (nn_isa(): AVX-512, AVX2+FMA or, for the portable path, scalar C), on
 * 1 and 2 threads (or those named). The training-step benchmarks divide
 * their GFLOP/s by it (bench/run.sh, engine.sh, lrc.sh, finetune.sh).
 *
 *   fma_peak [THREADS ...]      default: 1 2
 *
 * Prints one line per thread count:
 *   threads=T gflops=G isa=NAME
 * G is the best of 5 runs of about 0.1 s each; on a busy machine it is what
 * the threads got, not what the cores could do (run.sh prints the load).
 *
 * The loop keeps 16 accumulators in flight (a 4-cycle FMA latency times up
 * to 2 FMA units needs 8, and more hide the loop overhead) and counts 2
 * FLOPs per lane per FMA. */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "nn/nn.h"

#define NACC 16

/* 16 accumulators as named variables (an array would be spilled to the
 * stack on every iteration); the empty asm makes each look used, so that
 * the compiler neither drops nor merges the chains. */
#define ACC_LIST(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15)
#define FMA_LOOP(T, SET1, CONS)                                                               \
    T a_ = SET1(0.999999f), b_ = SET1(1e-7f * seed);                                        \
    ACC_LIST(DECL)                                                                          \
    for (long k = 0; k < iters; k++) {                                                      \
        ACC_LIST(STEP)                                                                      \
        __asm__ volatile("" : CONS(acc0), CONS(acc1), CONS(acc2), CONS(acc3), CONS(acc4),   \
                         CONS(acc5), CONS(acc6), CONS(acc7));                               \
        __asm__ volatile("" : CONS(acc8), CONS(acc9), CONS(acc10), CONS(acc11),             \
                         CONS(acc12), CONS(acc13), CONS(acc14), CONS(acc15));               \
    }                                                                                       \
    T sum_ = SET1(0.0f);                                                                    \
    ACC_LIST(SUM)

/* Each runs iters iterations of NACC independent FMAs and returns a value
 * that depends on all of them. */
__attribute__((target("avx512f"))) static float loop_avx512(long iters, float seed)
{
#define DECL(i) __m512 acc##i = _mm512_set1_ps(seed + (float)(i));
#define STEP(i) acc##i = _mm512_fmadd_ps(acc##i, a_, b_);
#define SUM(i) sum_ = _mm512_add_ps(sum_, acc##i);
#define CONS_V(x) "+v"(x)
    FMA_LOOP(__m512, _mm512_set1_ps, CONS_V)
    return _mm512_reduce_add_ps(sum_);
#undef DECL
#undef STEP
#undef SUM
}

__attribute__((target("avx2,fma"))) static float loop_avx2(long iters, float seed)
{
#define DECL(i) __m256 acc##i = _mm256_set1_ps(seed + (float)(i));
#define STEP(i) acc##i = _mm256_fmadd_ps(acc##i, a_, b_);
#define SUM(i) sum_ = _mm256_add_ps(sum_, acc##i);
#define CONS_X(x) "+x"(x)
    FMA_LOOP(__m256, _mm256_set1_ps, CONS_X)
    float t[8];
    _mm256_storeu_ps(t, sum_);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
#undef DECL
#undef STEP
#undef SUM
}

/* the portable path: a scalar multiply-add in plain C, as the portable
 * kernels are compiled (one lane; no FMA instruction without -mfma) */
static float set1_c(float x) { return x; }
static float loop_c(long iters, float seed)
{
#define DECL(i) float acc##i = seed + (float)(i);
#define STEP(i) acc##i = acc##i * a_ + b_;
#define SUM(i) sum_ += acc##i;
    FMA_LOOP(float, set1_c, CONS_X)
    return sum_;
#undef DECL
#undef STEP
#undef SUM
}

static int lanes(int isa)
{
    return isa == NN_ISA_AVX512 ? 16 : isa == NN_ISA_AVX2 ? 8 : 1;
}

typedef struct {
    int isa;
    long iters;
    pthread_barrier_t *start;
    float sink;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    pthread_barrier_wait(a->start);
    a->sink = a->isa == NN_ISA_AVX512 ? loop_avx512(a->iters, 1.0f)
              : a->isa == NN_ISA_AVX2 ? loop_avx2(a->iters, 1.0f)
                                      : loop_c(a->iters, 1.0f);
    return NULL;
}

/* GFLOP/s of T threads each running iters iterations at once (wall time,
 * from the common start to the last thread's end). */
static double run(int isa, int T, long iters)
{
    pthread_t th[64];
    worker_arg arg[64];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)T + 1);
    for (int i = 0; i < T; i++) {
        arg[i] = (worker_arg){isa, iters, &start, 0};
        if (pthread_create(&th[i], NULL, worker, &arg[i])) {
            fprintf(stderr, "fma_peak: cannot start thread %d\n", i);
            exit(1);
        }
    }
    pthread_barrier_wait(&start);
    double t0 = clock_now();
    for (int i = 0; i < T; i++)
        pthread_join(th[i], NULL);
    double dt = clock_now() - t0;
    pthread_barrier_destroy(&start);
    return (double)T * iters * NACC * lanes(isa) * 2 / dt * 1e-9;
}

int main(int argc, char **argv)
{
    int isa = nn_isa();
    int counts[16] = {1, 2}, nc = 2;
    if (argc > 1) {
        nc = 0;
        for (int i = 1; i < argc && nc < 16; i++) {
            counts[nc] = atoi(argv[i]);
            if (counts[nc] < 1 || counts[nc] > 64) {
                fprintf(stderr, "fma_peak: thread count '%s' not in 1..64\n", argv[i]);
                return 2;
            }
            nc++;
        }
    }
    /* calibrate: about 0.1 s per run on one thread */
    long iters = 1 << 16;
    for (;;) {
        double t0 = clock_now();
        run(isa, 1, iters);
        if (clock_now() - t0 > 0.02 || iters > (1L << 34))
            break;
        iters *= 2;
    }
    iters *= 5;
    for (int c = 0; c < nc; c++) {
        double best = 0;
        for (int r = 0; r < 5; r++) {
            double g = run(isa, counts[c], iters);
            best = g > best ? g : best;
        }
        printf("threads=%d gflops=%.1f isa=%s\n", counts[c], best, nn_isa_name(isa));
    }
    return 0;
}
