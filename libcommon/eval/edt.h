/*
 * edt — exact Euclidean distance transform of a 3-D binary mask, with
 * anisotropic voxel spacing.
 *
 * edt_sq3() gives, for every voxel of a [Z, Y, X] grid, the squared distance
 * in mm^2 to the nearest "feature" voxel (mask != 0), or INFINITY when the
 * mask has no feature at all. Distances are between voxel centres, the
 * spacing is [dz, dy, dx] mm (what nii.h and the frames' meta carry).
 *
 * Algorithm: Felzenszwalb and Huttenlocher, "Distance Transforms of Sampled
 * Functions" (Theory of Computing 8, 2012): the squared EDT is separable, so
 * three passes of the 1-D lower envelope of parabolas along x, then y, then
 * z give the exact result in O(Z*Y*X). The value of a voxel is computed as
 * ((ix*dx)^2 + (iy*dy)^2) + (iz*dz)^2 for the integer offsets (ix, iy, iz)
 * of its nearest feature, the same operations in the same order as
 * scipy.ndimage.distance_transform_edt(~mask, sampling) on an array in
 * NIfTI's (x, y, z) axis order, so the two agree to the last bit whenever
 * they pick the same nearest feature (ties can differ in the last ulp).
 *
 * Not here: signed distances, feature (index) transforms, 2-D entry points
 * (use Z = 1), or anything about surfaces (segmetric.h).
 */
#ifndef LRC_EDT_H
#define LRC_EDT_H

#include <stdint.h>

/* out[Z*Y*X] (double, mm^2) <- squared distance of each voxel to the nearest
 * voxel with mask != 0. Returns 0, or -1 with err_set() on a bad size or
 * out of memory. */
int edt_sq3(double *out, const uint8_t *mask, int64_t Z, int64_t Y, int64_t X, const double spacing[3]);

/* As edt_sq3, but only the voxels where query != 0 are guaranteed to hold
 * their distance (the others hold partial results): the z pass skips the
 * columns without a query voxel, which is most of the work when the query
 * is a surface. query NULL: every voxel. */
int edt_sq3_at(double *out, const uint8_t *mask, const uint8_t *query, int64_t Z, int64_t Y, int64_t X,
               const double spacing[3]);

/* One line of the transform, exposed for tests: d[i] = min_q (w*(i-q))^2 + f[q]
 * over q with finite f[q] (INFINITY if none). v (int64_t[n]) and zb
 * (double[n+1]) are scratch. d and f may not alias. */
void edt_line(double *d, const double *f, int64_t n, double w, int64_t *v, double *zb);

#endif
