/* MAE as an egtrainer method (pretrain/mae.h): the masks, one step's loss,
 * metric and every gradient against PyTorch on the same weights, masks and
 * batch (tests/py/mae_ref.py), the gradients against finite differences
 * of the whole step's loss on a tiny configuration, AdamW, and a
 * checkpoint round trip that continues bit for bit; AdamW's step (with
 * MAE's parameter groups) against torch.optim.AdamW's on the same gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "finetune/segloss.h"
#include "models/segnet.h"
#include "nn/ckpt.h"
#include "nn/optim.h"
#include "pretrain/egtrainer.h"
#include "pretrain/mae.h"
#include "egtest.h"
#include "testutil.h"

/* ViT: 2 blocks of width 16, 2 heads, patches of 8; decoder: 1 block of 12, 3 heads */
static eg_trainer *tiny(uint64_t seed)
{
    eg_config c;
    eg_config_default(&c);
    vit_config_preset(&c.vit, "tiny");
    c.vit.depth = 2, c.vit.width = 16, c.vit.heads = 2, c.vit.patch = 8;
    c.dec_depth = 1, c.dec_width = 12, c.dec_heads = 3;
    c.opt.lr = 1e-3;
    c.opt.weight_decay = 0.05;
    eg_trainer *t = eg_trainer_create("mae", &c, seed);
    if (!t)
        fail_msg("%s", err_get());
    return t;
}

static void test_masks(void **state)
{
    (void)state;
    enum { N = 3, L = 36 };
    const int K = mae_keep_count(L, 0.75);
    int a[N * 9], b[N * 9];
    rng r;
    assert_int_equal(K, 9);
    assert_int_equal(mae_keep_count(16, 0.75), 4);
    assert_int_equal(mae_keep_count(49, 0.75), 12); /* int(12.25), as MAE */
    rng_seed(&r, 5, 0);
    assert_int_equal(mae_draw_keep(a, N, L, K, &r), 0);
    rng_seed(&r, 5, 0);
    assert_int_equal(mae_draw_keep(b, N, L, K, &r), 0);
    assert_memory_equal(a, b, sizeof a);
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++) {
            assert_true(a[n * K + k] >= 0 && a[n * K + k] < L);
            for (int j = 0; j < k; j++)
                assert_int_not_equal(a[n * K + k], a[n * K + j]);
        }
    assert_memory_not_equal(a, a + K, sizeof(int) * K); /* each image its own mask */
    /* every patch is kept about a quarter of the time */
    int count[L] = {0}, *many = malloc(sizeof(int) * 2000 * K);
    rng_seed(&r, 6, 0);
    assert_int_equal(mae_draw_keep(many, 2000, L, K, &r), 0);
    for (int i = 0; i < 2000 * K; i++)
        count[many[i]]++;
    for (int l = 0; l < L; l++)
        assert_true(fabs(count[l] / 2000.0 - 0.25) < 0.05);
    free(many);
}

static void test_loss(void **state)
{
    (void)state;
    enum { H = 8, W = 8, P = 4, L = 4, KP = 16, K = 1 };
    float x[H * W], pred[L * KP], dpred[L * KP];
    int keep[K] = {2};
    double vis;
    /* patch 0 constant (its target is 0), the others ramps */
    for (int y = 0; y < H; y++)
        for (int xx = 0; xx < W; xx++)
            x[y * W + xx] = y < P && xx < P ? 0.7f : (float)(y * W + xx);
    memset(pred, 0, sizeof pred);
    double loss = mae_loss(dpred, &vis, pred, x, keep, 1, 1, H, W, P, K);
    /* a ramp normalised by its unbiased variance: the mean square is (KP - 1) / KP */
    assert_true(fabs(loss - (2.0 / 3) * (KP - 1) / KP) < 1e-6);
    assert_true(fabs(vis - (double)(KP - 1) / KP) < 1e-6);
    for (int j = 0; j < KP; j++) {
        assert_true(dpred[j] == 0);          /* the constant patch: target 0, prediction 0 */
        assert_true(dpred[2 * KP + j] == 0); /* the kept patch: no gradient */
    }
}

/* Every trained tensor's gradient, and its value after the step, as mae_ref.py reads them. */
static void put_grads(ckpt_writer *w, eg_trainer *t)
{
    char name[256];
    for (int i = 0; i < eg_trainer_nparts(t); i++) {
        const char *prefix;
        int trained;
        pblock *pb = eg_trainer_part(t, i, &prefix, &trained);
        assert_true(trained);
        for (int k = 0; k < pb->n; k++) {
            const param_entry *e = &pb->e[k];
            snprintf(name, sizeof name, "grad.%s%s", prefix, e->name);
            assert_int_equal(ckpt_put_tensor(w, name, DT_F32, e->rank, e->shape, pb->grad + e->offset), 0);
            snprintf(name, sizeof name, "after.%s%s", prefix, e->name);
            assert_int_equal(ckpt_put_tensor(w, name, DT_F32, e->rank, e->shape, pb->data + e->offset), 0);
        }
    }
}

