/* dice-eval and its kernels: the exact EDT against a naive loop, the surface
 * metrics against a naive computation, the whole filter against the
 * NumPy/SciPy reference (tests/py/dice_ref.py) on real label maps with
 * perturbed predictions and against `plastimatch dice`, the conventions
 * (absent, missed, spurious, ignored), regrouping of slices from one or two
 * streams, --min-dice, and every bad input of issue #7. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/json.h"
#include "core/rng.h"
#include "eval/edt.h"
#include "eval/segmetric.h"
#include "io/frame.h"
#include "io/nii.h"
#include "io/stream.h"
#include "testutil.h"

/* ---- kernels ---- */

static double naive_sq(const uint8_t *mask, int64_t Z, int64_t Y, int64_t X, int64_t z, int64_t y, int64_t x,
                       const double sp[3])
{
    double best = INFINITY;
    for (int64_t k = 0; k < Z; k++)
        for (int64_t j = 0; j < Y; j++)
            for (int64_t i = 0; i < X; i++)
                if (mask[(k * Y + j) * X + i]) {
                    double tx = (double)(x - i) * sp[2], ty = (double)(y - j) * sp[1], tz = (double)(z - k) * sp[0];
                    double d = (tx * tx + ty * ty) + tz * tz;
                    if (d < best)
                        best = d;
                }
    return best;
}

static void test_edt_vs_naive(void **state)
{
    (void)state;
    static const int64_t dims[][3] = {{9, 11, 13}, {1, 17, 5}, {6, 1, 1}, {12, 7, 9}, {5, 5, 5}};
    static const double sps[][3] = {{2.5, 0.977, 0.977}, {1, 1, 1}, {3, 1, 1}, {1.5, 3.906, 4.2}, {0.3, 7, 1}};
    static const int dens[] = {50, 3, 40, 500, 1};
    double worst = 0;
    rng r;
    rng_seed(&r, 11, 0);
    for (size_t c = 0; c < sizeof dims / sizeof dims[0]; c++) {
        int64_t Z = dims[c][0], Y = dims[c][1], X = dims[c][2], n = Z * Y * X;
        uint8_t *m = calloc((size_t)n, 1), *q = calloc((size_t)n, 1);
        double *out = malloc(sizeof(double) * (size_t)n), *out2 = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) {
            m[i] = rng_below(&r, (uint64_t)dens[c]) == 0;
            q[i] = rng_below(&r, 4) == 0;
        }
        assert_int_equal(edt_sq3(out, m, Z, Y, X, sps[c]), 0);
        assert_int_equal(edt_sq3_at(out2, m, q, Z, Y, X, sps[c]), 0);
        for (int64_t z = 0; z < Z; z++)
            for (int64_t y = 0; y < Y; y++)
                for (int64_t x = 0; x < X; x++) {
                    int64_t i = (z * Y + y) * X + x;
                    double want = naive_sq(m, Z, Y, X, z, y, x, sps[c]);
                    if (isinf(want)) {
                        assert_true(isinf(out[i]));
                        continue;
                    }
                    double d = fabs(out[i] - want) / (want > 1 ? want : 1);
                    if (d > worst)
                        worst = d;
                    if (d > 1e-15)
                        fail_msg("case %zu voxel (%lld,%lld,%lld): edt %.17g naive %.17g", c, (long long)z,
                                 (long long)y, (long long)x, out[i], want);
                    if (q[i])
                        assert_true(out2[i] == out[i]);
                }
        free(m), free(q), free(out), free(out2);
    }
    print_message("EDT vs naive loop: largest relative difference %.3g (tolerance 1e-15)\n", worst);
}

static void test_percentile_numpy(void **state)
{
    (void)state;
    /* Values from numpy 1.24: np.percentile(v, 95) and (v, 50). */
    double v[20];
    for (int i = 0; i < 20; i++)
        v[i] = (double)((i * 7) % 20 + 1); /* 1..20 shuffled */
    assert_true(fabs(segm_percentile(v, 20, 95) - 19.05) < 1e-12);
    assert_true(fabs(segm_percentile(v, 20, 50) - 10.5) < 1e-12);
    double one[1] = {3.25};
    assert_true(segm_percentile(one, 1, 95) == 3.25);
    double two[2] = {4, 2};
    assert_true(fabs(segm_percentile(two, 2, 95) - 3.9) < 1e-12);
    assert_true(isnan(segm_percentile(two, 0, 95)));
}

/* Surface metrics against a naive computation on the whole grid (no box):
 * checks that working inside the bounding box is exact, also for masks
 * touching the grid's edge, on both the EDT and the all-pairs path. */
