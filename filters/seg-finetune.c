/*
 * seg-finetune — LRC's fine-tuning stage: the segmentation network of
 * segnet.h (pre-trained Eg with a fresh Dg beside pre-trained El + Dl, or
 * any part random, or a second MoCo model in place of LRC's) trained with
 * the soft Dice loss on the labelled slices of the listed volumes, with 3-D
 * validation Dice and the best checkpoint kept; and --predict, which adds a
 * `pred` map to slice frames.
 *
 * The network, loss and step are libcommon's (segnet.h, segloss.h,
 * segtrain.h) and the slices in memory segdata.h's; this file selects and
 * orders the slices, schedules the learning rate, validates, logs and writes
 * checkpoints.
 *
 * Exact resume: the batch of step s is a function of (seed, s) only (the
 * slices of epoch e in a permutation drawn from (seed, e), batches taken
 * across epoch boundaries), and the checkpoint holds everything else that
 * changes (weights, batch-norm statistics, Adam's moments and step, the best
 * validation score), so a run resumed from the checkpoint of step s is
 * bit-identical to one that was never interrupted.
 *
 * Under mpirun (nn/dist.h): every rank reads the (small) labelled set
 * whole, and N ranks of --batch B share the batch of N B slices that one
 * process would take (segsample.h), each its own B of them; the loss is
 * that of the whole batch and the gradients are summed over the ranks
 * (segtrain.h). A step's slices depend on N B only, so a run resumes on
 * any number of ranks with the same N B. Rank 0 validates and writes the
 * checkpoints, the log and the progress.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "cli/trainopts.h"
#include "core/err.h"
#include "core/json.h"
#include "finetune/segdata.h"
#include "finetune/segloss.h"
#include "finetune/segpredict.h"
#include "finetune/segsample.h"
#include "finetune/segsetup.h"
#include "finetune/segtrain.h"
#include "finetune/segval.h"
#include "io/stream.h"
#include "models/segnet.h"
#include "nn/ckpt.h"
#include "nn/dist.h"
#include "nn/nn.h"
#include "nn/trainloop.h"


static void usage(void)
{
    printf("Usage: %s -c CHECKPOINT [--cases FILE] [--val-cases FILE] [OPTION]...\n"
           "       %s --predict CHECKPOINT [-i INPUT] [-o OUTPUT]\n"
           "Fine-tune LRC's segmentation network (global branch Eg+Dg beside the local\n"
           "U-Net El+Dl, a 1x1 convolution to the classes) on labelled slice frames;\n"
           "or add its prediction 'pred' to slice frames (--predict).\n"
           "\n"
           "Input and output:\n"
           "  -i, --input SPEC        labelled slice frames (file, '-', tcp://, ipc://, '@' binds;\n"
           "                          default stdin)\n"
           "      --cases FILE        train on the volumes listed in FILE (one id per line;\n"
           "                          default: every volume not in --val-cases)\n"
           "      --val-cases FILE    validate on these volumes (3-D Dice)\n"
           "      --val-input SPEC    read the validation volumes from SPEC (default: -i)\n"
           "  -c, --checkpoint FILE   the checkpoint written during and after training\n"
           "      --best FILE         keep the network with the best validation Dice in FILE\n"
           "      --resume            continue training from FILE exactly (network, Adam, step)\n"
           "      --save-every N      write the checkpoint every N steps (default 500) and at the end\n"
           "      --log FILE          metrics, one JSON object per line (appended on --resume)\n"
           "      --tensorboard DIR   the same metrics as TensorBoard event files in DIR\n"
           "      --log-every N       a training metrics line every N steps (default 10)\n"
           "      --classes N         classes, background included, when the frames carry no\n"
           "                          meta 'classes'\n"
           "\n"
           "Network:\n"
           "      --arch A            global+local (default), global+global, global or local\n"
           "      --global FILE       Eg from a checkpoint of an lrc-train global method (moco,\n"
           "                          rotation, relloc, byol, simsiam, densecl, genesis, mae) or a\n"
           "                          torchvision ResNet state dict as safetensors (default random)\n"
           "      --global2 FILE      the second Eg of global+global (implies it; Table 2's control)\n"
           "      --local FILE        El+Dl from an lrc-train --method lrc checkpoint (default random)\n"
           "      --widths LIST       random U-Net's widths w1,...,w5 (default 16,32,64,128,256)\n"
           "      --dim D             random U-Net's feature channels (default 64)\n"
           "      --depth N           random Eg's ResNet depth 18, 34 or 50 (default 18)\n"
           "      --width X           random Eg's width multiplier (default 0.25)\n"
           "      --norm N            random parts' normalisation: batch or group (default batch)\n"
           "\n"
           "Training:\n"
           "      --batch N           slices per step (default 8)\n"
           "      --steps N           train N steps in all (default 2500, or --epochs)\n"
           "      --epochs N          passes over the training slices instead of --steps\n"
           "      --patience N        stop after N validations without a better Dice (default 0:\n"
           "                          never; needs --val-cases)\n"
           "      --empty-keep F      fraction of organ-free training slices kept (default 1)\n"
           "      --shift N           move each training slice by random whole pixels in\n"
           "                          [-N, N] in y and x (default 4; 0: off)\n"
           "      --lr X              learning rate (default 1e-3)\n"
           "      --schedule S        const, cosine or step (default const)\n"
           "      --warmup N          cosine: linear warm-up steps (default 0)\n"
           "      --min-lr X          cosine: final learning rate (default 0)\n"
           "      --lr-step N         step: decay every N steps (default 1000)\n"
           "      --lr-gamma X        step: decay factor (default 0.1)\n"
           "      --momentum X        Adam's beta1 (default 0.9)\n"
           "      --weight-decay X    (default 1e-4)\n"
           "      --loss L            dice+ce (default: soft Dice + cross-entropy over every class,\n"
           "                          background included) or dice (the paper's Dice alone)\n"
           "      --ce-weight X       weight of the cross-entropy in dice+ce (default 1)\n"
           "      --dice-smooth S     smoothing term of the soft Dice (default 1e-5)\n"
           "      --val-every N       validate every N steps (default 250; 0: at the end)\n"
           "      --seed N            random seed (default 0): same seed and threads, same checkpoint\n"
           "      --threads N         threads of the engine (default: all cores)\n"
           "      --sync-bn           under mpirun: batch norm statistics over all ranks\n"
           "\n"
           "Prediction:\n"
           "      --predict FILE      read slice frames, write them with 'pred' [Y, X] uint8 from the\n"
           "                          network in FILE (a seg-finetune checkpoint)\n"
           "  -o, --output SPEC       frames out (default stdout)\n",
           err_progname, err_progname);
    filter_usage_common(NULL);
}

enum {
    OPT_CASES = 0x100, OPT_VAL_CASES, OPT_VAL_INPUT, OPT_BEST, OPT_CLASSES, OPT_ARCH, OPT_GLOBAL, OPT_GLOBAL2,
    OPT_LOCAL, OPT_STEPS, OPT_EPOCHS, OPT_EMPTY_KEEP, OPT_CE_WEIGHT, OPT_DICE_SMOOTH, OPT_VAL_EVERY, OPT_PREDICT,
    OPT_LOSS, OPT_SHIFT, OPT_PATIENCE
};

static struct {
    const char *best, *cases, *val_cases, *val_input, *predict;
    const char *global, *global2, *local;
    int have_arch, have_unet_opts, have_enc_opts;
    int64_t classes, steps, epochs, val_every;
    trainopts t;       /* the options every trainer has (cli/trainopts.h), -i -o -c among them */
    int have_val_every, have_steps, have_epochs, have_ce_weight;
    int64_t shift, patience;
    const char *loss_name;
    double empty_keep;
    sched_config sched;
    segnet_config net;
    optim_config opt;
    segloss_config loss;
} opt = {.steps = 2500, .val_every = 250, .empty_keep = 1, .shift = 4,
         .loss_name = "dice+ce"};

