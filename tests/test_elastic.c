/* elastic-aug and libcommon/image/elastic: the blur against a naive loop and
 * scipy.ndimage.gaussian_filter, the warp against scipy's map_coordinates
 * (mode='reflect') on written fields, the region bookkeeping on real
 * slices, reproducibility, epochs, and bad input. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/rng.h"
#include "image/elastic.h"
#include "io/frame.h"
#include "io/npy.h"
#include "io/stream.h"
#include "testutil.h"

/* Slices of the bundled sample, made once: 128 px with labels, and 200 px. */
static char s128[600], s200[600];

static int py(const char *args)
{
    return tu_sh("%s %s/tests/py/elastic_ref.py %s", tu_python(), tu_root(), args);
}

static int setup(void **state)
{
    char cmd[2000];
    (void)state;
    snprintf(s128, sizeof s128, "%s", tu_tmp("s128.fr"));
    snprintf(s200, sizeof s200, "%s", tu_tmp("s200.fr"));
    snprintf(cmd, sizeof cmd, "slices %s --ct %s/subj03_ct.nii.gz --seg %s/subj03_seg.nii.gz --z 45,60,75,90", s128,
             tu_sample(), tu_sample());
    if (py(cmd))
        return -1;
    snprintf(cmd, sizeof cmd, "slices %s --size 200 --ct %s/pre024_ct.nii.gz --z 40,70", s200, tu_sample());
    return py(cmd) ? -1 : 0;
}

/* ---- kernels ---- */

static void naive_blur(double *out, const float *in, int64_t Y, int64_t X, double sigma)
{
    int r = elastic_gauss_radius(sigma);
    double *w = malloc((size_t)(2 * r + 1) * sizeof *w), *t = calloc((size_t)(Y * X), sizeof *t);
    elastic_gauss_kernel(w, sigma);
    /* The reflect extension spelled out as a mirror walk, not a modulus. */
    for (int64_t y = 0; y < Y; y++)
        for (int64_t x = 0; x < X; x++)
            for (int k = -r; k <= r; k++) {
                int64_t j = y + k;
                while (j < 0 || j >= Y) {
                    if (j < 0)
                        j = -j - 1;
                    if (j >= Y)
                        j = 2 * Y - j - 1;
                }
                t[y * X + x] += w[k + r] * in[j * X + x];
            }
    for (int64_t y = 0; y < Y; y++)
        for (int64_t x = 0; x < X; x++) {
            double s = 0;
            for (int k = -r; k <= r; k++) {
                int64_t j = x + k;
                while (j < 0 || j >= X) {
                    if (j < 0)
                        j = -j - 1;
                    if (j >= X)
                        j = 2 * X - j - 1;
                }
                s += w[k + r] * t[y * X + j];
            }
            out[y * X + x] = s;
        }
    free(w);
    free(t);
}

static void test_blur_naive(void **state)
{
    (void)state;
    static const double sigmas[] = {0.3, 1, 2.5, 4, 13};
    const int64_t Y = 23, X = 77; /* two 32-wide blocks and a tail */
    float *a = malloc(Y * X * sizeof *a), *b = malloc(Y * X * sizeof *b);
    double *ref = malloc(Y * X * sizeof *ref);
    rng r;
    rng_seed(&r, 5, 0);
    for (size_t s = 0; s < sizeof sigmas / sizeof sigmas[0]; s++) {
        double worst = 0;
        for (int64_t i = 0; i < Y * X; i++)
            a[i] = b[i] = 2 * rng_uniformf(&r) - 1;
        naive_blur(ref, a, Y, X, sigmas[s]);
        assert_int_equal(elastic_blur(b, Y, X, sigmas[s]), 0);
        for (int64_t i = 0; i < Y * X; i++)
            worst = fmax(worst, fabs(b[i] - ref[i]));
        print_message("blur sigma %g (radius %d, beyond the 23 rows at 13): largest |fast - naive| %.3g (tol 1e-6)\n",
                      sigmas[s], elastic_gauss_radius(sigmas[s]), worst);
        assert_true(worst < 1e-6);
    }
    free(a);
    free(b);
    free(ref);
}

