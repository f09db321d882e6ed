/* The pipeline scripts end to end (pipelines/), on the bundled sample at a
 * tiny scale (32 x 32 slices, a few steps): every script runs as a user runs
 * it, and its outputs are checked, not only its exit status. Checkpoints
 * open and hold the models and steps asked for; predictions have the shape
 * and ids of their labels; the Dice tables name every test volume and every
 * organ; the experiment's table has every arm; the demo writes its table,
 * checkpoints and PNG pictures. remote-preprocess runs its two sides as two
 * process groups that meet only over ZeroMQ tcp on loopback. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/json.h"
#include "io/frame.h"
#include "io/stream.h"
#include "nn/ckpt.h"
#include "testutil.h"

/* Run a pipeline script (pipelines/NAME ...) from the repository root, its
 * stderr kept in tmp/NAME.err and shown when it fails. */
static void script(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void script(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char *err = NULL;
    int rc = tu_sh_err(&err, "cd %s && %s", tu_root(), cmd);
    if (rc != 0) {
        size_t n = strlen(err);
        fail_msg("'%s': exit %d; stderr ends: %s", cmd, rc, n > 3000 ? err + n - 3000 : err);
    }
    free(err);
}

/* A checkpoint that opens, of the kind of model asked for, at step `step`. */
static void check_ckpt(const char *path, const char *model, int64_t step)
{
    ckpt *c = ckpt_open(path);
    if (!c)
        fail_msg("%s: %s", path, err_get());
    const char *m = ckpt_meta(c, "model");
    if (model && (!m || strcmp(m, model)))
        fail_msg("%s: model '%s', expected '%s'", path, m ? m : "(none)", model);
    if (step >= 0 && ckpt_step(c) != step)
        fail_msg("%s: step %lld, expected %lld", path, (long long)ckpt_step(c), (long long)step);
    assert_true(ckpt_ntensors(c) > 10);
    ckpt_close(c);
}

/* Every regrouped volume of pred.frames: `label` and `pred` of one shape,
 * pred within the classes, ids exactly those of the case list. */
static void check_predictions(const char *path, const char *const *ids, int nids, int nclasses)
{
    stream_in *in = stream_in_open(path);
    frame f;
    int seen[16] = {0}, n = 0, rc;
    assert_non_null(in);
    assert_true(nids <= 16);
    while ((rc = stream_in_next(in, &f)) == 1) {
        const tensor *l = frame_tensor_get(&f, "label"), *p = frame_tensor_get(&f, "pred");
        assert_non_null(l);
        assert_non_null(p);
        assert_int_equal(p->dtype, DT_U8);
        assert_int_equal(p->rank, 3);
        assert_int_equal(l->rank, 3);
        for (int d = 0; d < 3; d++)
            assert_int_equal(p->shape[d], l->shape[d]);
        const uint8_t *pv = p->data;
        for (size_t i = 0; i < tensor_numel(p); i++)
            assert_true(pv[i] < nclasses);
        int k = 0;
        while (k < nids && strcmp(ids[k], f.id))
            k++;
        if (k == nids)
            fail_msg("%s: volume '%s' is not a test case", path, f.id);
        seen[k]++;
        n++;
        frame_free(&f);
    }
    assert_int_equal(rc, 0);
    stream_in_close(in);
    assert_int_equal(n, nids);
    for (int k = 0; k < nids; k++)
        assert_int_equal(seen[k], 1);
}

/* dice.tsv of pipelines/evaluate: one row per (volume, organ) with a
 * number in [0, 1] or nan; every test volume has a row for each organ that
 * any volume scores (an organ in neither map of any volume has no column),
 * and at least `min_organs` organs are scored. */
static void check_dice_tsv(const char *path, const char *const *ids, int nids, int min_organs)
{
    char *text = tu_read(path, NULL), *save = NULL;
    int rows[16] = {0};
    assert_non_null(text);
    assert_true(nids <= 16);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        for (int k = 0; k < nids; k++) {
            size_t n = strlen(ids[k]);
            if (!strncmp(line, ids[k], n) && line[n] == '\t') {
                double d = atof(strrchr(line, '\t') + 1);
                if (!strstr(line, "\tnan") && !(d >= 0 && d <= 1))
                    fail_msg("%s: bad Dice in '%s'", path, line);
                rows[k]++;
            }
        }
    }
    free(text);
    for (int k = 0; k < nids; k++)
        if (rows[k] != rows[0] || rows[k] < min_organs)
            fail_msg("%s: %d rows for %s, %d for %s (at least %d organs expected)", path, rows[k], ids[k], rows[0],
                     ids[0], min_organs);
}

