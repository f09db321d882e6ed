/* npcompat against NumPy 1.24 and SciPy 1.10, bit for bit: np.exp, scipy's
 * Gaussian kernel and gaussian_filter (reflect), np.argsort's tie order.
 * The references come from tests/py/npc_ref.py in the same run. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "image/npcompat.h"
#include "io/npy.h"
#include "testutil.h"

static char dir[600];
static int ngauss, nsort;

static int setup(void **state)
{
    char cmd[2048], out[700];
    (void)state;
    snprintf(dir, sizeof dir, "%s/npc", tu_tmpdir());
    snprintf(out, sizeof out, "%s/counts", tu_tmpdir());
    snprintf(cmd, sizeof cmd, "mkdir -p %s && %s %s/tests/py/npc_ref.py %s > %s", dir, tu_python(), tu_root(), dir,
             out);
    if (tu_sh("%s", cmd))
        return -1;
    {
        char *s = tu_read(out, NULL);
        if (!s || sscanf(s, "%d %d", &ngauss, &nsort) != 2)
            return -1;
        free(s);
    }
    return 0;
}

static void load(tensor *t, const char *fmt, int i)
{
    char path[800], name[100];
    snprintf(name, sizeof name, fmt, i);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (npy_read(path, t))
        fail_msg("%s", err_get());
}

static void test_exp(void **state)
{
    (void)state;
    tensor x, y;
    size_t bad = 0, n;
    load(&x, "exp_x.npy", 0);
    load(&y, "exp_y.npy", 0);
    n = tensor_numel(&x);
    for (size_t i = 0; i < n; i++) {
        double a = ((double *)x.data)[i], want = ((double *)y.data)[i], got = npc_exp(a);
        if (memcmp(&got, &want, sizeof got)) {
            if (bad < 5)
                print_message("exp(%a): %a, numpy %a\n", a, got, want);
            bad++;
        }
    }
    print_message("np.exp: %zu of %zu arguments differ (%s)\n", bad, n,
                  npc_exp_is_svml() ? "SVML's kernel" : "libm");
    assert_int_equal(bad, 0);
    tensor_free(&x);
    tensor_free(&y);
}

static void test_kernel(void **state)
{
    (void)state;
    tensor s;
    load(&s, "kern_sigmas.npy", 0);
    for (size_t i = 0; i < tensor_numel(&s); i++) {
        double sigma = ((double *)s.data)[i], w[2000], maxd = 0;
        tensor ref;
        int r = npc_gaussian_kernel1d(w, sigma, 4.0);
        load(&ref, "kern_%d.npy", (int)i);
        assert_int_equal(tensor_numel(&ref), 2 * r + 1);
        for (int j = 0; j <= 2 * r; j++)
            maxd = fmax(maxd, fabs(w[j] - ((double *)ref.data)[j]));
        print_message("sigma %g: radius %d, largest difference %g\n", sigma, r, maxd);
        assert_memory_equal(w, ref.data, (size_t)(2 * r + 1) * sizeof *w);
        tensor_free(&ref);
    }
    tensor_free(&s);
}

static void test_gaussian_filter(void **state)
{
    (void)state;
    for (int i = 0; i < ngauss; i++) {
        tensor in, sg, ref;
        double *out, maxd = 0;
        size_t n;
        load(&in, "gauss_%d_in.npy", i);
        load(&sg, "gauss_%d_sigma.npy", i);
        load(&ref, "gauss_%d_out.npy", i);
        n = tensor_numel(&in);
        out = malloc(n * sizeof *out);
        assert_int_equal(npc_gaussian_filter2d(out, in.data, in.shape[0], in.shape[1], ((double *)sg.data)[0],
                                               ((double *)sg.data)[1], 4.0, NULL),
                         0);
        for (size_t j = 0; j < n; j++)
            maxd = fmax(maxd, fabs(out[j] - ((double *)ref.data)[j]));
        if (maxd)
            print_message("case %d (%lldx%lld): largest difference %g\n", i, (long long)in.shape[0],
                          (long long)in.shape[1], maxd);
        assert_memory_equal(out, ref.data, n * sizeof *out);
        /* in place */
        assert_int_equal(npc_gaussian_filter2d(in.data, in.data, in.shape[0], in.shape[1], ((double *)sg.data)[0],
                                               ((double *)sg.data)[1], 4.0, NULL),
                         0);
        assert_memory_equal(in.data, ref.data, n * sizeof *out);
        free(out);
        tensor_free(&in);
        tensor_free(&sg);
        tensor_free(&ref);
    }
}

