/*
 * segmetric — overlap and surface-distance metrics of label maps: Dice,
 * 95th-percentile Hausdorff distance (HD95) and average symmetric surface
 * distance (ASSD), per label value, on 3-D uint8 label maps.
 *
 * Definitions (those of MONAI's compute_dice, compute_hausdorff_distance
 * (percentile=95, directed=False) and compute_average_surface_distance
 * (symmetric=True), with scipy underneath):
 *
 *   A = {ref == c}, B = {pred == c}
 *   Dice = 2|A n B| / (|A| + |B|); undefined (NaN) when |A| + |B| = 0.
 *   surface S(M) = M minus its binary erosion by the 6-connected cross
 *     (scipy.ndimage.binary_erosion's default structure), voxels outside the
 *     grid counting as background, so a mask touching the grid's edge has
 *     surface there.
 *   d(p, S) = Euclidean distance in mm between voxel centres, using the
 *     voxel spacing, from p to the nearest voxel of S (exact EDT, edt.h).
 *   D_BA = { d(p, S(A)) : p in S(B) },  D_AB = { d(p, S(B)) : p in S(A) }
 *   HD95 = max(P95(D_BA), P95(D_AB)), P95 = numpy.percentile(..., 95) with
 *     its default "linear" method (segm_percentile).
 *   ASSD = (sum D_BA + sum D_AB) / (|S(B)| + |S(A)|).
 *   Both are NaN when A and B are both empty and INFINITY when exactly one
 *   of them is (MONAI's choice).
 *
 * Speed: segm_count() makes one pass over the grid for the counts of every
 * label value and the bounding box of A u B; the surface metrics then work
 * inside that box only. This is exact: every surface voxel of A and B lies
 * in it, voxels just outside it are background in both maps, so erosion and
 * nearest-surface distances are the same as on the whole grid.
 *
 * Not here: class names, ignore lists, means over volumes (segreport.h does
 * that), 2-D (per-slice) metrics, surface Dice / NSD.
 */
#ifndef LRC_SEGMETRIC_H
#define LRC_SEGMETRIC_H

#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"

#define SEGM_NLABELS 256

typedef struct {
    int64_t nref, npred, ntp;  /* |A|, |B|, |A n B| in voxels */
    int64_t lo[3], hi[3];      /* inclusive [z, y, x] bounds of A u B; lo > hi when empty */
} segm_count_t;

/* One pass over ref and pred ([Z, Y, X], uint8): counts and boxes of every
 * label value 0..255 into out[256]. */
void segm_count(segm_count_t out[SEGM_NLABELS], const uint8_t *ref, const uint8_t *pred, int64_t Z, int64_t Y,
                int64_t X);

/* Label values of t (any integer dtype, values 0..255) into dst[n]; what
 * names the map in errors ("'pred' is f32; a label map must hold integers"). */
int segm_labels(uint8_t *dst, const tensor *t, size_t n, const char *what);

/* Dice from the counts; NaN when the label is in neither map. */
double segm_dice(const segm_count_t *c);

/* The count every Dice of the project is made from, for batches of any
 * shape: add to tp[v], npred[v], nref[v] (label value v, arrays of
 * SEGM_NLABELS) the pixels of ref and pred [n] where both are v, pred is v,
 * ref is v. segm_count() counts the same and adds the boxes. */
void segm_tally(int64_t *tp, int64_t *npred, int64_t *nref, const uint8_t *ref, const uint8_t *pred, size_t n);
/* Mean Dice 2 tp / (npred + nref) over labels 1..C-1 that are in either map
 * (NaN when none is); with dice not NULL, each label's Dice into dice[c]
 * (NaN for one in neither map, and for c = 0). */
double segm_mean_dice(const int64_t *tp, const int64_t *npred, const int64_t *nref, int C, double *dice);

typedef struct {
    double hd95, assd;          /* mm; NaN: in neither map; INFINITY: in one only */
    int64_t nsurf_ref, nsurf_pred;
} segm_surface_t;

/* HD95 and ASSD of label c. box is c's entry of segm_count() (its counts
 * and bounding box); spacing is [dz, dy, dx] mm. Returns 0, or -1 with
 * err_set() (out of memory). */
int segm_surface(segm_surface_t *out, const uint8_t *ref, const uint8_t *pred, int64_t Z, int64_t Y, int64_t X,
                 uint8_t c, const segm_count_t *box, const double spacing[3]);

/* The q-th percentile (0..100) of v[0..n) as numpy.percentile(v, q) computes
 * it with method="linear" (NumPy 1.22+: virtual index n*q/100 + (1 - q/100) - 1,
 * floor, and NumPy's _lerp). Sorts v in place. NaN for n = 0. */
double segm_percentile(double *v, size_t n, double q);

/* Mask of the surface (see above) of a [Z, Y, X] binary mask (0/1). */
void segm_surface_mask(uint8_t *surf, const uint8_t *mask, int64_t Z, int64_t Y, int64_t X);

#endif
