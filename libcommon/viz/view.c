/* view — panels of slices, label maps and region maps. */
#include "viz/view.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "viz/font.h"
#include "viz/palette.h"

int view_grey(canvas *c, const float *img, int Y, int X, double lo, double hi, int zoom)
{
    if (zoom < 1 || (int64_t)X * zoom > (1 << 15) || (int64_t)Y * zoom > (1 << 15))
        return err_set("a %dx%d slice at zoom %d is too large a picture", Y, X, zoom);
    if (canvas_init(c, X * zoom, Y * zoom, 0))
        return -1;
    double scale = hi > lo ? 255.0 / (hi - lo) : 0;
    for (int y = 0; y < Y; y++)
        for (int x = 0; x < X; x++) {
            double v = img[(size_t)y * X + x];
            int g;
            if (isnan(v))
                g = 0;
            else if (hi <= lo)
                g = v >= hi ? 255 : 0;
            else {
                double t = (v - lo) * scale;
                g = t <= 0 ? 0 : t >= 255 ? 255 : (int)lround(t);
            }
            canvas_fill(c, x * zoom, y * zoom, zoom, zoom, (uint32_t)g * 0x010101u);
        }
    return 0;
}

/* 1 if a 4-neighbour inside the grid has another value (the grid's edge is
 * not a boundary: a region touching it is not outlined there). */
static int edge4(const void *map, int isize, int Y, int X, int y, int x)
{
    size_t i = (size_t)y * X + x;
#define DIFF(m) ((x > 0 && m[i - 1] != m[i]) || (x < X - 1 && m[i + 1] != m[i]) || \
                 (y > 0 && m[i - X] != m[i]) || (y < Y - 1 && m[i + X] != m[i]))
    if (isize == 1) {
        const uint8_t *m = map;
        return DIFF(m);
    }
    const int32_t *m = map;
    return DIFF(m);
#undef DIFF
}

static void paint(canvas *c, int x, int y, int zoom, uint32_t rgb, double alpha)
{
    for (int j = 0; j < zoom; j++)
        for (int i = 0; i < zoom; i++) {
            if (alpha >= 1)
                canvas_put(c, x * zoom + i, y * zoom + j, rgb);
            else
                canvas_blend(c, x * zoom + i, y * zoom + j, rgb, alpha);
        }
}

void view_labels(canvas *c, const uint8_t *lab, int Y, int X, int zoom, double alpha, int outline)
{
    for (int y = 0; y < Y; y++)
        for (int x = 0; x < X; x++) {
            uint8_t v = lab[(size_t)y * X + x];
            if (!v)
                continue;
            if (outline) {
                if (edge4(lab, 1, Y, X, y, x))
                    paint(c, x, y, zoom, palette_label(v), 1);
            } else
                paint(c, x, y, zoom, palette_label(v), alpha);
        }
}

void view_regions(canvas *c, const int32_t *reg, int Y, int X, int zoom, int boundary, double alpha, uint64_t seed,
                  uint64_t stream)
{
    for (int y = 0; y < Y; y++)
        for (int x = 0; x < X; x++) {
            int32_t k = reg[(size_t)y * X + x];
            if (k < 0)
                continue;
            if (boundary) {
                if (edge4(reg, 4, Y, X, y, x))
                    paint(c, x, y, zoom, palette_random(seed, stream, k), 1);
            } else
                paint(c, x, y, zoom, palette_random(seed, stream, k), alpha);
        }
}

int view_legend(canvas *c, int x, int y, int width, const int *vals, int n, const char *const *names, int nnames,
                int scale, uint32_t fg)
{
    const int line = FONT_CELL_H * scale + 2 * scale, box = FONT_H * scale - scale, gap = 3 * FONT_CELL_W * scale / 2;
    int cx = 0, cy = 0;
    if (!n)
        return 0;
    for (int i = 0; i < n; i++) {
        char num[16];
        const char *name = vals[i] < nnames && names[vals[i]] ? names[vals[i]] : NULL;
        if (!name) {
            snprintf(num, sizeof num, "%d", vals[i]);
            name = num;
        }
        int w = box + 2 * scale + font_text_width(name, scale);
        if (cx > 0 && cx + w > width) {
            cx = 0;
            cy += line;
        }
        if (c) {
            canvas_fill(c, x + cx, y + cy, box, box, palette_label(vals[i]));
            canvas_text(c, x + cx + box + 2 * scale, y + cy, name, fg, scale);
        }
        cx += w + gap;
    }
    return cy + line;
}
