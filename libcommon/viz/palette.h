/*
 * palette — colours for label maps, region maps and clusters in pictures.
 *
 * Labels (organs) get fixed colours: value v >= 1 takes entry v - 1 of a
 * table of 20 distinct, saturated colours (after matplotlib's tab10 and
 * tab20), then golden-angle hues; the same organ has the same colour in
 * every picture. Regions and clusters get random colours that depend only
 * on (seed, stream, index): region k of a pair's two maps, or of two runs
 * with the same --seed, has the same colour.
 *
 * No colour is a grey (its channels differ by 37 or more), so an opaque
 * overlay pixel never looks like a pixel of the grey slice under it.
 *
 * Not here: drawing (view.h), colour maps for continuous values.
 */
#ifndef LRC_PALETTE_H
#define LRC_PALETTE_H

#include <stdint.h>

/* 0xRRGGBB of label value v (v >= 1). */
uint32_t palette_label(int v);
/* 0xRRGGBB of index k (>= 0) for a seed and a stream (e.g. 0 regions, 1 clusters). */
uint32_t palette_random(uint64_t seed, uint64_t stream, int64_t k);

#endif
