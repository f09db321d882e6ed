/* segnet (the fine-tuning network) and segtrain (its step and checkpoint):
 * forward/backward shapes of every architecture, the gradient of each part
 * against central finite differences through the whole network, the head's
 * concatenation order, checkpoint round trips (the same logits after
 * loading), pre-trained parts taken from lrc-train-style checkpoints, and
 * checkpoints of the wrong kind refused with a clear message. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "finetune/segtrain.h"
#include "io/npy.h"
#include "models/segnet.h"
#include "nn/ckpt.h"
#include "nn/nn.h"
#include "testutil.h"

/* Tiny parts so that a forward takes milliseconds. */
static void tiny(segnet_config *c, segnet_arch arch, int classes)
{
    segnet_config_default(c);
    c->arch = arch;
    c->classes = classes;
    c->enc.width = 0.0625f; /* 4 8 16 32 */
    int w[5] = {4, 8, 8, 8, 8};
    memcpy(c->local.widths, w, sizeof w);
    c->local.out_ch = 6;
}

static void fill(float *x, size_t n, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)rng_normal(&r);
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* f = sum(logits * R) in training mode (batch statistics) */
static double objective(segnet *s, const float *x, const float *R, int N, int H, int W)
{
    const float *lg = segnet_forward(s, x, N, H, W);
    assert_non_null(lg);
    return dot(lg, R, (size_t)N * segnet_classes(s) * H * W);
}

static void test_shapes_and_gradients(void **state)
{
    (void)state;
    const int N = 2, H = 32, W = 48, C = 5;
    float x[2 * 32 * 48];
    fill(x, sizeof x / sizeof x[0], 1);
    nn_set_threads(1);
    for (int a = SEG_GL; a <= SEG_L; a++) {
        segnet_config cfg;
        tiny(&cfg, (segnet_arch)a, C);
        segnet *s = segnet_create(&cfg, NULL, 7);
        assert_non_null(s);
        const int nparts = segnet_nparts(s);
        assert_int_equal(nparts, a == SEG_GL ? 4 : a == SEG_GG ? 5 : a == SEG_G ? 3 : 2);
        const size_t nl = (size_t)N * C * H * W;
        float *R = malloc(nl * sizeof(float));
        fill(R, nl, 2);
        double f0 = objective(s, x, R, N, H, W);
        assert_true(isfinite(f0));
        for (int i = 0; i < nparts; i++) {
            const char *p;
            pblock_zero_grad(segnet_part(s, i, &p));
        }
        assert_int_equal(segnet_backward(s, R), 0);
        /* every part gets a gradient; check its largest element by central
         * differences. The head is linear in its weights (1e-3); in the
         * branches, ReLU and max-pool kinks of these tiny networks limit
         * float32 differences to a few per cent (10%; the exact check of
         * the branches' gradients is test_composition, the engine's tests
         * check each model's own). */
        for (int i = 0; i < nparts; i++) {
            const char *prefix;
            pblock *pb = segnet_part(s, i, &prefix);
            size_t best = 0;
            for (size_t k = 0; k < pb->ntrain; k++)
                if (fabsf(pb->grad[k]) > fabsf(pb->grad[best]))
                    best = k;
            assert_true(fabsf(pb->grad[best]) > 0);
            float v = pb->data[best], h = 1e-3f * (fabsf(v) > 1 ? fabsf(v) : 1);
            pb->data[best] = v + h;
            double fp = objective(s, x, R, N, H, W);
            pb->data[best] = v - h;
            double fm = objective(s, x, R, N, H, W);
            pb->data[best] = v;
            double num = (fp - fm) / (2.0 * h), an = pb->grad[best];
            print_message("%-14s %-5s param %7zu of %7zu: analytic %.6g, numeric %.6g (rel %.2g)\n",
                          segnet_arch_name((segnet_arch)a), prefix, best, pb->ntrain, an, num,
                          fabs(an - num) / fabs(an));
            assert_true(fabs(an - num) <= (!strcmp(prefix, "head.") ? 1e-3 : 0.1) * fabs(an));
        }
        /* the logits' shape: the head maps cat[f0, f1] to C channels */
        const char *hp;
        pblock *head = segnet_part(s, nparts - 1, &hp);
        assert_string_equal(hp, "head.");
        assert_int_equal(head->e[0].shape[0], C);
        int cin = (int)head->e[0].shape[1];
        int expect = 0;
        for (int b = 0; b < segnet_nbranch(s); b++)
            expect += segnet_branch_kind(s, b) == 'g' ? 64 : 6;
        assert_int_equal(cin, expect);
        free(R);
        segnet_free(s);
    }
}

