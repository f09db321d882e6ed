/* fz-superpixel against scikit-image 0.19.3: identical label images for
 * sigma > 0 on real CT slices (the bundled sample always, ../shared/data when
 * present: 512x512, 108x256, 128x128, 101x122; more with LRCPIPE_LONG=1),
 * the adjusted Rand index (and equality) for sigma = 0, the body mask and --min-pixels against scipy.ndimage,
 * threads and the exact sort giving the same bytes, pass-through of other
 * tensors and meta, and bad input. The reference runs in tests/py/fz_ref.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "io/frame.h"
#include "testutil.h"

static const char *ref_py(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/tests/py/fz_ref.py", tu_root());
    return buf;
}

/* Slice frames from "VOLUME:Z:LO:HI" specs (paths relative to dir). */
static void make_slices(const char *out, const char *dir, const char *const *specs, int n)
{
    char cmd[8192];
    size_t used = (size_t)snprintf(cmd, sizeof cmd, "%s %s slices %s", tu_python(), ref_py(), out);
    for (int i = 0; i < n; i++)
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, " %s/%s", dir, specs[i]);
    assert_true(used < sizeof cmd);
    assert_int_equal(tu_sh("%s", cmd), 0);
}

typedef struct {
    const char *scale, *sigma, *min_size;
    const char *extra, *refextra; /* more options for fz-superpixel and fz_ref.py */
} params;

/* Run fz-superpixel with each parameter set, then compare every output with
 * skimage in one Python process. */
static void check(const char *slices, const params *p, int n)
{
    const char *t = tu_tmpdir();
    char cmd[8192];
    size_t used = (size_t)snprintf(cmd, sizeof cmd, "%s %s compare %s", tu_python(), ref_py(), slices);
    for (int i = 0; i < n; i++) {
        int rc = tu_sh("fz-superpixel --scale %s --sigma %s --min-size %s %s -i %s -o %s/out%d.fr", p[i].scale,
                       p[i].sigma, p[i].min_size, p[i].extra ? p[i].extra : "", slices, t, i);
        assert_int_equal(rc, 0);
        used += (size_t)snprintf(cmd + used, sizeof cmd - used, "%s %s/out%d.fr --scale %s --sigma %s --min-size %s %s",
                                 i ? " +" : "", t, i, p[i].scale, p[i].sigma, p[i].min_size,
                                 p[i].refextra ? p[i].refextra : "");
    }
    assert_true(used < sizeof cmd);
    assert_int_equal(tu_sh("%s", cmd), 0);
}

static const params sets[] = {
    {"1", "0.8", "20", NULL, NULL},    {"100", "0.8", "50", NULL, NULL}, {"300", "0.5", "100", NULL, NULL},
    {"50", "1.0", "20", NULL, NULL},   {"500", "1.5", "200", NULL, NULL},
};
#define NSETS ((int)(sizeof sets / sizeof sets[0]))

/* The bundled sample (always runs): identity for sigma > 0, ARI and
 * equality for sigma = 0, and the body mask and --min-pixels against
 * scipy.ndimage, in one reference run. */
static void test_sample(void **state)
{
    (void)state;
    static const char *specs[] = {
        "subj03_ct.nii.gz:48:-160:240", "subj16_ct.nii.gz:32:-500:500", "pre024_ct.nii.gz:64:-160:240",
        "subj27_ct.nii.gz:80:-1000:1000", "subj28_ct.nii.gz:16:-160:240",
    };
    static const params more[] = {
        {"10", "0", "10", "", "--ari 0.99"},
        {"100", "0", "50", "", "--ari 0.99"},
        {"100", "0.8", "50", "--body", "--body 0.1"},
        {"100", "0.8", "50", "--body --body-threshold 0.3 --min-pixels 40", "--body 0.3 --min-pixels 40"},
        {"300", "0.8", "20", "--min-pixels 100", "--min-pixels 100"},
    };
    params all[NSETS + 5];
    char slices[600];
    memcpy(all, sets, sizeof sets);
    memcpy(all + NSETS, more, sizeof more);
    snprintf(slices, sizeof slices, "%s/sample.fr", tu_tmpdir());
    make_slices(slices, tu_sample(), specs, 5);
    check(slices, all, NSETS + 5);
}

/* ../shared/data: a 512x512 abdomen slice, 108x256 head, 128x128 head and
 * neck, 101x122 pelvis; every parameter set, and sigma = 0. LRCPIPE_LONG=1
 * adds more 512x512 slices. */
