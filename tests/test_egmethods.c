/* The global pre-training methods of egtrainer.h (rotation, relloc, byol,
 * simsiam, densecl, genesis) as library code: each method's loss, metric, gradients and
 * batch-norm buffers against PyTorch on the same batch and weights
 * (tests/py/eg_ref.py), the gradients against finite differences through
 * the whole step, and what each method adds (rotations, patch geometry,
 * moving average, stop-gradient, DenseCL's queues, Models Genesis's
 * transformations against NumPy: tests/py/genesis_ref.py). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "models/projector.h"
#include "models/segnet.h"
#include "nn/ckpt.h"
#include "pretrain/egtrainer.h"
#include "pretrain/byol.h"
#include "pretrain/densecl.h"
#include "pretrain/genesis.h"
#include "pretrain/relloc.h"
#include "pretrain/rotation.h"
#include "pretrain/siamese.h"
#include "egtest.h"
#include "testutil.h"

/* A narrow Eg (ResNet-18 x 1/16: C4 = 32) and small heads. */
static void tiny_config(eg_config *c)
{
    eg_config_default(c);
    c->enc.width = 0.0625f;
    c->dim = 16;
    c->hidden = 24;
    c->pred_dim = 8;
    c->patch = 16, c->gap = 4, c->jitter = 3;
    c->queue = 256;
}

static eg_trainer *tiny(const char *method, uint64_t seed)
{
    eg_config c;
    tiny_config(&c);
    eg_trainer *t = eg_trainer_create(method, &c, seed);
    if (!t)
        fail_msg("%s: %s", method, err_get());
    return t;
}

static void put_pair_images(ckpt_writer *w, lrc_pair **pairs, int B, float *buf)
{
    const int H = pairs[0]->H, W = pairs[0]->W;
    const size_t HW = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        memcpy(buf + b * HW, pairs[b]->xq, HW * sizeof(float));
        memcpy(buf + (B + b) * HW, pairs[b]->xp, HW * sizeof(float));
    }
    assert_int_equal(ckpt_put_tensor(w, "xq", DT_F32, 3, (int64_t[]){B, H, W}, buf), 0);
    assert_int_equal(ckpt_put_tensor(w, "xp", DT_F32, 3, (int64_t[]){B, H, W}, buf + B * HW), 0);
}

/* Every trained tensor's gradient and every buffer, as eg_ref.py reads them. */
static void put_parts(ckpt_writer *w, eg_trainer *t)
{
    char name[256];
    for (int i = 0; i < eg_trainer_nparts(t); i++) {
        const char *prefix;
        int trained;
        pblock *pb = eg_trainer_part(t, i, &prefix, &trained);
        for (int k = 0; k < pb->n; k++) {
            const param_entry *e = &pb->e[k];
            if (e->kind == PARAM_TRAIN && !trained)
                continue;
            snprintf(name, sizeof name, "%s.%s%s", e->kind == PARAM_TRAIN ? "grad" : "after", prefix, e->name);
            const float *data = e->kind == PARAM_TRAIN ? pb->grad + e->offset : pb->data + e->offset;
            assert_int_equal(ckpt_put_tensor(w, name, DT_F32, e->rank, e->shape, data), 0);
        }
    }
}

/* Loss, metric, gradients and buffers of one step against PyTorch. extra
 * adds what the method's reference needs (relloc's positions). */
