/*
 * frame-view — pictures of frames: PNG files of slices with their label,
 * prediction, region and K-means cluster maps, elastic-aug pairs, contact
 * sheets of volumes, several streams side by side (the paper's Figure 2),
 * regions beside feature clusters (its Figure 3), and training curves from
 * metrics logs.
 *
 * It writes files, not frames: standard output stays empty; -v names every
 * file written on standard error. The pictures are made in libcommon/viz:
 * a record's panels (vslice), rows, grids and contact sheets (figure), file
 * names (picfiles), curves from metrics logs (curves); drawing (view, canvas,
 * plot, palette, font) and K-means (kmeans) under them.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "core/json.h"
#include "io/labels.h"
#include "io/frame.h"
#include "io/stream.h"
#include "viz/canvas.h"
#include "viz/curves.h"
#include "viz/figure.h"
#include "viz/font.h"
#include "viz/kmeans.h"
#include "viz/palette.h"
#include "viz/picfiles.h"
#include "viz/vslice.h"
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
           "      --size WxH          picture size (default 800x500)\n",
           err_progname, err_progname);
    filter_usage_common("name every file written (repeatable)");
}

enum {
    OPT_PNG = 0x100, OPT_ID, OPT_Z, OPT_SHOW, OPT_WINDOW, OPT_ZOOM, OPT_ALPHA, OPT_OUTLINE, OPT_RFILL, OPT_SEED,
    OPT_K, OPT_ITERS, OPT_LABELS, OPT_NOLEGEND, OPT_NOTITLE, OPT_FONT, OPT_SHEET, OPT_EVERY, OPT_COLS, OPT_GT,
    OPT_TITLE, OPT_CURVE, OPT_X, OPT_Y, OPT_LOGY, OPT_SIZE, OPT_RADIO
};

#define NPANEL VS_NPANEL
#define panel_name vslice_panel_names

static struct {
    strlist inputs, ids, titles, curves, ykeys;
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

/* Organ names by label value (--labels-json, else the first meta 'classes'). */
static char *names[LABELS_MAX];
static int nnames, names_fixed;

/* ---- output files ---- */

static picfiles files;

static void write_png(const canvas *c, const char *id, const char *zs, int64_t seq)
{
    int rc;
    files.pattern = opt.png;
    rc = picfiles_write(&files, c, id, zs, seq);
    if (rc == -2)
        usage_error("--png '%s': %s", opt.png, err_get());
    if (rc)
        die_err(1);
}

/* ---- reading tensors of one slice (vslice.h; an error ends the run) ---- */

typedef vslice slice_ref;

static uint8_t *get_labels(const slice_ref *s, const char *name)
{
    uint8_t *p;
    if (vslice_labels(s, name, &p))
        die_err(1);
    return p;
}

/* Names of meta 'classes' that no earlier list gave. */
static void adopt_names(const frame *f)
{
    char *more[LABELS_MAX] = {0};
    int n = 0, r = names_fixed ? 1 : labels_from_meta(&f->meta, more, &n);
    if (r < 0)
        die(1, "%s z=%lld: %s", f->id ? f->id : "?", (long long)f->z, err_get());
    for (int i = 0; i < n; i++)
        if (!names[i])
            names[i] = more[i], more[i] = NULL;
    nnames = n > nnames ? n : nnames;
    labels_free(more);
}

static void load_labels_json(const char *path)
{
    if (labels_load(path, names, &nnames))
        die_err(1);
    names_fixed = 1;
}

/* ---- panels ---- */

typedef figure_panel panel;

/* The figure style of the options (and the class names known so far). */
static figure_style style(void)
{
    return (figure_style){.no_title = opt.no_title, .no_legend = opt.no_legend, .font_scale = opt.font_scale,
                          .zoom = opt.zoom, .names = (const char *const *)names, .nnames = nnames};
}

static panel *new_panel(figure *fig, const float *img, int Y, int X, const double w[2], const char *title)
{
    figure_style st = style();
    panel *p = figure_add(fig, &st, img, Y, X, w, title);
    if (!p)
        die_err(1);
    return p;
}

static void add_labels(figure *fig, panel *p, const uint8_t *lab, int Y, int X)
{
    figure_style st = style();
    figure_labels(fig, p, &st, lab, Y, X, opt.alpha, opt.outline);
}

