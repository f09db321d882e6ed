/*
 * frame-view — pictures of frames: PNG files of slices with their label,
 * prediction, region and K-means cluster maps, elastic-aug pairs, contact
 * sheets of volumes, several streams side by side (the paper's Figure 2),
 * regions beside feature clusters (its Figure 3), and training curves from
 * metrics logs.
 *
 * It writes files, not frames: standard output stays empty; -v names every
 * file written on standard error. Drawing is in libcommon (view, canvas,
 * plot, palette, font), K-means in kmeans.c.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "core/err.h"
#include "core/json.h"
#include "io/frame.h"
#include "io/stream.h"
#include "viz/canvas.h"
#include "viz/font.h"
#include "viz/kmeans.h"
#include "viz/palette.h"
#include "viz/plot.h"
#include "viz/view.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT]...\n"
           "   or: %s --curve LOG.jsonl [--curve LOG2.jsonl]... [OPTION]...\n"
           "Draw frames as PNG pictures: slices, label/pred overlays, regions, pairs, K-means of\n"
           "feature maps, contact sheets, several streams side by side; or training curves.\n"
           "\n"
           "Input and output:\n"
           "  -i, --input SPEC        frames (file, '-', tcp://, ipc://, '@' binds); repeatable, also as\n"
           "                          operands; two or more inputs are drawn side by side, one column each\n"
           "      --png PATTERN       output file names: %%i id, %%z slice (\"sheet\" for a sheet), %%s seq,\n"
           "                          %%%% percent (default %%i_%%z.png; directories are created)\n"
           "      --id ID             only volume ID (repeatable)\n"
           "      --z RANGE           only slices N or A:B (inclusive, open ends allowed)\n"
           "\n"
           "What to draw:\n"
           "      --show LIST         panels, comma-separated: image,label,pred,regions,clusters\n"
           "                          (default: each of label,pred,regions,clusters present, else image)\n"
           "      --window LO,HI      grey window in image units (default: [0,1] when the frame has\n"
           "                          meta 'window', else the slice's min..max)\n"
           "      --zoom N            integer pixel zoom (default: enough for 256 pixels)\n"
           "      --radiological      turn slices by 180 degrees: RAS+ volumes show anterior up and\n"
           "                          the patient's right on the left (default: row 0 on top, as stored)\n"
           "      --alpha A           opacity of filled overlays, 0..1 (default 0.5)\n"
           "      --outline           label maps as outlines instead of fills\n"
           "      --regions-fill      regions filled in random colours instead of boundaries\n"
           "      --seed N            colours of regions and clusters, K-means seeding (default 0)\n"
           "      --k K               K-means clusters of 'features' (default: meta K, else the number\n"
           "                          of regions, else 8)\n"
           "      --kmeans-iters N    Lloyd iterations at most (default 100)\n"
           "      --labels-json FILE  organ names by label value (default: meta 'classes')\n"
           "      --no-legend         no legend of organ names\n"
           "      --no-title          no titles and captions\n"
           "      --font-scale N      text size (default 1, 2 for pictures wider than 600 pixels)\n"
           "\n"
           "Sheets and columns:\n"
           "      --sheet             one contact sheet per volume instead of one picture per slice\n"
           "      --every N           every Nth slice in a sheet (default 1)\n"
           "      --cols N            tiles per row of a sheet (default: about square)\n"
           "      --gt                with several inputs: a first column with the first input's 'label'\n"
           "      --title TEXT        column titles, one per input (repeatable; default: input names)\n"
           "\n"
           "Training curves:\n"
           "      --curve FILE        a metrics log, one JSON object per line (repeatable)\n"
           "      --x KEY             x values (default step)\n"
           "      --y KEY             y values (repeatable; default loss)\n"
           "      --logy              logarithmic y axis\n"
           "      --size WxH          picture size (default 800x500)\n"
           "\n"
           "Common:\n"
           "  -q, --quiet             errors only\n"
           "  -v, --verbose           name every file written (repeatable)\n"
           "      --max-record SIZE   refuse records larger than SIZE bytes (default 4G)\n"
           "  -h, --help              this help\n"
           "      --version           version\n",
           err_progname, err_progname);
}

enum {
    OPT_PNG = 0x100, OPT_ID, OPT_Z, OPT_SHOW, OPT_WINDOW, OPT_ZOOM, OPT_ALPHA, OPT_OUTLINE, OPT_RFILL, OPT_SEED,
    OPT_K, OPT_ITERS, OPT_LABELS, OPT_NOLEGEND, OPT_NOTITLE, OPT_FONT, OPT_SHEET, OPT_EVERY, OPT_COLS, OPT_GT,
    OPT_TITLE, OPT_CURVE, OPT_X, OPT_Y, OPT_LOGY, OPT_SIZE, OPT_RADIO
};

enum { P_IMAGE, P_LABEL, P_PRED, P_REGIONS, P_CLUSTERS, NPANEL };
static const char *panel_name[NPANEL] = {"image", "label", "pred", "regions", "clusters"};

static struct {
    const char **inputs, **ids, **titles, **curves, **ykeys;
    int ninputs, nids, ntitles, ncurves, nykeys;
    const char *png, *labels_json, *xkey;
    int64_t zlo, zhi;
    int show[NPANEL], show_given;
    double window[2];
    int has_window, zoom, outline, regions_fill, no_legend, no_title, font_scale, sheet, every, cols, gt, logy, radio;
    double alpha;
    uint64_t seed;
    int k, iters, width, height;
} opt = {.png = "%i_%z.png", .zlo = INT64_MIN, .zhi = INT64_MAX, .alpha = 0.5, .iters = 100, .every = 1,
         .xkey = "step", .width = 800, .height = 500};

static const uint32_t BG = 0x202020, FG = 0xf0f0f0;

/* Organ names by label value (--labels-json, else the first meta 'classes'). */
static char *names[256];
static int nnames, names_fixed;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die(1, "out of memory");
    return p;
}

#define PUSH(arr, n, v)                                                  \
    do {                                                                 \
        (arr) = xrealloc((void *)(arr), sizeof *(arr) * (size_t)((n) + 1)); \
        (arr)[(n)++] = (v);                                              \
    } while (0)

