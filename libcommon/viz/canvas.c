/* canvas — RGB drawing and PNG files. */
#include "viz/canvas.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/tmpfile.h"
#include "viz/font.h"

#define CANVAS_MAX_SIDE (1 << 15)

int canvas_init(canvas *c, int w, int h, uint32_t bg)
{
    c->w = c->h = 0;
    c->rgb = NULL;
    if (w < 1 || h < 1 || w > CANVAS_MAX_SIDE || h > CANVAS_MAX_SIDE)
        return err_set("picture of %d x %d pixels (1..%d a side)", w, h, CANVAS_MAX_SIDE);
    c->rgb = malloc((size_t)w * (size_t)h * 3);
    if (!c->rgb)
        return err_set("out of memory for a %d x %d picture", w, h);
    c->w = w;
    c->h = h;
    canvas_fill(c, 0, 0, w, h, bg);
    return 0;
}

void canvas_free(canvas *c)
{
    free(c->rgb);
    c->rgb = NULL;
    c->w = c->h = 0;
}

void canvas_put(canvas *c, int x, int y, uint32_t rgb)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    p[0] = (uint8_t)(rgb >> 16);
    p[1] = (uint8_t)(rgb >> 8);
    p[2] = (uint8_t)rgb;
}

void canvas_blend(canvas *c, int x, int y, uint32_t rgb, double alpha)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->rgb + 3 * ((size_t)y * (size_t)c->w + (size_t)x);
    for (int k = 0; k < 3; k++) {
        double v = (1 - alpha) * p[k] + alpha * (double)((rgb >> (16 - 8 * k)) & 0xff);
        p[k] = (uint8_t)(v + 0.5);
    }
}

void canvas_fill(canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++)
            canvas_put(c, i, j, rgb);
}

void canvas_frame(canvas *c, int x, int y, int w, int h, uint32_t rgb)
{
    canvas_fill(c, x, y, w, 1, rgb);
    canvas_fill(c, x, y + h - 1, w, 1, rgb);
    canvas_fill(c, x, y, 1, h, rgb);
    canvas_fill(c, x + w - 1, y, 1, h, rgb);
}

void canvas_line(canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        canvas_put(c, x0, y0, rgb);
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

void canvas_blit(canvas *dst, const canvas *src, int x, int y)
{
    for (int j = 0; j < src->h; j++) {
        int yy = y + j;
        if (yy < 0 || yy >= dst->h)
            continue;
        int i0 = x < 0 ? -x : 0, i1 = x + src->w > dst->w ? dst->w - x : src->w;
        if (i1 <= i0)
            continue;
        memcpy(dst->rgb + 3 * ((size_t)yy * (size_t)dst->w + (size_t)(x + i0)),
               src->rgb + 3 * ((size_t)j * (size_t)src->w + (size_t)i0), 3 * (size_t)(i1 - i0));
    }
}

int canvas_text(canvas *c, int x, int y, const char *s, uint32_t rgb, int scale)
{
    int cx = x, cy = y, w = 0;
    if (scale < 1)
        scale = 1;
    for (; *s; s++) {
        if (*s == '\n') {
            cx = x;
            cy += FONT_CELL_H * scale;
            continue;
        }
        for (int r = 0; r < FONT_H; r++) {
            uint8_t bits = font_glyph_row((unsigned char)*s, r);
            for (int b = 0; b < FONT_W; b++)
                if (bits & (1 << (FONT_W - 1 - b)))
                    canvas_fill(c, cx + b * scale, cy + r * scale, scale, scale, rgb);
        }
        cx += FONT_CELL_W * scale;
        if (cx - x > w)
            w = cx - x;
    }
    return w ? w - scale : 0;
}

/* libpng reports errors through longjmp; keep the message for err_set(). */
static void png_err(png_structp png, png_const_charp msg)
{
    char *buf = png_get_error_ptr(png);
    snprintf(buf, 256, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

int canvas_write_png(const canvas *c, const char *path)
{
    char msg[256] = "";
    tmpfile_t *t = tmpfile_open(path);
    if (!t)
        return -1;
    int fd = dup(tmpfile_fd(t));
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!f) {
        tmpfile_abort(t);
        return err_set("%s: cannot open:", path);
    }
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        tmpfile_abort(t);
        return err_set("%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        tmpfile_abort(t);
        return err_set("%s: PNG: %s", path, msg);
    }
    png_init_io(png, f);
    png_set_compression_level(png, 6);
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < c->h; y++)
        png_write_row(png, c->rgb + 3 * (size_t)y * (size_t)c->w);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    if (fflush(f) || ferror(f)) {
        fclose(f);
        tmpfile_abort(t);
        return err_set("%s: write error:", path);
    }
    if (fclose(f)) {
        tmpfile_abort(t);
        return err_set("%s: write error:", path);
    }
    return tmpfile_commit(t, 0);
}

int canvas_read_png(canvas *c, const char *path)
{
    char msg[256] = "";
    unsigned char sig[8];
    png_bytep *volatile rows = NULL; /* freed after a longjmp */
    c->rgb = NULL;
    c->w = c->h = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_set("%s:", path);
    if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return err_set("%s: not a PNG file", path);
    }
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_read_struct(&png, NULL, NULL);
        fclose(f);
        return err_set("%s: out of memory", path);
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        free(rows);
        canvas_free(c);
        return err_set("%s: PNG: %s", path, msg);
    }
    png_init_io(png, f);
    png_set_sig_bytes(png, 8);
    png_set_user_limits(png, CANVAS_MAX_SIDE, CANVAS_MAX_SIDE);
    png_read_info(png, info);
    png_set_strip_16(png);
    png_set_strip_alpha(png);
    png_set_packing(png);
    png_set_palette_to_rgb(png);
    png_set_expand_gray_1_2_4_to_8(png);
    png_set_gray_to_rgb(png);
    png_read_update_info(png, info);
    int w = (int)png_get_image_width(png, info), h = (int)png_get_image_height(png, info);
    if (png_get_rowbytes(png, info) != (size_t)w * 3)
        png_error(png, "unexpected row layout after conversion to RGB");
    if (canvas_init(c, w, h, 0))
        png_error(png, err_get());
    rows = malloc(sizeof *rows * (size_t)h);
    if (!rows)
        png_error(png, "out of memory");
    for (int y = 0; y < h; y++)
        rows[y] = c->rgb + 3 * (size_t)y * (size_t)w;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    fclose(f);
    return 0;
}
