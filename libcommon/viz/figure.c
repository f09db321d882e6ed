#include "viz/figure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "viz/font.h"
#include "viz/view.h"

int figure_zoom(const figure_style *st, int Y, int X)
{
    if (st->zoom)
        return st->zoom;
    int m = Y > X ? Y : X;
    int z = (256 + m - 1) / m;
    return z < 1 ? 1 : z > 8 ? 8 : z;
}

static int font_scale(const figure_style *st, int width)
{
    return st->font_scale ? st->font_scale : width > 600 ? 2 : 1;
}

figure_panel *figure_add(figure *fig, const figure_style *st, const float *img, int Y, int X, const double w[2],
                         const char *title)
{
    const int zoom = figure_zoom(st, Y, X);
    figure_panel *p = realloc(fig->p, sizeof *fig->p * (size_t)(fig->n + 1));
    if (!p) {
        err_set("out of memory");
        return NULL;
    }
    fig->p = p;
    p = &fig->p[fig->n];
    snprintf(p->title, sizeof p->title, "%s", title);
    if (img ? view_grey(&p->c, img, Y, X, w[0], w[1], zoom) : canvas_init(&p->c, X * zoom, Y * zoom, 0))
        return NULL;
    fig->n++;
    return p;
}

void figure_labels(figure *fig, figure_panel *p, const figure_style *st, const uint8_t *lab, int Y, int X,
                   double alpha, int outline)
{
    view_labels(&p->c, lab, Y, X, figure_zoom(st, Y, X), alpha, outline);
    for (size_t i = 0; i < (size_t)Y * (size_t)X; i++)
        fig->present[lab[i]] = 1;
}

void figure_free(figure *fig)
{
    for (int i = 0; i < fig->n; i++)
        canvas_free(&fig->p[i].c);
    free(fig->p);
    fig->p = NULL;
    fig->n = 0;
}

static int legend_vals(const uint8_t present[256], int *vals)
{
    int n = 0;
    for (int v = 1; v < 256; v++)
        if (present[v])
            vals[n++] = v;
    return n;
}

/* Height of the legend of present[] at width w (0 when there is none). */
static int legend_height(const figure_style *st, const uint8_t present[256], int w, int sc, int gap)
{
    int vals[256], nv = legend_vals(present, vals);
    if (st->no_legend || !nv)
        return 0;
    return view_legend(NULL, 0, 0, w, vals, nv, st->names, st->nnames, sc, FIGURE_FG) + gap;
}

static void draw_legend(canvas *out, const figure_style *st, const uint8_t present[256], int y, int w, int sc)
{
    int vals[256], nv = legend_vals(present, vals);
    view_legend(out, 0, y, w, vals, nv, st->names, st->nnames, sc, FIGURE_FG);
}

int figure_compose(canvas *out, const figure *fig, const char *caption, const figure_style *st)
{
    const int gap = 4;
    int w = 0, h = 0;
    for (int i = 0; i < fig->n; i++) {
        w += fig->p[i].c.w + (i ? gap : 0);
        if (fig->p[i].c.h > h)
            h = fig->p[i].c.h;
    }
    int sc = font_scale(st, w), th = st->no_title ? 0 : FONT_CELL_H * sc + 2 * sc;
    int top = st->no_title ? 0 : 2 * th;
    int lh = legend_height(st, fig->present, w, sc, gap);
    if (canvas_init(out, w, top + h + lh, FIGURE_BG))
        return -1;
    if (!st->no_title)
        canvas_text(out, 0, sc, caption, FIGURE_FG, sc);
    for (int i = 0, x = 0; i < fig->n; i++) {
        if (!st->no_title)
            canvas_text(out, x, th + sc, fig->p[i].title, FIGURE_FG, sc);
        canvas_blit(out, &fig->p[i].c, x, top);
        x += fig->p[i].c.w + gap;
    }
    if (lh)
        draw_legend(out, st, fig->present, top + h + gap, w, sc);
    return 0;
}

