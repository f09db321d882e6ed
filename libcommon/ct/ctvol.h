/*
 * ctvol — whole-volume operations on CT volume frames (z = -1, tensors
 * [Z,Y,X], geometry in meta as ctmeta.h describes): a frame from NIfTI files,
 * onto the RAS+ grid at a target spacing (ct-resample's forward pass), and
 * onto another grid through world coordinates (its way back).
 *
 * Every [Z,Y,X] tensor of a frame moves together: integer dtypes by nearest
 * neighbour, float ones (converted to float32) trilinearly; tensors of other
 * ranks are left alone. The conventions of both grids are in resample.h.
 *
 * Not here: streams, file names, option parsing (the filters).
 */
#ifndef LRC_CTVOL_H
#define LRC_CTVOL_H

#include <stdint.h>

#include "io/frame.h"

/* What ctvol_to_spacing did, for the caller's log. */
typedef struct {
    int64_t in_shape[3], out_shape[3]; /* [Z,Y,X] */
    double in_spacing[3];              /* [dz,dy,dx] after reorientation */
    char orient[4];                    /* the input's axis code, e.g. "LPS" */
} ctvol_info;

/* A volume frame from a NIfTI image (float32 HU, scaling applied) and an
 * optional label map (uint8), which must be on the same grid. Meta: affine,
 * spacing, source. f is uninitialised on entry, initialised on return. */
int ctvol_from_nifti(frame *f, const char *id, const char *image, const char *label);

/* Add a NIfTI label map (uint8) to a volume frame that has an 'image'; it
 * must be on the frame's grid (shape, and meta affine within 1e-4). image
 * names the frame's source in messages. */
int ctvol_add_label(frame *f, const char *label, const char *image);

/* Reorient to RAS+ and resample to spacing [dz,dy,dx] on the grid whose
 * first voxel centres coincide with the input's, or with fov on the
 * field-of-view grid (resample.h); meta spacing, affine and grid ("corner"
 * or "fov") describe the new grid, orig_affine/orig_shape/orig_orient the
 * input's (unless already present). 'label' becomes uint8. max_bytes caps a
 * resampled tensor (0: no cap). */
int ctvol_to_spacing(frame *f, const double spacing[3], int fov, size_t max_bytes, ctvol_info *info);

/* Onto the grid (affine, [Z,Y,X] shape) given, or with target NULL onto meta
 * orig_affine/orig_shape. Points less than one voxel outside the frame's grid
 * take the edge value, farther ones 0. Meta affine and spacing updated. */
int ctvol_to_grid(frame *f, const double *target_affine, const int64_t *target_shape, size_t max_bytes);

/* A label tensor to uint8; a value that is not an integer 0..255 is an
 * error naming what. */
int ctvol_label_u8(tensor *t, const char *what);

#endif
