/*
 * grow — an array that grows by doubling: room for one more element, or
 * "out of memory" with the array as it was.
 *
 * Not here: shrinking, element types (the caller's), zeroing what is new.
 */
#ifndef LRC_GROW_H
#define LRC_GROW_H

#include <stddef.h>
#include <stdint.h>

/* Room for element n of arr, which has *cap elements of elsize bytes: when
 * n == *cap, *cap doubles (to first when it is 0) and arr is reallocated.
 * Returns the array (arr itself or its new place), or NULL + err_set("out
 * of memory") with arr and *cap unchanged. */
void *grow_array(void *arr, int64_t *cap, int64_t n, size_t elsize, int64_t first);

/* A byte buffer of *cap bytes, too small for want bytes, made to hold
 * them: *cap doubles (from first when it is 0; past 1 TiB, straight to
 * want) until it does. Returns the buffer in its new place, or NULL with
 * buf and *cap unchanged; the caller says what was out of memory. */
void *grow_bytes(void *buf, size_t *cap, size_t want, size_t first);

#endif
