/* Checkpoints (ckpt.h): round trips of models and optimiser state, a resumed
 * run that is bit-identical to an uninterrupted one, atomic writes, and the
 * refusal (with a message naming the problem) of truncated or corrupted
 * files, other format versions, other model kinds and configurations. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdint.h>
#include <unistd.h>

#include "core/err.h"
#include "core/mval.h"
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

static unet *small_unet(uint64_t seed)
{
    unet_config c;
    unet_config_default(&c);
    for (int i = 0; i < 5; i++)
        c.widths[i] = 8 << i;
    c.out_ch = 16;
    return unet_create(&c, seed);
}

static void train_steps(unet *u, optim *o, int steps, const float *x, const float *df, int N,
                        int H, int W)
{
    for (int s = 0; s < steps; s++) {
        pblock_zero_grad(unet_params(u));
        assert_non_null(unet_forward(u, x, N, H, W));
        assert_int_equal(unet_backward(u, df, NULL), 0);
        optim_step(o, 1e-3 * (s + 1));
    }
}

static void save(const char *path, unet *u, optim *o, int64_t step)
{
    ckpt_writer *w = ckpt_writer_new();
    assert_non_null(w);
    assert_int_equal(unet_ckpt_put(w, "", u), 0);
    assert_int_equal(ckpt_put_optim(w, "optim.", o), 0);
    assert_int_equal(ckpt_put_step(w, step), 0);
    assert_int_equal(ckpt_put_meta(w, "command", "test_ckpt --resume"), 0);
    if (ckpt_write(w, path))
        fail_msg("ckpt_write: %s", err_get());
    ckpt_writer_free(w);
}

/* Train 4 steps in one go, or 2 + save + load + 2: the same bits. */
static void test_exact_resume(void **state)
{
    (void)state;
    int N = 2, H = 32, W = 32;
    char path[512];
    float *x = randn((size_t)N * H * W, 1, 1), *df = randn((size_t)N * 16 * H * W, 1, 2);
    for (int k = 0; k < 3; k++) {
        optim_config oc;
        optim_config_default(&oc, (optim_kind)k);
        unet *a = small_unet(9), *b;
        optim *oa = optim_create(&oc, unet_params(a)), *ob;
        train_steps(a, oa, 2, x, df, N, H, W);
        snprintf(path, sizeof path, "%s/resume_%d.safetensors", tu_tmpdir(), k);
        save(path, a, oa, 2);
        train_steps(a, oa, 2, x, df, N, H, W);

        ckpt *c = ckpt_open(path);
        if (!c)
            fail_msg("ckpt_open: %s", err_get());
        assert_int_equal(ckpt_step(c), 2);
        assert_string_equal(ckpt_meta(c, "command"), "test_ckpt --resume");
        assert_string_equal(ckpt_meta(c, "model"), "unet");
        b = unet_ckpt_load(c, "");
        if (!b)
            fail_msg("unet_ckpt_load: %s", err_get());
        ob = optim_create(&oc, unet_params(b));
        if (ckpt_get_optim(c, "optim.", ob))
            fail_msg("ckpt_get_optim: %s", err_get());
        assert_int_equal(optim_steps(ob), 2);
        ckpt_close(c);
        train_steps(b, ob, 2, x, df, N, H, W);
        pblock *pa = unet_params(a), *pbb = unet_params(b);
        assert_int_equal(pa->numel, pbb->numel);
        assert_memory_equal(pa->data, pbb->data, pa->numel * sizeof(float));
        print_message("%s: resumed run bit-identical (%zu parameters and buffers)\n",
                      optim_kind_name((optim_kind)k), pa->numel);
        optim_free(oa), optim_free(ob);
        unet_free(a), unet_free(b);
    }
    free(x), free(df);
}

/* The same steps give the same bits, with 2 threads run after run and with
 * 1 thread: no reduction depends on which thread did what (the default
 * U-Net at 64x64, batch 2, and 32x32 where the 8x8... levels use the GEMM
 * path). */
