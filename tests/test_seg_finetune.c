/* seg-finetune as a program, on the bundled sample's real CT slices: a
 * short fine-tuning run in which the training Dice rises clearly, the
 * predict -> slice-regroup -> dice-eval chain, exact resume (also after
 * kill -9), seeds, pre-trained parts from real lrc-train checkpoints, and
 * bad input (frames without labels, labels outside the classes, checkpoints
 * of the wrong kind, case lists naming absent volumes, bad sizes, usage). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/json.h"
#include "core/rng.h"
#include "io/frame.h"
#include "io/stream.h"
#include "nn/ckpt.h"
#include "finetune/segdata.h"
#include "testutil.h"

/* A small network (about 10 ms a step at 64 x 64 on one core). */
#define SMALL "--widths 8,16,16,32,32 --dim 16 --width 0.125 --threads 1"
#define TINY "--widths 4,8,8,8,8 --dim 8 --width 0.0625 --threads 1"

static const char *sample(const char *name)
{
    static char ring[4][1024];
    static int k;
    char *p = ring[k++ & 3];
    snprintf(p, 1024, "%s/%s", tu_sample(), name);
    return p;
}

static void expect_fail(int want, const char *msg, const char *cmd)
{
    char *err = NULL;
    int rc = tu_sh_err(&err, "%s", cmd);
    if (rc != want || !strstr(err, msg) || (want == 1 && tu_count_lines(err) != 1))
        fail_msg("'%s': exit %d (want %d), stderr '%s' (want one line with '%s')", cmd, rc, want, err, msg);
    print_message("exit %d: %s", rc, err);
    free(err);
}

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

static double num(const mval *m, const char *key)
{
    double v;
    if (mval_get_f64(m, key, &v))
        return NAN;
    return v;
}

/* Every tensor of two checkpoints identical (metadata may differ). */
static void same_tensors(const char *a, const char *b)
{
    ckpt *ca = ckpt_open(a), *cb = ckpt_open(b);
    if (!ca || !cb)
        fail_msg("%s", err_get());
    assert_int_equal(ckpt_ntensors(ca), ckpt_ntensors(cb));
    for (int i = 0; i < ckpt_ntensors(ca); i++) {
        tensor ta, tb;
        const char *name = ckpt_tensor_name(ca, i);
        assert_int_equal(ckpt_get_tensor(ca, name, &ta), 0);
        if (ckpt_get_tensor(cb, name, &tb))
            fail_msg("%s lacks %s", b, name);
        assert_true(tensor_same_shape(&ta, &tb));
        if (memcmp(ta.data, tb.data, tensor_nbytes(&ta)))
            fail_msg("tensor %s differs between %s and %s", name, a, b);
    }
    assert_int_equal(ckpt_step(ca), ckpt_step(cb));
    ckpt_close(ca);
    ckpt_close(cb);
}

static int64_t step_of(const char *path)
{
    ckpt *c = ckpt_open(path);
    if (!c)
        fail_msg("%s", err_get());
    int64_t s = ckpt_step(c);
    ckpt_close(c);
    return s;
}

/* The sample's five volumes as 64 x 64 slices at 5 mm, every slice with a
 * body: subj03, subj05, subj16 (train.txt), subj27, subj28 (test.txt). */
static int setup(void **state)
{
    (void)state;
    return tu_sh("ct-resample -q -m %s --labels-json %s -s 5,5,5 | "
                 "slice-extract -q --preset head --size 64,64 --skip-empty > %s",
                 sample("manifest.csv"), sample("labels.json"), tu_tmp("all.fr"));
}

/* ---- a real run ---- */

/* 60 steps of the small network at lr 3e-3 on the three training volumes'
 * slices with the default loss (Dice + cross-entropy): the loss must halve
 * and the cross-entropy fall below 0.15 and a tenth of its first value
 * (measured: loss 2.47 -> 0.95, CE 1.47 -> 0.066; the organs come later).
 * Also the log's keys, the best checkpoint and the validation lines.
 * test_dice_loss_learns checks the paper's Dice-only loss. */
/* The paper's Dice-only loss on organ slices (a quarter of the organ-free
 * ones, no shifts): within 60 steps the training Dice (argmax, organs 1-7,
 * over 10 steps) reaches 0.12 and 4 times its first value (measured: 0.008
 * -> 0.2, Dice loss 0.994 -> 0.81). */