static void test_blur_scipy(void **state)
{
    (void)state;
    const int64_t Y = 57, X = 90;
    static const double sigmas[] = {4, 17};
    rng r;
    rng_seed(&r, 9, 0);
    for (int s = 0; s < 2; s++) {
        tensor a, b;
        char args[1400];
        tensor_init2(&a, DT_F32, Y, X);
        for (int64_t i = 0; i < Y * X; i++)
            ((float *)a.data)[i] = 2 * rng_uniformf(&r) - 1;
        tensor_copy(&b, &a);
        assert_int_equal(elastic_blur(b.data, Y, X, sigmas[s]), 0);
        assert_int_equal(npy_write(tu_tmp("blur_in.npy"), &a), 0);
        assert_int_equal(npy_write(tu_tmp("blur_out.npy"), &b), 0);
        snprintf(args, sizeof args, "blur %s %s %g --tol 1e-6", tu_tmp("blur_in.npy"), tu_tmp("blur_out.npy"), sigmas[s]);
        assert_int_equal(py(args), 0);
        tensor_free(&a);
        tensor_free(&b);
    }
}

static void test_regions_prune_naive(void **state)
{
    (void)state;
    const int64_t n = 5000, K = 40;
    int32_t *q = malloc(n * sizeof *q), *p = malloc(n * sizeof *p);
    int32_t *q0 = malloc(n * sizeof *q0), *p0 = malloc(n * sizeof *p0);
    int64_t cq[40] = {0}, cp[40] = {0}, Kn, expect = 0;
    rng r;
    rng_seed(&r, 3, 0);
    for (int64_t i = 0; i < n; i++) {
        /* skewed sizes: many small regions */
        q0[i] = q[i] = (int32_t)(rng_below(&r, 8) == 0 ? -1 : (int32_t)(rng_below(&r, K) * rng_uniform(&r)));
        p0[i] = p[i] = (int32_t)(rng_below(&r, 8) == 0 ? -1 : (int32_t)(rng_below(&r, K) * rng_uniform(&r)));
        if (q[i] >= 0)
            cq[q[i]]++;
        if (p[i] >= 0)
            cp[p[i]]++;
    }
    Kn = elastic_regions_prune(q, p, n, K, 30);
    for (int k = 0; k < K; k++)
        expect += cq[k] >= 30 && cp[k] >= 30;
    assert_int_equal(Kn, expect);
    assert_true(Kn > 3 && Kn < K); /* the case must prune something and keep something */
    for (int64_t i = 0; i < n; i++) {
        int32_t o[2] = {q0[i], p0[i]}, got[2] = {q[i], p[i]};
        for (int v = 0; v < 2; v++) {
            int32_t want = -1;
            if (o[v] >= 0 && cq[o[v]] >= 30 && cp[o[v]] >= 30) {
                want = 0;
                for (int k = 0; k < o[v]; k++)
                    want += cq[k] >= 30 && cp[k] >= 30;
            }
            assert_int_equal(got[v], want);
        }
    }
    free(q);
    free(p);
    free(q0);
    free(p0);
}

/* The AVX2 warps against the portable loops (which the scipy tests below
 * pin to map_coordinates): bit for bit, on coordinates inside, on and
 * outside every edge, in groups of four that mix both. */