static void test_deterministic_threads(void **state)
{
    (void)state;
    for (int S = 32; S <= 64; S += 32) {
        int N = 2;
        float *x = randn((size_t)N * S * S, 1, 5), *df = randn((size_t)N * 64 * S * S, 1, 6);
        float *ref = NULL;
        size_t n = 0;
        for (int run = 0; run < 3; run++) {
            unet_config c;
            optim_config oc;
            unet_config_default(&c);
            nn_set_threads(run == 2 ? 1 : 2);
            unet *u = unet_create(&c, 3);
            optim_config_default(&oc, OPTIM_ADAM);
            optim *o = optim_create(&oc, unet_params(u));
            train_steps(u, o, 2, x, df, N, S, S);
            pblock *pb = unet_params(u);
            if (!ref) {
                n = pb->numel;
                ref = malloc(n * sizeof(float));
                memcpy(ref, pb->data, n * sizeof(float));
            } else if (memcmp(ref, pb->data, n * sizeof(float)))
                fail_msg("%dx%d: run %d (%d threads) differs from run 0", S, S, run,
                         nn_threads());
            optim_free(o);
            unet_free(u);
        }
        print_message("%dx%d: 2 steps bit-identical over 2 runs with 2 threads and 1 with 1\n",
                      S, S);
        free(ref), free(x), free(df);
    }
    nn_set_threads(2);
}