static void test_dice_loss_learns(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    assert_int_equal(tu_sh("seg-finetune -q -i %s --cases %s -c %s --log %s --steps 60 --lr 3e-3 --loss dice "
                           "--empty-keep 0.25 --shift 0 " SMALL,
                           tu_tmp("all.fr"), sample("train.txt"), tu_tmp("dl.st"), tu_tmp("dl.jsonl")),
                     0);
    int n = read_log(tu_tmp("dl.jsonl"), recs, 64);
    double first = NAN, last = NAN, loss_last = NAN;
    for (int i = 0; i < n; i++) {
        if (isnan(first))
            first = num(&recs[i], "train_dice");
        last = num(&recs[i], "train_dice");
        loss_last = num(&recs[i], "dice_loss");
        assert_true(num(&recs[i], "loss") == num(&recs[i], "dice_loss"));
        mval_free(&recs[i]);
    }
    print_message("Dice loss only: training Dice %.4f -> %.4f, Dice loss at the end %.4f\n", first, last, loss_last);
    assert_int_equal(n, 6);
    assert_true(last >= 0.12 && last >= 4 * first);
    assert_true(loss_last < 0.9);
}

/* --patience N stops after N validations without a better Dice: the run
 * ends at best_step + N * val_every, says so in the log's last line, and its
 * checkpoint is at that step. Bad combinations are usage errors. */
/* segdata_copy_shifted against a naive loop, for every shift within and
 * beyond the slice, on a 5 x 7 slice of distinct values. */
static void test_shift_copy(void **state)
{
    (void)state;
    enum { H = 5, W = 7 };
    float img[2 * H * W], x[H * W];
    uint8_t lab[2 * H * W], y[H * W];
    segdata d = {0};
    d.H = H, d.W = W, d.n = 2, d.img = img, d.lab = lab;
    for (int i = 0; i < 2 * H * W; i++)
        img[i] = (float)(i + 1), lab[i] = (uint8_t)(1 + i % 200);
    for (int dy = -H - 1; dy <= H + 1; dy++)
        for (int dx = -W - 1; dx <= W + 1; dx++) {
            segdata_copy_shifted(x, y, &d, 1, dy, dx, -5.0f);
            for (int r = 0; r < H; r++)
                for (int c = 0; c < W; c++) {
                    int rs = r + dy, cs = c + dx, in = rs >= 0 && rs < H && cs >= 0 && cs < W;
                    float wx = in ? img[H * W + rs * W + cs] : -5.0f;
                    uint8_t wy = in ? lab[H * W + rs * W + cs] : 0;
                    if (x[r * W + c] != wx || y[r * W + c] != wy)
                        fail_msg("shift (%d, %d) pixel (%d, %d): %g/%d, want %g/%d", dy, dx, r, c, x[r * W + c],
                                 y[r * W + c], wx, wy);
                }
        }
}

static void test_patience(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    assert_int_equal(tu_sh("seg-finetune -q -i %s --cases %s --val-cases %s -c %s --log %s --steps 400 --val-every 10 "
                           "--patience 2 " SMALL,
                           tu_tmp("all.fr"), sample("train.txt"), sample("test.txt"), tu_tmp("pa.st"), tu_tmp("pa.jsonl")),
                     0);
    int n = read_log(tu_tmp("pa.jsonl"), recs, 64);
    assert_true(n >= 2);
    mval *stop = mval_map_get(&recs[n - 1], "stopped");
    assert_non_null(stop);
    int64_t best = (int64_t)num(&recs[n - 1], "best_step"), end = (int64_t)num(&recs[n - 1], "step");
    print_message("stopped at step %lld, best at step %lld\n", (long long)end, (long long)best);
    assert_true(end < 400);
    assert_int_equal(end, best + 20);
    assert_int_equal(step_of(tu_tmp("pa.st")), end);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "seg-finetune -i %s --cases %s -c %s --patience 2", tu_tmp("all.fr"), sample("train.txt"),
             tu_tmp("pa2.st"));
    expect_fail(2, "--patience needs validation volumes", cmd);
    snprintf(cmd, sizeof cmd, "seg-finetune -i %s --cases %s -c %s --loss dice --ce-weight 0.5", tu_tmp("all.fr"),
             sample("train.txt"), tu_tmp("pa2.st"));
    expect_fail(2, "--loss dice has no cross-entropy", cmd);
    snprintf(cmd, sizeof cmd, "seg-finetune -i %s --cases %s -c %s --steps 5 --epochs 2", tu_tmp("all.fr"),
             sample("train.txt"), tu_tmp("pa2.st"));
    expect_fail(2, "give one", cmd);
}