/* ---- the training run: state at file scope, so that it stays reachable
 * when an error ends the process in the middle of a step ---- */

static struct {
    segdata tr, va;            /* training and validation slices */
    caselist cases, val_cases;
    segsample smp;             /* which training slices each step sees */
    float *x;                  /* (B, H, W) */
    uint8_t *y, *pred;         /* (B, H, W) */
    segtrain *t;
    trainloop loop;            /* step, total, timing, the metrics log */
    double best_dice;          /* NAN: none yet */
    int64_t best_step;
    char *argv, *classes_json;
    int64_t skipped_records;
    stream_in *in;
} S = {.best_dice = NAN};

static void run_free(void)
{
    segdata_free(&S.tr);
    segdata_free(&S.va);
    caselist_free(&S.cases);
    caselist_free(&S.val_cases);
    segsample_free(&S.smp);
    free(S.x);
    free(S.y);
    free(S.pred);
    segtrain_free(S.t);
    free(S.argv);
    free(S.classes_json);
}

static void load_data(void)
{
    segdata_sets o = {opt.t.input, opt.val_input, opt.cases, opt.val_cases, (int)opt.classes};
    if (segdata_read_sets(&S.tr, &S.va, &S.cases, &S.val_cases, &o, &S.skipped_records, &S.in))
        die_err(1);
    if (S.skipped_records)
        log_info("%lld records of volumes in neither case list skipped", (long long)S.skipped_records);
}

