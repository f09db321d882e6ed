/* frame-view and its libcommon parts: the font, PNG files read back with
 * libpng, k-means on data with known clusters, overlay pixel counts equal to
 * the label counts (slices, zoom, sheets, columns), region and cluster
 * colours fixed by --seed, pairs in matching colours, training curves, and
 * bad input. Standard output must stay empty in every run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/rng.h"
#include "io/frame.h"
#include "io/nii.h"
#include "io/npy.h"
#include "io/stream.h"
#include "testutil.h"
#include "viz/canvas.h"
#include "viz/font.h"
#include "viz/kmeans.h"
#include "viz/palette.h"

/* Run frame-view (args printf-style); stdout must stay empty. */
static int fv(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fv(char **err, const char *fmt, ...)
{
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *e = NULL;
    int rc = tu_sh_err(&e, "frame-view %s > %s", args, tu_tmp("stdout"));
    struct stat st;
    assert_int_equal(stat(tu_tmp("stdout"), &st), 0);
    if (st.st_size)
        fail_msg("frame-view %s: wrote %lld bytes on stdout", args, (long long)st.st_size);
    if (err)
        *err = e;
    else {
        if (rc)
            fail_msg("frame-view %s: status %d: %s", args, rc, e);
        free(e);
    }
    return rc;
}

static canvas read_png(const char *path)
{
    canvas c;
    if (canvas_read_png(&c, path))
        fail_msg("%s", err_get());
    return c;
}

static int64_t count_colour(const canvas *c, int x0, int y0, int w, int h, uint32_t rgb)
{
    int64_t n = 0;
    for (int y = y0; y < y0 + h; y++)
        for (int x = x0; x < x0 + w; x++)
            n += canvas_get(c, x, y) == rgb;
    return n;
}

/* ---- libcommon ---- */

static void test_font(void **state)
{
    (void)state;
    for (int ch = 0x21; ch <= 0x7E; ch++) {
        int on = 0;
        for (int r = 0; r < FONT_H; r++) {
            uint8_t b = font_glyph_row((unsigned char)ch, r);
            assert_true(b < (1 << FONT_W));
            on += b != 0;
        }
        if (!on)
            fail_msg("glyph '%c' is empty", ch);
    }
    for (int r = 0; r < FONT_H; r++)
        assert_int_equal(font_glyph_row(' ', r), 0);
    /* Descenders only where they belong. */
    assert_int_not_equal(font_glyph_row('g', 7), 0);
    assert_int_equal(font_glyph_row('a', 7), 0);
    assert_int_equal(font_text_width("ab", 1), 11);
    assert_int_equal(font_text_width("ab\nc", 2), 22);
    assert_int_equal(font_text_height("x\ny", 1), 17);
    /* Unknown bytes draw as '?'. */
    assert_int_equal(font_glyph_row(0x80, 0), font_glyph_row('?', 0));
}

static void test_png_roundtrip(void **state)
{
    (void)state;
    canvas c, d;
    rng r;
    rng_seed(&r, 1, 0);
    assert_int_equal(canvas_init(&c, 37, 19, 0x102030), 0);
    for (int i = 0; i < 37 * 19 * 3; i++)
        c.rgb[i] = (uint8_t)rng_u32(&r);
    canvas_text(&c, 1, 1, "Dice 0.83", 0xffffff, 1);
    assert_int_equal(canvas_write_png(&c, tu_tmp("rt.png")), 0);
    d = read_png(tu_tmp("rt.png"));
    assert_int_equal(d.w, 37);
    assert_int_equal(d.h, 19);
    assert_memory_equal(c.rgb, d.rgb, 37 * 19 * 3);
    canvas_free(&d);
    /* The same pixels give the same bytes (no time chunk). */
    assert_int_equal(canvas_write_png(&c, tu_tmp("rt2.png")), 0);
    size_t n1, n2;
    char *a = tu_read(tu_tmp("rt.png"), &n1), *b = tu_read(tu_tmp("rt2.png"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(a, b, n1);
    free(a), free(b);
    canvas_free(&c);
    /* Not a PNG; a truncated PNG. */
    assert_int_equal(tu_write(tu_tmp("no.png"), "hello", 5), 0);
    assert_int_equal(canvas_read_png(&d, tu_tmp("no.png")), -1);
    assert_non_null(strstr(err_get(), "not a PNG"));
    a = tu_read(tu_tmp("rt.png"), &n1);
    assert_int_equal(tu_write(tu_tmp("cut.png"), a, n1 / 2), 0);
    free(a);
    assert_int_equal(canvas_read_png(&d, tu_tmp("cut.png")), -1);
    assert_non_null(strstr(err_get(), "PNG"));
}

/* Points around K well separated centres: every true cluster must become
 * exactly one k-means cluster. */
static void test_kmeans_known_clusters(void **state)
{
    (void)state;
    enum { K = 5, D = 8, N = 1000 };
    float *x = malloc(sizeof(float) * N * D), cen[K * D], out[K * D];
    int truth[N];
    int32_t a[N], b[N];
    rng r;
    rng_seed(&r, 42, 0);
    for (int k = 0; k < K * D; k++)
        cen[k] = (float)(20 * rng_normal(&r));
    for (int i = 0; i < N; i++) {
        truth[i] = (int)rng_below(&r, K);
        for (int j = 0; j < D; j++)
            x[i * D + j] = cen[truth[i] * D + j] + (float)rng_normal(&r);
    }
    kmeans_info info;
    assert_int_equal(kmeans(a, out, x, N, D, K, 100, 7, &info), 0);
    assert_true(info.converged);
    int map[K];
    for (int k = 0; k < K; k++)
        map[k] = -1;
    for (int i = 0; i < N; i++) {
        if (map[truth[i]] < 0)
            map[truth[i]] = a[i];
        if (map[truth[i]] != a[i])
            fail_msg("point %d of true cluster %d in cluster %d, others in %d", i, truth[i], a[i], map[truth[i]]);
    }
    for (int k = 0; k < K; k++)
        for (int l = 0; l < k; l++)
            assert_int_not_equal(map[k], map[l]);
    /* Inertia agrees with the centres returned; same seed, same result. */
    double in = 0;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++) {
            double t = (double)x[i * D + j] - out[a[i] * D + j];
            in += t * t;
        }
    assert_true(fabs(in - info.inertia) <= 1e-5 * info.inertia);
    assert_int_equal(kmeans(b, NULL, x, N, D, K, 100, 7, NULL), 0);
    assert_memory_equal(a, b, sizeof a);
    print_message("k-means: %d iterations, inertia %.1f (%.3f per point and dimension; noise variance 1)\n",
                  info.iters, info.inertia, info.inertia / (N * D));
    /* Four distinct points, each repeated: K = 4 finds them exactly. */
    for (int i = 0; i < 40; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)((i % 4) * 10 + j);
    assert_int_equal(kmeans(a, NULL, x, 40, D, 4, 100, 1, &info), 0);
    assert_true(info.inertia == 0);
    for (int i = 4; i < 40; i++)
        assert_int_equal(a[i], a[i % 4]);
    /* Bad sizes. */
    assert_int_equal(kmeans(a, NULL, x, 3, D, 4, 10, 1, NULL), -1);
    assert_int_equal(kmeans(a, NULL, x, 3, D, 0, 10, 1, NULL), -1);
    free(x);
}

/* ---- frames for the filter ---- */

typedef struct {
    int Y, X;
    float *img;
    uint8_t *lab;
} sample_slice;

/* Slice z of the bundled subj03 CT and labels. */
static sample_slice load_slice(int z)
{
    char p1[1024], p2[1024];
    nii_image ct, sg;
    snprintf(p1, sizeof p1, "%s/subj03_ct.nii.gz", tu_sample());
    snprintf(p2, sizeof p2, "%s/subj03_seg.nii.gz", tu_sample());
    if (nii_read(p1, &ct, NII_F32) || nii_read(p2, &sg, NII_NATIVE))
        fail_msg("%s", err_get());
    sample_slice s;
    s.Y = (int)ct.data.shape[1];
    s.X = (int)ct.data.shape[2];
    size_t n = (size_t)s.Y * s.X;
    s.img = malloc(sizeof(float) * n);
    s.lab = malloc(n);
    memcpy(s.img, (float *)ct.data.data + (size_t)z * n, sizeof(float) * n);
    memcpy(s.lab, (uint8_t *)sg.data.data + (size_t)z * n, n);
    nii_free(&ct);
    nii_free(&sg);
    return s;
}

static void add_tensor(frame *f, const char *name, dtype dt, int rank, const int64_t *shape, const void *data)
{
    tensor t;
    assert_int_equal(tensor_init(&t, dt, rank, shape), 0);
    memcpy(t.data, data, tensor_nbytes(&t));
    assert_int_equal(frame_tensor_add(f, name, &t), 0);
}

static void write_frames(const char *path, frame *fs, int n)
{
    stream_out *o = stream_out_open(path);
    if (!o || stream_out_start(o, NULL))
        fail_msg("%s", err_get());
    for (int i = 0; i < n; i++)
        if (stream_out_write(o, &fs[i]))
            fail_msg("%s", err_get());
    if (stream_out_end(o) || stream_out_close(o))
        fail_msg("%s", err_get());
}

static void count_labels(const uint8_t *lab, size_t n, int64_t cnt[256])
{
    memset(cnt, 0, 256 * sizeof *cnt);
    for (size_t i = 0; i < n; i++)
        cnt[lab[i]]++;
}

/* Overlay pixels of each organ (opaque fill) = its voxel count x zoom^2. */
static void test_overlay_counts(void **state)
{
    (void)state;
    sample_slice s = load_slice(80);
    const int64_t sh[2] = {s.Y, s.X};
    size_t n = (size_t)s.Y * s.X;
    frame f;
    frame_init(&f, FRAME_DATA);
    frame_set_id(&f, "subj03");
    f.z = 80;
    add_tensor(&f, "image", DT_F32, 2, sh, s.img);
    add_tensor(&f, "label", DT_U8, 2, sh, s.lab);
    uint8_t *pred = malloc(n);
    for (size_t i = 0; i < n; i++)
        pred[i] = i >= 3 ? s.lab[i - 3] : 0;
    add_tensor(&f, "pred", DT_U8, 2, sh, pred);
    write_frames(tu_tmp("ov.frames"), &f, 1);
    frame_free(&f);
    int64_t cl[256], cp[256];
    count_labels(s.lab, n, cl);
    count_labels(pred, n, cp);
    int organs = 0;
    for (int v = 1; v < 256; v++)
        organs += cl[v] > 0;
    assert_true(organs >= 3);

    for (int zoom = 1; zoom <= 3; zoom += 2) {
        fv(NULL, "--show label --alpha 1 --zoom %d --no-legend --no-title --window -160,240 --png %s/ov%d.png %s",
           zoom, tu_tmpdir(), zoom, tu_tmp("ov.frames"));
        char p[64];
        snprintf(p, sizeof p, "ov%d.png", zoom);
        canvas c = read_png(tu_tmp(p));
        assert_int_equal(c.w, s.X * zoom);
        assert_int_equal(c.h, s.Y * zoom);
        for (int v = 1; v < 256; v++)
            if (cl[v] && count_colour(&c, 0, 0, c.w, c.h, palette_label(v)) != cl[v] * zoom * zoom)
                fail_msg("zoom %d organ %d: %lld pixels, %lld voxels", zoom, v,
                         (long long)count_colour(&c, 0, 0, c.w, c.h, palette_label(v)), (long long)cl[v]);
        canvas_free(&c);
    }
    /* Two panels (label | pred) side by side, 4 pixels apart; the turned
     * picture has the same counts, pixel (x, y) showing voxel (X-1-x, Y-1-y). */
    fv(NULL, "--show label,pred --alpha 1 --zoom 1 --no-legend --no-title --radiological --png %s/ov2.png %s",
       tu_tmpdir(), tu_tmp("ov.frames"));
    canvas c = read_png(tu_tmp("ov2.png"));
    assert_int_equal(c.w, 2 * s.X + 4);
    for (int v = 1; v < 256; v++) {
        assert_int_equal(count_colour(&c, 0, 0, s.X, s.Y, palette_label(v)), cl[v]);
        assert_int_equal(count_colour(&c, s.X + 4, 0, s.X, s.Y, palette_label(v)), cp[v]);
    }
    for (int y = 0; y < s.Y; y++)
        for (int x = 0; x < s.X; x++) {
            uint8_t v = s.lab[(size_t)(s.Y - 1 - y) * s.X + (s.X - 1 - x)];
            if (v)
                assert_int_equal(canvas_get(&c, x, y), palette_label(v));
        }
    canvas_free(&c);
    /* With titles and legend: taller, and the legend shows each organ's colour. */
    fv(NULL, "--show label --alpha 1 --zoom 1 --labels-json %s/labels.json --png %s/ov3.png %s", tu_sample(),
       tu_tmpdir(), tu_tmp("ov.frames"));
    c = read_png(tu_tmp("ov3.png"));
    assert_true(c.h > s.Y);
    for (int v = 1; v < 256; v++)
        if (cl[v])
            assert_true(count_colour(&c, 0, 0, c.w, c.h, palette_label(v)) > cl[v]);
    canvas_free(&c);
    free(pred), free(s.img), free(s.lab);
}

/* Real region maps (Felzenszwalb from scikit-image on a real slice), random
 * colours fixed by --seed; a pair's regions in matching colours; K-means of
 * features with known clusters recovers them. */
static int32_t *real_regions(const sample_slice *s, int32_t *kmax)
{
    npy_write(tu_tmp("slice.npy"), &(tensor){DT_F32, 2, {s->Y, s->X}, s->img});
    int rc = tu_sh("%s -c 'import numpy as np; from skimage.segmentation import felzenszwalb\n"
                   "a = np.load(\"%s\"); a = np.clip((a + 160) / 400, 0, 1)\n"
                   "np.save(\"%s\", felzenszwalb(a, scale=100, sigma=0.5, min_size=20).astype(np.int32))'",
                   tu_python(), tu_tmp("slice.npy"), tu_tmp("reg.npy"));
    assert_int_equal(rc, 0);
    tensor t;
    if (npy_read(tu_tmp("reg.npy"), &t))
        fail_msg("%s", err_get());
    int32_t *r = malloc(tensor_nbytes(&t));
    memcpy(r, t.data, tensor_nbytes(&t));
    *kmax = -1;
    for (size_t i = 0; i < tensor_numel(&t); i++)
        *kmax = r[i] > *kmax ? r[i] : *kmax;
    tensor_free(&t);
    return r;
}

static void test_regions_pairs_clusters(void **state)
{
    (void)state;
    sample_slice s = load_slice(88);
    int32_t kmax;
    int32_t *reg = real_regions(&s, &kmax);
    assert_true(kmax >= 5);
    const int64_t sh[2] = {s.Y, s.X};
    size_t n = (size_t)s.Y * s.X;
    /* A pair: the second view is the first moved down 5 rows (region -1 above). */
    float *img2 = calloc(n, sizeof(float));
    int32_t *reg2 = malloc(n * sizeof(int32_t));
    for (size_t i = 0; i < n; i++) {
        reg2[i] = i >= (size_t)5 * s.X ? reg[i - 5 * s.X] : -1;
        img2[i] = i >= (size_t)5 * s.X ? s.img[i - 5 * s.X] : 0;
    }
    /* Features [D, Y, X]: K = 4 centres, by region mod 4, plus noise. */
    enum { D = 6, K = 4 };
    float *feat = malloc(sizeof(float) * D * n);
    rng r;
    rng_seed(&r, 9, 0);
    float cen[K][D];
    for (int k = 0; k < K; k++)
        for (int d = 0; d < D; d++)
            cen[k][d] = (float)(10 * rng_normal(&r));
    for (int d = 0; d < D; d++)
        for (size_t i = 0; i < n; i++)
            feat[d * n + i] = cen[reg[i] % K][d] + (float)(0.3 * rng_normal(&r));
    frame fs[2];
    frame_init(&fs[0], FRAME_DATA);
    frame_set_id(&fs[0], "subj03");
    fs[0].z = 88;
    add_tensor(&fs[0], "image", DT_F32, 2, sh, s.img);
    add_tensor(&fs[0], "regions", DT_I32, 2, sh, reg);
    const int64_t fsh[3] = {D, s.Y, s.X};
    add_tensor(&fs[0], "features", DT_F32, 3, fsh, feat);
    write_frames(tu_tmp("feat.frames"), fs, 1);
    frame_init(&fs[1], FRAME_DATA);
    frame_set_id(&fs[1], "subj03");
    fs[1].z = 88;
    add_tensor(&fs[1], "image", DT_F32, 2, sh, s.img);
    add_tensor(&fs[1], "regions", DT_I32, 2, sh, reg);
    add_tensor(&fs[1], "image_p", DT_F32, 2, sh, img2);
    add_tensor(&fs[1], "regions_p", DT_I32, 2, sh, reg2);
    write_frames(tu_tmp("pair.frames"), &fs[1], 1);
    frame_free(&fs[0]);
    frame_free(&fs[1]);

    /* Filled regions: every pixel in its region's colour for the seed. */
    const char *common = "--alpha 1 --zoom 1 --no-legend --no-title --regions-fill";
    fv(NULL, "%s --show regions --seed 5 --png %s/r5.png %s", common, tu_tmpdir(), tu_tmp("feat.frames"));
    fv(NULL, "%s --show regions --seed 5 --png %s/r5b.png %s", common, tu_tmpdir(), tu_tmp("feat.frames"));
    fv(NULL, "%s --show regions --seed 6 --png %s/r6.png %s", common, tu_tmpdir(), tu_tmp("feat.frames"));
    canvas c = read_png(tu_tmp("r5.png"));
    for (size_t i = 0; i < n; i++)
        if (canvas_get(&c, (int)(i % s.X), (int)(i / s.X)) != palette_random(5, 0, reg[i]))
            fail_msg("pixel %zu: region %d not in its colour", i, reg[i]);
    canvas_free(&c);
    size_t l1, l2, l3;
    char *a = tu_read(tu_tmp("r5.png"), &l1), *b = tu_read(tu_tmp("r5b.png"), &l2), *d = tu_read(tu_tmp("r6.png"), &l3);
    assert_true(l1 == l2 && !memcmp(a, b, l1));
    assert_true(l1 != l3 || memcmp(a, d, l1));
    free(a), free(b), free(d);

    /* The pair: region k in the same colour in both views. */
    fv(NULL, "%s --seed 5 --png %s/pair.png %s", common, tu_tmpdir(), tu_tmp("pair.frames"));
    c = read_png(tu_tmp("pair.png"));
    assert_int_equal(c.w, 2 * s.X + 4);
    for (size_t i = 0; i < n; i++) {
        int x = (int)(i % s.X), y = (int)(i / s.X);
        if (reg2[i] >= 0)
            assert_int_equal(canvas_get(&c, s.X + 4 + x, y), palette_random(5, 0, reg2[i]));
        assert_int_equal(canvas_get(&c, x, y), palette_random(5, 0, reg[i]));
    }
    canvas_free(&c);
    /* Boundaries: only pixels next to another region are coloured. */
    fv(NULL, "--zoom 1 --no-legend --no-title --show regions --seed 5 --png %s/rb.png %s", tu_tmpdir(),
       tu_tmp("feat.frames"));
    c = read_png(tu_tmp("rb.png"));
    int64_t coloured = 0, edges = 0;
    for (int y = 0; y < s.Y; y++)
        for (int x = 0; x < s.X; x++) {
            int32_t k = reg[(size_t)y * s.X + x];
            int e = (x > 0 && reg[(size_t)y * s.X + x - 1] != k) || (x < s.X - 1 && reg[(size_t)y * s.X + x + 1] != k) ||
                    (y > 0 && reg[(size_t)(y - 1) * s.X + x] != k) || (y < s.Y - 1 && reg[(size_t)(y + 1) * s.X + x] != k);
            edges += e;
            coloured += canvas_get(&c, x, y) == palette_random(5, 0, k);
        }
    assert_int_equal(coloured, edges);
    canvas_free(&c);

    /* Figure 3: regions | K-means clusters; with K = 4 the clusters are the
     * classes region mod 4, whatever colours they get. */
    fv(NULL, "--zoom 1 --no-legend --no-title --show regions,clusters --k 4 --seed 3 --png %s/fig3.png %s", tu_tmpdir(),
       tu_tmp("feat.frames"));
    c = read_png(tu_tmp("fig3.png"));
    assert_int_equal(c.w, 2 * s.X + 4);
    uint32_t colour_of[K] = {0};
    int seen[K] = {0};
    for (size_t i = 0; i < n; i++) {
        uint32_t col = canvas_get(&c, s.X + 4 + (int)(i % s.X), (int)(i / s.X));
        int k = reg[i] % K;
        if (!seen[k])
            colour_of[k] = col, seen[k] = 1;
        if (colour_of[k] != col)
            fail_msg("pixel %zu of class %d has colour %06x, the class %06x", i, k, col, colour_of[k]);
    }
    for (int k = 0; k < K; k++)
        for (int l = 0; l < k; l++)
            assert_int_not_equal(colour_of[k], colour_of[l]);
    canvas_free(&c);
    free(reg), free(reg2), free(img2), free(feat), free(s.img), free(s.lab);
}

/* A contact sheet of a volume record; columns of several streams. */
static void test_sheet_and_columns(void **state)
{
    (void)state;
    char ct[1024], sg[1024];
    snprintf(ct, sizeof ct, "%s/subj05_ct.nii.gz", tu_sample());
    snprintf(sg, sizeof sg, "%s/subj05_seg.nii.gz", tu_sample());
    assert_int_equal(tu_sh("frame-cat --from-nifti %s --label %s --set-id subj05 -o %s", ct, sg, tu_tmp("vol.frames")), 0);
    nii_image lab;
    if (nii_read(sg, &lab, NII_NATIVE))
        fail_msg("%s", err_get());
    int Z = (int)lab.data.shape[0], Y = (int)lab.data.shape[1], X = (int)lab.data.shape[2];
    fv(NULL, "--sheet --every 16 --cols 4 --show label --alpha 1 --zoom 1 --no-legend --no-title --png %s/%%i_%%z.png %s",
       tu_tmpdir(), tu_tmp("vol.frames"));
    canvas c = read_png(tu_tmp("subj05_sheet.png"));
    int tiles = (Z + 15) / 16, rows = (tiles + 3) / 4;
    assert_int_equal(c.w, 4 * X + 3 * 2);
    assert_int_equal(c.h, rows * Y + (rows - 1) * 2);
    int64_t want[256] = {0};
    const uint8_t *L = lab.data.data;
    for (int z = 0; z < Z; z += 16)
        for (size_t i = 0; i < (size_t)Y * X; i++)
            want[L[(size_t)z * Y * X + i]]++;
    for (int v = 1; v < 256; v++)
        assert_int_equal(count_colour(&c, 0, 0, c.w, c.h, palette_label(v)), want[v]);
    canvas_free(&c);

    /* Three streams of slices 60..62 (label | pred shifted by 1 | by 2) and a
     * ground-truth column: each column's counts are its map's. */
    frame fs[3][3];
    const int64_t sh[2] = {Y, X};
    uint8_t *p = malloc((size_t)Y * X);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++) {
            int z = 60 + j;
            frame *f = &fs[k][j];
            frame_init(f, FRAME_DATA);
            frame_set_id(f, "subj05");
            f->z = z;
            const uint8_t *sl = L + (size_t)z * Y * X;
            add_tensor(f, "label", DT_U8, 2, sh, sl);
            if (k) {
                for (size_t i = 0; i < (size_t)Y * X; i++)
                    p[i] = i >= (size_t)k * X ? sl[i - (size_t)k * X] : 0;
                add_tensor(f, "pred", DT_U8, 2, sh, p);
            }
        }
    write_frames(tu_tmp("c0.frames"), fs[0], 3);
    write_frames(tu_tmp("c1.frames"), fs[1], 3);
    /* the third stream in another order */
    frame rev[3] = {fs[2][2], fs[2][0], fs[2][1]};
    write_frames(tu_tmp("c2.frames"), rev, 3);
    fv(NULL, "--gt --title 'label only' --title shift1 --title shift2 --alpha 1 --zoom 1 --no-legend --no-title "
             "--png %s/col_%%z.png %s %s %s",
       tu_tmpdir(), tu_tmp("c0.frames"), tu_tmp("c1.frames"), tu_tmp("c2.frames"));
    for (int j = 0; j < 3; j++) {
        char name[64];
        snprintf(name, sizeof name, "col_%d.png", 60 + j);
        c = read_png(tu_tmp(name));
        assert_int_equal(c.w, 4 * X + 3 * 4);
        for (int col = 0; col < 4; col++) {
            const tensor *t = frame_tensor_get(&fs[col ? col - 1 : 0][j], col >= 2 ? "pred" : "label");
            int64_t cnt[256];
            count_labels(t->data, (size_t)Y * X, cnt);
            for (int v = 1; v < 256; v++)
                if (count_colour(&c, col * (X + 4), 0, X, Y, palette_label(v)) != cnt[v])
                    fail_msg("z %d column %d organ %d: %lld pixels, %lld voxels", 60 + j, col, v,
                             (long long)count_colour(&c, col * (X + 4), 0, X, Y, palette_label(v)), (long long)cnt[v]);
        }
        canvas_free(&c);
    }
    /* A stream that lacks a slice the first one has. */
    write_frames(tu_tmp("c3.frames"), fs[2], 2);
    char *err;
    assert_int_equal(fv(&err, "--png %s/x_%%z.png %s %s", tu_tmpdir(), tu_tmp("c0.frames"), tu_tmp("c3.frames")), 1);
    assert_non_null(strstr(err, "the streams must hold the same (id, z)"));
    free(err);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 3; j++)
            frame_free(&fs[k][j]);
    free(p);
    nii_free(&lab);
}