static void test_real_run(void **state)
{
    (void)state;
    mval recs[64] = {{0}};
    assert_int_equal(tu_sh("seg-finetune -q -i %s --cases %s --val-cases %s -c %s --best %s --log %s --steps 60 "
                           "--lr 3e-3 --val-every 30 " SMALL,
                           tu_tmp("all.fr"), sample("train.txt"), sample("test.txt"), tu_tmp("run.st"), tu_tmp("best.st"),
                           tu_tmp("run.jsonl")),
                     0);
    int n = read_log(tu_tmp("run.jsonl"), recs, 64);
    int ntrain = 0, nval = 0;
    double first = NAN, last = NAN, loss_first = NAN, loss_last = NAN, ce_first = NAN, ce_last = NAN, best = -1;
    for (int i = 0; i < n; i++) {
        if (!isnan(num(&recs[i], "val_dice"))) {
            nval++;
            assert_non_null(mval_map_get(&recs[i], "val_organs"));
            best = fmax(best, num(&recs[i], "val_dice"));
            assert_true(num(&recs[i], "best_dice") == best);
            continue;
        }
        ntrain++;
        if (isnan(first))
            first = num(&recs[i], "train_dice"), loss_first = num(&recs[i], "loss"), ce_first = num(&recs[i], "ce");
        last = num(&recs[i], "train_dice");
        loss_last = num(&recs[i], "loss");
        ce_last = num(&recs[i], "ce");
        assert_true(num(&recs[i], "lr") == 3e-3);
        assert_true(num(&recs[i], "step") == 10 * ntrain);
        assert_false(isnan(num(&recs[i], "loss")) || isnan(num(&recs[i], "epoch")) ||
                     isnan(num(&recs[i], "steps_per_s")) || isnan(num(&recs[i], "time")));
    }
    print_message("training Dice %.4f -> %.4f, loss %.4f -> %.4f, cross-entropy %.4f -> %.4f, best validation Dice %.4f\n",
                  first, last, loss_first, loss_last, ce_first, ce_last, best);
    assert_int_equal(ntrain, 6);
    assert_int_equal(nval, 2);
    /* the default dice+ce: the cross-entropy teaches the background first */
    assert_true(loss_last < 0.5 * loss_first);
    assert_true(ce_last < 0.15 && ce_last < 0.1 * ce_first);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    ckpt *c = ckpt_open(tu_tmp("best.st"));
    assert_non_null(c);
    assert_string_equal(ckpt_meta(c, "method"), "seg-finetune");
    assert_string_equal(ckpt_meta(c, "arch"), "global+local");
    assert_non_null(ckpt_meta(c, "val_dice"));
    assert_true(fabs(strtod(ckpt_meta(c, "val_dice"), NULL) - best) < 1e-12);
    assert_non_null(strstr(ckpt_meta(c, "classes"), "Mandible"));
    ckpt_close(c);
    assert_int_equal(step_of(tu_tmp("run.st")), 60);
    /* the validation Dice is dice-eval's overall mean on the best network's
     * predictions of the validation volumes */
    assert_int_equal(tu_sh("frame-cat -q --id subj27 --id subj28 %s -o - | seg-finetune --predict %s | "
                           "slice-regroup -t label -t pred | dice-eval --tsv --digits 12 | "
                           "awk -F'\\t' '$1 == \"*\" && $2 == \"*\" && $4 == \"mean\" {print $5}' > %s",
                           tu_tmp("all.fr"), tu_tmp("best.st"), tu_tmp("mean.txt")),
                     0);
    char *m = tu_read(tu_tmp("mean.txt"), NULL);
    assert_non_null(m);
    print_message("dice-eval's mean of the best network: %s", m);
    assert_true(fabs(strtod(m, NULL) - best) < 1e-9);
    free(m);
}

/* ---- predict -> slice-regroup -> dice-eval ---- */