int figure_grid(canvas *out, const figure_tile *t, int n, int cols, const char *caption, const uint8_t present[256],
                int zcaps, const figure_style *st)
{
    const int gap = 2;
    int tw = 0, th = 0;
    for (int i = 0; i < n; i++) {
        tw = t[i].c.w > tw ? t[i].c.w : tw;
        th = t[i].c.h > th ? t[i].c.h : th;
    }
    if (cols < 1)
        cols = (int)ceil(sqrt((double)n));
    if (cols > n)
        cols = n;
    int rows = (n + cols - 1) / cols, w = cols * tw + (cols - 1) * gap;
    int sc = font_scale(st, w), top = st->no_title ? 0 : FONT_CELL_H * sc + 3 * sc;
    int lh = legend_height(st, present, w, sc, gap);
    if (canvas_init(out, w, top + rows * th + (rows - 1) * gap + lh, FIGURE_BG))
        return -1;
    if (!st->no_title)
        canvas_text(out, 0, sc, caption, FIGURE_FG, sc);
    for (int i = 0; i < n; i++) {
        int x = (i % cols) * (tw + gap), y = top + (i / cols) * (th + gap);
        canvas_blit(out, &t[i].c, x, y);
        if (zcaps && !st->no_title) {
            char z[32];
            snprintf(z, sizeof z, "z=%lld", (long long)t[i].z);
            int s1 = font_scale(st, tw) > 1 ? 2 : 1;
            canvas_fill(out, x, y, font_text_width(z, s1) + 2 * s1, FONT_CELL_H * s1 + s1, FIGURE_BG);
            canvas_text(out, x + s1, y + s1, z, FIGURE_FG, s1);
        }
    }
    if (lh)
        draw_legend(out, st, present, top + rows * th + (rows - 1) * gap + gap, w, sc);
    return 0;
}

figure_sheet *figure_sheet_of(figure_sheet **sheets, int *n, const char *id)
{
    figure_sheet *s;
    if (!id)
        id = "noid";
    for (int i = 0; i < *n; i++)
        if (!strcmp((*sheets)[i].id, id))
            return &(*sheets)[i];
    if (!(s = realloc(*sheets, sizeof *s * (size_t)(*n + 1)))) {
        err_set("out of memory");
        return NULL;
    }
    *sheets = s;
    s = &s[*n];
    memset(s, 0, sizeof *s);
    if (!(s->id = strdup(id))) {
        err_set("out of memory");
        return NULL;
    }
    (*n)++;
    return s;
}

int figure_sheet_add(figure_sheet *sh, const canvas *c, int64_t z, const uint8_t present[256])
{
    figure_tile *t = realloc(sh->t, sizeof *sh->t * (size_t)(sh->n + 1));
    if (!t)
        return err_set("out of memory");
    sh->t = t;
    t = &sh->t[sh->n];
    t->z = z;
    if (canvas_init(&t->c, c->w, c->h, 0))
        return -1;
    sh->n++;
    canvas_blit(&t->c, c, 0, 0);
    for (int v = 0; v < 256; v++)
        sh->present[v] |= present[v];
    return 0;
}

static int cmp_tile(const void *a, const void *b)
{
    const figure_tile *x = a, *y = b;
    return (x->z > y->z) - (x->z < y->z);
}

int figure_sheet_compose(canvas *out, figure_sheet *sh, int cols, const figure_style *st)
{
    char cap[300];
    qsort(sh->t, (size_t)sh->n, sizeof *sh->t, cmp_tile);
    snprintf(cap, sizeof cap, "%s: %d slices", sh->id, sh->n);
    return figure_grid(out, sh->t, sh->n, cols, cap, sh->present, 1, st);
}

void figure_sheet_free(figure_sheet *sh)
{
    for (int k = 0; k < sh->n; k++)
        canvas_free(&sh->t[k].c);
    free(sh->t);
    free(sh->id);
    memset(sh, 0, sizeof *sh);
}