static void check_vs_torch(const char *method, int B, int H,
                           void (*extra)(ckpt_writer *, eg_trainer *, lrc_pair **, int, float *))
{
    char dir[1024], path[1200];
    eg_trainer *t = tiny(method, 3);
    lrc_pair *pairs[8];
    float *buf = malloc(sizeof(float) * 2 * B * H * H), extra_buf[64];
    eg_stats st;
    for (int b = 0; b < B; b++)
        pairs[b] = egt_pair(H, H, 100 + b, 1);
    snprintf(dir, sizeof dir, "%s/ref_%s", tu_tmpdir(), method);
    assert_int_equal(tu_sh("mkdir -p '%s'", dir), 0);
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(eg_trainer_save(t, w), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (ckpt_write(w, path))
        fail_msg("%s", err_get());
    ckpt_writer_free(w);
    egt_loss(t, pairs, B, &st);
    double loss = st.loss, metric = st.metric;
    w = ckpt_writer_new();
    put_pair_images(w, pairs, B, buf);
    put_parts(w, t);
    assert_int_equal(ckpt_put_tensor(w, "loss", DT_F64, 1, (int64_t[]){1}, &loss), 0);
    assert_int_equal(ckpt_put_tensor(w, "metric", DT_F64, 1, (int64_t[]){1}, &metric), 0);
    if (extra)
        extra(w, t, pairs, B, extra_buf);
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    if (ckpt_write(w, path))
        fail_msg("%s", err_get());
    ckpt_writer_free(w);
    assert_int_equal(tu_sh("'%s' '%s/tests/py/eg_ref.py' %s '%s'", tu_python(), tu_root(), method, dir), 0);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    free(buf);
    eg_trainer_free(t);
}

/* The gradient of the step's loss along each trained part's first and last
 * weight matrices or kernels, v = g / |g| (biases before a batch norm have
 * a gradient of 0), against Richardson-extrapolated central differences
 * of the loss (as test_lrctrainer does: three step sizes, the closest counts).
 * Parts in the bit mask `stopped` see the loss through a stop-gradient as
 * well (SimSiam's targets): there the full derivative, which the differences
 * measure, must differ from the gradient. */
static void check_fd(const char *method, int B, int H, unsigned stopped)
{
    eg_trainer *t = tiny(method, 5);
    lrc_pair *pairs[8];
    for (int b = 0; b < B; b++)
        pairs[b] = egt_pair(H, H, 200 + b, 1);
    double L0 = egt_loss(t, pairs, B, NULL), worst = 0;
    int checked = 0;
    for (int i = 0; i < eg_trainer_nparts(t); i++) {
        const char *prefix;
        int trained;
        pblock *pb = eg_trainer_part(t, i, &prefix, &trained);
        if (!trained)
            continue;
        float *g = malloc(sizeof(float) * pb->ntrain);
        memcpy(g, pb->grad, sizeof(float) * pb->ntrain);
        int first = -1, last = 0;
        for (int k = 0; k < pb->n; k++)
            if (pb->e[k].kind == PARAM_TRAIN && pb->e[k].rank >= 2) {
                first = first < 0 ? k : first;
                last = k;
            }
        for (int which = 0; which < (first == last ? 1 : 2); which++) {
            const param_entry *e = &pb->e[which ? last : first];
            double gn, fd, e_rel = egt_dirfd(t, pairs, B, pb, g, e, 1e-2, &gn, &fd);
            print_message("%s %s%-22s |g| %.6e, directional fd %.6e, rel %.1e%s\n", method, prefix, e->name, gn, fd,
                          e_rel, stopped >> i & 1 ? " (stop-gradient: must differ)" : "");
            if (stopped >> i & 1) {
                assert_true(e_rel > 5e-2);
                continue;
            }
            worst = fmax(worst, e_rel);
            checked++;
        }
        free(g);
    }
    print_message("%s: loss %.6f, %d tensors, max rel diff %.2e\n", method, L0, checked, worst);
    assert_true(worst < 1e-2);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    eg_trainer_free(t);
}

/* ---- projector ---- */

static void test_projector_fd(void **state)
{
    (void)state;
    proj_config c = {.dims = {6}};
    proj_config_add(&c, 5, 1, PROJ_BN, 1);
    proj_config_add(&c, 4, 0, PROJ_BN_PLAIN, 0);
    proj_config_add(&c, 3, 1, PROJ_NO_BN, 1);
    enum { N = 5 };
    projector *p = proj_create(&c, 1);
    assert_non_null(p);
    float x[N * 6], w[N * 3], dx[N * 6];
    rng r;
    rng_seed(&r, 4, 0);
    for (int i = 0; i < N * 6; i++)
        x[i] = (float)rng_normal(&r);
    for (int i = 0; i < N * 3; i++)
        w[i] = (float)rng_normal(&r);
    pblock *pb = proj_params(p);
    pblock_zero_grad(pb);
    assert_non_null(proj_forward(p, x, N));
    assert_int_equal(proj_backward(p, w, dx), 0);
    /* L = sum w . out; input gradient and every trainable value by central differences */
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < pb->ntrain; i++)
        gmax = fmax(gmax, fabs(pb->grad[i]));
    for (int pass = 0; pass < 2; pass++) {
        size_t n = pass ? pb->ntrain : (size_t)N * 6;
        float *v = pass ? pb->data : x, *gr = pass ? pb->grad : dx;
        for (size_t i = 0; i < n; i++) {
            float keep = v[i];
            double l[2];
            for (int k = 0; k < 2; k++) {
                v[i] = keep + (k ? -1e-2f : 1e-2f);
                const float *o = proj_forward(p, x, N);
                l[k] = 0;
                for (int j = 0; j < N * 3; j++)
                    l[k] += (double)w[j] * o[j];
            }
            v[i] = keep;
            double fd = (l[0] - l[1]) / 2e-2;
            worst = fmax(worst, fabs(fd - gr[i]) / fmax(gmax, 1));
        }
    }
    print_message("projector (BN, plain BN, no BN): grad vs fd max |diff| %.2e\n", worst);
    assert_true(worst < 2e-3);
    /* names: fc1, bn1 (affine), fc2 without bias, bn2 without weight */
    assert_true(pblock_find(pb, "fc1.bias") >= 0 && pblock_find(pb, "bn1.weight") >= 0);
    assert_true(pblock_find(pb, "fc2.bias") < 0 && pblock_find(pb, "bn2.weight") < 0);
    assert_true(pblock_find(pb, "bn2.running_mean") >= 0 && pblock_find(pb, "fc3.bias") >= 0);
    /* one sample cannot be batch-normalised */
    assert_null(proj_forward(p, x, 1));
    proj_free(p);
    /* a single layer is named fc */
    proj_config one = {.dims = {6}};
    proj_config_add(&one, 4, 1, PROJ_NO_BN, 0);
    p = proj_create(&one, 1);
    assert_true(pblock_find(proj_params(p), "fc.weight") >= 0);
    char *js = proj_config_json(&one);
    proj_config back;
    assert_int_equal(proj_config_parse(js, &back), 0);
    assert_memory_equal(&back, &one, sizeof one);
    free(js);
    assert_int_equal(proj_config_parse("{\"dims\":[3]}", &back), -1);
    proj_free(p);
}

