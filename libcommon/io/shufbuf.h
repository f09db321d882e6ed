/*
 * shufbuf — a shuffle buffer for streams: items go in one by one, and come
 * out in a random order, holding at most `cap` of them at a time.
 *
 *   put(x): while the buffer has fewer than cap items, x is kept and nothing
 *           comes out; once it is full, a uniformly chosen slot is emitted and
 *           x takes its place.
 *   drain:  at the end of the stream, the remaining items come out in random
 *           order (one uniformly chosen slot at a time).
 * Every item comes out exactly once. cap <= 1 means no shuffling: put returns
 * its argument at once. The order is a function of the seed (rng.h), so a
 * seeded run is reproducible.
 *
 * The buffer holds pointers and never frees them: items that are still in
 * the buffer when it is freed are the caller's (drain first).
 *
 * Not here: what the items are; thread safety.
 */
#ifndef LRC_SHUFBUF_H
#define LRC_SHUFBUF_H

#include <stdint.h>

#include "core/rng.h"

typedef struct {
    void **items;
    int n, cap;
    rng r;
} shufbuf;

int shufbuf_init(shufbuf *s, int cap, uint64_t seed, uint64_t stream);
void shufbuf_free(shufbuf *s);
/* Put x in; returns the item that comes out, or NULL while filling. */
void *shufbuf_put(shufbuf *s, void *x);
/* Next item of the drain, NULL when empty. */
void *shufbuf_drain(shufbuf *s);

#endif
