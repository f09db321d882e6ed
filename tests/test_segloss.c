/* segloss: the soft Dice (+ cross-entropy) loss of seg-finetune and its
 * gradient, against central finite differences and against PyTorch
 * autograd in float64 (tests/py/segloss_ref.py); the argmax and the hard
 * counts against naive loops; labels outside the classes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "finetune/segloss.h"
#include "io/npy.h"
#include "nn/nn.h"
#include "testutil.h"

typedef struct {
    int N, C, H, W;
    float *z;
    uint8_t *y;
} batch;

/* Random logits of scale `scale`; labels drawn with class c's share growing
 * with c, and class `absent` (if > 0) left out. */
static void make_batch(batch *b, int N, int C, int H, int W, double scale, int absent, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    b->N = N, b->C = C, b->H = H, b->W = W;
    b->z = malloc((size_t)N * C * H * W * sizeof(float));
    b->y = malloc((size_t)N * H * W);
    for (size_t i = 0; i < (size_t)N * C * H * W; i++)
        b->z[i] = (float)(scale * rng_normal(&r));
    for (size_t i = 0; i < (size_t)N * H * W; i++) {
        int c;
        do
            c = (int)rng_below(&r, (uint64_t)C);
        while (c == absent);
        b->y[i] = (uint8_t)c;
    }
}

static void free_batch(batch *b)
{
    free(b->z);
    free(b->y);
}

static double loss_of(const batch *b, const segloss_config *cfg)
{
    segloss_stats st;
    assert_int_equal(segloss_dice(NULL, &st, b->z, b->y, b->N, b->C, b->H * b->W, cfg), 0);
    return st.loss;
}

/* Central differences on every logit (h = 1e-2; the loss is smooth, its
 * third derivative small at this scale): max |analytic - numeric| must be
 * below 2e-3 of the largest gradient. */
static void check_fd(int N, int C, int H, int W, double smooth, double ce, int absent, uint64_t seed)
{
    batch b;
    segloss_config cfg = {.smooth = smooth, .ce_weight = ce};
    segloss_stats st;
    make_batch(&b, N, C, H, W, 2.0, absent, seed);
    const size_t n = (size_t)N * C * H * W;
    float *g = malloc(n * sizeof(float));
    assert_int_equal(segloss_dice(g, &st, b.z, b.y, N, C, H * W, &cfg), 0);
    assert_true(fabs(loss_of(&b, &cfg) - st.loss) < 1e-12);
    double maxd = 0, maxg = 0;
    const float h = 1e-2f;
    for (size_t i = 0; i < n; i++) {
        float z0 = b.z[i];
        b.z[i] = z0 + h;
        double lp = loss_of(&b, &cfg);
        b.z[i] = z0 - h;
        double lm = loss_of(&b, &cfg);
        b.z[i] = z0;
        double num = (lp - lm) / (2.0 * ((double)(z0 + h) - (double)z0));
        double d = fabs(num - g[i]);
        maxd = d > maxd ? d : maxd;
        maxg = fabs(g[i]) > maxg ? fabs(g[i]) : maxg;
    }
    print_message("FD N=%d C=%d %dx%d smooth=%g ce=%g: loss %.6f, max |grad| %.3g, max |diff| %.3g (%.2g rel)\n", N, C,
                  H, W, smooth, ce, st.loss, maxg, maxd, maxd / maxg);
    assert_true(maxg > 0);
    assert_true(maxd <= 2e-3 * maxg);
    free(g);
    free_batch(&b);
}

static void test_fd(void **state)
{
    (void)state;
    check_fd(2, 4, 5, 6, 1.0, 0.0, 0, 1);
    check_fd(2, 4, 5, 6, 1.0, 0.7, 2, 2); /* class 2 absent from the labels */
    check_fd(3, 3, 4, 4, 1e-5, 0.0, 0, 3);
    check_fd(1, 2, 7, 3, 1.0, 2.0, 0, 4);
}

/* Against PyTorch autograd in float64, on batches big enough to have
 * several tiles per image and absent classes. Tolerances: loss 1e-5
 * relative, gradient 1e-5 of its largest element (float32 softmax). */
typedef struct {
    int N, C, H, W;
    double smooth, ce;
    int absent;
    uint64_t seed;
} torch_case;