static void test_softmax_xent(void **state)
{
    (void)state;
    enum { N = 3, K = 4 };
    float l[N * K], d[N * K];
    int lab[N] = {0, 3, 1};
    double loss, acc, lp, lm, a;
    rng r;
    rng_seed(&r, 8, 0);
    for (int i = 0; i < N * K; i++)
        l[i] = (float)rng_normal(&r);
    l[1 * K + 3] = 5; /* sample 1 right, others by chance */
    eg_softmax_xent(&loss, &acc, d, l, lab, N, K);
    double worst = 0;
    for (int i = 0; i < N * K; i++) {
        float keep = l[i], tmp[N * K];
        l[i] = keep + 1e-2f;
        eg_softmax_xent(&lp, &a, tmp, l, lab, N, K);
        l[i] = keep - 1e-2f;
        eg_softmax_xent(&lm, &a, tmp, l, lab, N, K);
        l[i] = keep;
        worst = fmax(worst, fabs((lp - lm) / 2e-2 - d[i]));
    }
    print_message("cross-entropy %.5f acc %.3f, grad vs fd %.2e\n", loss, acc, worst);
    assert_true(worst < 1e-4);
    assert_true(acc >= 1.0 / 3 - 1e-12);
}

/* ---- rotation ---- */

static void test_rotation_rot90(void **state)
{
    (void)state;
    enum { S = 5 };
    float a[S * S], b[S * S], c[S * S];
    for (int i = 0; i < S * S; i++)
        a[i] = (float)i;
    rotation_rot90(b, a, S, 1); /* counter-clockwise: the top row is the old right column */
    for (int x = 0; x < S; x++)
        assert_true(b[x] == a[x * S + S - 1]);
    rotation_rot90(c, a, S, 2);
    for (int i = 0; i < S * S; i++)
        assert_true(c[i] == a[S * S - 1 - i]);
    memcpy(c, a, sizeof a); /* four quarter turns: the identity */
    for (int k = 0; k < 4; k++) {
        rotation_rot90(b, c, S, 1);
        memcpy(c, b, sizeof b);
    }
    assert_memory_equal(c, a, sizeof a);
    rotation_rot90(b, a, S, 3);
    rotation_rot90(c, b, S, 1);
    assert_memory_equal(c, a, sizeof a);
}

static void test_rotation_vs_torch(void **state)
{
    (void)state;
    check_vs_torch("rotation", 2, 32, NULL);
}

static void test_rotation_fd(void **state)
{
    (void)state;
    check_fd("rotation", 2, 32, 0);
}

static void test_rotation_learns(void **state)
{
    (void)state;
    /* a few steps on a fixed batch: the loss falls from about log 4; not square: an error */
    eg_trainer *t = tiny("rotation", 1);
    enum { B = 4 };
    lrc_pair *pairs[B];
    eg_stats st;
    rng r;
    rng_seed(&r, 1, 0);
    for (int b = 0; b < B; b++)
        pairs[b] = egt_pair(32, 32, 300 + b, 1);
    double first = 0;
    for (int s = 0; s < 30; s++) {
        assert_int_equal(eg_trainer_step(t, pairs, B, 0.05, &r, &st), 0);
        if (!s)
            first = st.loss;
    }
    print_message("rotation on a fixed batch: loss %.4f -> %.4f, acc %.2f\n", first, st.loss, st.metric);
    assert_true(fabs(first - log(4.0)) < 0.5);
    assert_true(st.loss < 0.5 * first);
    lrc_pair *odd = egt_pair(32, 48, 9, 1);
    assert_int_equal(eg_trainer_step(t, &odd, 1, 0.05, &r, &st), -1);
    assert_non_null(strstr(err_get(), "square"));
    lrc_pair_free(odd);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    eg_trainer_free(t);
}

/* ---- relative location ---- */

static void test_relloc_geometry(void **state)
{
    (void)state;
    static const int sizes[][4] = {/* S: P G J */ {64, 16, 8, 0}, {96, 16, 8, 1}, {128, 32, 16, 0},
                                   {256, 64, 32, 0}, {512, 128, 64, 0}, {200, 48, 24, 4}};
    relloc_geom g;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int S = sizes[i][0];
        assert_int_equal(relloc_geom_for(&g, -1, -1, -1, S, S), 0);
        if (g.patch != sizes[i][1] || g.gap != sizes[i][2] || g.jitter != sizes[i][3])
            fail_msg("%d px: patch %d gap %d jitter %d, want %d %d %d", S, g.patch, g.gap, g.jitter, sizes[i][1],
                     sizes[i][2], sizes[i][3]);
    }
    assert_int_equal(relloc_geom_for(&g, -1, -1, -1, 48, 48), -1); /* no 16-pixel grid with gaps fits */
    assert_int_equal(relloc_geom_for(&g, 24, -1, -1, 128, 128), -1);
    assert_non_null(strstr(err_get(), "multiple of 16"));
    assert_int_equal(relloc_geom_for(&g, 32, 16, 8, 128, 128), -1);
    assert_non_null(strstr(err_get(), "does not fit"));
    /* draws: inside the slice, the neighbour where its label says (up to the
     * jitter), every label about as often */
    assert_int_equal(relloc_geom_for(&g, 16, 6, 3, 80, 96), 0);
    rng r;
    rng_seed(&r, 5, 0);
    int count[8] = {0}, jmax = 0;
    enum { DRAWS = 16000 };
    for (int k = 0; k < DRAWS; k++) {
        int d[5];
        relloc_draw(&g, 80, 96, &r, d);
        assert_true(d[0] >= 0 && d[0] < 8);
        count[d[0]]++;
        for (int p = 0; p < 2; p++)
            assert_true(d[1 + 2 * p] >= 0 && d[1 + 2 * p] + 16 <= 80 && d[2 + 2 * p] >= 0 && d[2 + 2 * p] + 16 <= 96);
        int cell = d[0] < 4 ? d[0] : d[0] + 1, dy = (cell / 3 - 1) * 22, dx = (cell % 3 - 1) * 22;
        int ey = abs(d[3] - d[1] - dy), ex = abs(d[4] - d[2] - dx);
        assert_true(ey <= 6 && ex <= 6);
        jmax = ey > jmax ? ey : jmax;
    }
    assert_int_equal(jmax, 6); /* both jitters reach 3 */
    for (int l = 0; l < 8; l++)
        assert_true(abs(count[l] - DRAWS / 8) < 200);
}