static void naive_surface(const uint8_t *m, uint8_t c, int64_t Z, int64_t Y, int64_t X, uint8_t *s)
{
    for (int64_t z = 0; z < Z; z++)
        for (int64_t y = 0; y < Y; y++)
            for (int64_t x = 0; x < X; x++) {
                int64_t i = (z * Y + y) * X + x;
                if (m[i] != c) {
                    s[i] = 0;
                    continue;
                }
                int in = 1;
                static const int off[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
                for (int k = 0; k < 6; k++) {
                    int64_t zz = z + off[k][0], yy = y + off[k][1], xx = x + off[k][2];
                    if (zz < 0 || yy < 0 || xx < 0 || zz >= Z || yy >= Y || xx >= X || m[(zz * Y + yy) * X + xx] != c)
                        in = 0;
                }
                s[i] = !in;
            }
}

static void naive_metrics(const uint8_t *a, const uint8_t *b, uint8_t c, int64_t Z, int64_t Y, int64_t X,
                          const double sp[3], double *hd95, double *assd)
{
    int64_t n = Z * Y * X;
    uint8_t *sa = malloc((size_t)n), *sb = malloc((size_t)n);
    naive_surface(a, c, Z, Y, X, sa);
    naive_surface(b, c, Z, Y, X, sb);
    double *dba = malloc(sizeof(double) * (size_t)n), *dab = malloc(sizeof(double) * (size_t)n);
    size_t nba = 0, nab = 0;
    double sum = 0;
    for (int64_t z = 0; z < Z; z++)
        for (int64_t y = 0; y < Y; y++)
            for (int64_t x = 0; x < X; x++) {
                int64_t i = (z * Y + y) * X + x;
                if (sb[i])
                    sum += dba[nba++] = sqrt(naive_sq(sa, Z, Y, X, z, y, x, sp));
                if (sa[i])
                    sum += dab[nab++] = sqrt(naive_sq(sb, Z, Y, X, z, y, x, sp));
            }
    double p1 = segm_percentile(dba, nba, 95), p2 = segm_percentile(dab, nab, 95);
    *hd95 = p1 > p2 ? p1 : p2;
    *assd = sum / (double)(nba + nab);
    free(sa), free(sb), free(dba), free(dab);
}

static void test_surface_vs_naive(void **state)
{
    (void)state;
    const int64_t Z = 10, Y = 14, X = 12, n = Z * Y * X;
    const double sp[3] = {2.5, 0.9, 1.3};
    uint8_t *a = calloc((size_t)n, 1), *b = calloc((size_t)n, 1);
    double worst = 0;
    rng r;
    rng_seed(&r, 5, 0);
    for (int trial = 0; trial < 12; trial++) {
        /* Blobs (compact: EDT path) or sprinkled voxels (all-pairs path),
         * some touching the grid's edge. */
        memset(a, 0, (size_t)n);
        memset(b, 0, (size_t)n);
        double cz = (double)rng_below(&r, (uint64_t)Z), cy = (double)rng_below(&r, (uint64_t)Y),
               cx = (double)rng_below(&r, (uint64_t)X), rad = 2 + (double)rng_below(&r, 5);
        for (int64_t z = 0; z < Z; z++)
            for (int64_t y = 0; y < Y; y++)
                for (int64_t x = 0; x < X; x++) {
                    int64_t i = (z * Y + y) * X + x;
                    double d2 = (z - cz) * (z - cz) + (y - cy) * (y - cy) + (x - cx) * (x - cx);
                    if (trial % 3 == 2) {
                        a[i] = rng_below(&r, 40) == 0 ? 3 : 0;
                        b[i] = rng_below(&r, 40) == 0 ? 3 : 0;
                    } else {
                        a[i] = d2 < rad * rad ? 3 : 0;
                        double e2 = (z - cz - 1) * (z - cz - 1) + (y - cy) * (y - cy) + (x - cx + 2) * (x - cx + 2);
                        b[i] = e2 < rad * rad * 0.8 ? 3 : rng_below(&r, 300) == 0 ? 3 : 0;
                    }
                }
        segm_count_t cnt[SEGM_NLABELS];
        segm_surface_t s;
        segm_count(cnt, a, b, Z, Y, X);
        if (!cnt[3].nref || !cnt[3].npred)
            continue;
        assert_int_equal(segm_surface(&s, a, b, Z, Y, X, 3, &cnt[3], sp), 0);
        double hd, as;
        naive_metrics(a, b, 3, Z, Y, X, sp, &hd, &as);
        double d = fmax(fabs(hd - s.hd95), fabs(as - s.assd));
        if (d > worst)
            worst = d;
        if (d > 1e-12)
            fail_msg("trial %d: hd95 %.17g vs naive %.17g, assd %.17g vs %.17g", trial, s.hd95, hd, s.assd, as);
    }
    print_message("surface metrics vs naive whole-grid loop: largest difference %.3g mm (tolerance 1e-12)\n", worst);
    free(a), free(b);
}

static void test_counts_and_boxes(void **state)
{
    (void)state;
    uint8_t a[2 * 3 * 4] = {0}, b[2 * 3 * 4] = {0};
    a[0] = 1;           /* (0,0,0) */
    a[23] = 1;          /* (1,2,3) */
    b[23] = 1;
    b[5] = 2;           /* (0,1,1) */
    segm_count_t c[SEGM_NLABELS];
    segm_count(c, a, b, 2, 3, 4);
    assert_int_equal(c[1].nref, 2);
    assert_int_equal(c[1].npred, 1);
    assert_int_equal(c[1].ntp, 1);
    assert_true(fabs(segm_dice(&c[1]) - 2.0 / 3.0) < 1e-15);
    assert_int_equal(c[1].lo[0], 0);
    assert_int_equal(c[1].hi[0], 1);
    assert_int_equal(c[1].hi[2], 3);
    assert_int_equal(c[2].lo[1], 1);
    assert_int_equal(c[2].hi[1], 1);
    assert_true(segm_dice(&c[2]) == 0);
    assert_true(isnan(segm_dice(&c[7])));
    assert_int_equal(c[0].nref, 22);
}

/* ---- helpers for the filter ---- */

static mval load_json_file(const char *path)
{
    mval v = {0};
    if (json_load(path, &v))
        fail_msg("%s: %s", path, err_get());
    return v;
}

/* The entry of volume id, organ name in dice-eval --json output. */
static const mval *entry(const mval *doc, const char *id, const char *organ)
{
    const mval *vs = mval_map_get(doc, "volumes");
    assert_non_null(vs);
    for (size_t i = 0; i < vs->a.n; i++) {
        const char *vid;
        if (mval_get_str(&vs->a.v[i], "id", &vid) == 0 && !strcmp(vid, id)) {
            const mval *o = mval_map_get(mval_map_get(&vs->a.v[i], "organs"), organ);
            return o;
        }
    }
    return NULL;
}

static double num(const mval *m, const char *key)
{
    const mval *v = mval_map_get(m, key);
    double x;
    if (!v)
        fail_msg("key %s absent", key);
    if (v->kind == MV_NIL)
        return NAN;
    assert_int_equal(mval_num(v, &x), 0);
    return x;
}

static const char *status(const mval *e)
{
    const char *s;
    assert_non_null(e);
    assert_int_equal(mval_get_str(e, "status", &s), 0);
    return s;
}

static const mval *summary(const mval *doc, const char *organ, const char *metric)
{
    const mval *s = mval_map_get(mval_map_get(mval_map_get(doc, "summary"), organ), metric);
    if (!s)
        fail_msg("no summary for %s %s", organ, metric);
    return s;
}

typedef struct {
    stream_out *out;
} writer;

static void w_open(writer *w, const char *path)
{
    w->out = stream_out_open(path);
    if (!w->out || stream_out_start(w->out, NULL))
        fail_msg("%s: %s", path, err_get());
}

static void w_close(writer *w)
{
    if (stream_out_end(w->out) || stream_out_close(w->out))
        fail_msg("close: %s", err_get());
}

static const char *classes5[] = {"background", "A", "B", "C", "D"};

/* A record of volume id at slice z (z < 0: volume) with the given tensors. */
static void w_rec(writer *w, const char *id, int64_t z, int rank, const int64_t *shape, const uint8_t *lab,
                  const uint8_t *pred, const int64_t *vshape, const double *spacing, int classes)
{
    frame f;
    tensor t;
    frame_init(&f, FRAME_DATA);
    frame_set_id(&f, id);
    f.z = z;
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)shape[i];
    if (lab) {
        assert_int_equal(tensor_init(&t, DT_U8, rank, shape), 0);
        memcpy(t.data, lab, n);
        frame_tensor_add(&f, "label", &t);
    }
    if (pred) {
        assert_int_equal(tensor_init(&t, DT_U8, rank, shape), 0);
        memcpy(t.data, pred, n);
        frame_tensor_add(&f, "pred", &t);
    }
    mval *m = frame_meta(&f);
    if (vshape) {
        double s[3] = {(double)vshape[0], (double)vshape[1], (double)vshape[2]};
        mval *a = mval_map_put(m, "shape");
        mval_set_array(a);
        for (int i = 0; i < 3; i++)
            mval_set_int(mval_push(a), (int64_t)s[i]);
    }
    if (spacing)
        mval_put_f64v(m, "spacing", spacing, 3);
    if (classes)
        mval_put_strv(m, "classes", classes5, 5);
    if (stream_out_write(w->out, &f))
        fail_msg("write: %s", err_get());
    frame_free(&f);
}