static void test_curve(void **state)
{
    (void)state;
    FILE *f = fopen(tu_tmp("m.jsonl"), "w");
    fprintf(f, "{\"event\": \"start\"}\n");
    for (int s = 1; s <= 200; s++)
        fprintf(f, "{\"step\": %d, \"loss\": %.6f, \"lr\": 0.001, \"time\": %.2f}\n", s, 3 * exp(-s / 50.0) + 0.2,
                s * 0.1);
    fclose(f);
    fv(NULL, "--curve %s --size 640x400 --png %s/curve.png", tu_tmp("m.jsonl"), tu_tmpdir());
    canvas c = read_png(tu_tmp("curve.png"));
    assert_int_equal(c.w, 640);
    assert_int_equal(c.h, 400);
    /* The loss line is drawn in the first series colour, across the plot. */
    int64_t line = count_colour(&c, 0, 0, c.w, c.h, palette_label(1));
    assert_true(line > 300);
    canvas_free(&c);
    fv(NULL, "--curve %s --y loss --y lr --logy --png %s/curve2.png", tu_tmp("m.jsonl"), tu_tmpdir());
    c = read_png(tu_tmp("curve2.png"));
    assert_true(count_colour(&c, 0, 0, c.w, c.h, palette_label(2)) > 300);
    canvas_free(&c);
    /* Broken and empty logs. */
    assert_int_equal(tu_write(tu_tmp("bad.jsonl"), "{\"step\": 1, \"loss\": 2}\n{\"step\": 2, \"loss\": \n", 43), 0);
    char *err;
    assert_int_equal(fv(&err, "--curve %s --png %s/b.png", tu_tmp("bad.jsonl"), tu_tmpdir()), 1);
    assert_non_null(strstr(err, "bad.jsonl:2:"));
    free(err);
    assert_int_equal(fv(&err, "--curve %s --y acc --png %s/b.png", tu_tmp("m.jsonl"), tu_tmpdir()), 1);
    assert_non_null(strstr(err, "no line has both 'step' and 'acc'"));
    free(err);
}

