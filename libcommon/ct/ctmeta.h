/*
 * ctmeta — the geometry that CT volume and slice frames carry in `meta`, read
 * and written in one place (ct-resample, slice-extract, slice-regroup).
 *
 * Volume frames (z = -1), as ct-resample writes them:
 *   spacing      [dz,dy,dx] mm of the tensors' grid
 *   affine       [16] voxel (i=x,j=y,k=z) -> world mm of that grid
 *   orig_affine  [16] affine of the NIfTI file the volume came from
 *   orig_shape   [Z,Y,X] of that file's voxel array
 *   orig_orient  str, its axis code before reorientation ("RAS", "LPS", ...)
 *   classes      [str] class names by label value (from --labels-json)
 * Slice frames add (slice-extract):
 *   spacing      [dy,dx] mm of the slice's pixels
 *   vol_spacing  [dz,dy,dx] and shape [Z,Y,X] of the volume they came from
 *   box          [y0,x0,h,w]: the slice covers rows y0..y0+h-1 and columns
 *                x0..x0+w-1 of the volume's slice (parts outside are padding);
 *                when h,w differ from the tensor's [H,W] the box was resized
 *   nslices      how many slices of this volume the stream carries
 *   window       [lo,hi] HU mapped to [0,1]
 *
 * Not here: the tensors themselves, frame encoding (frame.h).
 */
#ifndef LRC_CTMETA_H
#define LRC_CTMETA_H

#include <stddef.h>
#include <stdint.h>

#include "core/mval.h"
#include "io/frame.h"

/* The voxel-to-world affine of a volume frame: meta "affine", else a
 * diagonal from meta "spacing" [dz,dy,dx]; checked (finite, invertible,
 * positive spacing). -1 with err_set() naming what is wrong or missing. */
int ctmeta_volume_affine(const mval *meta, double affine[16]);
/* Voxel spacing [dz, dy, dx] of a record's meta: 'spacing' [3]; or [2] (a
 * slice's in-plane spacing) with dz from 'affine'; or 'affine' alone. 0, 1
 * when the meta has none, -1 + err_set when 'spacing' is malformed. */
int ctmeta_spacing(const mval *meta, double sp[3]);

/* Class names from a labels JSON file {"0": "background", "1": ...} into an
 * MV_ARRAY of strings indexed by value (gaps become ""). Values 0..255. */
int ctmeta_load_classes(const char *path, mval *classes);

/* Output file name from pattern: %i id, %n tensor name, %% percent. */
int ctmeta_expand(const char *pattern, const char *id, const char *name, char *out, size_t n);
/* 1 if path names a NIfTI file (.nii or .nii.gz). */
int ctmeta_is_nifti_name(const char *path);

/* 1 for integer dtypes (label-like: nearest neighbour), 0 for floats. */
int ctmeta_is_int(int dtype);

#endif
