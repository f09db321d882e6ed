/* Data-parallel training under mpirun (nn/dist.h): 2 ranks of B equal one
 * process of 2B on the same records, for lrc-train --method lrc and for
 * seg-finetune (group norm, so that the per-rank batch statistics of batch
 * norm do not enter), and for MoCo and DenseCL (their queues take every
 * rank's keys in rank order, shuffle-BN spans the ranks); the global
 * methods run; a failing rank and a killed rank end the job with a
 * message naming it, without hanging; only rank 0 writes; what cannot run
 * on several ranks is one usage error. */
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

/* Two ranks on this 2-core machine, shared with other jobs: no binding to
 * cores, one engine thread per rank. */
#define MPIRUN "mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2"
/* A tiny U-Net (group norm: widths multiples of its 8 groups). */
#define LRC "lrc-train --method lrc --widths 8,8,8,8,8 --dim 8 --norm group --threads 1 --shuffle-buffer 1"
#define SEG "seg-finetune --widths 8,8,8,8,8 --dim 8 --width 0.125 --norm group --threads 1 --val-every 0"

/* n pair frames of 32x32: 8x8 blocks as regions, the positive view shifted
 * by one pixel. Record 3 is one column narrower with bad_shape. The pairs
 * are written in the order order[0..n) of their making (NULL: as made). */
static void write_pairs_ordered(const char *path, int n, int bad_shape, const int *order)
{
    enum { H = 32, W = 32 };
    stream_out *out = stream_out_open(path);
    frame *fs = calloc((size_t)n, sizeof *fs);
    rng r;
    assert_non_null(out);
    assert_non_null(fs);
    rng_seed(&r, 11, 0);
    assert_int_equal(stream_out_start(out, NULL), 0);
    for (int i = 0; i < n; i++) {
        frame *fp = &fs[i], f;
        tensor xq, xp, rq, rp;
        int Wp = bad_shape && i == 3 ? W - 1 : W;
        double level[16];
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, "synthetic");
        f.z = i;
        tensor_init2(&xq, DT_F32, H, W);
        tensor_init2(&xp, DT_F32, H, Wp);
        tensor_init2(&rq, DT_I32, H, W);
        tensor_init2(&rp, DT_I32, H, Wp);
        for (int k = 0; k < 16; k++)
            level[k] = rng_uniform(&r);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int k = (y / 8) * (W / 8) + x / 8;
                ((int32_t *)rq.data)[y * W + x] = k;
                ((float *)xq.data)[y * W + x] = (float)(level[k] + 0.05 * rng_normal(&r));
            }
        for (int y = 0; y < H; y++)
            for (int x = 0; x < Wp; x++) {
                int xs = x > 0 ? x - 1 : 0;
                ((int32_t *)rp.data)[y * Wp + x] = ((int32_t *)rq.data)[y * W + xs];
                ((float *)xp.data)[y * Wp + x] = ((float *)xq.data)[y * W + xs];
            }
        frame_tensor_add(&f, "image", &xq);
        frame_tensor_add(&f, "image_p", &xp);
        frame_tensor_add(&f, "regions", &rq);
        frame_tensor_add(&f, "regions_p", &rp);
        *fp = f;
    }
    for (int i = 0; i < n; i++) {
        assert_int_equal(stream_out_write(out, &fs[order ? order[i] : i]), 0);
        frame_free(&fs[order ? order[i] : i]);
    }
    free(fs);
    assert_int_equal(stream_out_end(out), 0);
    assert_int_equal(stream_out_close(out), 0);
}

static void write_pairs(const char *path, int n, int bad_shape)
{
    write_pairs_ordered(path, n, bad_shape, NULL);
}

/* n labelled slices of 32x32 in two volumes: organs 1..3 as discs at
 * random places, the image their intensity plus noise. */
static void write_slices(const char *path, int n)
{
    enum { S = 32 };
    static const char *names[] = {"background", "a", "b", "c"};
    stream_out *out = stream_out_open(path);
    rng r;
    assert_non_null(out);
    rng_seed(&r, 12, 0);
    assert_int_equal(stream_out_start(out, NULL), 0);
    for (int i = 0; i < n; i++) {
        frame f;
        tensor im, lb;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, i < n / 2 ? "v1" : "v2");
        f.z = i;
        tensor_init2(&im, DT_F32, S, S);
        tensor_init2(&lb, DT_U8, S, S);
        for (int c = 1; c <= 3; c++) {
            double cy = 6 + 20 * rng_uniform(&r), cx = 6 + 20 * rng_uniform(&r), rad = 3 + 3 * rng_uniform(&r);
            for (int y = 0; y < S; y++)
                for (int x = 0; x < S; x++)
                    if ((y - cy) * (y - cy) + (x - cx) * (x - cx) < rad * rad)
                        ((uint8_t *)lb.data)[y * S + x] = (uint8_t)c;
        }
        for (int k = 0; k < S * S; k++)
            ((float *)im.data)[k] = (float)(0.25 * ((uint8_t *)lb.data)[k] + 0.1 * rng_normal(&r));
        frame_tensor_add(&f, "image", &im);
        frame_tensor_add(&f, "label", &lb);
        mval_put_strv(frame_meta(&f), "classes", names, 4);
        assert_int_equal(stream_out_write(out, &f), 0);
        frame_free(&f);
    }
    assert_int_equal(stream_out_end(out), 0);
    assert_int_equal(stream_out_close(out), 0);
}

/* The largest difference between two checkpoints' float32 tensors: of the
 * parameters (grads 0; optimiser state left out), or of Adam's first moment
 * (grads 1), which after one step at --lr 0 is (1 - beta1) g, relative to
 * each tensor's largest |g|. */