static void test_data(void **state)
{
    (void)state;
    TU_NEED_DATA();
    static const char *specs[] = {
        "ct_other/ts02_ct.nii.gz:5:-160:240",        /* 512x512 abdomen */
        "ct_unlabeled/head01_ct.nii.gz:120:-160:240", /* 108x256 head */
        "ct/subj01_ct.nii.gz:30:-500:500",           /* 128x128 head and neck */
        "ct_partial/part010_ct.nii.gz:70:-160:240",  /* 128x128 */
        "ct_other/ts01_ct.nii.gz:40:-160:240",       /* 101x122 pelvis */
        "ct_other/ts02_ct.nii.gz:15:-1000:1000",     /* long: 512x512, wide window */
        "ct_other/ts02_ct.nii.gz:0:-160:240",
        "ct_other/ts02_ct.nii.gz:19:-160:240",
        "ct_unlabeled/head01_ct.nii.gz:60:-1000:1000",
    };
    params all[NSETS + 1];
    const char *lng = getenv("LRCPIPE_LONG");
    char slices[600];
    memcpy(all, sets, sizeof sets);
    all[NSETS] = (params){"10", "0", "10", "", "--ari 0.99"};
    snprintf(slices, sizeof slices, "%s/data.fr", tu_tmpdir());
    make_slices(slices, tu_data(), specs, lng && !strcmp(lng, "1") ? 9 : 5);
    check(slices, all, NSETS + 1);
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = tu_read(a, &na), *y = tu_read(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

/* Two threads, one thread and the exact sort write the same bytes, in input
 * order. */
static void test_threads_and_exact_sort(void **state)
{
    (void)state;
    static const char *specs[] = {
        "subj03_ct.nii.gz:40:-160:240", "subj03_ct.nii.gz:50:-160:240", "subj05_ct.nii.gz:60:-160:240",
        "subj16_ct.nii.gz:70:-160:240", "subj27_ct.nii.gz:30:-160:240", "subj28_ct.nii.gz:90:-160:240",
        "pre045_ct.nii.gz:50:-160:240",
    };
    const char *t = tu_tmpdir();
    char slices[600], a[600], b[600], c[600];
    snprintf(slices, sizeof slices, "%s/multi.fr", t);
    snprintf(a, sizeof a, "%s/t1.fr", t);
    snprintf(b, sizeof b, "%s/t2.fr", t);
    snprintf(c, sizeof c, "%s/tx.fr", t);
    make_slices(slices, tu_sample(), specs, 7);
    assert_int_equal(tu_sh("fz-superpixel -j 1 -i %s -o %s", slices, a), 0);
    assert_int_equal(tu_sh("fz-superpixel --threads 2 < %s > %s", slices, b), 0);
    assert_int_equal(tu_sh("fz-superpixel -j 3 --exact-sort -i %s -o %s", slices, c), 0);
    assert_true(same_file(a, b));
    assert_true(same_file(a, c));
    /* seq and z come out in input order */
    assert_int_equal(tu_sh("test \"$(frame-cat --json --no-stats %s | grep -o '\"z\": [0-9]*' | tr -d ' \\n')\" = "
                           "'\"z\":40\"z\":50\"z\":60\"z\":70\"z\":30\"z\":90\"z\":50'",
                           b),
                     0);
}

/* ---- frames written by the test itself ---- */

static void write_frames(const char *path, frame *f, int n)
{
    frame_buf b = {0};
    frame end;
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    for (int i = 0; i < n; i++) {
        assert_int_equal(frame_encode(&f[i], &b), 0);
        assert_int_equal(fwrite(b.data, 1, b.len, fp), b.len);
    }
    frame_init(&end, FRAME_END);
    end.count = n;
    assert_int_equal(frame_encode(&end, &b), 0);
    assert_int_equal(fwrite(b.data, 1, b.len, fp), b.len);
    frame_buf_free(&b);
    fclose(fp);
}

static void slice_frame(frame *f, int64_t seq, int64_t H, int64_t W, dtype dt)
{
    tensor t;
    frame_init(f, FRAME_DATA);
    f->seq = seq;
    f->z = 3;
    frame_set_id(f, "unit");
    assert_int_equal(tensor_init2(&t, dt, H, W), 0);
    for (int64_t i = 0; i < H * W; i++) /* two flat halves and a ramp */
        tensor_set(&t, (size_t)i, i % W < W / 2 ? 0.2 : 0.6 + 0.001 * (double)(i / W));
    assert_int_equal(frame_tensor_add(f, "image", &t), 0);
}

/* Other tensors and meta keys pass through; uint8 images are read as skimage
 * reads them (v/255); a frame with only `image` is enough. */
static void test_pass_through(void **state)
{
    (void)state;
    const char *t = tu_tmpdir();
    char in[600], out[600];
    frame f[3];
    tensor lab;
    double sp[2] = {1.0, 1.0};
    snprintf(in, sizeof in, "%s/pt.fr", t);
    snprintf(out, sizeof out, "%s/pt.out.fr", t);
    slice_frame(&f[0], 0, 20, 30, DT_F32);
    tensor_init2(&lab, DT_U8, 20, 30);
    ((uint8_t *)lab.data)[7] = 5;
    frame_tensor_add(&f[0], "label", &lab);
    mval_put_f64v(frame_meta(&f[0]), "spacing", sp, 2);
    mval_put_str(frame_meta(&f[0]), "note", "kept");
    slice_frame(&f[1], 1, 9, 4, DT_U8);
    slice_frame(&f[2], 2, 1, 1, DT_F64);
    write_frames(in, f, 3);
    for (int i = 0; i < 3; i++)
        frame_free(&f[i]);
    assert_int_equal(tu_sh("fz-superpixel -i %s -o %s", in, out), 0);
    assert_int_equal(tu_sh("frame-cat --json %s | grep -q '\"note\": \"kept\"'", out), 0);
    assert_int_equal(tu_sh("frame-cat --json --seq 0 %s | grep -q '\"label\": {\"dtype\": \"|u1\", \"shape\": "
                           "\\[20, 30\\], \"min\": 0.0, \"max\": 5.0'",
                           out),
                     0);
    assert_int_equal(tu_sh("frame-cat --json --seq 2 %s | grep -q '\"K\": 1'", out), 0);
    assert_int_equal(tu_sh("%s %s compare %s %s --scale 100 --sigma 0.8 --min-size 50", tu_python(), ref_py(), in,
                           out),
                     0);
}

static void expect_error(const char *what, int status, const char *needle1, const char *needle2, const char *fmt,
                         ...) __attribute__((format(printf, 5, 6)));

static void expect_error(const char *what, int status, const char *needle1, const char *needle2, const char *fmt,
                         ...)
{
    char cmd[2048], *err = NULL;
    va_list ap;
    int rc;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    rc = tu_sh_err(&err, "%s", cmd);
    print_message("%s: exit %d: %s", what, rc, err);
    assert_int_equal(rc, status);
    /* one line; a usage error ends with a pointer to --help */
    assert_int_equal(tu_count_lines(err), 1);
    if (status == 2)
        assert_non_null(strstr(err, "(see fz-superpixel --help)"));
    assert_non_null(strstr(err, "fz-superpixel: "));
    assert_non_null(strstr(err, needle1));
    if (needle2)
        assert_non_null(strstr(err, needle2));
    free(err);
}

static void test_bad_input(void **state)
{
    (void)state;
    const char *t = tu_tmpdir();
    char p[600];
    frame f[2];
    tensor x;

    /* no image: the second record */
    slice_frame(&f[0], 0, 8, 8, DT_F32);
    frame_init(&f[1], FRAME_DATA);
    f[1].seq = 1;
    tensor_init2(&x, DT_F32, 8, 8);
    frame_tensor_add(&f[1], "label", &x);
    snprintf(p, sizeof p, "%s/noimg.fr", t);
    write_frames(p, f, 2);
    frame_free(&f[1]);
    expect_error("no image", 1, "seq 1", "no 'image'", "fz-superpixel -j 2 -i %s > \"$FZT/sink\"", p);

    /* a volume instead of a slice */
    frame_init(&f[1], FRAME_DATA);
    f[1].seq = 1;
    tensor_init3(&x, DT_F32, 2, 8, 8);
    frame_tensor_add(&f[1], "image", &x);
    snprintf(p, sizeof p, "%s/vol.fr", t);
    write_frames(p, f, 2);
    frame_free(&f[1]);
    expect_error("3-D", 1, "seq 1", "[2, 8, 8]", "fz-superpixel -i %s > \"$FZT/sink\"", p);

    /* NaN and Inf */
    slice_frame(&f[1], 1, 8, 8, DT_F32);
    ((float *)frame_tensor_get(&f[1], "image")->data)[8 * 2 + 5] = NAN;
    snprintf(p, sizeof p, "%s/nan.fr", t);
    write_frames(p, f, 2);
    expect_error("NaN", 1, "seq 1", "(2, 5) is NaN", "fz-superpixel -i %s > \"$FZT/sink\"", p);
    ((float *)frame_tensor_get(&f[1], "image")->data)[8 * 2 + 5] = -INFINITY;
    snprintf(p, sizeof p, "%s/inf.fr", t);
    write_frames(p, f, 2);
    expect_error("Inf", 1, "seq 1", "infinite", "fz-superpixel -j 1 -i %s > \"$FZT/sink\"", p);
    frame_free(&f[1]);

    /* an unsupported dtype */
    slice_frame(&f[1], 1, 8, 8, DT_I32);
    snprintf(p, sizeof p, "%s/i32.fr", t);
    write_frames(p, f, 2);
    frame_free(&f[1]);
    expect_error("int32", 1, "seq 1", "<i4", "fz-superpixel -i %s > \"$FZT/sink\"", p);

    /* an empty image */
    frame_init(&f[1], FRAME_DATA);
    f[1].seq = 1;
    tensor_init2(&x, DT_F32, 0, 8);
    frame_tensor_add(&f[1], "image", &x);
    snprintf(p, sizeof p, "%s/empty.fr", t);
    write_frames(p, f, 2);
    frame_free(&f[1]);
    frame_free(&f[0]);
    expect_error("empty", 1, "seq 1", "[0, 8]", "fz-superpixel -i %s > \"$FZT/sink\"", p);

    /* not a frame stream */
    snprintf(p, sizeof p, "%s/junk.fr", t);
    tu_write(p, "\xc1\xc1\xc1junk", 7);
    expect_error("junk", 1, "junk.fr", NULL, "fz-superpixel -i %s > \"$FZT/sink\"", p);

    /* parameters out of range are usage errors (exit 2) naming the option */
    expect_error("scale", 2, "--scale", "-1", "fz-superpixel --scale -1 < \"$FZT/empty\" > \"$FZT/sink\"");
    expect_error("sigma", 2, "--sigma", NULL, "fz-superpixel --sigma nan < \"$FZT/empty\" > \"$FZT/sink\"");
    expect_error("min-size", 2, "--min-size", NULL, "fz-superpixel --min-size -3 < \"$FZT/empty\" > \"$FZT/sink\"");
    expect_error("threads", 2, "--threads", NULL, "fz-superpixel --threads 0 < \"$FZT/empty\" > \"$FZT/sink\"");
}

/* More usage errors, --help, --version, an empty stream. */
static void test_usage_status(void **state)
{
    (void)state;
    assert_int_equal(tu_sh("fz-superpixel --sigma 1e9 < \"$FZT/empty\" > \"$FZT/sink\" 2>&1"), 2);
    assert_int_equal(tu_sh("fz-superpixel --min-size x < \"$FZT/empty\" > \"$FZT/sink\" 2>&1"), 2);
    assert_int_equal(tu_sh("fz-superpixel --min-pixels -1 < \"$FZT/empty\" > \"$FZT/sink\" 2>&1"), 2);
    assert_int_equal(tu_sh("fz-superpixel extra < \"$FZT/empty\" > \"$FZT/sink\" 2>&1"), 2);
    assert_int_equal(tu_sh("fz-superpixel --help | grep -q -- --min-pixels"), 0);
    assert_int_equal(tu_sh("fz-superpixel --version | grep -q lrcpipe"), 0);
    /* no bytes at all is an error (the producer failed); a stream of no
     * data records (start and end only) is a clean end */
    assert_int_equal(tu_sh("fz-superpixel < \"$FZT/empty\" 2>\"$FZT/err\" > \"$FZT/sink\"; test $? = 1 && "
                           "grep -q 'empty input' \"$FZT/err\""),
                     0);
    assert_int_equal(tu_sh("frame-cat --id none -o - \"$FZT/empty\" 2>/dev/null; "
                           "LRCPIPE_NO_END_OK=1 frame-cat --id none -o \"$FZT/zero\" \"$FZT/empty\" && "
                           "fz-superpixel < \"$FZT/zero\" | frame-cat --count | grep -qx 0"),
                     0);
}

int main(void)
{
    /* Commands read an empty file and write to a scratch file rather than
     * /dev/null, which a sandbox may have replaced by a regular file that
     * other programs write into. */
    char empty[600];
    setenv("FZT", tu_tmpdir(), 1);
    snprintf(empty, sizeof empty, "%s/empty", tu_tmpdir());
    tu_write(empty, "", 0);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample),
        cmocka_unit_test(test_data),
        cmocka_unit_test(test_threads_and_exact_sort),
        cmocka_unit_test(test_pass_through),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_usage_status),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
