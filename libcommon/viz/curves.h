/*
 * curves — training curves read from a metrics log (JSON Lines, one object
 * per line, as nn/trainlog.h writes): for each y key, the (x, y) points of
 * the lines that hold both keys as numbers, in file order. A line without
 * the x key (a header, an event) is counted, not plotted; blank lines are
 * skipped; a line that is not JSON is an error.
 *
 * Not here: the plot itself (plot.h), choosing keys (frame-view --x, --y).
 */
#ifndef LRC_CURVES_H
#define LRC_CURVES_H

#include <stdint.h>

#include "viz/canvas.h"

typedef struct {
    double *x, *y;
    int64_t n;
} curve;

/* Read path into out[nk] (one per ykeys[k]; a curve may be empty) and
 * *skipped (lines without xkey). 0, or -1 + err_set "PATH:LINE: ..." or
 * "PATH: ...". */
int curves_read(const char *path, const char *xkey, const char *const *ykeys, int nk, curve *out,
                int64_t *skipped);
void curves_free(curve *c, int n);

/* The curves of keys ykeys[nk] against xkey from the logs paths[np], in one
 * plot of w x h into a new canvas (plot_lines). A series is named "FILE
 * KEY" with several logs and keys, else "FILE" or "KEY"; lines without
 * xkey are reported at -v. 0, or -1 + err_set (a log that has no line with
 * both keys, a log that cannot be read). */
int curves_plot(canvas *c, const char *const *paths, int np, const char *xkey, const char *const *ykeys, int nk,
                int w, int h, const char *title, int logy, int scale);

#endif