static double max_diff(const char *pa, const char *pb, int grads, int *compared)
{
    ckpt *a = ckpt_open(pa), *b = ckpt_open(pb);
    double worst = 0;
    if (!a || !b)
        fail_msg("%s", err_get());
    assert_int_equal(ckpt_ntensors(a), ckpt_ntensors(b));
    *compared = 0;
    for (int i = 0; i < ckpt_ntensors(a); i++) {
        const char *name = ckpt_tensor_name(a, i);
        tensor ta, tb;
        if (grads ? !strstr(name, "exp_avg.") : !!strstr(name, "optim."))
            continue;
        if (ckpt_get_tensor(a, name, &ta) || ckpt_get_tensor(b, name, &tb))
            fail_msg("%s: %s", name, err_get());
        if (ta.dtype != DT_F32)
            continue;
        assert_int_equal(tensor_numel(&ta), tensor_numel(&tb));
        const float *x = ta.data, *y = tb.data;
        double d = 0, scale = 0;
        for (size_t k = 0; k < tensor_numel(&ta); k++) {
            d = fmax(d, fabs((double)x[k] - y[k]));
            scale = fmax(scale, fabs((double)y[k]));
        }
        worst = fmax(worst, grads ? (scale > 0 ? d / scale : d) : d);
        (*compared)++;
    }
    ckpt_close(a);
    ckpt_close(b);
    return worst;
}

/* CMD (a trainer's command line but --batch and -c) in the scratch
 * folder as 2 ranks of --batch B (with --log NAME-2.jsonl), as 1 process
 * of 2B, and as a control, 1 process of B, which sees other batches:
 * NAME-2.st, NAME-1.st, NAME-c.st. stderr of the 2 ranks in *err. */
static void three_runs(const char *cmd, int B, const char *name, char **err)
{
    int rc = tu_sh_err(err, "cd %s && " MPIRUN " %s --batch %d -c %s-2.st --log %s-2.jsonl", tu_tmpdir(), cmd, B,
                       name, name);
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, *err);
    assert_int_equal(tu_sh("cd %s && %s -q --batch %d -c %s-1.st", tu_tmpdir(), cmd, 2 * B, name), 0);
    assert_int_equal(tu_sh("cd %s && %s -q --batch %d -c %s-c.st", tu_tmpdir(), cmd, B, name), 0);
}

/* NAME-2 within tol of NAME-1, and the control NAME-c more than ctl away
 * from NAME-2: the check can fail. */
static void expect_same(const char *name, int grads, double tol, double ctl)
{
    char a[64], b[64], c[64];
    int n;
    snprintf(a, sizeof a, "%s-2.st", name);
    snprintf(b, sizeof b, "%s-1.st", name);
    snprintf(c, sizeof c, "%s-c.st", name);
    double same = max_diff(tu_tmp(a), tu_tmp(b), grads, &n), other = max_diff(tu_tmp(a), tu_tmp(c), grads, &n);
    print_message("%s: largest %s difference %.3g (2 ranks against 1 process), %.3g (against the control); "
                  "%d tensors\n",
                  name, grads ? "relative gradient" : "parameter", same, other, n);
    assert_true(n > 10);
    assert_true(same <= tol);
    assert_true(other > ctl);
}

/* lrc-train: 2 ranks x 4 pairs (records seq % 2 == rank) against 1 x 8 on
 * the same pairs. First the gradients of one step (Adam's first moment
 * after a step at --lr 0): they must agree to float rounding (5e-7 of the
 * largest measured), which a wrong weighing, sum or shard breaks. Then
 * the parameters after 3 steps. Adam's first step is lr g / (|g| + eps),
 * so a weight whose gradient is near eps moves by lr times that rounding
 * noise over |g| + eps: up to ~0.2 lr has been measured (build with
 * SANITIZE=1), hence lr 1e-5 for the 1e-5 bound. */
static void test_lrc_two_ranks(void **state)
{
    (void)state;
    char *err = NULL;
    write_pairs(tu_tmp("pairs.fr"), 24, 0);
    three_runs(LRC " --lr 0 --steps 1 --seed 5 -i pairs.fr", 4, "lrcg", &err);
    free(err);
    expect_same("lrcg", 1, 1e-5, 1e-2);
    const char *run = LRC " --lr 1e-5 --steps 3 --seed 5 -i pairs.fr";
    three_runs(run, 4, "lrc", &err);
    assert_non_null(strstr(err, "2 ranks x 4 pairs = 8 pairs per step"));
    free(err);
    expect_same("lrc", 0, 1e-5, 2e-5);
    /* rank 0 alone wrote the log: its start record, then one line per step */
    char *log = tu_read(tu_tmp("lrc-2.jsonl"), NULL);
    assert_non_null(log);
    assert_int_equal(tu_count_lines(log), 4);
    assert_non_null(strstr(log, "\"effective_batch\": 8"));
    free(log);
    /* the same seed on the same ranks: the same checkpoint, bit for bit (the
     * command line is in it: the same one) */
    assert_int_equal(tu_sh("cd %s && mv lrc-2.st lrc-2.first", tu_tmpdir()), 0);
    assert_int_equal(tu_sh_err(&err, "cd %s && " MPIRUN " %s --batch 4 -c lrc-2.st --log lrc-2.jsonl", tu_tmpdir(), run),
                     0);
    free(err);
    assert_int_equal(tu_sh("cmp %s %s", tu_tmp("lrc-2.st"), tu_tmp("lrc-2.first")), 0);
}

/* seg-finetune: 2 ranks x 3 slices against 1 x 6 (the batch of 6 split,
 * shifts included), the gradients of one step and the parameters after 3
 * steps at the default lr 1e-3 (measured: 6e-7). */
