/* Data-parallel training under mpirun (nn/dist.h): 2 ranks of B equal one
 * process of 2B on the same records, for lrc-train --method lrc and for
 * seg-finetune (group norm, so that the per-rank batch statistics of batch
 * norm do not enter); a failing rank and a killed rank end the job with a
 * message naming it, without hanging; only rank 0 writes. */
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
/* The 2-rank and the 1-process runs of lrc-train: 3 steps on the same 8
 * pairs each (rank r: the records of seq % 2 == r). Adam's first steps are
 * close to lr sign(g), so a parameter whose gradient is ~0 moves by float
 * noise times lr / eps; at lr 1e-4 that noise stays near 1e-6, while any
 * wrong gradient still moves parameters by ~1e-4. */
#define LRC_RUN LRC " --lr 1e-4 --steps 3 --seed 5 -i pairs.fr"
#define SEG "seg-finetune -q --widths 8,8,8,8,8 --dim 8 --width 0.125 --norm group --threads 1 --val-every 0"

static const char *tmp(const char *name)
{
    static char ring[8][1024];
    static int k;
    char *p = ring[k++ & 7];
    snprintf(p, 1024, "%s/%s", tu_tmpdir(), name);
    return p;
}

/* n pair frames of 32x32: 8x8 blocks as regions, the positive view shifted
 * by one pixel. Record 3 is one column narrower with bad_shape. */
static void write_pairs(const char *path, int n, int bad_shape)
{
    enum { H = 32, W = 32 };
    stream_out *out = stream_out_open(path);
    rng r;
    assert_non_null(out);
    rng_seed(&r, 11, 0);
    assert_int_equal(stream_out_start(out, NULL), 0);
    for (int i = 0; i < n; i++) {
        frame f;
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
        assert_int_equal(stream_out_write(out, &f), 0);
        frame_free(&f);
    }
    assert_int_equal(stream_out_end(out), 0);
    assert_int_equal(stream_out_close(out), 0);
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

/* The largest difference between the float32 tensors of two checkpoints
 * whose names do not start with skip (NULL: none); both must hold the same
 * tensors. */
static double max_diff(const char *pa, const char *pb, const char *skip, int *compared)
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
        if (skip && !strncmp(name, skip, strlen(skip)))
            continue;
        if (ckpt_get_tensor(a, name, &ta) || ckpt_get_tensor(b, name, &tb))
            fail_msg("%s: %s", name, err_get());
        if (ta.dtype != DT_F32)
            continue;
        assert_int_equal(tensor_numel(&ta), tensor_numel(&tb));
        for (size_t k = 0; k < tensor_numel(&ta); k++)
            worst = fmax(worst, fabs((double)((float *)ta.data)[k] - ((float *)tb.data)[k]));
        (*compared)++;
    }
    ckpt_close(a);
    ckpt_close(b);
    return worst;
}

/* Parameters within 1e-5 (a and b), and far from the control c, a run that
 * saw other batches: the check can fail. */
static void expect_same_model(const char *a, const char *b, const char *c)
{
    int n;
    double same = max_diff(a, b, "optim.", &n), other = max_diff(a, c, "optim.", &n);
    print_message("largest parameter difference: %.3g (2 ranks against 1 process), %.3g (against the control); "
                  "%d tensors\n",
                  same, other, n);
    assert_true(n > 10);
    assert_true(same <= 1e-5);
    assert_true(other > 1e-4);
}