/* The training slices (segsample.h's rule). */
static void select_slices(void)
{
    if (segsample_init(&S.smp, &S.tr, (uint64_t)opt.t.seed, opt.empty_keep))
        die_err(1);
    log_info("%lld training slices of %d volumes (%lld of %lld organ-free slices kept), %lld validation slices "
             "of %d volumes, %d classes, %dx%d",
             (long long)S.smp.n, S.tr.nvol, (long long)S.smp.empty_kept, (long long)S.smp.empty_total,
             (long long)S.va.n, S.va.nvol, S.tr.C, S.tr.H, S.tr.W);
}

/* ---- network (segsetup.h) ---- */

static void make_trainer(void)
{
    segsetup o = {opt.t.resume ? opt.t.ckpt : NULL, opt.global, opt.global2, opt.local, opt.net, opt.have_arch,
                  opt.have_unet_opts, opt.have_enc_opts, opt.opt, opt.loss, opt.t.seed, S.tr.C, S.smp.n};
    segsetup_state st;
    if (!(S.t = segsetup_trainer(&o, &st)))
        die_err(1);
    S.loop.step = st.step;
    if (opt.t.resume) {
        S.best_dice = st.best_dice;
        S.best_step = st.best_step;
    }
}

/* ---- checkpoints ---- */

static segtrain_meta run_meta(void)
{
    return (segtrain_meta){opt.t.seed, S.argv, S.classes_json, S.tr.C, S.smp.n, opt.global, opt.global2, opt.local,
                           S.best_dice, S.best_step};
}

static int save(trainloop *l, void *ctx)
{
    segtrain_meta m = run_meta();
    if (segtrain_save(S.t, l->step, &m, opt.t.ckpt))
        die_err(1);
    return 0;
}

static void save_best(double dice)
{
    segtrain_meta m = run_meta();
    if (segtrain_save_best(S.t, S.loop.step, &m, dice, opt.best))
        die_errx(1, "--best");
}

/* ---- the steps, metrics and validation (nn/trainloop.h calls them) ---- */

/* Sums over the steps since the last metrics line. */
static struct {
    segloss_meter m;
    double lr;                 /* the last step's */
    segloss_stats st;
    double last_val;           /* the last validation Dice, for the progress line */
} M;

/* Slices per step, over all ranks. */
static int64_t batch_all(void)
{
    return opt.t.batch * dist_size();
}

static double epoch_of(int64_t step)
{
    return (double)step * (double)batch_all() / (double)S.smp.n;
}

static int step(trainloop *l, void *ctx, double *loss)
{
    const int B = (int)opt.t.batch;
    segsample_batch_part(&S.smp, S.x, S.y, l->step, (int)batch_all(), dist_rank() * B, B, (int)opt.shift);
    M.lr = sched_lr(&opt.sched, l->step);
    if (segtrain_step(S.t, S.x, S.y, B, S.tr.H, S.tr.W, M.lr, &M.st))
        die_errx(1, "step %lld", (long long)l->step + 1);
    *loss = M.st.loss;
    return 1;
}

static int log_step(trainloop *l, void *ctx, double loss)
{
    segloss_meter_add(&M.m, &M.st, S.tr.C);
    if (M.m.n < opt.t.log_every && l->step != l->total)
        return 0;
    mval rec = {0};
    mval_set_map(&rec);
    mval_put_i64(&rec, "step", l->step);
    mval_put_f64(&rec, "epoch", epoch_of(l->step));
    segloss_meter_record(&M.m, &rec, S.tr.C);
    mval_put_f64(&rec, "lr", M.lr);
    mval_put_f64(&rec, "time", trainlog_elapsed(&l->tl));
    mval_put_f64(&rec, "steps_per_s", l->per_step > 0 ? 1 / l->per_step : 0);
    if (trainlog_write(&l->tl, &rec))
        die_err(1);
    mval_free(&rec);
    return 0;
}

