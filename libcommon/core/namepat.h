/*
 * namepat — a file name made from a pattern: each %C replaced by the text
 * its caller gives for placeholder C, and %% by one '%'. frame-cat's
 * --to-nifti/--to-npy, ct-resample's output names and frame-view's --png
 * each offer their own placeholders.
 *
 * Not here: the messages (each caller names its pattern in its own words)
 * and what a placeholder stands for.
 */
#ifndef LRC_NAMEPAT_H
#define LRC_NAMEPAT_H

#include <stddef.h>

/* pattern into out[n], placeholder keys[k] standing for vals[k]. 0; 1 at
 * the first placeholder that keys does not hold, with *bad its letter (' '
 * for a '%' that ends the pattern); 2 when the name does not fit in n bytes
 * (whichever comes first, left to right). Sets no error. */
int namepat_expand(const char *pattern, const char *keys, const char *const *vals, char *out, size_t n, char *bad);

#endif