/* ---- conventions on a tiny synthetic case ---- */

enum { CZ = 4, CY = 6, CX = 5, CN = CZ * CY * CX };

static void conventions_volumes(uint8_t l1[CN], uint8_t p1[CN], uint8_t l2[CN], uint8_t p2[CN])
{
    memset(l1, 0, CN), memset(p1, 0, CN), memset(l2, 0, CN), memset(p2, 0, CN);
    /* v1: A half right (Dice 0.5), B only predicted (spurious, 0), C in
     * neither (absent), D only in the ground truth (missed, 0). */
    l1[0] = l1[1] = l1[2] = l1[3] = 1;
    p1[0] = p1[1] = p1[40] = p1[41] = 1;
    p1[60] = p1[61] = p1[62] = 2;
    l1[100] = l1[101] = 4;
    /* v2: A and B perfect; D in the ground truth only, but ignored. */
    l2[5] = l2[6] = l2[7] = 1;
    p2[5] = p2[6] = p2[7] = 1;
    l2[30] = l2[31] = 2;
    p2[30] = p2[31] = 2;
    for (int i = 70; i < 75; i++)
        l2[i] = 4;
}

static void test_conventions(void **state)
{
    (void)state;
    uint8_t l1[CN], p1[CN], l2[CN], p2[CN];
    conventions_volumes(l1, p1, l2, p2);
    const int64_t sl[2] = {CY, CX}, vol[3] = {CZ, CY, CX};
    const double sp[3] = {2, 1, 1};
    writer w;
    w_open(&w, tu_tmp("conv.frames"));
    /* v1 as slices in reverse order, v2 as one volume record. */
    for (int z = CZ - 1; z >= 0; z--)
        w_rec(&w, "v1", z, 2, sl, l1 + z * CY * CX, p1 + z * CY * CX, vol, sp, 1);
    w_rec(&w, "v2", -1, 3, vol, l2, p2, NULL, sp, 1);
    w_close(&w);
    assert_int_equal(tu_write(tu_tmp("conv.ignore"), "# comment\nv2 D\n", 15), 0);
    char *err = NULL;
    int rc = tu_sh_err(&err, "dice-eval --json --surface --ignore %s %s > %s", tu_tmp("conv.ignore"), tu_tmp("conv.frames"),
                       tu_tmp("conv.json"));
    if (rc)
        fail_msg("dice-eval: %d %s", rc, err);
    free(err);
    mval doc = load_json_file(tu_tmp("conv.json"));
    assert_string_equal(status(entry(&doc, "v1", "A")), "ok");
    assert_true(num(entry(&doc, "v1", "A"), "dice") == 0.5);
    assert_string_equal(status(entry(&doc, "v1", "B")), "spurious");
    assert_true(num(entry(&doc, "v1", "B"), "dice") == 0);
    assert_true(isnan(num(entry(&doc, "v1", "B"), "hd95"))); /* inf, written as null */
    assert_null(entry(&doc, "v1", "C"));                      /* absent everywhere: not a column */
    assert_string_equal(status(entry(&doc, "v1", "D")), "missed");
    assert_true(num(entry(&doc, "v1", "D"), "dice") == 0);
    assert_string_equal(status(entry(&doc, "v2", "D")), "ignored");
    assert_true(isnan(num(entry(&doc, "v2", "D"), "dice")));
    assert_true(num(entry(&doc, "v2", "A"), "dice") == 1);
    /* Means: A {0.5, 1}, B {0, 1}, D {0} (v2 ignored); overall over the 5 values. */
    assert_true(fabs(num(summary(&doc, "A", "dice"), "mean") - 0.75) < 1e-15);
    assert_true(fabs(num(summary(&doc, "A", "dice"), "std") - 0.25) < 1e-15);
    assert_true(fabs(num(summary(&doc, "B", "dice"), "mean") - 0.5) < 1e-15);
    assert_int_equal((int)num(summary(&doc, "D", "dice"), "n"), 1);
    assert_true(fabs(num(summary(&doc, "overall", "dice"), "mean") - 0.5) < 1e-15);
    assert_true(fabs(num(summary(&doc, "overall", "dice"), "std") - sqrt(0.2)) < 1e-15);
    assert_int_equal((int)num(summary(&doc, "overall", "dice"), "n"), 5);
    /* HD95 over the volumes where both maps have the organ; one-sided ones counted apart. */
    assert_int_equal((int)num(summary(&doc, "B", "hd95"), "n"), 1);
    assert_int_equal((int)num(summary(&doc, "B", "hd95"), "n_inf"), 1);
    assert_true(num(summary(&doc, "B", "hd95"), "mean") == 0);
    mval_free(&doc);

    /* Without the ignore list, v2's D counts as missed (0). */
    assert_int_equal(tu_sh("dice-eval --json %s > %s", tu_tmp("conv.frames"), tu_tmp("conv2.json")), 0);
    doc = load_json_file(tu_tmp("conv2.json"));
    assert_string_equal(status(entry(&doc, "v2", "D")), "missed");
    assert_int_equal((int)num(summary(&doc, "D", "dice"), "n"), 2);
    mval_free(&doc);

    /* The table: aligned columns, '-' and 'ign'; the TSV: one row per volume and organ. */
    assert_int_equal(tu_sh("dice-eval --ignore %s %s > %s", tu_tmp("conv.ignore"), tu_tmp("conv.frames"), tu_tmp("conv.txt")), 0);
    char *txt = tu_read(tu_tmp("conv.txt"), NULL);
    assert_non_null(strstr(txt, "ign"));
    assert_non_null(strstr(txt, "overall"));
    free(txt);
    assert_int_equal(tu_sh("dice-eval --tsv --ignore %s %s > %s", tu_tmp("conv.ignore"), tu_tmp("conv.frames"), tu_tmp("conv.tsv")), 0);
    txt = tu_read(tu_tmp("conv.tsv"), NULL);
    assert_non_null(strstr(txt, "v1\tB\t2\tspurious\t0.0000\n"));
    assert_non_null(strstr(txt, "v2\tD\t4\tignored\tnan\n"));
    assert_non_null(strstr(txt, "*\t*\t*\tmean\t0.5000\n"));
    assert_int_equal(tu_count_lines(txt), 1 + 2 * 3 + 4 * 3);
    free(txt);

    /* --min-dice: 0.5 passes, 0.6 fails with status 1 and says why. */
    assert_int_equal(tu_sh("dice-eval --min-dice 0.5 %s > /dev/null", tu_tmp("conv.frames")), 1); /* 0.4 without ignore */
    assert_int_equal(tu_sh("dice-eval --ignore %s --min-dice 0.5 %s > /dev/null", tu_tmp("conv.ignore"), tu_tmp("conv.frames")), 0);
    rc = tu_sh_err(&err, "dice-eval --ignore %s --min-dice 0.6 %s > /dev/null", tu_tmp("conv.ignore"), tu_tmp("conv.frames"));
    assert_int_equal(rc, 1);
    assert_non_null(strstr(err, "below --min-dice"));
    free(err);
}