static void test_seg_two_ranks(void **state)
{
    (void)state;
    char *err = NULL;
    write_slices(tu_tmp("slices.fr"), 12);
    three_runs(SEG " --lr 0 --steps 1 --seed 4 -i slices.fr", 3, "segg", &err);
    free(err);
    expect_same("segg", 1, 1e-5, 1e-2);
    three_runs(SEG " --steps 3 --seed 4 -i slices.fr", 3, "seg", &err);
    assert_non_null(strstr(err, "2 ranks x 3 slices = 6 slices per step"));
    free(err);
    expect_same("seg", 0, 1e-5, 1e-4);
}

/* --sync-bn: CMD (with batch norm) in the scratch folder as 2 ranks of
 * --batch B with --sync-bn, as 1 process of 2B with it (where it changes
 * nothing), and as a control, 2 ranks of B without it (batch statistics
 * per rank): NAME-2.st, NAME-1.st, NAME-c.st, for expect_same. */
static void sync_runs(const char *cmd, int B, const char *name)
{
    char *err = NULL;
    int rc = tu_sh_err(&err, "cd %s && " MPIRUN " %s --sync-bn --batch %d -c %s-2.st", tu_tmpdir(), cmd, B, name);
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, err);
    free(err);
    assert_int_equal(tu_sh("cd %s && %s -q --sync-bn --batch %d -c %s-1.st", tu_tmpdir(), cmd, 2 * B, name), 0);
    assert_int_equal(tu_sh("cd %s && " MPIRUN " %s -q --batch %d -c %s-c.st", tu_tmpdir(), cmd, B, name), 0);
}

/* --sync-bn with batch norm: 2 ranks x B equal 1 process x 2B, as with
 * group norm above: the gradients of one step at --lr 0 to 1e-5 of the
 * largest (relative; measured 2e-6 to 4e-6), so the batch norm backward
 * with all ranks' sums agrees with the one-process kernel (itself checked
 * against finite differences in test_nn); then after 3 steps at --lr 1e-5
 * the parameters and batch norm's running statistics (the compared
 * tensors include them) to 1e-5 (measured 2.4e-7). Without --sync-bn the
 * statistics are per rank and both differ (the control: 0.04 and more).
 * The seeds are chosen: the ranks' batch statistics equal the one
 * process's to float rounding only (other summation order), and where an
 * activation lies within that rounding of a fused ReLU's 0 the gate flips
 * and one element's gradient moves from one side to the other (seen as up
 * to 1e-3 relative on a tiny bias gradient, lrc-train --seed 2), which
 * Adam then turns into a step of about lr. On one process --sync-bn
 * changes nothing, and a global method refuses it on several ranks. */
static void test_sync_bn(void **state)
{
    (void)state;
    char cmd[512], *err = NULL;
    int n;
    write_pairs(tu_tmp("sb.fr"), 24, 0);
    write_slices(tu_tmp("sbs.fr"), 12);
    const char *lrc = "lrc-train --method lrc --widths 8,8,8,8,8 --dim 8 --threads 1 --shuffle-buffer 1 --seed 5 "
                      "-i sb.fr";
    const char *seg = "seg-finetune --widths 8,8,8,8,8 --dim 8 --width 0.125 --threads 1 --val-every 0 --seed 6 "
                      "-i sbs.fr";
    snprintf(cmd, sizeof cmd, "%s --lr 0 --steps 1", lrc);
    sync_runs(cmd, 4, "sbg");
    expect_same("sbg", 1, 1e-5, 1e-2);
    snprintf(cmd, sizeof cmd, "%s --lr 1e-5 --steps 3", lrc);
    sync_runs(cmd, 4, "sb");
    expect_same("sb", 0, 1e-5, 1e-3);
    snprintf(cmd, sizeof cmd, "%s --lr 0 --steps 1", seg);
    sync_runs(cmd, 3, "sbsg");
    expect_same("sbsg", 1, 1e-5, 1e-2);
    snprintf(cmd, sizeof cmd, "%s --lr 1e-5 --steps 3", seg);
    sync_runs(cmd, 3, "sbs");
    expect_same("sbs", 0, 1e-5, 1e-3);
    assert_int_equal(tu_sh("cd %s && %s -q --lr 1e-5 --steps 3 --batch 8 -c sb-plain.st", tu_tmpdir(), lrc), 0);
    assert_true(max_diff(tu_tmp("sb-plain.st"), tu_tmp("sb-1.st"), 0, &n) == 0);
    int rc = tu_sh_err(&err, "cd %s && timeout 60 " MPIRUN " lrc-train --method moco --sync-bn --batch 4 -i sb.fr "
                       "-c sbm.st", tu_tmpdir());
    if (rc != 2 || !strstr(err, "--sync-bn is for --method lrc"))
        fail_msg("exit %d (want 2), stderr: %s", rc, err);
    free(err);
}

/* The global methods of egtrainer.h on 2 ranks (their augmentations are
 * drawn per rank, so no one-process twin): they run, log the effective
 * batch, and the same seed gives the same checkpoint. */
static void test_global_methods(void **state)
{
    (void)state;
    static const char *methods[] = {"rotation", "byol", "genesis", "mae"};
    write_pairs(tu_tmp("g.fr"), 16, 0);
    for (int m = 0; m < 4; m++) {
        char *err = NULL, cmd[1024];
        snprintf(cmd, sizeof cmd,
                 "cd %s && " MPIRUN " lrc-train --method %s %s --threads 1 --batch 4 --steps 2 --seed 3 -i g.fr -c g.st",
                 tu_tmpdir(), methods[m],
                 m == 3 ? "--vit 2,32,2 --patch 8 --mae-decoder-depth 1 --mae-decoder-width 32"
                        : "--depth 18 --width 0.0625 --embed-dim 16 --hidden 24");
        int rc = tu_sh_err(&err, "%s", cmd);
        if (rc || !strstr(err, "2 ranks x 4 pairs = 8 pairs per step"))
            fail_msg("%s: exit %d, stderr: %s", methods[m], rc, err);
        free(err);
        assert_int_equal(tu_sh("cd %s && mv g.st g0.st", tu_tmpdir()), 0);
        assert_int_equal(tu_sh("%s 2>/dev/null && cmp g.st g0.st", cmd), 0);
    }
}