/* Every model kind through a file, and the file's layout. */
static void test_roundtrip_all_models(void **state)
{
    (void)state;
    char path[512];
    resnet_config rc;
    resdec_config dc;
    mlp_config mc = {32, 24, 8};
    resnet_config_default(&rc);
    rc.depth = 50;
    rc.width = 0.125f;
    rc.norm = NORM_GROUP;
    rc.groups = 4;
    resdec_config_for(&rc, &dc);
    unet *u = small_unet(1);
    resnet *r = resnet_create(&rc, 2);
    resdec *d = resdec_create(&dc, 3);
    mlp *m = mlp_create(&mc, 4);
    assert_non_null(u), assert_non_null(r), assert_non_null(d), assert_non_null(m);
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(unet_ckpt_put(w, "local.", u), 0);
    assert_int_equal(resnet_ckpt_put(w, "eg.", r), 0);
    assert_int_equal(resdec_ckpt_put(w, "dg.", d), 0);
    assert_int_equal(mlp_ckpt_put(w, "proj.", m), 0);
    {
        int64_t qs[2] = {4, 8};
        float q[32];
        for (int i = 0; i < 32; i++)
            q[i] = (float)i;
        assert_int_equal(ckpt_put_tensor(w, "moco.queue", DT_F32, 2, qs, q), 0);
        assert_int_equal(ckpt_put_tensor(w, "moco.queue", DT_F32, 2, qs, q), -1); /* duplicate */
        snprintf(path, sizeof path, "%s/all.safetensors", tu_tmpdir());
        assert_int_equal(ckpt_write(w, path), 0);
    }
    ckpt_writer_free(w);

    /* the header: 8-byte length, JSON, data 8-aligned and exactly covered */
    size_t len;
    unsigned char *raw = (unsigned char *)tu_read(path, &len);
    uint64_t L = 0;
    for (int i = 0; i < 8; i++)
        L |= (uint64_t)raw[i] << (8 * i);
    assert_true(L < len && (8 + L) % 8 == 0 && raw[8] == '{');
    assert_null(memmem(raw, 8 + L, "\"enc1.conv1.weight\"", 19));
    assert_non_null(memmem(raw, 8 + L, "\"local.enc1.conv1.weight\"", 25));
    assert_non_null(memmem(raw, 8 + L, "\"eg.layer1.0.downsample.0.weight\"", 33));
    assert_non_null(memmem(raw, 8 + L, "\"local.enc1.bn1.num_batches_tracked\": {\"dtype\": \"I64\"", 53));
    free(raw);

    ckpt *c = ckpt_open(path);
    if (!c)
        fail_msg("%s", err_get());
    unet *u2 = unet_ckpt_load(c, "local.");
    resnet *r2 = resnet_ckpt_load(c, "eg.");
    resdec *d2 = resdec_ckpt_load(c, "dg.");
    mlp *m2 = mlp_ckpt_load(c, "proj.");
    assert_non_null(u2), assert_non_null(r2), assert_non_null(d2), assert_non_null(m2);
    assert_memory_equal(unet_params(u)->data, unet_params(u2)->data, unet_params(u)->numel * 4);
    assert_memory_equal(resnet_params(r)->data, resnet_params(r2)->data,
                        resnet_params(r)->numel * 4);
    assert_memory_equal(resdec_params(d)->data, resdec_params(d2)->data,
                        resdec_params(d)->numel * 4);
    assert_memory_equal(mlp_params(m)->data, mlp_params(m2)->data, mlp_params(m)->numel * 4);
    assert_int_equal(resnet_get_config(r2)->depth, 50);
    assert_int_equal(resnet_get_config(r2)->norm, NORM_GROUP);
    {
        tensor q;
        assert_int_equal(ckpt_get_tensor(c, "moco.queue", &q), 0);
        assert_int_equal(q.rank, 2);
        assert_true(((float *)q.data)[31] == 31.0f);
    }
    /* another kind under a prefix, and a model that is not there */
    assert_null(unet_ckpt_load(c, "eg."));
    print_message("refused: %s\n", err_get());
    assert_non_null(strstr(err_get(), "holds a resnet under prefix 'eg.', not a unet"));
    assert_null(unet_ckpt_load(c, ""));
    assert_non_null(strstr(err_get(), "holds no model under prefix ''"));
    /* another configuration */
    {
        unet *big;
        unet_config cfg;
        unet_config_default(&cfg);
        big = unet_create(&cfg, 0);
        char *js = unet_config_json(&cfg);
        assert_int_equal(ckpt_get_model(c, "local.", "unet", js, unet_params(big)), -1);
        print_message("refused: %s\n", err_get());
        assert_non_null(strstr(err_get(), "configuration"));
        /* ... and its tensors do not fit either */
        assert_int_equal(ckpt_get_params(c, "local.", unet_params(big)), -1);
        print_message("refused: %s\n", err_get());
        assert_non_null(strstr(err_get(), "has shape [8, 1, 3, 3], the model expects [16, 1, 3, 3]"));
        free(js);
        unet_free(big);
    }
    ckpt_close(c);
    unet_free(u), unet_free(u2), resnet_free(r), resnet_free(r2);
    resdec_free(d), resdec_free(d2), mlp_free(m), mlp_free(m2);
}

static void expect_refused(const char *path, const char *what)
{
    ckpt *c = ckpt_open(path);
    if (c)
        fail_msg("%s: opened, expected '%s'", path, what);
    print_message("refused: %s\n", err_get());
    if (!strstr(err_get(), what))
        fail_msg("message '%s' lacks '%s'", err_get(), what);
}