/* slice-extract's slices: meta 'shape' is the volume's [Z, Y, X] before the
 * in-plane crop/resize, and 'nslices' how many slices it sent (--every,
 * --skip-empty). */
static void w_meta_rec(writer *w, int64_t z, const uint8_t *lab, const uint8_t *pred, int64_t nslices)
{
    const int64_t sl[2] = {CY, CX};
    frame f;
    tensor t;
    frame_init(&f, FRAME_DATA);
    frame_set_id(&f, "v1");
    f.z = z;
    tensor_init(&t, DT_U8, 2, sl);
    memcpy(t.data, lab, CY * CX);
    frame_tensor_add(&f, "label", &t);
    if (pred) {
        tensor_init(&t, DT_U8, 2, sl);
        memcpy(t.data, pred, CY * CX);
        frame_tensor_add(&f, "pred", &t);
    }
    mval *m = frame_meta(&f), *a = mval_map_put(m, "shape");
    mval_set_array(a);
    mval_set_int(mval_push(a), 2 * CZ);
    mval_set_int(mval_push(a), 512);
    mval_set_int(mval_push(a), 512);
    mval_put_i64(m, "nslices", nslices);
    const double sp[2] = {1, 1};
    mval_put_f64v(m, "spacing", sp, 2);
    if (stream_out_write(w->out, &f))
        fail_msg("write: %s", err_get());
    frame_free(&f);
}

static void test_slice_extract_meta(void **state)
{
    (void)state;
    uint8_t l1[CN], p1[CN], l2[CN], p2[CN];
    conventions_volumes(l1, p1, l2, p2);
    writer w;
    /* Every second slice of a volume of 2*CZ slices (slice-extract --every 2):
     * scored over the CZ slices sent. */
    w_open(&w, tu_tmp("every.frames"));
    for (int z = 0; z < CZ; z++)
        w_meta_rec(&w, 2 * z, l1 + z * CY * CX, p1 + z * CY * CX, CZ);
    w_close(&w);
    assert_int_equal(tu_sh("dice-eval --json %s > %s", tu_tmp("every.frames"), tu_tmp("every.json")), 0);
    mval doc = load_json_file(tu_tmp("every.json"));
    assert_true(num(entry(&doc, "v1", "1"), "dice") == 0.5);
    assert_int_equal((int)num(&mval_map_get(&doc, "volumes")->a.v[0], "slices"), CZ);
    mval_free(&doc);
    /* ... but not for surface distances, which need contiguous slices. */
    char cmd[1024], *err = NULL;
    snprintf(cmd, sizeof cmd, "dice-eval --surface %s > /dev/null", tu_tmp("every.frames"));
    assert_int_equal(tu_sh_err(&err, "%s", cmd), 1);
    assert_non_null(strstr(err, "not contiguous"));
    free(err);
    /* A slice the producer sent but whose prediction is lost. */
    w_open(&w, tu_tmp("lost.frames"));
    for (int z = 0; z < CZ; z++)
        w_meta_rec(&w, 2 * z, l1 + z * CY * CX, z == 1 ? NULL : p1 + z * CY * CX, CZ);
    w_close(&w);
    assert_int_equal(tu_sh_err(&err, "dice-eval %s > /dev/null", tu_tmp("lost.frames")), 1);
    if (!strstr(err, "volume v1: 'pred' has 3 of the 4 slices its producer sent (meta 'nslices'); missing z = 2"))
        fail_msg("%s", err);
    free(err);
}

