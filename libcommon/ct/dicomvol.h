/*
 * dicomvol — DICOM image series as CT volume frames.
 *
 * The files under a path (one file, or a folder searched recursively) are
 * grouped by SeriesInstanceUID. A series becomes a volume when its slices
 * stack along one line: they are ordered by the projection of
 * ImagePositionPatient onto the slice normal (the cross product of
 * ImageOrientationPatient's row and column directions). The spacing between
 * slices comes from those positions (never from SliceThickness), the
 * in-plane spacing from PixelSpacing, the orientation from
 * ImageOrientationPatient, and the DICOM (LPS) affine is turned into the
 * RAS affine frames carry (x and y negated). Pixels get the modality
 * rescale (slope, intercept), so a CT is in HU.
 *
 * Tensor layout: [Z, Y, X] with X the column index (along IOP's row
 * direction), Y the row index and Z the slice in that order, which is how
 * a NIfTI file of the same volume stores it.
 *
 * Refused, each with one line naming the files concerned: slices of mixed
 * size, orientation, pixel spacing or bit layout within a series; a gantry
 * tilt (positions that drift across the slice plane); missing slices (a gap
 * that is a multiple of the spacing), duplicate slices (two at one
 * position) and otherwise irregular spacing; a series of one slice;
 * multi-frame images.
 *
 * Not here: parsing a file (io/dicom.h); resampling (ctvol.h); RTSTRUCT or
 * DICOM-SEG label maps (a label map comes as NIfTI on the same grid).
 */
#ifndef LRC_DICOMVOL_H
#define LRC_DICOMVOL_H

#include <stddef.h>
#include <stdint.h>

#include "io/dicom.h"
#include "io/frame.h"

typedef struct {
    char uid[DCM_UID_LEN];
    int n;           /* slices */
    char **paths;    /* in slice order once dicomvol_geometry has run */
    dcm_info *info;  /* one per path */
} dicom_series;

typedef struct {
    dicom_series *series;
    int n;
    int skipped; /* files under the path that were not DICOM images */
} dicom_set;

/* 1 if path is a folder or a file that starts like DICOM Part 10 (the
 * cheap test callers use to choose between NIfTI and DICOM). */
int dicomvol_is_dicom_path(const char *path);

/* Every DICOM image under path (a folder), grouped into series ordered by
 * SeriesNumber, then UID. Files that are not DICOM, and DICOM objects
 * without pixels (DICOMDIR, RTSTRUCT, SR), are skipped and counted; a
 * DICOM file that cannot be parsed is an error naming it. No image at all
 * is an error. A path that is one DICOM file stands for its series: the
 * files of its folder that belong to it. set is initialised on success. */
int dicomvol_scan(const char *path, dicom_set *set);
void dicomvol_set_free(dicom_set *set);
/* One series' paths and infos (the set's array is the set's). */
void dicomvol_series_free(dicom_series *s);

/* The case id of series i: base when the set has one series, else
 * base_sN (SeriesNumber N) or base_K (its index K, when numbers repeat). */
void dicomvol_series_id(const dicom_set *set, int i, const char *base, char *out, size_t n);

/* Orders s's slices and describes their grid: affine (row-major, voxel
 * i=x, j=y, k=z -> RAS mm), shape [Z,Y,X], spacing [dz,dy,dx]. Every
 * refusal listed above is an error here. */
int dicomvol_geometry(dicom_series *s, double affine[16], int64_t shape[3], double spacing[3]);

/* A volume frame from series s: 'image' float32 (rescaled), meta affine,
 * spacing, source (the path given), series_uid. The volume's bytes are
 * capped by max_bytes (0: no cap). f is initialised on return. */
int dicomvol_read(frame *f, const char *id, dicom_series *s, const char *source, size_t max_bytes);

#endif