static void test_predict_chain(void **state)
{
    (void)state;
    /* a model of a few steps is enough for the plumbing */
    assert_int_equal(tu_sh("seg-finetune -q -i %s --cases %s -c %s --steps 3 " TINY, tu_tmp("all.fr"),
                           sample("train.txt"), tu_tmp("p.st")),
                     0);
    assert_int_equal(tu_sh("frame-cat -q --id subj27 --id subj28 %s -o %s", tu_tmp("all.fr"), tu_tmp("test.fr")), 0);
    assert_int_equal(tu_sh("seg-finetune --predict %s --batch 5 < %s > %s", tu_tmp("p.st"), tu_tmp("test.fr"),
                           tu_tmp("pred.fr")),
                     0);
    /* same records, same order, pred added */
    stream_in *a = stream_in_open(tu_tmp("test.fr")), *b = stream_in_open(tu_tmp("pred.fr"));
    frame fa, fb;
    int n = 0;
    assert_non_null(a);
    assert_non_null(b);
    while (stream_in_next(a, &fa) > 0) {
        assert_int_equal(stream_in_next(b, &fb), 1);
        assert_string_equal(fa.id, fb.id);
        assert_int_equal(fa.z, fb.z);
        const tensor *p = frame_tensor_get(&fb, "pred"), *l = frame_tensor_get(&fb, "label");
        assert_non_null(p);
        assert_non_null(l);
        assert_int_equal(p->dtype, DT_U8);
        assert_int_equal(p->rank, 2);
        assert_true(tensor_same_shape(p, l));
        for (size_t i = 0; i < tensor_numel(p); i++)
            assert_true(((uint8_t *)p->data)[i] < 8);
        assert_memory_equal(frame_tensor_get(&fa, "image")->data, frame_tensor_get(&fb, "image")->data, 64 * 64 * 4);
        assert_non_null(mval_map_get(&fb.meta, "box"));
        frame_free(&fa);
        frame_free(&fb);
        n++;
    }
    assert_int_equal(stream_in_next(b, &fb), 0);
    stream_in_close(a);
    stream_in_close(b);
    print_message("%d slices predicted\n", n);
    assert_true(n > 100);
    /* the whole chain; dice-eval scores both volumes and all seven organs */
    assert_int_equal(tu_sh("seg-finetune --predict %s < %s | slice-regroup -t label -t pred | dice-eval --tsv > %s",
                           tu_tmp("p.st"), tu_tmp("test.fr"), tu_tmp("dice.tsv")),
                     0);
    char *t = tu_read(tu_tmp("dice.tsv"), NULL);
    assert_non_null(t);
    static const char *organs[] = {"Brainstem", "SpinalCord", "RightParotid", "LeftParotid", "Esophagus", "Larynx",
                                   "Mandible"};
    for (int v = 0; v < 2; v++)
        for (int o = 0; o < 7; o++) {
            char pat[64];
            snprintf(pat, sizeof pat, "%s\t%s\t", v ? "subj28" : "subj27", organs[o]);
            if (!strstr(t, pat))
                fail_msg("dice-eval's table lacks '%s':\n%s", pat, t);
        }
    assert_non_null(strstr(t, "*\t*\t"));
    free(t);
    /* regrouped, each predicted volume has its label's shape */
    assert_int_equal(tu_sh("seg-finetune --predict %s < %s | slice-regroup -t label -t pred > %s", tu_tmp("p.st"),
                           tu_tmp("test.fr"), tu_tmp("vol.fr")),
                     0);
    a = stream_in_open(tu_tmp("vol.fr"));
    n = 0;
    while (stream_in_next(a, &fa) > 0) {
        const tensor *p = frame_tensor_get(&fa, "pred"), *l = frame_tensor_get(&fa, "label");
        assert_non_null(p);
        assert_int_equal(p->rank, 3);
        assert_true(tensor_same_shape(p, l));
        frame_free(&fa);
        n++;
    }
    stream_in_close(a);
    assert_int_equal(n, 2);
}

/* ---- resume ---- */

/* 8 steps at once, or 3 then --resume to 8: the same checkpoint tensors. */
static void test_resume_exact(void **state)
{
    (void)state;
    const char *common = "--batch 4 --save-every 0 --val-every 2 --lr 2e-3 --seed 3 " TINY;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "seg-finetune -q -i %s --cases %s --val-cases %s %s", tu_tmp("all.fr"),
             sample("train.txt"), sample("test.txt"), common);
    assert_int_equal(tu_sh("%s -c %s --steps 8 --best %s", cmd, tu_tmp("r8.st"), tu_tmp("rb8.st")), 0);
    assert_int_equal(tu_sh("%s -c %s --steps 3 --log %s --best %s", cmd, tu_tmp("r3.st"), tu_tmp("r3.jsonl"),
                           tu_tmp("rb3.st")),
                     0);
    assert_int_equal(step_of(tu_tmp("r3.st")), 3);
    assert_int_equal(tu_sh("%s -c %s --steps 8 --log %s --best %s --resume", cmd, tu_tmp("r3.st"), tu_tmp("r3.jsonl"),
                           tu_tmp("rb3.st")),
                     0);
    same_tensors(tu_tmp("r8.st"), tu_tmp("r3.st"));
    same_tensors(tu_tmp("rb8.st"), tu_tmp("rb3.st"));
    mval recs[32] = {{0}};
    int n = read_log(tu_tmp("r3.jsonl"), recs, 32);
    assert_true(num(&recs[n - 1], "step") == 8);
    for (int i = 0; i < n; i++)
        mval_free(&recs[i]);
    /* nothing left to do */
    assert_int_equal(tu_sh("%s -c %s --steps 8 --resume 2>/dev/null", cmd, tu_tmp("r3.st")), 0);
}

/* kill -9 while training: the checkpoint on disk is whole (never half
 * written), and --resume with the same command ends
 * with exactly the checkpoint of a run that was never interrupted. */
static void test_kill_resume(void **state)
{
    (void)state;
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "seg-finetune -q -i %s --cases %s --batch 2 --steps 120 --save-every 7 --log-every 1 --seed 4 " TINY,
             tu_tmp("all.fr"), sample("train.txt"));
    int rc = tu_sh("%s -c %s --log %s & pid=$!; "
                   "for i in $(seq 1 600); do [ \"$(cat %s 2>/dev/null | wc -l)\" -ge 30 ] && break; sleep 0.05; done; "
                   "kill -9 $pid; wait $pid; exit 0",
                   cmd, tu_tmp("k.st"), tu_tmp("k.jsonl"), tu_tmp("k.jsonl"));
    assert_int_equal(rc, 0);
    int64_t s = step_of(tu_tmp("k.st"));
    char *log = tu_read(tu_tmp("k.jsonl"), NULL);
    print_message("killed after %d log lines; checkpoint at step %lld\n", tu_count_lines(log), (long long)s);
    free(log);
    assert_true(s >= 28 && s < 120 && s % 7 == 0);
    /* a kill -9 that lands during a save can leave that save's temporary
     * (nothing runs after SIGKILL); the final name is never half written,
     * which step_of above and the exact resume below prove */
    assert_int_equal(tu_sh("%s -c %s --log %s --resume", cmd, tu_tmp("k.st"), tu_tmp("k.jsonl")), 0);
    assert_int_equal(tu_sh("%s -c %s", cmd, tu_tmp("kref.st")), 0);
    same_tensors(tu_tmp("kref.st"), tu_tmp("k.st"));
}