/* The branches' gradients equal those of the engine's models run alone on
 * the same input with dfeat_b = W_b^T dlogits (W_b: the head's columns of
 * branch b), as the paper's concatenation + 1x1 convolution implies. */
static void test_composition(void **state)
{
    (void)state;
    const int N = 2, H = 32, W = 32, C = 4;
    const size_t px = (size_t)N * H * W;
    float x[2 * 32 * 32];
    fill(x, 2048, 8);
    for (int a = SEG_GL; a <= SEG_GG; a++) {
        segnet_config cfg;
        tiny(&cfg, (segnet_arch)a, C);
        segnet *s = segnet_create(&cfg, NULL, 3);
        float *R = malloc(px * C * sizeof(float));
        fill(R, px * C, 9);
        assert_non_null(segnet_forward(s, x, N, H, W));
        const char *p;
        for (int i = 0; i < segnet_nparts(s); i++)
            pblock_zero_grad(segnet_part(s, i, &p));
        assert_int_equal(segnet_backward(s, R), 0);
        pblock *head = segnet_part(s, segnet_nparts(s) - 1, &p);
        const int cin = (int)head->e[0].shape[1];
        int off = 0, part = 0;
        for (int b = 0; b < segnet_nbranch(s); b++) {
            const int D = segnet_branch_kind(s, b) == 'g' ? 64 : 6;
            float *df = calloc(px * D, sizeof(float));
            for (int n = 0; n < N; n++)
                for (int k = 0; k < D; k++)
                    for (int c = 0; c < C; c++) {
                        float w = head->data[c * cin + off + k];
                        for (int j = 0; j < H * W; j++)
                            df[((size_t)n * D + k) * H * W + j] += w * R[((size_t)n * C + c) * H * W + j];
                    }
            double maxd = 0, maxg = 0;
            if (segnet_branch_kind(s, b) == 'g') {
                pblock *pe = segnet_part(s, part, &p), *pd = segnet_part(s, part + 1, &p);
                resnet *e = resnet_create(resnet_get_config(segnet_encoder(s, b)), 0);
                resdec_config dc;
                resdec_config_for(resnet_get_config(e), &dc);
                resdec *d = resdec_create(&dc, 0);
                assert_int_equal(pblock_copy(resnet_params(e), pe), 0);
                assert_int_equal(pblock_copy(resdec_params(d), pd), 0);
                const float *stage[5];
                assert_non_null(resnet_forward(e, x, N, H, W));
                for (int k = 0; k < 5; k++)
                    stage[k] = resnet_stage(e, k);
                assert_non_null(resdec_forward(d, stage, N, H, W));
                assert_int_equal(resdec_backward(d, df), 0);
                assert_int_equal(resnet_backward(e, NULL, resdec_dstages(d), NULL), 0);
                pblock *ref[2] = {resnet_params(e), resdec_params(d)}, *got[2] = {pe, pd};
                for (int q = 0; q < 2; q++)
                    for (size_t k = 0; k < got[q]->ntrain; k++) {
                        double dd = fabs((double)got[q]->grad[k] - ref[q]->grad[k]);
                        maxd = dd > maxd ? dd : maxd;
                        maxg = fabs(ref[q]->grad[k]) > maxg ? fabs(ref[q]->grad[k]) : maxg;
                    }
                resnet_free(e);
                resdec_free(d);
                part += 2;
            } else {
                pblock *pu = segnet_part(s, part, &p);
                unet *u = unet_create(unet_get_config(segnet_unet(s)), 0);
                assert_int_equal(pblock_copy(unet_params(u), pu), 0);
                assert_non_null(unet_forward(u, x, N, H, W));
                assert_int_equal(unet_backward(u, df, NULL), 0);
                for (size_t k = 0; k < pu->ntrain; k++) {
                    double dd = fabs((double)pu->grad[k] - unet_params(u)->grad[k]);
                    maxd = dd > maxd ? dd : maxd;
                    maxg = fabs(unet_params(u)->grad[k]) > maxg ? fabs(unet_params(u)->grad[k]) : maxg;
                }
                unet_free(u);
                part += 1;
            }
            print_message("%s branch %d (%c): max |grad - alone| %.3g of %.3g\n", segnet_arch_name((segnet_arch)a),
                          b, segnet_branch_kind(s, b), maxd, maxg);
            assert_true(maxg > 0);
            assert_true(maxd <= 1e-4 * maxg);
            off += D;
            free(df);
        }
        free(R);
        segnet_free(s);
    }
}