/* relloc's reference needs the patches: the same draws as the step's (the
 * rng of grad_loss), and the patch side. */
static void relloc_extra(ckpt_writer *w, eg_trainer *t, lrc_pair **pairs, int B, float *buf)
{
    (void)t;
    eg_config c;
    relloc_geom g;
    rng r;
    tiny_config(&c);
    assert_int_equal(relloc_geom_for(&g, c.patch, c.gap, c.jitter, pairs[0]->H, pairs[0]->W), 0);
    rng_seed(&r, 77, 0);
    for (int b = 0; b < B; b++) {
        int d[5];
        relloc_draw(&g, pairs[0]->H, pairs[0]->W, &r, d);
        for (int k = 0; k < 5; k++)
            buf[5 * b + k] = (float)d[k];
    }
    buf[5 * B] = (float)g.patch;
    assert_int_equal(ckpt_put_tensor(w, "pos", DT_F32, 2, (int64_t[]){B, 5}, buf), 0);
    assert_int_equal(ckpt_put_tensor(w, "patch", DT_F32, 1, (int64_t[]){1}, buf + 5 * B), 0);
}

static void test_relloc_vs_torch(void **state)
{
    (void)state;
    check_vs_torch("relloc", 6, 64, relloc_extra);
}

static void test_relloc_fd(void **state)
{
    (void)state;
    check_fd("relloc", 4, 64, 0);
}

/* ---- BYOL and SimSiam ---- */

static void test_cross_cos(void **state)
{
    (void)state;
    enum { B = 3, D = 5, N = 2 * B };
    float p[N * D], z[N * D], dp[N * D] = {0}, tmp[N * D];
    rng r;
    rng_seed(&r, 21, 0);
    for (int i = 0; i < N * D; i++)
        p[i] = (float)rng_normal(&r), z[i] = (float)rng_normal(&r);
    double c, cp, cm, worst = 0;
    assert_int_equal(siam_cross_cos(&c, dp, p, z, B, D, -4.0), 0);
    /* by hand: row i against row (i + B) mod 2B */
    double want = 0;
    for (int i = 0; i < N; i++) {
        const float *a = p + i * D, *b = z + ((i + B) % N) * D;
        double ab = 0, aa = 0, bb = 0;
        for (int d = 0; d < D; d++)
            ab += a[d] * b[d], aa += a[d] * a[d], bb += b[d] * b[d];
        want += ab / sqrt(aa * bb) / N;
    }
    assert_true(fabs(c - want) < 1e-6);
    for (int i = 0; i < N * D; i++) {
        float keep = p[i];
        p[i] = keep + 1e-2f;
        siam_cross_cos(&cp, NULL, p, z, B, D, 1);
        p[i] = keep - 1e-2f;
        siam_cross_cos(&cm, NULL, p, z, B, D, 1);
        p[i] = keep;
        worst = fmax(worst, fabs(-4 * (cp - cm) / 2e-2 - dp[i]));
        (void)tmp;
    }
    print_message("cross-view cosine %.5f, grad vs fd %.2e\n", c, worst);
    assert_true(worst < 1e-4);
    /* the collapse indicator: 0 for one vector, about 1/sqrt(D) for random ones */
    for (int i = 0; i < N * D; i++)
        z[i] = (float)(1 + i % D);
    assert_true(siam_norm_std(z, N, D) < 1e-7);
    enum { M = 4000, E = 16 };
    float *big = malloc(sizeof(float) * M * E);
    for (int i = 0; i < M * E; i++)
        big[i] = (float)rng_normal(&r);
    double sd = siam_norm_std(big, M, E);
    print_message("std of %d random unit vectors in %d dims: %.4f (1/sqrt(D) = %.4f)\n", M, E, sd, 1 / sqrt(E));
    assert_true(fabs(sd - 1 / sqrt(E)) < 0.01);
    free(big);
}

static void test_simsiam_vs_torch(void **state)
{
    (void)state;
    check_vs_torch("simsiam", 3, 32, NULL);
}

/* Only the predictor sees the loss through p alone; Eg and the projector
 * also reach the targets, whose gradient is stopped. */
static void test_simsiam_fd(void **state)
{
    (void)state;
    check_fd("simsiam", 3, 32, 1u << 0 | 1u << 1);
}