/* ---- output files ---- */

static char **written;
static int nwritten;

static void mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                die(1, "%s: cannot create directory:", buf);
            *p = '/';
        }
}

static void expand(char *out, size_t n, const char *id, const char *zs, int64_t seq)
{
    size_t used = 0;
    for (const char *p = opt.png; *p; p++) {
        char tmp[64];
        const char *s = tmp;
        if (*p != '%') {
            tmp[0] = *p, tmp[1] = '\0';
        } else {
            switch (*++p) {
            case 'i': s = id ? id : "noid"; break;
            case 'z': s = zs; break;
            case 's': snprintf(tmp, sizeof tmp, "%lld", (long long)seq); break;
            case '%': s = "%"; break;
            default: usage_error("--png '%s': unknown placeholder '%%%c'", opt.png, *p ? *p : ' ');
            }
        }
        if (used + strlen(s) >= n)
            die(1, "--png '%s': file name too long", opt.png);
        memcpy(out + used, s, strlen(s));
        used += strlen(s);
    }
    out[used] = '\0';
}

static void write_png(const canvas *c, const char *id, const char *zs, int64_t seq)
{
    char path[4096];
    expand(path, sizeof path, id, zs, seq);
    for (int i = 0; i < nwritten; i++)
        if (!strcmp(written[i], path))
            die(1, "%s: two pictures would get this name (add %%z or %%s to --png)", path);
    char *dup = strdup(path);
    if (!dup)
        die(1, "out of memory");
    PUSH(written, nwritten, dup);
    mkdirs(path);
    if (canvas_write_png(c, path))
        die_err(1);
    log_info("%s", path);
}

/* ---- reading tensors of one slice ---- */

typedef struct {
    const frame *f;
    int64_t z;     /* the slice's index in its volume */
    int64_t zi;    /* index into rank-3 tensors, -1 for a slice record */
    int Y, X;
} slice_ref;

static const tensor *get(const slice_ref *s, const char *name)
{
    const tensor *t = frame_tensor_get(s->f, name);
    if (!t)
        return NULL;
    int want = s->zi < 0 ? 2 : 3;
    char buf[64];
    if (t->rank != want || t->shape[t->rank - 2] != s->Y || t->shape[t->rank - 1] != s->X)
        die(1, "record seq %lld (id %s): '%s' %s does not match the slice's %dx%d grid", (long long)s->f->seq,
            s->f->id ? s->f->id : "-", name, tensor_shape_str(t, buf, sizeof buf), s->Y, s->X);
    return t;
}

static size_t plane_offset(const slice_ref *s)
{
    return s->zi < 0 ? 0 : (size_t)s->zi * (size_t)s->Y * (size_t)s->X;
}

/* Index in the stored plane of displayed pixel i: as stored (row 0 on
 * top), or turned by 180 degrees with --radiological. */
static size_t src_index(const slice_ref *s, size_t i)
{
    return opt.radio ? (size_t)s->Y * (size_t)s->X - 1 - i : i;
}

static float *get_float(const slice_ref *s, const char *name)
{
    const tensor *t = get(s, name);
    if (!t)
        return NULL;
    size_t n = (size_t)s->Y * (size_t)s->X, off = plane_offset(s);
    float *out = xrealloc(NULL, sizeof *out * n);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)tensor_get(t, off + src_index(s, i));
    return out;
}

static uint8_t *get_labels(const slice_ref *s, const char *name)
{
    const tensor *t = get(s, name);
    if (!t)
        return NULL;
    if (t->dtype == DT_F32 || t->dtype == DT_F64)
        die(1, "record seq %lld (id %s): '%s' is %s; a label map must hold integers", (long long)s->f->seq,
            s->f->id ? s->f->id : "-", name, dtype_name(t->dtype));
    size_t n = (size_t)s->Y * (size_t)s->X, off = plane_offset(s);
    uint8_t *out = xrealloc(NULL, n);
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, off + src_index(s, i));
        if (v < 0 || v > 255)
            die(1, "record seq %lld (id %s): '%s' has value %.0f, outside 0..255", (long long)s->f->seq,
                s->f->id ? s->f->id : "-", name, v);
        out[i] = (uint8_t)v;
    }
    return out;
}

static int32_t *get_regions(const slice_ref *s, const char *name, int32_t *kmax)
{
    const tensor *t = get(s, name);
    if (!t)
        return NULL;
    if (t->dtype == DT_F32 || t->dtype == DT_F64)
        die(1, "record seq %lld (id %s): '%s' is %s; a region map must hold integers", (long long)s->f->seq,
            s->f->id ? s->f->id : "-", name, dtype_name(t->dtype));
    size_t n = (size_t)s->Y * (size_t)s->X, off = plane_offset(s);
    int32_t *out = xrealloc(NULL, sizeof *out * n);
    *kmax = -1;
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, off + src_index(s, i));
        out[i] = v < 0 ? -1 : v > INT32_MAX ? INT32_MAX : (int32_t)v;
        if (out[i] > *kmax)
            *kmax = out[i];
    }
    return out;
}

/* The grey window of a slice. */
static void window_of(const slice_ref *s, const float *img, double w[2])
{
    if (opt.has_window) {
        w[0] = opt.window[0], w[1] = opt.window[1];
        return;
    }
    if (mval_map_get(&s->f->meta, "window")) {
        w[0] = 0, w[1] = 1;
        return;
    }
    w[0] = INFINITY, w[1] = -INFINITY;
    size_t n = (size_t)s->Y * (size_t)s->X;
    for (size_t i = 0; img && i < n; i++)
        if (isfinite(img[i])) {
            w[0] = fmin(w[0], img[i]);
            w[1] = fmax(w[1], img[i]);
        }
    if (!(w[1] >= w[0]))
        w[0] = 0, w[1] = 1;
}

static void adopt_names(const frame *f)
{
    const mval *c = mval_map_get(&f->meta, "classes");
    if (names_fixed || !c || c->kind != MV_ARRAY)
        return;
    for (size_t i = 0; i < c->a.n && i < 256; i++)
        if (c->a.v[i].kind == MV_STR && !names[i]) {
            names[i] = strdup(c->a.v[i].s.p);
            if ((int)i + 1 > nnames)
                nnames = (int)i + 1;
        }
}

