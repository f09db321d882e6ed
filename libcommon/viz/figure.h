/*
 * figure — pictures put together from panels: a panel is a slice drawn in
 * grey (view.h) with its overlays and a title; a figure is panels in a row
 * under a caption, with a legend of the label values drawn below
 * (figure_compose); tiles (whole figures or single panels) go in a grid, a
 * volume's contact sheet (figure_grid). frame-view makes every picture it
 * writes this way; the paper's Figures 2 and 3 are such rows.
 *
 * Layout: 4 pixels between panels, 2 between tiles; titles and captions in
 * the bitmap font at a scale of 2 on pictures wider than 600 pixels (else
 * 1) unless the style fixes one; light text on a dark ground.
 *
 * Not here: which panels a record gets (vslice.h), drawing a map
 * (view.h), file names and PNG files (canvas.h).
 */
#ifndef LRC_FIGURE_H
#define LRC_FIGURE_H

#include <stdint.h>

#include "viz/canvas.h"

#define FIGURE_BG 0x202020
#define FIGURE_FG 0xf0f0f0

typedef struct {
    int no_title, no_legend;
    int font_scale;              /* 0: by the picture's width */
    int zoom;                    /* panel zoom (0: a slice's longer side to about 256 pixels, 1..8) */
    const char *const *names;    /* legend names by label value */
    int nnames;
} figure_style;

typedef struct {
    canvas c;
    char title[128];
} figure_panel;

typedef struct {
    figure_panel *p;
    int n;
    uint8_t present[256];        /* label values drawn, for the legend */
} figure;

typedef struct {
    int64_t z;
    canvas c;
} figure_tile;

/* The zoom of a [Y, X] slice's panels. */
int figure_zoom(const figure_style *st, int Y, int X);
/* A new panel at the end of fig: img [Y, X] in grey through the window
 * w[0]..w[1], or black when img is NULL. NULL + err_set (out of memory). */
figure_panel *figure_add(figure *fig, const figure_style *st, const float *img, int Y, int X, const double w[2],
                         const char *title);
/* Overlay label map lab [Y, X] on p (view_labels) and note its values for the legend. */
void figure_labels(figure *fig, figure_panel *p, const figure_style *st, const uint8_t *lab, int Y, int X,
                   double alpha, int outline);
void figure_free(figure *fig);

/* The panels in a row (titles above), the caption on top, the legend below,
 * into a new canvas. 0 or -1 + err_set. */
int figure_compose(canvas *out, const figure *fig, const char *caption, const figure_style *st);
/* Tiles t[n] in rows of cols (0: about square), the caption on top, each
 * tile labelled "z=Z" when zcaps, the legend of present[] below, into a new
 * canvas. 0 or -1 + err_set. */
int figure_grid(canvas *out, const figure_tile *t, int n, int cols, const char *caption, const uint8_t present[256],
                int zcaps, const figure_style *st);

/* A contact sheet: the tiles of one volume (one per slice), in z order when
 * composed. */
typedef struct {
    char *id;
    figure_tile *t;
    int n;
    uint8_t present[256];
    int64_t seq;                 /* of the volume's first record */
} figure_sheet;

/* The sheet of id ("noid" for NULL) among sheets[*n], added when new. NULL
 * + err_set (out of memory). */
figure_sheet *figure_sheet_of(figure_sheet **sheets, int *n, const char *id);
/* Add a copy of c as slice z's tile, with the label values it shows. 0 or -1. */
int figure_sheet_add(figure_sheet *sh, const canvas *c, int64_t z, const uint8_t present[256]);
/* The sheet as one picture: figure_grid of its tiles in z order under
 * "ID: N slices", each tile labelled with its z. 0 or -1. */
int figure_sheet_compose(canvas *out, figure_sheet *sh, int cols, const figure_style *st);
void figure_sheet_free(figure_sheet *sh);

#endif
