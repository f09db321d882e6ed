/*
 * orient — reorient a volume to RAS+ by axis permutation and flips only.
 *
 * The orientation is nibabel's io_orientation(): the closest orthogonal
 * matrix to the affine's normalised 3x3 part (polar decomposition), then, for
 * voxel axes x, y, z in turn, the world axis it moves along most, ties and
 * shared axes resolved greedily in that order. orient_apply() moves voxels
 * (no interpolation) and updates the affine exactly, so the result is what
 * nibabel's as_closest_canonical() gives: voxel axis 0 (x, the last tensor
 * axis) increases towards the patient's Right, 1 towards Anterior, 2
 * (z, the first tensor axis) towards Superior.
 *
 * Shapes: tensors are [Z, Y, X] (x fastest); the affine maps voxel
 * (i=x, j=y, k=z) to world mm, row-major.
 *
 * Not here: interpolation (resample.h), oblique grids are not made axis
 * aligned (the affine keeps its rotation; only the axis order changes).
 */
#ifndef LRC_ORIENT_H
#define LRC_ORIENT_H

#include "core/tensor.h"

/* For each voxel axis a (0 = x): ornt[a][0] = the world axis (0 R, 1 A,
 * 2 S) it maps to, ornt[a][1] = +1 or -1 (flip). -1 with err_set() when the
 * affine is singular or not finite. */
int orient_ras(int ornt[3][2], const double affine[16]);
/* 1 if ornt is the identity (the volume is RAS+ already). */
int orient_is_identity(const int ornt[3][2]);
/* out (uninitialised) = in ([Z,Y,X], any dtype) with axes permuted and
 * flipped as ornt says; out_aff = the affine of out. */
int orient_apply(tensor *out, double out_aff[16], const tensor *in, const double affine[16],
                 const int ornt[3][2]);
/* A short code of the voxel axes' directions, e.g. "RAS", "LPI". */
void orient_code(char code[4], const int ornt[3][2]);

#endif
