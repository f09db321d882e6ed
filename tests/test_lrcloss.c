/* The local region contrast loss: region sampling, the loss and its gradient
 * against finite differences, and against a direct PyTorch re-computation
 * (tests/py/lrc_ref.py) on the same features and sample indices. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "io/npy.h"
#include "pretrain/lrcloss.h"
#include "testutil.h"

static void fill_normal(double *x, size_t n, double s, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = s * rng_normal(&r);
}

static void fill_normalf(float *x, size_t n, double s, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 1);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(s * rng_normal(&r));
}

static const lrc_opts variants[4] = {
    {.tau = 0.1, .normalize = 1, .exclude_self = 0},
    {.tau = 0.1, .normalize = 1, .exclude_self = 1},
    {.tau = 0.5, .normalize = 0, .exclude_self = 0},
    {.tau = 0.2, .normalize = 0, .exclude_self = 1},
};

/* Region means level, double precision: central differences. */
static void test_means_grad_fd(void **state)
{
    (void)state;
    enum { K = 6, D = 5 };
    double Q[K * D], P[K * D], dQ[K * D], dP[K * D];
    for (int v = 0; v < 4; v++) {
        const lrc_opts *o = &variants[v];
        double loss, worst = 0;
        fill_normal(Q, K * D, 0.5, 10 + v);
        fill_normal(P, K * D, 0.5, 20 + v);
        /* P near Q so the loss is not trivial */
        for (int i = 0; i < K * D; i++)
            P[i] = Q[i] + 0.3 * P[i];
        memset(dQ, 0, sizeof dQ);
        memset(dP, 0, sizeof dP);
        assert_int_equal(lrc_loss_means(&loss, dQ, dP, Q, P, K, D, o, 1.0), 0);
        assert_true(isfinite(loss));
        double gmax = 0;
        for (int i = 0; i < K * D; i++)
            gmax = fmax(gmax, fmax(fabs(dQ[i]), fabs(dP[i])));
        for (int which = 0; which < 2; which++)
            for (int i = 0; i < K * D; i++) {
                double *x = which ? P : Q, g = which ? dP[i] : dQ[i], h = 1e-5, lp, lm, keep = x[i];
                x[i] = keep + h;
                lrc_loss_means(&lp, NULL, NULL, Q, P, K, D, o, 1.0);
                x[i] = keep - h;
                lrc_loss_means(&lm, NULL, NULL, Q, P, K, D, o, 1.0);
                x[i] = keep;
                double fd = (lp - lm) / (2 * h), e = fabs(fd - g) / gmax;
                if (e > worst)
                    worst = e;
            }
        print_message("means fd: tau %.1f normalize %d exclude_self %d: loss %.6f, max |fd-g|/max|g| %.2e\n", o->tau,
                      o->normalize, o->exclude_self, loss, worst);
        assert_true(worst < 1e-6);
    }
}

/* The scale argument multiplies the gradient and gradients accumulate. */
static void test_means_scale_accumulates(void **state)
{
    (void)state;
    enum { K = 4, D = 3 };
    double Q[K * D], P[K * D], g1[K * D] = {0}, g2[K * D] = {0}, p1[K * D] = {0}, p2[K * D] = {0}, l1, l2;
    lrc_opts o = lrc_opts_default();
    fill_normal(Q, K * D, 1, 1);
    fill_normal(P, K * D, 1, 2);
    lrc_loss_means(&l1, g1, p1, Q, P, K, D, &o, 1.0);
    lrc_loss_means(&l2, g2, p2, Q, P, K, D, &o, 0.25);
    lrc_loss_means(&l2, g2, p2, Q, P, K, D, &o, 0.5);
    assert_true(l1 == l2);
    for (int i = 0; i < K * D; i++) {
        assert_true(fabs(g2[i] - 0.75 * g1[i]) <= 1e-12 * (1 + fabs(g1[i])));
        assert_true(fabs(p2[i] - 0.75 * p1[i]) <= 1e-12 * (1 + fabs(p1[i])));
    }
}

/* With normalised means the printed loss is >= log 2 per region (the self
 * term equals the largest positive term); exclude-self can go to ~0. */