/* Validation, the best checkpoint, and early stopping (1) after --patience
 * validations without a better Dice. */
static int validate(trainloop *l, void *ctx)
{
    segval_result res;
    double t0 = trainlog_elapsed(&l->tl);
    if (segval_run(&res, segtrain_net(S.t), &S.va, (int)opt.t.batch, S.x, S.pred))
        die_errx(1, "validation");
    int better = !isnan(res.mean) && (isnan(S.best_dice) || res.mean > S.best_dice);
    if (better) {
        S.best_dice = res.mean;
        S.best_step = l->step;
        if (opt.best)
            save_best(res.mean);
    }
    M.last_val = res.mean;
    mval rec = {0};
    mval_set_map(&rec);
    segval_log_record(&rec, l->step, epoch_of(l->step), &res, S.tr.classes, S.tr.C, S.best_dice, S.best_step);
    mval_put_f64(&rec, "val_seconds", trainlog_elapsed(&l->tl) - t0);
    mval_put_f64(&rec, "time", trainlog_elapsed(&l->tl));
    if (trainlog_write(&l->tl, &rec))
        die_err(1);
    mval_free(&rec);
    segval_free(&res);
    if (log_level >= 2) {
        trainlog_done(&l->tl);
        fprintf(stderr, "%s: step %lld: validation Dice %.4f%s\n", err_progname, (long long)l->step, res.mean,
                better ? " (best)" : "");
    }
    return opt.patience && !isnan(S.best_dice) && l->step != l->total &&
           l->step - S.best_step >= opt.patience * opt.val_every;
}

static void progress(trainloop *l, void *ctx, double loss)
{
    trainlog_line p = {l->step, l->total, loss, l->per_step > 0 ? 1 / l->per_step : 0.0, "steps/s", 2,
                       l->per_step, M.last_val, 1};
    trainlog_show(&l->tl, &p);
}

/* A run that --patience stopped says so in the log. */
static int finish(trainloop *l, void *ctx)
{
    if (!l->stopped)
        return 0;
    mval rec = {0};
    mval_set_map(&rec);
    mval_put_i64(&rec, "step", l->step);
    mval_put_str(&rec, "stopped", "patience");
    mval_put_i64(&rec, "best_step", S.best_step);
    mval_put_f64(&rec, "best_dice", S.best_dice);
    if (trainlog_write(&l->tl, &rec))
        die_err(1);
    mval_free(&rec);
    log_info("stopped at step %lld: no better validation Dice in %lld validations since step %lld", (long long)l->step,
             (long long)opt.patience, (long long)S.best_step);
    return 0;
}

static int train(int argc, char **argv)
{
    trainloop_fns fns = {.step = step, .log = log_step, .progress = progress, .save = save, .finish = finish};
    trainloop *l = &S.loop;
    M.last_val = NAN;
    S.argv = json_strv(argv, argc);
    load_data();
    if (S.tr.classes)
        S.classes_json = json_strv(S.tr.classes, S.tr.C);
    if (opt.best && !S.va.n)
        usage_error("--best needs validation volumes (--val-cases)");
    select_slices();
    const int64_t per_epoch = (S.smp.n + batch_all() - 1) / batch_all();
    l->total = opt.steps ? opt.steps : opt.epochs * per_epoch;
    opt.sched.total_steps = l->total;
    const size_t px = (size_t)S.tr.H * S.tr.W;
    if (!(S.x = malloc(opt.t.batch * px * sizeof(float))) || !(S.y = malloc(opt.t.batch * px)) ||
        !(S.pred = malloc(opt.t.batch * px)))
        die(1, "out of memory");
    make_trainer();
    if (l->step >= l->total) {
        log_warn("the checkpoint is at step %lld, the run has %lld steps: nothing to do", (long long)l->step,
                 (long long)l->total);
        run_free();
        return 0;
    }
    if (S.va.n)
        fns.validate = validate;
    trainopts_loop(&opt.t, l, "slices");
    l->val_every = opt.val_every;
    if (trainloop_run(l, &fns, NULL))
        die_err(1);
    char more[80] = "";
    if (!isnan(S.best_dice))
        snprintf(more, sizeof more, "; best validation Dice %.4f at step %lld", S.best_dice, (long long)S.best_step);
    if (trainloop_end(l, "", opt.t.ckpt, more))
        die_err(1);
    run_free();
    return 0;
}

