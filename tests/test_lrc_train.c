/* lrc-train as a program: bad input, reproducibility, checkpoints and
 * resume (also after kill -9), the metrics log, epochs, ZeroMQ input,
 * --embed, MoCo, and a short real run on CT slices in which the local loss
 * must fall and the two views' region features must come together. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/json.h"
#include "core/rng.h"
#include "io/frame.h"
#include "io/stream.h"
#include "nn/ckpt.h"
#include "testutil.h"

/* A tiny U-Net / ResNet so that a step takes milliseconds. One thread: on a
 * shared, loaded machine the engine's OpenMP threads lose much time waiting
 * for each other; test_seed_reproducible also runs two. */
#define TINY "--widths 4,8,8,8,8 --dim 8 --threads 1"
#define TINY_MOCO "--depth 18 --width 0.0625 --embed-dim 16 --queue 64 --threads 1"
#define TINY_EG "--depth 18 --width 0.0625 --embed-dim 16 --hidden 24 --pred-dim 8 --threads 1"
#define TINY_MAE "--vit 2,32,2 --patch 16 --mae-decoder-depth 1 --mae-decoder-width 32 --threads 1"

/* The global methods of egtrainer.h, with the name of their metric in the
 * log, its largest value, and the options of a tiny model. */
static const struct {
    const char *name, *metric;
    double max;
    const char *opts;
} eg_methods[] = {{"rotation", "acc", 1, TINY_EG}, {"relloc", "acc", 1, TINY_EG},  {"byol", "std", 1, TINY_EG},
                 {"simsiam", "std", 1, TINY_EG},  {"densecl", "acc", 1, TINY_EG}, {"genesis", "input_mse", 1, TINY_EG},
                 {"mae", "visible_loss", INFINITY, TINY_MAE}};
enum { N_EG = sizeof eg_methods / sizeof eg_methods[0] };

enum {
    P_NO_REGIONS_P = 1, /* drop regions_p */
    P_BAD_SHAPE = 2,    /* image_p one column narrower, in record 3 */
    P_ONE_REGION = 4,   /* every other record has a single region */
    P_NO_END = 8,       /* no end record: the stream stays open */
    P_FLOAT_REGIONS = 16,
};

/* n synthetic pair frames of H x W: 8x8-pixel blocks as regions, the positive
 * view shifted by one pixel, images = block intensity + noise. */
static void write_pairs(const char *path, int n, int H, int W, int flags, uint64_t seed)
{
    stream_out *out = stream_out_open(path);
    rng r;
    if (!out)
        fail_msg("%s", err_get());
    rng_seed(&r, seed, 0);
    assert_int_equal(stream_out_start(out, NULL), 0);
    for (int i = 0; i < n; i++) {
        frame f;
        tensor xq, xp, rq, rp;
        int Wp = (flags & P_BAD_SHAPE) && i == 3 ? W - 1 : W;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, "synthetic");
        f.z = i;
        tensor_init2(&xq, DT_F32, H, W);
        tensor_init2(&xp, DT_F32, H, Wp);
        tensor_init2(&rq, (flags & P_FLOAT_REGIONS) ? DT_F32 : DT_I32, H, W);
        tensor_init2(&rp, DT_I32, H, Wp);
        double level[64];
        for (int k = 0; k < 64; k++)
            level[k] = rng_uniform(&r);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int k = ((y / 8) * (W / 8) + x / 8) % 64;
                if ((flags & P_ONE_REGION) && i % 2)
                    k = 0;
                tensor_set(&rq, (size_t)y * W + x, k);
                tensor_set(&xq, (size_t)y * W + x, level[k] + 0.05 * rng_normal(&r));
            }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < Wp; x++) {
                int xs = x > 0 ? x - 1 : 0;
                ((int32_t *)rp.data)[(size_t)y * Wp + x] = (int32_t)tensor_get(&rq, (size_t)y * W + xs);
                ((float *)xp.data)[(size_t)y * Wp + x] = (float)tensor_get(&xq, (size_t)y * W + xs);
            }
        frame_tensor_add(&f, "image", &xq);
        frame_tensor_add(&f, "image_p", &xp);
        frame_tensor_add(&f, "regions", &rq);
        if (!(flags & P_NO_REGIONS_P))
            frame_tensor_add(&f, "regions_p", &rp);
        else
            tensor_free(&rp);
        assert_int_equal(stream_out_write(out, &f), 0);
        frame_free(&f);
    }
    if (!(flags & P_NO_END))
        assert_int_equal(stream_out_end(out), 0);
    assert_int_equal(stream_out_close(out), 0);
}

static void expect_fail(int want, const char *msg, const char *cmd)
{
    char *err = NULL;
    int rc = tu_sh_err(&err, "%s", cmd);
    if (rc != want || !strstr(err, msg) || (want == 1 && tu_count_lines(err) != 1))
        fail_msg("'%s': exit %d (want %d), stderr '%s' (want one line with '%s')", cmd, rc, want, err, msg);
    free(err);
}

static int64_t ckpt_step_of(const char *path)
{
    ckpt *c = ckpt_open(path);
    if (!c)
        fail_msg("%s", err_get());
    int64_t s = ckpt_step(c);
    ckpt_close(c);
    return s;
}

/* Lines of a JSON-lines log as parsed objects. */
static int read_log(const char *path, mval *recs, int max)
{
    char *text = tu_read(path, NULL), *line, *save = NULL;
    int n = 0;
    assert_non_null(text);
    for (line = strtok_r(text, "\n", &save); line && n < max; line = strtok_r(NULL, "\n", &save)) {
        if (json_parse(line, strlen(line), &recs[n]))
            fail_msg("log line '%s': %s", line, err_get());
        n++;
    }
    free(text);
    return n;
}