static void torch_write(const torch_case *k, int i, batch *b)
{
    tensor tz, ty;
    char path[1024];
    make_batch(b, k->N, k->C, k->H, k->W, 3.0, k->absent, k->seed);
    const size_t n = (size_t)k->N * k->C * k->H * k->W;
    tensor_init4(&tz, DT_F32, k->N, k->C, k->H, k->W);
    memcpy(tz.data, b->z, n * sizeof(float));
    tensor_init3(&ty, DT_U8, k->N, k->H, k->W);
    memcpy(ty.data, b->y, (size_t)k->N * k->H * k->W);
    snprintf(path, sizeof path, "%s/t%d", tu_tmpdir(), i);
    assert_int_equal(tu_sh("mkdir -p %s", path), 0);
    snprintf(path, sizeof path, "%s/t%d/logits.npy", tu_tmpdir(), i);
    assert_int_equal(npy_write(path, &tz), 0);
    snprintf(path, sizeof path, "%s/t%d/label.npy", tu_tmpdir(), i);
    assert_int_equal(npy_write(path, &ty), 0);
    tensor_free(&tz), tensor_free(&ty);
}

static void torch_check(const torch_case *k, int i, batch *b)
{
    segloss_config cfg = {.smooth = k->smooth, .ce_weight = k->ce};
    segloss_stats st;
    tensor rl, rg;
    char path[1024];
    const size_t n = (size_t)k->N * k->C * k->H * k->W;
    float *g = malloc(n * sizeof(float));
    assert_int_equal(segloss_dice(g, &st, b->z, b->y, k->N, k->C, k->H * k->W, &cfg), 0);
    snprintf(path, sizeof path, "%s/t%d/ref_loss.npy", tu_tmpdir(), i);
    assert_int_equal(npy_read(path, &rl), 0);
    snprintf(path, sizeof path, "%s/t%d/ref_grad.npy", tu_tmpdir(), i);
    assert_int_equal(npy_read(path, &rg), 0);
    assert_int_equal((int)tensor_numel(&rg), (int)n);
    const double *ref = rl.data, *rgd = rg.data;
    double maxd = 0, maxg = 0;
    for (size_t j = 0; j < n; j++) {
        double dd = fabs(rgd[j] - g[j]);
        maxd = dd > maxd ? dd : maxd;
        maxg = fabs(rgd[j]) > maxg ? fabs(rgd[j]) : maxg;
    }
    print_message("torch N=%d C=%d %dx%d smooth=%g ce=%g: loss %.8f vs %.8f (dice %.8f/%.8f, ce %.8f/%.8f), "
                  "max |grad diff| %.3g of %.3g\n",
                  k->N, k->C, k->H, k->W, k->smooth, k->ce, st.loss, ref[0], st.dice_loss, ref[1], st.ce, ref[2],
                  maxd, maxg);
    assert_true(fabs(st.loss - ref[0]) <= 1e-5 * fabs(ref[0]));
    assert_true(fabs(st.dice_loss - ref[1]) <= 1e-5 * fabs(ref[1]));
    assert_true(fabs(st.ce - ref[2]) <= 1e-5 * fabs(ref[2]));
    assert_true(maxd <= 1e-5 * maxg);
    tensor_free(&rl), tensor_free(&rg);
    free(g);
}

static void test_torch(void **state)
{
    (void)state;
    static const torch_case k[] = {
        {3, 8, 32, 48, 1.0, 0.0, 5, 11},
        {2, 8, 32, 32, 1.0, 1.0, 0, 12},
        {2, 3, 17, 9, 1e-5, 0.5, 0, 13}, /* HW not a multiple of the tile */
    };
    batch b[3];
    char args[1024];
    int len = 0;
    for (int i = 0; i < 3; i++) {
        torch_write(&k[i], i, &b[i]);
        len += snprintf(args + len, sizeof args - (size_t)len, " %s/t%d %.17g %.17g", tu_tmpdir(), i, k[i].smooth,
                        k[i].ce);
    }
    assert_int_equal(tu_sh("'%s' '%s/tests/py/segloss_ref.py'%s", tu_python(), tu_root(), args), 0);
    for (int i = 0; i < 3; i++) {
        torch_check(&k[i], i, &b[i]);
        free_batch(&b[i]);
    }
}