/* The head reads branch 0's features first: zeroing the head's weights for
 * the first D0 input channels makes the logits independent of branch 0. */
static void test_concat_order(void **state)
{
    (void)state;
    segnet_config cfg;
    const int N = 1, H = 16, W = 16;
    float x[256];
    fill(x, 256, 3);
    tiny(&cfg, SEG_GL, 3);
    segnet *s = segnet_create(&cfg, NULL, 1);
    assert_non_null(s);
    const char *p;
    pblock *head = segnet_part(s, 3, &p);
    float *w = head->data; /* weight (C, 64 + 6, 1, 1) */
    for (int c = 0; c < 3; c++)
        for (int k = 0; k < 64; k++)
            w[c * 70 + k] = 0;
    segnet_set_training(s, 0);
    float a[3 * 256], b[3 * 256];
    memcpy(a, segnet_forward(s, x, N, H, W), sizeof a);
    /* change only Eg's first convolution */
    pblock *eg = segnet_part(s, 0, &p);
    assert_string_equal(p, "eg.");
    for (size_t k = 0; k < 9; k++)
        eg->data[k] += 1;
    memcpy(b, segnet_forward(s, x, N, H, W), sizeof b);
    assert_memory_equal(a, b, sizeof a);
    pblock *un = segnet_part(s, 2, &p);
    assert_string_equal(p, "unet.");
    un->data[0] += 1;
    memcpy(b, segnet_forward(s, x, N, H, W), sizeof b);
    assert_memory_not_equal(a, b, sizeof a);
    segnet_free(s);
}

static void write_ckpt(ckpt_writer *w, const char *path)
{
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
}

/* What lrc-train writes: a U-Net (method lrc) or a ResNet (method moco)
 * under prefix "". */
static void pretrained(const char *path, char kind, uint64_t seed, int in_ch)
{
    ckpt_writer *w = ckpt_writer_new();
    if (kind == 'l') {
        segnet_config c;
        tiny(&c, SEG_L, 2);
        c.local.in_ch = in_ch;
        unet *u = unet_create(&c.local, seed);
        assert_int_equal(unet_ckpt_put(w, "", u), 0);
        assert_int_equal(ckpt_put_meta(w, "method", "lrc"), 0);
        write_ckpt(w, path);
        unet_free(u);
    } else {
        /* 'g': Eg alone (MoCo); 'd': Eg and its decoder under dg. (Models
         * Genesis); 'x': a decoder made for another encoder width */
        segnet_config c;
        resdec_config dc;
        resdec *d = NULL;
        tiny(&c, SEG_G, 2);
        c.enc.in_ch = in_ch;
        resnet *r = resnet_create(&c.enc, seed);
        assert_int_equal(resnet_ckpt_put(w, "", r), 0);
        if (kind != 'g') {
            resnet_config other = c.enc;
            other.width = 0.125f;
            resdec_config_for(kind == 'x' ? &other : &c.enc, &dc);
            assert_non_null(d = resdec_create(&dc, seed + 100));
            assert_int_equal(resdec_ckpt_put(w, "dg.", d), 0);
        }
        assert_int_equal(ckpt_put_meta(w, "method", kind == 'g' ? "moco" : "genesis"), 0);
        write_ckpt(w, path);
        resdec_free(d);
        resnet_free(r);
    }
}