static void test_warp_simd_equals_ref(void **state)
{
    (void)state;
    const int64_t Y = 37, X = 53, n = 40001;
    float *img = malloc(Y * X * sizeof *img), *co = malloc(2 * n * sizeof *co);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    int32_t *ia = malloc(n * sizeof *ia), *ib = malloc(n * sizeof *ib);
    int64_t inside = 0;
    rng r;
    rng_seed(&r, 17, 0);
    for (int64_t i = 0; i < Y * X; i++)
        img[i] = rng_uniformf(&r);
    for (int64_t i = 0; i < n; i++) {
        double u = rng_uniform(&r);
        /* mostly inside, some on the last row/column, some far out */
        co[i] = (float)(u < 0.8 ? (Y - 1) * rng_uniform(&r) : u < 0.85 ? (double)(Y - 1) : -2 * Y + 5 * Y * rng_uniform(&r));
        u = rng_uniform(&r);
        co[n + i] = (float)(u < 0.8 ? (X - 1) * rng_uniform(&r) : u < 0.85 ? (double)(X - 1) : -2 * X + 5 * X * rng_uniform(&r));
        inside += co[i] >= 0 && co[i] < Y - 1 && co[n + i] >= 0 && co[n + i] < X - 1;
    }
    elastic_warp_linear(a, img, Y, X, co, n);
    elastic_warp_linear_ref(b, img, Y, X, co, n);
    assert_memory_equal(a, b, n * sizeof *a);
    elastic_warp_index(ia, Y, X, co, n);
    elastic_warp_index_ref(ib, Y, X, co, n);
    assert_memory_equal(ia, ib, n * sizeof *ia);
#if defined(__x86_64__)
    print_message("warp: fast = portable on %lld points (%lld inside), AVX2 %s\n", (long long)n, (long long)inside,
                  __builtin_cpu_supports("avx2") ? "used" : "absent");
#endif
    free(img);
    free(co);
    free(a);
    free(b);
    free(ia);
    free(ib);
}

/* gamma against powf (relative 1e-6) over the float range that matters,
 * subnormals included; the noise is standard normal (moments on 2^20
 * samples) and follows the stream regardless of the 1024-pixel chunking. */
static void test_jitter_kernels(void **state)
{
    (void)state;
    const int64_t n = 1 << 20;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    static const double gs[] = {0.5, 0.83, 1.2, 2.0};
    double worst = 0, worst_all = 0, m1 = 0, m2 = 0, m4 = 0;
    elastic_jitter j;
    rng r;
    rng_seed(&r, 4, 0);
    for (int gi = 0; gi < 4; gi++) {
        for (int64_t i = 0; i < n; i++) {
            /* log-uniform over 2^-140 .. 2^20, plus zeros and negatives */
            a[i] = i % 97 == 0 ? 0.0f : i % 89 == 0 ? -0.25f : exp2f(-140.0f + 160.0f * rng_uniformf(&r));
            b[i] = a[i];
        }
        j = (elastic_jitter){0, 1, gs[gi], 0};
        elastic_jitter_apply(b, n, &j, &r);
        for (int64_t i = 0; i < n; i++) {
            double want = a[i] > 0 ? pow((double)a[i], gs[gi]) : a[i];
            if (want < 0x1.0p-126) /* flushed below the normal range */
                assert_true(b[i] == 0.0f || fabs(b[i] - want) <= 0x1.0p-126);
            else if (want >= 0x1.0p-20 && want <= 0x1.0p20)
                worst = fmax(worst, fabs(b[i] - want) / fabs(want));
            else
                worst_all = fmax(worst_all, fabs(b[i] - want) / fabs(want));
        }
    }
    /* v^g = 2^y in float: an absolute error of y of |y| 2^-24 is a relative
     * error of ln 2 |y| 2^-24 in the result, which grows with |y|. */
    print_message("gamma: largest relative error against pow %.3g for results in [2^-20, 2^20] (tol 2e-6), "
                  "%.3g down to 2^-126 and up to 2^40 (tol 2e-5)\n", worst, worst_all);
    assert_true(worst < 2e-6);
    assert_true(worst_all < 2e-5);

    for (int64_t i = 0; i < n; i++)
        a[i] = 0;
    j = (elastic_jitter){0, 1, 1, 1};
    rng_seed(&r, 5, 0);
    elastic_jitter_apply(a, n - 1, &j, &r); /* odd count */
    for (int64_t i = 0; i < n - 1; i++) {
        m1 += a[i];
        m2 += (double)a[i] * a[i];
        m4 += (double)a[i] * a[i] * a[i] * a[i];
    }
    m1 /= n - 1;
    m2 /= n - 1;
    m4 /= n - 1;
    print_message("noise: mean %.4f, variance %.4f, 4th moment %.3f (0, 1, 3)\n", m1, m2, m4);
    assert_true(fabs(m1) < 0.005 && fabs(m2 - 1) < 0.01 && fabs(m4 - 3) < 0.05);
    /* a short image draws the first values of the same stream */
    rng_seed(&r, 5, 0);
    for (int64_t i = 0; i < 3000; i++)
        b[i] = 0;
    elastic_jitter_apply(b, 3000, &j, &r);
    assert_memory_equal(a, b, 3000 * sizeof *a);
    free(a);
    free(b);
}