static double get_num(const mval *m, const char *key)
{
    double v;
    if (mval_get_f64(m, key, &v))
        fail_msg("log: no key '%s'", key);
    return v;
}

static void test_bad_input(void **state)
{
    (void)state;
    char cmd[4096];
    write_pairs(tu_tmp("noregp.fr"), 4, 32, 32, P_NO_REGIONS_P, 1);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc -c %s %s < %s", tu_tmp("x.st"), TINY, tu_tmp("noregp.fr"));
    expect_fail(1, "lrc-train: record seq 0: no 'regions_p' tensor", cmd);

    write_pairs(tu_tmp("shape.fr"), 6, 32, 32, P_BAD_SHAPE, 1);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc -c %s %s --shuffle-buffer 0 -i %s", tu_tmp("x.st"), TINY,
             tu_tmp("shape.fr"));
    expect_fail(1, "record seq 3: 'image_p' is 32x31 but 'image' is 32x32", cmd);
    /* MoCo needs no regions, but the shapes still; its summary says
     * nothing of regions */
    char *err = NULL;
    assert_int_equal(tu_sh_err(&err, "lrc-train --method moco -c %s %s -i %s", tu_tmp("x.st"), TINY_MOCO,
                               tu_tmp("noregp.fr")),
                     0);
    assert_non_null(strstr(err, ", 4 pairs"));
    assert_null(strstr(err, "regions"));
    free(err);

    write_pairs(tu_tmp("float.fr"), 2, 32, 32, P_FLOAT_REGIONS, 1);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc -c %s %s -i %s", tu_tmp("x.st"), TINY, tu_tmp("float.fr"));
    expect_fail(1, "record seq 0: 'regions' is <f4; region maps are integer", cmd);

    write_pairs(tu_tmp("odd.fr"), 2, 24, 40, 0, 1);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc -c %s %s -i %s", tu_tmp("x.st"), TINY, tu_tmp("odd.fr"));
    expect_fail(1, "images of 24x40 pixels; the networks need sides that are multiples of 16", cmd);

    /* different sizes in one run */
    write_pairs(tu_tmp("a.fr"), 2, 32, 32, 0, 1);
    write_pairs(tu_tmp("b.fr"), 2, 48, 48, 0, 1);
    snprintf(cmd, sizeof cmd, "cat %s %s | lrc-train --method lrc -c %s %s --shuffle-buffer 0", tu_tmp("a.fr"),
             tu_tmp("b.fr"), tu_tmp("x.st"), TINY);
    expect_fail(1, "images of 48x48 pixels, earlier records are 32x32", cmd);

    /* a truncated stream */
    snprintf(cmd, sizeof cmd, "head -c 3000 %s | lrc-train --method lrc -c %s %s", tu_tmp("a.fr"), tu_tmp("x.st"), TINY);
    expect_fail(1, "lrc-train: ", cmd);

    /* usage errors: exit 2 */
    expect_fail(2, "no checkpoint file", "lrc-train --method lrc < /dev/null");
    expect_fail(2, "option --method: 'simclr' is not lrc, moco, rotation", "lrc-train --method simclr -c x < /dev/null");
    expect_fail(2, "--schedule cosine needs --steps", "lrc-train --method lrc --schedule cosine -c x < /dev/null");
    expect_fail(2, "option --batch", "lrc-train --method lrc --batch 0 -c x < /dev/null");
    expect_fail(2, "no --method", "lrc-train -c x < /dev/null");
    expect_fail(2, "--batch 3 is not a multiple of --bn-splits 2", "lrc-train --method moco --batch 3 -c x < /dev/null");
    expect_fail(2, "option --patch: 24 is not a multiple of 16", "lrc-train --method relloc --patch 24 -c x < /dev/null");
    expect_fail(2, "--batch 3 is not a multiple of --bn-splits 2", "lrc-train --method densecl --batch 3 -c x < /dev/null");
    expect_fail(2, "option --dense-weight", "lrc-train --method densecl --dense-weight 1.5 -c x < /dev/null");
    expect_fail(2, "option --genesis-rates: '0.9,0.5': expected 5", "lrc-train --method genesis --genesis-rates 0.9,0.5 -c x < /dev/null");
    expect_fail(2, "option --genesis-rates: 1.2 is outside", "lrc-train --method genesis --genesis-rates 1,1,1,1.2,0 -c x "
                "< /dev/null");
    expect_fail(2, "option --vit: 'huge' is not a ViT configuration", "lrc-train --method mae --vit huge -c x < /dev/null");
    expect_fail(2, "option --mae-decoder-width: 40 is not a multiple of 16",
                "lrc-train --method mae --mae-decoder-width 40 -c x < /dev/null");
    expect_fail(2, "option --mask-ratio", "lrc-train --method mae --mask-ratio 1 -c x < /dev/null");
    expect_fail(2, "--init and --resume exclude each other", "lrc-train --method lrc --init --resume -c x < /dev/null");
}