static int same_part(segnet *a, int ia, const ckpt *c, const char *prefix)
{
    const char *p;
    pblock *pb = segnet_part(a, ia, &p), copy;
    /* compare a's part with the checkpoint's tensors under prefix */
    pblock_init(&copy);
    for (int i = 0; i < pb->n; i++)
        pblock_add(&copy, pb->e[i].name, pb->e[i].kind, pb->e[i].rank, pb->e[i].shape);
    pblock_alloc(&copy);
    int same = !ckpt_get_params(c, prefix, &copy) && !memcmp(copy.data, pb->data, pb->numel * sizeof(float));
    pblock_free(&copy);
    return same;
}

static void test_pretrained(void **state)
{
    (void)state;
    segnet_config cfg;
    pretrained(tu_tmp("lrc.st"), 'l', 11, 1);
    pretrained(tu_tmp("moco.st"), 'g', 12, 1);
    pretrained(tu_tmp("moco2.st"), 'g', 13, 1);
    ckpt *l = ckpt_open(tu_tmp("lrc.st")), *g = ckpt_open(tu_tmp("moco.st")), *g2 = ckpt_open(tu_tmp("moco2.st"));
    assert_non_null(l);
    assert_non_null(g);
    assert_non_null(g2);
    /* global + local from checkpoints; Dg and the head random */
    tiny(&cfg, SEG_GL, 4);
    cfg.enc.width = 0.25f; /* the checkpoint's configuration wins */
    segnet_init init = {{g, NULL}, l};
    segnet *s = segnet_create(&cfg, &init, 5);
    assert_non_null(s);
    assert_true(same_part(s, 0, g, ""));
    assert_true(same_part(s, 2, l, ""));
    assert_true(resnet_get_config(segnet_encoder(s, 0))->width == 0.0625f);
    cfg.enc.width = 0.0625f;
    segnet *r = segnet_create(&cfg, NULL, 5); /* random, same seed: Dg identical */
    assert_non_null(r);
    const char *p;
    pblock *d1 = segnet_part(s, 1, &p), *d2 = segnet_part(r, 1, &p);
    assert_int_equal(d1->numel, d2->numel);
    assert_memory_equal(d1->data, d2->data, d1->numel * sizeof(float));
    segnet_free(r);
    segnet_free(s);
    /* global + global (Table 2's control) */
    tiny(&cfg, SEG_GG, 4);
    segnet_init init2 = {{g, g2}, NULL};
    s = segnet_create(&cfg, &init2, 5);
    assert_non_null(s);
    assert_true(same_part(s, 0, g, ""));
    assert_true(same_part(s, 2, g2, ""));
    segnet_get_arch(s);
    segnet_free(s);

    /* wrong kinds */
    tiny(&cfg, SEG_GL, 4);
    segnet_init bad1 = {{l, NULL}, NULL};
    assert_null(segnet_create(&cfg, &bad1, 5));
    print_message("lrc checkpoint as Eg: %s\n", err_get());
    assert_non_null(strstr(err_get(), "holds a U-Net (lrc-train --method lrc); the global branch needs a ResNet"));
    segnet_init bad2 = {{NULL, NULL}, g};
    assert_null(segnet_create(&cfg, &bad2, 5));
    print_message("moco checkpoint as El+Dl: %s\n", err_get());
    assert_non_null(strstr(err_get(), "holds a ResNet encoder (lrc-train --method moco); the local branch needs a U-Net"));
    /* Eg with its decoder (Models Genesis): Dg comes from the file too,
     * as the method's protocol fine-tunes both */
    pretrained(tu_tmp("genesis.st"), 'd', 14, 1);
    ckpt *gd = ckpt_open(tu_tmp("genesis.st"));
    assert_non_null(gd);
    tiny(&cfg, SEG_GL, 4);
    segnet_init init3 = {{gd, NULL}, NULL};
    s = segnet_create(&cfg, &init3, 5);
    assert_non_null(s);
    assert_true(same_part(s, 0, gd, ""));
    assert_true(same_part(s, 1, gd, "dg."));
    segnet_free(s);
    ckpt_close(gd);
    /* a decoder that does not fit the encoder beside it */
    pretrained(tu_tmp("genesis_x.st"), 'x', 14, 1);
    gd = ckpt_open(tu_tmp("genesis_x.st"));
    assert_non_null(gd);
    segnet_init bad0 = {{gd, NULL}, NULL};
    assert_null(segnet_create(&cfg, &bad0, 5));
    print_message("unfitting dg.: %s\n", err_get());
    assert_non_null(strstr(err_get(), "its decoder dg. does not fit its encoder"));
    ckpt_close(gd);
    ckpt_close(l), ckpt_close(g), ckpt_close(g2);
    /* three input channels */
    pretrained(tu_tmp("lrc3.st"), 'l', 11, 3);
    l = ckpt_open(tu_tmp("lrc3.st"));
    segnet_init bad3 = {{NULL, NULL}, l};
    assert_null(segnet_create(&cfg, &bad3, 5));
    assert_non_null(strstr(err_get(), "takes 3 input channels; CT slices have 1"));
    ckpt_close(l);
}