static void load_labels_json(const char *path)
{
    mval doc = {0};
    if (json_load(path, &doc))
        die_err(1);
    if (doc.kind != MV_MAP)
        die(1, "%s: want an object {\"1\": \"name\", ...}", path);
    for (size_t i = 0; i < doc.m.n; i++) {
        int64_t v;
        if (parse_i64(doc.m.k[i], &v) || v < 0 || v > 255 || doc.m.v[i].kind != MV_STR)
            die(1, "%s: entry \"%s\": want a label value 0..255 mapped to a name", path, doc.m.k[i]);
        names[v] = strdup(doc.m.v[i].s.p);
        if (v + 1 > nnames)
            nnames = (int)v + 1;
    }
    mval_free(&doc);
    names_fixed = 1;
}

/* ---- panels ---- */

typedef struct {
    canvas c;
    char title[128];
} panel;

typedef struct {
    panel *p;
    int n;
    uint8_t present[256]; /* label values drawn, for the legend */
} figure;

static int auto_zoom(int Y, int X)
{
    if (opt.zoom)
        return opt.zoom;
    int m = Y > X ? Y : X;
    int z = (256 + m - 1) / m;
    return z < 1 ? 1 : z > 8 ? 8 : z;
}

static int font_scale(int width)
{
    return opt.font_scale ? opt.font_scale : width > 600 ? 2 : 1;
}

static panel *new_panel(figure *fig, const float *img, int Y, int X, const double w[2], const char *title)
{
    fig->p = xrealloc(fig->p, sizeof *fig->p * (size_t)(fig->n + 1));
    panel *p = &fig->p[fig->n++];
    snprintf(p->title, sizeof p->title, "%s", title);
    if (img) {
        if (view_grey(&p->c, img, Y, X, w[0], w[1], auto_zoom(Y, X)))
            die_err(1);
    } else if (canvas_init(&p->c, X * auto_zoom(Y, X), Y * auto_zoom(Y, X), 0))
        die_err(1);
    return p;
}

static void add_labels(figure *fig, panel *p, const uint8_t *lab, int Y, int X)
{
    view_labels(&p->c, lab, Y, X, auto_zoom(Y, X), opt.alpha, opt.outline);
    for (size_t i = 0; i < (size_t)Y * (size_t)X; i++)
        fig->present[lab[i]] = 1;
}

/* K-means of the feature vectors of a slice into a map on the slice's grid. */
static int32_t *clusters_of(const slice_ref *s, int k)
{
    const tensor *t = frame_tensor_get(s->f, "features");
    char buf[64];
    int64_t D, FY, FX;
    if (t->rank == 3 && s->zi < 0)
        D = t->shape[0], FY = t->shape[1], FX = t->shape[2];
    else if (t->rank == 4 && t->shape[0] == 1 && s->zi < 0)
        D = t->shape[1], FY = t->shape[2], FX = t->shape[3];
    else
        die(1, "record seq %lld (id %s): 'features' %s; want [D,Y,X] or [1,D,Y,X] on a slice record",
            (long long)s->f->seq, s->f->id ? s->f->id : "-", tensor_shape_str(t, buf, sizeof buf));
    if (t->dtype != DT_F32)
        die(1, "record seq %lld: 'features' is %s, want f32", (long long)s->f->seq, dtype_name(t->dtype));
    int64_t n = FY * FX;
    if (k > n)
        die(1, "record seq %lld: --k %d is more than the %lld feature vectors", (long long)s->f->seq, k, (long long)n);
    /* [D, FY*FX] -> points [N, D] */
    float *x = xrealloc(NULL, sizeof *x * (size_t)(n * D));
    const float *src = t->data;
    for (int64_t d = 0; d < D; d++)
        for (int64_t i = 0; i < n; i++)
            x[i * D + d] = src[d * n + i];
    int32_t *a = xrealloc(NULL, sizeof *a * (size_t)n);
    kmeans_info info;
    if (kmeans(a, NULL, x, n, (int)D, k, opt.iters, opt.seed, &info))
        die_err(1);
    log_debug("id %s z %lld: K-means K=%d, %d iterations%s, inertia %g", s->f->id ? s->f->id : "-", (long long)s->z,
              k, info.iters, info.converged ? "" : " (not converged)", info.inertia);
    free(x);
    /* Nearest-neighbour onto the slice grid when the features are smaller. */
    int32_t *out = xrealloc(NULL, sizeof *out * (size_t)s->Y * (size_t)s->X);
    for (int y = 0; y < s->Y; y++)
        for (int xx = 0; xx < s->X; xx++)
            out[src_index(s, (size_t)y * s->X + xx)] = a[(y * FY / s->Y) * FX + xx * FX / s->X];
    free(a);
    return out;
}