static void test_bad_resume(void **state)
{
    (void)state;
    char cmd[4096];
    write_pairs(tu_tmp("r.fr"), 8, 32, 32, 0, 2);
    assert_int_equal(tu_sh("lrc-train -q --method lrc -c %s %s --batch 4 -i %s", tu_tmp("lrc.st"), TINY, tu_tmp("r.fr")), 0);
    assert_int_equal(
        tu_sh("lrc-train -q --method moco -c %s %s --batch 4 -i %s", tu_tmp("moco.st"), TINY_MOCO, tu_tmp("r.fr")), 0);
    /* another method */
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc --resume -c %s %s -i %s", tu_tmp("moco.st"), TINY, tu_tmp("r.fr"));
    expect_fail(1, "not an lrc-train --method lrc checkpoint (method moco)", cmd);
    snprintf(cmd, sizeof cmd, "lrc-train --method moco --resume -c %s %s -i %s", tu_tmp("lrc.st"), TINY_MOCO, tu_tmp("r.fr"));
    expect_fail(1, "not an lrc-train --method moco checkpoint (method lrc)", cmd);
    /* another model configuration */
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc --resume -c %s --widths 4,8,8,8,16 --dim 8 -i %s",
             tu_tmp("lrc.st"), tu_tmp("r.fr"));
    expect_fail(1, "--resume: ", cmd);
    /* not a checkpoint at all, and none there */
    assert_int_equal(tu_sh("echo garbage > %s", tu_tmp("junk.st")), 0);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc --resume -c %s %s -i %s", tu_tmp("junk.st"), TINY, tu_tmp("r.fr"));
    expect_fail(1, "junk.st", cmd);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc --resume -c %s %s -i %s", tu_tmp("none.st"), TINY, tu_tmp("r.fr"));
    expect_fail(1, "none.st", cmd);
    /* another format version: patch the metadata in place (same length) */
    assert_int_equal(tu_sh("sed -E 's/(\"format_version\": *)\"1\"/\\1\"9\"/' %s > %s", tu_tmp("lrc.st"),
                           tu_tmp("v9.st")),
                     0);
    snprintf(cmd, sizeof cmd, "lrc-train --method lrc --resume -c %s %s -i %s", tu_tmp("v9.st"), TINY, tu_tmp("r.fr"));
    expect_fail(1, "version", cmd);
}

static void assert_same_tensors(const char *a, const char *b);

static void test_seed_reproducible(void **state)
{
    (void)state;
    write_pairs(tu_tmp("seed.fr"), 24, 32, 32, 0, 3);
    /* the checkpoint records the command line: write each run to one path, then move it */
    for (int run = 0; run < 5; run++)
        assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 --shuffle-buffer 8 --seed %d -c %s %s %s -i %s "
                               "&& mv %s %s",
                               run == 2 ? 8 : 7, tu_tmp("s.st"), TINY, run >= 3 ? "--threads 2" : "", tu_tmp("seed.fr"),
                               tu_tmp("s.st"), tu_tmp((const char *[]){"s0.st", "s1.st", "s2.st", "s3.st", "s4.st"}[run])),
                         0);
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("s3.st"), tu_tmp("s4.st")), 0); /* two threads */
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("s0.st"), tu_tmp("s1.st")), 0);
    assert_int_not_equal(tu_sh("cmp -s %s %s", tu_tmp("s0.st"), tu_tmp("s2.st")), 0);
    assert_int_equal(ckpt_step_of(tu_tmp("s0.st")), 6);
    /* MoCo too */
    for (int run = 0; run < 2; run++)
        assert_int_equal(tu_sh("lrc-train -q --method moco --batch 4 --seed 5 -c %s %s -i %s && mv %s %s",
                               tu_tmp("m.st"), TINY_MOCO, tu_tmp("seed.fr"), tu_tmp("m.st"), tu_tmp(run ? "m1.st" : "m0.st")),
                         0);
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("m0.st"), tu_tmp("m1.st")), 0);
    /* DenseCL too (its shuffle-BN draws and queues included), and another seed differs */
    for (int run = 0; run < 3; run++)
        assert_int_equal(tu_sh("lrc-train -q --method densecl --batch 4 --seed %d -c %s " TINY_EG " --queue 64 -i %s "
                               "&& mv %s %s",
                               run == 2 ? 6 : 5, tu_tmp("d.st"), tu_tmp("seed.fr"), tu_tmp("d.st"),
                               tu_tmp((const char *[]){"d0.st", "d1.st", "d2.st"}[run])),
                         0);
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("d0.st"), tu_tmp("d1.st")), 0);
    assert_int_not_equal(tu_sh("cmp -s %s %s", tu_tmp("d0.st"), tu_tmp("d2.st")), 0);
    /* Models Genesis (its transformations drawn from the step's seed) */
    for (int run = 0; run < 3; run++)
        assert_int_equal(tu_sh("lrc-train -q --method genesis --batch 4 --seed %d -c %s " TINY_EG " -i %s && mv %s %s",
                               run == 2 ? 6 : 5, tu_tmp("g.st"), tu_tmp("seed.fr"), tu_tmp("g.st"),
                               tu_tmp((const char *[]){"g0.st", "g1.st", "g2.st"}[run])),
                         0);
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("g0.st"), tu_tmp("g1.st")), 0);
    assert_int_not_equal(tu_sh("cmp -s %s %s", tu_tmp("g0.st"), tu_tmp("g2.st")), 0);
    /* MAE (its masks drawn from the step's seed), also on two threads */
    for (int run = 0; run < 4; run++)
        assert_int_equal(tu_sh("lrc-train -q --method mae --batch 4 --seed %d -c %s " TINY_MAE " %s -i %s && mv %s %s",
                               run == 2 ? 6 : 5, tu_tmp("a.st"), run == 3 ? "--threads 2" : "", tu_tmp("seed.fr"),
                               tu_tmp("a.st"), tu_tmp((const char *[]){"a0.st", "a1.st", "a2.st", "a3.st"}[run])),
                         0);
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("a0.st"), tu_tmp("a1.st")), 0);
    assert_int_not_equal(tu_sh("cmp -s %s %s", tu_tmp("a0.st"), tu_tmp("a2.st")), 0);
    assert_same_tensors(tu_tmp("a0.st"), tu_tmp("a3.st"));
}