/* MoCo (tiny: ResNet-18 x 0.125 of 8..64 channels, 16 dims, a queue of
 * 64), without the pairs shuffled, at a fixed rate (the default scales
 * with the batch). */
#define MOCO "lrc-train -q --method moco --depth 18 --width 0.125 --embed-dim 16 --queue 64 --threads 1 " \
             "--shuffle-buffer 1 --lr 0.01 --seed 3"

/* DenseCL likewise: its two queues, each of 64. */
#define DENSECL "lrc-train -q --method densecl --depth 18 --width 0.125 --embed-dim 16 --queue 64 --threads 1 " \
                "--shuffle-buffer 1 --lr 0.01 --seed 3"

/* The queue `name` (rows, K x 16) and its pointer (name_ptr) in checkpoint path. */
static float *read_queue(const char *path, const char *name, int64_t *ptr, int *rows)
{
    ckpt *c = ckpt_open(path);
    tensor q, p;
    char pname[64];
    snprintf(pname, sizeof pname, "%s_ptr", name);
    if (!c || ckpt_get_tensor(c, name, &q) || ckpt_get_tensor(c, pname, &p))
        fail_msg("%s: %s: %s", path, name, err_get());
    assert_int_equal(q.dtype, DT_F32);
    assert_int_equal(q.shape[1], 16);
    *rows = (int)q.shape[0];
    *ptr = *(const int64_t *)p.data;
    float *v = malloc(tensor_nbytes(&q));
    assert_non_null(v);
    memcpy(v, q.data, tensor_nbytes(&q));
    ckpt_close(c);
    return v;
}

/* The largest difference between row a[i] and row b[map[i]], i < n. */
static double rows_diff(const float *a, const float *b, const int *map, int n)
{
    double d = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < 16; j++)
            d = fmax(d, fabs((double)a[i * 16 + j] - b[map[i] * 16 + j]));
    return d;
}

/* After one step on 2 ranks x 4 pairs each queue holds every rank's keys
 * in rank order: rank 0's (records 0 2 4 6, its shard) in rows 0..3,
 * rank 1's (1 3 5 7) in rows 4..7, the pointer at 8, rows 8.. the initial
 * queue. The reference is a one-process run of 8 pairs (records 0..7,
 * keys in record order): with group norm a key depends on its own image
 * alone, not on the sub-batch shuffle-BN put it in, so it must agree to
 * float rounding (1e-5), whatever permutation was drawn. The rows matched
 * in record order instead must not (a check that can fail). CMD is the
 * trainer without --batch, -i, -c; queues its queues' names. */
static void queue_order(const char *cmd, const char *name, const char *const *queues, int nq)
{
    static const int rank_order[8] = {0, 2, 4, 6, 1, 3, 5, 7}, ident[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    char *err = NULL, fr[64];
    int64_t p2, p1;
    int k2, k1;
    snprintf(fr, sizeof fr, "%s.fr", name);
    write_pairs(tu_tmp(fr), 8, 0);
    int rc = tu_sh_err(&err, "cd %s && " MPIRUN " %s --norm group --bn-splits 2 --batch 4 --steps 1 -i %s -c %s-2.st",
                       tu_tmpdir(), cmd, fr, name);
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, err);
    free(err);
    assert_int_equal(tu_sh("cd %s && %s --norm group --bn-splits 2 --batch 8 --steps 1 -i %s -c %s-1.st", tu_tmpdir(),
                           cmd, fr, name), 0);
    for (int i = 0; i < nq; i++) {
        char a[64], b[64];
        snprintf(a, sizeof a, "%s-2.st", name);
        snprintf(b, sizeof b, "%s-1.st", name);
        float *q2 = read_queue(tu_tmp(a), queues[i], &p2, &k2), *q1 = read_queue(tu_tmp(b), queues[i], &p1, &k1);
        assert_int_equal(k2, 64);
        assert_int_equal(k1, 64);
        assert_int_equal(p2, 8);
        assert_int_equal(p1, 8);
        double same = rows_diff(q2, q1, rank_order, 8), other = rows_diff(q2, q1, ident, 8);
        double rest = rows_diff(q2 + 8 * 16, q1 + 8 * 16, ident, 8); /* rows 8..15: the initial queue, alike */
        print_message("%s rows 0..7 of 2 ranks against 1 process: %.3g in rank order, %.3g in record order; "
                      "rows 8..15 %.3g\n", queues[i], same, other, rest);
        assert_true(same <= 1e-5);
        assert_true(other > 1e-3);
        assert_true(rest == 0);
        free(q2);
        free(q1);
    }
}

static void test_moco_queue_order(void **state)
{
    (void)state;
    static const char *const queues[] = {"moco.queue"};
    queue_order(MOCO, "mq", queues, 1);
}

/* DenseCL, as MoCo: both queues, the global keys and the dense queue's
 * pooled ones. */
static void test_densecl_queue_order(void **state)
{
    (void)state;
    static const char *const queues[] = {"densecl.queue", "densecl.queue2"};
    queue_order(DENSECL, "dq", queues, 2);
}

/* The largest difference of the trained parameters (F32, not the
 * optimiser's, not batch norm's running statistics) and of the queues. */
