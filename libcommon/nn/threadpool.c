/* The engine's thread pool (nn_parallel in internal.h).
 *
 * Why not OpenMP: on a machine shared with other work, libgomp's threads
 * spin at every barrier while the OS has preempted their partner, and a
 * static split makes the whole step wait for the slowest thread. Here each
 * thread has a home range of a job's items (thread i the i-th of T equal
 * parts) and claims them in runs from a ticket of its own; when its range
 * is done it takes what is left of the others', so a thread that runs gets
 * through the items a preempted one did not take. Idle threads spin only
 * briefly before sleeping on a futex.
 *
 * Why home ranges: consecutive layers split their items alike (batch-major
 * planes), so a thread mostly reads what it wrote itself a moment ago and
 * the data stay in its core's cache (one shared ticket handed items out in
 * whatever order threads arrived: the rotation step ran 1-14 % slower,
 * five interleaved pairs).
 * Why runs: jobs of thousands of tiny items (batch norm over B x C planes
 * of 3 x 3 pixels) spent most of their time bouncing a ticket's cache line
 * between the cores, one compare-and-swap per item. And a job whose caller
 * says it is small (nn_parallel_work) runs on the caller alone: on layers
 * of a few microseconds the hand-over cost more than the second core gave.
 * Before these three changes two threads ran the relative-location step
 * (16 x 16 patches) 5x slower than one (2026-12-05, AMD EPYC).
 *
 * A ticket is one 64-bit word: generation (20 bits) | end of the range (20
 * bits) | next item (24 bits). A claim is a compare-and-swap on it, so a
 * thread that wakes late, holding an old generation, claims nothing; and
 * the job's function, context and run length are read only after a ticket
 * that still has items, when the caller cannot replace the job (it waits
 * for every item).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "nn/internal.h"
#include "nn/nn.h"

#define MAXT 64

/* How long a waiting thread spins (pause iterations) before it sleeps on a
 * futex. Spinning saves the sleep and wake-up when the partner finishes in
 * microseconds, which is the rule on an idle machine. On a busy one the
 * partner is often preempted for a whole time slice, and the spinning is
 * paid out of this process's share of the machine (the kernel schedules a
 * session's threads as one group), so the working thread gets less. A
 * thread therefore looks every SPIN_LOOK waits at how often it was itself
 * preempted (involuntary context switches): more than SPIN_BUSY_SWITCHES
 * since the last look and it spins SPIN_BUSY, else SPIN_IDLE. */
#define SPIN_IDLE 4000 /* tens of microseconds */
#define SPIN_BUSY 400
#define SPIN_LOOK 256
#define SPIN_BUSY_SWITCHES 4