/* Panels of one slice (or of a pair record). */
static void build_figure(figure *fig, const slice_ref *s)
{
    memset(fig, 0, sizeof *fig);
    int Y = s->Y, X = s->X;
    double w[2];
    float *img = get_float(s, "image");
    window_of(s, img, w);
    char title[128];
    if (frame_tensor_get(s->f, "image_p") || frame_tensor_get(s->f, "regions_p")) {
        /* elastic-aug pair: the two views side by side, region k in the same
         * colour in both (or the label maps when there are no regions). */
        float *img2 = get_float(s, "image_p");
        int32_t k1, k2;
        int32_t *r1 = get_regions(s, "regions", &k1), *r2 = get_regions(s, "regions_p", &k2);
        uint8_t *l1 = r1 ? NULL : get_labels(s, "label"), *l2 = r2 ? NULL : get_labels(s, "label_p");
        snprintf(title, sizeof title, "view q%s", r1 ? "" : " (no regions)");
        panel *p = new_panel(fig, img, Y, X, w, title);
        if (r1)
            view_regions(&p->c, r1, Y, X, auto_zoom(Y, X), !opt.regions_fill, opt.alpha, opt.seed, 0);
        else if (l1)
            add_labels(fig, p, l1, Y, X);
        p = new_panel(fig, img2, Y, X, w, "view p (elastic)");
        if (r2)
            view_regions(&p->c, r2, Y, X, auto_zoom(Y, X), !opt.regions_fill, opt.alpha, opt.seed, 0);
        else if (l2)
            add_labels(fig, p, l2, Y, X);
        free(img2), free(r1), free(r2), free(l1), free(l2);
        free(img);
        return;
    }
    int show[NPANEL];
    memcpy(show, opt.show, sizeof show);
    if (!opt.show_given) {
        show[P_LABEL] = frame_tensor_get(s->f, "label") != NULL;
        show[P_PRED] = frame_tensor_get(s->f, "pred") != NULL;
        show[P_REGIONS] = frame_tensor_get(s->f, "regions") != NULL;
        show[P_CLUSTERS] = frame_tensor_get(s->f, "features") != NULL;
        show[P_IMAGE] = !(show[P_LABEL] || show[P_PRED] || show[P_REGIONS] || show[P_CLUSTERS]);
    }
    int32_t kreg = -1;
    int32_t *reg = show[P_REGIONS] || show[P_CLUSTERS] ? get_regions(s, "regions", &kreg) : NULL;
    for (int k = 0; k < NPANEL; k++) {
        if (!show[k])
            continue;
        if (k == P_LABEL || k == P_PRED) {
            uint8_t *lab = get_labels(s, panel_name[k]);
            if (!lab)
                die(1, "record seq %lld (id %s): no '%s' to show", (long long)s->f->seq, s->f->id ? s->f->id : "-",
                    panel_name[k]);
            add_labels(fig, new_panel(fig, img, Y, X, w, k == P_LABEL ? "ground truth" : "prediction"), lab, Y, X);
            free(lab);
        } else if (k == P_REGIONS) {
            if (!reg)
                die(1, "record seq %lld (id %s): no 'regions' to show", (long long)s->f->seq, s->f->id ? s->f->id : "-");
            snprintf(title, sizeof title, "regions (%d)", (int)kreg + 1);
            panel *p = new_panel(fig, img, Y, X, w, title);
            view_regions(&p->c, reg, Y, X, auto_zoom(Y, X), !opt.regions_fill, opt.alpha, opt.seed, 0);
        } else if (k == P_CLUSTERS) {
            if (!frame_tensor_get(s->f, "features"))
                die(1, "record seq %lld (id %s): no 'features' to cluster", (long long)s->f->seq,
                    s->f->id ? s->f->id : "-");
            int64_t mk = 0;
            int kk = opt.k;
            if (!kk && mval_get_i64(&s->f->meta, "K", &mk) == 0 && mk > 0 && mk < (1 << 20))
                kk = (int)mk;
            if (!kk && reg)
                kk = kreg + 1 > 0 ? kreg + 1 : 8;
            if (!kk)
                kk = 8;
            int32_t *cl = clusters_of(s, kk);
            snprintf(title, sizeof title, "K-means (K=%d)", kk);
            panel *p = new_panel(fig, img, Y, X, w, title);
            view_regions(&p->c, cl, Y, X, auto_zoom(Y, X), 0, opt.regions_fill ? opt.alpha : 1, opt.seed, 1);
            free(cl);
        } else
            new_panel(fig, img, Y, X, w, "image");
    }
    free(reg);
    free(img);
}

static void free_figure(figure *fig)
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

/* Panels in a row (titles above), a caption on top, the legend below. */
static void compose(canvas *out, const figure *fig, const char *caption)
{
    const int gap = 4;
    int w = 0, h = 0;
    for (int i = 0; i < fig->n; i++) {
        w += fig->p[i].c.w + (i ? gap : 0);
        if (fig->p[i].c.h > h)
            h = fig->p[i].c.h;
    }
    int sc = font_scale(w), th = opt.no_title ? 0 : FONT_CELL_H * sc + 2 * sc;
    int top = opt.no_title ? 0 : 2 * th;
    int vals[256], nv = legend_vals(fig->present, vals);
    int lh = opt.no_legend || !nv ? 0 : view_legend(NULL, 0, 0, w, vals, nv, (const char *const *)names, nnames, sc, FG) + gap;
    if (canvas_init(out, w, top + h + lh, BG))
        die_err(1);
    if (!opt.no_title)
        canvas_text(out, 0, sc, caption, FG, sc);
    for (int i = 0, x = 0; i < fig->n; i++) {
        if (!opt.no_title)
            canvas_text(out, x, th + sc, fig->p[i].title, FG, sc);
        canvas_blit(out, &fig->p[i].c, x, top);
        x += fig->p[i].c.w + gap;
    }
    if (lh)
        view_legend(out, 0, top + h + gap, w, vals, nv, (const char *const *)names, nnames, sc, FG);
}

/* ---- contact sheets: tiles kept per volume ---- */

typedef struct {
    int64_t z;
    canvas c;
} tile;

typedef struct {
    char *id;
    tile *t;
    int n;
    uint8_t present[256];
    int64_t seq;
} sheet;

static sheet *sheets;
static int nsheets;

static sheet *sheet_of(const char *id)
{
    for (int i = 0; i < nsheets; i++)
        if (!strcmp(sheets[i].id, id ? id : "noid"))
            return &sheets[i];
    sheets = xrealloc(sheets, sizeof *sheets * (size_t)(nsheets + 1));
    sheet *s = &sheets[nsheets++];
    memset(s, 0, sizeof *s);
    s->id = strdup(id ? id : "noid");
    return s;
}

static int cmp_tile(const void *a, const void *b)
{
    const tile *x = a, *y = b;
    return (x->z > y->z) - (x->z < y->z);
}

static void add_tile(sheet *sh, const canvas *c, int64_t z, const uint8_t present[256])
{
    sh->t = xrealloc(sh->t, sizeof *sh->t * (size_t)(sh->n + 1));
    tile *t = &sh->t[sh->n++];
    t->z = z;
    if (canvas_init(&t->c, c->w, c->h, 0))
        die_err(1);
    canvas_blit(&t->c, c, 0, 0);
    for (int v = 0; v < 256; v++)
        sh->present[v] |= present[v];
}

