#include "nn/trainloop.h"

#include <math.h>

#include "core/err.h"

static int due(int64_t step, int64_t every)
{
    return every > 0 && step % every == 0;
}

int trainloop_run(trainloop *l, const trainloop_fns *f, void *ctx)
{
    if (trainlog_open(&l->tl, l->log_path, l->append))
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
            int v = f->validate(l, ctx);
            if (v < 0)
                return -1;
            l->t_last = trainlog_elapsed(&l->tl); /* validation is not a step */
            if (v > 0) {
                l->stopped = 1;
                break;
            }
        }
        if (f->progress)
            f->progress(l, ctx, loss);
        else
            trainlog_progress(&l->tl, l->step, l->total, loss, l->per_step > 0 ? 1 / l->per_step : 0,
                              l->per_step);
        if (due(l->step, l->save_every) && l->step != l->total && f->save(l, ctx))
            return -1;
    }
    trainlog_done(&l->tl);
    if (f->finish && f->finish(l, ctx))
        return -1;
    return f->save(l, ctx);
}

int trainloop_close(trainloop *l)
{
    return trainlog_close(&l->tl);
}