static void moco_diff(const char *pa, const char *pb, double *params, double *queue, int *n)
{
    ckpt *a = ckpt_open(pa), *b = ckpt_open(pb);
    if (!a || !b)
        fail_msg("%s", err_get());
    *params = *queue = 0;
    *n = 0;
    for (int i = 0; i < ckpt_ntensors(a); i++) {
        const char *name = ckpt_tensor_name(a, i);
        tensor ta, tb;
        if (strstr(name, "optim") || strstr(name, "running_"))
            continue;
        if (ckpt_get_tensor(a, name, &ta) || ckpt_get_tensor(b, name, &tb))
            fail_msg("%s: %s", name, err_get());
        if (ta.dtype != DT_F32)
            continue;
        assert_int_equal(tensor_numel(&ta), tensor_numel(&tb));
        double *d = strstr(name, ".queue") ? queue : params; /* moco.queue, densecl.queue, densecl.queue2 */
        for (size_t k = 0; k < tensor_numel(&ta); k++)
            *d = fmax(*d, fabs((double)((const float *)ta.data)[k] - ((const float *)tb.data)[k]));
        (*n)++;
    }
    ckpt_close(a);
    ckpt_close(b);
}

/* With batch norm and shuffle-BN: CMD (the trainer without --bn-splits,
 * --batch, --steps, -i, -c) 3 steps on 2 ranks x 4 pairs (--bn-splits 1:
 * each rank encodes 4 of the 8 shuffled keys) against 1 process x 8
 * (--bn-splits 2: 2 sub-batches of 4 of the same permutation, drawn from
 * the same stream) on the same pairs. For the batch statistics to be those
 * of the same images, the one process reads the records in the ranks'
 * order (each 8: the even ones, then the odd ones), so its query
 * sub-batches are the ranks' batches and its shuffled key batch is the
 * ranks' gathered one. Then the trained parameters and the queues agree
 * to float rounding (1e-5; measured 6e-8 for MoCo: the ranks sum two
 * halves of the gradient where the one process accumulates them). Batch
 * norm's running statistics are left out: rank 0's follow its own
 * sub-batches only, the one process's both (DDP's per-rank buffers). The
 * control reads the records in file order: other sub-batches, so other
 * statistics. Then the same seed gives the same checkpoint. Files NAME.fr,
 * NAME-ranks.fr, NAME-2.st (2 ranks), NAME-1.st, NAME-c.st. */
static void two_ranks(const char *cmd, const char *name)
{
    int order[24], n;
    char *err = NULL, run[1024], f[5][64];
    for (int i = 0; i < 24; i++)
        order[i] = (i / 8) * 8 + (i % 8 < 4 ? 2 * (i % 8) : 2 * (i % 8 - 4) + 1);
    snprintf(f[0], sizeof f[0], "%s.fr", name);
    snprintf(f[1], sizeof f[1], "%s-2.st", name);
    snprintf(f[2], sizeof f[2], "%s-1.st", name);
    snprintf(f[3], sizeof f[3], "%s-c.st", name);
    snprintf(f[4], sizeof f[4], "%s-ranks.fr", name);
    write_pairs(tu_tmp(f[0]), 24, 0);
    write_pairs_ordered(tu_tmp(f[4]), 24, 0, order);
    snprintf(run, sizeof run, "%s --bn-splits 1 --batch 4 --steps 3 -i %s -c %s", cmd, f[0], f[1]);
    int rc = tu_sh_err(&err, "cd %s && " MPIRUN " %s", tu_tmpdir(), run);
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, err);
    free(err);
    assert_int_equal(tu_sh("cd %s && %s --bn-splits 2 --batch 8 --steps 3 -i %s -c %s", tu_tmpdir(), cmd, f[4], f[2]),
                     0);
    assert_int_equal(tu_sh("cd %s && %s --bn-splits 2 --batch 8 --steps 3 -i %s -c %s", tu_tmpdir(), cmd, f[0], f[3]),
                     0);
    double p, q, pc, qc;
    moco_diff(tu_tmp(f[1]), tu_tmp(f[2]), &p, &q, &n);
    moco_diff(tu_tmp(f[1]), tu_tmp(f[3]), &pc, &qc, &n);
    print_message("%s: 2 ranks against 1 process: parameters %.3g, queues %.3g; against the control %.3g, %.3g; "
                  "%d tensors\n", name, p, q, pc, qc, n);
    assert_true(n > 10);
    assert_true(p <= 1e-5 && q <= 1e-5);
    assert_true(pc > 1e-4 && qc > 1e-2);
    assert_int_equal(tu_sh("cd %s && mv %s %s.first && " MPIRUN " %s 2>/dev/null && cmp %s %s.first", tu_tmpdir(), f[1],
                           f[1], run, f[1], f[1]), 0);
}

/* drop_last on 2 ranks: 20 records, 10 a rank, make 2 full batches of 4
 * each, 16 pairs; the short last batch ends the run (cmd: a trainer's
 * command line but --batch, -i and -c; name: its files' stem). */
static void drop_last(const char *cmd, const char *name)
{
    char fr[64], st[64];
    snprintf(fr, sizeof fr, "%s20.fr", name);
    snprintf(st, sizeof st, "%s20.st", name);
    write_pairs(tu_tmp(fr), 20, 0);
    assert_int_equal(tu_sh("cd %s && " MPIRUN " %s --batch 4 -i %s -c %s 2>/dev/null", tu_tmpdir(), cmd, fr, st), 0);
    ckpt *c = ckpt_open(tu_tmp(st));
    assert_non_null(c);
    assert_int_equal(ckpt_step(c), 2);
    assert_string_equal(ckpt_meta(c, "pairs"), "16");
    ckpt_close(c);
}

/* MoCo as two_ranks. Then: 20 records end after 2 steps (the short last
 * batch dropped); a 2-rank checkpoint resumes on 2 ranks and on one
 * process, the queue pointer going on by 8 a step. */