/* Tiles in a grid (rows of `cols`), each captioned with its z. */
static void compose_grid(canvas *out, tile *t, int n, int cols, const char *caption, const uint8_t present[256],
                         int zcaps)
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
    int sc = font_scale(w), top = opt.no_title ? 0 : FONT_CELL_H * sc + 3 * sc;
    int vals[256], nv = legend_vals(present, vals);
    int lh = opt.no_legend || !nv ? 0 : view_legend(NULL, 0, 0, w, vals, nv, (const char *const *)names, nnames, sc, FG) + gap;
    if (canvas_init(out, w, top + rows * th + (rows - 1) * gap + lh, BG))
        die_err(1);
    if (!opt.no_title)
        canvas_text(out, 0, sc, caption, FG, sc);
    for (int i = 0; i < n; i++) {
        int x = (i % cols) * (tw + gap), y = top + (i / cols) * (th + gap);
        canvas_blit(out, &t[i].c, x, y);
        if (zcaps && !opt.no_title) {
            char z[32];
            snprintf(z, sizeof z, "z=%lld", (long long)t[i].z);
            int s1 = font_scale(tw) > 1 ? 2 : 1;
            canvas_fill(out, x, y, font_text_width(z, s1) + 2 * s1, FONT_CELL_H * s1 + s1, BG);
            canvas_text(out, x + s1, y + s1, z, FG, s1);
        }
    }
    if (lh)
        view_legend(out, 0, top + rows * th + (rows - 1) * gap + gap, w, vals, nv, (const char *const *)names,
                    nnames, sc, FG);
}

static void flush_sheets(void)
{
    for (int i = 0; i < nsheets; i++) {
        sheet *sh = &sheets[i];
        canvas out;
        char cap[300];
        qsort(sh->t, (size_t)sh->n, sizeof *sh->t, cmp_tile);
        snprintf(cap, sizeof cap, "%s: %d slices", sh->id, sh->n);
        compose_grid(&out, sh->t, sh->n, opt.cols, cap, sh->present, 1);
        write_png(&out, sh->id, "sheet", sh->seq);
        canvas_free(&out);
        for (int k = 0; k < sh->n; k++)
            canvas_free(&sh->t[k].c);
        free(sh->t);
        free(sh->id);
    }
    free(sheets);
    sheets = NULL;
    nsheets = 0;
}

/* ---- one stream ---- */

static int selected(const frame *f)
{
    if (!opt.nids)
        return 1;
    for (int i = 0; i < opt.nids; i++)
        if (f->id && !strcmp(f->id, opt.ids[i]))
            return 1;
    return 0;
}

/* The slices of a record: itself, or the selected z of a volume record. */
static int slices_of(const frame *f, slice_ref **out)
{
    static const char *grid_names[] = {"image", "label", "pred", "regions", "image_p", "regions_p"};
    const tensor *t = NULL;
    for (size_t i = 0; i < sizeof grid_names / sizeof grid_names[0] && !t; i++)
        t = frame_tensor_get(f, grid_names[i]);
    char buf[64];
    if (!t)
        die(1, "record seq %lld (id %s): nothing to draw (no image, label, pred or regions)", (long long)f->seq,
            f->id ? f->id : "-");
    int n = 0;
    *out = NULL;
    if (t->rank == 2) {
        if (f->z >= opt.zlo && f->z <= opt.zhi) {
            slice_ref s = {f, f->z, -1, (int)t->shape[0], (int)t->shape[1]};
            PUSH(*out, n, s);
        }
    } else if (t->rank == 3 && f->z < 0) {
        for (int64_t z = 0; z < t->shape[0]; z++)
            if (z >= opt.zlo && z <= opt.zhi && z % opt.every == 0) {
                slice_ref s = {f, z, z, (int)t->shape[1], (int)t->shape[2]};
                PUSH(*out, n, s);
            }
    } else
        die(1, "record seq %lld (id %s): tensors %s with z = %lld; want [Y,X] slices or [Z,Y,X] volumes (z = -1)",
            (long long)f->seq, f->id ? f->id : "-", tensor_shape_str(t, buf, sizeof buf), (long long)f->z);
    for (int i = 0; i < n; i++)
        if ((*out)[i].Y < 1 || (*out)[i].X < 1 || (*out)[i].Y > 8192 || (*out)[i].X > 8192)
            die(1, "record seq %lld: a %dx%d slice", (long long)f->seq, (*out)[i].Y, (*out)[i].X);
    return n;
}

static void view_stream(const char *spec)
{
    stream_in *in = stream_in_open(spec);
    frame f;
    int r;
    if (!in)
        die_err(1);
    while ((r = stream_in_next(in, &f)) == 1) {
        if (selected(&f)) {
            adopt_names(&f);
            slice_ref *sl;
            int n = slices_of(&f, &sl);
            for (int i = 0; i < n; i++) {
                figure fig;
                canvas out;
                char cap[300], zs[32];
                if (opt.sheet && sl[i].zi < 0 && sl[i].z % opt.every)
                    continue;
                build_figure(&fig, &sl[i]);
                snprintf(zs, sizeof zs, "%lld", (long long)sl[i].z);
                if (opt.sheet) {
                    sheet *sh = sheet_of(f.id);
                    if (!sh->n)
                        sh->seq = f.seq;
                    add_tile(sh, &fig.p[0].c, sl[i].z, fig.present);
                } else {
                    snprintf(cap, sizeof cap, "%s  z=%s", f.id ? f.id : "-", zs);
                    compose(&out, &fig, cap);
                    write_png(&out, f.id, zs, f.seq);
                    canvas_free(&out);
                }
                free_figure(&fig);
            }
            free(sl);
        }
        frame_free(&f);
    }
    if (r < 0)
        die_err(1);
    stream_in_close(in);
    if (opt.sheet)
        flush_sheets();
}

/* ---- several streams side by side ---- */

typedef struct {
    char *id;
    int64_t z, seq;
    int Y, X;
    uint8_t *grey;       /* windowed image, 0..255 */
    uint8_t *map;        /* pred if present, else label; NULL if neither */
    uint8_t *gt;         /* label (for --gt) */
} cell;