static void test_self_term_floor(void **state)
{
    (void)state;
    enum { K = 4, D = 4 };
    double Q[K * D] = {0}, loss;
    lrc_opts o = lrc_opts_default();
    for (int k = 0; k < K; k++)
        Q[k * D + k] = 3.0; /* orthogonal regions, positive identical */
    assert_int_equal(lrc_loss_means(&loss, NULL, NULL, Q, Q, K, D, &o, 1), 0);
    /* denominator: e^10 (self) + e^10 (positive) + 6 e^0 -> log(2 + 6e^-10) */
    assert_true(fabs(loss - log(2 + 6 * exp(-10.0))) < 1e-12);
    o.exclude_self = 1;
    assert_int_equal(lrc_loss_means(&loss, NULL, NULL, Q, Q, K, D, &o, 1), 0);
    assert_true(fabs(loss - log(1 + 6 * exp(-10.0))) < 1e-12);
    /* random means never go below log 2 with the printed form */
    o.exclude_self = 0;
    for (int t = 0; t < 50; t++) {
        double P[K * D];
        fill_normal(Q, K * D, 1, 100 + t);
        fill_normal(P, K * D, 1, 200 + t);
        lrc_loss_means(&loss, NULL, NULL, Q, P, K, D, &o, 1);
        assert_true(loss >= log(2.0) - 1e-12);
    }
}

/* A synthetic region map: vertical stripes of width w, with a -1 border. */
static void stripes(int32_t *r, int H, int W, int w, int shift)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            r[y * W + x] = (y == 0 || x == 0) ? -1 : ((x + shift) / w) % 5;
}

static void test_sampling(void **state)
{
    (void)state;
    enum { H = 12, W = 20, N = 4000 };
    int32_t rq[H * W], rp[H * W];
    lrc_sample s, s2;
    rng r;
    stripes(rq, H, W, 4, 0);
    stripes(rp, H, W, 4, 1);
    lrc_sample_init(&s);
    lrc_sample_init(&s2);
    rng_seed(&r, 7, 0);
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, N, &r), 0);
    assert_int_equal(s.nreg, 5);
    assert_int_equal(s.one_sided, 0);
    for (int k = 0; k < s.nreg; k++) {
        assert_int_equal(s.label[k], k);
        /* every draw lies in its region; the draws cover the region uniformly */
        int hits[H * W] = {0}, npix = 0;
        for (int n = 0; n < N; n++) {
            assert_int_equal(rq[s.iq[k * N + n]], k);
            assert_int_equal(rp[s.ip[k * N + n]], k);
            hits[s.iq[k * N + n]]++;
        }
        double chi = 0;
        for (int i = 0; i < H * W; i++)
            npix += rq[i] == k;
        for (int i = 0; i < H * W; i++)
            if (rq[i] == k) {
                double e = (double)N / npix;
                chi += (hits[i] - e) * (hits[i] - e) / e;
            }
        /* chi-square with npix-1 dof: mean npix-1, sd sqrt(2(npix-1)); 5 sd */
        assert_true(chi < (npix - 1) + 5 * sqrt(2.0 * (npix - 1)));
    }
    /* same seed, same draws */
    rng_seed(&r, 7, 0);
    assert_int_equal(lrc_sample_draw(&s2, rq, rp, H * W, N, &r), 0);
    assert_memory_equal(s.iq, s2.iq, sizeof(int32_t) * 5 * N);
    assert_memory_equal(s.ip, s2.ip, sizeof(int32_t) * 5 * N);

    /* a region present in only one map is ignored and counted */
    for (int i = 0; i < H * W; i++)
        if (rp[i] == 3)
            rp[i] = -1;
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, 10, &r), 0);
    assert_int_equal(s.nreg, 4);
    assert_int_equal(s.one_sided, 1);
    assert_int_equal(s.label[3], 4);
    for (int k = 0; k < s.nreg; k++)
        for (int n = 0; n < 10; n++)
            assert_int_equal(rq[s.iq[k * 10 + n]], s.label[k]);

    /* one region only: nreg 1 (the trainer skips the pair) */
    for (int i = 0; i < H * W; i++)
        rq[i] = rp[i] = i % 3 ? 0 : -1;
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, 10, &r), 0);
    assert_int_equal(s.nreg, 1);
    for (int n = 0; n < 10; n++)
        assert_int_equal(rq[s.iq[n]], 0);
    /* no region at all */
    for (int i = 0; i < H * W; i++)
        rq[i] = rp[i] = -1;
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, 10, &r), 0);
    assert_int_equal(s.nreg, 0);

    /* bad labels */
    rq[5] = -2;
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, 10, &r), -1);
    assert_non_null(strstr(err_get(), "regions: region label -2 at pixel 5"));
    rq[5] = 0;
    rp[7] = H * W;
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, 10, &r), -1);
    assert_non_null(strstr(err_get(), "regions_p: region label 240"));
    rp[7] = 0;
    assert_int_equal(lrc_sample_draw(&s, rq, rp, H * W, 0, &r), -1);

    lrc_sample_free(&s);
    lrc_sample_free(&s2);
}

