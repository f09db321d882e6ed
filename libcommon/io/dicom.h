/*
 * dicom — one DICOM file: the attributes that place an image slice in space
 * and its pixels, through DCMTK (the one C++ file of the library, dicom.cc,
 * behind this C interface).
 *
 * Why DCMTK and not GDCM (both Debian packages): both are C++ with no C
 * API, so either needs this shim. DCMTK is the one Debian keeps patched
 * (bookworm's 3.6.7 has had four security updates for parser CVEs, GDCM's
 * 3.0.21 none since January 2023), its parser is the reference PACS
 * implementation, and it decodes JPEG baseline and lossless, JPEG-LS and
 * RLE once its codecs are registered. Its free codecs lack JPEG 2000, which
 * real CT uses (TotalSegmentator's example series is JPEG 2000 Lossless):
 * those fragments go to OpenJPEG (libopenjp2, also patched in bookworm).
 * GDCM's IPPSorter is not needed: the geometry is checked by ct/dicomvol.h
 * with its own messages.
 *
 * A file is read whole (from a path or from memory); nothing is trusted:
 * pixel counts are checked against Rows x Columns, the bit layout against
 * BitsAllocated/BitsStored/HighBit, strings are copied with their length
 * capped. DCMTK's own log is silenced; errors come back through err_set.
 *
 * Not here: finding files in folders, grouping slices into series, slice
 * order, spacing and the affine (ct/dicomvol.h); writing DICOM; multi-frame
 * (enhanced) images, colour images, RTSTRUCT and DICOM-SEG (refused or
 * skipped by the caller).
 */
#ifndef LRC_DICOM_H
#define LRC_DICOM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DCM_UID_LEN 65

typedef struct {
    char sop_class[DCM_UID_LEN], sop_instance[DCM_UID_LEN];
    char study_uid[DCM_UID_LEN], series_uid[DCM_UID_LEN];
    char frame_of_ref[DCM_UID_LEN], transfer_syntax[DCM_UID_LEN];
    char modality[17], photometric[17], series_desc[65];
    int series_number, instance_number; /* -1 when absent */
    int rows, cols, frames, samples;    /* frames 1 when absent */
    int bits_alloc, bits_stored, high_bit, pixel_rep;
    int has_pixels;  /* PixelData present */
    int has_ipp, has_iop, has_spacing;
    double ipp[3];   /* ImagePositionPatient, mm, LPS */
    double iop[6];   /* ImageOrientationPatient: row direction, column direction */
    double spacing[2]; /* PixelSpacing: between rows, between columns (mm) */
    double slope, inter; /* RescaleSlope/Intercept (1, 0 when absent) */
    double tilt;     /* GantryDetectorTilt, degrees (0 when absent) */
} dcm_info;

/* The attributes of the DICOM file at path (pixels not decoded). Returns 1
 * for a DICOM file, 0 for a file that is not DICOM (no error recorded: the
 * caller decides whether that matters), -1 with err_set for a DICOM file
 * that cannot be read. */
int dcm_read_info(const char *path, dcm_info *info);

/* The pixels of a single-frame grayscale image as float, Rows x Columns in
 * row-major order (row j, column i at out[j*cols+i]), with the modality
 * rescale applied: out = stored * slope + intercept. info must come from
 * the same file; out holds rows*cols floats. 0, or -1 with err_set. */
int dcm_read_pixels(const char *path, const dcm_info *info, float *out);

/* Both from a buffer holding a whole file (for tests and fuzzing); out may
 * be NULL (attributes only); pixels are decoded only when out is not NULL
 * and rows*cols <= max_pixels. Returns as dcm_read_info. */
int dcm_read_mem(const void *buf, size_t n, dcm_info *info, float *out, size_t max_pixels);

/* 1 if the first bytes of a file look like DICOM Part 10 (the "DICM" magic
 * after the 128-byte preamble). n is how many bytes head holds. */
int dcm_sniff(const unsigned char *head, size_t n);

#ifdef __cplusplus
}
#endif

#endif