/* ---- regrouping: slices, shuffled, one or two streams, vs NIfTI mode ---- */

static void test_frames_match_nifti(void **state)
{
    (void)state;
    char ref[1024];
    snprintf(ref, sizeof ref, "%s/subj03_seg.nii.gz", tu_sample());
    nii_image img;
    if (nii_read(ref, &img, NII_NATIVE))
        fail_msg("%s", err_get());
    int64_t Z = img.data.shape[0], Y = img.data.shape[1], X = img.data.shape[2], plane = Y * X;
    const uint8_t *lab = img.data.data;
    uint8_t *pred = malloc((size_t)(Z * plane));
    /* Prediction: the ground truth moved one voxel along x and z. */
    for (int64_t z = 0; z < Z; z++)
        for (int64_t i = 0; i < plane; i++)
            pred[z * plane + i] = z > 0 && i % X > 0 ? lab[(z - 1) * plane + i - 1] : 0;
    tensor pt;
    assert_int_equal(tensor_init3(&pt, DT_U8, Z, Y, X), 0);
    memcpy(pt.data, pred, (size_t)(Z * plane));
    assert_int_equal(nii_write(tu_tmp("pred3.nii.gz"), &pt, img.affine), 0);
    tensor_free(&pt);

    /* One stream, slices in a scrambled order; and two streams (labels,
     * predictions) whose records interleave differently. */
    const int64_t sl[2] = {Y, X}, vshape[3] = {Z, Y, X};
    writer w, wl, wp;
    w_open(&w, tu_tmp("one.frames"));
    w_open(&wl, tu_tmp("lab.frames"));
    w_open(&wp, tu_tmp("pred.frames"));
    for (int64_t k = 0; k < Z; k++) {
        int64_t z = (k * 37) % Z; /* 37 is prime to 128 */
        w_rec(&w, "subj03", z, 2, sl, lab + z * plane, pred + z * plane, vshape, img.spacing, 0);
        w_rec(&wl, "subj03", Z - 1 - k, 2, sl, lab + (Z - 1 - k) * plane, NULL, NULL, img.spacing, 0);
        w_rec(&wp, "subj03", k, 2, sl, NULL, pred + k * plane, NULL, img.spacing, 0);
    }
    w_close(&w), w_close(&wl), w_close(&wp);
    assert_int_equal(tu_sh("dice-eval --surface --json --ref %s --pred %s > %s", ref, tu_tmp("pred3.nii.gz"), tu_tmp("n.json")), 0);
    assert_int_equal(tu_sh("dice-eval --surface --json < %s > %s", tu_tmp("one.frames"), tu_tmp("f1.json")), 0);
    assert_int_equal(tu_sh("dice-eval --surface --json -i %s %s > %s", tu_tmp("pred.frames"), tu_tmp("lab.frames"), tu_tmp("f2.json")), 0);
    mval n = load_json_file(tu_tmp("n.json"));
    for (int k = 0; k < 2; k++) {
        mval f = load_json_file(tu_tmp(k ? "f2.json" : "f1.json"));
        int checked = 0;
        for (int c = 1; c <= 7; c++) {
            char name[16];
            snprintf(name, sizeof name, "%d", c);
            const mval *a = entry(&n, "subj03", name), *b = entry(&f, "subj03", name);
            assert_non_null(a);
            assert_non_null(b);
            assert_true(num(a, "dice") == num(b, "dice"));
            assert_true(num(a, "hd95") == num(b, "hd95"));
            assert_true(num(a, "assd") == num(b, "assd"));
            checked++;
        }
        assert_int_equal(checked, 7);
        mval_free(&f);
    }
    mval_free(&n);
    nii_free(&img);
    free(pred);
}

/* ---- against the NumPy/SciPy reference on real label maps ---- */

static void run_reference(const char *dir, const char *const *segs, int nsegs, const char *const *variants,
                          int nvariants, const char *extra_ref)
{
    char segl[4096] = "";
    for (int i = 0; i < nsegs; i++) {
        strcat(segl, " ");
        strcat(segl, segs[i]);
    }
    const char *py = tu_python(), *root = tu_root();
    char only[256] = "";
    for (int v = 0; v < nvariants; v++)
        snprintf(only + strlen(only), sizeof only - strlen(only), "%s%s", v ? "," : "", variants[v]);
    assert_int_equal(tu_sh("mkdir -p %s && %s %s/tests/py/dice_ref.py perturb %s 7 --only %s %s", dir, py, root, dir,
                           only, segl), 0);
    for (int v = 0; v < nvariants; v++) {
        char eargs[8192] = "", rargs[8192] = "";
        for (int i = 0; i < nsegs; i++) {
            const char *b = strrchr(segs[i], '/') + 1;
            char r[1024], p[1024];
            snprintf(r, sizeof r, "%s/ref/%s", dir, b);
            snprintf(p, sizeof p, "%s/%s/%s", dir, variants[v], b);
            snprintf(eargs + strlen(eargs), sizeof eargs - strlen(eargs), " --ref %s --pred %s", r, p);
            snprintf(rargs + strlen(rargs), sizeof rargs - strlen(rargs), " %s %s", r, p);
        }
        print_message("%s (%d volumes): ", variants[v], nsegs);
        fflush(stdout);
        int rc = tu_sh("dice-eval --surface --json %s > %s/%s.e.json && "
                       "%s %s/tests/py/dice_ref.py score --surface %s %s > %s/%s.r.json && "
                       "%s %s/tests/py/dice_check.py %s/%s.e.json %s/%s.r.json 1e-9",
                       eargs, dir, variants[v], py, root, extra_ref, rargs, dir, variants[v], py, root, dir,
                       variants[v], dir, variants[v]);
        if (rc)
            fail_msg("%s: dice-eval and the reference disagree (status %d)", variants[v], rc);
    }
}

static void test_reference_sample(void **state)
{
    (void)state;
    char s1[1024];
    snprintf(s1, sizeof s1, "%s/subj03_seg.nii.gz", tu_sample());
    const char *segs[] = {s1};
    const char *variants[] = {"shift", "erode", "dilate", "flip"};
    run_reference(tu_tmp("ref-sample"), segs, 1, variants, 4, "");
}