static void test_byol_vs_torch(void **state)
{
    (void)state;
    check_vs_torch("byol", 3, 32, NULL);
}

/* The targets come from the target network, whose weights the loss's
 * online gradient does not touch: every trained part agrees. */
static void test_byol_fd(void **state)
{
    (void)state;
    check_fd("byol", 3, 32, 0);
}

/* The target network: a copy at the start, never trained by gradient, then
 * xi <- tau_k xi + (1 - tau_k) theta after each step with tau_k rising from
 * tau_base to 1 over the run; its batch-norm statistics its own. */
static void test_byol_ema(void **state)
{
    (void)state;
    assert_true(byol_tau(0.996, 0, 100) == 0.996);
    assert_true(fabs(byol_tau(0.996, 50, 100) - 0.998) < 1e-12);
    assert_true(byol_tau(0.996, 100, 100) == 1.0 && byol_tau(0.996, 500, 100) == 1.0);
    assert_true(byol_tau(0.99, 7, 0) == 0.99);
    eg_config c;
    tiny_config(&c);
    c.total_steps = 4;
    c.ema = 0.9; /* large steps of the average, easy to see */
    eg_trainer *t = eg_trainer_create("byol", &c, 2);
    assert_non_null(t);
    enum { B = 3 };
    lrc_pair *pairs[B];
    for (int b = 0; b < B; b++)
        pairs[b] = egt_pair(32, 32, 400 + b, 1);
    pblock *on = eg_trainer_part(t, 0, NULL, NULL), *tg = eg_trainer_part(t, 3, NULL, NULL);
    pblock *onp = eg_trainer_part(t, 1, NULL, NULL), *tgp = eg_trainer_part(t, 4, NULL, NULL);
    const char *prefix;
    int trained;
    eg_trainer_part(t, 3, &prefix, &trained);
    assert_string_equal(prefix, "target.");
    assert_false(trained);
    assert_memory_equal(on->data, tg->data, on->numel * sizeof(float)); /* a copy at the start */
    assert_memory_equal(onp->data, tgp->data, onp->numel * sizeof(float));
    float *before = malloc(sizeof(float) * tg->numel), *online = malloc(sizeof(float) * on->numel);
    /* batch-norm buffers: the target's follow its own forwards. At step 0 both
     * networks see the same batch with the same weights, so a marked target
     * buffer must become 0.9 marker + (online after - 0.9 online before); an
     * average of the online buffers would give tau marker + (1 - tau) online. */
    int irm = pblock_find(tg, "bn1.running_mean");
    assert_true(irm >= 0);
    float *trm = pblock_ptr(tg, irm), *orm = pblock_ptr(on, irm), o0 = orm[0];
    trm[0] = 123;
    rng r;
    rng_seed(&r, 1, 0);
    for (int k = 0; k < 3; k++) {
        eg_stats st;
        memcpy(before, tg->data, sizeof(float) * tg->numel);
        assert_int_equal(eg_trainer_step(t, pairs, B, 0.05, &r, &st), 0);
        memcpy(online, on->data, sizeof(float) * on->numel);
        double tau = byol_tau(0.9, k, 4), worst = 0, moved = 0;
        for (size_t i = 0; i < on->ntrain; i++) {
            double want = tau * before[i] + (1 - tau) * online[i];
            worst = fmax(worst, fabs(tg->data[i] - want));
            moved = fmax(moved, fabs(tg->data[i] - before[i]));
        }
        print_message("byol step %d: tau %.6f, target moved %.3g, max |target - (tau xi + (1-tau) theta)| %.2g\n", k,
                      tau, moved, worst);
        assert_true(worst < 1e-6 && moved > 1e-4);
        if (k == 0) {
            double want = 0.9 * 123 + (orm[0] - 0.9 * o0);
            print_message("target bn1.running_mean[0] %.6f, its own forward's %.6f\n", trm[0], want);
            assert_true(fabs(trm[0] - want) < 1e-4);
        }
    }
    free(before);
    free(online);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    eg_trainer_free(t);
}

/* ---- DenseCL ---- */

/* The reference shuffles the keys' sub-batches as the step did, and
 * checks the keys that the queues will receive. */
static void densecl_extra(ckpt_writer *w, eg_trainer *t, lrc_pair **pairs, int B, float *buf)
{
    (void)pairs;
    const int *perm = densecl_perm(t);
    for (int b = 0; b < B; b++)
        buf[b] = (float)perm[b];
    assert_int_equal(ckpt_put_tensor(w, "perm", DT_F32, 1, (int64_t[]){B}, buf), 0);
    const int D = eg_trainer_config(t)->dim;
    assert_int_equal(ckpt_put_tensor(w, "keys", DT_F32, 2, (int64_t[]){B, D}, densecl_keys(t, 0)), 0);
    assert_int_equal(ckpt_put_tensor(w, "keys2", DT_F32, 2, (int64_t[]){B, D}, densecl_keys(t, 1)), 0);
}

/* B = 4 in two shuffle-BN sub-batches, 64 x 64: 4 x 4 positions to match */
static void test_densecl_vs_torch(void **state)
{
    (void)state;
    check_vs_torch("densecl", 4, 64, densecl_extra);
}

