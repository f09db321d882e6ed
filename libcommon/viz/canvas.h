/*
 * canvas — an 8-bit RGB picture to draw on, and its PNG file (libpng).
 *
 * Pixels are rows of R, G, B bytes, top row first. Colours are 0xRRGGBB.
 * Drawing clips to the canvas. canvas_write_png() writes an 8-bit RGB PNG
 * without time or text chunks (the same pixels give the same bytes) through
 * a temporary file renamed into place; canvas_read_png() reads any PNG
 * (grey, palette, alpha, 16-bit are converted to 8-bit RGB, alpha dropped).
 *
 * Not here: what to draw (view.h, plot.h), scaling or filtering, fonts
 * other than font.h's.
 */
#ifndef LRC_CANVAS_H
#define LRC_CANVAS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int w, h;
    uint8_t *rgb; /* [h, w, 3] */
} canvas;

/* Allocate a w x h canvas filled with bg. 0, or -1 with err_set(). */
int canvas_init(canvas *c, int w, int h, uint32_t bg);
void canvas_free(canvas *c);

static inline uint32_t canvas_get(const canvas *c, int x, int y)
{
    const uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}
void canvas_put(canvas *c, int x, int y, uint32_t rgb);
/* p = (1 - alpha) * p + alpha * rgb, per channel, rounded. */
void canvas_blend(canvas *c, int x, int y, uint32_t rgb, double alpha);
void canvas_fill(canvas *c, int x, int y, int w, int h, uint32_t rgb);
/* A one-pixel rectangle outline. */
void canvas_frame(canvas *c, int x, int y, int w, int h, uint32_t rgb);
/* A one-pixel line (Bresenham), both ends included. */
void canvas_line(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb);
/* Copy src with its top-left corner at (x, y). */
void canvas_blit(canvas *dst, const canvas *src, int x, int y);
/* Text in font.h's glyphs, top-left of the first cell at (x, y), each font
 * pixel a scale x scale square. Returns the width drawn. */
int canvas_text(canvas *c, int x, int y, const char *s, uint32_t rgb, int scale);

/* Write c as an 8-bit RGB PNG (zlib level 6). 0, or -1 with err_set(). */
int canvas_write_png(const canvas *c, const char *path);
/* Read a PNG into an uninitialised c. 0, or -1 with err_set(). */
int canvas_read_png(canvas *c, const char *path);

#endif