typedef struct {
    cell *c;
    int n;
} column;

static void read_column(const char *spec, column *col)
{
    stream_in *in = stream_in_open(spec);
    frame f;
    int r;
    if (!in)
        die_err(1);
    memset(col, 0, sizeof *col);
    while ((r = stream_in_next(in, &f)) == 1) {
        if (selected(&f)) {
            adopt_names(&f);
            slice_ref *sl;
            int n = slices_of(&f, &sl);
            for (int i = 0; i < n; i++) {
                cell c = {0};
                c.id = strdup(f.id ? f.id : "noid");
                c.z = sl[i].z;
                c.seq = f.seq;
                c.Y = sl[i].Y, c.X = sl[i].X;
                for (int k = 0; k < col->n; k++)
                    if (col->c[k].z == c.z && !strcmp(col->c[k].id, c.id))
                        die(1, "%s: slice %s z=%lld given twice", spec, c.id, (long long)c.z);
                float *img = get_float(&sl[i], "image");
                if (img) {
                    double w[2];
                    window_of(&sl[i], img, w);
                    size_t np = (size_t)c.Y * (size_t)c.X;
                    c.grey = xrealloc(NULL, np);
                    for (size_t p = 0; p < np; p++) {
                        double t = w[1] > w[0] ? (img[p] - w[0]) / (w[1] - w[0]) * 255 : img[p] >= w[1] ? 255 : 0;
                        c.grey[p] = isnan(t) || t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)lround(t);
                    }
                    free(img);
                }
                c.map = get_labels(&sl[i], "pred");
                c.gt = get_labels(&sl[i], "label");
                if (!c.map && c.gt) {
                    c.map = xrealloc(NULL, (size_t)c.Y * (size_t)c.X);
                    memcpy(c.map, c.gt, (size_t)c.Y * (size_t)c.X);
                }
                PUSH(col->c, col->n, c);
            }
            free(sl);
        }
        frame_free(&f);
    }
    if (r < 0)
        die_err(1);
    stream_in_close(in);
}

static panel *cell_panel(figure *fig, const cell *c, const cell *base, const uint8_t *map, const char *title)
{
    float *img = xrealloc(NULL, sizeof *img * (size_t)c->Y * (size_t)c->X);
    const uint8_t *g = c->grey ? c->grey : base->grey;
    for (size_t p = 0; p < (size_t)c->Y * (size_t)c->X; p++)
        img[p] = g ? g[p] : 0;
    double w[2] = {0, 255};
    panel *pn = new_panel(fig, img, c->Y, c->X, w, title);
    free(img);
    if (map)
        add_labels(fig, pn, map, c->Y, c->X);
    return pn;
}

static const char *column_title(int i)
{
    static char buf[256];
    if (i < opt.ntitles)
        return opt.titles[i];
    const char *b = strrchr(opt.inputs[i], '/');
    snprintf(buf, sizeof buf, "%s", b ? b + 1 : opt.inputs[i]);
    return buf;
}

static void view_columns(void)
{
    column *cols = xrealloc(NULL, sizeof *cols * (size_t)opt.ninputs);
    for (int i = 0; i < opt.ninputs; i++)
        read_column(opt.inputs[i], &cols[i]);
    /* Rows: the slices of the first input; every other input must have
     * exactly the same (id, z). */
    for (int i = 1; i < opt.ninputs; i++) {
        if (cols[i].n != cols[0].n)
            die(1, "%s has %d slices, %s %d: the streams must hold the same (id, z)", opt.inputs[i], cols[i].n,
                opt.inputs[0], cols[0].n);
        for (int k = 0; k < cols[0].n; k++) {
            int hit = 0;
            for (int j = 0; j < cols[i].n && !hit; j++)
                hit = cols[i].c[j].z == cols[0].c[k].z && !strcmp(cols[i].c[j].id, cols[0].c[k].id);
            if (!hit)
                die(1, "%s: no slice %s z=%lld, which %s has", opt.inputs[i], cols[0].c[k].id,
                    (long long)cols[0].c[k].z, opt.inputs[0]);
        }
    }
    int ncol = opt.ninputs + (opt.gt ? 1 : 0);
    tile *rows = NULL;
    int nrows = 0;
    uint8_t present[256] = {0};
    for (int k = 0; k < cols[0].n; k++) {
        const cell *c0 = &cols[0].c[k];
        if (opt.sheet && c0->z % opt.every)
            continue;
        figure fig;
        memset(&fig, 0, sizeof fig);
        if (opt.gt) {
            if (!c0->gt)
                die(1, "%s: slice %s z=%lld has no 'label' for --gt", opt.inputs[0], c0->id, (long long)c0->z);
            cell_panel(&fig, c0, c0, c0->gt, "ground truth");
        }
        for (int i = 0; i < opt.ninputs; i++) {
            const cell *c = NULL;
            for (int j = 0; j < cols[i].n && !c; j++)
                if (cols[i].c[j].z == c0->z && !strcmp(cols[i].c[j].id, c0->id))
                    c = &cols[i].c[j];
            if (c->Y != c0->Y || c->X != c0->X)
                die(1, "%s: slice %s z=%lld is %dx%d, in %s %dx%d", opt.inputs[i], c0->id, (long long)c0->z, c->Y,
                    c->X, opt.inputs[0], c0->Y, c0->X);
            cell_panel(&fig, c, c0, c->map, column_title(i));
        }
        (void)ncol;
        canvas out;
        char cap[300], zs[32];
        snprintf(cap, sizeof cap, "%s  z=%lld", c0->id, (long long)c0->z);
        snprintf(zs, sizeof zs, "%lld", (long long)c0->z);
        if (opt.sheet) {
            /* One row per slice; rows of a volume stacked into one picture. */
            int saved = opt.no_legend;
            opt.no_legend = 1;
            compose(&out, &fig, cap);
            opt.no_legend = saved;
            rows = xrealloc(rows, sizeof *rows * (size_t)(nrows + 1));
            rows[nrows].z = c0->z;
            rows[nrows++].c = out;
            for (int v = 0; v < 256; v++)
                present[v] |= fig.present[v];
            int last = k + 1 >= cols[0].n || strcmp(cols[0].c[k + 1].id, c0->id);
            if (last) {
                canvas sheet_c;
                int saved_t = opt.no_title;
                opt.no_title = 1; /* each row has its caption */
                compose_grid(&sheet_c, rows, nrows, 1, c0->id, present, 0);
                opt.no_title = saved_t;
                write_png(&sheet_c, c0->id, "sheet", c0->seq);
                canvas_free(&sheet_c);
                for (int r = 0; r < nrows; r++)
                    canvas_free(&rows[r].c);
                nrows = 0;
                memset(present, 0, sizeof present);
            }
        } else {
            compose(&out, &fig, cap);
            write_png(&out, c0->id, zs, c0->seq);
            canvas_free(&out);
        }
        free_figure(&fig);
    }
    free(rows);
    for (int i = 0; i < opt.ninputs; i++) {
        for (int k = 0; k < cols[i].n; k++) {
            free(cols[i].c[k].id), free(cols[i].c[k].grey), free(cols[i].c[k].map), free(cols[i].c[k].gt);
        }
        free(cols[i].c);
    }
    free(cols);
}

