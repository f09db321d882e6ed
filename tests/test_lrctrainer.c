/* The training steps as a whole: the gradient of the local loss reaches the
 * U-Net's weights (finite differences through forward, sampling, loss), the
 * batch layout [xq..., xp...] is the one the loss reads, and a MoCo step
 * moves the key encoder by momentum only and fills the queue. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "pretrain/lrctrainer.h"
#include "pretrain/mocotrainer.h"
#include "testutil.h"

/* Synthetic pairs: 8x8 blocks as regions, the positive shifted by one pixel. */
static lrc_pair *make_pair(int H, int W, uint64_t seed)
{
    lrc_pair *p = calloc(1, sizeof *p);
    rng r;
    rng_seed(&r, seed, 0);
    p->H = H;
    p->W = W;
    p->xq = malloc(sizeof(float) * H * W);
    p->xp = malloc(sizeof(float) * H * W);
    p->rq = malloc(sizeof(int32_t) * H * W);
    p->rp = malloc(sizeof(int32_t) * H * W);
    double level[64];
    for (int k = 0; k < 64; k++)
        level[k] = rng_uniform(&r);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int k = (y / 8) * (W / 8) + x / 8;
            p->rq[y * W + x] = k;
            p->xq[y * W + x] = (float)(level[k] + 0.1 * rng_normal(&r));
        }
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int xs = x ? x - 1 : 0;
            p->rp[y * W + x] = p->rq[y * W + xs];
            p->xp[y * W + x] = p->xq[y * W + xs];
        }
    p->nreg = (H / 8) * (W / 8);
    return p;
}

static double step_loss(lrc_trainer *t, lrc_pair **pairs, int B)
{
    lrc_step_stats st;
    rng r;
    rng_seed(&r, 99, 0); /* the same pixel samples every time */
    if (lrc_trainer_step(t, pairs, B, 0.0, &r, &st)) /* lr 0: gradients, no update */
        fail_msg("%s", err_get());
    assert_int_equal(st.pairs, B);
    return st.loss;
}

static void test_lrc_grad_through_unet(void **state)
{
    (void)state;
    lrc_trainer_config c;
    lrc_trainer_config_default(&c);
    int w[5] = {4, 8, 8, 8, 8};
    memcpy(c.net.widths, w, sizeof w);
    c.net.out_ch = 8;
    c.net.norm = NORM_GROUP; /* group norm: per-image statistics (batch norm also works; this is simpler) */
    c.net.groups = 4;
    c.samples = 20;
    lrc_trainer *t = lrc_trainer_create(&c, 3);
    assert_non_null(t);
    enum { B = 2 };
    lrc_pair *pairs[B] = {make_pair(64, 64, 1), make_pair(64, 64, 2)};
    double L0 = step_loss(t, pairs, B);
    pblock *pb = unet_params(lrc_trainer_net(t));
    float *g = malloc(sizeof(float) * pb->ntrain);
    memcpy(g, pb->grad, sizeof(float) * pb->ntrain);
    double gmax = 0;
    for (size_t i = 0; i < pb->ntrain; i++)
        gmax = fmax(gmax, fabs(g[i]));
    /* Directional derivatives: every weight of a tensor moved along its
     * gradient, v = g / |g|; d/dh L(w + h v) = |g|. Single weights would
     * drown in the float forward's rounding, or meet ReLU kinks. */
    const char *names[] = {"enc1.conv1.weight", "enc2.conv1.weight", "mid.conv2.weight", "dec4.up.weight",
                           "dec1.conv2.weight", "head.weight", "head.bias"};
    double worst = 0;
    int checked = 0;
    for (size_t n = 0; n < sizeof names / sizeof names[0]; n++) {
        int idx = pblock_find(pb, names[n]);
        assert_true(idx >= 0);
        const param_entry *e = &pb->e[idx];
        float *wt = pb->data + e->offset, *keep = malloc(sizeof(float) * e->numel);
        const float *gt = g + e->offset;
        double gn = 0, wn = 0;
        for (size_t i = 0; i < e->numel; i++) {
            gn += (double)gt[i] * gt[i];
            wn += (double)wt[i] * wt[i];
        }
        gn = sqrt(gn);
        /* Richardson: fd(h) and fd(h/2) cancel the h^2 term. Layers differ in where
         * curvature (ReLU kinks: large h) and the float forward's rounding (small h)
         * spoil a difference quotient, so three steps are tried and the closest counts:
         * a wrong gradient agrees at none. */
        double fd = 0, e_rel = INFINITY;
        memcpy(keep, wt, sizeof(float) * e->numel);
        for (int hs = 0; hs < 3; hs++) {
            double h = (double[]){1e-3, 3e-3, 1e-2}[hs] * fmax(sqrt(wn / e->numel), 1e-2), l[4];
            for (int k = 0; k < 4; k++) {
                double step = (k & 1 ? -h : h) / (k < 2 ? 1 : 2);
                for (size_t i = 0; i < e->numel; i++)
                    wt[i] = keep[i] + (float)(step * gt[i] / gn);
                l[k] = step_loss(t, pairs, B);
            }
            double f1 = (l[0] - l[1]) / (2 * h), f2 = (l[2] - l[3]) / h, f = (4 * f2 - f1) / 3;
            if (fabs(f - gn) / gn < e_rel) {
                e_rel = fabs(f - gn) / gn;
                fd = f;
            }
        }
        memcpy(wt, keep, sizeof(float) * e->numel);
        free(keep);
        print_message("%-18s |g| %.6e, directional fd %.6e, rel %.1e\n", names[n], gn, fd, e_rel);
        worst = fmax(worst, e_rel);
        checked++;
    }
    print_message("loss %.5f, %d tensors checked, max rel diff %.2e (gmax %.3g)\n", L0, checked, worst, gmax);
    assert_true(worst < 1e-2);
    free(g);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    lrc_trainer_free(t);
}