/* ---- the filter against scipy ---- */

static const char *NOJIT = "--noise 0 --gamma 0 --contrast 0 --brightness 0";

static void check(const char *pairs, const char *slices, const char *fields, const char *extra)
{
    char args[2400];
    snprintf(args, sizeof args, "check %s %s %s %s", pairs, slices, fields, extra);
    assert_int_equal(py(args), 0);
}

/* Default field (elastic + affine), intensity jitter without noise: the
 * warp must equal map_coordinates on the written field within 1e-5 (it is
 * exact in practice), with the jitter re-applied in NumPy. */
static void test_warp_equals_scipy(void **state)
{
    (void)state;
    assert_int_equal(tu_sh("elastic-aug --seed 11 --labels --noise 0 -i %s -o %s --field-out %s", s128,
                           tu_tmp("p1.fr"), tu_tmp("f1.fr")), 0);
    check(tu_tmp("p1.fr"), s128, tu_tmp("f1.fr"), "--labels --tol 1e-5");
    assert_int_equal(tu_sh("elastic-aug --seed 12 %s -i %s -o %s --field-out %s", NOJIT, s200, tu_tmp("p2.fr"),
                           tu_tmp("f2.fr")), 0);
    check(tu_tmp("p2.fr"), s200, tu_tmp("f2.fr"), "--tol 0");
}

/* A violent field: large displacements and the whole affine range, so that
 * many samples fall outside the grid and reflect several times. */
static void test_strong_field_exact(void **state)
{
    (void)state;
    assert_int_equal(tu_sh("elastic-aug --seed 3 --alpha 400 --sigma 3 --rotate 180 --scale 0.6 --shift 150 "
                           "--labels --min-pixels 1 %s -i %s -o %s --field-out %s",
                           NOJIT, s128, tu_tmp("p3.fr"), tu_tmp("f3.fr")), 0);
    check(tu_tmp("p3.fr"), s128, tu_tmp("f3.fr"), "--labels --min-pixels 1 --tol 0");
}

/* Hand-made coordinates read with --field-in: integers, half-integers,
 * -1e-16, n - 0.5, far outside on both sides. */
static void test_field_in_hard_coordinates(void **state)
{
    (void)state;
    char args[1400];
    snprintf(args, sizeof args, "field %s %s", s200, tu_tmp("hard.fr"));
    assert_int_equal(py(args), 0);
    assert_int_equal(tu_sh("elastic-aug --seed 1 --min-pixels 1 %s -i %s -o %s --field-in %s --field-out %s", NOJIT,
                           s200, tu_tmp("p4.fr"), tu_tmp("hard.fr"), tu_tmp("f4.fr")), 0);
    check(tu_tmp("p4.fr"), s200, tu_tmp("f4.fr"), "--min-pixels 1 --tol 0");
}

/* Degenerate slices (one row, one column, one pixel, 2x2) and a wide one:
 * still exactly scipy's warp. */
