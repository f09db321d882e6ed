/*
 * trainloop — the loop every trainer runs around its steps: the step
 * counter, a smoothed time per step, the metrics log and the progress line
 * (nn/trainlog.h), a validation hook every N steps, a checkpoint every N
 * steps and at the end, and a stop at a step count or when the data ends.
 * lrc-train's methods and seg-finetune drive their steps with it; a new
 * pre-training method supplies the callbacks and gets the same behaviour.
 *
 * One iteration: step() takes a step (the trainer's forward, backward and
 * update on the next batch); the counter advances and a loss that is not
 * finite stops the run; then log() (the caller's running means, a JSON line
 * every so often), validate() when due, progress(), and save() when due
 * (not at the last step: the run saves once more at its end).
 *
 * Under MPI (nn/dist.h), every rank runs the loop and takes the same steps
 * in lock step (step() is where the ranks meet); rank 0 alone writes: the
 * metrics log and TensorBoard files, the progress line, the checkpoints,
 * and validation, whose stop/go it broadcasts to the others. A job of more
 * than one rank begins its log with a record saying so, {"ranks": N,
 * "batch": B, "effective_batch": N B} (B: l->batch), and says it on stderr:
 * "NAME: N ranks x B UNIT = N B UNIT per step".
 *
 * Not here: what a step does, how data is read or sampled, what a
 * checkpoint holds (the callbacks), resuming (the caller loads its
 * checkpoint and sets step before trainloop_run).
 */
#ifndef LRC_TRAINLOOP_H
#define LRC_TRAINLOOP_H

#include <stdint.h>

#include "nn/trainlog.h"

typedef struct trainloop trainloop;

typedef struct {
    /* One training step at l->step (which the loop then advances): 1 when
     * a step was taken (*loss set), 0 when the data has ended, -1 + err_set. */
    int (*step)(trainloop *l, void *ctx, double *loss);
    /* After each step (NULL: nothing): account for it and write a metrics
     * line when due. 0 or -1. */
    int (*log)(trainloop *l, void *ctx, double loss);
    /* Validation (NULL: none), when l->val_every divides the step and at
     * the last step of a known total. 0, 1 to stop the run here (early
     * stopping: l->stopped is set; no progress line or save for this step
     * but the final one), or -1. Its time is not a step's. */
    int (*validate)(trainloop *l, void *ctx);
    /* The progress line after each step (NULL: trainlog_progress with the
     * rate in steps/s). */
    void (*progress)(trainloop *l, void *ctx, double loss);
    /* Write the checkpoint for l->step. 0 or -1. */
    int (*save)(trainloop *l, void *ctx);
    /* After the last step, before the final save (NULL: nothing): a last
     * log line, say. 0 or -1. */
    int (*finish)(trainloop *l, void *ctx);
} trainloop_fns;

struct trainloop {
    /* set by the caller */
    const char *log_path;  /* metrics log (NULL: none) */
    int append;            /* keep the log's earlier lines (a resumed run) */
    const char *tensorboard; /* a folder for TensorBoard event files too (NULL: none) */
    int64_t total;         /* stop at this step (0: when step() says the data ended) */
    int64_t save_every;    /* checkpoint every N steps (0: only at the end) */
    int64_t val_every;     /* validate every N steps (0: only at the last step of a known total) */
    int64_t step;          /* where the run starts (a resumed checkpoint's step) */
    int64_t batch;         /* one rank's batch, for the start record (0: none) */
    const char *unit;      /* what the batch counts ("pairs", "slices") */
    /* kept by the loop */
    int64_t start_step;    /* step when trainloop_run began */
    int stopped;           /* validate() ended the run before total */
    double per_step;       /* smoothed seconds per step */
    double t_last;         /* trainlog_elapsed() at the end of the last step */
    trainlog tl;
};

/* Open the metrics log and run until l->total steps or the end of the data,
 * then end the progress line and save. The log stays open for the caller's
 * summary; trainloop_close() closes it. 0, or -1 + err_set (the first
 * callback that failed, a loss that is not finite, the log). */
int trainloop_run(trainloop *l, const trainloop_fns *fns, void *ctx);
/* Close the metrics log: 0, or -1 if a write failed. */
int trainloop_close(trainloop *l);
/* The run's last line on stderr, from rank 0 at log level >= 1 —
 * "NAME: N steps<what> in T s (R steps/s); wrote PATH<more>" — then
 * trainloop_close. 0 or -1. */
int trainloop_end(trainloop *l, const char *what, const char *path, const char *more);

#endif