static void test_reference_shared(void **state)
{
    (void)state;
    TU_NEED_DATA();
    char a[1024], c[1024], d[1024];
    const char *D = tu_data();
    snprintf(a, sizeof a, "%s/ct/subj20_seg.nii.gz", D);
    snprintf(c, sizeof c, "%s/ct_other/ts01_seg.nii.gz", D);
    snprintf(d, sizeof d, "%s/ct_other/ts02_seg.nii.gz", D);
    const char *hn[] = {a}, *ts[] = {c, d};
    const char *all4[] = {"shift", "erode", "dilate", "flip"}, *some[] = {"flip", "dilate"}, *one[] = {"shift"};
    run_reference(tu_tmp("ref-ct"), hn, 1, some, 2, "");
    /* The abdomen maps have 60 organs on larger grids: the reference takes
     * minutes for all of them, so the default run scores ts01 shifted and
     * LRCPIPE_LONG=1 the rest. */
    if (getenv("LRCPIPE_LONG"))
        run_reference(tu_tmp("ref-ts"), ts, 2, all4, 4, "");
    else
        run_reference(tu_tmp("ref-ts"), ts, 1, one, 1, "");
}

/* LRCPIPE_LONG=1: every ct/ subject, and the reference without cropping
 * (whole-grid erosion and EDT, 17 s a volume) on two of them. */
static void test_reference_long(void **state)
{
    (void)state;
    TU_NEED_DATA();
    if (!getenv("LRCPIPE_LONG")) {
        print_message("LRCPIPE_LONG unset: skipped\n");
        skip();
    }
    static char paths[34][1024];
    const char *segs[34];
    for (int i = 0; i < 34; i++) {
        snprintf(paths[i], sizeof paths[i], "%s/ct/subj%02d_seg.nii.gz", tu_data(), i + 1);
        segs[i] = paths[i];
    }
    const char *all4[] = {"shift", "erode", "dilate", "flip"};
    run_reference(tu_tmp("ref-all"), segs, 34, all4, 4, "");
    run_reference(tu_tmp("ref-nocrop"), segs, 2, all4, 2, "--no-crop");
}

/* ---- plastimatch dice on binary masks ---- */

static double parse_after(const char *text, const char *key)
{
    const char *p = text ? strstr(text, key) : NULL;
    if (!p)
        fail_msg("'%s' not in output: %s", key, text ? text : "(none)");
    return strtod(p + strlen(key), NULL);
}

static void test_plastimatch(void **state)
{
    (void)state;
    if (tu_sh("command -v plastimatch > /dev/null")) {
        print_message("plastimatch not installed (apt-get install plastimatch): skipped\n");
        skip();
    }
    char ref[1024];
    snprintf(ref, sizeof ref, "%s/subj05_seg.nii.gz", tu_sample());
    nii_image img;
    if (nii_read(ref, &img, NII_NATIVE))
        fail_msg("%s", err_get());
    int64_t Z = img.data.shape[0], Y = img.data.shape[1], X = img.data.shape[2], n = Z * Y * X;
    const uint8_t *lab = img.data.data;
    double worst = 0;
    rng r;
    rng_seed(&r, 3, 0);
    for (int c = 1; c <= 7; c++) {
        tensor a, b;
        tensor_init3(&a, DT_U8, Z, Y, X);
        tensor_init3(&b, DT_U8, Z, Y, X);
        uint8_t *pa = a.data, *pb = b.data;
        for (int64_t i = 0; i < n; i++) {
            pa[i] = lab[i] == c;
            /* shifted by c voxels along y, with some voxels flipped */
            int64_t j = i - c * X;
            pb[i] = j >= 0 && lab[j] == c;
            if (rng_below(&r, 500) == 0)
                pb[i] ^= 1;
        }
        assert_int_equal(nii_write(tu_tmp("pa.nii.gz"), &a, img.affine), 0);
        assert_int_equal(nii_write(tu_tmp("pb.nii.gz"), &b, img.affine), 0);
        tensor_free(&a), tensor_free(&b);
        assert_int_equal(tu_sh("plastimatch dice %s %s > %s 2>&1", tu_tmp("pa.nii.gz"), tu_tmp("pb.nii.gz"), tu_tmp("pl.txt")), 0);
        assert_int_equal(tu_sh("dice-eval --tsv --digits 10 --ref %s --pred %s > %s", tu_tmp("pa.nii.gz"),
                               tu_tmp("pb.nii.gz"), tu_tmp("de.txt")), 0);
        char *pl = tu_read(tu_tmp("pl.txt"), NULL), *de = tu_read(tu_tmp("de.txt"), NULL);
        double want = parse_after(pl, "DICE:"), got = parse_after(de, "\npa\t1\t1\tok\t");
        double tp = parse_after(pl, "TP:");
        /* plastimatch prints 6 decimals */
        if (fabs(got - want) > 5e-7 + 1e-12)
            fail_msg("organ %d: plastimatch Dice %.6f, dice-eval %.10f (TP %.0f)", c, want, got, tp);
        if (fabs(got - want) > worst)
            worst = fabs(got - want);
        free(pl), free(de);
    }
    print_message("Dice vs plastimatch dice, 7 organs: largest difference %.3g (plastimatch prints 6 decimals)\n", worst);
    nii_free(&img);
}

/* ---- partially labelled cases need the ignore list ---- */

