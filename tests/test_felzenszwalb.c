/* fz_segment's fast path (radix sort + order checks of equal-weight runs)
 * against a naive loop that follows skimage's Cython line by line on
 * numpy's order (npc_argsort, itself checked in test_npcompat): identical
 * labels on images made to be full of ties (few grey levels, flat blocks,
 * sigma = 0 and > 0) and on real slices of the bundled sample, over a grid
 * of parameters; and the properties skimage's labels have. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "image/felzenszwalb.h"
#include "image/npcompat.h"
#include "io/nii.h"
#include "testutil.h"

/* skimage's _felzenszwalb_cython, as written: costs per family, np.argsort,
 * find_root without compression, float thresholds, labels by np.unique. */
static int64_t naive(int32_t *labels, const double *img, int64_t H, int64_t W, double scale, double sigma,
                     int64_t min_size)
{
    int64_t N = H * W, E = H * (W - 1) + (H - 1) * W + 2 * (H - 1) * (W - 1), e = 0, K = 0;
    double *sm = malloc((size_t)N * sizeof *sm), *cost = malloc((size_t)(E + 1) * sizeof *cost);
    int64_t *ea = malloc((size_t)(E + 1) * sizeof *ea), *eb = malloc((size_t)(E + 1) * sizeof *eb);
    int32_t *idx = malloc((size_t)(E + 1) * sizeof *idx);
    int64_t *seg = malloc((size_t)N * sizeof *seg), *size = malloc((size_t)N * sizeof *size);
    double *cint = calloc((size_t)N, sizeof *cint);
    int64_t *first = malloc((size_t)N * sizeof *first);
    assert_true(sm && cost && ea && eb && idx && seg && size && cint && first);
    assert_int_equal(npc_gaussian_filter2d(sm, img, H, W, sigma, sigma, 4.0, NULL), 0);
    scale = scale / 255.0;
#define I(r, c) sm[(r) * W + (c)]
#define EDGE(A, B, D) (ea[e] = (A), eb[e] = (B), cost[e] = sqrt((D) * (D)), e++)
    for (int64_t r = 0; r < H; r++)
        for (int64_t c = 0; c + 1 < W; c++)
            EDGE(r * W + c + 1, r * W + c, I(r, c + 1) - I(r, c));
    for (int64_t r = 0; r + 1 < H; r++)
        for (int64_t c = 0; c < W; c++)
            EDGE((r + 1) * W + c, r * W + c, I(r + 1, c) - I(r, c));
    for (int64_t r = 0; r + 1 < H; r++)
        for (int64_t c = 0; c + 1 < W; c++)
            EDGE((r + 1) * W + c + 1, r * W + c, I(r + 1, c + 1) - I(r, c));
    for (int64_t r = 0; r + 1 < H; r++)
        for (int64_t c = 0; c + 1 < W; c++)
            EDGE(r * W + c + 1, (r + 1) * W + c, I(r + 1, c) - I(r, c + 1));
    assert_int_equal(e, E);
    assert_int_equal(npc_argsort(idx, cost, E), 0);
    for (int64_t i = 0; i < N; i++)
        seg[i] = i, size[i] = 1;
    for (int pass = 0; pass < 2; pass++)
        for (int64_t q = 0; q < E; q++) {
            int64_t s0 = ea[idx[q]], s1 = eb[idx[q]], root, other;
            double w = cost[idx[q]];
            while (seg[s0] < s0)
                s0 = seg[s0];
            while (seg[s1] < s1)
                s1 = seg[s1];
            if (s0 == s1)
                continue;
            if (pass == 0) {
                float c0 = (float)(cint[s0] + scale / (double)size[s0]);
                float c1 = (float)(cint[s1] + scale / (double)size[s1]);
                if (!(w < (c0 < c1 ? c0 : c1)))
                    continue;
            } else if (!(size[s0] < min_size || size[s1] < min_size)) {
                continue;
            }
            root = s0 < s1 ? s0 : s1;
            other = s0 < s1 ? s1 : s0;
            seg[other] = root;
            size[root] = size[s0] + size[s1];
            if (pass == 0)
                cint[root] = w;
        }
    for (int64_t i = 0; i < N; i++) {
        int64_t r = i;
        while (seg[r] < r)
            r = seg[r];
        first[i] = r;
    }
    /* np.unique(roots, return_inverse=True): ids by increasing root */
    {
        int64_t *id = malloc((size_t)N * sizeof *id);
        for (int64_t i = 0; i < N; i++)
            id[i] = -1;
        for (int64_t i = 0; i < N; i++)
            if (first[i] == i)
                id[i] = K++;
        for (int64_t i = 0; i < N; i++)
            labels[i] = (int32_t)id[first[i]];
        free(id);
    }
    free(sm);
    free(cost);
    free(ea);
    free(eb);
    free(idx);
    free(seg);
    free(size);
    free(cint);
    free(first);
    return K;
}