static const char *const test_ids[] = {"subj27", "subj28"};
#define NTEST 2
#define NORGANS 7

/* The small-scale options every stage shares. */
#define PREP "--size 32 --spacing 2.5,5,5"

static void test_prepare_pretrain_finetune_evaluate(void **state)
{
    (void)state;
    const char *s = tu_sample();
    char *text;
    /* pretrain: both methods at once through tee, from the manifest */
    script("pipelines/pretrain -o %s --steps 3 --batch 4 --size 32 --spacing 2.5,5,5 --every 3 --seed 1 "
           "--epochs 50 %s/pretrain.csv",
           tu_tmp("pre"), s);
    check_ckpt(tu_tmp("pre/lrc.safetensors"), "unet", 3);
    check_ckpt(tu_tmp("pre/moco.safetensors"), "resnet", 3);
    text = tu_read(tu_tmp("pre/lrc.jsonl"), NULL);
    assert_non_null(text);
    assert_int_equal(tu_count_lines(text), 3);
    free(text);
    /* one of Table 1's other global methods, from the cached slices */
    script("pipelines/pretrain -o %s --method rotation --moco-steps 2 --batch 4 --size 32 --spacing 2.5,5,5 "
           "--every 3 --seed 1 --epochs 50 %s/pretrain.csv",
           tu_tmp("pre"), s);
    check_ckpt(tu_tmp("pre/rotation.safetensors"), NULL, 2);
    /* and DenseCL, on one process and on 2 ranks of 2 pairs (the same
     * cached slices) */
    script("pipelines/pretrain -o %s --method densecl --moco-steps 2 --batch 4 --size 32 --spacing 2.5,5,5 "
           "--every 3 --seed 1 --epochs 50 %s/pretrain.csv",
           tu_tmp("pre"), s);
    check_ckpt(tu_tmp("pre/densecl.safetensors"), NULL, 2);
    char *dmsg = NULL;
    assert_int_equal(tu_sh("mkdir -p %s && cp %s/slices.frames %s/", tu_tmp("pre2"), tu_tmp("pre"), tu_tmp("pre2")), 0);
    int drc = tu_sh_err(&dmsg, "cd %s && LRCPIPE_BIN=%s pipelines/pretrain -o %s --method densecl --ranks 2 --moco-steps 2 "
                        "--batch 4 --size 32 --spacing 2.5,5,5 --every 3 --seed 1 --epochs 50 %s/pretrain.csv",
                        tu_root(), tu_bindir(), tu_tmp("pre2"), s);
    if (drc || !strstr(dmsg, "2 ranks x 2 pairs = 4 pairs per step"))
        fail_msg("pretrain --method densecl --ranks 2: exit %d: %s", drc, dmsg);
    free(dmsg);
    check_ckpt(tu_tmp("pre2/densecl.safetensors"), NULL, 2);
    /* Models Genesis (Eg and the decoder Dg) */
    script("pipelines/pretrain -o %s --method genesis --moco-steps 2 --batch 4 --size 32 --spacing 2.5,5,5 "
           "--every 3 --seed 1 --epochs 50 %s/pretrain.csv",
           tu_tmp("pre"), s);
    check_ckpt(tu_tmp("pre/genesis.safetensors"), NULL, 2);
    /* MAE, its ViT and decoder small through --moco-args */
    script("pipelines/pretrain -o %s --method mae --moco-steps 2 --batch 4 --size 32 --spacing 2.5,5,5 "
           "--every 3 --seed 1 --epochs 50 --moco-args '--vit 2,32,2 --patch 8 --mae-decoder-depth 1 "
           "--mae-decoder-width 32' %s/pretrain.csv",
           tu_tmp("pre"), s);
    check_ckpt(tu_tmp("pre/mae.safetensors"), "vit", 2);

    /* labelled slices, then fine-tuning from both pre-trained checkpoints */
    script("pipelines/prepare " PREP " -o %s %s/manifest.csv", tu_tmp("lab.frames"), s);
    assert_int_equal(tu_sh("printf 'subj03\\nsubj05\\nsubj16\\n' > %s && printf 'subj27\\nsubj28\\n' > %s",
                           tu_tmp("train.txt"), tu_tmp("test.txt")),
                     0);
    script("pipelines/finetune -o %s --cases %s --val-cases %s --global %s --local %s --steps 4 --seed 2 "
           "--ft-args '--batch 4 --val-every 2' %s",
           tu_tmp("ft"), tu_tmp("train.txt"), tu_tmp("test.txt"), tu_tmp("pre/moco.safetensors"), tu_tmp("pre/lrc.safetensors"),
           tu_tmp("lab.frames"));
    check_ckpt(tu_tmp("ft/model.safetensors"), NULL, 4);
    check_ckpt(tu_tmp("ft/best.safetensors"), NULL, -1);
    /* the rotation Eg fine-tunes alone (the paper's "w/o LRC" row) */
    script("pipelines/finetune -o %s --cases %s --arch global --global %s --steps 2 --seed 2 --ft-args '--batch 4' %s",
           tu_tmp("ftrot"), tu_tmp("train.txt"), tu_tmp("pre/rotation.safetensors"), tu_tmp("lab.frames"));
    check_ckpt(tu_tmp("ftrot/model.safetensors"), NULL, 2);
    script("pipelines/finetune -o %s --cases %s --arch global --global %s --steps 2 --seed 2 --ft-args '--batch 4' %s",
           tu_tmp("ftdcl"), tu_tmp("train.txt"), tu_tmp("pre/densecl.safetensors"), tu_tmp("lab.frames"));
    check_ckpt(tu_tmp("ftdcl/model.safetensors"), NULL, 2);
    script("pipelines/finetune -o %s --cases %s --arch global --global %s --steps 2 --seed 2 --ft-args '--batch 4' %s",
           tu_tmp("ftgen"), tu_tmp("train.txt"), tu_tmp("pre/genesis.safetensors"), tu_tmp("lab.frames"));
    check_ckpt(tu_tmp("ftgen/model.safetensors"), NULL, 2);
    script("pipelines/finetune -o %s --cases %s --arch global --global %s --steps 2 --seed 2 --ft-args '--batch 4' %s",
           tu_tmp("ftmae"), tu_tmp("train.txt"), tu_tmp("pre/mae.safetensors"), tu_tmp("lab.frames"));
    check_ckpt(tu_tmp("ftmae/model.safetensors"), NULL, 2);

    /* evaluate: predictions regrouped into volumes, scored, and as NIfTI */
    script("pipelines/evaluate -c %s --cases %s -o %s --nifti %s > %s", tu_tmp("ft/best.safetensors"),
           tu_tmp("test.txt"), tu_tmp("ev"), tu_tmp("lab.frames"), tu_tmp("ev.out"));
    check_predictions(tu_tmp("ev/pred.frames"), test_ids, NTEST, NORGANS + 1);
    check_dice_tsv(tu_tmp("ev/dice.tsv"), test_ids, NTEST, NORGANS - 2);
    text = tu_read(tu_tmp("ev/dice.txt"), NULL);
    assert_non_null(text);
    for (int k = 0; k < NTEST; k++)
        assert_non_null(strstr(text, test_ids[k]));
    assert_non_null(strstr(text, "Brainstem"));
    free(text);
    /* the NIfTI prediction lies on the original CT grid */
    assert_int_equal(tu_sh("cd %s && %s -c 'import nibabel as nb, numpy as np; "
                           "p = nb.load(\"ev/nifti/subj27_pred.nii.gz\"); c = nb.load(\"%s/subj27_ct.nii.gz\"); "
                           "assert p.shape == c.shape, (p.shape, c.shape); "
                           "assert np.allclose(p.affine, c.affine, atol=1e-3), (p.affine, c.affine); "
                           "assert np.asarray(p.dataobj).max() <= 7'",
                           tu_tmpdir(), tu_python(), s),
                     0);
}

