/*
 * font — a tiny built-in bitmap font for labels in pictures: printable ASCII
 * (0x20..0x7E), glyphs 5 pixels wide and 7 tall above the baseline with one
 * descender row, drawn in a 6 x 9 cell (one pixel of letter and line
 * spacing). Other bytes are drawn as '?'.
 *
 * The glyphs are drawn for this project (ASCII art in font.c), in the common
 * 5x7 dot-matrix style; no third-party font data.
 *
 * Not here: where pixels go (canvas.h draws text with font_glyph_row), kerning,
 * Unicode, anti-aliasing.
 */
#ifndef LRC_FONT_H
#define LRC_FONT_H

#include <stdint.h>

#define FONT_W 5        /* glyph width */
#define FONT_H 8        /* glyph rows: 7 + 1 descender */
#define FONT_CELL_W 6   /* advance per character */
#define FONT_CELL_H 9   /* advance per line */

/* Row r (0 = top, FONT_H - 1 = descender) of character ch: bit 4 is the
 * leftmost pixel, bit 0 the rightmost. */
uint8_t font_glyph_row(unsigned char ch, int r);

/* Width and height in pixels of s drawn at integer scale (lines split at '\n'). */
int font_text_width(const char *s, int scale);
int font_text_height(const char *s, int scale);

#endif