static void test_moco_two_ranks(void **state)
{
    (void)state;
    two_ranks(MOCO, "m");
    drop_last(MOCO, "m");
    /* --resume on 2 ranks, then on 1 process with the same 8 pairs a step */
    int64_t ptr;
    int rows;
    assert_int_equal(tu_sh("cd %s && " MPIRUN " %s --resume --steps 4 2>/dev/null", tu_tmpdir(),
                           MOCO " --bn-splits 1 --batch 4 -i m.fr -c m-2.st"), 0);
    free(read_queue(tu_tmp("m-2.st"), "moco.queue", &ptr, &rows));
    assert_int_equal(ptr, 32);
    assert_int_equal(tu_sh("cd %s && " MOCO " --batch 8 --resume --steps 5 -i m.fr -c m-2.st", tu_tmpdir()), 0);
    free(read_queue(tu_tmp("m-2.st"), "moco.queue", &ptr, &rows));
    assert_int_equal(ptr, 40);
    ckpt *c = ckpt_open(tu_tmp("m-2.st"));
    assert_non_null(c);
    assert_int_equal(ckpt_step(c), 5);
    ckpt_close(c);
}

/* DenseCL as two_ranks (its dense term matches each rank's queries to the
 * key maps of its own pairs, un-shuffled from whichever rank encoded
 * them). Then: 20 records end after 2 steps (the short last batch
 * dropped, as MoCo's all-gathers need), and a 2-rank checkpoint resumes on
 * one process (its --bn-splits is among the checked settings), both queue
 * pointers going on by 8. */
static void test_densecl_two_ranks(void **state)
{
    (void)state;
    two_ranks(DENSECL, "d");
    drop_last(DENSECL, "d");
    assert_int_equal(tu_sh("cd %s && " DENSECL " --bn-splits 1 --batch 8 --resume --steps 4 -i d.fr -c d-2.st", tu_tmpdir()), 0);
    for (int i = 0; i < 2; i++) {
        int64_t ptr;
        int rows;
        free(read_queue(tu_tmp("d-2.st"), i ? "densecl.queue2" : "densecl.queue", &ptr, &rows));
        assert_int_equal(ptr, 32);
    }
}

/* A ZeroMQ producer feeding 2 ranks: frame-cat binds a PUSH socket, every
 * rank connects a PULL to it (-i tcp://...) and each record goes to one
 * rank. 21 records cannot split evenly, and at --batch 1 the larger share
 * takes at least one step more than the smaller: the ranks go on until
 * every share has ended, the rank without pairs stepping with none, so all
 * 21 records are trained, once each (the checkpoint counts 21 pairs, in at
 * least 11 steps); stopping at the first rank's end, as from a file, trains
 * fewer, whatever the split. A producer that stops without its end
 * record (its input truncated) is an error once the ranks have ended.
 * LRCPIPE_TIMEOUT turns a lost producer into an error rather than a hang. */
static void test_zmq_producer(void **state)
{
    (void)state;
    char *err = NULL;
    const int port = tu_port();
    write_pairs(tu_tmp("zq.fr"), 7, 0);
    /* the producer's records flow only once both ranks have had 5 s to
     * connect: a rank that connects after the producer has sent everything
     * and left would wait for it until LRCPIPE_TIMEOUT */
    int rc = tu_sh_err(&err, "cd %s || exit 1; export LRCPIPE_GRACE=500 LRCPIPE_HWM=64 LRCPIPE_TIMEOUT=60; "
                       "rm -f zq.fifo; mkfifo zq.fifo; (frame-cat -o @tcp://127.0.0.1:%d zq.fifo; echo $? > prod.rc) & "
                       "(sleep 5; cat zq.fr zq.fr zq.fr > zq.fifo) & "
                       "timeout 120 " MPIRUN " " LRC " --batch 1 --seed 1 -i tcp://127.0.0.1:%d -c zq.st; rc=$?; wait; "
                       "exit $rc",
                       tu_tmpdir(), port, port);
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, err);
    free(err);
    int port2 = tu_port();
    char *prc = tu_read(tu_tmp("prod.rc"), NULL);
    assert_non_null(prc);
    assert_int_equal(atoi(prc), 0);
    free(prc);
    ckpt *c = ckpt_open(tu_tmp("zq.st"));
    assert_non_null(c);
    print_message("21 records from one producer: %s pairs trained in %lld steps\n", ckpt_meta(c, "pairs"),
                  (long long)ckpt_step(c));
    assert_string_equal(ckpt_meta(c, "pairs"), "21");
    assert_true(ckpt_step(c) >= 11);
    ckpt_close(c);
    /* the producer's input cut after a few records: no end record comes */
    rc = tu_sh_err(&err, "cd %s || exit 1; head -c 100000 zq.fr > cut.fr; export LRCPIPE_GRACE=500 LRCPIPE_TIMEOUT=30; "
                   "mkfifo cut.fifo; (frame-cat -o @tcp://127.0.0.1:%d cut.fifo 2>/dev/null &); "
                   "(sleep 2; cat cut.fr > cut.fifo) & timeout 120 " MPIRUN " " LRC
                   " --batch 2 --seed 1 -i tcp://127.0.0.1:%d -c cut.st",
                   tu_tmpdir(), port2, port2);
    if (rc != 1 || !strstr(err, "the producer stopped without its end record after"))
        fail_msg("exit %d (want 1), stderr: %s", rc, err);
    free(err);
}

/* A rank that fails (rank 1 reads the bad record 3 of its share) ends the
 * job: exit 1, its message naming it, no hang. */
static void test_rank_fails(void **state)
{
    (void)state;
    char *err = NULL;
    write_pairs(tu_tmp("bad.fr"), 16, 1);
    time_t t0 = time(NULL);
    int rc = tu_sh_err(&err, "cd %s && timeout 60 " MPIRUN " " LRC " --batch 2 --seed 1 -i bad.fr -c bad.st",
                       tu_tmpdir());
    print_message("exit %d after %lld s\n", rc, (long long)(time(NULL) - t0));
    if (rc != 1 || !strstr(err, "lrc-train: rank 1: record seq 3: 'image_p' is 32x31"))
        fail_msg("exit %d (want 1), stderr: %s", rc, err);
    free(err);
    assert_int_not_equal(access(tu_tmp("bad.st"), F_OK), 0);
}