static void test_lrc_two_ranks(void **state)
{
    (void)state;
    char *err = NULL;
    write_pairs(tmp("pairs.fr"), 24, 0);
    /* 3 steps: 2 ranks x 4 pairs (records seq % 2 == rank), 1 x 8, and a control of 1 x 4 */
    const char *two = "cd %s && " MPIRUN " " LRC_RUN " --batch 4 -c two.st --log two.jsonl";
    int rc = tu_sh_err(&err, two, tu_tmpdir());
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, err);
    assert_non_null(strstr(err, "2 ranks x 4 pairs = 8 pairs per step"));
    free(err);
    assert_int_equal(tu_sh("cd %s && " LRC_RUN " -q --batch 8 -c one.st", tu_tmpdir()), 0);
    assert_int_equal(tu_sh("cd %s && " LRC_RUN " -q --batch 4 -c ctl.st", tu_tmpdir()), 0);
    expect_same_model(tmp("two.st"), tmp("one.st"), tmp("ctl.st"));
    /* rank 0 alone wrote the log: its start record, then one line per step */
    char *log = tu_read(tmp("two.jsonl"), NULL);
    assert_non_null(log);
    assert_int_equal(tu_count_lines(log), 4);
    assert_non_null(strstr(log, "\"effective_batch\": 8"));
    free(log);
    /* the same seed on the same ranks: the same checkpoint, bit for bit (the
     * command line is in it: the same one) */
    assert_int_equal(tu_sh("cd %s && mv two.st two0.st", tu_tmpdir()), 0);
    assert_int_equal(tu_sh_err(&err, two, tu_tmpdir()), 0);
    free(err);
    assert_int_equal(tu_sh("cmp %s %s", tmp("two.st"), tmp("two0.st")), 0);
}

static void test_seg_two_ranks(void **state)
{
    (void)state;
    char *err = NULL;
    write_slices(tmp("slices.fr"), 12);
    /* 3 steps over 12 slices: 2 ranks x 3 slices, 1 x 6, and a control of 1 x 3 */
    int rc = tu_sh_err(&err, "cd %s && " MPIRUN " " SEG " --batch 3 --steps 3 --seed 4 -i slices.fr -c seg2.st",
                       tu_tmpdir());
    if (rc)
        fail_msg("mpirun: exit %d: %s", rc, err);
    free(err);
    assert_int_equal(tu_sh("cd %s && " SEG " --batch 6 --steps 3 --seed 4 -i slices.fr -c seg1.st", tu_tmpdir()), 0);
    assert_int_equal(tu_sh("cd %s && " SEG " --batch 3 --steps 3 --seed 4 -i slices.fr -c segc.st", tu_tmpdir()), 0);
    expect_same_model(tmp("seg2.st"), tmp("seg1.st"), tmp("segc.st"));
}

/* A rank that fails (rank 1 reads the bad record 3 of its share) ends the
 * job: exit 1, its message naming it, no hang. */
static void test_rank_fails(void **state)
{
    (void)state;
    char *err = NULL;
    write_pairs(tmp("bad.fr"), 16, 1);
    time_t t0 = time(NULL);
    int rc = tu_sh_err(&err, "cd %s && timeout 60 " MPIRUN " " LRC " --batch 2 --seed 1 -i bad.fr -c bad.st",
                       tu_tmpdir());
    print_message("exit %d after %lld s\n", rc, (long long)(time(NULL) - t0));
    if (rc != 1 || !strstr(err, "lrc-train: rank 1: record seq 3: 'image_p' is 32x31"))
        fail_msg("exit %d (want 1), stderr: %s", rc, err);
    free(err);
    assert_int_not_equal(access(tmp("bad.st"), F_OK), 0);
}

/* kill -9 of rank 1 in the middle of training: mpirun ends the job with a
 * non-zero status and names the rank, well within the timeout; rank 0's
 * last checkpoint then resumes on one process (with the same 4 pairs per
 * step). */
static void test_rank_killed(void **state)
{
    (void)state;
    char *err = NULL;
    write_pairs(tmp("many.fr"), 64, 0);
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
    ckpt *c = ckpt_open(tmp("k.st"));
    if (!c)
        fail_msg("%s", err_get());
    int64_t at = ckpt_step(c);
    ckpt_close(c);
    assert_true(at >= 2);
    assert_int_equal(tu_sh("cd %s && " LRC " -q --batch 4 --seed 1 -i many.fr -c k.st --resume --steps %lld",
                           tu_tmpdir(), (long long)at + 2),
                     0);
    c = ckpt_open(tmp("k.st"));
    assert_non_null(c);
    assert_int_equal(ckpt_step(c), at + 2);
    ckpt_close(c);
}

int main(void)
{
    /* CI runs as root: Open MPI refuses that unless told */
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lrc_two_ranks),
        cmocka_unit_test(test_seg_two_ranks),
        cmocka_unit_test(test_rank_fails),
        cmocka_unit_test(test_rank_killed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