/* Panels of one slice (or of a pair record). */
static void build_figure(figure *fig, const slice_ref *s)
{
    figure_style st = style();
    vslice_panels po = {.show_given = opt.show_given, .window = opt.has_window ? opt.window : NULL,
                        .alpha = opt.alpha, .outline = opt.outline, .regions_fill = opt.regions_fill,
                        .seed = opt.seed, .k = opt.k, .iters = opt.iters};
    memcpy(po.show, opt.show, sizeof po.show);
    if (vslice_figure(fig, s, &po, &st))
        die_err(1);
}

/* Panels in a row (titles above), a caption on top, the legend below. */
static void compose(canvas *out, const figure *fig, const char *caption, const figure_style *st)
{
    if (figure_compose(out, fig, caption, st))
        die_err(1);
}

/* ---- contact sheets: tiles kept per volume ---- */

typedef figure_tile tile;

static figure_sheet *sheets;
static int nsheets;

static void flush_sheets(void)
{
    figure_style st = style();
    for (int i = 0; i < nsheets; i++) {
        canvas out;
        if (figure_sheet_compose(&out, &sheets[i], opt.cols, &st))
            die_err(1);
        write_png(&out, sheets[i].id, "sheet", sheets[i].seq);
        canvas_free(&out);
        figure_sheet_free(&sheets[i]);
    }
    free(sheets);
    sheets = NULL;
    nsheets = 0;
}

/* ---- one stream ---- */

static int selected(const frame *f)
{
    return !opt.ids.n || (f->id && strlist_wants(&opt.ids, f->id));
}

/* The slices of a record: itself, or the selected z of a volume record. */
static int slices_of(const frame *f, slice_ref **out)
{
    int n = vslice_list(f, opt.zlo, opt.zhi, opt.every, opt.radio, out);
    if (n < 0)
        die_err(1);
    return n;
}

/* Call fn on every selected slice of the stream spec. */
static void each_slice(const char *spec, void (*fn)(const frame *f, const slice_ref *s, void *ctx), void *ctx)
{
    stream_in *in = stream_in_open(spec);
    frame f;
    int r;
    if (!in)
        die_err(1);
    while ((r = stream_in_next(in, &f)) == 1) {
        if (selected(&f)) {
            slice_ref *sl;
            adopt_names(&f);
            for (int i = 0, n = slices_of(&f, &sl); i < n; i++)
                fn(&f, &sl[i], ctx);
            free(sl);
        }
        frame_free(&f);
    }
    if (r < 0)
        die_err(1);
    stream_in_close(in);
}

/* One slice's picture, or its tile of the volume's sheet. */
static void view_slice(const frame *f, const slice_ref *s, void *ctx)
{
    figure fig;
    canvas out;
    char cap[300], zs[32];
    (void)ctx;
    if (opt.sheet && s->zi < 0 && s->z % opt.every)
        return;
    build_figure(&fig, s);
    snprintf(zs, sizeof zs, "%lld", (long long)s->z);
    if (opt.sheet) {
        figure_sheet *sh = figure_sheet_of(&sheets, &nsheets, f->id);
        if (!sh)
            die_err(1);
        if (!sh->n)
            sh->seq = f->seq;
        if (figure_sheet_add(sh, &fig.p[0].c, s->z, fig.present))
            die_err(1);
    } else {
        figure_style st = style();
        snprintf(cap, sizeof cap, "%s  z=%s", f->id ? f->id : "-", zs);
        compose(&out, &fig, cap, &st);
        write_png(&out, f->id, zs, f->seq);
        canvas_free(&out);
    }
    figure_free(&fig);
}

static void view_stream(const char *spec)
{
    each_slice(spec, view_slice, NULL);
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
    const char *spec;
    cell *c;
    int n;
} column;

