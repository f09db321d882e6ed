/*
 * body — find the patient's body in an axial CT slice: the largest
 * 4-connected component of the pixels above a HU threshold (scipy.ndimage
 * label's default connectivity; of equal-sized components the one whose
 * first pixel comes first in raster order wins, as argmax over scipy's labels).
 *
 * Not here: 3-D components, hole filling, couch removal beyond what "largest
 * component" gives.
 */
#ifndef LRC_BODY_H
#define LRC_BODY_H

#include <stdint.h>

/* img [ny, nx] HU. work: ny*nx int32 scratch (labels) + ny*nx int32 (stack),
 * i.e. 2*ny*nx int32. On return box = {y0, x0, y1, x1} (inclusive) of the
 * largest component; the return value is its pixel count (0: no pixel above
 * thr, box untouched). */
int64_t body_find(int64_t box[4], const float *img, int64_t ny, int64_t nx, float thr, int32_t *work);

#endif