static void test_argsort(void **state)
{
    (void)state;
    for (int i = 0; i < nsort; i++) {
        tensor v, ref;
        int32_t *idx;
        int64_t n, bad = 0;
        load(&v, "sort_%d_v.npy", i);
        load(&ref, "sort_%d_idx.npy", i);
        n = (int64_t)tensor_numel(&v);
        idx = malloc((size_t)n * sizeof *idx);
        assert_int_equal(npc_argsort(idx, v.data, n), 0);
        for (int64_t j = 0; j < n; j++)
            bad += idx[j] != ((int64_t *)ref.data)[j];
        print_message("argsort case %d: %lld elements, %lld positions differ from numpy\n", i, (long long)n,
                      (long long)bad);
        assert_int_equal(bad, 0);
        free(idx);
        tensor_free(&v);
        tensor_free(&ref);
    }
}

/* A slice of the order from the partial introsort equals the same slice
 * of the full one (itself equal to numpy's above), on tie-heavy arrays and
 * ranges at the edges, inside runs of ties and across them. */
static void test_argsort_range(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 11, 0);
    for (int it = 0; it < 60; it++) {
        int64_t n = 1 + (int64_t)rng_below(&r, it < 30 ? 300 : 200000), lo, hi;
        int levels = 1 + (int)rng_below(&r, it % 3 == 0 ? 3 : 50);
        double *v = malloc((size_t)n * sizeof *v);
        int32_t *full = malloc((size_t)n * sizeof *full), *part = malloc((size_t)n * sizeof *part);
        for (int64_t i = 0; i < n; i++)
            v[i] = (double)rng_below(&r, (uint64_t)levels);
        assert_int_equal(npc_argsort(full, v, n), 0);
        {
            /* one lazy sort, many ranges in any order, then everything */
            npc_lazysort *ls = npc_lazysort_new(v, n);
            assert_non_null(ls);
            for (int k = 0; k < 12; k++) {
                lo = (int64_t)rng_below(&r, (uint64_t)n);
                hi = lo + 1 + (int64_t)rng_below(&r, (uint64_t)(n - lo < 50 ? n - lo : 50));
                assert_int_equal(npc_lazysort_range(ls, part, lo, hi), 0);
                assert_memory_equal(part, full + lo, (size_t)(hi - lo) * sizeof *part);
            }
            assert_int_equal(npc_lazysort_range(ls, part, 0, n), 0);
            assert_memory_equal(part, full, (size_t)n * sizeof *part);
            npc_lazysort_free(ls);
        }
        for (int k = 0; k < 8; k++) {
            lo = (int64_t)rng_below(&r, (uint64_t)n);
            hi = lo + 1 + (int64_t)rng_below(&r, (uint64_t)(k < 4 ? (n - lo) : (n - lo < 40 ? n - lo : 40)));
            if (k == 0)
                lo = 0;
            if (k == 1)
                hi = n;
            assert_int_equal(npc_argsort_range(part, v, n, lo, hi), 0);
            assert_memory_equal(part, full + lo, (size_t)(hi - lo) * sizeof *part);
        }
        free(v);
        free(full);
        free(part);
    }
    assert_int_equal(npc_argsort_range(NULL, NULL, 5, 3, 2), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp),
        cmocka_unit_test(test_kernel),
        cmocka_unit_test(test_gaussian_filter),
        cmocka_unit_test(test_argsort),
        cmocka_unit_test(test_argsort_range),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
