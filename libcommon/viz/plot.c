/* plot — line plots for training curves. */
#include "viz/plot.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/err.h"
#include "viz/font.h"
#include "viz/palette.h"

int plot_ticks(double lo, double hi, double *out, int max)
{
    if (!(hi > lo))
        hi = lo + 1;
    double span = hi - lo, step = pow(10, floor(log10(span))), best = step;
    static const double mult[] = {5, 2, 1, 0.5, 0.2, 0.1};
    for (size_t i = 0; i < sizeof mult / sizeof mult[0]; i++) {
        double s = step * mult[i];
        if (span / s >= 4) {
            best = s;
            break;
        }
        best = s;
    }
    int n = 0;
    for (double t = ceil(lo / best - 1e-9) * best; t <= hi + best * 1e-9 && n < max; t += best)
        out[n++] = fabs(t) < best * 1e-9 ? 0 : t;
    return n;
}

static double tr(double v, int logy)
{
    return logy ? log10(v) : v;
}

static int usable(double x, double y, int logy)
{
    return isfinite(x) && isfinite(y) && (!logy || y > 0);
}

int plot_lines(canvas *c, int w, int h, const plot_series *s, int ns, const char *title, const char *xlabel,
               const char *ylabel, int logy, int scale)
{
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < ns; k++) {
        int64_t used = 0;
        for (int64_t i = 0; i < s[k].n; i++) {
            if (!usable(s[k].x[i], s[k].y[i], logy))
                continue;
            double y = tr(s[k].y[i], logy);
            x0 = fmin(x0, s[k].x[i]), x1 = fmax(x1, s[k].x[i]);
            y0 = fmin(y0, y), y1 = fmax(y1, y);
            used++;
        }
        if (!used)
            return err_set("series '%s' has no point to plot%s", s[k].name, logy ? " (log scale needs y > 0)" : "");
    }
    if (x1 <= x0)
        x0 -= 1, x1 += 1;
    if (y1 <= y0)
        y0 -= fabs(y0) * 0.1 + (logy ? 0.5 : 1e-3), y1 += fabs(y1) * 0.1 + (logy ? 0.5 : 1e-3);
    else {
        double pad = 0.05 * (y1 - y0);
        y0 -= pad, y1 += pad;
    }
    if (canvas_init(c, w, h, 0xffffff))
        return -1;
    const uint32_t ink = 0x000000, grid = 0xe0e0e0;
    const int ch = FONT_CELL_H * scale, cw = FONT_CELL_W * scale;
    /* Plot area: room for the y tick labels (10 characters), the title and
     * the x tick labels and axis name. */
    int left = 11 * cw + ch, right = w - 2 * cw, top = 2 * ch, bottom = h - 3 * ch;
    if (right - left < 20 || bottom - top < 20) {
        canvas_free(c);
        return err_set("a %d x %d plot is too small", w, h);
    }
#define PX(v) (left + (int)lround(((v) - x0) / (x1 - x0) * (right - left)))
#define PY(v) (bottom - (int)lround(((v) - y0) / (y1 - y0) * (bottom - top)))
    double t[16];
    char buf[64];
    int nt = plot_ticks(x0, x1, t, 16);
    for (int i = 0; i < nt; i++) {
        int px = PX(t[i]);
        canvas_line(c, px, top, px, bottom, grid);
        canvas_line(c, px, bottom, px, bottom + scale * 3, ink);
        snprintf(buf, sizeof buf, "%g", t[i]);
        canvas_text(c, px - font_text_width(buf, scale) / 2, bottom + scale * 5, buf, ink, scale);
    }
    nt = plot_ticks(y0, y1, t, 16);
    for (int i = 0; i < nt; i++) {
        int py = PY(t[i]);
        canvas_line(c, left, py, right, py, grid);
        canvas_line(c, left - scale * 3, py, left, py, ink);
        if (logy)
            snprintf(buf, sizeof buf, "%.3g", pow(10, t[i]));
        else
            snprintf(buf, sizeof buf, "%.4g", t[i]);
        canvas_text(c, left - scale * 5 - font_text_width(buf, scale), py - ch / 2 + scale, buf, ink, scale);
    }
    canvas_frame(c, left, top, right - left + 1, bottom - top + 1, ink);
    if (title)
        canvas_text(c, left + (right - left - font_text_width(title, scale)) / 2, ch / 2, title, ink, scale);
    if (xlabel)
        canvas_text(c, left + (right - left - font_text_width(xlabel, scale)) / 2, h - ch - scale, xlabel, ink, scale);
    if (ylabel) {
        /* Vertical text is not drawn: the name goes above the axis. */
        canvas_text(c, scale * 2, ch / 2, ylabel, ink, scale);
    }
    for (int k = 0; k < ns; k++) {
        uint32_t col = palette_label(k + 1);
        int have = 0, px = 0, py = 0;
        for (int64_t i = 0; i < s[k].n; i++) {
            if (!usable(s[k].x[i], s[k].y[i], logy)) {
                have = 0;
                continue;
            }
            int qx = PX(s[k].x[i]), qy = PY(tr(s[k].y[i], logy));
            if (have) {
                canvas_line(c, px, py, qx, qy, col);
                if (scale > 1)
                    canvas_line(c, px, py + 1, qx, qy + 1, col);
            } else
                canvas_put(c, qx, qy, col);
            px = qx, py = qy, have = 1;
        }
        /* Legend, top right inside the plot. */
        if (ns > 1 || s[k].name) {
            const char *name = s[k].name ? s[k].name : "";
            int lx = right - cw - font_text_width(name, scale) - 3 * cw, ly = top + ch / 2 + k * (ch + scale * 2);
            canvas_fill(c, lx, ly + ch / 2 - scale, 2 * cw, 2 * scale, col);
            canvas_text(c, lx + 3 * cw, ly, name, ink, scale);
        }
    }
#undef PX
#undef PY
    return 0;
}