/* argmax and hard counts against naive loops; the first maximum wins. */
static void test_counts(void **state)
{
    (void)state;
    batch b;
    segloss_config cfg;
    segloss_stats st;
    segloss_config_default(&cfg);
    make_batch(&b, 2, 5, 9, 15, 1.0, 0, 21);
    /* ties: pixel 0 of image 0 has classes 1 and 3 equal and largest */
    b.z[0 * 135 + 0] = 0, b.z[1 * 135 + 0] = 9, b.z[2 * 135 + 0] = 1, b.z[3 * 135 + 0] = 9, b.z[4 * 135] = 2;
    uint8_t pred[2 * 135];
    int64_t tp[5] = {0}, np[5] = {0}, nr[5] = {0};
    channel_argmax(pred, b.z, 2, 5, 135);
    assert_int_equal(pred[0], 1);
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < 135; j++) {
            int best = 0;
            for (int c = 1; c < 5; c++)
                if (b.z[(n * 5 + c) * 135 + j] > b.z[(n * 5 + best) * 135 + j])
                    best = c;
            assert_int_equal(pred[n * 135 + j], best);
            int y = b.y[n * 135 + j];
            nr[y]++, np[best]++, tp[y] += y == best;
        }
    assert_int_equal(segloss_dice(NULL, &st, b.z, b.y, 2, 5, 135, &cfg), 0);
    double sum = 0;
    int k = 0;
    for (int c = 0; c < 5; c++) {
        assert_int_equal(st.tp[c], tp[c]);
        assert_int_equal(st.npred[c], np[c]);
        assert_int_equal(st.nref[c], nr[c]);
        if (c && nr[c] + np[c])
            sum += 2.0 * tp[c] / (double)(nr[c] + np[c]), k++;
    }
    assert_true(fabs(segloss_hard_dice(&st, 5) - sum / k) < 1e-12);
    free_batch(&b);
}

/* A perfect prediction (large logits at the label) has a loss near 0; a
 * uniform one near 1 - the Dice of 1/C. */
static void test_extremes(void **state)
{
    (void)state;
    batch b;
    segloss_config cfg = {.smooth = 1e-5, .ce_weight = 0};
    segloss_stats st;
    make_batch(&b, 2, 4, 16, 16, 0.0, 0, 31);
    const int HW = 256;
    assert_int_equal(segloss_dice(NULL, &st, b.z, b.y, 2, 4, HW, &cfg), 0);
    /* uniform p = 1/4: D_c = 2 G/4 / (N HW / 4 + G) */
    double expect = 0;
    for (int c = 1; c < 4; c++) {
        double G = (double)st.nref[c];
        expect += (2 * G / 4 + 1e-5) / (2.0 * HW / 4 + G + 1e-5);
    }
    expect = 1 - expect / 3;
    assert_true(fabs(st.loss - expect) < 1e-6);
    for (int n = 0; n < 2; n++)
        for (int j = 0; j < HW; j++)
            b.z[(n * 4 + b.y[n * HW + j]) * HW + j] = 40;
    assert_int_equal(segloss_dice(NULL, &st, b.z, b.y, 2, 4, HW, &cfg), 0);
    print_message("uniform prediction: loss %.6f as expected; perfect prediction: loss %.3g\n", expect, st.loss);
    assert_true(st.loss < 1e-6);
    assert_true(fabs(segloss_hard_dice(&st, 4) - 1) < 1e-12);
    free_batch(&b);
}

static void test_bad_labels(void **state)
{
    (void)state;
    batch b;
    segloss_config cfg;
    segloss_stats st;
    segloss_config_default(&cfg);
    make_batch(&b, 2, 3, 4, 4, 1.0, 0, 41);
    b.y[16 + 5] = 3;
    assert_int_equal(segloss_dice(NULL, &st, b.z, b.y, 2, 3, 16, &cfg), -1);
    assert_non_null(strstr(err_get(), "image 1, pixel 5: label 3 is not a class (0..2)"));
    assert_int_equal(segloss_dice(NULL, &st, b.z, b.y, 2, 1, 16, &cfg), -1);
    assert_non_null(strstr(err_get(), "1 classes"));
    free_batch(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd),       cmocka_unit_test(test_torch),     cmocka_unit_test(test_counts),
        cmocka_unit_test(test_extremes), cmocka_unit_test(test_bad_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
