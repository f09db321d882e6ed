/*
 * nii — NIfTI-1 and NIfTI-2 volumes (.nii, .nii.gz) to and from tensors.
 *
 * Reading decompresses the whole file with zlib first (so a corrupt or
 * truncated .nii.gz is an error, CRC included), then lets libnifti interpret
 * the header (byte order, qform/sform) and copies the voxels into a tensor of
 * shape [Z, Y, X] (NIfTI stores x fastest, which is C order for [Z, Y, X]).
 *
 * The voxel-to-world affine follows nibabel's choice: the sform when
 * sform_code > 0, else the qform when qform_code > 0, else a diagonal of the
 * pixdims. Voxel spacing is the length of the affine's columns (mm), stored
 * in tensor order [dz, dy, dx]. scl_slope/scl_inter are applied when they are
 * not the identity (slope 0 means none, as in the standard).
 *
 * Writing produces NIfTI-1 (.nii, or gzip when the name ends in .gz) with
 * sform and qform both set from the affine (code 1, scanner), units mm,
 * through a temporary file renamed into place.
 *
 * Not here: resampling or reorientation (ct-resample), 4-D series (a 4th
 * or 5th dimension larger than 1 is an error), two-file .hdr/.img pairs.
 */
#ifndef LRC_NII_H
#define LRC_NII_H

#include "core/tensor.h"

typedef struct {
    tensor data;        /* [Z, Y, X] */
    double affine[16];  /* row-major voxel (i=x, j=y, k=z) -> world (mm) */
    double spacing[3];  /* [dz, dy, dx] mm */
    int sform_code, qform_code;
    int nifti_version;  /* 1 or 2 */
    double slope, inter;
} nii_image;

/* Native: keep the stored integer/float dtype (unsigned 16/32-bit widen to
 * i32/i64); with scaling the result is f32. as_f32: always f32. */
enum { NII_NATIVE = 0, NII_F32 = 1 };

int nii_read(const char *path, nii_image *img, int mode);
void nii_free(nii_image *img);

/* Write a [Z,Y,X] tensor (u8, i8, i16, i32, i64, f32, f64) with an affine. */
int nii_write(const char *path, const tensor *t, const double affine[16]);

/* Column lengths of the affine in tensor order [dz, dy, dx]. */
void nii_affine_spacing(const double affine[16], double spacing[3]);

#endif
