/* The models against PyTorch with the same weights, exported through the
 * checkpoint: U-Net forward + backward (batch norm and group norm, training
 * and evaluation mode), Eg (ResNet-18 and -50) + Dg + the MLP head, and the
 * optimisers' updates (SGD, Nesterov, Adam, AdamW) on fixed gradients.
 * tests/py/torch_ref.py builds the same torch.nn.Modules, loads our
 * safetensors files and compares: forward within 1e-4 of the largest value,
 * gradients within 1e-2 in L2 (see there why), updates within 5e-5 of the
 * distance the weights moved. All cases run through two Python processes
 * (pick the inputs, then check), because importing torch is most of the time. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/rng.h"
#include "models/mlp.h"
#include "models/resnet.h"
#include "models/unet.h"
#include "nn/ckpt.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "testutil.h"

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

static void write_file(const char *dir, const char *name, ckpt_writer *w)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (ckpt_write(w, path))
        fail_msg("%s", err_get());
    ckpt_writer_free(w);
}

/* ---- the cases ---- */

typedef struct {
    const char *kind; /* "unet", "resnet" or "optim" */
    char dir[512];
    int N, H, W;
    /* unet */
    nn_norm_kind norm;
    int training;
    unet *u;
    /* resnet */
    int depth, stem;
    resnet *eg;
    resdec *dg;
    mlp *head;
} tcase;

static void title(const tcase *c, const char *fmt, ...)
{
    char path[600], buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/title", c->dir);
    tu_write(path, buf, strlen(buf));
}

/* Models with their weights before anything ran: model.safetensors. */
static void prepare(tcase *c)
{
    ckpt_writer *w = ckpt_writer_new();
    snprintf(c->dir, sizeof c->dir, "%s/%s-%p", tu_tmpdir(), c->kind, (void *)c);
    assert_int_equal(mkdir(c->dir, 0700), 0);
    if (!strcmp(c->kind, "unet")) {
        unet_config cfg;
        unet_config_default(&cfg);
        cfg.norm = c->norm;
        c->u = unet_create(&cfg, 7);
        assert_non_null(c->u);
        unet_set_training(c->u, c->training);
        if (!c->training) { /* give the running statistics something to say */
            pblock *pb = unet_params(c->u);
            rng r;
            rng_seed(&r, 3, 0);
            for (int i = 0; i < pb->n; i++)
                if (strstr(pb->e[i].name, "running_"))
                    for (size_t j = 0; j < pb->e[i].numel; j++)
                        pblock_ptr(pb, i)[j] = strstr(pb->e[i].name, "var")
                                                   ? 0.5f + rng_uniformf(&r)
                                                   : 0.2f * (float)rng_normal(&r);
        }
        assert_int_equal(unet_ckpt_put(w, "", c->u), 0);
        title(c, "unet, %s norm, %s mode, batch %d, %dx%d", c->norm == NORM_BATCH ? "batch" : "group",
              c->training ? "training" : "evaluation", c->N, c->H, c->W);
    } else if (!strcmp(c->kind, "resnet")) {
        resnet_config rc;
        resdec_config dc;
        resnet_config_default(&rc);
        rc.depth = c->depth;
        rc.stem = c->stem;
        rc.width = c->depth == 50 ? 0.125f : 0.25f;
        resdec_config_for(&rc, &dc);
        int C4 = resnet_stage_channels(&rc, 4);
        mlp_config mc = {C4, C4, 16};
        c->eg = resnet_create(&rc, 1);
        c->dg = resdec_create(&dc, 2);
        c->head = mlp_create(&mc, 3);
        assert_non_null(c->eg), assert_non_null(c->dg), assert_non_null(c->head);
        assert_int_equal(resnet_ckpt_put(w, "eg.", c->eg), 0);
        assert_int_equal(resdec_ckpt_put(w, "dg.", c->dg), 0);
        assert_int_equal(mlp_ckpt_put(w, "head.", c->head), 0);
        title(c, "resnet-%d width %g, %s stem + decoder + mlp head, batch %d, %dx%d", c->depth,
              (double)rc.width, resnet_stem_name(c->stem), c->N, c->H, c->W);
    } else {
        title(c, "optimisers on fixed gradients");
    }
    write_file(c->dir, "model.safetensors", w);
}

static tensor read_input(const tcase *c, ckpt **keep, const char *name)
{
    char path[600];
    tensor t;
    if (!*keep) {
        snprintf(path, sizeof path, "%s/x.safetensors", c->dir);
        if (!(*keep = ckpt_open(path)))
            fail_msg("%s", err_get());
    }
    assert_int_equal(ckpt_get_tensor(*keep, name, &t), 0);
    return t;
}

static void compute_unet(tcase *c)
{
    int N = c->N, H = c->H, W = c->W;
    ckpt *in = NULL;
    float *x = read_input(c, &in, "x").data, *df = read_input(c, &in, "dfeat").data;
    float *dx = malloc((size_t)N * H * W * sizeof(float));
    const float *f = unet_forward(c->u, x, N, H, W);
    assert_non_null(f);
    assert_int_equal(unet_backward(c->u, df, dx), 0);
    ckpt_writer *w = ckpt_writer_new();
    put(w, "x", x, 4, (int64_t)N, (int64_t)1, (int64_t)H, (int64_t)W);
    put(w, "dfeat", df, 4, (int64_t)N, (int64_t)64, (int64_t)H, (int64_t)W);
    put(w, "feat", f, 4, (int64_t)N, (int64_t)64, (int64_t)H, (int64_t)W);
    put(w, "dx", dx, 4, (int64_t)N, (int64_t)1, (int64_t)H, (int64_t)W);
    put_grads(w, "", unet_params(c->u));
    ckpt_put_meta(w, "training", c->training ? "1" : "0");
    write_file(c->dir, "out.safetensors", w);
    ckpt_close(in);
    free(dx);
}