static void test_tiny_slices(void **state)
{
    (void)state;
    static const int64_t shapes[][2] = {{1, 7}, {2, 2}, {3, 1}, {1, 1}, {5, 300}};
    stream_out *o = stream_out_open(tu_tmp("tiny.fr"));
    rng r;
    rng_seed(&r, 23, 0);
    assert_non_null(o);
    for (int k = 0; k < 5; k++) {
        frame f;
        tensor im, rg;
        frame_init(&f, FRAME_DATA);
        tensor_init2(&im, DT_F32, shapes[k][0], shapes[k][1]);
        tensor_init2(&rg, DT_I32, shapes[k][0], shapes[k][1]);
        for (size_t i = 0; i < tensor_numel(&im); i++) {
            ((float *)im.data)[i] = rng_uniformf(&r);
            ((int32_t *)rg.data)[i] = (int32_t)rng_below(&r, 4) - 1;
        }
        frame_tensor_add(&f, "image", &im);
        frame_tensor_add(&f, "regions", &rg);
        assert_int_equal(stream_out_write(o, &f), 0);
        frame_free(&f);
    }
    assert_int_equal(stream_out_end(o), 0);
    assert_int_equal(stream_out_close(o), 0);
    assert_int_equal(tu_sh("elastic-aug --seed 2 --min-pixels 1 --alpha 5 --sigma 1 --shift 3 %s -i %s -o %s "
                           "--field-out %s", NOJIT, tu_tmp("tiny.fr"), tu_tmp("tinyp.fr"), tu_tmp("tinyf.fr")), 0);
    check(tu_tmp("tinyp.fr"), tu_tmp("tiny.fr"), tu_tmp("tinyf.fr"), "--min-pixels 1 --tol 0");
}

/* Read every data record of a stream; returns the count. */
static int load(const char *path, frame **out)
{
    stream_in *in = stream_in_open(path);
    int n = 0, r;
    frame f;
    if (!in)
        fail_msg("%s", err_get());
    *out = NULL;
    while ((r = stream_in_next(in, &f)) > 0) {
        *out = realloc(*out, (size_t)(n + 1) * sizeof **out);
        (*out)[n++] = f;
    }
    if (r < 0)
        fail_msg("%s", err_get());
    stream_in_close(in);
    return n;
}

static void free_all(frame *f, int n)
{
    for (int i = 0; i < n; i++)
        frame_free(&f[i]);
    free(f);
}

static int same_tensor(const frame *a, const frame *b, const char *name)
{
    const tensor *x = frame_tensor_get(a, name), *y = frame_tensor_get(b, name);
    return x && y && tensor_same_shape(x, y) && x->dtype == y->dtype &&
           !memcmp(x->data, y->data, tensor_nbytes(x));
}

/* Writing the field and reading it back gives the same pairs. */
static void test_field_roundtrip(void **state)
{
    (void)state;
    frame *a, *b;
    int na, nb;
    assert_int_equal(tu_sh("elastic-aug --seed 21 --labels -i %s -o %s --field-out %s", s128, tu_tmp("p5.fr"),
                           tu_tmp("f5.fr")), 0);
    assert_int_equal(tu_sh("elastic-aug --seed 21 --labels -i %s -o %s --field-in %s", s128, tu_tmp("p6.fr"),
                           tu_tmp("f5.fr")), 0);
    na = load(tu_tmp("p5.fr"), &a);
    nb = load(tu_tmp("p6.fr"), &b);
    assert_int_equal(na, 4);
    assert_int_equal(nb, na);
    for (int i = 0; i < na; i++) {
        static const char *names[] = {"image", "regions", "image_p", "regions_p", "label", "label_p"};
        for (int k = 0; k < 6; k++)
            assert_true(same_tensor(&a[i], &b[i], names[k]));
    }
    free_all(a, na);
    free_all(b, nb);
}

static void test_seed_reproducible(void **state)
{
    (void)state;
    /* Bit-identical with the same seed, whatever the thread count. */
    assert_int_equal(tu_sh("elastic-aug --threads 1 --seed 5 --labels -i %s -o %s", s128, tu_tmp("r1.fr")), 0);
    assert_int_equal(tu_sh("elastic-aug --threads 2 --seed 5 --labels -i %s -o %s", s128, tu_tmp("r2.fr")), 0);
    assert_int_equal(tu_sh("elastic-aug --threads 3 --seed 5 --labels < %s > %s", s128, tu_tmp("r3.fr")), 0);
    assert_int_equal(tu_sh("cmp -s %s %s && cmp -s %s %s", tu_tmp("r1.fr"), tu_tmp("r2.fr"), tu_tmp("r1.fr"), tu_tmp("r3.fr")), 0);
    assert_int_equal(tu_sh("elastic-aug --threads 1 --epochs 3 --seed 5 -i %s -o %s --field-out %s", s128,
                           tu_tmp("r5.fr"), tu_tmp("rf5.fr")), 0);
    assert_int_equal(tu_sh("elastic-aug --threads 2 --epochs 3 --seed 5 -i %s -o %s --field-out %s", s128,
                           tu_tmp("r6.fr"), tu_tmp("rf6.fr")), 0);
    assert_int_equal(tu_sh("cmp -s %s %s && cmp -s %s %s", tu_tmp("r5.fr"), tu_tmp("r6.fr"), tu_tmp("rf5.fr"), tu_tmp("rf6.fr")),
                     0);
    assert_int_equal(tu_sh("elastic-aug --seed 6 --labels -i %s -o %s", s128, tu_tmp("r4.fr")), 0);
    assert_int_not_equal(tu_sh("cmp -s %s %s", tu_tmp("r1.fr"), tu_tmp("r4.fr")), 0);
}

