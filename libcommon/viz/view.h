/*
 * view — draw slices and maps as picture panels: a grey slice through a
 * window, label maps as coloured overlays (filled or outlined), region and
 * cluster maps in seeded random colours (filled or as boundaries), and a
 * legend of organ names.
 *
 * Every panel is the slice's [Y, X] grid scaled by an integer zoom with
 * nearest-neighbour pixels, so pixel (x, y) of the panel shows voxel
 * (x / zoom, y / zoom) and an overlay of value v covers exactly zoom^2
 * panel pixels per voxel of value v (with alpha 1, in palette_label(v)).
 *
 * Not here: figure layout (figure.h) and file names (picfiles.h), fonts (font.h),
 * colours (palette.h).
 */
#ifndef LRC_VIEW_H
#define LRC_VIEW_H

#include <stdint.h>

#include "viz/canvas.h"

/* A new canvas (X*zoom wide, Y*zoom tall) with img [Y, X] in grey: lo -> 0,
 * hi -> 255, clamped; NaN black. 0, or -1 with err_set(). */
int view_grey(canvas *c, const float *img, int Y, int X, double lo, double hi, int zoom);

/* Blend label map lab [Y, X] onto c: value v > 0 in palette_label(v) with
 * opacity alpha; with outline, only the voxels with a 4-neighbour (inside
 * the grid) of another value are drawn, opaque. */
void view_labels(canvas *c, const uint8_t *lab, int Y, int X, int zoom, double alpha, int outline);

/* Blend region map reg [Y, X] (values >= 0; < 0 = no region) onto c in
 * palette_random(seed, stream, k): filled with opacity alpha, or (boundary)
 * only the voxels with a 4-neighbour of another region, opaque. */
void view_regions(canvas *c, const int32_t *reg, int Y, int X, int zoom, int boundary, double alpha, uint64_t seed,
                  uint64_t stream);

/* A legend: one entry per value in vals[n] (a box in palette_label(v) and
 * names[v], or the number when names[v] is NULL or v >= nnames), wrapped to
 * width. Drawn at (x, y) when c is not NULL. Returns the height used. */
int view_legend(canvas *c, int x, int y, int width, const int *vals, int n, const char *const *names, int nnames,
                int scale, uint32_t fg);

#endif