/* Preprocessing and training as two process groups that meet only over
 * ZeroMQ tcp on loopback, as on two hosts. */
static void test_remote_preprocess(void **state)
{
    (void)state;
    int port = tu_port();
    script("pipelines/remote-preprocess serve -o %s --bind 127.0.0.1 --epochs 2 --seed 3 --size 32 "
           "--spacing 2.5,5,5 --every 4 tcp://127.0.0.1:%d %s/pretrain.csv > %s 2>&1 & "
           "pipelines/remote-preprocess train -o %s --batch 4 --threads 1 --train-args '--widths 8,16,16,32,32 --dim 16' "
           "tcp://127.0.0.1:%d; rc=$?; wait $! || exit 1; exit $rc",
           tu_tmp("rserve"), port, tu_sample(), tu_tmp("serve.log"), tu_tmp("rtrain"), port);
    check_ckpt(tu_tmp("rtrain/lrc.safetensors"), "unet", -1);
    ckpt *c = ckpt_open(tu_tmp("rtrain/lrc.safetensors"));
    assert_non_null(c);
    const char *pairs = ckpt_meta(c, "pairs");
    assert_non_null(pairs);
    /* every pair of the two epochs reached the trainer: twice the slices */
    stream_in *in = stream_in_open(tu_tmp("rserve/slices.frames"));
    frame f;
    int n = 0, rc;
    assert_non_null(in);
    while ((rc = stream_in_next(in, &f)) == 1) {
        n++;
        frame_free(&f);
    }
    assert_int_equal(rc, 0);
    stream_in_close(in);
    print_message("remote: %d slices, 2 epochs, trainer saw %s pairs\n", n, pairs);
    assert_int_equal(atoi(pairs), 2 * n);
    ckpt_close(c);
}