static void test_epochs(void **state)
{
    (void)state;
    frame *a, *e;
    int na, ne;
    char *err = NULL;
    assert_int_equal(tu_sh("elastic-aug --seed 8 -i %s -o %s", s128, tu_tmp("e1.fr")), 0);
    assert_int_equal(tu_sh("elastic-aug --seed 8 --epochs 3 -i %s -o %s --field-out %s", s128, tu_tmp("e3.fr"),
                           tu_tmp("fe3.fr")), 0);
    na = load(tu_tmp("e1.fr"), &a);
    ne = load(tu_tmp("e3.fr"), &e);
    assert_int_equal(ne, 3 * na);
    for (int i = 0; i < ne; i++) {
        int64_t ep = -1;
        assert_int_equal(mval_get_i64(&e[i].meta, "epoch", &ep), 0);
        assert_int_equal(ep, i / na);
        assert_int_equal(e[i].z, a[i % na].z);
        assert_true(same_tensor(&e[i], &a[i % na], "image"));
        /* epoch 0 is the one-epoch run; later epochs draw fresh fields */
        if (i < na)
            assert_true(same_tensor(&e[i], &a[i], "image_p"));
        else
            assert_false(same_tensor(&e[i], &e[i - na], "image_p"));
    }
    free_all(a, na);
    free_all(e, ne);
    /* every epoch's warp is still scipy's */
    assert_int_equal(tu_sh("elastic-aug --seed 8 --epochs 3 %s -i %s -o %s --field-out %s", NOJIT, s128,
                           tu_tmp("e3n.fr"), tu_tmp("fe3n.fr")), 0);
    check(tu_tmp("e3n.fr"), s128, tu_tmp("fe3n.fr"), "--tol 0");

    /* a pipe cannot be read twice */
    assert_int_equal(tu_sh_err(&err, "cat %s | elastic-aug --seed 1 --epochs 2 > %s", s128, tu_tmp("x.fr")), 1);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "seekable"));
    free(err);
}

/* Real slices of ../shared/data, at 256 px: Kq = Kp and the one-to-one
 * correspondence, with the default options. */
static void test_real_data_regions(void **state)
{
    (void)state;
    char args[2000];
    TU_NEED_DATA();
    snprintf(args, sizeof args, "slices %s --size 256 --ct %s/ct/subj01_ct.nii.gz --seg %s/ct/subj01_seg.nii.gz "
             "--z 50,65,80 --ct %s/ct_pretrain/pre101_ct.nii.gz --z 60,75", tu_tmp("realall.fr"), tu_data(), tu_data(),
             tu_data());
    assert_int_equal(py(args), 0);
    assert_int_equal(tu_sh("elastic-aug --seed 2 --labels --noise 0 -i %s -o %s --field-out %s", tu_tmp("realall.fr"),
                           tu_tmp("rp.fr"), tu_tmp("rf.fr")), 0);
    check(tu_tmp("rp.fr"), tu_tmp("realall.fr"), tu_tmp("rf.fr"), "--labels --tol 1e-5");
}

/* Behind the real fz-superpixel (once both are on one branch): a pipe of
 * real processes, checked against scipy like the rest. */