/* ---- seeds ---- */

/* The same seed and thread count give the same checkpoint, bit for bit
 * (with one thread and with two), another seed another one. */
static void run_seed(const char *out, int seed, int threads)
{
    assert_int_equal(tu_sh("seg-finetune -q -i %s --cases %s -c %s --steps 3 --batch 4 --seed %d "
                           "--widths 4,8,8,8,8 --dim 8 --width 0.0625 --threads %d",
                           tu_tmp("all.fr"), sample("train.txt"), out, seed, threads),
                     0);
}

static double max_diff(const char *a, const char *b)
{
    ckpt *ca = ckpt_open(a), *cb = ckpt_open(b);
    double m = 0;
    assert_non_null(ca);
    assert_non_null(cb);
    for (int i = 0; i < ckpt_ntensors(ca); i++) {
        tensor ta, tb;
        const char *name = ckpt_tensor_name(ca, i);
        assert_int_equal(ckpt_get_tensor(ca, name, &ta), 0);
        assert_int_equal(ckpt_get_tensor(cb, name, &tb), 0);
        if (ta.dtype != DT_F32)
            continue;
        for (size_t k = 0; k < tensor_numel(&ta); k++)
            m = fmax(m, fabs((double)((float *)ta.data)[k] - ((float *)tb.data)[k]));
    }
    ckpt_close(ca);
    ckpt_close(cb);
    return m;
}

static void test_seeds(void **state)
{
    (void)state;
    run_seed(tu_tmp("s0.st"), 7, 1);
    run_seed(tu_tmp("s1.st"), 7, 1);
    run_seed(tu_tmp("s2.st"), 8, 1);
    same_tensors(tu_tmp("s0.st"), tu_tmp("s1.st"));
    double other = max_diff(tu_tmp("s0.st"), tu_tmp("s2.st"));
    assert_true(other > 1e-3);
    run_seed(tu_tmp("t0.st"), 7, 2);
    run_seed(tu_tmp("t1.st"), 7, 2);
    print_message("another seed: max difference %.3g\n", other);
    same_tensors(tu_tmp("t0.st"), tu_tmp("t1.st"));
}

/* ---- pre-trained parts from real lrc-train checkpoints ---- */

/* Pair frames for lrc-train: 8 x 8 blocks as regions, the second view
 * shifted by one pixel. */
static void write_pairs(const char *path, int n, int S)
{
    stream_out *out = stream_out_open(path);
    rng r;
    assert_non_null(out);
    rng_seed(&r, 5, 0);
    assert_int_equal(stream_out_start(out, NULL), 0);
    for (int i = 0; i < n; i++) {
        frame f;
        tensor xq, xp, rq, rp;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, "pairs");
        f.z = i;
        tensor_init2(&xq, DT_F32, S, S), tensor_init2(&xp, DT_F32, S, S);
        tensor_init2(&rq, DT_I32, S, S), tensor_init2(&rp, DT_I32, S, S);
        double level[64];
        for (int k = 0; k < 64; k++)
            level[k] = rng_uniform(&r);
        for (int y = 0; y < S; y++)
            for (int x = 0; x < S; x++) {
                int k = ((y / 8) * (S / 8) + x / 8) % 64, xs = x > 0 ? x - 1 : 0;
                int ks = ((y / 8) * (S / 8) + xs / 8) % 64;
                ((int32_t *)rq.data)[y * S + x] = k;
                ((int32_t *)rp.data)[y * S + x] = ks;
                ((float *)xq.data)[y * S + x] = (float)level[k];
                ((float *)xp.data)[y * S + x] = (float)level[ks];
            }
        frame_tensor_add(&f, "image", &xq);
        frame_tensor_add(&f, "image_p", &xp);
        frame_tensor_add(&f, "regions", &rq);
        frame_tensor_add(&f, "regions_p", &rp);
        assert_int_equal(stream_out_write(out, &f), 0);
        frame_free(&f);
    }
    assert_int_equal(stream_out_end(out), 0);
    assert_int_equal(stream_out_close(out), 0);
}

