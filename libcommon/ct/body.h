/*
 * body — find the patient's body in an axial CT slice: the largest
 * 4-connected component of the pixels above a HU threshold (scipy.ndimage
 * label's default connectivity; of equal-sized components the one whose
 * first pixel comes first in raster order wins, as argmax over scipy's labels).
 *
 * body_components() is that rule on any foreground; body_find() applies it
 * to a CT slice, image/fzregions.c's fz_body_mask() to a region map's image.
 *
 * Not here: 3-D components, hole filling (fz_body_mask fills holes), couch
 * removal beyond what "largest component" gives.
 */
#ifndef LRC_BODY_H
#define LRC_BODY_H

#include <stdint.h>

/* The 4-connected components of the pixels lab [ny, nx] marks -1 (0:
 * background), labelled in place 1, 2, ... in the raster order of their
 * first pixel. stack: ny*nx int32 scratch. Returns the pixel count of the
 * largest (the first in raster order among equals; 0 when there is no
 * foreground, box and *id untouched), its label in *id (may be NULL) and
 * its box {y0, x0, y1, x1} (inclusive). */
int64_t body_components(int32_t *lab, int64_t ny, int64_t nx, int32_t *stack, int64_t box[4], int32_t *id);

/* img [ny, nx] HU. work: ny*nx int32 scratch (labels) + ny*nx int32 (stack),
 * i.e. 2*ny*nx int32. On return box = {y0, x0, y1, x1} (inclusive) of the
 * largest component; the return value is its pixel count (0: no pixel above
 * thr, box untouched). */
int64_t body_find(int64_t box[4], const float *img, int64_t ny, int64_t nx, float thr, int32_t *work);

#endif