static void test_partial_ignore(void **state)
{
    (void)state;
    TU_NEED_DATA();
    /* part001 lacks Larynx (6), part019 Brainstem (1): predict a blob of the
     * missing organ; unscored with the ignore list built from the manifest. */
    const char *D = tu_data();
    int rc = tu_sh("cd %s && %s -c '\n"
                   "import nibabel as nib, numpy as np, sys\n"
                   "for i in (\"part001\", \"part019\"):\n"
                   "    im = nib.load(\"%s/ct_partial/%%s_seg.nii.gz\" %% i)\n"
                   "    d = np.asarray(im.dataobj).copy()\n"
                   "    miss = 6 if i == \"part001\" else 1\n"
                   "    assert not (d == miss).any()\n"
                   "    blob = d[60:64, 60:64, 60:64]\n"
                   "    blob[blob == 0] = miss\n"
                   "    nib.save(nib.Nifti1Image(d, im.affine, im.header), \"%%s_pred.nii.gz\" %% i)\n"
                   "' && awk -F, 'NR > 1 { split(\"Brainstem SpinalCord RightParotid LeftParotid Esophagus Larynx Mandible\", all, \" \");"
                   " m = \"\"; for (k = 1; k <= 7; k++) if (index(\";\" $7 \";\", \";\" all[k] \";\") == 0) m = all[k]; print $1, m }' "
                   "%s/ct_partial/manifest.csv > partial.ignore",
                   tu_tmpdir(), tu_python(), D, D);
    assert_int_equal(rc, 0);
    char *ig = tu_read(tu_tmp("partial.ignore"), NULL);
    assert_non_null(strstr(ig, "part001 Larynx\n"));
    assert_non_null(strstr(ig, "part019 Brainstem\n"));
    free(ig);
    char args[4096];
    snprintf(args, sizeof args,
             "--json --labels-json %s/ct_partial/labels.json --ref %s/ct_partial/part001_seg.nii.gz --pred %s "
             "--ref %s/ct_partial/part019_seg.nii.gz --pred %s",
             D, D, tu_tmp("part001_pred.nii.gz"), D, tu_tmp("part019_pred.nii.gz"));
    assert_int_equal(tu_sh("dice-eval %s > %s", args, tu_tmp("p0.json")), 0);
    assert_int_equal(tu_sh("dice-eval --ignore %s %s > %s", tu_tmp("partial.ignore"), args, tu_tmp("p1.json")), 0);
    mval a = load_json_file(tu_tmp("p0.json")), b = load_json_file(tu_tmp("p1.json"));
    assert_string_equal(status(entry(&a, "part001", "Larynx")), "spurious");
    assert_string_equal(status(entry(&b, "part001", "Larynx")), "ignored");
    assert_string_equal(status(entry(&b, "part019", "Brainstem")), "ignored");
    assert_string_equal(status(entry(&b, "part019", "Larynx")), "ok");
    assert_true(num(summary(&a, "overall", "dice"), "mean") < 1);
    assert_true(num(summary(&b, "overall", "dice"), "mean") == 1);
    assert_int_equal((int)num(summary(&b, "overall", "dice"), "n"), 12);
    mval_free(&a), mval_free(&b);
}

/* ---- bad input ---- */

static void expect_fail(int want_rc, const char *want_msg, const char *cmd)
{
    char *err = NULL;
    int rc = tu_sh_err(&err, "%s > /dev/null", cmd);
    if (rc != want_rc || !strstr(err, want_msg) || tu_count_lines(err) != 1 + (want_rc == 2 && strstr(err, "Try")))
        fail_msg("%s: status %d (want %d), stderr: %s(want '%s')", cmd, rc, want_rc, err, want_msg);
    if (strncmp(err, "dice-eval: ", 11))
        fail_msg("%s: message without the program name: %s", cmd, err);
    free(err);
}