static void test_log_and_skipped(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    write_pairs(tu_tmp("skip.fr"), 20, 32, 32, P_ONE_REGION, 4);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 2 --shuffle-buffer 0 --log %s -c %s %s -i %s",
                           tu_tmp("skip.jsonl"), tu_tmp("skip.st"), TINY, tu_tmp("skip.fr")),
                     0);
    int n = read_log(tu_tmp("skip.jsonl"), recs, 64);
    assert_int_equal(n, 5); /* 10 usable pairs, batch 2 */
    for (int i = 0; i < n; i++) {
        assert_true(get_num(&recs[i], "step") == i + 1);
        assert_true(get_num(&recs[i], "loss") > log(2.0) - 1e-9); /* printed form: >= log 2 */
        assert_true(get_num(&recs[i], "lr") == 1e-3);
        assert_true(get_num(&recs[i], "time") >= 0);
        assert_true(get_num(&recs[i], "pairs") == 2 * (i + 1));
        assert_true(get_num(&recs[i], "regions") == 16);
        assert_true(get_num(&recs[i], "one_sided") == 0);
        get_num(&recs[i], "pairs_per_s");
    }
    /* skipped while reading: the last record (skipped) comes after the last step */
    assert_true(get_num(&recs[n - 1], "skipped") == 9);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    /* --log-every averages */
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 2 --log-every 2 --log %s -c %s %s -i %s",
                           tu_tmp("skip2.jsonl"), tu_tmp("skip.st"), TINY, tu_tmp("skip.fr")),
                     0);
    n = read_log(tu_tmp("skip2.jsonl"), recs, 64);
    assert_int_equal(n, 2);
    assert_true(get_num(&recs[1], "step") == 4);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    /* the summary on stderr names the skipped pairs */
    char *err = NULL;
    assert_int_equal(tu_sh_err(&err, "lrc-train --method lrc --batch 2 -c %s %s -i %s", tu_tmp("skip.st"), TINY,
                               tu_tmp("skip.fr")),
                     0);
    assert_non_null(strstr(err, "(10 skipped with < 2 regions)"));
    free(err);
}

/* On a terminal (script(1) provides one) the progress line is redrawn with
 * \r and shows the ETA; in a pipe there is no \r. */
static void test_progress_terminal(void **state)
{
    (void)state;
    char *out;
    write_pairs(tu_tmp("tty.fr"), 16, 32, 32, 0, 12);
    assert_int_equal(tu_sh("script -qc 'lrc-train --method lrc --batch 4 --steps 3 -c %s %s -i %s' /dev/null > %s",
                           tu_tmp("tty.st"), TINY, tu_tmp("tty.fr"), tu_tmp("tty.txt")),
                     0);
    out = tu_read(tu_tmp("tty.txt"), NULL);
    assert_non_null(out);
    assert_non_null(strstr(out, "\rlrc-train: step 3/3  loss "));
    assert_non_null(strstr(out, " pairs/s  ETA "));
    free(out);
    assert_int_equal(tu_sh("lrc-train --method lrc --batch 4 --steps 3 -c %s %s -i %s 2> %s", tu_tmp("tty.st"), TINY,
                           tu_tmp("tty.fr"), tu_tmp("notty.txt")),
                     0);
    out = tu_read(tu_tmp("notty.txt"), NULL);
    assert_non_null(out);
    assert_null(strchr(out, '\r'));
    assert_non_null(strstr(out, "lrc-train: 3 steps, 12 pairs"));
    free(out);
}

static void test_resume_and_epochs(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    write_pairs(tu_tmp("ep.fr"), 8, 32, 32, 0, 5);
    /* 3 epochs of 8 pairs, batch 4: 6 steps, saved at 2, 4, 6 */
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 --epochs 3 --save-every 2 --log %s -c %s %s -i %s",
                           tu_tmp("ep.jsonl"), tu_tmp("ep.st"), TINY, tu_tmp("ep.fr")),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("ep.st")), 6);
    int n = read_log(tu_tmp("ep.jsonl"), recs, 64);
    assert_int_equal(n, 6);
    assert_true(get_num(&recs[5], "pairs") == 24);
    assert_true(get_num(&recs[5], "epoch") == 3); /* the reader's passes: all 24 pairs fit the shuffle buffer */
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    /* resume to step 10: 4 more steps, the log appended */
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 --epochs 3 --steps 10 --resume --log %s -c %s %s -i %s",
                           tu_tmp("ep.jsonl"), tu_tmp("ep.st"), TINY, tu_tmp("ep.fr")),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("ep.st")), 10);
    n = read_log(tu_tmp("ep.jsonl"), recs, 64);
    assert_int_equal(n, 10);
    assert_true(get_num(&recs[6], "step") == 7);
    assert_true(get_num(&recs[9], "pairs") == 40);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    /* --steps already reached: nothing to do, checkpoint untouched */
    assert_int_equal(tu_sh("cp %s %s", tu_tmp("ep.st"), tu_tmp("ep0.st")), 0);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 --steps 10 --resume -c %s %s -i %s", tu_tmp("ep.st"),
                           TINY, tu_tmp("ep.fr")),
                     0);
    assert_int_equal(tu_sh("cmp -s %s %s", tu_tmp("ep.st"), tu_tmp("ep0.st")), 0);
    /* --epochs needs a seekable input */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cat %s | lrc-train --method lrc --batch 4 --epochs 2 -c %s %s", tu_tmp("ep.fr"),
             tu_tmp("ep2.st"), TINY);
    expect_fail(1, "--epochs 2", cmd);
    /* MoCo resumes too: queue and key encoder restored, steps continue */
    assert_int_equal(tu_sh("lrc-train -q --method moco --batch 4 -c %s %s -i %s", tu_tmp("mr.st"), TINY_MOCO,
                           tu_tmp("ep.fr")),
                     0);
    assert_int_equal(tu_sh("lrc-train -q --method moco --batch 4 --resume -c %s %s -i %s", tu_tmp("mr.st"), TINY_MOCO,
                           tu_tmp("ep.fr")),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("mr.st")), 4);
}