static void test_pretrained(void **state)
{
    (void)state;
    write_pairs(tu_tmp("pairs.fr"), 8, 32);
    assert_int_equal(tu_sh("lrc-train -q --method lrc --batch 4 -c %s --widths 4,8,8,8,8 --dim 8 --threads 1 < %s",
                           tu_tmp("lrc.st"), tu_tmp("pairs.fr")),
                     0);
    assert_int_equal(tu_sh("lrc-train -q --method moco --batch 4 --queue 16 --embed-dim 8 -c %s --width 0.0625 "
                           "--threads 1 < %s",
                           tu_tmp("moco.st"), tu_tmp("pairs.fr")),
                     0);
    char base[1024];
    snprintf(base, sizeof base, "seg-finetune -q -i %s --cases %s --steps 2 --batch 4 --threads 1", tu_tmp("all.fr"),
             sample("train.txt"));
    /* global + LRC, and the Table 2 control global + global */
    assert_int_equal(tu_sh("%s -c %s --global %s --local %s", base, tu_tmp("gl.st"), tu_tmp("moco.st"), tu_tmp("lrc.st")), 0);
    assert_int_equal(tu_sh("%s -c %s --global %s --global2 %s", base, tu_tmp("gg.st"), tu_tmp("moco.st"), tu_tmp("moco.st")),
                     0);
    /* the pre-trained parts' configurations were taken from the checkpoints */
    ckpt *c = ckpt_open(tu_tmp("gl.st"));
    assert_non_null(c);
    assert_string_equal(ckpt_meta(c, "arch"), "global+local");
    assert_non_null(strstr(ckpt_meta(c, "unet.config"), "\"widths\": [4, 8, 8, 8, 8]"));
    assert_non_null(strstr(ckpt_meta(c, "eg.config"), "\"width\": 0.0625"));
    assert_string_equal(ckpt_meta(c, "init_local"), tu_tmp("lrc.st"));
    ckpt_close(c);
    c = ckpt_open(tu_tmp("gg.st"));
    assert_string_equal(ckpt_meta(c, "arch"), "global+global");
    ckpt_close(c);
    /* wrong kinds, one line each, naming the flag and the file */
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -c %s --global %s", base, tu_tmp("x.st"), tu_tmp("lrc.st"));
    expect_fail(1, "--global ", cmd);
    expect_fail(1, "holds a U-Net (lrc-train --method lrc); the global branch needs a ResNet or ViT encoder", cmd);
    snprintf(cmd, sizeof cmd, "%s -c %s --local %s", base, tu_tmp("x.st"), tu_tmp("moco.st"));
    expect_fail(1, "holds a ResNet encoder (lrc-train --method moco); the local branch needs a U-Net", cmd);
    snprintf(cmd, sizeof cmd, "%s -c %s --local %s", base, tu_tmp("x.st"), tu_tmp("gl.st"));
    expect_fail(1, "is a seg-finetune checkpoint, not a pre-training one", cmd);
    snprintf(cmd, sizeof cmd, "%s -c %s --local %s --widths 8,8,8,8,8", base, tu_tmp("x.st"), tu_tmp("lrc.st"));
    expect_fail(1, "its U-Net's configuration differs from --widths/--dim/--norm", cmd);
    snprintf(cmd, sizeof cmd, "%s -c %s --global %s", base, tu_tmp("x.st"), tu_tmp("nonexistent.st"));
    expect_fail(1, "--global", cmd);
    snprintf(cmd, sizeof cmd, "seg-finetune --predict %s < %s > /dev/null", tu_tmp("lrc.st"), tu_tmp("all.fr"));
    expect_fail(1, "is an lrc-train --method lrc checkpoint, not a fine-tuned network", cmd);
    /* --resume of a checkpoint with another architecture */
    snprintf(cmd, sizeof cmd, "%s --steps 4 -c %s --resume --arch global", base, tu_tmp("gl.st"));
    expect_fail(1, "holds a global+local network, --arch asks for global", cmd);
    /* MAE's ViT as Eg: progressive upsampling as Dg, beside the U-Net or alone; resumed and predicting */
    assert_int_equal(tu_sh("lrc-train -q --method mae --batch 4 --vit 2,32,2 --patch 16 --mae-decoder-depth 1 "
                           "--mae-decoder-width 32 -c %s --threads 1 < %s",
                           tu_tmp("mae.st"), tu_tmp("pairs.fr")),
                     0);
    assert_int_equal(tu_sh("%s -c %s --global %s --local %s", base, tu_tmp("vl.st"), tu_tmp("mae.st"), tu_tmp("lrc.st")), 0);
    assert_int_equal(tu_sh("%s -c %s --global %s --arch global && %s --steps 3 -c %s --resume", base, tu_tmp("vg.st"),
                           tu_tmp("mae.st"), base, tu_tmp("vg.st")),
                     0);
    assert_int_equal(step_of(tu_tmp("vg.st")), 3);
    c = ckpt_open(tu_tmp("vl.st"));
    assert_string_equal(ckpt_meta(c, "arch"), "global+local");
    assert_string_equal(ckpt_meta(c, "eg.model"), "vit");
    assert_string_equal(ckpt_meta(c, "dg.model"), "vitpup");
    ckpt_close(c);
    assert_int_equal(tu_sh("seg-finetune -q --predict %s --threads 1 < %s > %s", tu_tmp("vg.st"), tu_tmp("all.fr"),
                           tu_tmp("vpred.fr")),
                     0);
    stream_in *in = stream_in_open(tu_tmp("vpred.fr"));
    frame f;
    int n = 0, rc;
    assert_non_null(in);
    while ((rc = stream_in_next(in, &f)) > 0) {
        const tensor *p = frame_tensor_get(&f, "pred");
        assert_non_null(p);
        assert_int_equal(p->rank, 2);
        n++;
        frame_free(&f);
    }
    assert_int_equal(rc, 0);
    stream_in_close(in);
    assert_true(n > 10);
    snprintf(cmd, sizeof cmd, "%s -c %s --global %s --width 0.5", base, tu_tmp("x.st"), tu_tmp("mae.st"));
    expect_fail(1, "holds a ViT; --depth/--width/--norm describe a ResNet", cmd);
}