/* Feature-map level: float features, the loss in double. Perturb one float
 * and divide by the step that the float actually took. */
static void test_pair_grad_fd(void **state)
{
    (void)state;
    enum { D = 6, H = 7, W = 9, HW = H * W, N = 5 };
    float fq[D * HW], fp[D * HW], dfq[D * HW], dfp[D * HW];
    int32_t rq[HW], rp[HW];
    lrc_sample s;
    rng r;
    lrc_sample_init(&s);
    for (int i = 0; i < HW; i++)
        rq[i] = (i % W) / 3 + 3 * ((i / W) / 4); /* 3 x 2 blocks: 6 regions */
    for (int i = 0; i < HW; i++)
        rp[i] = rq[(i + 1) % HW];
    rq[0] = -1;
    rng_seed(&r, 3, 0);
    assert_int_equal(lrc_sample_draw(&s, rq, rp, HW, N, &r), 0);
    assert_int_equal(s.nreg, 6);
    for (int v = 0; v < 4; v++) {
        const lrc_opts *o = &variants[v];
        double loss, worst = 0, gmax = 0;
        fill_normalf(fq, D * HW, 0.7, 30 + v);
        fill_normalf(fp, D * HW, 0.7, 40 + v);
        memset(dfq, 0, sizeof dfq);
        memset(dfp, 0, sizeof dfp);
        assert_int_equal(lrc_pair_loss(&loss, dfq, dfp, fq, fp, D, HW, &s, o, 1.0), 0);
        for (int i = 0; i < 2 * D * HW; i++)
            gmax = fmax(gmax, fabs(i < D * HW ? dfq[i] : dfp[i - D * HW]));
        for (int which = 0; which < 2; which++)
            for (int i = 0; i < D * HW; i++) {
                float *x = which ? fp : fq, keep = x[i];
                double g = which ? dfp[i] : dfq[i], lp, lm;
                float up = keep + 1e-3f, dn = keep - 1e-3f;
                x[i] = up;
                lrc_pair_loss(&lp, NULL, NULL, fq, fp, D, HW, &s, o, 1.0);
                x[i] = dn;
                lrc_pair_loss(&lm, NULL, NULL, fq, fp, D, HW, &s, o, 1.0);
                x[i] = keep;
                double fd = (lp - lm) / ((double)up - (double)dn);
                /* unsampled pixels: exactly zero in both */
                if (fd == 0)
                    assert_true(g == 0);
                worst = fmax(worst, fabs(fd - g) / gmax);
            }
        print_message("pixel fd: tau %.1f normalize %d exclude_self %d: loss %.6f, max |fd-g|/max|g| %.2e\n",
                      o->tau, o->normalize, o->exclude_self, loss, worst);
        assert_true(worst < 2e-5);
    }
    lrc_sample_free(&s);
}

static void put_npy(const char *dir, const char *name, dtype dt, int rank, const int64_t *shape, const void *data)
{
    char path[1024];
    tensor t;
    assert_int_equal(tensor_init(&t, dt, rank, shape), 0);
    memcpy(t.data, data, tensor_nbytes(&t));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (npy_write(path, &t))
        fail_msg("%s", err_get());
    tensor_free(&t);
}

static double *get_npy(const char *dir, const char *name, size_t n)
{
    char path[1024];
    tensor t;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (npy_read(path, &t))
        fail_msg("%s", err_get());
    assert_int_equal(t.dtype, DT_F64);
    assert_int_equal(tensor_numel(&t), n);
    double *x = malloc(n * sizeof *x);
    memcpy(x, t.data, n * sizeof *x);
    tensor_free(&t);
    return x;
}

/* The same features, regions and sample indices through PyTorch (one
 * Python process for the four variants). */