static struct {
    pthread_mutex_t lock; /* creation and one job at a time */
    int nthreads;         /* including the caller; 0: not started */
    pthread_t th[MAXT];
    struct {
        _Atomic uint64_t t;
        char pad[56];
    } tk[MAXT] __attribute__((aligned(64))); /* thread i's home range of items */
    _Atomic uint32_t total; /* items in this job */
    _Atomic uint32_t wake;     /* futex: bumped when a job is published */
    _Atomic uint32_t done;     /* futex: items finished in this job */
    _Atomic int stop;
    _Atomic int sleepers;      /* workers asleep on wake */
    _Atomic int caller_asleep; /* the caller asleep on done */
    _Atomic uint32_t chunk;    /* items per claim in this job */
    nn_task_fn fn;
    void *ctx;
    long base;                 /* items are base + k: jobs larger than 2^20 run in parts */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

#define GEN(t) ((uint32_t)((t) >> 44))
#define END(t) ((uint32_t)(((t) >> 24) & 0xfffff))
#define NXT(t) ((uint32_t)((t)&0xffffff))
#define MAXCNT 0xfffff

static void futex_wait(_Atomic uint32_t *w, uint32_t val)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *w)
{
    syscall(SYS_futex, (uint32_t *)w, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
    __builtin_ia32_pause();
}

static _Thread_local int in_task; /* nested nn_parallel runs serially */

static _Thread_local struct {
    int limit;     /* 0: not looked yet */
    unsigned waits;
    long switches; /* involuntary context switches at the last look */
} spin;

/* The spin of this wait (SPIN_IDLE or SPIN_BUSY, above) */
static int spin_limit(void)
{
    if (spin.limit == 0 || ++spin.waits >= SPIN_LOOK) {
        struct rusage u;
        int busy = 0;
        if (!getrusage(RUSAGE_THREAD, &u)) {
            busy = spin.limit && u.ru_nivcsw - spin.switches > SPIN_BUSY_SWITCHES;
            spin.switches = u.ru_nivcsw;
        }
        spin.limit = busy ? SPIN_BUSY : SPIN_IDLE;
        spin.waits = 0;
    }
    return spin.limit;
}

/* Claim and run the items of ticket v until none is left. */
static void drain(int v, int tid)
{
    _Atomic uint64_t *tk = &P.tk[v].t;
    for (;;) {
        uint64_t t = atomic_load_explicit(tk, memory_order_acquire);
        if (NXT(t) >= END(t))
            return;
        uint32_t k = atomic_load_explicit(&P.chunk, memory_order_relaxed);
        if (k > END(t) - NXT(t))
            k = END(t) - NXT(t);
        if (!atomic_compare_exchange_weak_explicit(tk, &t, t + k, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue;
        in_task = 1;
        for (uint32_t i = 0; i < k; i++)
            P.fn(P.ctx, P.base + NXT(t) + i, tid);
        in_task = 0;
        uint32_t d = atomic_fetch_add(&P.done, k) + k;
        if (d == atomic_load_explicit(&P.total, memory_order_relaxed) && atomic_load(&P.caller_asleep))
            futex_wake(&P.done);
    }
}

/* The thread's own range first, then what is left of the others'. */
static void work(int tid)
{
    int T = P.nthreads;
    for (int s = 0; s < T; s++)
        drain((tid + s) % T, tid);
}

static void *worker_loop(int tid);

static void *worker(void *arg)
{
    void *r = worker_loop((int)(intptr_t)arg);
    nn_thread_release(); /* this thread's scratch and packing buffers */
    return r;
}

static void *worker_loop(int tid)
{
    uint32_t seen = atomic_load(&P.wake);
    for (;;) {
        int spins = 0, limit = spin_limit();
        uint32_t w;
        while ((w = atomic_load_explicit(&P.wake, memory_order_acquire)) == seen) {
            if (atomic_load(&P.stop))
                return NULL;
            if (++spins < limit) {
                cpu_relax();
                continue;
            }
            atomic_fetch_add(&P.sleepers, 1);
            if (atomic_load(&P.wake) == seen && !atomic_load(&P.stop))
                futex_wait(&P.wake, seen);
            atomic_fetch_sub(&P.sleepers, 1);
        }
        seen = w;
        if (atomic_load(&P.stop))
            return NULL;
        work(tid);
    }
}

static void pool_stop(void)
{
    if (P.nthreads <= 1) {
        P.nthreads = 0;
        return;
    }
    atomic_store(&P.stop, 1);
    atomic_fetch_add(&P.wake, 1);
    futex_wake(&P.wake);
    for (int i = 1; i < P.nthreads; i++)
        pthread_join(P.th[i], NULL);
    atomic_store(&P.stop, 0);
    P.nthreads = 0;
}

/* A forked child has no workers: start afresh there on first use. */
static void pool_child(void)
{
    pthread_mutex_init(&P.lock, NULL);
    P.nthreads = 0;
    atomic_store(&P.stop, 0);
    atomic_store(&P.sleepers, 0);
    atomic_store(&P.caller_asleep, 0);
}

static void pool_start(int n)
{
    static int atexit_done;
    if (n > MAXT)
        n = MAXT;
    P.nthreads = 1;
    for (int i = 1; i < n; i++) {
        if (pthread_create(&P.th[i], NULL, worker, (void *)(intptr_t)i))
            break; /* fewer threads: still correct */
        P.nthreads = i + 1;
    }
    if (!atexit_done) {
        atexit_done = 1;
        atexit(pool_stop);
        /* Workers are stopped before a fork (their scratch buffers freed):
         * the child inherits no thread-local memory of threads it does not
         * have; both sides restart the pool on their next parallel call. */
        pthread_atfork(pool_stop, NULL, pool_child);
    }
}

int nn_parallel_threads(void)
{
    return P.nthreads ? P.nthreads : nn_threads();
}

/* Work (nn_parallel_work's units) below which a job runs on the caller
 * alone. Handing a job to another core costs more than the wake-up: its
 * inputs, written a moment ago into this core's cache, move across. */
static const long par_min = 1L << 18;

static void run(long n, uint32_t min_chunk, nn_task_fn fn, void *ctx);

void nn_parallel(long n, nn_task_fn fn, void *ctx)
{
    run(n, 1, fn, ctx);
}

void nn_parallel_work(long n, long work, nn_task_fn fn, void *ctx)
{
    if (work <= 0)
        return run(n, 1, fn, ctx);
    if ((double)n * work < par_min) {
        for (long i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    long k = (par_min / 4 + work - 1) / work;
    run(n, (uint32_t)(k < 1 ? 1 : k < MAXCNT ? k : MAXCNT), fn, ctx);
}

static void run(long n, uint32_t min_chunk, nn_task_fn fn, void *ctx)
{
    int want = nn_threads();
    if (n <= 0)
        return;
    if (want <= 1 || n == 1 || in_task) {
        for (long i = 0; i < n; i++)
            fn(ctx, i, 0);
        return;
    }
    pthread_mutex_lock(&P.lock);
    if (P.nthreads != want) {
        pool_stop();
        pool_start(want);
    }
    for (long base = 0; base < n; base += MAXCNT) {
        uint32_t cnt = (uint32_t)(n - base > MAXCNT ? MAXCNT : n - base);
        int T = P.nthreads;
        uint64_t gen = (GEN(atomic_load(&P.tk[0].t)) + 1) & 0xfffff;
        uint32_t chunk = cnt / (8u * (uint32_t)T);
        P.fn = fn, P.ctx = ctx, P.base = base;
        atomic_store_explicit(&P.chunk, chunk > min_chunk ? chunk : min_chunk, memory_order_relaxed);
        atomic_store_explicit(&P.total, cnt, memory_order_relaxed);
        atomic_store_explicit(&P.done, 0, memory_order_relaxed);
        for (int i = 0; i < T; i++) {
            uint64_t lo = (uint64_t)cnt * i / T, hi = (uint64_t)cnt * (i + 1) / T;
            atomic_store_explicit(&P.tk[i].t, (gen << 44) | (hi << 24) | lo, memory_order_release);
        }
        atomic_fetch_add(&P.wake, 1);
        if (atomic_load(&P.sleepers))
            futex_wake(&P.wake);
        work(0);
        int spins = 0, limit = spin_limit();
        uint32_t d;
        while ((d = atomic_load(&P.done)) < cnt) {
            if (++spins < limit) {
                cpu_relax();
                continue;
            }
            atomic_store(&P.caller_asleep, 1);
            if ((d = atomic_load(&P.done)) < cnt)
                futex_wait(&P.done, d);
            atomic_store(&P.caller_asleep, 0);
        }
    }
    pthread_mutex_unlock(&P.lock);
}