static void compute_resnet(tcase *c)
{
    int N = c->N, H = c->H, W = c->W;
    const resnet_config *rc = resnet_get_config(c->eg);
    int C4 = resnet_stage_channels(rc, 4);
    ckpt *in = NULL;
    float *x = read_input(c, &in, "x").data, *df = read_input(c, &in, "dfeat").data;
    float *dz = read_input(c, &in, "dz").data;
    float *dx = malloc((size_t)N * H * W * 4), *dpooled = malloc((size_t)N * C4 * 4);
    const float *pooled = resnet_forward(c->eg, x, N, H, W), *st[5];
    assert_non_null(pooled);
    for (int s = 0; s < 5; s++)
        st[s] = resnet_stage(c->eg, s);
    const float *feat = resdec_forward(c->dg, st, N, H, W);
    const float *z = mlp_forward(c->head, pooled, N);
    assert_non_null(feat), assert_non_null(z);
    assert_int_equal(resdec_backward(c->dg, df), 0);
    assert_int_equal(mlp_backward(c->head, dz, dpooled), 0);
    assert_int_equal(resnet_backward(c->eg, dpooled, resdec_dstages(c->dg), dx), 0);
    ckpt_writer *w = ckpt_writer_new();
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
        int sh = resnet_stage_shift(rc, s);
        put(w, nm, st[s], 4, (int64_t)N, (int64_t)resnet_stage_channels(rc, s), (int64_t)(H >> sh),
            (int64_t)(W >> sh));
    }
    put_grads(w, "eg.", resnet_params(c->eg));
    put_grads(w, "dg.", resdec_params(c->dg));
    put_grads(w, "head.", mlp_params(c->head));
    write_file(c->dir, "out.safetensors", w);
    ckpt_close(in);
    free(dx), free(dpooled);
}

/* The update rules alone: one tensor, fixed gradients, 5 steps. */
static void compute_optim(tcase *c)
{
    static const char *names[4] = {"sgd", "sgd_nesterov", "adam", "adamw"};
    static const optim_kind kinds[4] = {OPTIM_SGD, OPTIM_SGD, OPTIM_ADAM, OPTIM_ADAMW};
    static const double lrs[4] = {0.1, 0.05, 0.01, 0.02};
    char nm[32], v[32];
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
        snprintf(v, sizeof v, "%.17g", lrs[o]);
        ckpt_put_meta(w, nm, v);
        optim_free(op);
        pblock_free(&pb);
    }
    ckpt_put_meta(w, "steps", "5");
    write_file(c->dir, "optim.safetensors", w);
    for (int k = 0; k < steps; k++)
        free(g[k]);
    for (int o = 0; o < 4; o++)
        free(fin[o]);
    free(p0);
}

static void test_against_torch(void **state)
{
    (void)state;
    tcase cases[] = {
        {.kind = "unet", .N = 2, .H = 32, .W = 48, .norm = NORM_BATCH, .training = 1},
        {.kind = "unet", .N = 2, .H = 48, .W = 32, .norm = NORM_GROUP, .training = 1},
        {.kind = "unet", .N = 1, .H = 32, .W = 32, .norm = NORM_BATCH, .training = 0},
        {.kind = "resnet", .N = 2, .H = 32, .W = 32, .depth = 18},
        {.kind = "resnet", .N = 2, .H = 32, .W = 32, .depth = 50},
        /* torchvision's stem (7x7/2, max pool 3x3/2) and the decoder's 2x up-sampling */
        {.kind = "resnet", .N = 2, .H = 64, .W = 96, .depth = 18, .stem = RESNET_STEM_TORCHVISION},
        {.kind = "resnet", .N = 2, .H = 64, .W = 64, .depth = 50, .stem = RESNET_STEM_TORCHVISION},
        {.kind = "optim"},
    };
    int n = (int)(sizeof cases / sizeof cases[0]);
    char *pick = calloc(1, 8192), *check = calloc(1, 8192);
    for (int i = 0; i < n; i++) {
        tcase *c = &cases[i];
        prepare(c);
        if (strcmp(c->kind, "optim"))
            snprintf(pick + strlen(pick), 8192 - strlen(pick), " %s:%s:%d:%d:%d", c->kind,
                     c->dir, c->N, c->H, c->W);
        snprintf(check + strlen(check), 8192 - strlen(check), " %s:%s", c->kind, c->dir);
    }
    assert_int_equal(tu_sh("%s %s/tests/py/torch_ref.py pick%s", tu_python(), tu_root(), pick), 0);
    for (int i = 0; i < n; i++) {
        tcase *c = &cases[i];
        if (!strcmp(c->kind, "unet"))
            compute_unet(c);
        else if (!strcmp(c->kind, "resnet"))
            compute_resnet(c);
        else
            compute_optim(c);
    }
    assert_int_equal(tu_sh("%s %s/tests/py/torch_ref.py check%s", tu_python(), tu_root(), check), 0);
    for (int i = 0; i < n; i++) {
        unet_free(cases[i].u);
        resnet_free(cases[i].eg);
        resdec_free(cases[i].dg);
        mlp_free(cases[i].head);
    }
    free(pick), free(check);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_against_torch),
    };
    nn_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
