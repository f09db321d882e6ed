/*
 * fzregions — turning a segmentation into the region map lrcpipe trains on:
 * pixels outside the patient's body and regions too small to sample from
 * become -1 ("no region"), and the rest are renumbered 0..K-1.
 *
 * The body mask: pixels whose value is above a threshold, the largest
 * 4-connected component of them, and every pixel that the background
 * (4-connected, from the image border) does not reach (the lungs, the
 * airway, bowel gas: holes inside the body belong to it).
 *
 * Not here: the segmentation itself (felzenszwalb.h).
 */
#ifndef LRC_FZREGIONS_H
#define LRC_FZREGIONS_H

#include <stdint.h>

/* mask (H, W) = 1 inside the body of img (H, W), 0 outside. Returns the
 * number of body pixels (0 when no pixel exceeds thr), or -1 (out of memory,
 * with err_set()). */
int64_t fz_body_mask(uint8_t *mask, const double *img, int64_t H, int64_t W, double thr);

/* reg (n) in place: ids >= 0 where mask is 0 (mask may be NULL: no mask)
 * become -1, then ids with fewer than min_pixels pixels left become -1, and
 * the remaining ids are renumbered 0..K-1 in raster order of their first
 * pixel (ids already in that order keep their values). ids must be < n.
 * Returns K, or -1 (out of memory). */
int64_t fz_regions_finish(int32_t *reg, const uint8_t *mask, int64_t n, int64_t min_pixels);

#endif