static void test_vs_torch(void **state)
{
    (void)state;
    enum { B = 3, H = 32, W = 48 };
    char dir[1024], path[1200];
    eg_trainer *t = tiny(3);
    lrc_pair *pairs[B];
    float *xq = malloc(sizeof(float) * B * H * W);
    eg_stats st;
    for (int b = 0; b < B; b++) {
        pairs[b] = egt_pair(H, W, 100 + b, 0);
        memcpy(xq + b * H * W, pairs[b]->xq, sizeof(float) * H * W);
    }
    snprintf(dir, sizeof dir, "%s/ref_mae", tu_tmpdir());
    assert_int_equal(tu_sh("mkdir -p '%s'", dir), 0);
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(eg_trainer_save(t, w), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    rng r;
    rng_seed(&r, 77, 0);
    if (eg_trainer_step(t, pairs, B, 1e-3, &r, &st)) /* the gradients stay; the weights are AdamW's step */
        fail_msg("%s", err_get());
    int K;
    const int *keep = mae_keep(t, &K);
    assert_int_equal(K, 6); /* int(24 * 0.25) */
    float kf[B * 6];
    for (int i = 0; i < B * K; i++)
        kf[i] = (float)keep[i];
    w = ckpt_writer_new();
    assert_int_equal(ckpt_put_tensor(w, "xq", DT_F32, 3, (int64_t[]){B, H, W}, xq), 0);
    assert_int_equal(ckpt_put_tensor(w, "keep", DT_F32, 2, (int64_t[]){B, K}, kf), 0);
    assert_int_equal(ckpt_put_tensor(w, "loss", DT_F64, 1, (int64_t[]){1}, &st.loss), 0);
    assert_int_equal(ckpt_put_tensor(w, "metric", DT_F64, 1, (int64_t[]){1}, &st.metric), 0);
    put_grads(w, t);
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    print_message("mae: loss %.6f, visible_loss %.6f\n", st.loss, st.metric);
    assert_int_equal(tu_sh("'%s' '%s/tests/py/mae_ref.py' '%s'", tu_python(), tu_root(), dir), 0);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    free(xq);
    eg_trainer_free(t);
}

/* The step's gradient of every trained tensor against Richardson-extrapolated
 * central differences of the loss along it (three step sizes, the closest
 * counts; the masks are the same in every evaluation). */
static void test_fd(void **state)
{
    (void)state;
    enum { B = 2, H = 16, W = 32 };
    eg_trainer *t = tiny(5);
    lrc_pair *pairs[B];
    for (int b = 0; b < B; b++)
        pairs[b] = egt_pair(H, W, 200 + b, 0);
    double L0 = egt_loss(t, pairs, B, NULL), worst = 0;
    int checked = 0;
    for (int i = 0; i < eg_trainer_nparts(t); i++) {
        const char *prefix;
        pblock *pb = eg_trainer_part(t, i, &prefix, NULL);
        float *g = malloc(sizeof(float) * pb->ntrain);
        memcpy(g, pb->grad, sizeof(float) * pb->ntrain);
        for (int k = 0; k < pb->n; k++) {
            const param_entry *e = &pb->e[k];
            double gn, fd, e_rel = egt_dirfd(t, pairs, B, pb, g, e, 1e-1, &gn, &fd);
            worst = fmax(worst, e_rel);
            checked++;
            if (e_rel > 1e-3)
                print_message("  %s%-32s |g| %.4e rel %.1e\n", prefix, e->name, gn, e_rel);
        }
        free(g);
    }
    print_message("mae: loss %.6f, %d tensors, worst finite-difference error %.2e\n", L0, checked, worst);
    assert_true(worst < 1e-2);
    for (int b = 0; b < B; b++)
        lrc_pair_free(pairs[b]);
    eg_trainer_free(t);
}

static void test_optimiser(void **state)
{
    (void)state;
    assert_true(eg_method_known("mae"));
    assert_non_null(strstr(eg_method_names(), "mae"));
    assert_true(fabs(eg_method_lr("mae", 256) - 1.5e-4) < 1e-12);
    assert_true(fabs(eg_method_lr("mae", 64) - 1.5e-4 / 4) < 1e-12);
    assert_true(eg_method_wd("mae", 1e-4) == 0.05 && eg_method_wd("byol", 1e-4) == 1e-4);
    assert_string_equal(eg_method_metric("mae"), "visible_loss");
    eg_trainer *t = tiny(1);
    assert_null(eg_trainer_encoder(t));
    const eg_config *c = eg_trainer_config(t);
    assert_int_equal(c->opt.kind, OPTIM_ADAMW);
    assert_true(c->opt.beta1 == 0.9 && c->opt.beta2 == 0.95);
    eg_trainer_free(t);
    /* a mask ratio that leaves nothing, or patches that do not divide the slice */
    eg_config bad;
    eg_config_default(&bad);
    bad.mask_ratio = 1;
    assert_null(eg_trainer_create("mae", &bad, 1));
    print_message("%s\n", err_get());
    t = tiny(1);
    lrc_pair *p = egt_pair(16, 20, 1, 0);
    eg_stats st;
    rng r;
    rng_seed(&r, 1, 0);
    assert_int_equal(eg_trainer_step(t, &p, 1, 1e-3, &r, &st), -1);
    print_message("%s\n", err_get());
    lrc_pair_free(p);
    eg_trainer_free(t);
    t = tiny(1);
    bad = *eg_trainer_config(t);
    eg_trainer_free(t);
    bad.vit.patch = 12;
    t = eg_trainer_create("mae", &bad, 1);
    assert_non_null(t);
    p = egt_pair(32, 32, 1, 0);
    assert_int_equal(eg_trainer_step(t, &p, 1, 1e-3, &r, &st), -1);
    print_message("%s\n", err_get());
    lrc_pair_free(p);
    eg_trainer_free(t);
}

static void test_save_load(void **state)
{
    (void)state;
    char path[1024];
    eg_trainer *a = tiny(1), *b = tiny(2);
    lrc_pair *pairs[2] = {egt_pair(32, 32, 1, 0), egt_pair(32, 32, 2, 0)};
    eg_stats sa, sb;
    rng r;
    double first = 0;
    for (int s = 0; s < 20; s++) { /* the loss falls on two images */
        rng_seed(&r, 3 + s, 0);
        assert_int_equal(eg_trainer_step(a, pairs, 2, 3e-3, &r, &sa), 0);
        if (!s)
            first = sa.loss;
    }
    print_message("mae: loss %.4f at step 1, %.4f at step 20\n", first, sa.loss);
    assert_true(sa.loss < 0.9 * first);
    snprintf(path, sizeof path, "%s/mae.st", tu_tmpdir());
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(eg_trainer_save(a, w), 0);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    ckpt *c = ckpt_open(path);
    assert_non_null(c);
    assert_string_equal(ckpt_meta(c, "model"), "vit");
    assert_string_equal(ckpt_meta(c, "decoder.model"), "maedec");
    assert_int_equal(eg_trainer_load(b, c), 0);
    ckpt_close(c);
    for (int s = 0; s < 2; s++) { /* the same next steps, bit for bit */
        rng_seed(&r, 40 + s, 0);
        assert_int_equal(eg_trainer_step(a, pairs, 2, 3e-3, &r, &sa), 0);
        rng_seed(&r, 40 + s, 0);
        assert_int_equal(eg_trainer_step(b, pairs, 2, 3e-3, &r, &sb), 0);
        assert_true(sa.loss == sb.loss && sa.metric == sb.metric);
    }
    for (int i = 0; i < eg_trainer_nparts(a); i++) {
        pblock *pa = eg_trainer_part(a, i, NULL, NULL), *pb = eg_trainer_part(b, i, NULL, NULL);
        assert_memory_equal(pa->data, pb->data, pa->numel * sizeof(float));
    }
    /* another decoder's checkpoint is refused */
    eg_config cfg = *eg_trainer_config(a);
    cfg.dec_width = 24;
    eg_trainer *d = eg_trainer_create("mae", &cfg, 1);
    assert_non_null(d);
    c = ckpt_open(path);
    assert_int_equal(eg_trainer_load(d, c), -1);
    print_message("%s\n", err_get());
    ckpt_close(c);
    eg_trainer_free(d);
    for (int i = 0; i < 2; i++)
        lrc_pair_free(pairs[i]);
    eg_trainer_free(a);
    eg_trainer_free(b);
}

/* seg-finetune's network on an MAE checkpoint's ViT: Eg taken as trained,
 * a progressive-upsampling Dg beside the U-Net (global+local) or alone
 * (global); a few Adam steps on one batch make the loss fall; the network
 * survives a checkpoint round trip (same logits, same prediction). */
static void test_finetune(void **state)
{
    (void)state;
    enum { N = 2, H = 32, W = 32, C = 3 };
    char path[1024];
    eg_trainer *t = tiny(7);
    snprintf(path, sizeof path, "%s/mae_ft.st", tu_tmpdir());
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(eg_trainer_save(t, w), 0);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    ckpt *pre = ckpt_open(path);
    assert_non_null(pre);
    float x[N * H * W];
    uint8_t label[N * H * W], pred[N * H * W], pred2[N * H * W];
    for (int n = 0; n < N; n++) { /* a bright disc (class 1) and a dark square (class 2) */
        lrc_pair *p = egt_pair(H, W, 300 + n, 0);
        for (int i = 0; i < H * W; i++) {
            const int y = i / W, xx = i % W, disc = (y - 10) * (y - 10) + (xx - 12) * (xx - 12) < 36,
                      sq = y >= 18 && y < 28 && xx >= 16 + 4 * n && xx < 26 + 4 * n;
            label[n * H * W + i] = disc ? 1 : sq ? 2 : 0;
            x[n * H * W + i] = 0.2f * p->xq[i] + (disc ? 0.8f : sq ? -0.6f : 0.0f);
        }
        lrc_pair_free(p);
    }
    for (int arch = 0; arch < 2; arch++) {
        segnet_config sc;
        segnet_config_default(&sc);
        sc.arch = arch ? SEG_G : SEG_GL;
        sc.classes = C;
        sc.local.widths[0] = 4, sc.local.widths[1] = 8, sc.local.widths[2] = 8, sc.local.widths[3] = 8;
        sc.local.widths[4] = 8, sc.local.out_ch = 8;
        segnet_init init = {{pre, NULL}, NULL};
        segnet *sn = segnet_create(&sc, &init, 1);
        if (!sn)
            fail_msg("%s", err_get());
        const char *prefix;
        pblock *eg = segnet_part(sn, 0, &prefix), *vp = eg_trainer_part(t, 0, NULL, NULL);
        assert_string_equal(prefix, "eg.");
        assert_null(segnet_encoder(sn, 0));
        assert_non_null(segnet_vit(sn, 0));
        assert_memory_equal(eg->data, vp->data, vp->numel * sizeof(float)); /* the pre-trained ViT as it was */
        optim_config oc;
        optim_config_default(&oc, OPTIM_ADAM);
        oc.lr = 3e-3, oc.weight_decay = 0;
        optim *opt[4] = {NULL};
        const int np = segnet_nparts(sn);
        for (int i = 0; i < np; i++)
            assert_non_null(opt[i] = optim_create(&oc, segnet_part(sn, i, &prefix)));
        segloss_config lc;
        segloss_config_default(&lc);
        lc.ce_weight = 1;
        float *dl = malloc(sizeof(float) * N * C * H * W);
        double first = 0, last = 0;
        for (int step = 0; step < 15; step++) {
            segloss_stats st;
            for (int i = 0; i < np; i++)
                pblock_zero_grad(segnet_part(sn, i, &prefix));
            const float *logits = segnet_forward(sn, x, N, H, W);
            assert_non_null(logits);
            assert_int_equal(segloss_dice(dl, &st, logits, label, N, C, H * W, &lc), 0);
            assert_int_equal(segnet_backward(sn, dl), 0);
            for (int i = 0; i < np; i++)
                optim_step(opt[i], oc.lr);
            if (!step)
                first = st.loss;
            last = st.loss;
        }
        print_message("%s on the MAE ViT: loss %.4f at step 1, %.4f at step 15\n", segnet_arch_name(sc.arch), first,
                      last);
        assert_true(last < 0.8 * first);
        /* round trip: the same network, the same logits and prediction */
        snprintf(path, sizeof path, "%s/seg_vit_%d.st", tu_tmpdir(), arch);
        w = ckpt_writer_new();
        assert_int_equal(segnet_ckpt_put(w, sn), 0);
        assert_int_equal(ckpt_write(w, path), 0);
        ckpt_writer_free(w);
        ckpt *c = ckpt_open(path);
        assert_string_equal(ckpt_meta(c, "eg.model"), "vit");
        assert_string_equal(ckpt_meta(c, "dg.model"), "vitpup");
        segnet *s2 = segnet_ckpt_load(c);
        if (!s2)
            fail_msg("%s", err_get());
        ckpt_close(c);
        assert_int_equal(segnet_predict(sn, pred, x, N, H, W), 0);
        assert_int_equal(segnet_predict(s2, pred2, x, N, H, W), 0);
        assert_memory_equal(pred, pred2, sizeof pred);
        int right = 0;
        for (int i = 0; i < N * H * W; i++)
            right += pred[i] == label[i];
        print_message("  prediction: %d of %d pixels right\n", right, N * H * W);
        assert_true(right > N * H * W / 2);
        segnet_free(s2);
        for (int i = 0; i < np; i++)
            optim_free(opt[i]);
        free(dl);
        segnet_free(sn);
    }
    ckpt_close(pre);
    eg_trainer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masks),     cmocka_unit_test(test_loss),      cmocka_unit_test(test_vs_torch),
        cmocka_unit_test(test_fd),        cmocka_unit_test(test_optimiser), cmocka_unit_test(test_save_load),
        cmocka_unit_test(test_finetune),
    };
    if (getenv("TEST_FILTER"))
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