/* Swapping the views of a pair gives a different batch layout; the loss is
 * not symmetric in (q, p) (the denominator holds q.q terms), so a trainer
 * that read fq and fp from the wrong halves of the batch would show it. This
 * checks the step's loss against lrc_pair_loss on the U-Net's own features. */
static void test_lrc_layout(void **state)
{
    (void)state;
    lrc_trainer_config c;
    lrc_trainer_config_default(&c);
    int w[5] = {4, 8, 8, 8, 8};
    memcpy(c.net.widths, w, sizeof w);
    c.net.out_ch = 8;
    c.net.norm = NORM_GROUP;
    c.net.groups = 4;
    lrc_trainer *t = lrc_trainer_create(&c, 5);
    enum { B = 3, H = 32, W = 48, HW = H * W, D = 8 };
    lrc_pair *pairs[B] = {make_pair(H, W, 11), make_pair(H, W, 12), make_pair(H, W, 13)};
    for (int b = 0; b < B; b++)
        pairs[b]->seq = 7 + b;
    double L = step_loss(t, pairs, B);
    /* the same by hand: one forward of [xq..., xp...], the same samples */
    float *x = malloc(sizeof(float) * 2 * B * HW);
    for (int b = 0; b < B; b++) {
        memcpy(x + b * HW, pairs[b]->xq, sizeof(float) * HW);
        memcpy(x + (B + b) * HW, pairs[b]->xp, sizeof(float) * HW);
    }
    const float *f = unet_forward(lrc_trainer_net(t), x, 2 * B, H, W);
    assert_non_null(f);
    /* each pair's samples from its own stream: one draw of the step's rng and its seq */
    rng r;
    rng_seed(&r, 99, 0);
    const uint64_t key = rng_u64(&r);
    lrc_sample s;
    lrc_sample_init(&s);
    double sum = 0;
    for (int b = 0; b < B; b++) {
        double l;
        rng rb;
        rng_seed(&rb, key, (uint64_t)pairs[b]->seq);
        assert_int_equal(lrc_sample_draw(&s, pairs[b]->rq, pairs[b]->rp, HW, c.samples, &rb), 0);
        assert_int_equal(lrc_pair_loss(&l, NULL, NULL, f + (size_t)b * D * HW, f + (size_t)(B + b) * D * HW, D, HW,
                                       &s, &c.loss, 1.0),
                         0);
        sum += l;
    }
    print_message("step loss %.8f, by hand %.8f\n", L, sum / B);
    assert_true(fabs(L - sum / B) < 1e-9 * fabs(L));
    lrc_sample_free(&s);
    free(x);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    lrc_trainer_free(t);
}

static void test_moco_step(void **state)
{
    (void)state;
    moco_trainer_config c;
    moco_trainer_config_default(&c);
    c.enc.width = 0.0625f;
    c.dim = 16;
    c.queue = 10; /* not a multiple of the batch: the ring wraps mid-batch */
    enum { B = 4 };
    moco_trainer *t = moco_trainer_create(&c, 1);
    assert_non_null(t);
    lrc_pair *pairs[B];
    for (int b = 0; b < B; b++)
        pairs[b] = make_pair(32, 32, 20 + b);
    pblock *pq = resnet_params(moco_trainer_encoder(t));
    float *q0 = malloc(sizeof(float) * pq->ntrain);
    memcpy(q0, pq->data, sizeof(float) * pq->ntrain);
    rng r;
    rng_seed(&r, 1, 0);
    moco_step_stats st;
    for (int s = 0; s < 3; s++) {
        assert_int_equal(moco_trainer_step(t, pairs, B, 0.03, &r, &st), 0);
        assert_true(isfinite(st.loss) && st.loss > 0);
        assert_true(st.acc >= 0 && st.acc <= 1);
    }
    /* the query encoder moved; the queue took 12 keys: ptr 12 % 10 */
    double moved = 0;
    for (size_t i = 0; i < pq->ntrain; i++)
        moved = fmax(moved, fabs(pq->data[i] - q0[i]));
    assert_true(moved > 0);
    const moco_queue *qu = moco_trainer_queue(t);
    assert_int_equal(qu->ptr, 2);
    for (int k = 0; k < qu->K; k++) { /* every entry a unit vector */
        double n = 0;
        for (int d = 0; d < qu->C; d++)
            n += (double)qu->data[k * qu->C + d] * qu->data[k * qu->C + d];
        assert_true(fabs(n - 1) < 1e-5);
    }
    free(q0);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    moco_trainer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lrc_grad_through_unet),
        cmocka_unit_test(test_lrc_layout),
        cmocka_unit_test(test_moco_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