static void test_after_fz_superpixel(void **state)
{
    (void)state;
    if (access(tu_bin("fz-superpixel"), X_OK)) {
        print_message("fz-superpixel not built here: skipped\n");
        skip();
    }
    assert_int_equal(tu_sh("frame-cat -t image -t label -o %s %s", tu_tmp("plain.fr"), s200), 0);
    assert_int_equal(tu_sh("fz-superpixel < %s > %s", tu_tmp("plain.fr"), tu_tmp("fz.fr")), 0);
    assert_int_equal(tu_sh("fz-superpixel < %s | elastic-aug --seed 4 --labels --noise 0 --field-out %s > %s",
                           tu_tmp("plain.fr"), tu_tmp("fzf.fr"), tu_tmp("fzp.fr")), 0);
    check(tu_tmp("fzp.fr"), tu_tmp("fz.fr"), tu_tmp("fzf.fr"), "--labels --tol 1e-5");
}

/* -o on a named pipe writes into it (a temporary renamed over it would
 * replace the pipe, as it once replaced /dev/null). */
static void test_output_to_fifo(void **state)
{
    (void)state;
    assert_int_equal(tu_sh("mkfifo %s", tu_tmp("fifo")), 0);
    assert_int_equal(tu_sh("cat %s > %s & elastic-aug --seed 5 --labels -i %s -o %s; rc=$?; wait; exit $rc",
                           tu_tmp("fifo"), tu_tmp("fifo.out"), s128, tu_tmp("fifo")), 0);
    assert_int_equal(tu_sh("test -p %s", tu_tmp("fifo")), 0);
    assert_int_equal(tu_sh("elastic-aug --seed 5 --labels -i %s -o %s && cmp -s %s %s", s128, tu_tmp("file.out"),
                           tu_tmp("fifo.out"), tu_tmp("file.out")), 0);
}

/* ---- bad input ---- */

static void write_frame(const char *path, frame *f)
{
    stream_out *o = stream_out_open(path);
    assert_non_null(o);
    assert_int_equal(stream_out_write(o, f), 0);
    assert_int_equal(stream_out_end(o), 0);
    assert_int_equal(stream_out_close(o), 0);
    frame_free(f);
}

static void slice_frame(frame *f, int64_t Y, int64_t X, int with_regions, int64_t RY, int64_t RX)
{
    tensor t;
    frame_init(f, FRAME_DATA);
    frame_set_id(f, "bad");
    f->z = 7;
    tensor_init2(&t, DT_F32, Y, X);
    frame_tensor_add(f, "image", &t);
    if (with_regions) {
        tensor_init2(&t, DT_I32, RY, RX);
        frame_tensor_add(f, "regions", &t);
    }
}