/* The global and dense heads and Eg (its first and last kernels) all
 * receive the loss's gradient; the key encoder's weights the loss reads
 * are not the trained ones. 64 x 64: 4 x 4 positions to match. The loss is
 * only piecewise smooth (ReLUs, and the matching's argmax, constant between
 * its jumps), and along Eg's conv1 the dense term meets a kink within the
 * differences' steps for some inputs (at 48 x 48 here: PyTorch's float64
 * differences agree with autograd at steps <= 1e-6 and not at 1e-5, below
 * what float32 resolves): this input is one where the steps stay clear. */
static void test_densecl_fd(void **state)
{
    (void)state;
    check_fd("densecl", 4, 64, 0);
}

/* After a step: the key encoder moved by theta_k <- m theta_k + (1 - m)
 * theta_q, and each queue's B oldest rows were replaced by unit vectors
 * (ring order; the pointer advances by B). */
static void test_densecl_update(void **state)
{
    (void)state;
    eg_config c;
    tiny_config(&c);
    c.queue = 6;
    c.m = 0.9;
    eg_trainer *t = eg_trainer_create("densecl", &c, 4);
    assert_non_null(t);
    enum { B = 4 };
    lrc_pair *pairs[B];
    for (int b = 0; b < B; b++)
        pairs[b] = egt_pair(32, 32, 500 + b, 1);
    const int D = eg_trainer_config(t)->dim;
    float *q0[2], *before[3];
    for (int i = 0; i < 2; i++) {
        const moco_queue *q = densecl_queue(t, i);
        assert_int_equal(q->K, 6);
        assert_int_equal(q->C, D);
        q0[i] = malloc(sizeof(float) * 6 * D);
        memcpy(q0[i], q->data, sizeof(float) * 6 * D);
    }
    for (int i = 0; i < 3; i++) {
        pblock *k = eg_trainer_part(t, 3 + i, NULL, NULL);
        before[i] = malloc(sizeof(float) * k->numel);
        memcpy(before[i], k->data, sizeof(float) * k->numel);
    }
    rng r;
    rng_seed(&r, 9, 0);
    eg_stats st;
    assert_int_equal(eg_trainer_step(t, pairs, B, 0.05, &r, &st), 0);
    print_message("densecl step: loss %.6f, acc %.3f\n", st.loss, st.metric);
    assert_true(isfinite(st.loss) && st.metric >= 0 && st.metric <= 1);
    for (int i = 0; i < 3; i++) {
        const char *pre;
        int trained;
        pblock *k = eg_trainer_part(t, 3 + i, &pre, &trained), *q = eg_trainer_part(t, i, NULL, NULL);
        assert_false(trained);
        double worst = 0, moved = 0;
        for (size_t j = 0; j < q->ntrain; j++) {
            worst = fmax(worst, fabs(k->data[j] - (0.9 * before[i][j] + 0.1 * q->data[j])));
            moved = fmax(moved, fabs(k->data[j] - before[i][j]));
        }
        print_message("%s: moved %.3g, max |k - (m k + (1-m) q)| %.2g\n", pre, moved, worst);
        assert_true(worst < 1e-6 && moved > 1e-6);
        free(before[i]);
    }
    for (int i = 0; i < 2; i++) {
        const moco_queue *q = densecl_queue(t, i);
        assert_int_equal(q->ptr, B);
        for (int j = 0; j < 6; j++) {
            const float *row = q->data + (size_t)j * D;
            double n = 0;
            for (int k = 0; k < D; k++)
                n += (double)row[k] * row[k];
            assert_true(fabs(n - 1) < 1e-5);
            int same = !memcmp(row, q0[i] + (size_t)j * D, sizeof(float) * D);
            assert_int_equal(same, j >= B);
        }
        free(q0[i]);
    }
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    eg_trainer_free(t);
}

/* ---- Models Genesis ---- */

/* The transformed inputs and the targets the step trained on. */
static void genesis_extra(ckpt_writer *w, eg_trainer *t, lrc_pair **pairs, int B, float *buf)
{
    (void)buf;
    const int H = pairs[0]->H, W = pairs[0]->W;
    assert_int_equal(ckpt_put_tensor(w, "gx", DT_F32, 3, (int64_t[]){B, H, W}, genesis_batch(t, 0)), 0);
    assert_int_equal(ckpt_put_tensor(w, "gy", DT_F32, 3, (int64_t[]){B, H, W}, genesis_batch(t, 1)), 0);
}

/* B = 2 slices of 32 x 32 through Eg, Dg and the head. */
static void test_genesis_vs_torch(void **state)
{
    (void)state;
    check_vs_torch("genesis", 2, 32, genesis_extra);
}

/* Eg's, Dg's and the head's first and last weights. */
static void test_genesis_fd(void **state)
{
    (void)state;
    check_fd("genesis", 2, 32, 0);
}

/* Every transformation against tests/py/genesis_ref.py: the curve alone
 * on intensities across and beyond [0, 1], and whole transformations of
 * slices (square and not) with every step forced on or off and at the
 * official rates, with what they drew: flips, shuffling windows and where
 * each pixel came from, the curve's points, the painting boxes. */