/* Under the sanitizers (several times slower) the experiment runs one seed,
 * to stay well inside the 300 s a test command may take. */
#ifdef __SANITIZE_ADDRESS__
#define EX_SEEDS 1
#define EX_METHODS "moco"
#else
#define EX_SEEDS 2
#define EX_METHODS "moco mocov1 rotation mae"
#endif

/* A seed's mean test Dice from its dice-eval TSV, computed here apart from
 * experiment-table: every scored (subject, organ) row, a missed organ as 0. */
static double tsv_mean(const char *path)
{
    char *text = tu_read(path, NULL), *save = NULL;
    double sum = 0;
    int n = 0;
    assert_non_null(text);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char id[64], organ[64], status[32];
        int label;
        double dice;
        if (sscanf(line, "%63[^\t]\t%63[^\t]\t%d\t%31[^\t]\t%lf", id, organ, &label, status, &dice) != 5 ||
            !strcmp(id, "*"))
            continue;
        if (!strcmp(status, "ok") || !strcmp(status, "missed") || !strcmp(status, "spurious"))
            sum += dice, n++;
    }
    free(text);
    assert_true(n > 0);
    return sum / n;
}

/* The paper's protocol on a data directory laid out like ../shared/data,
 * made of the sample's volumes, with a splits directory of its own. */
