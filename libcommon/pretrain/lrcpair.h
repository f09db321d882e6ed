/*
 * lrcpair — one training pair of LRC pre-training, taken from a pair frame.
 *
 * A pair frame (elastic-aug's output) carries `image` and `image_p` [Y, X]
 * (the query xq and its positive view xp = Te(xq)) and `regions`,
 * `regions_p` [Y, X] (Rq and Rp = Te(Rq), int, -1 = no region). lrcpair
 * checks such a record and moves its pixels into compact arrays:
 *   - images: any numeric dtype, converted to float32; NaN or Inf is an error;
 *   - regions (when asked for): an integer dtype, converted to int32; labels
 *     must be -1 or 0..Y*X-1;
 *   - all present tensors have the same [Y, X] shape (rank 2).
 * It also counts the regions present in both maps (nreg): the local loss
 * needs at least 2, and the trainer skips and counts pairs with fewer.
 *
 * Errors say which tensor and what is wrong, without the record's seq (the
 * caller prefixes it: "record seq 12: ...").
 *
 * Not here: image sizes the network accepts (the trainer checks them), the
 * region sampling (lrcloss.h).
 */
#ifndef LRC_LRCPAIR_H
#define LRC_LRCPAIR_H

#include <stdint.h>

#include "io/frame.h"

typedef struct {
    int H, W;
    float *xq, *xp;    /* [H * W] each */
    int32_t *rq, *rp;  /* [H * W] each; NULL when regions were not asked for */
    int nreg;          /* labels present in both maps (0 without regions) */
    int64_t seq, z;    /* from the record, for messages */
    char *id;          /* from the record, may be NULL */
} lrc_pair;

/* Build a new pair from data frame f (f is not changed). need_regions: 1 for
 * the local loss (regions and regions_p required), 0 for MoCo (ignored).
 * Returns a malloc'ed pair, or NULL with err_set. */
lrc_pair *lrc_pair_from_frame(const frame *f, int need_regions);
void lrc_pair_free(lrc_pair *p);

#endif
