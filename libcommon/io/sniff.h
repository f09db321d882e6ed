/*
 * sniff — what a file that is not a frame stream is, from its first bytes,
 * so that a reader can say "a NIfTI image, not frames: ct-resample reads
 * it" instead of "record 0: record is not a map".
 *
 * Recognised: NIfTI-1 and NIfTI-2 (also gzip-compressed, looked into with
 * zlib), DICOM Part 10, NumPy .npy, safetensors, PNG, other gzip data,
 * and text (JSON Lines, CSV). Each comes with the lrcpipe stage or option
 * that reads it.
 *
 * Not here: reading any of these (nii.h, dicom.h, npy.h, nn/ckpt.h).
 */
#ifndef LRC_SNIFF_H
#define LRC_SNIFF_H

#include <stddef.h>

/* 1 and a description into out ("a NIfTI-1 image, not a frame stream:
 * ct-resample reads it (or frame-cat --from-nifti)") when head[0..n) is the
 * start of one of the formats above; 0 when it is not recognised. */
int sniff_describe(const unsigned char *head, size_t n, char *out, size_t on);

/* 1 if the first byte can start a frame (a msgpack map). */
int sniff_is_frame_start(const unsigned char *head, size_t n);

#endif