/* A fine-tuned checkpoint gives back the same network (same logits in
 * evaluation mode) and optimiser state; a pre-training checkpoint is not
 * one, and a fine-tuned one is not a pre-training one. */
static void test_ckpt_roundtrip(void **state)
{
    (void)state;
    const int N = 2, H = 32, W = 32;
    float x[2 * 32 * 32];
    uint8_t y[2 * 32 * 32];
    fill(x, 2048, 4);
    for (int i = 0; i < 2048; i++)
        y[i] = (uint8_t)((i / 7) % 3);
    for (int a = SEG_GL; a <= SEG_L; a++) {
        segnet_config cfg;
        optim_config oc;
        segloss_config lc;
        segloss_stats st;
        tiny(&cfg, (segnet_arch)a, 3);
        segtrain_optim_default(&oc);
        segloss_config_default(&lc);
        segtrain *t = segtrain_create(segnet_create(&cfg, NULL, 9), &oc, &lc);
        assert_non_null(t);
        for (int k = 0; k < 2; k++)
            assert_int_equal(segtrain_step(t, x, y, N, H, W, 1e-3, &st), 0);
        ckpt_writer *w = ckpt_writer_new();
        assert_int_equal(segtrain_ckpt_put(w, t), 0);
        assert_int_equal(ckpt_put_step(w, 2), 0);
        write_ckpt(w, tu_tmp("ft.st"));
        ckpt *c = ckpt_open(tu_tmp("ft.st"));
        assert_non_null(c);
        assert_string_equal(ckpt_meta(c, "arch"), segnet_arch_name((segnet_arch)a));
        segtrain *u = segtrain_ckpt_load(c, &oc, &lc);
        assert_non_null(u);
        ckpt_close(c);
        float l1[3 * 2048], l2[3 * 2048];
        segnet_set_training(segtrain_net(t), 0);
        segnet_set_training(segtrain_net(u), 0);
        memcpy(l1, segnet_forward(segtrain_net(t), x, N, H, W), sizeof l1);
        memcpy(l2, segnet_forward(segtrain_net(u), x, N, H, W), sizeof l2);
        assert_memory_equal(l1, l2, sizeof l1);
        /* and one more step on each stays identical (Adam's state came back) */
        assert_int_equal(segtrain_step(t, x, y, N, H, W, 1e-3, &st), 0);
        assert_int_equal(segtrain_step(u, x, y, N, H, W, 1e-3, &st), 0);
        for (int i = 0; i < segnet_nparts(segtrain_net(t)); i++) {
            const char *p;
            pblock *pa = segnet_part(segtrain_net(t), i, &p), *pb = segnet_part(segtrain_net(u), i, &p);
            assert_memory_equal(pa->data, pb->data, pa->numel * sizeof(float));
        }
        segtrain_free(t);
        segtrain_free(u);
    }
    /* a pre-training checkpoint is no fine-tuned network ... */
    pretrained(tu_tmp("lrcx.st"), 'l', 1, 1);
    ckpt *c = ckpt_open(tu_tmp("lrcx.st"));
    assert_null(segnet_ckpt_load(c));
    print_message("pre-training checkpoint as fine-tuned: %s\n", err_get());
    assert_non_null(strstr(err_get(), "is an lrc-train --method lrc checkpoint, not a fine-tuned network"));
    ckpt_close(c);
    /* ... and a fine-tuned one no pre-training checkpoint */
    c = ckpt_open(tu_tmp("ft.st"));
    segnet_config cfg;
    tiny(&cfg, SEG_GL, 3);
    segnet_init init = {{c, NULL}, NULL};
    assert_null(segnet_create(&cfg, &init, 1));
    assert_non_null(strstr(err_get(), "is a seg-finetune checkpoint, not a pre-training one"));
    ckpt_close(c);
}