/* kill -9 in the middle of a run: the checkpoint on disk is whole, and the
 * run resumes from it. The input stays open (no end record, then sleep), so
 * the trainer is waiting for more pairs when it is killed. */
static void test_kill_and_resume(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    write_pairs(tu_tmp("k.fr"), 12, 32, 32, P_NO_END, 6);
    write_pairs(tu_tmp("kfull.fr"), 12, 32, 32, 0, 6);
    int rc = tu_sh("mkfifo %s && { (cat %s; exec sleep 60) > %s & prod=$!; "
                   "lrc-train -q --method lrc --batch 2 --shuffle-buffer 0 --save-every 2 --log %s -c %s %s < %s & "
                   "pid=$!; "
                   "for i in $(seq 1 300); do [ \"$(cat %s 2>/dev/null | wc -l)\" = 6 ] && break; sleep 0.1; done; "
                   "sleep 0.3; kill -9 $pid; kill $prod; wait; exit 0; }",
                   tu_tmp("k.fifo"), tu_tmp("k.fr"), tu_tmp("k.fifo"), tu_tmp("k.jsonl"), tu_tmp("k.st"), TINY, tu_tmp("k.fifo"),
                   tu_tmp("k.jsonl"));
    assert_int_equal(rc, 0);
    int n = read_log(tu_tmp("k.jsonl"), recs, 64);
    assert_int_equal(n, 6);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    assert_int_equal(ckpt_step_of(tu_tmp("k.st")), 6);
    /* no temporary left beside it */
    assert_int_not_equal(tu_sh("ls -a %s | grep -q 'k.st.tmp'", tu_tmpdir()), 0);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 2 --steps 8 --resume -c %s %s -i %s", tu_tmp("k.st"), TINY,
                           tu_tmp("kfull.fr")),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("k.st")), 8);
}

static void test_zmq_input(void **state)
{
    (void)state;
    int port = tu_port();
    write_pairs(tu_tmp("z.fr"), 8, 32, 32, 0, 7);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 -c %s %s -i @tcp://127.0.0.1:%d & pid=$!; "
                           "frame-cat %s -o tcp://127.0.0.1:%d || { kill $pid; exit 1; }; wait $pid",
                           tu_tmp("z.st"), TINY, port, tu_tmp("z.fr"), port),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("z.st")), 2);
}

/* Both branches at once from one stream (tee into a FIFO), as the man page
 * shows: each trains on every pair. */
static void test_both_methods_one_stream(void **state)
{
    (void)state;
    write_pairs(tu_tmp("both.fr"), 8, 32, 32, 0, 10);
    assert_int_equal(tu_sh("mkfifo %s && { lrc-train -q --method moco --batch 4 -c %s %s < %s & pid=$!; "
                           "tee %s < %s | lrc-train -q --method lrc --batch 4 -c %s %s && wait $pid; }",
                           tu_tmp("both.fifo"), tu_tmp("both_moco.st"), TINY_MOCO, tu_tmp("both.fifo"), tu_tmp("both.fifo"),
                           tu_tmp("both.fr"), tu_tmp("both_lrc.st"), TINY),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("both_lrc.st")), 2);
    assert_int_equal(ckpt_step_of(tu_tmp("both_moco.st")), 2);
}

static void test_embed(void **state)
{
    (void)state;
    char cmd[2048];
    write_pairs(tu_tmp("e.fr"), 3, 32, 48, 0, 8);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 3 -c %s %s -i %s", tu_tmp("e.st"), TINY, tu_tmp("e.fr")), 0);
    assert_int_equal(tu_sh("lrc-train --embed -c %s < %s > %s", tu_tmp("e.st"), tu_tmp("e.fr"), tu_tmp("e.out")), 0);
    stream_in *in = stream_in_open(tu_tmp("e.out"));
    frame f;
    int n = 0;
    assert_non_null(in);
    while (stream_in_next(in, &f) > 0) {
        const tensor *t = frame_tensor_get(&f, "features"), *tp = frame_tensor_get(&f, "features_p");
        assert_non_null(t);
        assert_non_null(tp);
        assert_int_equal(t->dtype, DT_F32);
        assert_int_equal(t->rank, 3);
        assert_true(t->shape[0] == 8 && t->shape[1] == 32 && t->shape[2] == 48);
        assert_false(tensor_has_nonfinite(t));
        assert_non_null(frame_tensor_get(&f, "regions")); /* passed through */
        assert_int_equal(f.z, n);
        frame_free(&f);
        n++;
    }
    stream_in_close(in);
    assert_int_equal(n, 3);
    /* embedding is deterministic (evaluation mode) */
    assert_int_equal(tu_sh("lrc-train --embed -c %s < %s | cmp -s - %s", tu_tmp("e.st"), tu_tmp("e.fr"), tu_tmp("e.out")), 0);
    /* a MoCo checkpoint holds no U-Net */
    assert_int_equal(tu_sh("lrc-train -q --method moco --batch 3 --bn-splits 1 -c %s %s -i %s", tu_tmp("em.st"),
                           TINY_MOCO, tu_tmp("e.fr")),
                     0);
    snprintf(cmd, sizeof cmd, "lrc-train --embed -c %s < %s > /dev/null", tu_tmp("em.st"), tu_tmp("e.fr"));
    expect_fail(1, "holds no U-Net", cmd);
}

