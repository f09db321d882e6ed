/*
 * trainlog — what a trainer tells the user while it runs: a progress line on
 * stderr, and a machine-readable metrics log (JSON Lines) in a file.
 *
 * Progress: on a terminal, one line redrawn in place (\r) after every step,
 * "NAME: step S/T  loss L  R pairs/s  ETA 3m12s" (T and the ETA only when the
 * total is known); elsewhere (a pipe, a file) the same text as a new line at
 * most every 30 s (every step with -vv, never with -q), so that logs stay
 * small. trainlog_done() ends the line.
 *
 * Metrics: trainlog_write() appends one JSON object per line to the log file
 * and flushes it, so that a killed run leaves whole lines (tail -f works).
 * The keys are the trainer's; lrc-train(1) documents them.
 *
 * TensorBoard: after trainlog_tensorboard(), every record written also
 * becomes one event (tfevents.h) at its "step": each number in it a scalar
 * tagged by its key ("loss", "lr"), numbers in a nested object or list
 * tagged "key/name" or "key/i" ("val_organs/Brainstem"). Records without an
 * integer "step" are not sent there.
 *
 * Not here: what is measured (the trainer computes it).
 */
#ifndef LRC_TRAINLOG_H
#define LRC_TRAINLOG_H

#include <stdint.h>
#include <stdio.h>

#include "core/mval.h"
#include "nn/tfevents.h"

typedef struct {
    FILE *log;         /* NULL: no metrics file */
    char *path;
    int tty;           /* stderr is a terminal */
    double t0;         /* clock_now() at open */
    double last_print; /* when the last non-terminal line was printed */
    int drawn;         /* a terminal line is on screen */
    tfevents tb;       /* tb.f NULL: no TensorBoard files */
} trainlog;


/* Open: path NULL = no metrics file; append 1 keeps earlier lines (resume).
 * 0, or -1 with err_set naming the file. */
int trainlog_open(trainlog *t, const char *path, int append);
/* Also write TensorBoard event files into dir (after trainlog_open). */
int trainlog_tensorboard(trainlog *t, const char *dir);
/* Seconds since trainlog_open. */
double trainlog_elapsed(const trainlog *t);
/* One JSON line; 0 or -1 (write error, err_set). */
int trainlog_write(trainlog *t, const mval *rec);
/* What a progress line says. */
typedef struct {
    int64_t step, total;   /* total <= 0: unknown (the time elapsed instead of the ETA) */
    double loss;
    double rate;           /* in unit */
    const char *unit;      /* "pairs/s", "steps/s" */
    int decimals;          /* of the rate */
    double per_step;       /* seconds, for the ETA */
    double val;            /* a validation score to show (NAN: none) */
    int show_last;         /* off a terminal, show the last step of the total too */
} trainlog_line;

/* The progress line of every trainer (see above). */
void trainlog_show(trainlog *t, const trainlog_line *p);
/* Progress after a step (total <= 0: unknown): trainlog_show with the rate
 * in pairs/s, one decimal. */
void trainlog_progress(trainlog *t, int64_t step, int64_t total, double loss, double rate, double per_step);
/* End the progress line (terminal). */
void trainlog_done(trainlog *t);
/* Close the metrics file: 0, or -1 if a write failed. */
int trainlog_close(trainlog *t);

/* "3m12s", "1h02m", "45s" into buf. */
const char *trainlog_fmt_secs(double s, char *buf, size_t n);

#endif