/* pipelines/experiment ARGS --table-only exits non-zero, saying want */
static void refused(const char *args, const char *want)
{
    char *msg = NULL;
    assert_int_not_equal(tu_sh_err(&msg, "%s/pipelines/experiment %s --table-only", tu_root(), args), 0);
    if (!strstr(msg, want))
        fail_msg("experiment %s: '%s' not in: %s", args, want, msg);
    free(msg);
}

/* test_experiment's commands each run a whole experiment (a dozen
 * pre-trainings and several dozen fine-tunings): 300 s is a stage's limit,
 * not theirs */
static int long_limit(void **state)
{
    (void)state;
    tu_set_timeout(1200);
    return 0;
}

static int stage_limit(void **state)
{
    (void)state;
    tu_set_timeout(300);
    return 0;
}

static void test_experiment(void **state)
{
    (void)state;
    const char *s = tu_sample();
    assert_int_equal(tu_sh("d=%s && mkdir -p $d/ct $d/ct_pretrain $d/splits && cp %s/labels.json $d/ct/ && "
                           "for i in subj03 subj05 subj16 subj27 subj28; do ln -s %s/${i}_ct.nii.gz %s/${i}_seg.nii.gz "
                           "$d/ct/; done && for i in pre012 pre024 pre038 pre045; do ln -s %s/${i}_ct.nii.gz "
                           "$d/ct_pretrain/; done && printf 'subj03\\nsubj05\\nsubj16\\n' > $d/splits/train3.txt && "
                           "printf 'subj27\\n' > $d/splits/val.txt && printf 'subj27\\nsubj28\\n' > $d/splits/test.txt",
                           tu_tmp("exdata"), s, s, s, s),
                     0);
    /* MoCo and two other global methods (rotation, and MAE for its ViT)
     * stand for Table 1's ten (MoCo alone under the sanitizers: the same
     * filters, six arms fewer) */
    const char *args = "--data %s --splits %s --xt 3 --size 32 --batch 4 --lrc-steps 2 --moco-steps 2 "
                       "--finetune-steps '3:2 10:5' --finetune-schedule '3:cosine 10:const' --methods '" EX_METHODS "' --mae-args '--vit 2,32,2 --patch 8 "
                       "--mae-decoder-depth 1 --mae-decoder-width 32'";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "pipelines/experiment -o %%s --results %%s %s --seeds %%d --samples '10 50' --samples-xt 3 > %%s", args);
    script(cmd, tu_tmp("ex"), tu_tmp("exres"), tu_tmp("exdata"), tu_tmp("exdata/splits"), EX_SEEDS, tu_tmp("ex.out"));
    char *table = tu_read(tu_tmp("ex/table.txt"), NULL), *out = tu_read(tu_tmp("ex.out"), NULL);
    assert_non_null(table);
    assert_non_null(out);
    assert_string_equal(table, out);
    /* every arm of Table 1, the control of Table 2, Table 3, every organ, the mean */
    const char *want[] = {"Random init", "w/o LRC", "w/ LRC", "Eg alone", "MoCo + MoCo", "Brainstem", "Mandible",
                          "mean", "Paired", "Table 3", "N = 10", "N = 50", "hours",
                          strstr(EX_METHODS, "rotation") ? "Table 1" : "mean",
                          strstr(EX_METHODS, "rotation") ? "Rot. + MoCo" : "mean",
                          strstr(EX_METHODS, "mae") ? "MAE + MoCo" : "mean"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(table, want[i]))
            fail_msg("table.txt lacks '%s':\n%s", want[i], table);
    /* Table 1 by seed: MoCo v2's first seed, w/o and w/ LRC, as computed here */
    char seedrow[128];
    double wo = tsv_mean(tu_tmp("exres/xt3/moco/seed1/dice.tsv")), w = tsv_mean(tu_tmp("exres/xt3/moco+lrc/seed1/dice.tsv"));
    snprintf(seedrow, sizeof seedrow, "seed1 %.3f -> %.3f (%+.3f)", wo, w, w - wo);
    const char *byseed = strstr(table, "Table 1 by seed");
    if (!byseed || !strstr(byseed, "MoCo v2") || !strstr(strstr(byseed, "MoCo v2"), seedrow))
        fail_msg("table.txt's Table 1 by seed lacks MoCo v2's '%s':\n%s", seedrow, table);
    print_message("%s", table);
    free(table);
    free(out);
    for (int s2 = 1; s2 <= EX_SEEDS; s2++) {
        char p[256];
        snprintf(p, sizeof p, "ex/ft/xt3/moco+lrc/seed%d/eval/pred.frames", s2);
        check_predictions(tu_tmp(p), test_ids, NTEST, NORGANS + 1);
        snprintf(p, sizeof p, "exres/xt3/moco+moco/seed%d/settings", s2);
        char *set = tu_read(tu_tmp(p), NULL);
        assert_non_null(set);
        assert_non_null(strstr(set, "width=0.34"));
        assert_non_null(strstr(set, " steps=2 ")); /* --finetune-steps' 3:2 */
        assert_non_null(strstr(set, "--weight-decay 1e-4 --schedule cosine]")); /* and --finetune-schedule's 3:cosine */
        free(set);
    }
    /* a second run finds every result and redoes nothing */
    snprintf(cmd, sizeof cmd, "pipelines/experiment -o %%s --results %%s %s --seeds %%d --samples '10 50' --samples-xt 3 2> %%s > /dev/null",
             args);
    script(cmd, tu_tmp("ex"), tu_tmp("exres"), tu_tmp("exdata"), tu_tmp("exdata/splits"), EX_SEEDS, tu_tmp("ex2.err"));
    char *err = tu_read(tu_tmp("ex2.err"), NULL);
    assert_non_null(strstr(err, "0 runs to do"));
    assert_null(strstr(err, "pre-training:"));
    free(err);
    /* other pre-training settings: the cached checkpoint is refused, not reused */
    char *msg = NULL;
    snprintf(cmd, sizeof cmd, "LRCPIPE_BIN=%s %s/pipelines/experiment -o %s --results %s --data %s --splits %s "
             "--xt 3 --size 32 --batch 4 --lrc-steps 3 --moco-steps 2 --finetune-steps 2 --seeds 1 --arms lrc",
             tu_bindir(), tu_root(), tu_tmp("ex"), tu_tmp("exres"), tu_tmp("exdata"), tu_tmp("exdata/splits"));
    assert_int_equal(tu_sh_err(&msg, "%s", cmd), 1);
    assert_non_null(strstr(msg, "stale"));
    assert_non_null(strstr(msg, "lrc.safetensors"));
    assert_non_null(strstr(msg, "steps=3"));
    free(msg);
    /* a global method the experiment does not know */
    refused("--methods 'moco simclr'", "unknown method 'simclr'");
    /* a budget per |XT| must name every |XT| that runs */
    refused("--xt '3 10' --finetune-steps '10:5000'", "--finetune-steps '10:5000' gives no steps for |XT| = 3");
    refused("--xt '3 10' --finetune-schedule '10:cosine'",
            "--finetune-schedule '10:cosine' gives no schedule for |XT| = 3");
    refused("--finetune-schedule '3:linear'",
            "--finetune-schedule: '3:linear' is not const, cosine or XT:const|cosine");
    refused("--arms 'random +lrc'", "unknown arm '+lrc'");
    /* the PyTorch reference of the random arm: its own column and its paired
     * difference with lrcpipe's random arm (the random runs are reused) */
    snprintf(cmd, sizeof cmd, "pipelines/experiment -o %%s --results %%s %s --seeds 1 --arms 'random torch' 2> %%s > /dev/null",
             args);
    script(cmd, tu_tmp("ex"), tu_tmp("exres"), tu_tmp("exdata"), tu_tmp("exdata/splits"), tu_tmp("ex3.err"));
    err = tu_read(tu_tmp("ex3.err"), NULL);
    assert_non_null(strstr(err, "1 runs to do, 1 already"));
    free(err);
    table = tu_read(tu_tmp("ex/table.txt"), NULL);
    assert_non_null(table);
    assert_non_null(strstr(table, "PyTorch ref."));
    assert_non_null(strstr(table, "PyTorch reference -> lrcpipe, random init:"));
    free(table);
    char *set = tu_read(tu_tmp("exres/xt3/torch/seed1/settings"), NULL);
    assert_non_null(set);
    assert_non_null(strstr(set, "ft_ref.py"));
    free(set);
    check_dice_tsv(tu_tmp("exres/xt3/torch/seed1/dice.tsv"), test_ids, NTEST, NORGANS - 2);
    /* ImageNet's row: torchvision weights given, not pre-trained (an
     * untrained torchvision ResNet-18 from python3-torchvision stands in);
     * without them the arm is refused */
    refused("--methods 'moco imagenet'", "the imagenet arms need --imagenet FILE");
    assert_int_equal(tu_sh("'%s' '%s/tests/py/torchvision_ref.py' '%s' resnet18:32:32 > /dev/null", tu_python(), tu_root(),
                           tu_tmpdir()),
                     0);
    snprintf(cmd, sizeof cmd, "pipelines/experiment -o %%s --results %%s %s --seeds 1 --arms 'imagenet imagenet+lrc' "
             "--imagenet %%s 2> %%s > /dev/null", args);
    script(cmd, tu_tmp("ex"), tu_tmp("exres"), tu_tmp("exdata"), tu_tmp("exdata/splits"), tu_tmp("resnet18.safetensors"),
           tu_tmp("ex4.err"));
    table = tu_read(tu_tmp("ex/table.txt"), NULL);
    assert_non_null(table);
    assert_non_null(strstr(table, "ImageNet"));
    free(table);
    set = tu_read(tu_tmp("exres/xt3/imagenet+lrc/seed1/settings"), NULL);
    assert_non_null(set);
    assert_non_null(strstr(set, "imagenet: file="));
    assert_non_null(strstr(set, "sha256="));
    free(set);
    check_dice_tsv(tu_tmp("exres/xt3/imagenet/seed1/dice.tsv"), test_ids, NTEST, NORGANS - 2);
}