/* A slice of a column: its grey image and maps. */
static void add_cell(const frame *f, const slice_ref *s, void *ctx)
{
    column *col = ctx;
    cell c = {0};
    c.id = strdup(f->id ? f->id : "noid");
    c.z = s->z;
    c.seq = f->seq;
    c.Y = s->Y, c.X = s->X;
    for (int k = 0; k < col->n; k++)
        if (col->c[k].z == c.z && !strcmp(col->c[k].id, c.id))
            die(1, "%s: slice %s z=%lld given twice", col->spec, c.id, (long long)c.z);
    if (vslice_grey(s, opt.has_window ? opt.window : NULL, &c.grey))
        die_err(1);
    c.map = get_labels(s, "pred");
    c.gt = get_labels(s, "label");
    if (!c.map && c.gt) {
        c.map = filter_malloc((size_t)c.Y * (size_t)c.X);
        memcpy(c.map, c.gt, (size_t)c.Y * (size_t)c.X);
    }
    col->c = filter_push(col->c, &col->n, sizeof *col->c);
    col->c[col->n - 1] = c;
}

static void read_column(const char *spec, column *col)
{
    memset(col, 0, sizeof *col);
    col->spec = spec;
    each_slice(spec, add_cell, col);
}

static panel *cell_panel(figure *fig, const cell *c, const cell *base, const uint8_t *map, const char *title)
{
    float *img = filter_malloc(sizeof *img * (size_t)c->Y * (size_t)c->X);
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

static const cell *find_cell(const column *col, const char *id, int64_t z)
{
    for (int j = 0; j < col->n; j++)
        if (col->c[j].z == z && !strcmp(col->c[j].id, id))
            return &col->c[j];
    return NULL;
}

static const char *column_title(int i)
{
    static char buf[256];
    if (i < opt.titles.n)
        return opt.titles.v[i];
    const char *b = strrchr(opt.inputs.v[i], '/');
    snprintf(buf, sizeof buf, "%s", b ? b + 1 : opt.inputs.v[i]);
    return buf;
}

static void view_columns(void)
{
    column *cols = filter_malloc(sizeof *cols * (size_t)opt.inputs.n);
    for (int i = 0; i < opt.inputs.n; i++)
        read_column(opt.inputs.v[i], &cols[i]);
    /* Rows: the slices of the first input; every other input must have
     * exactly the same (id, z). */
    for (int i = 1; i < opt.inputs.n; i++) {
        if (cols[i].n != cols[0].n)
            die(1, "%s has %d slices, %s %d: the streams must hold the same (id, z)", opt.inputs.v[i], cols[i].n,
                opt.inputs.v[0], cols[0].n);
        for (int k = 0; k < cols[0].n; k++)
            if (!find_cell(&cols[i], cols[0].c[k].id, cols[0].c[k].z))
                die(1, "%s: no slice %s z=%lld, which %s has", opt.inputs.v[i], cols[0].c[k].id,
                    (long long)cols[0].c[k].z, opt.inputs.v[0]);
    }
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
                die(1, "%s: slice %s z=%lld has no 'label' for --gt", opt.inputs.v[0], c0->id, (long long)c0->z);
            cell_panel(&fig, c0, c0, c0->gt, "ground truth");
        }
        for (int i = 0; i < opt.inputs.n; i++) {
            const cell *c = find_cell(&cols[i], c0->id, c0->z);
            if (c->Y != c0->Y || c->X != c0->X)
                die(1, "%s: slice %s z=%lld is %dx%d, in %s %dx%d", opt.inputs.v[i], c0->id, (long long)c0->z, c->Y,
                    c->X, opt.inputs.v[0], c0->Y, c0->X);
            cell_panel(&fig, c, c0, c->map, column_title(i));
        }
        canvas out;
        char cap[300], zs[32];
        snprintf(cap, sizeof cap, "%s  z=%lld", c0->id, (long long)c0->z);
        snprintf(zs, sizeof zs, "%lld", (long long)c0->z);
        figure_style st = style();
        if (opt.sheet) {
            /* One row per slice; rows of a volume stacked into one picture. */
            figure_style row = st;
            row.no_legend = 1;
            compose(&out, &fig, cap, &row);
            rows = filter_push(rows, &nrows, sizeof *rows);
            rows[nrows - 1].z = c0->z;
            rows[nrows - 1].c = out;
            for (int v = 0; v < 256; v++)
                present[v] |= fig.present[v];
            int last = k + 1 >= cols[0].n || strcmp(cols[0].c[k + 1].id, c0->id);
            if (last) {
                canvas sheet_c;
                figure_style grid = st;
                grid.no_title = 1; /* each row has its caption */
                if (figure_grid(&sheet_c, rows, nrows, 1, c0->id, present, 0, &grid))
                    die_err(1);
                write_png(&sheet_c, c0->id, "sheet", c0->seq);
                canvas_free(&sheet_c);
                for (int r = 0; r < nrows; r++)
                    canvas_free(&rows[r].c);
                nrows = 0;
                memset(present, 0, sizeof present);
            }
        } else {
            compose(&out, &fig, cap, &st);
            write_png(&out, c0->id, zs, c0->seq);
            canvas_free(&out);
        }
        figure_free(&fig);
    }
    free(rows);
    for (int i = 0; i < opt.inputs.n; i++) {
        for (int k = 0; k < cols[i].n; k++)
            free(cols[i].c[k].id), free(cols[i].c[k].grey), free(cols[i].c[k].map), free(cols[i].c[k].gt);
        free(cols[i].c);
    }
    free(cols);
}