static void test_bad_input(void **state)
{
    (void)state;
    const int64_t sh[2] = {4, 5};
    float img[20] = {0};
    frame f[2];
    char *err;
    /* Float labels. */
    frame_init(&f[0], FRAME_DATA);
    frame_set_id(&f[0], "a");
    f[0].z = 0;
    add_tensor(&f[0], "label", DT_F32, 2, sh, img);
    write_frames(tu_tmp("fl.frames"), f, 1);
    frame_free(&f[0]);
    assert_int_equal(fv(&err, "--png %s/%%i_%%z.png %s", tu_tmpdir(), tu_tmp("fl.frames")), 1);
    assert_non_null(strstr(err, "'label' is f32; a label map must hold integers"));
    assert_int_equal(tu_count_lines(err), 1);
    free(err);
    /* Nothing to draw. */
    frame_init(&f[0], FRAME_DATA);
    frame_set_id(&f[0], "a");
    add_tensor(&f[0], "other", DT_F32, 2, sh, img);
    write_frames(tu_tmp("none.frames"), f, 1);
    frame_free(&f[0]);
    assert_int_equal(fv(&err, "--png %s/%%i_%%z.png %s", tu_tmpdir(), tu_tmp("none.frames")), 1);
    assert_non_null(strstr(err, "nothing to draw"));
    free(err);
    /* Two slices, one file name: refused rather than overwritten. */
    for (int i = 0; i < 2; i++) {
        frame_init(&f[i], FRAME_DATA);
        frame_set_id(&f[i], "a");
        f[i].z = i;
        add_tensor(&f[i], "image", DT_F32, 2, sh, img);
    }
    write_frames(tu_tmp("two.frames"), f, 2);
    frame_free(&f[0]), frame_free(&f[1]);
    assert_int_equal(fv(&err, "--png %s/same.png %s", tu_tmpdir(), tu_tmp("two.frames")), 1);
    assert_non_null(strstr(err, "same.png: two pictures would get this name"));
    free(err);
    /* A grid mismatch between tensors of a record. */
    frame_init(&f[0], FRAME_DATA);
    frame_set_id(&f[0], "a");
    add_tensor(&f[0], "image", DT_F32, 2, sh, img);
    const int64_t sh2[2] = {5, 4};
    uint8_t lab[20] = {0};
    add_tensor(&f[0], "label", DT_U8, 2, sh2, lab);
    write_frames(tu_tmp("grid.frames"), f, 1);
    frame_free(&f[0]);
    assert_int_equal(fv(&err, "--png %s/%%i_%%z.png %s", tu_tmpdir(), tu_tmp("grid.frames")), 1);
    assert_non_null(strstr(err, "'label' [5, 4] does not match the slice's 4x5 grid"));
    free(err);
    /* Usage errors. */
    assert_int_equal(fv(&err, "--show bones x"), 2);
    assert_non_null(strstr(err, "unknown panel 'bones'"));
    free(err);
    assert_int_equal(fv(&err, "--gt x"), 2);
    free(err);
    assert_int_equal(fv(&err, "--png '%%q.png' %s", tu_tmp("two.frames")), 2);
    assert_non_null(strstr(err, "unknown placeholder"));
    free(err);
    /* -v names the files on stderr, one per line. */
    assert_int_equal(fv(&err, "-v --png %s/v/%%i_%%z.png %s", tu_tmpdir(), tu_tmp("two.frames")), 0);
    assert_int_equal(tu_count_lines(err), 2);
    assert_non_null(strstr(err, "v/a_1.png"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_font),
        cmocka_unit_test(test_png_roundtrip),
        cmocka_unit_test(test_kmeans_known_clusters),
        cmocka_unit_test(test_overlay_counts),
        cmocka_unit_test(test_regions_pairs_clusters),
        cmocka_unit_test(test_sheet_and_columns),
        cmocka_unit_test(test_curve),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