/* ---- training curves ---- */

static void view_curves(void)
{
    int nk = opt.nykeys ? opt.nykeys : 1;
    const char *defy = "loss";
    const char **ykeys = opt.nykeys ? opt.ykeys : &defy;
    plot_series *s = xrealloc(NULL, sizeof *s * (size_t)(opt.ncurves * nk));
    double **bufs = xrealloc(NULL, sizeof *bufs * (size_t)(opt.ncurves * nk * 2));
    char **snames = xrealloc(NULL, sizeof *snames * (size_t)(opt.ncurves * nk));
    int ns = 0;
    for (int fi = 0; fi < opt.ncurves; fi++) {
        FILE *f = fopen(opt.curves[fi], "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        int64_t ln = 0, *cnt = xrealloc(NULL, sizeof *cnt * (size_t)nk), skipped = 0;
        if (!f)
            die(1, "%s:", opt.curves[fi]);
        for (int k = 0; k < nk; k++) {
            bufs[2 * (ns + k)] = NULL, bufs[2 * (ns + k) + 1] = NULL;
            cnt[k] = 0;
        }
        while ((len = getline(&line, &cap, f)) > 0) {
            ln++;
            mval rec = {0};
            size_t l = (size_t)len;
            while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
                l--;
            if (!l)
                continue;
            if (json_parse(line, l, &rec))
                die(1, "%s:%lld: %s", opt.curves[fi], (long long)ln, err_get());
            double x, y;
            if (rec.kind != MV_MAP || mval_get_f64(&rec, opt.xkey, &x)) {
                /* Lines without x (e.g. a header or an event) are counted, not plotted. */
                skipped++;
                mval_free(&rec);
                continue;
            }
            for (int k = 0; k < nk; k++)
                if (mval_get_f64(&rec, ykeys[k], &y) == 0) {
                    bufs[2 * (ns + k)] = xrealloc(bufs[2 * (ns + k)], sizeof(double) * (size_t)(cnt[k] + 1));
                    bufs[2 * (ns + k) + 1] = xrealloc(bufs[2 * (ns + k) + 1], sizeof(double) * (size_t)(cnt[k] + 1));
                    bufs[2 * (ns + k)][cnt[k]] = x;
                    bufs[2 * (ns + k) + 1][cnt[k]] = y;
                    cnt[k]++;
                }
            mval_free(&rec);
        }
        if (ferror(f))
            die(1, "%s: read error:", opt.curves[fi]);
        fclose(f);
        free(line);
        if (skipped)
            log_info("%s: %lld lines without '%s' not plotted", opt.curves[fi], (long long)skipped, opt.xkey);
        for (int k = 0; k < nk; k++) {
            if (!cnt[k])
                die(1, "%s: no line has both '%s' and '%s'", opt.curves[fi], opt.xkey, ykeys[k]);
            const char *b = strrchr(opt.curves[fi], '/');
            char nm[512];
            if (opt.ncurves > 1 && nk > 1)
                snprintf(nm, sizeof nm, "%s %s", b ? b + 1 : opt.curves[fi], ykeys[k]);
            else
                snprintf(nm, sizeof nm, "%s", opt.ncurves > 1 ? (b ? b + 1 : opt.curves[fi]) : ykeys[k]);
            snames[ns + k] = strdup(nm);
            s[ns + k] = (plot_series){snames[ns + k], bufs[2 * (ns + k)], bufs[2 * (ns + k) + 1], cnt[k]};
        }
        ns += nk;
        free(cnt);
    }
    canvas c;
    char ylabel[256] = "";
    for (int k = 0; k < nk; k++)
        snprintf(ylabel + strlen(ylabel), sizeof ylabel - strlen(ylabel), "%s%s", k ? ", " : "", ykeys[k]);
    int sc = opt.font_scale ? opt.font_scale : opt.width > 1000 ? 2 : 1;
    if (plot_lines(&c, opt.width, opt.height, s, ns, opt.no_title ? NULL : "training curve", opt.xkey, ylabel,
                   opt.logy, sc))
        die_err(1);
    const char *b = strrchr(opt.curves[0], '/');
    char id[256];
    snprintf(id, sizeof id, "%s", b ? b + 1 : opt.curves[0]);
    char *dot = strrchr(id, '.');
    if (dot && dot != id)
        *dot = '\0';
    write_png(&c, id, "curve", 0);
    canvas_free(&c);
    for (int i = 0; i < ns; i++)
        free(bufs[2 * i]), free(bufs[2 * i + 1]), free(snames[i]);
    free(bufs), free(snames), free(s);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"png", required_argument, 0, OPT_PNG},
        {"id", required_argument, 0, OPT_ID},
        {"z", required_argument, 0, OPT_Z},
        {"show", required_argument, 0, OPT_SHOW},
        {"window", required_argument, 0, OPT_WINDOW},
        {"zoom", required_argument, 0, OPT_ZOOM},
        {"alpha", required_argument, 0, OPT_ALPHA},
        {"outline", no_argument, 0, OPT_OUTLINE},
        {"regions-fill", no_argument, 0, OPT_RFILL},
        {"seed", required_argument, 0, OPT_SEED},
        {"k", required_argument, 0, OPT_K},
        {"kmeans-iters", required_argument, 0, OPT_ITERS},
        {"labels-json", required_argument, 0, OPT_LABELS},
        {"no-legend", no_argument, 0, OPT_NOLEGEND},
        {"no-title", no_argument, 0, OPT_NOTITLE},
        {"font-scale", required_argument, 0, OPT_FONT},
        {"sheet", no_argument, 0, OPT_SHEET},
        {"every", required_argument, 0, OPT_EVERY},
        {"cols", required_argument, 0, OPT_COLS},
        {"gt", no_argument, 0, OPT_GT},
        {"title", required_argument, 0, OPT_TITLE},
        {"curve", required_argument, 0, OPT_CURVE},
        {"x", required_argument, 0, OPT_X},
        {"y", required_argument, 0, OPT_Y},
        {"logy", no_argument, 0, OPT_LOGY},
        {"size", required_argument, 0, OPT_SIZE},
        {"radiological", no_argument, 0, OPT_RADIO},
        {"help", no_argument, 0, 'h'},
        OPT_COMMON_LONG,
        {0, 0, 0, 0},
    };
    int c;
    filter_init(argc, argv);
    while ((c = opt_next(argc, argv, "i:qvh", longopts)) != -1) {
        if (opt_common(c, optarg))
            continue;
        switch (c) {
        case 'i': PUSH(opt.inputs, opt.ninputs, optarg); break;
        case OPT_PNG: opt.png = optarg; break;
        case OPT_ID: PUSH(opt.ids, opt.nids, optarg); break;
        case OPT_Z:
            if (parse_i64_range(optarg, &opt.zlo, &opt.zhi))
                usage_error("option --z: %s", err_get());
            break;
        case OPT_SHOW: {
            char *s = strdup(optarg), *save, *tok;
            memset(opt.show, 0, sizeof opt.show);
            for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                int k = 0;
                while (k < NPANEL && strcmp(tok, panel_name[k]))
                    k++;
                if (k == NPANEL)
                    usage_error("option --show: unknown panel '%s' (image, label, pred, regions, clusters)", tok);
                opt.show[k] = 1;
            }
            free(s);
            opt.show_given = 1;
            break;
        }
        case OPT_WINDOW:
            opt_f64_list("--window", optarg, opt.window, 2, -1e30, 1e30);
            if (!(opt.window[1] > opt.window[0]))
                usage_error("option --window: want LO,HI with LO < HI");
            opt.has_window = 1;
            break;
        case OPT_ZOOM: opt.zoom = (int)opt_i64("--zoom", optarg, 1, 64); break;
        case OPT_ALPHA: opt.alpha = opt_f64("--alpha", optarg, 0, 1); break;
        case OPT_OUTLINE: opt.outline = 1; break;
        case OPT_RFILL: opt.regions_fill = 1; break;
        case OPT_SEED: opt.seed = (uint64_t)opt_i64("--seed", optarg, 0, INT64_MAX); break;
        case OPT_K: opt.k = (int)opt_i64("--k", optarg, 1, 1 << 16); break;
        case OPT_ITERS: opt.iters = (int)opt_i64("--kmeans-iters", optarg, 0, 1000000); break;
        case OPT_LABELS: opt.labels_json = optarg; break;
        case OPT_NOLEGEND: opt.no_legend = 1; break;
        case OPT_NOTITLE: opt.no_title = 1; break;
        case OPT_FONT: opt.font_scale = (int)opt_i64("--font-scale", optarg, 1, 16); break;
        case OPT_SHEET: opt.sheet = 1; break;
        case OPT_EVERY: opt.every = (int)opt_i64("--every", optarg, 1, 1 << 20); break;
        case OPT_COLS: opt.cols = (int)opt_i64("--cols", optarg, 1, 1 << 12); break;
        case OPT_GT: opt.gt = 1; break;
        case OPT_TITLE: PUSH(opt.titles, opt.ntitles, optarg); break;
        case OPT_CURVE: PUSH(opt.curves, opt.ncurves, optarg); break;
        case OPT_X: opt.xkey = optarg; break;
        case OPT_Y: PUSH(opt.ykeys, opt.nykeys, optarg); break;
        case OPT_LOGY: opt.logy = 1; break;
        case OPT_RADIO: opt.radio = 1; break;
        case OPT_SIZE: {
            int64_t wh[2];
            char buf[64];
            snprintf(buf, sizeof buf, "%s", optarg);
            char *x = strchr(buf, 'x');
            if (!x)
                usage_error("option --size: want WxH, e.g. 800x500");
            *x = ',';
            if (parse_i64_list(buf, wh, 2) || wh[0] < 100 || wh[1] < 80 || wh[0] > 8000 || wh[1] > 8000)
                usage_error("option --size: want WxH, 100x80 to 8000x8000");
            opt.width = (int)wh[0], opt.height = (int)wh[1];
            break;
        }
        case 'h': usage(); return 0;
        default: usage_bad_option(argv);
        }
    }
    for (int i = optind; i < argc; i++)
        PUSH(opt.inputs, opt.ninputs, argv[i]);
    if (opt.labels_json)
        load_labels_json(opt.labels_json);
    if (opt.ncurves) {
        if (opt.ninputs)
            usage_error("give --curve logs or frame inputs, not both");
        if (!strcmp(opt.png, "%i_%z.png"))
            opt.png = "%i.png";
        view_curves();
        return 0;
    }
    if (!opt.ninputs)
        PUSH(opt.inputs, opt.ninputs, "-");
    if (opt.ntitles && opt.ntitles != opt.ninputs)
        usage_error("%d --title for %d inputs", opt.ntitles, opt.ninputs);
    if (opt.gt && opt.ninputs < 2)
        usage_error("--gt adds a column beside several inputs; with one input, --show label,pred");
    if (opt.ninputs > 1)
        view_columns();
    else
        view_stream(opt.inputs[0]);
    if (!nwritten)
        log_warn("no picture written (nothing selected?)");
    return 0;
}