static void expect_fail(int status, const char *needle, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void expect_fail(int status, const char *needle, const char *fmt, ...)
{
    char *err = NULL;
    char cmd[1600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(tu_sh_err(&err, "%s", cmd), status);
    print_message("%s -> %d: %s", cmd, status, err);
    assert_int_equal(tu_count_lines(err), 1);
    assert_non_null(strstr(err, "elastic-aug: "));
    assert_non_null(strstr(err, needle));
    free(err);
}

static void test_bad_input(void **state)
{
    (void)state;
    frame f;
    tensor t;
    char o[600];
    snprintf(o, sizeof o, "%s", tu_tmp("bad_out.fr"));

    slice_frame(&f, 16, 16, 0, 0, 0);
    write_frame(tu_tmp("noreg.fr"), &f);
    expect_fail(1, "no 'regions' tensor", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("noreg.fr"), o);

    slice_frame(&f, 16, 16, 1, 16, 15);
    write_frame(tu_tmp("shape.fr"), &f);
    expect_fail(1, "shape [16, 15] but 'image' has [16, 16]", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("shape.fr"), o);

    slice_frame(&f, 16, 16, 1, 16, 16);
    mval_put_i64(frame_meta(&f), "K", 0); /* regions are all 0, so K must be >= 1 */
    write_frame(tu_tmp("k.fr"), &f);
    expect_fail(1, "meta K is 0", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("k.fr"), o);

    slice_frame(&f, 16, 16, 1, 16, 16);
    mval_put_str(frame_meta(&f), "K", "many");
    write_frame(tu_tmp("kstr.fr"), &f);
    expect_fail(1, "meta 'K' must be an integer", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("kstr.fr"), o);

    slice_frame(&f, 16, 16, 1, 16, 16);
    mval_put_i64(frame_meta(&f), "K", 1000000000000LL); /* would allocate terabytes of counters */
    write_frame(tu_tmp("khuge.fr"), &f);
    expect_fail(1, "more regions than the slice's 256 pixels", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("khuge.fr"), o);

    slice_frame(&f, 16, 16, 1, 16, 16);
    ((int32_t *)frame_tensor_get(&f, "regions")->data)[5] = -3;
    write_frame(tu_tmp("neg.fr"), &f);
    expect_fail(1, "holds -3", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("neg.fr"), o);

    frame_init(&f, FRAME_DATA);
    tensor_init3(&t, DT_F32, 2, 16, 16);
    frame_tensor_add(&f, "image", &t);
    tensor_init3(&t, DT_I32, 2, 16, 16);
    frame_tensor_add(&f, "regions", &t);
    write_frame(tu_tmp("vol.fr"), &f);
    expect_fail(1, "expected <f4 [Y, X]", "elastic-aug --seed 1 -i %s -o %s", tu_tmp("vol.fr"), o);

    expect_fail(2, "--alpha", "elastic-aug --alpha -1 -i %s -o %s", s128, o);
    expect_fail(2, "--sigma", "elastic-aug --sigma -0.5 -i %s -o %s", s128, o);
    expect_fail(2, "--min-pixels", "elastic-aug --min-pixels 0 -i %s -o %s", s128, o);
    /* a range error names what the value is (cli/args.c's opt_*_in) */
    expect_fail(2, "option --rotate: 200 is outside 0..180 (degrees)", "elastic-aug --rotate 200 -i %s -o %s", s128, o);
    expect_fail(2, "option --threads: 0 is outside 1..256 (a thread count)", "elastic-aug --threads 0 -i %s -o %s",
                s128, o);

    /* fields that do not fit */
    assert_int_equal(tu_sh("frame-cat --seq 0:1 -o %s %s", tu_tmp("two128.fr"), s128), 0);
    expect_fail(1, "the slice needs <f4 [2, 128, 128]", "elastic-aug --seed 1 -i %s -o %s --field-in %s",
                tu_tmp("two128.fr"), o, tu_tmp("hard.fr"));
    assert_int_equal(tu_sh("elastic-aug --seed 1 -i %s -o %s --field-out %s", s128, tu_tmp("ok.fr"), tu_tmp("f4x.fr")), 0);
    assert_int_equal(tu_sh("frame-cat --seq 0:1 -o %s %s", tu_tmp("f2x.fr"), tu_tmp("f4x.fr")), 0);
    expect_fail(1, "fewer than the records", "elastic-aug --seed 1 -i %s -o %s --field-in %s", s128, o,
                tu_tmp("f2x.fr"));
    assert_int_equal(tu_sh("cat %s %s > %s", tu_tmp("f4x.fr"), tu_tmp("f2x.fr"), tu_tmp("f6x.fr")), 0);
    expect_fail(1, "more field records", "elastic-aug --seed 1 -i %s -o %s --field-in %s", s128, o, tu_tmp("f6x.fr"));

    /* a failed run leaves no output file behind */
    assert_int_not_equal(tu_sh("test -e %s", o), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blur_naive),
        cmocka_unit_test(test_blur_scipy),
        cmocka_unit_test(test_regions_prune_naive),
        cmocka_unit_test(test_warp_simd_equals_ref),
        cmocka_unit_test(test_jitter_kernels),
        cmocka_unit_test(test_warp_equals_scipy),
        cmocka_unit_test(test_strong_field_exact),
        cmocka_unit_test(test_field_in_hard_coordinates),
        cmocka_unit_test(test_tiny_slices),
        cmocka_unit_test(test_field_roundtrip),
        cmocka_unit_test(test_seed_reproducible),
        cmocka_unit_test(test_epochs),
        cmocka_unit_test(test_real_data_regions),
        cmocka_unit_test(test_after_fz_superpixel),
        cmocka_unit_test(test_output_to_fifo),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