/* What cannot run on several ranks is a usage error, said once (by rank 0):
 * MoCo's and DenseCL's queues must take a whole number of steps' keys. */
static void test_usage_error_once(void **state)
{
    (void)state;
    static const char *const methods[] = {"moco", "densecl"};
    char *err = NULL;
    const char *msg = "lrc-train: rank 0: --queue 4096 is not a multiple of the 6 keys a step adds (2 ranks x "
                      "--batch 3) (see lrc-train --help)";
    int rc;
    write_pairs(tu_tmp("u.fr"), 4, 0);
    for (int m = 0; m < 2; m++) {
        rc = tu_sh_err(&err, "cd %s && timeout 60 " MPIRUN " lrc-train --method %s --batch 3 --bn-splits 1 -i u.fr "
                       "-c u.st", tu_tmpdir(), methods[m]);
        const char *first = strstr(err, msg);
        if (rc != 2 || !first || strstr(first + strlen(msg), "is not a multiple"))
            fail_msg("%s: exit %d (want 2), stderr (want '%s' once): %s", methods[m], rc, msg, err);
        free(err);
    }
    rc = tu_sh_err(&err, "cd %s && timeout 60 " MPIRUN " lrc-train --method lrc -c u.st < u.fr", tu_tmpdir());
    if (rc != 2 || !strstr(err, "-i -: with 2 ranks the input must be a file that every rank reads"))
        fail_msg("exit %d (want 2), stderr: %s", rc, err);
    free(err);
}

/* Each rank fed through a FIFO of its own (as pipelines/pretrain --ranks
 * does, one producer each): the same steps as every rank reading one file,
 * exactly; one FIFO given to both ranks is refused once, by rank 1, since
 * the two would split its records between them. */
static void test_fifo_per_rank(void **state)
{
    (void)state;
    char *err = NULL;
    int n;
    write_pairs(tu_tmp("ff.fr"), 16, 0);
    assert_int_equal(tu_sh("cd %s && " MPIRUN " " LRC " -q --batch 2 --seed 4 -i ff.fr -c ff-file.st", tu_tmpdir()), 0);
    int rc = tu_sh_err(&err, "cd %s && rm -f q0 q1 && mkfifo q0 q1 && { cat ff.fr > q0 & cat ff.fr > q1 & } && "
                             "timeout 120 mpirun --oversubscribe --allow-run-as-root --bind-to none -np 1 " LRC
                             " -q --batch 2 --seed 4 -i q0 -c ff-fifo.st : -np 1 " LRC
                             " -q --batch 2 --seed 4 -i q1 -c ff-fifo.st",
                       tu_tmpdir());
    if (rc)
        fail_msg("mpirun with a FIFO per rank: exit %d: %s", rc, err);
    free(err);
    assert_true(max_diff(tu_tmp("ff-fifo.st"), tu_tmp("ff-file.st"), 0, &n) == 0);
    assert_true(n > 10);
    const char *msg = "-i q0: ranks 0 and 1 read the same FIFO";
    rc = tu_sh_err(&err, "cd %s && rm -f q0 && mkfifo q0 && { timeout 60 cat ff.fr > q0 & } && timeout 60 " MPIRUN " " LRC
                         " -q --batch 2 -i q0 -c ff-x.st; s=$?; rm -f q0; exit $s",
                   tu_tmpdir());
    const char *first = strstr(err, msg);
    if (rc != 2 || !first || strstr(first + 1, msg))
        fail_msg("exit %d (want 2), stderr (want '%s' once): %s", rc, msg, err);
    free(err);
}

/* pipelines/pretrain --ranks 2: 2 ranks of 2 pairs, each fed by its own
 * elastic-aug, take the steps one process of 4 takes on the same pairs
 * (group norm, no shuffle buffer: then the two agree in exact arithmetic);
 * a seed that draws other pairs is the control. A batch that does not
 * split among the ranks is refused. */
static void test_pretrain_ranks(void **state)
{
    (void)state;
    char *err = NULL;
    int n;
    const char *run = "%s/pipelines/pretrain -o %s --method lrc --steps 3 --batch 4 --size 32 --spacing 2.5,5,5 "
                      "--every 3 --epochs 50 --lrc-args '--norm group --widths 8,8,8,8,8 --dim 8 --shuffle-buffer 1' ";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s--ranks 2 --seed 1 %%s/pretrain.csv", run);
    int rc = tu_sh_err(&err, cmd, tu_root(), tu_tmp("pr2"), tu_sample());
    if (rc || !strstr(err, "2 ranks x 2 pairs = 4 pairs per step"))
        fail_msg("pretrain --ranks 2: exit %d: %s", rc, err);
    free(err);
    assert_int_equal(tu_sh("mkdir -p %s && cp %s/slices.frames %s/", tu_tmp("pr1"), tu_tmp("pr2"), tu_tmp("pr1")), 0);
    snprintf(cmd, sizeof cmd, "%s--threads 1 --seed 1 %%s/pretrain.csv 2>/dev/null", run);
    assert_int_equal(tu_sh(cmd, tu_root(), tu_tmp("pr1"), tu_sample()), 0);
    assert_true(max_diff(tu_tmp("pr2/lrc.safetensors"), tu_tmp("pr1/lrc.safetensors"), 0, &n) < 1e-5);
    assert_true(n > 10);
    snprintf(cmd, sizeof cmd, "%s--threads 1 --seed 2 %%s/pretrain.csv 2>/dev/null", run);
    assert_int_equal(tu_sh(cmd, tu_root(), tu_tmp("pr1"), tu_sample()), 0);
    assert_true(max_diff(tu_tmp("pr2/lrc.safetensors"), tu_tmp("pr1/lrc.safetensors"), 0, &n) > 0.01);
    snprintf(cmd, sizeof cmd, "%s--ranks 3 --seed 1 %%s/pretrain.csv", run);
    rc = tu_sh_err(&err, cmd, tu_root(), tu_tmp("pr2"), tu_sample());
    if (rc == 0 || !strstr(err, "--batch 4 does not split into --ranks 3 equal shares"))
        fail_msg("pretrain --ranks 3 --batch 4: exit %d: %s", rc, err);
    free(err);
}