static void test_moco_log(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    write_pairs(tu_tmp("mo.fr"), 16, 32, 32, 0, 9);
    for (int v = 1; v <= 2; v++) {
        assert_int_equal(tu_sh("lrc-train -q --method moco --moco-version %d --batch 4 --log %s -c %s %s -i %s", v,
                               tu_tmp("mo.jsonl"), tu_tmp("mo.st"), TINY_MOCO, tu_tmp("mo.fr")),
                         0);
        int n = read_log(tu_tmp("mo.jsonl"), recs, 64);
        assert_int_equal(n, 4);
        for (int i = 0; i < n; i++) {
            double acc = get_num(&recs[i], "acc"), loss = get_num(&recs[i], "loss");
            assert_true(acc >= 0 && acc <= 1);
            assert_true(loss > 0 && loss < 20);
            assert_true(get_num(&recs[i], "lr") == 0.03 * 4 / 256); /* the linear rule at batch 4 */
            mval_free(&recs[i]);
        }
        ckpt *c = ckpt_open(tu_tmp("mo.st"));
        tensor q;
        assert_non_null(c);
        assert_int_equal(ckpt_get_tensor(c, "moco.queue", &q), 0);
        assert_true(q.shape[0] == 64 && q.shape[1] == 16);
        assert_int_equal(ckpt_get_tensor(c, v == 2 ? "head.fc2.weight" : "head.fc.weight", &q), 0);
        assert_int_equal(ckpt_get_tensor(c, "conv1.weight", &q), 0); /* Eg under its plain names */
        assert_int_equal(ckpt_get_tensor(c, "key.conv1.weight", &q), 0);
        ckpt_close(c);
    }
}

/* The real pipeline in front: ct-resample | slice-extract | fz-superpixel |
 * elastic-aug on a bundled volume, both methods train on its pairs, and
 * every region arrives in both views (elastic-aug drops vanished ones). */
static void test_real_filters_pipeline(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    assert_int_equal(tu_sh("ct-resample -q -s 2.5,4,4 %s/pre012_ct.nii.gz | slice-extract -q --size 64,64 --skip-empty "
                           "--every 2 | fz-superpixel -q --body | elastic-aug -q --alpha 6 --rotate 5 --seed 1 > %s",
                           tu_sample(), tu_tmp("pipe.fr")),
                     0);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 --log %s -c %s %s -i %s", tu_tmp("pipe.jsonl"),
                           tu_tmp("pipe.st"), TINY, tu_tmp("pipe.fr")),
                     0);
    int n = read_log(tu_tmp("pipe.jsonl"), recs, 64);
    assert_true(n >= 3);
    for (int i = 0; i < n; i++) {
        assert_true(get_num(&recs[i], "regions") >= 2);
        assert_true(get_num(&recs[i], "one_sided") == 0);
        mval_free(&recs[i]);
    }
    assert_int_equal(tu_sh("lrc-train -q --method moco --batch 4 -c %s %s -i %s", tu_tmp("pipe_moco.st"), TINY_MOCO,
                           tu_tmp("pipe.fr")),
                     0);
    assert_true(ckpt_step_of(tu_tmp("pipe_moco.st")) >= 3);
}

/* Every tensor of two checkpoints equal, bit for bit (the metadata holds
 * the command lines, which differ). */
static void assert_same_tensors(const char *a, const char *b)
{
    ckpt *ca = ckpt_open(a), *cb = ckpt_open(b);
    assert_non_null(ca);
    assert_non_null(cb);
    assert_int_equal(ckpt_ntensors(ca), ckpt_ntensors(cb));
    for (int i = 0; i < ckpt_ntensors(ca); i++) {
        tensor ta, tb;
        const char *name = ckpt_tensor_name(ca, i);
        assert_int_equal(ckpt_get_tensor(ca, name, &ta), 0);
        assert_int_equal(ckpt_get_tensor(cb, name, &tb), 0);
        assert_int_equal(tensor_nbytes(&ta), tensor_nbytes(&tb));
        if (memcmp(ta.data, tb.data, tensor_nbytes(&ta)))
            fail_msg("%s and %s differ in %s", a, b, name);
    }
    ckpt_close(ca);
    ckpt_close(cb);
}

/* The global methods through the real filters (a bundled volume at 64 x 64):
 * each trains, logs its metric, and writes Eg under torchvision's names
 * where seg-finetune --global finds it. */