typedef struct {
    int64_t cases, fallbacks, tie_runs;
} tally;

/* fz_segment (auto and exact) against naive on one image and parameter set;
 * also the properties: ids 0..K-1 in raster order of first pixels, no
 * segment below min_size unless it is the only one. */
static void compare(const double *img, int64_t H, int64_t W, double scale, double sigma, int64_t min_size,
                    fz_work *wk, tally *t)
{
    int64_t N = H * W, K0, K1, K2, next = 0;
    int32_t *a = malloc((size_t)N * sizeof *a), *b = malloc((size_t)N * sizeof *b),
            *c = malloc((size_t)N * sizeof *c);
    int64_t *cnt;
    fz_params pa = {scale, sigma, min_size, FZ_SORT_AUTO}, pe = {scale, sigma, min_size, FZ_SORT_EXACT};
    fz_stats st;
    assert_true(a && b && c);
    K0 = naive(a, img, H, W, scale, sigma, min_size);
    K1 = fz_segment(b, img, H, W, &pa, wk, &st);
    t->cases++;
    t->fallbacks += st.exact_sort != 0;
    t->tie_runs += st.tie_runs;
    K2 = fz_segment(c, img, H, W, &pe, wk, NULL);
    if (K1 != K0 || K2 != K0 || memcmp(a, b, (size_t)N * sizeof *a) || memcmp(a, c, (size_t)N * sizeof *a)) {
        int64_t d1 = 0, d2 = 0;
        for (int64_t i = 0; i < N; i++)
            d1 += a[i] != b[i], d2 += a[i] != c[i];
        fail_msg("%lldx%lld scale %g sigma %g min_size %lld: K naive %lld auto %lld exact %lld; %lld / %lld pixels "
                 "differ",
                 (long long)H, (long long)W, scale, sigma, (long long)min_size, (long long)K0, (long long)K1,
                 (long long)K2, (long long)d1, (long long)d2);
    }
    cnt = calloc((size_t)(K1 > 0 ? K1 : 1), sizeof *cnt);
    for (int64_t i = 0; i < N; i++) {
        assert_true(b[i] >= 0 && b[i] <= next);
        if (b[i] == next)
            next++;
        cnt[b[i]]++;
    }
    assert_int_equal(next, K1);
    for (int64_t k = 0; k < K1 && K1 > 1; k++)
        assert_true(cnt[k] >= min_size);
    free(cnt);
    free(a);
    free(b);
    free(c);
}

/* Images made of ties: few grey levels, flat blocks, a little noise. */
static void synth(double *img, int64_t H, int64_t W, int kind, rng *r)
{
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++) {
            double v;
            switch (kind) {
            case 0: v = (double)rng_below(r, 3) / 2; break;                     /* 3 levels */
            case 1: v = (double)rng_below(r, 20) / 19; break;                   /* 20 levels */
            case 2: v = ((x / 5 + y / 4) % 3) * 0.25 + (rng_below(r, 8) == 0) * 0.01; break; /* blocks */
            default: v = floor(8 * (0.5 + 0.5 * sin(0.3 * (double)x) * cos(0.2 * (double)y))) / 8; break;
            }
            img[y * W + x] = v;
        }
}