static void test_bad_input(void **state)
{
    (void)state;
    uint8_t l1[CN], p1[CN], l2[CN], p2[CN];
    conventions_volumes(l1, p1, l2, p2);
    const int64_t sl[2] = {CY, CX}, vol[3] = {CZ, CY, CX}, other[2] = {CY, CX - 1};
    const double sp[3] = {2, 1, 1};
    writer w;
    char cmd[2048];

    /* A missing slice (count known from meta shape). */
    w_open(&w, tu_tmp("miss.frames"));
    for (int z = 0; z < CZ; z++)
        if (z != 2)
            w_rec(&w, "v1", z, 2, sl, l1 + z * CY * CX, p1 + z * CY * CX, vol, sp, 1);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("miss.frames"));
    expect_fail(1, "volume v1: 'label' missing for slice z = 2 of 0..3", cmd);

    /* The last slice missing in the prediction only, no meta shape: the count
     * comes from the labels' largest z. */
    w_open(&w, tu_tmp("miss2.frames"));
    for (int z = 0; z < CZ; z++)
        w_rec(&w, "v1", z, 2, sl, l1 + z * CY * CX, z < CZ - 1 ? p1 + z * CY * CX : NULL, NULL, sp, 1);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("miss2.frames"));
    expect_fail(1, "'pred' missing for slice z = 3 of 0..3", cmd);

    /* A gap without meta shape. */
    w_open(&w, tu_tmp("gap.frames"));
    for (int z = 0; z < CZ; z++)
        if (z != 1)
            w_rec(&w, "v1", z, 2, sl, l1 + z * CY * CX, p1 + z * CY * CX, NULL, sp, 1);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("gap.frames"));
    expect_fail(1, "missing for slice z = 1 of 0..3", cmd);

    /* Different ids in the label and prediction streams. */
    w_open(&w, tu_tmp("ids-l.frames"));
    for (int z = 0; z < CZ; z++)
        w_rec(&w, "v1", z, 2, sl, l1 + z * CY * CX, NULL, vol, sp, 1);
    w_close(&w);
    w_open(&w, tu_tmp("ids-p.frames"));
    for (int z = 0; z < CZ; z++)
        w_rec(&w, "vX", z, 2, sl, NULL, p1 + z * CY * CX, vol, sp, 1);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s %s", tu_tmp("ids-l.frames"), tu_tmp("ids-p.frames"));
    expect_fail(1, "volume v1: no 'pred' at all (are the ids of the label and prediction streams the same?)", cmd);

    /* Label and prediction on different grids, in one record and across records. */
    w_open(&w, tu_tmp("grid.frames"));
    {
        frame f;
        tensor t;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, "v1");
        f.z = 0;
        tensor_init2(&t, DT_U8, CY, CX);
        frame_tensor_add(&f, "label", &t);
        tensor_init2(&t, DT_U8, CY, CX - 1);
        frame_tensor_add(&f, "pred", &t);
        assert_int_equal(stream_out_write(w.out, &f), 0);
        frame_free(&f);
    }
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("grid.frames"));
    expect_fail(1, "'label' [6, 5] and 'pred' [6, 4] are on different grids", cmd);
    w_open(&w, tu_tmp("grid2.frames"));
    w_rec(&w, "v1", 0, 2, sl, l1, NULL, NULL, sp, 1);
    w_rec(&w, "v1", 0, 2, other, NULL, p1, NULL, sp, 1);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("grid2.frames"));
    expect_fail(1, "different grids", cmd);

    /* NIfTI pairs on different grids. */
    {
        tensor a, b;
        double aff[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1}, aff2[16];
        memcpy(aff2, aff, sizeof aff);
        aff2[3] = 5; /* moved origin */
        tensor_init3(&a, DT_U8, CZ, CY, CX);
        tensor_init3(&b, DT_U8, CZ, CY, CX - 1);
        assert_int_equal(nii_write(tu_tmp("ga.nii.gz"), &a, aff), 0);
        assert_int_equal(nii_write(tu_tmp("gb.nii.gz"), &b, aff), 0);
        assert_int_equal(nii_write(tu_tmp("gc.nii.gz"), &a, aff2), 0);
        ((uint8_t *)a.data)[3] = 9;
        assert_int_equal(nii_write(tu_tmp("gd.nii.gz"), &a, aff), 0);
        tensor_free(&a), tensor_free(&b);
    }
    snprintf(cmd, sizeof cmd, "dice-eval --ref %s --pred %s", tu_tmp("ga.nii.gz"), tu_tmp("gb.nii.gz"));
    expect_fail(1, "grid [4, 6, 4] differs from the ground truth's [4, 6, 5]", cmd);
    snprintf(cmd, sizeof cmd, "dice-eval --ref %s --pred %s", tu_tmp("ga.nii.gz"), tu_tmp("gc.nii.gz"));
    expect_fail(1, "affine differs from the ground truth's", cmd);

    /* Labels outside the class list (meta classes, and a labels JSON). */
    p1[7] = 7;
    w_open(&w, tu_tmp("cls.frames"));
    w_rec(&w, "v1", -1, 3, vol, l1, p1, NULL, sp, 1);
    w_close(&w);
    p1[7] = 0;
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("cls.frames"));
    expect_fail(1, "volume v1: 'pred' has label value 7, outside the 5 classes of meta 'classes' of volume v1 (0..4)", cmd);
    snprintf(cmd, sizeof cmd, "dice-eval --labels-json %s/labels.json --ref %s --pred %s", tu_sample(),
             tu_tmp("ga.nii.gz"), tu_tmp("gd.nii.gz"));
    expect_fail(1, "'pred' has label value 9, outside the 8 classes of", cmd);

    /* A slice given twice; a float prediction; a record without the tensors; no id. */
    w_open(&w, tu_tmp("dup.frames"));
    w_rec(&w, "v1", 1, 2, sl, l1, p1, NULL, sp, 1);
    w_rec(&w, "v1", 1, 2, sl, l1, NULL, NULL, sp, 1);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("dup.frames"));
    expect_fail(1, "'label' of slice z=1 given twice", cmd);
    w_open(&w, tu_tmp("float.frames"));
    {
        frame f;
        tensor t;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, "v1");
        f.z = 0;
        tensor_init2(&t, DT_F32, CY, CX);
        frame_tensor_add(&f, "pred", &t);
        assert_int_equal(stream_out_write(w.out, &f), 0);
        frame_free(&f);
        frame_init(&f, FRAME_DATA);
        f.z = 0;
        tensor_init2(&t, DT_U8, CY, CX);
        frame_tensor_add(&f, "image", &t);
        assert_int_equal(stream_out_write(w.out, &f), 0);
        frame_free(&f);
    }
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval %s", tu_tmp("float.frames"));
    expect_fail(1, "record seq 0: volume v1 z=0: 'pred' is f32; a label map must hold integers", cmd);

    /* --surface without any spacing. */
    w_open(&w, tu_tmp("nosp.frames"));
    w_rec(&w, "v1", -1, 3, vol, l1, p1, NULL, NULL, 0);
    w_close(&w);
    snprintf(cmd, sizeof cmd, "dice-eval --surface %s", tu_tmp("nosp.frames"));
    expect_fail(1, "volume v1: no voxel spacing", cmd);
    snprintf(cmd, sizeof cmd, "dice-eval --surface --spacing 2,1,1 %s", tu_tmp("nosp.frames"));
    assert_int_equal(tu_sh("%s > /dev/null", cmd), 0);

    /* The ignore list: unknown organ; malformed line. */
    assert_int_equal(tu_write(tu_tmp("bad.ignore"), "v1 Liver\n", 9), 0);
    snprintf(cmd, sizeof cmd, "dice-eval --ignore %s %s", tu_tmp("bad.ignore"), tu_tmp("nosp.frames"));
    expect_fail(1, "bad.ignore:1: unknown organ 'Liver'", cmd);
    assert_int_equal(tu_write(tu_tmp("bad2.ignore"), "\nv1\n", 4), 0);
    snprintf(cmd, sizeof cmd, "dice-eval --ignore %s %s", tu_tmp("bad2.ignore"), tu_tmp("nosp.frames"));
    expect_fail(1, "bad2.ignore:2: want 'ID ORGAN[,ORGAN]...'", cmd);

    /* Empty input, and usage errors. */
    expect_fail(1, "empty input", "dice-eval < /dev/null");
    expect_fail(2, "--ref", "dice-eval --ref a.nii.gz");
    expect_fail(2, "not both", "dice-eval --tsv --json x");
    expect_fail(2, "--min-dice", "dice-eval --min-dice 1.5 x");
    expect_fail(2, "each --pred must follow its --ref", "dice-eval --pred a.nii.gz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edt_vs_naive),
        cmocka_unit_test(test_percentile_numpy),
        cmocka_unit_test(test_surface_vs_naive),
        cmocka_unit_test(test_counts_and_boxes),
        cmocka_unit_test(test_conventions),
        cmocka_unit_test(test_frames_match_nifti),
        cmocka_unit_test(test_slice_extract_meta),
        cmocka_unit_test(test_reference_sample),
        cmocka_unit_test(test_reference_shared),
        cmocka_unit_test(test_reference_long),
        cmocka_unit_test(test_plastimatch),
        cmocka_unit_test(test_partial_ignore),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
