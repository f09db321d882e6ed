/* The models against PyTorch with the same weights, exported through the
 * checkpoint: U-Net forward + backward (batch norm and group norm, training
 * and evaluation mode), Eg (ResNet-18 and -50) + Dg + the MLP head, and the
 * optimisers' updates (SGD, Nesterov, Adam, AdamW) on fixed gradients.
 * tests/py/torch_ref.py builds the same torch.nn.Modules, loads our
 * safetensors files and compares: forward within 1e-4 of the largest value,
 * gradients within 1e-2 in L2 (see there why), updates within 5e-5 of the
 * distance the weights moved. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt.h"
#include "err.h"
#include "mlp.h"
#include "nn.h"
#include "optim.h"
#include "resnet.h"
#include "rng.h"
#include "testutil.h"
#include "unet.h"

static float *randn(size_t n, float scale, uint64_t seed)
{
    float *p = malloc(n * sizeof(float));
    rng r;
    rng_seed(&r, seed, 0);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(scale * rng_normal(&r));
    return p;
}

static void put(ckpt_writer *w, const char *name, const float *data, int rank, ...)
{
    int64_t shape[8];
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        shape[i] = va_arg(ap, int64_t);
    va_end(ap);
    assert_int_equal(ckpt_put_tensor(w, name, DT_F32, rank, shape, data), 0);
}

/* grad.NAME for every trainable tensor, after.NAME for every buffer. */
static void put_grads(ckpt_writer *w, const char *prefix, pblock *pb)
{
    char nm[256];
    for (int i = 0; i < pb->n; i++) {
        param_entry *e = &pb->e[i];
        if (e->kind == PARAM_TRAIN) {
            snprintf(nm, sizeof nm, "grad.%s%s", prefix, e->name);
            assert_int_equal(ckpt_put_tensor(w, nm, DT_F32, e->rank, e->shape, pblock_grad(pb, i)), 0);
        } else {
            snprintf(nm, sizeof nm, "after.%s%s", prefix, e->name);
            assert_int_equal(ckpt_put_tensor(w, nm, DT_F32, e->rank, e->shape, pblock_ptr(pb, i)), 0);
        }
    }
}

static void run_python(const char *mode, const char *dir)
{
    int rc = tu_sh("%s %s/tests/py/torch_ref.py %s %s", tu_python(), tu_root(), mode, dir);
    assert_int_equal(rc, 0);
}

static void unet_vs_torch(norm_kind norm, int training, int N, int H, int W)
{
    unet_config cfg;
    char path[512];
    const char *dir = tu_tmpdir();
    unet_config_default(&cfg);
    cfg.norm = norm;
    unet *u = unet_create(&cfg, 7);
    assert_non_null(u);
    unet_set_training(u, training);
    if (!training) { /* give the running statistics something to say */
        pblock *pb = unet_params(u);
        rng r;
        rng_seed(&r, 3, 0);
        for (int i = 0; i < pb->n; i++)
            if (strstr(pb->e[i].name, "running_"))
                for (size_t j = 0; j < pb->e[i].numel; j++)
                    pblock_ptr(pb, i)[j] = strstr(pb->e[i].name, "var") ? 0.5f + rng_uniformf(&r)
                                                                        : 0.2f * (float)rng_normal(&r);
    }
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(unet_ckpt_put(w, "", u), 0);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);

    float *x = randn((size_t)N * H * W, 1, 11), *df = randn((size_t)N * 64 * H * W, 1, 12);
    float *dx = malloc((size_t)N * H * W * sizeof(float));
    const float *f = unet_forward(u, x, N, H, W);
    assert_non_null(f);
    assert_int_equal(unet_backward(u, df, dx), 0);
    w = ckpt_writer_new();
    put(w, "x", x, 4, (int64_t)N, (int64_t)1, (int64_t)H, (int64_t)W);
    put(w, "dfeat", df, 4, (int64_t)N, (int64_t)64, (int64_t)H, (int64_t)W);
    put(w, "feat", f, 4, (int64_t)N, (int64_t)64, (int64_t)H, (int64_t)W);
    put(w, "dx", dx, 4, (int64_t)N, (int64_t)1, (int64_t)H, (int64_t)W);
    put_grads(w, "", unet_params(u));
    ckpt_put_meta(w, "training", training ? "1" : "0");
    snprintf(path, sizeof path, "%s/out.safetensors", dir);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    print_message("unet %s norm, %s mode, batch %d, %dx%d:\n", norm == NORM_BATCH ? "batch" : "group",
                  training ? "training" : "evaluation", N, H, W);
    run_python("unet", dir);
    free(x), free(df), free(dx);
    unet_free(u);
}

