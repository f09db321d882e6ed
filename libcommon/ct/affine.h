/*
 * affine — 4x4 voxel-to-world matrices (row-major double[16], as frame meta
 * "affine" and nii.h carry them): product, inverse, applying to a point,
 * comparing two grids.
 *
 * Not here: orientation (orient.h), resampling (resample.h), reading or
 * writing them (nii.h, frame.h).
 */
#ifndef LRC_AFFINE_H
#define LRC_AFFINE_H

#include <stdint.h>

/* out = a * b (out may alias neither). */
void affine_mul(double out[16], const double a[16], const double b[16]);
/* out = inverse of an affine whose last row is 0 0 0 1; -1 (err_set) when
 * its 3x3 part is singular or not finite. */
int affine_inv(double out[16], const double a[16]);
/* out[0..2] = a * (p[0], p[1], p[2], 1). */
void affine_apply(double out[3], const double a[16], const double p[3]);
/* Identity. */
void affine_eye(double out[16]);
/* 1 if every element of a and b agrees within tol * (1 + |a|). */
int affine_close(const double a[16], const double b[16], double tol);
/* 0 if the affine is finite, its last row is 0 0 0 1 and its 3x3 part has
 * non-zero columns and is invertible; -1 with err_set() saying what is wrong. */
int affine_check(const double a[16]);

#endif
