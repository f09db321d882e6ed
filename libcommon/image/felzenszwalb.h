/*
 * felzenszwalb — Felzenszwalb and Huttenlocher's graph segmentation of a 2-D
 * grey image, with the same label image as scikit-image 0.19.3's
 * skimage.segmentation.felzenszwalb(image, scale, sigma, min_size) on
 * Debian 12 (numpy 1.24, scipy 1.10), pixel for pixel.
 *
 * The steps (see /work/shared/docs/FELZENSZWALB.md for the derivation):
 *   1. the image in skimage's float64 scale (fz_input_f64), k = scale/255;
 *   2. scipy's gaussian_filter(sigma, mode='reflect', truncate=4), bit for
 *      bit (npcompat.h);
 *   3. an 8-connected graph: right, down, down-right and up-right edges,
 *      weight sqrt(d*d) of the smoothed difference, in float64;
 *   4. the edges in increasing weight; among equal weights, numpy's
 *      introsort order (np.argsort) where that order can change the result;
 *   5. one greedy pass: join components C1, C2 when
 *      w < min((float)(Int(C1) + k/|C1|), (float)(Int(C2) + k/|C2|)),
 *      the thresholds rounded to float32 as skimage's Cython does;
 *   6. a second pass over the same order joins any pair of components
 *      one of which has fewer than min_size pixels;
 *   7. labels 0..K-1 numbered by each segment's first pixel in raster order.
 *
 * The sort. skimage pays most of its time in np.argsort of ~4 edges per
 * pixel. Here the zero weights (air) come first as they are, and the others
 * are sorted by a radix sort on a float32 key (equal float32 keys refined by
 * the float64 weight), which leaves equal weights in an arbitrary order.
 * Each run of two or more equal weights is checked before it is applied,
 * in both passes (run_order_free in felzenszwalb.c): its order cannot matter
 * when, leaving out the edges that cannot join in any order, its edges
 * split into pairs of components that decide once, or into groups that join
 * completely whatever the order. A run of zero weights in the first pass
 * joins everything it touches (0 < k/|C|). A run that fails the check is put
 * in numpy's order by the port of numpy's introsort, run lazily
 * (npc_lazysort): only the partitions that decide that run's positions are
 * done, and later runs take up what earlier ones left pending, so a slice
 * never costs more than one full introsort. The result is the same as
 * sorting with numpy every time; FZ_SORT_EXACT runs the whole introsort
 * instead (tests, timing).
 *
 * Not here: colour images (skimage takes the Euclidean norm over channels;
 * lrcpipe's slices are grey), the body mask and renumbering (fzregions.h),
 * threads (one call is single-threaded; callers run slices in parallel, each
 * with its own fz_work).
 */
#ifndef LRC_FELZENSZWALB_H
#define LRC_FELZENSZWALB_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

enum { FZ_SORT_AUTO = 0, FZ_SORT_EXACT = 1 };

typedef struct {
    double scale;     /* skimage's scale (the paper's k for 0..255 images), >= 0 */
    double sigma;     /* Gaussian smoothing before the graph, >= 0 (0: none) */
    int64_t min_size; /* smallest segment the second pass leaves, >= 0 */
    int sort;         /* FZ_SORT_AUTO or FZ_SORT_EXACT */
} fz_params;

/* Largest image fz_segment takes: 4 edge codes per pixel fit in int32. */
#define FZ_MAX_PIXELS ((int64_t)1 << 28)

typedef struct {
    int64_t K;          /* segments */
    int64_t edges;      /* edges of the graph */
    int64_t tie_runs;   /* runs of >= 2 equal weights checked */
    int64_t exact_runs; /* runs whose order could matter */
    int exact_sort;     /* numpy's order used: 0 never, 1 for some runs, 2 for all edges */
    double t_smooth, t_sort, t_merge; /* seconds (CLOCK_MONOTONIC) */
} fz_stats;

/* Buffers reused from one call to the next (one per thread). */
typedef struct fz_work fz_work;
fz_work *fz_work_new(void);
void fz_work_free(fz_work *w);

/* labels (H, W) = segment ids 0..K-1 of img (H, W), float64 values as
 * skimage sees them (see fz_input_f64). Returns K, or -1 with err_set() (out
 * of memory, a size beyond FZ_MAX_PIXELS, a non-finite pixel, a parameter out
 * of range). st may be NULL. */
int64_t fz_segment(int32_t *labels, const double *img, int64_t H, int64_t W, const fz_params *p,
                   fz_work *w, fz_stats *st);

/* out[n] = skimage's img_as_float64 of a tensor's data: float32/float64 as
 * they are, uint8 v*(1/255), int8 max(v*(1/127), -1), int16 max(v*(1/32767),
 * -1). Other dtypes: -1 with err_set(). */
int fz_input_f64(double *out, const void *data, dtype dt, size_t n);

#endif