static void test_global_methods(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    char name[64];
    assert_int_equal(tu_sh("ct-resample -q -s 2.5,4,4 %s/pre024_ct.nii.gz | slice-extract -q --size 64,64 --skip-empty "
                           "--every 3 | fz-superpixel -q --body | elastic-aug -q --alpha 6 --rotate 5 --seed 1 > %s",
                           tu_sample(), tu_tmp("eg.fr")),
                     0);
    for (int m = 0; m < N_EG; m++) {
        snprintf(name, sizeof name, "eg_%s.st", eg_methods[m].name);
        assert_int_equal(tu_sh("lrc-train -q --method %s --batch 4 --steps 4 --log %s -c %s %s -i %s",
                               eg_methods[m].name, tu_tmp("eg.jsonl"), tu_tmp(name), eg_methods[m].opts, tu_tmp("eg.fr")),
                         0);
        int n = read_log(tu_tmp("eg.jsonl"), recs, 64);
        assert_int_equal(n, 4);
        for (int i = 0; i < n; i++) {
            double v = get_num(&recs[i], eg_methods[m].metric), loss = get_num(&recs[i], "loss");
            if (!(v >= 0 && v <= eg_methods[m].max && isfinite(loss)))
                fail_msg("%s: step %d: loss %g, %s %g", eg_methods[m].name, i + 1, loss, eg_methods[m].metric, v);
            mval_free(&recs[i]);
        }
        assert_int_equal(tu_sh("rm %s", tu_tmp("eg.jsonl")), 0);
        ckpt *c = ckpt_open(tu_tmp(name));
        tensor t;
        assert_non_null(c);
        assert_string_equal(ckpt_meta(c, "method"), eg_methods[m].name);
        const int mae = !strcmp(eg_methods[m].name, "mae");
        assert_string_equal(ckpt_meta(c, "model"), mae ? "vit" : "resnet");
        assert_int_equal(ckpt_get_tensor(c, mae ? "blocks.1.mlp.fc2.weight" : "layer4.1.conv2.weight", &t), 0);
        assert_int_equal(ckpt_step(c), 4);
        ckpt_close(c);
    }
}

/* kill -9 during a run of each global method: the checkpoint is whole and
 * resumes; and a run resumed at a step boundary ends bit-identical to one
 * that was not interrupted (optimiser, heads, target network, schedules and
 * batch-norm statistics all restored). */
static void test_global_kill_and_resume(void **state)
{
    (void)state;
    char st[64];
    /* 64 x 64: relloc's smallest grid (three 16-pixel patches and two gaps) */
    write_pairs(tu_tmp("gk.fr"), 8, 64, 64, P_NO_END, 13);
    write_pairs(tu_tmp("gk1.fr"), 8, 64, 64, 0, 13);
    write_pairs(tu_tmp("gk2.fr"), 8, 64, 64, 0, 14);
    assert_int_equal(tu_sh("frame-cat -q %s %s -o %s", tu_tmp("gk1.fr"), tu_tmp("gk2.fr"), tu_tmp("gk12.fr")), 0);
    for (int m = 0; m < N_EG; m++) {
        const char *M = eg_methods[m].name, *O = eg_methods[m].opts;
        snprintf(st, sizeof st, "gk_%s.st", M);
        /* in the scratch directory: more names than tu_tmp()'s ring holds */
        int rc = tu_sh("cd %s && rm -f gk.fifo gk.jsonl && mkfifo gk.fifo && { (cat gk.fr; exec sleep 60) > gk.fifo & "
                       "prod=$!; lrc-train -q --method %s --batch 2 --shuffle-buffer 0 --save-every 2 --log gk.jsonl "
                       "-c %s %s < gk.fifo & pid=$!; "
                       "for i in $(seq 1 300); do [ \"$(cat gk.jsonl 2>/dev/null | wc -l)\" = 4 ] && break; sleep 0.1; "
                       "done; sleep 0.3; kill -9 $pid; kill $prod; wait; exit 0; }",
                       tu_tmpdir(), M, st, O);
        assert_int_equal(rc, 0);
        assert_int_equal(ckpt_step_of(tu_tmp(st)), 4);
        assert_int_equal(tu_sh("lrc-train -q --method %s --batch 2 --steps 6 --resume -c %s %s -i %s", M, tu_tmp(st),
                               O, tu_tmp("gk1.fr")),
                         0);
        assert_int_equal(ckpt_step_of(tu_tmp(st)), 6);
        /* interrupted at step 2 (the first input ends) vs straight through */
        assert_int_equal(tu_sh("lrc-train -q --method %s --batch 4 --shuffle-buffer 0 --steps 4 --seed 3 -c %s %s -i %s "
                               "&& lrc-train -q --method %s --batch 4 --shuffle-buffer 0 --steps 4 --seed 3 --resume "
                               "-c %s %s -i %s && lrc-train -q --method %s --batch 4 --shuffle-buffer 0 --steps 4 "
                               "--seed 3 -c %s %s -i %s",
                               M, tu_tmp("gA.st"), O, tu_tmp("gk1.fr"), M, tu_tmp("gA.st"), O, tu_tmp("gk2.fr"), M,
                               tu_tmp("gB.st"), O, tu_tmp("gk12.fr")),
                         0);
        assert_int_equal(ckpt_step_of(tu_tmp("gA.st")), 4);
        assert_same_tensors(tu_tmp("gA.st"), tu_tmp("gB.st"));
    }
    /* another method's checkpoint, or other settings, are refused */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "lrc-train --method moco --resume -c %s %s -i %s", tu_tmp("gB.st"), TINY_MOCO,
             tu_tmp("gk1.fr"));
    expect_fail(1, "not an lrc-train --method moco checkpoint", cmd);
}

/* The real thing, small: the whole front of the pipeline on the bundled
 * sample's unlabeled volumes (ct-resample to 4 mm, 64 x 64 slices around the
 * body, Felzenszwalb regions, elastic-aug drawing fresh warps each epoch)
 * piped into lrc-train with a narrow U-Net for a few hundred steps; then the
 * region features of held-out subjects' slices. LRCPIPE_LONG=1: larger. */