/* make demo's script at a few steps: its table, checkpoints and pictures. */
static void test_demo(void **state)
{
    (void)state;
    script("DEMO_PRETRAIN_STEPS=2 DEMO_FINETUNE_STEPS=2 pipelines/demo -o %s > %s", tu_tmp("demo"), tu_tmp("demo.out"));
    char *out = tu_read(tu_tmp("demo.out"), NULL);
    assert_non_null(out);
    print_message("%s", out);
    assert_non_null(strcasestr(out, "w/o LRC"));
    assert_non_null(strcasestr(out, "w/ LRC"));
    assert_non_null(strstr(out, "Brainstem"));
    free(out);
    check_ckpt(tu_tmp("demo/pretrain/lrc.safetensors"), "unet", 2);
    check_ckpt(tu_tmp("demo/pretrain/moco.safetensors"), "resnet", 2);
    /* every picture decodes as a PNG */
    assert_int_equal(tu_sh("cd %s/demo/pics && n=0 && for f in *.png; do "
                           "test \"$(od -An -tx1 -N8 $f | tr -d ' ')\" = 89504e470d0a1a0a || exit 1; "
                           "n=$((n + 1)); done && test $n -ge 5",
                           tu_tmpdir()),
                     0);
}

int main(void)
{
    tu_mpi_env(); /* pretrain --ranks runs mpirun */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prepare_pretrain_finetune_evaluate),
        cmocka_unit_test(test_remote_preprocess),
        cmocka_unit_test_setup_teardown(test_experiment, long_limit, stage_limit),
        cmocka_unit_test(test_demo),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
