/*
 * vslice — a slice of a frame to draw: a slice record itself, or plane z of
 * a volume record; its tensors read on the slice's grid as a float image,
 * uint8 label values or int32 region numbers, in display order (as stored,
 * row 0 on top, or turned by 180 degrees for the radiological view); the
 * grey window it is shown through; K-means clusters of its features.
 *
 * Errors name the record: "record seq S (id I): ...".
 *
 * Not here: drawing (view.h), putting panels together (figure.h).
 */
#ifndef LRC_VSLICE_H
#define LRC_VSLICE_H

#include <stdint.h>

#include "io/frame.h"
#include "viz/figure.h"

typedef struct {
    const frame *f;
    int64_t z;     /* the slice's index in its volume */
    int64_t zi;    /* index into rank-3 tensors, -1 for a slice record */
    int Y, X;
    int radio;     /* turned by 180 degrees */
} vslice;

/* The slices of f whose z is in zlo..zhi (of a volume: also z % every == 0),
 * malloc'ed into *out. Their count, or -1 + err_set (nothing to draw, not a
 * slice or volume, a grid outside 1..8192). */
int vslice_list(const frame *f, int64_t zlo, int64_t zhi, int every, int radio, vslice **out);

/* Tensor name of the slice's record read on the slice's grid into a
 * malloc'ed plane [Y * X]: 0 with *out NULL when the record has no such
 * tensor; -1 + err_set when it is not on the slice's grid or (labels,
 * regions) not integers, or (labels) a value is outside 0..255. Regions
 * below 0 read as -1; *kmax is the largest. */
int vslice_float(const vslice *s, const char *name, float **out);
int vslice_labels(const vslice *s, const char *name, uint8_t **out);
int vslice_regions(const vslice *s, const char *name, int32_t **out, int32_t *kmax);

/* The grey window of the slice: fixed (when not NULL), [0, 1] for a record
 * that was windowed already (meta 'window'), else the image's finite range. */
void vslice_window(const vslice *s, const float *img, const double *fixed, double w[2]);

/* The 'image' through its window (vslice_window) as grey levels 0..255 in a
 * malloc'ed plane; 0 with *out NULL when the record has no image. */
int vslice_grey(const vslice *s, const double *fixed, uint8_t **out);

/* K-means (k clusters, at most iters rounds, seed) of the record's
 * 'features' [D, FY, FX] (or [1, D, FY, FX]) into a map on the slice's grid
 * (nearest neighbour when the features are coarser). 0 or -1 + err_set. */
int vslice_clusters(const vslice *s, int k, int iters, uint64_t seed, int32_t **out);

/* The panels of a slice. */
enum { VS_IMAGE, VS_LABEL, VS_PRED, VS_REGIONS, VS_CLUSTERS, VS_NPANEL };
extern const char *const vslice_panel_names[VS_NPANEL]; /* "image", "label", ... */
/* A comma-separated list of panel names into show[VS_NPANEL] (1: wanted).
 * 0, or -1 + err_set naming an unknown panel. */
int vslice_parse_show(const char *list, int show[VS_NPANEL]);

typedef struct {
    int show[VS_NPANEL];   /* the panels wanted, when show_given */
    int show_given;        /* else: label, pred, regions and clusters when the record has them, or the image */
    const double *window;  /* a fixed grey window (NULL: vslice_window's) */
    double alpha;          /* overlay opacity */
    int outline;           /* label maps as outlines */
    int regions_fill;      /* regions filled, not as boundaries */
    uint64_t seed;         /* region colours, K-means */
    int k, iters;          /* K-means clusters (0: meta K, else the regions' count, else 8) and rounds */
} vslice_panels;

/* The figure of a slice (fig is initialised here): the panels p asks for,
 * or for an elastic-aug pair record (image_p) its two views side by side,
 * region k in one colour in both (the label maps when it has no regions).
 * 0 or -1 + err_set (a panel asked for whose tensor the record lacks). */
int vslice_figure(figure *fig, const vslice *s, const vslice_panels *p, const figure_style *st);

#endif