/* A fine-tuned checkpoint loads into the PyTorch twin of the network
 * (tests/py/segnet_torch.py, load_state_dict strict) and gives the same
 * logits in evaluation mode, for every architecture, after two training
 * steps (so that batch norm's running statistics are not the initial ones).
 * Tolerance: 1e-4 of the largest logit (float32, different summation). */
static void test_torch(void **state)
{
    (void)state;
    const int N = 2, H = 32, W = 48, C = 5;
    const size_t px = (size_t)N * H * W;
    float x[2 * 32 * 48];
    uint8_t y[2 * 32 * 48];
    float *lg[4];
    char args[4096];
    int len = 0;
    fill(x, px, 21);
    for (size_t i = 0; i < px; i++)
        y[i] = (uint8_t)((i / 5 + i / 97) % C);
    tensor tx;
    tensor_init4(&tx, DT_F32, N, 1, H, W);
    memcpy(tx.data, x, sizeof x);
    assert_int_equal(npy_write(tu_tmp("x.npy"), &tx), 0);
    tensor_free(&tx);
    for (int a = SEG_GL; a <= SEG_L; a++) {
        segnet_config cfg;
        optim_config oc;
        segloss_config lc;
        segloss_stats st;
        char name[32];
        tiny(&cfg, (segnet_arch)a, C);
        cfg.local.widths[4] = 16;
        segtrain_optim_default(&oc);
        segloss_config_default(&lc);
        segtrain *t = segtrain_create(segnet_create(&cfg, NULL, 30 + a), &oc, &lc);
        for (int k = 0; k < 2; k++)
            assert_int_equal(segtrain_step(t, x, y, N, H, W, 1e-2, &st), 0);
        ckpt_writer *w = ckpt_writer_new();
        assert_int_equal(segtrain_ckpt_put(w, t), 0);
        snprintf(name, sizeof name, "torch%d.st", a);
        write_ckpt(w, tu_tmp(name));
        segnet_set_training(segtrain_net(t), 0);
        lg[a] = malloc(px * C * sizeof(float));
        memcpy(lg[a], segnet_forward(segtrain_net(t), x, N, H, W), px * C * sizeof(float));
        segtrain_free(t);
        len += snprintf(args + len, sizeof args - (size_t)len, " %s %s", tu_tmp(name), tu_tmp("x.npy"));
        snprintf(name, sizeof name, "out%d.npy", a);
        len += snprintf(args + len, sizeof args - (size_t)len, " %s", tu_tmp(name));
    }
    assert_int_equal(tu_sh("'%s' '%s/tests/py/segnet_torch.py' check%s", tu_python(), tu_root(), args), 0);
    for (int a = SEG_GL; a <= SEG_L; a++) {
        char name[32];
        tensor ref;
        snprintf(name, sizeof name, "out%d.npy", a);
        assert_int_equal(npy_read(tu_tmp(name), &ref), 0);
        assert_int_equal((int)tensor_numel(&ref), (int)(px * C));
        double maxd = 0, maxv = 0;
        for (size_t i = 0; i < px * C; i++) {
            double r = ((float *)ref.data)[i];
            maxd = fmax(maxd, fabs(r - lg[a][i]));
            maxv = fmax(maxv, fabs(r));
        }
        print_message("%-14s logits vs PyTorch: max |diff| %.3g of %.3g\n", segnet_arch_name((segnet_arch)a), maxd,
                      maxv);
        assert_true(maxv > 0 && maxd <= 1e-4 * maxv);
        tensor_free(&ref);
        free(lg[a]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shapes_and_gradients),
        cmocka_unit_test(test_composition),
        cmocka_unit_test(test_concat_order),
        cmocka_unit_test(test_pretrained),
        cmocka_unit_test(test_ckpt_roundtrip),
        cmocka_unit_test(test_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
