#include "core/recpool.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

/* Slot s % nslots holds record s. Records [written, nread) are in flight;
 * workers take them in order from taken. */
typedef struct {
    const recpool *p;
    void *ctx;
    char *slots;
    int *done;
    long long nread, taken;
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t work, done_cv;
} state;

typedef struct {
    state *s;
    int t;
} worker_arg;

static void *slot(const state *s, long long k)
{
    return s->slots + (size_t)(k % s->p->nslots) * s->p->slot_size;
}

static void *worker(void *arg)
{
    worker_arg *w = arg;
    state *s = w->s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        long long k;
        while (!s->stop && s->taken == s->nread)
            pthread_cond_wait(&s->work, &s->mu);
        if (s->taken == s->nread)
            break;
        k = s->taken++;
        pthread_mutex_unlock(&s->mu);
        s->p->work(slot(s, k), w->t, s->ctx);
        pthread_mutex_lock(&s->mu);
        s->done[k % s->p->nslots] = 1;
        pthread_cond_broadcast(&s->done_cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static int run_inline(const recpool *p, void *ctx)
{
    void *one = malloc(p->slot_size);
    int r, rc = 0;
    if (!one)
        return err_set("out of memory");
    for (;;) {
        memset(one, 0, p->slot_size);
        if ((r = p->read(one, ctx)) <= 0) {
            rc = r;
            break;
        }
        p->work(one, 0, ctx);
        if ((rc = p->write(one, ctx)))
            break;
    }
    free(one);
    return rc < 0 ? -1 : 0;
}

int recpool_run(const recpool *p, void *ctx)
{
    state s = {.p = p, .ctx = ctx};
    pthread_t *tid = NULL;
    worker_arg *args = NULL;
    long long written = 0;
    int started = 0, eof = 0, rc = 0;
    if (p->threads <= 1)
        return run_inline(p, ctx);
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.work, NULL);
    pthread_cond_init(&s.done_cv, NULL);
    s.slots = calloc((size_t)p->nslots, p->slot_size);
    s.done = calloc((size_t)p->nslots, sizeof *s.done);
    tid = calloc((size_t)p->threads, sizeof *tid);
    args = calloc((size_t)p->threads, sizeof *args);
    if (!s.slots || !s.done || !tid || !args) {
        rc = err_set("out of memory");
        goto out;
    }
    for (; started < p->threads; started++) {
        args[started] = (worker_arg){&s, started};
        if (pthread_create(&tid[started], NULL, worker, &args[started])) {
            rc = err_set("cannot start a worker thread");
            goto out;
        }
    }
    for (;;) {
        /* Fill free slots (no worker touches slots at or beyond nread). */
        while (!eof && s.nread - written < p->nslots) {
            void *sl = slot(&s, s.nread);
            int r;
            memset(sl, 0, p->slot_size);
            s.done[s.nread % p->nslots] = 0;
            if ((r = p->read(sl, ctx)) < 0) {
                rc = -1;
                goto out;
            }
            if (r == 0) {
                eof = 1;
                break;
            }
            pthread_mutex_lock(&s.mu);
            s.nread++;
            pthread_cond_signal(&s.work);
            pthread_mutex_unlock(&s.mu);
        }
        if (written == s.nread)
            break;
        pthread_mutex_lock(&s.mu);
        while (!s.done[written % p->nslots])
            pthread_cond_wait(&s.done_cv, &s.mu);
        pthread_mutex_unlock(&s.mu);
        if (p->write(slot(&s, written), ctx)) {
            rc = -1;
            goto out;
        }
        written++;
    }
out:
    pthread_mutex_lock(&s.mu);
    s.stop = 1;
    if (rc)
        s.taken = s.nread; /* stopping: what no worker took yet is left */
    pthread_cond_broadcast(&s.work);
    pthread_mutex_unlock(&s.mu);
    for (int t = 0; t < started; t++)
        pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.work);
    pthread_cond_destroy(&s.done_cv);
    free(s.slots);
    free(s.done);
    free(tid);
    free(args);
    return rc;
}
