/*
 * resample — interpolation of volumes and slices on regular grids.
 *
 * Volumes ([Z,Y,X], x fastest). The grid of ct-resample: output sample j of
 * an axis sits at input coordinate j * r, r = s_out / s_in (the first voxel
 * centres coincide), and an axis of n samples becomes resample_grid_len(n, r)
 * samples, so every coordinate lies in [0, n-1]. This is scipy.ndimage's
 * map_coordinates on x_in = j * r: order 1 (trilinear) for images, computed
 * separably in double and rounded once to float; order 0 (nearest) for
 * labels, index floor(x + 0.5) as scipy rounds (halves go up).
 * The field-of-view grid (ct-resample --fov): resample_fov_len(n, r) =
 * round(n / r) samples at x_in = j * r + off, off = (r - 1) / 2 (the outer
 * edges of the first voxels coincide), coordinates outside [0, n-1] clamped
 * to the edge (scipy's mode='nearest').
 *
 * Slices ([Y,X]): resizing with pixel-centre alignment, input coordinate
 * (u + 0.5) * n_in / n_out - 0.5 clamped to the edge, as
 * skimage.transform.resize (anti_aliasing off) and scipy zoom(grid_mode=True,
 * mode='nearest') do; bilinear or nearest.
 *
 * Any grid (resample_affine_*): out voxel p maps to input voxel M p for a
 * 4x4 affine M (the product inverse(A_in) * A_out of two voxel-to-world
 * affines). A coordinate less than one voxel outside the input is clamped to
 * the edge; farther out the output is 0.
 *
 * Threads: OpenMP over output planes (OMP_NUM_THREADS).
 * Not here: reorientation (orient.h), anti-aliasing, higher-order splines.
 */
#ifndef LRC_RESAMPLE_H
#define LRC_RESAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* The largest m >= 1 with (m - 1) * r <= n - 1 in double arithmetic, which
 * is floor((n - 1) / r) + 1 up to rounding; -1 if r is not positive/finite or
 * the result overflows. */
int64_t resample_grid_len(int64_t n, double r);

/* round(n / r), at least 1; -1 on a bad r. */
int64_t resample_fov_len(int64_t n, double r);

/* Trilinear: out [oz,oy,ox] from in [nz,ny,nx] at input coordinates
 * off[d] + j * r[d] (off NULL: 0), clamped to [0, n-1]. */
void resample_linear3_f32(float *out, const int64_t out_shape[3], const float *in, const int64_t in_shape[3],
                          const double r[3], const double off[3]);
/* Nearest, any element size (1, 2, 4 or 8 bytes). */
void resample_nearest3(void *out, const int64_t out_shape[3], const void *in, const int64_t in_shape[3],
                       const double r[3], const double off[3], size_t elsize);

/* Slice resize [ny,nx] -> [oy,ox], pixel-centre aligned, edge clamped. */
void resample_linear2_f32(float *out, int64_t oy, int64_t ox, const float *in, int64_t ny, int64_t nx);
void resample_nearest2(void *out, int64_t oy, int64_t ox, const void *in, int64_t ny, int64_t nx, size_t elsize);

/* Any grid: out [oz,oy,ox] voxel (i,j,k) takes the input at M (i,j,k,1). */
void resample_affine_linear_f32(float *out, const int64_t out_shape[3], const float *in,
                                const int64_t in_shape[3], const double M[16]);
void resample_affine_nearest(void *out, const int64_t out_shape[3], const void *in, const int64_t in_shape[3],
                             const double M[16], size_t elsize);

#endif
