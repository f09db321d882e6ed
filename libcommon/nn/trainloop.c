#include "nn/trainloop.h"

#include <math.h>

#include <stdio.h>

#include "core/err.h"
#include "nn/dist.h"

static int due(int64_t step, int64_t every)
{
    return every > 0 && step % every == 0;
}

/* The start record of a job of several ranks (rank 0). */
static int log_ranks(trainloop *l)
{
    const int64_t n = dist_size(), b = l->batch;
    const char *unit = l->unit ? l->unit : "samples";
    if (n == 1 || !b)
        return 0;
    if (log_level >= 1)
        fprintf(stderr, "%s: %lld ranks x %lld %s = %lld %s per step\n", err_progname, (long long)n, (long long)b,
                unit, (long long)(n * b), unit);
    mval rec = {0};
    mval_set_map(&rec);
    mval_put_i64(&rec, "ranks", n);
    mval_put_i64(&rec, "batch", b);
    mval_put_i64(&rec, "effective_batch", n * b);
    int rc = trainlog_write(&l->tl, &rec);
    mval_free(&rec);
    return rc;
}

/* Validation on rank 0, its verdict (stop or not, or an error) for all. */
static int validate(trainloop *l, const trainloop_fns *f, void *ctx)
{
    int64_t v = dist_rank() == 0 ? f->validate(l, ctx) : 0;
    if (v < 0)
        return -1;
    if (dist_bcast_i64(&v))
        return -1;
    return (int)v;
}

static void progress(trainloop *l, const trainloop_fns *f, void *ctx, double loss)
{
    if (f->progress)
        f->progress(l, ctx, loss);
    else
        trainlog_progress(&l->tl, l->step, l->total, loss, l->per_step > 0 ? 1 / l->per_step : 0, l->per_step);
}

int trainloop_run(trainloop *l, const trainloop_fns *f, void *ctx)
{
    const int writer = dist_rank() == 0;
    if (trainlog_open(&l->tl, writer ? l->log_path : NULL, l->append) ||
        (writer && l->tensorboard && trainlog_tensorboard(&l->tl, l->tensorboard)) || (writer && log_ranks(l)))
        return -1;
    l->start_step = l->step;
    l->stopped = 0;
    l->per_step = 0;
    l->t_last = trainlog_elapsed(&l->tl);
    while (!l->total || l->step < l->total) {
        double loss = 0, now, dt;
        int r = f->step(l, ctx, &loss);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        if (!isfinite(loss))
            return err_set("step %lld: the loss is not finite (lower --lr?)", (long long)l->step + 1);
        l->step++;
        now = trainlog_elapsed(&l->tl);
        dt = now - l->t_last;
        l->t_last = now;
        l->per_step = l->step - l->start_step > 1 ? 0.9 * l->per_step + 0.1 * dt : dt;
        if (f->log && f->log(l, ctx, loss))
            return -1;
        if (f->validate && (due(l->step, l->val_every) || l->step == l->total)) {
            int v = validate(l, f, ctx);
            if (v < 0)
                return -1;
            l->t_last = trainlog_elapsed(&l->tl); /* validation is not a step */
            if (v > 0) {
                l->stopped = 1;
                break;
            }
        }
        if (writer)
            progress(l, f, ctx, loss);
        if (writer && due(l->step, l->save_every) && l->step != l->total && f->save(l, ctx))
            return -1;
    }
    trainlog_done(&l->tl);
    if (f->finish && f->finish(l, ctx))
        return -1;
    return writer ? f->save(l, ctx) : 0;
}

int trainloop_close(trainloop *l)
{
    return trainlog_close(&l->tl);
}

int trainloop_end(trainloop *l, const char *what, const char *path, const char *more)
{
    const int64_t n = l->step - l->start_step;
    const double t = trainlog_elapsed(&l->tl);
    if (dist_rank() == 0 && log_level >= 1)
        fprintf(stderr, "%s: %lld steps%s in %.1f s (%.2f steps/s); wrote %s%s\n", err_progname, (long long)n, what, t,
                t > 0 ? (double)n / t : 0.0, path, more);
    return trainloop_close(l);
}
