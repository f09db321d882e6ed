/*
 * plot — line plots on a canvas, for training curves: axes with "nice"
 * ticks (1, 2, 5 x 10^k) and their values, one polyline per series, a
 * legend of series names, optional log-scale y.
 *
 * Points whose x or y is not finite (or y <= 0 with a log scale) are left
 * out and break the line there; a series with none is an error.
 *
 * Not here: scatter plots, bars, files (canvas.h writes the PNG).
 */
#ifndef LRC_PLOT_H
#define LRC_PLOT_H

#include <stdint.h>

#include "viz/canvas.h"

typedef struct {
    const char *name;
    const double *x, *y;
    int64_t n;
} plot_series;

/* A new canvas of w x h with the series plotted. 0, or -1 with err_set(). */
int plot_lines(canvas *c, int w, int h, const plot_series *s, int ns, const char *title, const char *xlabel,
               const char *ylabel, int logy, int scale);

/* Tick positions for [lo, hi]: a step of 1, 2 or 5 x 10^k giving 4..10 ticks;
 * writes up to max values, returns how many. */
int plot_ticks(double lo, double hi, double *out, int max);

#endif