static void test_bad_files(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char path[512], bad[512];
    size_t len;
    unet *u = small_unet(5);
    ckpt_writer *w = ckpt_writer_new();
    unet_ckpt_put(w, "", u);
    snprintf(path, sizeof path, "%s/good.safetensors", dir);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    char *raw = tu_read(path, &len);
    uint64_t L = 0;
    for (int i = 0; i < 8; i++)
        L |= (uint64_t)(unsigned char)raw[i] << (8 * i);
    snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);

    /* truncated at several places */
    size_t cuts[] = {0, 5, 8, 8 + L / 2, 8 + L, len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        tu_write(bad, raw, cuts[i]);
        ckpt *c = ckpt_open(bad);
        assert_null(c);
    }
    tu_write(bad, raw, len - 1);
    expect_refused(bad, "outside the");
    /* trailing bytes */
    {
        char *more = malloc(len + 4);
        memcpy(more, raw, len);
        memcpy(more + len, "abcd", 4);
        tu_write(bad, more, len + 4);
        expect_refused(bad, "trailing");
        free(more);
    }
    /* another format version, another format */
    {
        char *v = memmem(raw, 8 + L, "\"format_version\": \"1\"", 21);
        assert_non_null(v);
        v[19] = '2';
        tu_write(bad, raw, len);
        expect_refused(bad, "checkpoint format version 2; this lrcpipe reads version 1");
        v[19] = '1';
        char *f = memmem(raw, 8 + L, "lrcpipe-ckpt", 12);
        f[0] = 'X';
        tu_write(bad, raw, len);
        expect_refused(bad, "not an lrcpipe checkpoint");
        f[0] = 'l';
    }
    /* a header length beyond the file, garbage JSON, an unknown dtype */
    {
        char *c2 = malloc(len);
        memcpy(c2, raw, len);
        c2[5] = 1;
        tu_write(bad, c2, len);
        expect_refused(bad, "header length");
        memcpy(c2, raw, len);
        c2[8] = 'x';
        tu_write(bad, c2, len);
        expect_refused(bad, "not a safetensors file");
        memcpy(c2, raw, len);
        char *d = memmem(c2, 8 + L, "\"F32\"", 5);
        memcpy(d, "\"F16\"", 5);
        tu_write(bad, c2, len);
        expect_refused(bad, "dtype F16 not supported");
        free(c2);
    }
    expect_refused("/nonexistent/x.safetensors", "/nonexistent/x.safetensors");
    /* a failed write leaves no file and no temporary behind */
    {
        ckpt_writer *w2 = ckpt_writer_new();
        unet_ckpt_put(w2, "", u);
        assert_int_equal(ckpt_write(w2, "/nonexistent/dir/x.safetensors"), -1);
        print_message("write refused: %s\n", err_get());
        ckpt_writer_free(w2);
    }
    free(raw);
    unet_free(u);
}

/* A stack full of words that read, at any 8-byte alignment, as an mval of
 * kind MV_STR (4) whose string pointer is garbage: a *_config_json that frees
 * an uninitialised mval (found by the lrc-train engineer) aborts here. */
static __attribute__((noinline)) void dirty_stack(void)
{
    volatile uint64_t pad[4096];
    for (int i = 0; i < 4096; i++)
        pad[i] = ((uint64_t)4 << 32) | MV_STR;
    (void)pad[17];
}

static void test_config_json_dirty_stack(void **state)
{
    (void)state;
    unet_config uc;
    resnet_config rc;
    resdec_config dc;
    mlp_config mc = {4, 5, 6};
    optim_config oc;
    char *js;
    unet_config_default(&uc);
    resnet_config_default(&rc);
    resdec_config_for(&rc, &dc);
    optim_config_default(&oc, OPTIM_ADAM);
    dirty_stack();
    free(js = unet_config_json(&uc));
    assert_non_null(js);
    dirty_stack();
    assert_int_equal(unet_config_parse("{\"out_ch\": 32}", &uc), 0);
    assert_int_equal(uc.out_ch, 32);
    dirty_stack();
    free(js = resnet_config_json(&rc));
    assert_non_null(js);
    dirty_stack();
    free(js = resdec_config_json(&dc));
    assert_non_null(js);
    dirty_stack();
    free(js = mlp_config_json(&mc));
    assert_non_null(js);
    dirty_stack();
    free(js = optim_config_json(&oc));
    assert_non_null(js);
    dirty_stack();
    assert_int_equal(optim_config_parse("{\"kind\": \"sgd\", \"lr\": 0.5}", &oc), 0);
    assert_true(oc.kind == OPTIM_SGD && oc.lr == 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_resume),
        cmocka_unit_test(test_deterministic_threads),
        cmocka_unit_test(test_roundtrip_all_models),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_config_json_dirty_stack),
    };
    nn_set_threads(2);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