static void test_genesis_transforms(void **state)
{
    (void)state;
    static const double rates[][5] = {
        {1, 0, 0, 0, 0}, {0, 1, 0, 0, 0}, {0, 0, 1, 0, 0}, {0, 0, 1, 1, 0}, {0, 0, 0, 0, 1},
        {1, 1, 1, 0, 1}, {1, 1, 1, 1, 1}, {0.9, 0.5, 0.9, 0.8, 0.4}, {0.9, 0.5, 0.9, 0.8, 0.4},
        {0.9, 0.5, 0.9, 0.8, 0.4}, {0.9, 0.5, 0.9, 0.8, 0.4}, {0.9, 0.5, 0.9, 0.8, 0.4},
    };
    enum { NC = sizeof rates / sizeof rates[0], NV = 257, NK = 12 };
    char dir[1024], path[1200], name[64];
    static float in[NV], out[NK][NV];
    double pts[NK][4];
    int32_t rev[NK];
    rng r;
    snprintf(dir, sizeof dir, "%s/ref_genesis_tf", tu_tmpdir());
    assert_int_equal(tu_sh("mkdir -p '%s'", dir), 0);
    /* the curve: NK control point sets, both directions */
    ckpt_writer *w = ckpt_writer_new();
    rng_seed(&r, 9, 0);
    for (int i = 0; i < NV; i++)
        in[i] = (float)(-0.1 + 1.2 * i / (NV - 1));
    assert_int_equal(ckpt_put_tensor(w, "curve.in", DT_F32, 1, (int64_t[]){NV}, in), 0);
    for (int k = 0; k < NK; k++) {
        for (int i = 0; i < 4; i++)
            pts[k][i] = rng_uniform(&r);
        rev[k] = k & 1;
        assert_int_equal(genesis_curve(out[k], in, NV, pts[k], rev[k]), 0);
        snprintf(name, sizeof name, "curve.%d.pts", k);
        assert_int_equal(ckpt_put_tensor(w, name, DT_F64, 1, (int64_t[]){4}, pts[k]), 0);
        snprintf(name, sizeof name, "curve.%d.out", k);
        assert_int_equal(ckpt_put_tensor(w, name, DT_F32, 1, (int64_t[]){NV}, out[k]), 0);
        snprintf(name, sizeof name, "curve.%d.reverse", k);
        assert_int_equal(ckpt_put_tensor(w, name, DT_I32, 1, (int64_t[]){1}, &rev[k]), 0);
    }
    snprintf(path, sizeof path, "%s/curves.safetensors", dir);
    if (ckpt_write(w, path))
        fail_msg("%s", err_get());
    ckpt_writer_free(w);
    /* whole transformations, a file each */
    int *win = malloc(sizeof(int) * 4 * GENESIS_BLOCKS);
    for (int c = 0; c < NC; c++) {
        const int H = c % 3 == 2 ? 48 : 32, W = 32;
        lrc_pair *p = egt_pair(H, W, 300 + c, 1);
        float *x = malloc(sizeof(float) * H * W), *y = malloc(sizeof(float) * H * W);
        int32_t *src = malloc(sizeof(int32_t) * H * W);
        genesis_draw d = {.windows = win, .src = src};
        rng_seed(&r, 40 + c, 0);
        if (genesis_transform(x, y, p->xq, H, W, rates[c], &r, &d))
            fail_msg("%s", err_get());
        /* meta: nflip, axes[3], shuffle, nonlinear, reverse, pts[4], paint, nbox, boxes[5][4] */
        double meta[33] = {d.nflip, d.flip_axis[0], d.flip_axis[1], d.flip_axis[2], d.shuffle, d.nonlinear,
                           d.reverse, d.pts[0], d.pts[1], d.pts[2], d.pts[3], d.paint, d.nbox};
        for (int b = 0; b < d.nbox; b++)
            for (int k = 0; k < 4; k++)
                meta[13 + 4 * b + k] = d.box[b][k];
        w = ckpt_writer_new();
        assert_int_equal(ckpt_put_tensor(w, "img", DT_F32, 2, (int64_t[]){H, W}, p->xq), 0);
        assert_int_equal(ckpt_put_tensor(w, "x", DT_F32, 2, (int64_t[]){H, W}, x), 0);
        assert_int_equal(ckpt_put_tensor(w, "y", DT_F32, 2, (int64_t[]){H, W}, y), 0);
        assert_int_equal(ckpt_put_tensor(w, "src", DT_I32, 2, (int64_t[]){H, W}, src), 0);
        assert_int_equal(ckpt_put_tensor(w, "meta", DT_F64, 1, (int64_t[]){33}, meta), 0);
        if (d.shuffle)
            assert_int_equal(ckpt_put_tensor(w, "windows", DT_I32, 2, (int64_t[]){GENESIS_BLOCKS, 4}, win), 0);
        snprintf(path, sizeof path, "%s/case_%02d.safetensors", dir, c);
        if (ckpt_write(w, path))
            fail_msg("%s", err_get());
        ckpt_writer_free(w);
        print_message("case %d (%dx%d): %d flips, shuffle %d, curve %d (reverse %d), paint %d with %d boxes\n", c,
                      H, W, d.nflip, d.shuffle, d.nonlinear, d.reverse, d.paint, d.nbox);
        free(x);
        free(y);
        free(src);
        lrc_pair_free(p);
    }
    free(win);
    assert_int_equal(tu_sh("'%s' '%s/tests/py/genesis_ref.py' '%s'", tu_python(), tu_root(), dir), 0);
}

/* The same seed draws the same transformation; a slice below 16 pixels a
 * side and a rate outside [0, 1] are errors. */