static void test_vs_pytorch(void **state)
{
    (void)state;
    enum { D = 16, H = 24, W = 20, HW = H * W, N = 50 };
    char dir[4][1024], args[8192] = "";
    float *fq = malloc(sizeof(float) * D * HW), *fp = malloc(sizeof(float) * D * HW);
    float *dfq[4], *dfp[4];
    double loss[4];
    int32_t rq[HW], rp[HW];
    lrc_sample s;
    rng r;
    lrc_sample_init(&s);
    for (int i = 0; i < HW; i++) {
        int y = i / W, x = i % W;
        rq[i] = (x / 5) + 4 * (y / 6); /* 16 regions */
        rp[i] = ((x + 1) % W / 5) + 4 * (y / 6);
        if ((x * 7 + y * 3) % 11 == 0)
            rq[i] = -1;
    }
    rng_seed(&r, 11, 0);
    assert_int_equal(lrc_sample_draw(&s, rq, rp, HW, N, &r), 0);
    assert_int_equal(s.nreg, 16);
    for (int v = 0; v < 4; v++) {
        const lrc_opts *o = &variants[v];
        size_t used = strlen(args);
        snprintf(dir[v], sizeof dir[v], "%s/lrcref%d", tu_tmpdir(), v);
        assert_int_equal(tu_sh("mkdir -p '%s'", dir[v]), 0);
        fill_normalf(fq, D * HW, o->normalize ? 1.0 : 0.25, 50 + v);
        fill_normalf(fp, D * HW, o->normalize ? 1.0 : 0.25, 60 + v);
        for (int i = 0; i < D * HW; i++) /* correlated views */
            fp[i] = 0.6f * fq[i] + 0.4f * fp[i];
        dfq[v] = calloc(D * HW, sizeof(float));
        dfp[v] = calloc(D * HW, sizeof(float));
        assert_int_equal(lrc_pair_loss(&loss[v], dfq[v], dfp[v], fq, fp, D, HW, &s, o, 1.0), 0);
        put_npy(dir[v], "fq.npy", DT_F32, 3, (int64_t[]){D, H, W}, fq);
        put_npy(dir[v], "fp.npy", DT_F32, 3, (int64_t[]){D, H, W}, fp);
        put_npy(dir[v], "iq.npy", DT_I32, 2, (int64_t[]){s.nreg, N}, s.iq);
        put_npy(dir[v], "ip.npy", DT_I32, 2, (int64_t[]){s.nreg, N}, s.ip);
        snprintf(args + used, sizeof args - used, " '%s' %.17g %d %d", dir[v], o->tau, o->normalize,
                 o->exclude_self);
    }
    assert_int_equal(tu_sh("'%s' '%s/tests/py/lrc_ref.py' lrc%s", tu_python(), tu_root(), args), 0);
    for (int v = 0; v < 4; v++) {
        const lrc_opts *o = &variants[v];
        double *rl = get_npy(dir[v], "ref_loss.npy", 1), *rq_ = get_npy(dir[v], "ref_dfq.npy", D * HW);
        double *rp_ = get_npy(dir[v], "ref_dfp.npy", D * HW), worst = 0, gmax = 0;
        for (int i = 0; i < D * HW; i++)
            gmax = fmax(gmax, fmax(fabs(rq_[i]), fabs(rp_[i])));
        for (int i = 0; i < D * HW; i++) {
            worst = fmax(worst, fabs(dfq[v][i] - rq_[i]) / gmax);
            worst = fmax(worst, fabs(dfp[v][i] - rp_[i]) / gmax);
        }
        double el = fabs(loss[v] - rl[0]) / fabs(rl[0]);
        print_message("vs PyTorch: tau %.1f normalize %d exclude_self %d: loss %.8f (ref %.8f, rel %.1e), "
                      "grad max |diff|/max|g| %.2e\n",
                      o->tau, o->normalize, o->exclude_self, loss[v], rl[0], el, worst);
        assert_true(el < 1e-5);
        assert_true(worst < 1e-5);
        free(rl);
        free(rq_);
        free(rp_);
        free(dfq[v]);
        free(dfp[v]);
    }
    lrc_sample_free(&s);
    free(fq);
    free(fp);
}

static void test_sample_set(void **state)
{
    (void)state;
    lrc_sample s;
    int32_t iq[6] = {0, 1, 2, 3, 4, 5}, ip[6] = {5, 4, 3, 2, 1, 0};
    lrc_sample_init(&s);
    assert_int_equal(lrc_sample_set(&s, 3, 2, iq, ip, 6), 0);
    assert_int_equal(s.nreg, 3);
    assert_int_equal(s.ip[4], 1);
    ip[2] = 6;
    assert_int_equal(lrc_sample_set(&s, 3, 2, iq, ip, 6), -1);
    assert_non_null(strstr(err_get(), "out of range"));
    lrc_sample_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_means_grad_fd),   cmocka_unit_test(test_means_scale_accumulates),
        cmocka_unit_test(test_self_term_floor), cmocka_unit_test(test_sampling),
        cmocka_unit_test(test_pair_grad_fd),    cmocka_unit_test(test_sample_set),
        cmocka_unit_test(test_vs_pytorch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