static void test_synthetic_ties(void **state)
{
    (void)state;
    static const int64_t sizes[][2] = {{1, 1}, {1, 9}, {7, 1}, {2, 2}, {7, 9}, {16, 16}, {33, 20}, {48, 64}};
    static const double scales[] = {0, 1, 10, 100, 1000};
    static const double sigmas[] = {0, 0.5, 0.8};
    static const int64_t mins[] = {0, 2, 5, 20, 50};
    fz_work *wk = fz_work_new();
    tally t = {0};
    rng r;
    rng_seed(&r, 4, 0);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++)
        for (int kind = 0; kind < 4; kind++) {
            int64_t H = sizes[s][0], W = sizes[s][1];
            double *img = malloc((size_t)(H * W) * sizeof *img);
            synth(img, H, W, kind, &r);
            for (size_t a = 0; a < sizeof scales / sizeof scales[0]; a++)
                for (size_t b = 0; b < sizeof sigmas / sizeof sigmas[0]; b++)
                    for (size_t c = 0; c < sizeof mins / sizeof mins[0]; c++)
                        compare(img, H, W, scales[a], sigmas[b], mins[c], wk, &t);
            free(img);
        }
    print_message("%lld cases, %lld runs of equal weights checked, numpy's order needed in %lld\n",
                  (long long)t.cases, (long long)t.tie_runs, (long long)t.fallbacks);
    fz_work_free(wk);
}

static void test_sample_slices(void **state)
{
    (void)state;
    static const char *vols[] = {"subj03", "subj28", "pre045"};
    static const double params[][3] = {{100, 0.8, 50}, {1, 0.8, 20}, {300, 0.5, 100}, {10, 0, 10}, {50, 1.0, 20}};
    fz_work *wk = fz_work_new();
    tally t = {0};
    for (size_t v = 0; v < 3; v++) {
        char path[1024];
        nii_image im;
        int64_t Z, H, W;
        snprintf(path, sizeof path, "%s/%s_ct.nii.gz", tu_sample(), vols[v]);
        if (nii_read(path, &im, NII_F32))
            fail_msg("%s", err_get());
        Z = im.data.shape[0];
        H = im.data.shape[1];
        W = im.data.shape[2];
        for (int64_t z = Z / 3; z < Z; z += Z / 3) {
            double *img = malloc((size_t)(H * W) * sizeof *img);
            const float *src = (const float *)im.data.data + z * H * W;
            for (int64_t i = 0; i < H * W; i++)
                img[i] = fmin(fmax((src[i] + 160.0) / 400.0, 0.0), 1.0);
            for (size_t p = 0; p < sizeof params / sizeof params[0]; p++)
                compare(img, H, W, params[p][0], params[p][1], (int64_t)params[p][2], wk, &t);
            free(img);
        }
        nii_free(&im);
    }
    print_message("%lld slice runs, %lld runs of equal weights checked, numpy's order needed in %lld\n",
                  (long long)t.cases, (long long)t.tie_runs, (long long)t.fallbacks);
    fz_work_free(wk);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    fz_work *wk = fz_work_new();
    double img[4] = {0, 1, NAN, 0};
    int32_t lab[4];
    fz_params p = {100, 0.8, 50, FZ_SORT_AUTO};
    assert_int_equal(fz_segment(lab, img, 2, 2, &p, wk, NULL), -1);
    assert_non_null(strstr(err_get(), "NaN"));
    img[2] = 0.5;
    p.scale = -1;
    assert_int_equal(fz_segment(lab, img, 2, 2, &p, wk, NULL), -1);
    assert_non_null(strstr(err_get(), "out of range"));
    p.scale = 1;
    assert_int_equal(fz_segment(lab, img, 0, 2, &p, wk, NULL), -1);
    assert_int_equal(fz_segment(lab, img, 2, 2, &p, wk, NULL), 1); /* min_size 50 > 4 pixels: one segment */
    fz_work_free(wk);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synthetic_ties),
        cmocka_unit_test(test_sample_slices),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
