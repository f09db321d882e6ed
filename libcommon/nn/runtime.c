/* Engine settings (threads, instruction set), scratch memory and the
 * initialisation schemes of nn.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "core/isa.h"
#include "core/tensor.h"
#include "nn/internal.h"
#include "nn/nn.h"

#include <stdio.h>
#include <time.h>

int nn_prof_on = -1;
static double prof_t[PROF_N], prof_f[PROF_N];
static long prof_n[PROF_N];
static const char *prof_names[PROF_N] = {
    "conv3x3 forward", "conv3x3 backward dW", "conv3x3 backward dX", "norm forward",
    "norm backward", "up-conv forward", "up-conv backward", "head forward", "head backward",
    "max-pool forward", "max-pool backward", "optimiser", "other"};

static clockid_t prof_clock = CLOCK_MONOTONIC;

double nn_prof_now(void)
{
    struct timespec t;
    clock_gettime(prof_clock, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static void prof_report(void)
{
    double tot = 0;
    for (int i = 0; i < PROF_N; i++)
        tot += prof_t[i];
    fprintf(stderr, "%-22s %10s %7s %8s %9s\n",
            prof_clock == CLOCK_MONOTONIC ? "engine profile (wall)" : "engine profile (CPU)", "ms",
            "share", "calls", "GFLOP/s");
    for (int i = 0; i < PROF_N; i++)
        if (prof_n[i])
            fprintf(stderr, "%-22s %10.1f %6.1f%% %8ld %9.1f\n", prof_names[i], prof_t[i] * 1e3,
                    100 * prof_t[i] / (tot > 0 ? tot : 1), prof_n[i],
                    prof_f[i] > 0 ? prof_f[i] / prof_t[i] * 1e-9 : 0.0);
    fprintf(stderr, "%-22s %10.1f\n", "total", tot * 1e3);
}

__attribute__((constructor)) static void prof_init(void)
{
    const char *e = getenv("LRCPIPE_PROFILE");
    nn_prof_on = e && *e && strcmp(e, "0");
    if (nn_prof_on && !strcmp(e, "cpu")) /* process CPU time: robust on a busy machine */
        prof_clock = CLOCK_PROCESS_CPUTIME_ID;
    if (nn_prof_on)
        atexit(prof_report);
}

void nn_prof_reset(void)
{
    memset(prof_t, 0, sizeof prof_t);
    memset(prof_f, 0, sizeof prof_f);
    memset(prof_n, 0, sizeof prof_n);
}

void nn_prof_add(int what, double seconds, double flops)
{
    prof_t[what] += seconds;
    prof_f[what] += flops;
    prof_n[what]++;
}

static int threads_set;

void nn_set_threads(int n)
{
    threads_set = n < 1 ? 1 : n > 64 ? 64 : n;
}

int nn_threads(void)
{
    if (!threads_set) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads_set = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }
    return threads_set;
}

const char *nn_isa_name(int isa)
{
    return isa_name(isa);
}

int nn_isa(void)
{
    return isa_active();
}

int nn_set_isa(int isa)
{
    return isa_set(isa);
}

void *nn_alloc_big(size_t bytes)
{
    void *p = NULL;
    if (bytes < (4u << 20))
        return lrc_alloc(bytes);
    /* 2 MB aligned and advised: transparent huge pages (madvise mode on
     * Debian) cut the TLB misses of kernels that walk dozens of planes */
    bytes = (bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    if (posix_memalign(&p, 2u << 20, bytes))
        return NULL;
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

static _Thread_local void *scratch_p[NN_SCRATCH_SLOTS];
static _Thread_local size_t scratch_n[NN_SCRATCH_SLOTS];

void *nn_scratch_slot(int slot, size_t bytes)
{
    if (bytes <= scratch_n[slot])
        return scratch_p[slot];
    lrc_free(scratch_p[slot]);
    scratch_n[slot] = 0;
    bytes = (bytes + 4095) & ~(size_t)4095;
    scratch_p[slot] = nn_alloc_big(bytes);
    if (scratch_p[slot])
        scratch_n[slot] = bytes;
    return scratch_p[slot];
}

void nn_thread_release(void)
{
    for (int i = 0; i < NN_SCRATCH_SLOTS; i++) {
        lrc_free(scratch_p[i]);
        scratch_p[i] = NULL;
        scratch_n[i] = 0;
    }
}

void nn_init_uniform(float *w, size_t n, float bound, rng *r)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)((2 * rng_uniform(r) - 1) * bound);
}

void nn_init_normal(float *w, size_t n, float std, rng *r)
{
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(rng_normal(r) * std);
}

void nn_init_kaiming_normal(float *w, size_t n, int fan, rng *r)
{
    nn_init_normal(w, n, (float)sqrt(2.0 / (fan > 0 ? fan : 1)), r);
}

void nn_init_default(float *w, size_t n, int fan_in, rng *r)
{
    nn_init_uniform(w, n, (float)(1.0 / sqrt(fan_in > 0 ? fan_in : 1)), r);
}