/* ---- --predict (segpredict.h) ---- */

/* As S for training: reachable when an error ends the process. */
static struct {
    segnet *net;
    stream_in *in;
    stream_out *out;
    segpredict sp;
} P;

static int predict(int argc, char **argv)
{
    ckpt *c = ckpt_open(opt.predict);
    int rc;
    if (!c || !(P.net = segnet_ckpt_load(c)))
        die_errx(1, "--predict");
    ckpt_close(c);
    if (!(P.in = stream_in_open(opt.t.input)))
        die_err(1);
    P.out = trainopts_output(&opt.t, argc, argv, opt.predict);
    rc = segpredict_init(&P.sp, P.net, P.out, (int)opt.t.batch) || segpredict_stream(&P.sp, P.in) ? -1 : 0;
    if (!rc)
        log_info("%lld slices predicted with %s", (long long)stream_out_count(P.out), opt.predict);
    filter_output_done(P.out, rc);
    stream_in_close(P.in);
    segpredict_free(&P.sp);
    segnet_free(P.net);
    return 0;
}

/* What a job of several ranks can do (nn/dist.h): every rank reads the
 * inputs itself, so they must be files (mpirun gives stdin to rank 0 only). */
static void check_ranks(void)
{
    const char *in[2] = {opt.t.input, opt.val_input};
    if (opt.predict)
        trainopts_ranks_usage_error("--predict runs as one process, not under mpirun with %d ranks", dist_size());
    for (int i = 0; i < 2; i++)
        if (in[i])
            trainopts_ranks_input(i ? "--val-input" : "-i", in[i], 0);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TRAINOPTS_LONG_FILES,
        {"cases", required_argument, 0, OPT_CASES},
        {"val-cases", required_argument, 0, OPT_VAL_CASES},
        {"val-input", required_argument, 0, OPT_VAL_INPUT},
        {"best", required_argument, 0, OPT_BEST},
        {"classes", required_argument, 0, OPT_CLASSES},
        {"arch", required_argument, 0, OPT_ARCH},
        {"global", required_argument, 0, OPT_GLOBAL},
        {"global2", required_argument, 0, OPT_GLOBAL2},
        {"local", required_argument, 0, OPT_LOCAL},
        {"steps", required_argument, 0, OPT_STEPS},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"empty-keep", required_argument, 0, OPT_EMPTY_KEEP},
        {"ce-weight", required_argument, 0, OPT_CE_WEIGHT},
        {"dice-smooth", required_argument, 0, OPT_DICE_SMOOTH},
        {"val-every", required_argument, 0, OPT_VAL_EVERY},
        {"predict", required_argument, 0, OPT_PREDICT},
        {"loss", required_argument, 0, OPT_LOSS},
        {"shift", required_argument, 0, OPT_SHIFT},
        {"patience", required_argument, 0, OPT_PATIENCE},
        TRAINOPTS_LONG,
        FILTER_LONGOPTS_END,
    };
    int c;

    filter_init(argc, argv);
    segnet_config_default(&opt.net);
    segtrain_optim_default(&opt.opt);
    segloss_config_default(&opt.loss);
    trainopts_default(&opt.t);
    while ((c = trainopts_getopt(argc, argv, longopts, usage, &opt.t)) != -1) {
        switch (c) {
        case OPT_CASES: opt.cases = optarg; break;
        case OPT_VAL_CASES: opt.val_cases = optarg; break;
        case OPT_VAL_INPUT: opt.val_input = optarg; break;
        case OPT_BEST: opt.best = optarg; break;
        case OPT_CLASSES: opt.classes = opt_i64("--classes", optarg, 2, 256); break;
        case OPT_ARCH:
            if (segnet_arch_parse(optarg, &opt.net.arch))
                usage_error("option --arch: %s", err_get());
            opt.have_arch = 1;
            break;
        case OPT_GLOBAL: opt.global = optarg; break;
        case OPT_GLOBAL2: opt.global2 = optarg; break;
        case OPT_LOCAL: opt.local = optarg; break;
        case OPT_STEPS:
            opt.steps = opt_i64("--steps", optarg, 1, INT64_MAX / 8192);
            opt.have_steps = 1;
            break;
        case OPT_EPOCHS:
            opt.epochs = opt_i64("--epochs", optarg, 1, 1 << 30);
            opt.have_epochs = 1;
            break;
        case OPT_PATIENCE: opt.patience = opt_i64("--patience", optarg, 0, INT64_MAX); break;
        case OPT_SHIFT: opt.shift = opt_i64("--shift", optarg, 0, 1 << 20); break;
        case OPT_LOSS:
            if (strcmp(optarg, "dice") && strcmp(optarg, "dice+ce"))
                usage_error("option --loss: '%s' is not dice or dice+ce", optarg);
            opt.loss_name = optarg;
            break;
        case OPT_EMPTY_KEEP: opt.empty_keep = opt_f64("--empty-keep", optarg, 0, 1); break;
        case OPT_CE_WEIGHT:
            opt.loss.ce_weight = opt_f64("--ce-weight", optarg, 0, 1e6);
            opt.have_ce_weight = 1;
            break;
        case OPT_DICE_SMOOTH: opt.loss.smooth = opt_f64("--dice-smooth", optarg, 1e-12, 1e12); break;
        case OPT_VAL_EVERY:
            opt.val_every = opt_i64("--val-every", optarg, 0, INT64_MAX);
            opt.have_val_every = 1;
            break;
        case OPT_PREDICT: opt.predict = optarg; break;
        }
    }
    opt.sched = trainopts_sched(&opt.t);
    if (opt.t.have_lr)
        opt.opt.lr = opt.t.lr;
    if (opt.t.have_momentum)
        opt.opt.beta1 = opt.t.momentum;
    if (opt.t.have_wd)
        opt.opt.weight_decay = opt.t.weight_decay;
    opt.have_unet_opts = trainopts_unet(&opt.t, &opt.net.local);
    opt.have_enc_opts = trainopts_resnet(&opt.t, &opt.net.enc);
    if (opt.have_steps && opt.have_epochs)
        usage_error("--steps and --epochs both say how long to train: give one");
    if (opt.have_epochs)
        opt.steps = 0;
    if (!strcmp(opt.loss_name, "dice")) {
        if (opt.have_ce_weight && opt.loss.ce_weight > 0)
            usage_error("--ce-weight %g: --loss dice has no cross-entropy term (use --loss dice+ce)",
                        opt.loss.ce_weight);
        opt.loss.ce_weight = 0;
    } else if (!opt.have_ce_weight) {
        opt.loss.ce_weight = 1;
    }
    if (trainopts_join_job(&opt.t))
        check_ranks();
    if (opt.predict) {
        if (opt.t.resume || opt.t.ckpt || opt.cases || opt.val_cases || opt.val_input || opt.best || opt.t.log ||
            opt.global || opt.global2 || opt.local)
            usage_error("--predict takes no training options (-c, --resume, --cases, --val-cases, --best, --log, "
                        "--global, ...)");
        predict(argc, argv);
        return trainopts_leave_job();
    }
    if (strcmp(opt.t.output, "-"))
        usage_error("-o is where --predict writes; training writes checkpoints (-c, --best)");
    if (!opt.t.ckpt)
        usage_error("no checkpoint file (-c FILE)");
    if (opt.global2) {
        if (opt.have_arch && opt.net.arch != SEG_GG)
            usage_error("--global2 is the second global branch of --arch global+global, not of %s",
                        segnet_arch_name(opt.net.arch));
        opt.net.arch = SEG_GG;
        opt.have_arch = 1;
    }
    if (opt.local && (opt.net.arch == SEG_GG || opt.net.arch == SEG_G))
        usage_error("--local: --arch %s has no local branch", segnet_arch_name(opt.net.arch));
    if (opt.global && opt.net.arch == SEG_L)
        usage_error("--global: --arch local has no global branch");
    if (opt.val_input && !opt.val_cases)
        usage_error("--val-input needs --val-cases (which volumes to read from it)");
    if (opt.patience && !opt.val_cases)
        usage_error("--patience needs validation volumes (--val-cases)");
    if (opt.patience && !opt.val_every)
        usage_error("--patience needs validation during training (--val-every N > 0)");
    if (opt.sched.kind == SCHED_COSINE && opt.sched.warmup_steps && opt.steps && opt.sched.warmup_steps >= opt.steps)
        usage_error("--warmup %lld is not below --steps %lld", (long long)opt.sched.warmup_steps,
                    (long long)opt.steps);
    if (unet_config_check(&opt.net.local))
        usage_error("%s", err_get());
    if (resnet_config_check(&opt.net.enc))
        usage_error("%s", err_get());
    opt.sched.base_lr = opt.opt.lr;
    train(argc, argv);
    return trainopts_leave_job();
}