/* ---- training curves ---- */

static void view_curves(void)
{
    const char *defy = "loss", *const *ykeys = opt.ykeys.n ? opt.ykeys.v : &defy;
    int sc = opt.font_scale ? opt.font_scale : opt.width > 1000 ? 2 : 1;
    canvas c;
    if (curves_plot(&c, opt.curves.v, opt.curves.n, opt.xkey, ykeys, opt.ykeys.n ? opt.ykeys.n : 1, opt.width,
                    opt.height, opt.no_title ? NULL : "training curve", opt.logy, sc))
        die_err(1);
    const char *b = strrchr(opt.curves.v[0], '/');
    char id[256];
    snprintf(id, sizeof id, "%s", b ? b + 1 : opt.curves.v[0]);
    char *dot = strrchr(id, '.');
    if (dot && dot != id)
        *dot = '\0';
    write_png(&c, id, "curve", 0);
    canvas_free(&c);
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
        FILTER_LONGOPTS_END,
    };
    int c;
    filter_init(argc, argv);
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'i': strlist_add(&opt.inputs, optarg); break;
        case OPT_PNG: opt.png = optarg; break;
        case OPT_ID: strlist_add(&opt.ids, optarg); break;
        case OPT_Z:
            if (parse_i64_range(optarg, &opt.zlo, &opt.zhi))
                usage_error("option --z: %s", err_get());
            break;
        case OPT_SHOW:
            if (vslice_parse_show(optarg, opt.show))
                usage_error("option --show: %s", err_get());
            opt.show_given = 1;
            break;
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
        case OPT_TITLE: strlist_add(&opt.titles, optarg); break;
        case OPT_CURVE: strlist_add(&opt.curves, optarg); break;
        case OPT_X: opt.xkey = optarg; break;
        case OPT_Y: strlist_add(&opt.ykeys, optarg); break;
        case OPT_LOGY: opt.logy = 1; break;
        case OPT_RADIO: opt.radio = 1; break;
        case OPT_SIZE: {
            int64_t w, h;
            if (parse_wxh(optarg, &w, &h, 80, 8000) || w < 100)
                usage_error("option --size: want WxH, 100x80 to 8000x8000");
            opt.width = (int)w, opt.height = (int)h;
            break;
        }
        }
    }
    strlist_add_argv(&opt.inputs, optind, argc, argv);
    if (opt.labels_json)
        load_labels_json(opt.labels_json);
    if (opt.curves.n) {
        if (opt.inputs.n)
            usage_error("give --curve logs or frame inputs, not both");
        if (!strcmp(opt.png, "%i_%z.png"))
            opt.png = "%i.png";
        view_curves();
        return 0;
    }
    filter_inputs(&opt.inputs, argc, argc, argv);
    if (opt.titles.n && opt.titles.n != opt.inputs.n)
        usage_error("%d --title for %d inputs", opt.titles.n, opt.inputs.n);
    if (opt.gt && opt.inputs.n < 2)
        usage_error("--gt adds a column beside several inputs; with one input, --show label,pred");
    if (opt.inputs.n > 1)
        view_columns();
    else
        view_stream(opt.inputs.v[0]);
    if (!files.n)
        log_warn("no picture written (nothing selected?)");
    return 0;
}