/* pipelines/experiment --ranks 2 pre-trains on 2 ranks, says so in the
 * checkpoint's settings, and a run without --ranks refuses to reuse it. */
static void test_experiment_ranks(void **state)
{
    (void)state;
    char *err = NULL;
    const char *s = tu_sample();
    assert_int_equal(tu_sh("d=%s && mkdir -p $d/ct $d/ct_pretrain $d/splits && cp %s/labels.json $d/ct/ && "
                           "for i in subj03 subj05 subj27; do ln -s %s/${i}_ct.nii.gz %s/${i}_seg.nii.gz $d/ct/; done && "
                           "ln -s %s/pre012_ct.nii.gz %s/pre024_ct.nii.gz $d/ct_pretrain/ && "
                           "printf 'subj03\nsubj05\n' > $d/splits/train3.txt && printf 'subj27\n' > $d/splits/val.txt && "
                           "printf 'subj27\n' > $d/splits/test.txt",
                           tu_tmp("rkdata"), s, s, s, s, s),
                     0);
    const char *run = "%s/pipelines/experiment -o %s --results %s/res --data %s --splits %s/splits --xt 3 --size 32 "
                      "--batch 4 --lrc-steps 2 --finetune-steps 2 --arms 'random lrc' --seeds 1";
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s --ranks 2 > /dev/null", run);
    int rc = tu_sh_err(&err, cmd, tu_root(), tu_tmp("rk"), tu_tmp("rk"), tu_tmp("rkdata"), tu_tmp("rkdata"));
    if (rc)
        fail_msg("experiment --ranks 2: exit %d: %s", rc, err);
    free(err);
    char *log = tu_read(tu_tmp("rk/pretrain/main/pretrain.log"), NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "2 ranks x 2 pairs = 4 pairs per step"));
    free(log);
    rc = tu_sh_err(&err, run, tu_root(), tu_tmp("rk"), tu_tmp("rk"), tu_tmp("rkdata"), tu_tmp("rkdata"));
    if (rc == 0 || !strstr(err, "lrc.safetensors was made with other settings") || !strstr(err, "batch=4 ranks=2 samples"))
        fail_msg("experiment without --ranks after --ranks 2: exit %d: %s", rc, err);
    free(err);
}

/* kill -9 of rank 1 in the middle of training: mpirun ends the job with a
 * non-zero status and names the rank, well within the timeout; rank 0's
 * last checkpoint then resumes on one process (with the same 4 pairs per
 * step). */
static void test_rank_killed(void **state)
{
    (void)state;
    char *err = NULL;
    write_pairs(tu_tmp("many.fr"), 64, 0);
    time_t t0 = time(NULL);
    /* each rank leaves its pid; the script kills rank 1 once the log shows
     * 3 steps (its start record and 3 lines: step 2's checkpoint is written) */
    int rc = tu_sh_err(&err,
                       "cd %s || exit 1; (timeout 60 " MPIRUN " sh -c 'echo $$ > pid.$OMPI_COMM_WORLD_RANK; exec " LRC
                       " -q --batch 2 --epochs 1000 --save-every 2 --seed 1 -i many.fr -c k.st --log k.jsonl' ; "
                       "echo $? > rc) & "
                       "i=0; until [ -s k.jsonl ] && [ $(wc -l < k.jsonl) -ge 4 ]; do sleep 0.2; i=$((i+1)); "
                       "[ $i -lt 250 ] || exit 9; done; kill -9 $(cat pid.1); wait; exit $(cat rc)",
                       tu_tmpdir());
    long long secs = (long long)(time(NULL) - t0);
    print_message("exit %d after %lld s\n", rc, secs);
    if (rc == 0 || rc == 9 || rc == 124 || !strstr(err, "rank 1") || !strstr(err, "signal 9"))
        fail_msg("exit %d after %lld s, stderr: %s", rc, secs, err);
    assert_true(secs < 60);
    free(err);
    ckpt *c = ckpt_open(tu_tmp("k.st"));
    if (!c)
        fail_msg("%s", err_get());
    int64_t at = ckpt_step(c);
    ckpt_close(c);
    assert_true(at >= 2);
    assert_int_equal(tu_sh("cd %s && " LRC " -q --batch 4 --seed 1 -i many.fr -c k.st --resume --steps %lld",
                           tu_tmpdir(), (long long)at + 2),
                     0);
    c = ckpt_open(tu_tmp("k.st"));
    assert_non_null(c);
    assert_int_equal(ckpt_step(c), at + 2);
    ckpt_close(c);
}

int main(void)
{
    tu_mpi_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lrc_two_ranks),
        cmocka_unit_test(test_seg_two_ranks),
        cmocka_unit_test(test_global_methods),
        cmocka_unit_test(test_moco_queue_order),
        cmocka_unit_test(test_densecl_queue_order),
        cmocka_unit_test(test_sync_bn),
        cmocka_unit_test(test_moco_two_ranks),
        cmocka_unit_test(test_densecl_two_ranks),
        cmocka_unit_test(test_zmq_producer),
        cmocka_unit_test(test_rank_fails),
        cmocka_unit_test(test_usage_error_once),
        cmocka_unit_test(test_fifo_per_rank),
        cmocka_unit_test(test_pretrain_ranks),
        cmocka_unit_test(test_experiment_ranks),
        cmocka_unit_test(test_rank_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