static void test_real_run(void **state)
{
    (void)state;
    const int lng = getenv("LRCPIPE_LONG") && *getenv("LRCPIPE_LONG") == '1';
    /* the tests' commands time out after 300 s: the long run stays below; under
     * the sanitizers (10x slower) a short run, whose loss has fallen less */
#ifdef __SANITIZE_ADDRESS__
    const int san = 1;
#else
    const int san = 0;
#endif
    const int steps = lng ? 600 : san ? 30 : 200, size = lng ? 96 : 64, epochs = lng ? 30 : 10;
    const int threads = lng ? 2 : 1, w = san ? 5 : 20;
    const double min_drop = san ? 0.3 : 0.6;
    const char *widths = lng ? "16,32,64,128,256" : "8,16,32,64,64", *dim = lng ? "64" : "32";
    const char *spacing = lng ? "2.5,3,3" : "2.5,4,4";
    char line[256];
    mval recs[2000] = {{0}};
    double t0 = (double)time(NULL);
    /* more, smaller regions than fz-superpixel's defaults give at 64 x 64 */
    assert_int_equal(tu_sh("ct-resample -q -s %s %s/pre0*_ct.nii.gz | slice-extract -q --size %d,%d --skip-empty | "
                           "fz-superpixel -q --body --min-size 10 > %s",
                           spacing, tu_sample(), size, size, tu_tmp("real_slices.fr")),
                     0);
    assert_int_equal(tu_sh("ct-resample -q -s %s %s/subj0*_ct.nii.gz | slice-extract -q --size %d,%d --skip-empty "
                           "--every 3 | fz-superpixel -q --body --min-size 10 | elastic-aug -q --alpha 6 --rotate 5 "
                           "--seed 2 > %s",
                           spacing, tu_sample(), size, size, tu_tmp("held.fr")),
                     0);
    /* the untrained network's features, for comparison */
    assert_int_equal(tu_sh("lrc-train -q --method lrc --init -c %s --widths %s --dim %s", tu_tmp("real0.st"),
                           widths, dim),
                     0);
    assert_int_equal(ckpt_step_of(tu_tmp("real0.st")), 0);
    assert_int_equal(tu_sh("elastic-aug -q --epochs %d --alpha 6 --rotate 5 --seed 1 < %s | lrc-train -q --method lrc "
                           "--batch 8 --steps %d --threads %d --log %s -c %s --widths %s --dim %s",
                           epochs, tu_tmp("real_slices.fr"), steps, threads, tu_tmp("real.jsonl"), tu_tmp("real.st"), widths,
                           dim),
                     0);
    int n = read_log(tu_tmp("real.jsonl"), recs, 2000);
    assert_int_equal(n, steps);
    double first = 0, last = 0;
    for (int i = 0; i < w; i++) {
        first += get_num(&recs[i], "loss") / w;
        last += get_num(&recs[n - 1 - i], "loss") / w;
    }
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    /* the part of the loss above its floor (log 2 with the printed form) */
    double drop = (first - last) / (first - log(2.0));
    print_message("real run: %d steps on %dx%d, loss %.4f (first %d steps) -> %.4f (last %d), %.0f%% of the way "
                  "to log 2\n",
                  steps, size, size, first, w, last, w, 100 * drop);
    assert_true(drop > min_drop);
    /* region features of held-out slices: same region across views vs different regions */
    double s0, d0, t10, s1, d1, t11;
    for (int k = 0; k < 2; k++) {
        char *out = NULL;
        FILE *p;
        assert_int_equal(tu_sh("lrc-train --embed -c %s -i %s -o %s", tu_tmp(k ? "real.st" : "real0.st"), tu_tmp("held.fr"),
                               tu_tmp("held.emb")),
                         0);
        snprintf(line, sizeof line, "'%s' '%s/tests/py/region_cos.py' %s", tu_python(), tu_root(), tu_tmp("held.emb"));
        assert_non_null(p = popen(line, "r"));
        assert_non_null(fgets(line, sizeof line, p));
        assert_int_equal(pclose(p), 0);
        (void)out;
        if (sscanf(line, "same %lf diff %lf top1 %lf", k ? &s1 : &s0, k ? &d1 : &d0, k ? &t11 : &t10) != 3)
            fail_msg("region_cos.py: '%s'", line);
    }
    print_message("held-out region cosine, untrained: same %.3f diff %.3f top1 %.3f; trained: same %.3f diff %.3f "
                  "top1 %.3f (%.0f s)\n",
                  s0, d0, t10, s1, d1, t11, (double)time(NULL) - t0);
    assert_true(s1 > d1 + (san ? 0.2 : 0.3)); /* the same region is clearly closer than others */
    assert_true(s1 - d1 > s0 - d0);
    assert_true(t11 > t10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),     cmocka_unit_test(test_bad_resume),
        cmocka_unit_test(test_seed_reproducible), cmocka_unit_test(test_log_and_skipped),
        cmocka_unit_test(test_progress_terminal),
        cmocka_unit_test(test_resume_and_epochs), cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_zmq_input),     cmocka_unit_test(test_both_methods_one_stream),
        cmocka_unit_test(test_embed),
        cmocka_unit_test(test_moco_log),      cmocka_unit_test(test_real_filters_pipeline),
        cmocka_unit_test(test_global_methods), cmocka_unit_test(test_global_kill_and_resume),
        cmocka_unit_test(test_real_run),
    };
    if (getenv("TEST_FILTER")) /* e.g. TEST_FILTER='test_embed' while debugging */
        cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