/* ---- bad input ---- */

enum { B_NO_LABEL = 1, B_LABEL_9 = 2, B_NO_CLASSES = 4, B_SIZE_50 = 8, B_FLOAT_LABEL = 16, B_NAN = 32 };

static void write_slices(const char *path, int n, int flags)
{
    stream_out *out = stream_out_open(path);
    static const char *names[] = {"background", "a", "b", "c"};
    assert_non_null(out);
    assert_int_equal(stream_out_start(out, NULL), 0);
    for (int i = 0; i < n; i++) {
        frame f;
        tensor im, lb;
        int S = (flags & B_SIZE_50) && i == 2 ? 50 : 32;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, i < n / 2 ? "v1" : "v2");
        f.z = i;
        tensor_init2(&im, DT_F32, S, S);
        tensor_init2(&lb, (flags & B_FLOAT_LABEL) ? DT_F32 : DT_U8, S, S);
        for (int k = 0; k < S * S; k++) {
            ((float *)im.data)[k] = (float)(k % 7) / 7;
            tensor_set(&lb, (size_t)k, k % 4);
        }
        if ((flags & B_LABEL_9) && i == 3)
            ((uint8_t *)lb.data)[5 * S + 6] = 9;
        if ((flags & B_NAN) && i == 1)
            ((float *)im.data)[7] = NAN;
        frame_tensor_add(&f, "image", &im);
        if (!(flags & B_NO_LABEL) || i != 2)
            frame_tensor_add(&f, "label", &lb);
        else
            tensor_free(&lb);
        if (!(flags & B_NO_CLASSES))
            mval_put_strv(frame_meta(&f), "classes", names, 4);
        assert_int_equal(stream_out_write(out, &f), 0);
        frame_free(&f);
    }
    assert_int_equal(stream_out_end(out), 0);
    assert_int_equal(stream_out_close(out), 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    char cmd[2048];
    const char *run = "seg-finetune --steps 1 --batch 2 " TINY;
#define FAIL(want, msg, ...)                                                                                           \
    do {                                                                                                               \
        snprintf(cmd, sizeof cmd, __VA_ARGS__);                                                                        \
        expect_fail(want, msg, cmd);                                                                                   \
    } while (0)
    write_slices(tu_tmp("nolab.fr"), 6, B_NO_LABEL);
    FAIL(1, "record seq 2 (v1 z 2): no 'label' tensor", "%s -i %s -c %s", run, tu_tmp("nolab.fr"), tu_tmp("b.st"));
    write_slices(tu_tmp("l9.fr"), 6, B_LABEL_9);
    FAIL(1, "record seq 3 (v2 z 3): label value 9 at pixel (5, 6) is not a class (0..3: meta 'classes')",
         "%s -i %s -c %s", run, tu_tmp("l9.fr"), tu_tmp("b.st"));
    write_slices(tu_tmp("nocls.fr"), 6, B_NO_CLASSES);
    FAIL(1, "no meta 'classes' to tell the class count (give --classes N", "%s -i %s -c %s", run, tu_tmp("nocls.fr"),
         tu_tmp("b.st"));
    FAIL(1, "label value 3 at pixel (0, 3) is not a class (0..2: --classes 3)", "%s -i %s -c %s --classes 3", run,
         tu_tmp("nocls.fr"), tu_tmp("b.st"));
    assert_int_equal(tu_sh("%s -q -i %s -c %s --classes 4", run, tu_tmp("nocls.fr"), tu_tmp("b.st")), 0);
    FAIL(1, "meta 'classes' lists 4 classes, --classes says 5", "%s -i %s -c %s --classes 5", run, tu_tmp("l9.fr"),
         tu_tmp("b.st"));
    write_slices(tu_tmp("s50.fr"), 6, B_SIZE_50);
    FAIL(1, "record seq 2 (v1 z 2): a slice of 50x50 pixels, earlier slices are 32x32", "%s -i %s -c %s", run,
         tu_tmp("s50.fr"), tu_tmp("b.st"));
    write_slices(tu_tmp("flab.fr"), 6, B_FLOAT_LABEL);
    FAIL(1, "'label' has dtype f32; label maps are integers", "%s -i %s -c %s", run, tu_tmp("flab.fr"), tu_tmp("b.st"));
    write_slices(tu_tmp("nan.fr"), 6, B_NAN);
    FAIL(1, "record seq 1 (v1 z 1): 'image' holds a NaN or infinite value", "%s -i %s -c %s", run, tu_tmp("nan.fr"),
         tu_tmp("b.st"));
    /* case lists */
    assert_int_equal(tu_sh("printf 'v1\\nv7\\n' > %s; printf '# val\\nv2\\n' > %s; printf 'v1\\nv2\\n' > %s; "
                           ": > %s",
                           tu_tmp("c17.txt"), tu_tmp("c2.txt"), tu_tmp("c12.txt"), tu_tmp("empty.txt")),
                     0);
    write_slices(tu_tmp("ok.fr"), 6, 0);
    FAIL(1, "--cases", "%s -i %s -c %s --cases %s", run, tu_tmp("ok.fr"), tu_tmp("b.st"), tu_tmp("c17.txt"));
    FAIL(1, "volume 'v7' has no slices in", "%s -i %s -c %s --cases %s", run, tu_tmp("ok.fr"), tu_tmp("b.st"),
         tu_tmp("c17.txt"));
    FAIL(1, "volume 'v2' is in both --cases", "%s -i %s -c %s --cases %s --val-cases %s", run, tu_tmp("ok.fr"),
         tu_tmp("b.st"), tu_tmp("c12.txt"), tu_tmp("c2.txt"));
    FAIL(1, "lists no volume id", "%s -i %s -c %s --cases %s", run, tu_tmp("ok.fr"), tu_tmp("b.st"), tu_tmp("empty.txt"));
    FAIL(1, "--val-cases", "%s -i %s -c %s --val-cases %s", run, tu_tmp("ok.fr"), tu_tmp("b.st"), tu_tmp("nonexistent.txt"));
    assert_int_equal(tu_sh("%s -q -i %s -c %s --val-cases %s --best %s", run, tu_tmp("ok.fr"), tu_tmp("b.st"), tu_tmp("c2.txt"),
                           tu_tmp("bb.st")),
                     0);
    /* a volume frame, not slices */
    FAIL(1, "a volume record, not a slice", "ct-resample -q %s | %s -c %s", sample("subj03_ct.nii.gz"), run,
         tu_tmp("b.st"));
    /* predict: no image, bad size */
    assert_int_equal(tu_sh("seg-finetune -q -i %s -c %s --steps 1 --batch 2 " TINY, tu_tmp("ok.fr"), tu_tmp("ok.st")), 0);
    FAIL(1, "no 'image' tensor", "frame-cat -q -t label %s -o - | seg-finetune --predict %s > /dev/null", tu_tmp("ok.fr"),
         tu_tmp("ok.st"));
    FAIL(1, "record seq 2: a slice of 50x50 pixels; the network needs sides that are multiples of 16",
         "seg-finetune --predict %s < %s > /dev/null", tu_tmp("ok.st"), tu_tmp("s50.fr"));
    /* usage */
    FAIL(2, "no checkpoint file", "seg-finetune -i %s", tu_tmp("ok.fr"));
    FAIL(2, "is not an architecture", "seg-finetune -c x --arch foo");
    FAIL(2, "--local: --arch global+global has no local branch", "seg-finetune -c x --arch global+global --local y");
    FAIL(2, "--global2 is the second global branch of --arch global+global", "seg-finetune -c x --arch global+local "
                                                                                "--global2 y");
    FAIL(2, "--predict takes no training options", "seg-finetune --predict x -c y");
    FAIL(2, "--best needs validation volumes", "%s -i %s -c %s --best %s", run, tu_tmp("ok.fr"), tu_tmp("b.st"),
         tu_tmp("bb.st"));
    FAIL(2, "option --empty-keep", "seg-finetune -c x --empty-keep 2");
    FAIL(2, "-o is where --predict writes", "seg-finetune -c x -o y");
    FAIL(2, "option '--no-such-option': unknown", "seg-finetune -c x --no-such-option");
#undef FAIL
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_run),
        cmocka_unit_test(test_dice_loss_learns),
        cmocka_unit_test(test_patience),
        cmocka_unit_test(test_shift_copy),
        cmocka_unit_test(test_predict_chain), cmocka_unit_test(test_resume_exact),
        cmocka_unit_test(test_kill_resume), cmocka_unit_test(test_seeds),         cmocka_unit_test(test_pretrained),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