static void test_unet_torch_bn(void **state)
{
    (void)state;
    unet_vs_torch(NORM_BATCH, 1, 2, 32, 48);
}

static void test_unet_torch_gn(void **state)
{
    (void)state;
    unet_vs_torch(NORM_GROUP, 1, 2, 48, 32);
}

static void test_unet_torch_eval(void **state)
{
    (void)state;
    unet_vs_torch(NORM_BATCH, 0, 1, 32, 32);
}

/* The update rules alone: one tensor, fixed gradients, 5 steps. */
static void test_optim_torch(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    static const char *names[4] = {"sgd", "sgd_nesterov", "adam", "adamw"};
    static const optim_kind kinds[4] = {OPTIM_SGD, OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    static const double lrs[4] = {0.1, 0.05, 0.01, 0.02};
    char path[512], nm[32];
    int steps = 5, n = 1000;
    float *p0 = randn((size_t)n, 1, 41), *g[5], *fin[4];
    ckpt_writer *w = ckpt_writer_new();
    put(w, "p0", p0, 1, (int64_t)n);
    for (int k = 0; k < steps; k++) {
        g[k] = randn((size_t)n, k == 2 ? 1e-3f : 1, 42 + (uint64_t)k);
        snprintf(nm, sizeof nm, "g%d", k + 1);
        put(w, nm, g[k], 1, (int64_t)n);
    }
    for (int o = 0; o < 4; o++) {
        pblock pb;
        optim_config oc;
        int64_t shape[1] = {n};
        pblock_init(&pb);
        pblock_add(&pb, "p", PARAM_TRAIN, 1, shape);
        assert_int_equal(pblock_alloc(&pb), 0);
        memcpy(pb.data, p0, (size_t)n * sizeof(float));
        optim_config_default(&oc, kinds[o]);
        oc.nesterov = o == 1;
        optim *op = optim_create(&oc, &pb);
        assert_non_null(op);
        for (int k = 0; k < steps; k++) {
            memcpy(pb.grad, g[k], (size_t)n * sizeof(float));
            optim_step(op, lrs[o]);
        }
        assert_int_equal(optim_steps(op), steps);
        fin[o] = malloc((size_t)n * sizeof(float));
        memcpy(fin[o], pb.data, (size_t)n * sizeof(float));
        snprintf(nm, sizeof nm, "final.%s", names[o]);
        put(w, nm, fin[o], 1, (int64_t)n);
        snprintf(nm, sizeof nm, "lr_%s", names[o]);
        char v[32];
        snprintf(v, sizeof v, "%.17g", lrs[o]);
        ckpt_put_meta(w, nm, v);
        optim_free(op);
        pblock_free(&pb);
    }
    ckpt_put_meta(w, "steps", "5");
    snprintf(path, sizeof path, "%s/optim.safetensors", dir);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    run_python("optim", dir);
    for (int k = 0; k < steps; k++)
        free(g[k]);
    for (int o = 0; o < 4; o++)
        free(fin[o]);
    free(p0);
}

static void test_resnet_torch(void **state)
{
    (void)state;
    for (int depth = 18; depth <= 50; depth += 32) {
        const char *dir = tu_tmpdir();
        char path[512];
        int N = 2, H = 32, W = 32;
        resnet_config rc;
        resdec_config dc;
        resnet_config_default(&rc);
        rc.depth = depth;
        rc.width = depth == 50 ? 0.125f : 0.25f;
        resdec_config_for(&rc, &dc);
        resnet *eg = resnet_create(&rc, 1);
        resdec *dg = resdec_create(&dc, 2);
        int C4 = resnet_stage_channels(&rc, 4);
        mlp_config mc = {C4, C4, 16};
        mlp *head = mlp_create(&mc, 3);
        assert_non_null(eg);
        assert_non_null(dg);
        assert_non_null(head);
        ckpt_writer *w = ckpt_writer_new();
        assert_int_equal(resnet_ckpt_put(w, "eg.", eg), 0);
        assert_int_equal(resdec_ckpt_put(w, "dg.", dg), 0);
        assert_int_equal(mlp_ckpt_put(w, "head.", head), 0);
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        assert_int_equal(ckpt_write(w, path), 0);
        ckpt_writer_free(w);

        float *x = randn((size_t)N * H * W, 1, 31), *df = randn((size_t)N * 64 * H * W, 1, 32);
        float *dz = randn((size_t)N * 16, 1, 33), *dx = malloc((size_t)N * H * W * 4);
        float *dpooled = malloc((size_t)N * C4 * 4);
        const float *pooled = resnet_forward(eg, x, N, H, W);
        const float *st[5];
        assert_non_null(pooled);
        for (int s = 0; s < 5; s++)
            st[s] = resnet_stage(eg, s);
        const float *feat = resdec_forward(dg, st, N, H, W);
        const float *z = mlp_forward(head, pooled, N);
        assert_non_null(feat);
        assert_non_null(z);
        assert_int_equal(resdec_backward(dg, df), 0);
        assert_int_equal(mlp_backward(head, dz, dpooled), 0);
        assert_int_equal(resnet_backward(eg, dpooled, resdec_dstages(dg), dx), 0);
        w = ckpt_writer_new();
        put(w, "x", x, 4, (int64_t)N, (int64_t)1, (int64_t)H, (int64_t)W);
        put(w, "dfeat", df, 4, (int64_t)N, (int64_t)64, (int64_t)H, (int64_t)W);
        put(w, "dz", dz, 2, (int64_t)N, (int64_t)16);
        put(w, "dx", dx, 4, (int64_t)N, (int64_t)1, (int64_t)H, (int64_t)W);
        put(w, "feat", feat, 4, (int64_t)N, (int64_t)64, (int64_t)H, (int64_t)W);
        put(w, "z", z, 2, (int64_t)N, (int64_t)16);
        put(w, "pooled", pooled, 2, (int64_t)N, (int64_t)C4);
        for (int s = 0; s < 5; s++) {
            char nm[16];
            snprintf(nm, sizeof nm, "stage%d", s);
            put(w, nm, st[s], 4, (int64_t)N, (int64_t)resnet_stage_channels(&rc, s),
                (int64_t)(H >> s), (int64_t)(W >> s));
        }
        put_grads(w, "eg.", resnet_params(eg));
        put_grads(w, "dg.", resdec_params(dg));
        put_grads(w, "head.", mlp_params(head));
        snprintf(path, sizeof path, "%s/out.safetensors", dir);
        assert_int_equal(ckpt_write(w, path), 0);
        ckpt_writer_free(w);
        print_message("resnet-%d width %g + decoder + mlp head, batch %d, %dx%d:\n", depth,
                      (double)rc.width, N, H, W);
        run_python("resnet", dir);
        free(x), free(df), free(dz), free(dx), free(dpooled);
        resnet_free(eg);
        resdec_free(dg);
        mlp_free(head);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unet_torch_bn),     cmocka_unit_test(test_unet_torch_gn),
        cmocka_unit_test(test_unet_torch_eval),
        cmocka_unit_test(test_resnet_torch),      cmocka_unit_test(test_optim_torch),
    };
    nn_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