static void test_genesis_checks(void **state)
{
    (void)state;
    const double rates[5] = {0.9, 0.5, 0.9, 0.8, 0.4};
    lrc_pair *p = egt_pair(32, 32, 7, 1);
    float x[2][32 * 32], y[2][32 * 32];
    for (int k = 0; k < 2; k++) {
        rng r;
        rng_seed(&r, 11, 0);
        assert_int_equal(genesis_transform(x[k], y[k], p->xq, 32, 32, rates, &r, NULL), 0);
    }
    assert_memory_equal(x[0], x[1], sizeof x[0]);
    assert_memory_equal(y[0], y[1], sizeof y[0]);
    rng r;
    assert_int_equal(genesis_transform(x[0], y[0], p->xq, 8, 32, rates, &r, NULL), -1);
    assert_non_null(strstr(err_get(), "at least 16x16"));
    eg_config c;
    tiny_config(&c);
    c.genesis_rates[GENESIS_OUTPAINT] = 1.5;
    assert_null(eg_trainer_create("genesis", &c, 1));
    assert_non_null(strstr(err_get(), "not a probability"));
    lrc_pair_free(p);
}

/* ---- checkpoints ---- */

static void test_save_load(void **state)
{
    (void)state;
    static const char *const methods[] = {"rotation", "relloc", "simsiam", "byol", "densecl", "genesis"};
    char path[1024];
    for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++) {
        eg_trainer *a = tiny(methods[m], 1), *b = tiny(methods[m], 2);
        lrc_pair *pairs[2] = {egt_pair(64, 64, 1, 1), egt_pair(64, 64, 2, 1)};
        eg_stats sa, sb;
        rng r;
        rng_seed(&r, 3, 0);
        assert_int_equal(eg_trainer_step(a, pairs, 2, 0.01, &r, &sa), 0);
        snprintf(path, sizeof path, "%s/%s.st", tu_tmpdir(), methods[m]);
        ckpt_writer *w = ckpt_writer_new();
        assert_int_equal(eg_trainer_save(a, w), 0);
        assert_int_equal(ckpt_write(w, path), 0);
        ckpt_writer_free(w);
        ckpt *c = ckpt_open(path);
        assert_non_null(c);
        assert_int_equal(eg_trainer_load(b, c), 0);
        /* seg-finetune --global takes any method's Eg: the same weights */
        segnet_config sc;
        segnet_config_default(&sc);
        sc.arch = SEG_G;
        segnet_init init = {{c, NULL}, NULL};
        segnet *sn = segnet_create(&sc, &init, 1);
        if (!sn)
            fail_msg("%s: %s", methods[m], err_get());
        const char *pre;
        pblock *eg = eg_trainer_part(b, 0, NULL, NULL), *sg = segnet_part(sn, 0, &pre);
        assert_string_equal(pre, "eg.");
        assert_int_equal(sg->numel, eg->numel);
        assert_memory_equal(sg->data, eg->data, eg->numel * sizeof(float));
        segnet_free(sn);
        ckpt_close(c);
        /* the same next step, bit for bit */
        rng_seed(&r, 4, 0);
        assert_int_equal(eg_trainer_step(a, pairs, 2, 0.01, &r, &sa), 0);
        rng_seed(&r, 4, 0);
        assert_int_equal(eg_trainer_step(b, pairs, 2, 0.01, &r, &sb), 0);
        assert_true(sa.loss == sb.loss && sa.metric == sb.metric);
        for (int i = 0; i < eg_trainer_nparts(a); i++) {
            pblock *pa = eg_trainer_part(a, i, NULL, NULL), *pb = eg_trainer_part(b, i, NULL, NULL);
            assert_memory_equal(pa->data, pb->data, pa->numel * sizeof(float));
        }
        for (int i = 0; !strcmp(methods[m], "densecl") && i < 2; i++) {
            const moco_queue *qa = densecl_queue(a, i), *qb = densecl_queue(b, i);
            assert_int_equal(qa->ptr, qb->ptr);
            assert_memory_equal(qa->data, qb->data, sizeof(float) * qa->K * qa->C);
        }
        for (int i = 0; i < 2; i++)
            lrc_pair_free(pairs[i]);
        eg_trainer_free(a);
        eg_trainer_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_projector_fd),   cmocka_unit_test(test_softmax_xent),
        cmocka_unit_test(test_rotation_rot90), cmocka_unit_test(test_rotation_vs_torch),
        cmocka_unit_test(test_rotation_fd),    cmocka_unit_test(test_rotation_learns),
        cmocka_unit_test(test_relloc_geometry), cmocka_unit_test(test_relloc_vs_torch),
        cmocka_unit_test(test_relloc_fd),      cmocka_unit_test(test_cross_cos),      cmocka_unit_test(test_simsiam_vs_torch),
        cmocka_unit_test(test_simsiam_fd),     cmocka_unit_test(test_byol_vs_torch),
        cmocka_unit_test(test_byol_fd),        cmocka_unit_test(test_byol_ema),
        cmocka_unit_test(test_densecl_vs_torch), cmocka_unit_test(test_densecl_fd),
        cmocka_unit_test(test_densecl_update), cmocka_unit_test(test_genesis_transforms),
        cmocka_unit_test(test_genesis_checks), cmocka_unit_test(test_genesis_vs_torch),
        cmocka_unit_test(test_genesis_fd),     cmocka_unit_test(test_save_load),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
