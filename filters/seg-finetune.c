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
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/args.h"
#include "core/err.h"
#include "core/json.h"
#include "core/rng.h"
#include "finetune/segdata.h"
#include "finetune/segloss.h"
#include "finetune/segtrain.h"
#include "io/frame.h"
#include "io/stream.h"
#include "models/segnet.h"
#include "nn/ckpt.h"
#include "nn/nn.h"
#include "nn/trainlog.h"

/* --tensorboard DIR (the event files beside --log) */
static const char *tensorboard;

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
           "      --global FILE       Eg from an lrc-train --method moco checkpoint (default random)\n"
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
           "      --dice-smooth S     smoothing term of the soft Dice (default 1)\n"
           "      --val-every N       validate every N steps (default 250; 0: at the end)\n"
           "      --seed N            random seed (default 0): same seed and threads, same checkpoint\n"
           "      --threads N         threads of the engine (default: all cores)\n"
           "\n"
           "Prediction:\n"
           "      --predict FILE      read slice frames, write them with 'pred' [Y, X] uint8 from the\n"
           "                          network in FILE (a seg-finetune checkpoint)\n"
           "  -o, --output SPEC       frames out (default stdout)\n"
           "\n"
           "Common:\n"
           "  -q, --quiet             errors only\n"
           "  -v, --verbose           more messages (repeatable)\n"
           "      --max-record SIZE   refuse records larger than SIZE bytes (default 4G)\n"
           "  -h, --help              this help\n"
           "      --version           version\n",
           err_progname, err_progname);
}

enum {
    OPT_TENSORBOARD = 0x180, OPT_CASES = 0x100, OPT_VAL_CASES, OPT_VAL_INPUT, OPT_BEST, OPT_RESUME, OPT_SAVE_EVERY, OPT_LOG, OPT_LOG_EVERY,
    OPT_CLASSES, OPT_ARCH, OPT_GLOBAL, OPT_GLOBAL2, OPT_LOCAL, OPT_WIDTHS, OPT_DIM, OPT_DEPTH, OPT_WIDTH, OPT_NORM,
    OPT_BATCH, OPT_STEPS, OPT_EPOCHS, OPT_EMPTY_KEEP, OPT_LR, OPT_SCHEDULE, OPT_WARMUP, OPT_MIN_LR, OPT_LR_STEP,
    OPT_LR_GAMMA, OPT_MOMENTUM, OPT_WD, OPT_CE_WEIGHT, OPT_DICE_SMOOTH, OPT_VAL_EVERY, OPT_SEED, OPT_THREADS,
    OPT_PREDICT, OPT_LOSS, OPT_SHIFT, OPT_PATIENCE
};

static struct {
    const char *input, *output, *ckpt, *best, *log, *cases, *val_cases, *val_input, *predict;
    const char *global, *global2, *local;
    int resume, have_arch, have_unet_opts, have_enc_opts;
    int64_t save_every, log_every, classes, batch, steps, epochs, val_every, seed, threads;
    int have_val_every, have_steps, have_epochs, have_ce_weight;
    int64_t shift, patience;
    const char *loss_name;
    double empty_keep;
    sched_config sched;
    segnet_config net;
    optim_config opt;
    segloss_config loss;
} opt = {.input = "-", .output = "-", .save_every = 500, .log_every = 10, .batch = 8, .steps = 2500,
         .val_every = 250, .empty_keep = 1, .shift = 4, .loss_name = "dice+ce"};

static char *argv_json(int argc, char **argv)
{
    mval a = {0};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    mval_set_array(&a);
    for (int i = 0; i < argc; i++)
        mval_set_str(mval_push(&a), argv[i]);
    if (json_dump(&a, -1, &buf, &len, &cap))
        buf = NULL;
    mval_free(&a);
    return buf;
}

/* A JSON array of strings (malloc'ed), or NULL. */
static char *strv_json(char *const *v, int n)
{
    mval a = {0};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    mval_set_array(&a);
    for (int i = 0; i < n; i++)
        mval_set_str(mval_push(&a), v[i]);
    if (json_dump(&a, -1, &buf, &len, &cap))
        buf = NULL;
    mval_free(&a);
    return buf;
}

/* ---- the training run: state at file scope, so that it stays reachable
 * when an error ends the process in the middle of a step ---- */

static struct {
    segdata tr, va;            /* training and validation slices */
    caselist cases, val_cases;
    int64_t *idx;              /* the training slices used (into tr), in canonical order */
    int64_t nidx;
    int64_t *perm;             /* the permutation of the current epoch */
    int64_t perm_epoch;
    float *x;                  /* (B, H, W) */
    uint8_t *y, *pred;         /* (B, H, W) */
    segtrain *t;
    int64_t step, start_step, total;
    int stopped;               /* --patience ended the run before total */
    double best_dice;          /* NAN: none yet */
    int64_t best_step;
    char *argv, *classes_json;
    trainlog tl;
    int64_t empty_total, empty_kept, skipped_records;
    ckpt *c, *pre[3];          /* open checkpoints (reachable if an error ends the run) */
    stream_in *in;
} S = {.best_dice = NAN, .perm_epoch = -1};

static void run_free(void)
{
    segdata_free(&S.tr);
    segdata_free(&S.va);
    caselist_free(&S.cases);
    caselist_free(&S.val_cases);
    free(S.idx);
    free(S.perm);
    free(S.x);
    free(S.y);
    free(S.pred);
    segtrain_free(S.t);
    free(S.argv);
    free(S.classes_json);
}

/* Which set a volume id belongs to: 't', 'v' or 0 (neither). */
static int role_of(const char *id, int from_val_input)
{
    if (from_val_input)
        return caselist_has(&S.val_cases, id) ? 'v' : 0;
    if (opt.cases ? caselist_has(&S.cases, id) : !caselist_has(&S.val_cases, id))
        return 't';
    if (!opt.val_input && caselist_has(&S.val_cases, id))
        return 'v';
    return 0;
}

static void read_input(const char *spec, int from_val_input)
{
    stream_in *in = S.in = stream_in_open(spec);
    frame f;
    int rc;
    if (!in)
        die_err(1);
    while ((rc = stream_in_next(in, &f)) > 0) {
        int role = f.id ? role_of(f.id, from_val_input) : 't';
        if (!role) {
            S.skipped_records++;
            frame_free(&f);
            continue;
        }
        if (segdata_add(role == 't' ? &S.tr : &S.va, &f)) {
            frame_free(&f);
            die_errx(1, "%s", stream_in_name(in));
        }
        frame_free(&f);
    }
    if (rc < 0)
        die_errx(1, "%s", stream_in_name(in));
    stream_in_close(in);
    S.in = NULL;
}

static void load_data(void)
{
    segdata_init(&S.tr, (int)opt.classes);
    segdata_init(&S.va, (int)opt.classes);
    if (opt.cases && caselist_load(&S.cases, opt.cases))
        die_errx(1, "--cases");
    if (opt.val_cases && caselist_load(&S.val_cases, opt.val_cases))
        die_errx(1, "--val-cases");
    for (int i = 0; i < S.cases.n; i++)
        if (caselist_has(&S.val_cases, S.cases.id[i]))
            die(1, "volume '%s' is in both --cases %s and --val-cases %s (validation must be held out)",
                S.cases.id[i], opt.cases, opt.val_cases);
    read_input(opt.input, 0);
    if (opt.val_input)
        read_input(opt.val_input, 1);
    if (segdata_finish(&S.tr))
        die_errx(1, "%s", opt.input);
    if (segdata_finish(&S.va))
        die_errx(1, "%s", opt.val_input ? opt.val_input : opt.input);
    for (int i = 0; i < S.cases.n; i++)
        if (segdata_find(&S.tr, S.cases.id[i]) < 0)
            die(1, "--cases %s: volume '%s' has no slices in %s", opt.cases, S.cases.id[i], opt.input);
    for (int i = 0; i < S.val_cases.n; i++)
        if (segdata_find(&S.va, S.val_cases.id[i]) < 0)
            die(1, "--val-cases %s: volume '%s' has no slices in %s", opt.val_cases, S.val_cases.id[i],
                opt.val_input ? opt.val_input : opt.input);
    if (!S.tr.n)
        die(1, "%s: no training slices (%lld records of other volumes)", opt.input, (long long)S.skipped_records);
    if (S.va.n) {
        if (S.va.H != S.tr.H || S.va.W != S.tr.W)
            die(1, "validation slices are %dx%d, training slices %dx%d (one size per run)", S.va.H, S.va.W,
                S.tr.H, S.tr.W);
        if (segdata_same_classes(&S.va, &S.tr))
            die_errx(1, "validation slices");
    }
    if (S.skipped_records)
        log_info("%lld records of volumes in neither case list skipped", (long long)S.skipped_records);
}

/* FNV-1a of a string. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* The training slices in canonical order (volume ids sorted, then z), every
 * organ-free slice kept with probability --empty-keep, drawn from (seed,
 * id, z) so that the choice depends neither on the input order nor on the
 * other slices. */
static int cmp_str(const void *a, const void *b)
{
    return strcmp(S.tr.vols[*(const int *)a].id, S.tr.vols[*(const int *)b].id);
}

static void select_slices(void)
{
    int *order = malloc((size_t)S.tr.nvol * sizeof *order);
    if (!order || !(S.idx = malloc((size_t)S.tr.n * sizeof *S.idx)))
        die(1, "out of memory");
    for (int v = 0; v < S.tr.nvol; v++)
        order[v] = v;
    qsort(order, (size_t)S.tr.nvol, sizeof *order, cmp_str);
    for (int k = 0; k < S.tr.nvol; k++) {
        const segvol *sv = &S.tr.vols[order[k]];
        for (int64_t j = 0; j < sv->n; j++) {
            int64_t i = sv->slice[j];
            if (!segdata_has_organ(&S.tr, i)) {
                rng r;
                S.empty_total++;
                rng_seed(&r, (uint64_t)opt.seed, hash_str(sv->id) ^ (0xE3B0C442ULL * (uint64_t)(S.tr.z[i] + 1)));
                if (!(rng_uniform(&r) < opt.empty_keep))
                    continue;
                S.empty_kept++;
            }
            S.idx[S.nidx++] = i;
        }
    }
    free(order);
    if (!S.nidx)
        die(1, "no training slice left: all %lld are organ-free and --empty-keep %g kept none",
            (long long)S.empty_total, opt.empty_keep);
    log_info("%lld training slices of %d volumes (%lld of %lld organ-free slices kept), %lld validation slices "
             "of %d volumes, %d classes, %dx%d",
             (long long)S.nidx, S.tr.nvol, (long long)S.empty_kept, (long long)S.empty_total, (long long)S.va.n,
             S.va.nvol, S.tr.C, S.tr.H, S.tr.W);
}

/* Slice at position p of the endless sequence of epoch permutations. */
static int64_t slice_at(int64_t p)
{
    int64_t e = p / S.nidx, k = p % S.nidx;
    if (e != S.perm_epoch) {
        rng r;
        rng_seed(&r, (uint64_t)opt.seed, 0xE90C0000ULL + (uint64_t)e);
        for (int64_t i = 0; i < S.nidx; i++)
            S.perm[i] = S.idx[i];
        for (int64_t i = S.nidx - 1; i > 0; i--) {
            int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1), t = S.perm[i];
            S.perm[i] = S.perm[j];
            S.perm[j] = t;
        }
        S.perm_epoch = e;
    }
    return S.perm[k];
}

/* ---- network ---- */

static ckpt *open_pretrained(const char *path, const char *flag)
{
    ckpt *c;
    if (!path)
        return NULL;
    if (!(c = ckpt_open(path)))
        die_errx(1, "%s", flag);
    return c;
}

static int same_json(char *a, char *b)
{
    int same = a && b && !strcmp(a, b);
    free(a);
    free(b);
    return same;
}

/* With a pre-trained part, the options that describe a random one must not
 * ask for another configuration than the checkpoint's. */
static void check_part_options(const segnet *net)
{
    for (int b = 0; b < segnet_nbranch(net); b++) {
        const char *path = segnet_branch_kind(net, b) == 'l' ? opt.local : b ? opt.global2 : opt.global;
        const char *flag = segnet_branch_kind(net, b) == 'l' ? "--local" : b ? "--global2" : "--global";
        if (!path)
            continue;
        if (segnet_branch_kind(net, b) == 'l' && opt.have_unet_opts) {
            char *want = unet_config_json(&opt.net.local), *have = unet_config_json(unet_get_config(segnet_unet(net)));
            if (!same_json(want, have))
                die(1, "%s %s: its U-Net's configuration differs from --widths/--dim/--norm (leave them out "
                       "to take the checkpoint's)",
                    flag, path);
        }
        if (segnet_branch_kind(net, b) == 'g' && opt.have_enc_opts) {
            char *want = resnet_config_json(&opt.net.enc),
                 *have = resnet_config_json(resnet_get_config(segnet_encoder(net, b)));
            if (!same_json(want, have))
                die(1, "%s %s: its encoder's configuration differs from --depth/--width/--norm (leave them out "
                       "to take the checkpoint's)",
                    flag, path);
        }
    }
}

static void make_trainer(void)
{
    if (opt.resume) {
        ckpt *c = S.c = ckpt_open(opt.ckpt);
        const char *p;
        if (!c)
            die_errx(1, "--resume");
        if (!(S.t = segtrain_ckpt_load(c, &opt.opt, &opt.loss)))
            die_errx(1, "--resume");
        segnet *net = segtrain_net(S.t);
        if (opt.have_arch && segnet_get_arch(net) != opt.net.arch)
            die(1, "--resume: %s holds a %s network, --arch asks for %s", opt.ckpt,
                segnet_arch_name(segnet_get_arch(net)), segnet_arch_name(opt.net.arch));
        if (segnet_classes(net) != S.tr.C)
            die(1, "--resume: %s has %d classes, the slices %d", opt.ckpt, segnet_classes(net), S.tr.C);
        S.step = ckpt_step(c);
        if ((p = ckpt_meta(c, "best_dice")))
            S.best_dice = strtod(p, NULL);
        if ((p = ckpt_meta(c, "best_step")))
            S.best_step = strtoll(p, NULL, 10);
        if ((p = ckpt_meta(c, "train_slices")) && strtoll(p, NULL, 10) != S.nidx)
            log_warn("--resume: %s was trained on %s slices, this input gives %lld: the order of the batches "
                     "is not the interrupted run's",
                     opt.ckpt, p, (long long)S.nidx);
        if ((p = ckpt_meta(c, "seed")) && strtoll(p, NULL, 10) != opt.seed)
            log_warn("--resume: %s was trained with --seed %s, this run has %lld", opt.ckpt, p,
                     (long long)opt.seed);
        ckpt_close(c);
        S.c = NULL;
        log_info("resumed from %s at step %lld", opt.ckpt, (long long)S.step);
        return;
    }
    segnet_init init = {{NULL, NULL}, NULL};
    init.global[0] = S.pre[0] = open_pretrained(opt.global, "--global");
    init.global[1] = S.pre[1] = open_pretrained(opt.global2, "--global2");
    init.local = S.pre[2] = open_pretrained(opt.local, "--local");
    opt.net.classes = S.tr.C;
    segnet *net = segnet_create(&opt.net, &init, (uint64_t)opt.seed);
    if (!net) {
        const char *flag = "";
        /* name the flag whose file the message is about */
        if (opt.global && strstr(err_get(), opt.global))
            flag = "--global ";
        else if (opt.global2 && strstr(err_get(), opt.global2))
            flag = "--global2 ";
        else if (opt.local && strstr(err_get(), opt.local))
            flag = "--local ";
        die(1, "%s%s", flag, err_get());
    }
    for (int k = 0; k < 3; k++) {
        ckpt_close(S.pre[k]);
        S.pre[k] = NULL;
    }
    if (!(S.t = segtrain_create(net, &opt.opt, &opt.loss)))
        die_err(1);
    check_part_options(segtrain_net(S.t));
}

/* ---- checkpoints ---- */

static int put_common_meta(ckpt_writer *w)
{
    char num[64];
    snprintf(num, sizeof num, "%lld", (long long)opt.seed);
    if (ckpt_put_meta(w, "seed", num) || ckpt_put_meta(w, "lrcpipe_version", LRCPIPE_VERSION))
        return -1;
    if (S.argv && ckpt_put_meta(w, "argv", S.argv))
        return -1;
    if (S.classes_json && ckpt_put_meta(w, "classes", S.classes_json))
        return -1;
    snprintf(num, sizeof num, "%d", S.tr.C);
    if (ckpt_put_meta(w, "num_classes", num))
        return -1;
    snprintf(num, sizeof num, "%lld", (long long)S.nidx);
    if (ckpt_put_meta(w, "train_slices", num))
        return -1;
    if ((opt.global && ckpt_put_meta(w, "init_global", opt.global)) ||
        (opt.global2 && ckpt_put_meta(w, "init_global2", opt.global2)) ||
        (opt.local && ckpt_put_meta(w, "init_local", opt.local)))
        return -1;
    if (!isnan(S.best_dice)) {
        snprintf(num, sizeof num, "%.17g", S.best_dice);
        if (ckpt_put_meta(w, "best_dice", num))
            return -1;
        snprintf(num, sizeof num, "%lld", (long long)S.best_step);
        if (ckpt_put_meta(w, "best_step", num))
            return -1;
    }
    return 0;
}

static void save(void)
{
    ckpt_writer *w = ckpt_writer_new();
    if (!w || segtrain_ckpt_put(w, S.t) || ckpt_put_step(w, S.step) || put_common_meta(w) ||
        ckpt_write(w, opt.ckpt))
        die_err(1);
    ckpt_writer_free(w);
}

static void save_best(double dice)
{
    ckpt_writer *w = ckpt_writer_new();
    char num[64];
    snprintf(num, sizeof num, "%.17g", dice);
    if (!w || segnet_ckpt_put(w, segtrain_net(S.t)) || ckpt_put_meta(w, "method", "seg-finetune") ||
        ckpt_put_step(w, S.step) || put_common_meta(w) || ckpt_put_meta(w, "val_dice", num) ||
        ckpt_write(w, opt.best))
        die_errx(1, "--best");
    ckpt_writer_free(w);
}

/* ---- validation: 3-D Dice per volume on the stacked validation slices ---- */

typedef struct {
    double mean;       /* over every scored (volume, organ) */
    double *organ;     /* C: mean per organ over volumes (NAN: never scored) */
    int scored;
} valres;

static void validate(valres *res)
{
    const int C = S.tr.C, B = (int)opt.batch;
    const size_t px = (size_t)S.tr.H * S.tr.W;
    int64_t *tp = calloc((size_t)C, sizeof *tp), *np = calloc((size_t)C, sizeof *np),
            *nr = calloc((size_t)C, sizeof *nr);
    double *osum = calloc((size_t)C, sizeof *osum);
    int *on = calloc((size_t)C, sizeof *on);
    segnet *net = segtrain_net(S.t);
    if (!tp || !np || !nr || !osum || !on || !(res->organ = calloc((size_t)C, sizeof *res->organ)))
        die(1, "out of memory");
    double sum = 0;
    int n = 0;
    for (int v = 0; v < S.va.nvol; v++) {
        const segvol *sv = &S.va.vols[v];
        memset(tp, 0, (size_t)C * sizeof *tp);
        memset(np, 0, (size_t)C * sizeof *np);
        memset(nr, 0, (size_t)C * sizeof *nr);
        for (int64_t j0 = 0; j0 < sv->n; j0 += B) {
            int m = (int)(sv->n - j0 < B ? sv->n - j0 : B);
            for (int k = 0; k < m; k++)
                memcpy(S.x + k * px, S.va.img + (size_t)sv->slice[j0 + k] * px, px * sizeof(float));
            if (segnet_predict(net, S.pred, S.x, m, S.tr.H, S.tr.W))
                die_errx(1, "validation");
            for (int k = 0; k < m; k++) {
                const uint8_t *ref = S.va.lab + (size_t)sv->slice[j0 + k] * px, *pr = S.pred + k * px;
                for (size_t i = 0; i < px; i++) {
                    nr[ref[i]]++;
                    np[pr[i]]++;
                    tp[ref[i]] += ref[i] == pr[i];
                }
            }
        }
        for (int c = 1; c < C; c++) {
            if (!(nr[c] + np[c]))
                continue; /* absent from both: excluded, as dice-eval does */
            double d = 2.0 * (double)tp[c] / (double)(nr[c] + np[c]);
            sum += d;
            n++;
            osum[c] += d;
            on[c]++;
        }
    }
    res->mean = n ? sum / n : NAN;
    res->scored = n;
    for (int c = 0; c < C; c++)
        res->organ[c] = c && on[c] ? osum[c] / on[c] : NAN;
    free(tp), free(np), free(nr), free(osum), free(on);
}

/* ---- progress and metrics ---- */

typedef struct {
    double loss, dice_loss, ce, t_last, per_step;
    int64_t n, tp[SEGLOSS_MAX_CLASSES], np[SEGLOSS_MAX_CLASSES], nr[SEGLOSS_MAX_CLASSES];
    double last_val;
} meter;

static void progress(meter *m, double loss)
{
    char line[256], eta[32];
    trainlog *t = &S.tl;
    double now = trainlog_now(); /* trainlog keeps last_print on this clock */
    if (log_level < 1)
        return;
    if (!t->tty && log_level < 3 && now - t->last_print < 30 && S.step != S.total)
        return;
    t->last_print = now;
    int k = snprintf(line, sizeof line, "%s: step %lld/%lld  loss %.4f  %.2f steps/s", err_progname,
                     (long long)S.step, (long long)S.total, loss, m->per_step > 0 ? 1 / m->per_step : 0.0);
    if (!isnan(m->last_val) && k < (int)sizeof line)
        k += snprintf(line + k, sizeof line - (size_t)k, "  val %.4f", m->last_val);
    if (k < (int)sizeof line)
        snprintf(line + k, sizeof line - (size_t)k, "  ETA %s",
                 trainlog_fmt_secs(m->per_step * (double)(S.total - S.step), eta, sizeof eta));
    if (t->tty) {
        fprintf(stderr, "\r%s\033[K", line);
        t->drawn = 1;
    } else {
        fprintf(stderr, "%s\n", line);
    }
}

static void log_train(meter *m, double lr)
{
    mval rec = {0};
    segloss_stats st;
    memcpy(st.tp, m->tp, sizeof st.tp);
    memcpy(st.npred, m->np, sizeof st.npred);
    memcpy(st.nref, m->nr, sizeof st.nref);
    mval_set_map(&rec);
    mval_put_i64(&rec, "step", S.step);
    mval_put_f64(&rec, "epoch", (double)S.step * (double)opt.batch / (double)S.nidx);
    mval_put_f64(&rec, "loss", m->loss / m->n);
    mval_put_f64(&rec, "dice_loss", m->dice_loss / m->n);
    mval_put_f64(&rec, "ce", m->ce / m->n);
    double d = segloss_hard_dice(&st, S.tr.C);
    if (!isnan(d))
        mval_put_f64(&rec, "train_dice", d);
    mval_put_f64(&rec, "lr", lr);
    mval_put_f64(&rec, "time", trainlog_elapsed(&S.tl));
    mval_put_f64(&rec, "steps_per_s", m->per_step > 0 ? 1 / m->per_step : 0);
    if (trainlog_write(&S.tl, &rec))
        die_err(1);
    mval_free(&rec);
    m->loss = m->dice_loss = m->ce = 0;
    m->n = 0;
    memset(m->tp, 0, sizeof m->tp);
    memset(m->np, 0, sizeof m->np);
    memset(m->nr, 0, sizeof m->nr);
}

static void run_validation(meter *m)
{
    valres res;
    double t0 = trainlog_elapsed(&S.tl);
    validate(&res);
    int better = !isnan(res.mean) && (isnan(S.best_dice) || res.mean > S.best_dice);
    if (better) {
        S.best_dice = res.mean;
        S.best_step = S.step;
        if (opt.best)
            save_best(res.mean);
    }
    m->last_val = res.mean;
    mval rec = {0}, *org;
    mval_set_map(&rec);
    mval_put_i64(&rec, "step", S.step);
    mval_put_f64(&rec, "epoch", (double)S.step * (double)opt.batch / (double)S.nidx);
    if (!isnan(res.mean))
        mval_put_f64(&rec, "val_dice", res.mean);
    org = mval_map_put(&rec, "val_organs");
    mval_set_map(org);
    for (int c = 1; c < S.tr.C; c++) {
        char name[32];
        if (isnan(res.organ[c]))
            continue;
        if (!S.tr.classes)
            snprintf(name, sizeof name, "%d", c);
        mval_put_f64(org, S.tr.classes ? S.tr.classes[c] : name, res.organ[c]);
    }
    mval_put_i64(&rec, "val_scored", res.scored);
    if (!isnan(S.best_dice)) {
        mval_put_f64(&rec, "best_dice", S.best_dice);
        mval_put_i64(&rec, "best_step", S.best_step);
    }
    mval_put_f64(&rec, "val_seconds", trainlog_elapsed(&S.tl) - t0);
    mval_put_f64(&rec, "time", trainlog_elapsed(&S.tl));
    if (trainlog_write(&S.tl, &rec))
        die_err(1);
    mval_free(&rec);
    free(res.organ);
    if (log_level >= 2) {
        if (S.tl.tty && S.tl.drawn)
            fputc('\n', stderr), S.tl.drawn = 0;
        fprintf(stderr, "%s: step %lld: validation Dice %.4f%s\n", err_progname, (long long)S.step, res.mean,
                better ? " (best)" : "");
    }
}

static int train(int argc, char **argv)
{
    meter m;
    memset(&m, 0, sizeof m);
    m.last_val = NAN;
    S.argv = argv_json(argc, argv);
    load_data();
    if (S.tr.classes)
        S.classes_json = strv_json(S.tr.classes, S.tr.C);
    if (opt.best && !S.va.n)
        usage_error("--best needs validation volumes (--val-cases)");
    select_slices();
    const int64_t per_epoch = (S.nidx + opt.batch - 1) / opt.batch;
    S.total = opt.steps ? opt.steps : opt.epochs * per_epoch;
    opt.sched.total_steps = S.total;
    const size_t px = (size_t)S.tr.H * S.tr.W;
    if (!(S.perm = malloc((size_t)S.nidx * sizeof *S.perm)) || !(S.x = malloc(opt.batch * px * sizeof(float))) ||
        !(S.y = malloc(opt.batch * px)) || !(S.pred = malloc(opt.batch * px)))
        die(1, "out of memory");
    make_trainer();
    S.start_step = S.step;
    if (S.step >= S.total) {
        log_warn("the checkpoint is at step %lld, the run has %lld steps: nothing to do", (long long)S.step,
                 (long long)S.total);
        run_free();
        return 0;
    }
    if (trainlog_open(&S.tl, opt.log, opt.resume) || (tensorboard && trainlog_tensorboard(&S.tl, tensorboard)))
        die_err(1);
    m.t_last = trainlog_elapsed(&S.tl);
    while (S.step < S.total) {
        const int B = (int)opt.batch;
        segloss_stats st;
        rng r;
        rng_seed(&r, (uint64_t)opt.seed, 0x5A1F7000ULL + (uint64_t)S.step);
        for (int k = 0; k < B; k++) {
            int64_t i = slice_at(S.step * B + k);
            int dy = 0, dx = 0;
            if (opt.shift) {
                dy = (int)rng_below(&r, 2 * (uint64_t)opt.shift + 1) - (int)opt.shift;
                dx = (int)rng_below(&r, 2 * (uint64_t)opt.shift + 1) - (int)opt.shift;
            }
            segdata_copy_shifted(S.x + k * px, S.y + k * px, &S.tr, i, dy, dx, 0.0f);
        }
        double lr = sched_lr(&opt.sched, S.step);
        if (segtrain_step(S.t, S.x, S.y, B, S.tr.H, S.tr.W, lr, &st))
            die_errx(1, "step %lld", (long long)S.step + 1);
        if (!isfinite(st.loss))
            die(1, "step %lld: the loss is not finite (lower --lr?)", (long long)S.step + 1);
        S.step++;
        double now = trainlog_elapsed(&S.tl), dt = now - m.t_last;
        m.t_last = now;
        m.per_step = S.step - S.start_step > 1 ? 0.9 * m.per_step + 0.1 * dt : dt;
        m.loss += st.loss;
        m.dice_loss += st.dice_loss;
        m.ce += st.ce;
        m.n++;
        for (int c = 0; c < S.tr.C; c++) {
            m.tp[c] += st.tp[c];
            m.np[c] += st.npred[c];
            m.nr[c] += st.nref[c];
        }
        if (m.n >= opt.log_every || S.step == S.total)
            log_train(&m, lr);
        if (S.va.n && ((opt.val_every && S.step % opt.val_every == 0) || S.step == S.total)) {
            run_validation(&m);
            m.t_last = trainlog_elapsed(&S.tl); /* validation is not a step */
            if (opt.patience && !isnan(S.best_dice) && S.step != S.total &&
                S.step - S.best_step >= opt.patience * opt.val_every) {
                S.stopped = 1;
                break;
            }
        }
        progress(&m, st.loss);
        if (opt.save_every > 0 && S.step % opt.save_every == 0 && S.step != S.total)
            save();
    }
    if (S.tl.tty && S.tl.drawn)
        trainlog_done(&S.tl);
    if (S.stopped) {
        mval rec = {0};
        mval_set_map(&rec);
        mval_put_i64(&rec, "step", S.step);
        mval_put_str(&rec, "stopped", "patience");
        mval_put_i64(&rec, "best_step", S.best_step);
        mval_put_f64(&rec, "best_dice", S.best_dice);
        if (trainlog_write(&S.tl, &rec))
            die_err(1);
        mval_free(&rec);
        log_info("stopped at step %lld: no better validation Dice in %lld validations since step %lld", (long long)S.step,
                 (long long)opt.patience, (long long)S.best_step);
    }
    save();
    if (log_level >= 1) {
        fprintf(stderr, "%s: %lld steps in %.1f s (%.2f steps/s); wrote %s", err_progname,
                (long long)(S.step - S.start_step), trainlog_elapsed(&S.tl),
                (double)(S.step - S.start_step) / trainlog_elapsed(&S.tl), opt.ckpt);
        if (!isnan(S.best_dice))
            fprintf(stderr, "; best validation Dice %.4f at step %lld", S.best_dice, (long long)S.best_step);
        fputc('\n', stderr);
    }
    if (trainlog_close(&S.tl))
        die_err(1);
    run_free();
    return 0;
}

/* ---- --predict ---- */

static struct {
    ckpt *c;
    segnet *net;
    stream_in *in;
    stream_out *out;
    frame *f;
    int nf;
    float *x;
    uint8_t *pred;
    size_t cap;
} P;

static _Noreturn void predict_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void predict_die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (P.out)
        stream_out_abort(P.out);
    die(1, "%s", msg);
}

static void flush_batch(void)
{
    if (!P.nf)
        return;
    const tensor *im = frame_tensor_get(&P.f[0], "image");
    const int H = (int)im->shape[0], W = (int)im->shape[1];
    const size_t px = (size_t)H * W;
    if ((size_t)P.nf * px > P.cap) {
        free(P.x);
        free(P.pred);
        P.cap = (size_t)P.nf * px;
        if (!(P.x = malloc(P.cap * sizeof(float))) || !(P.pred = malloc(P.cap)))
            predict_die("out of memory");
    }
    for (int k = 0; k < P.nf; k++) {
        const tensor *t = frame_tensor_get(&P.f[k], "image");
        for (size_t i = 0; i < px; i++) {
            double v = tensor_get(t, i);
            if (!isfinite(v))
                predict_die("record seq %lld: 'image' holds a NaN or infinite value", (long long)P.f[k].seq);
            P.x[k * px + i] = (float)v;
        }
    }
    if (segnet_predict(P.net, P.pred, P.x, P.nf, H, W))
        predict_die("%s", err_get());
    for (int k = 0; k < P.nf; k++) {
        tensor t;
        if (tensor_init2(&t, DT_U8, H, W))
            predict_die("%s", err_get());
        memcpy(t.data, P.pred + k * px, px);
        if (frame_tensor_add(&P.f[k], "pred", &t))
            predict_die("%s", err_get());
        if (stream_out_write(P.out, &P.f[k]))
            predict_die("%s", err_get());
        frame_free(&P.f[k]);
    }
    P.nf = 0;
}

static int predict(int argc, char **argv)
{
    frame f;
    int rc;
    if (!(P.c = ckpt_open(opt.predict)))
        die_errx(1, "--predict");
    if (!(P.net = segnet_ckpt_load(P.c)))
        die_errx(1, "--predict");
    ckpt_close(P.c);
    P.c = NULL;
    if (!(P.f = calloc((size_t)opt.batch, sizeof *P.f)))
        die(1, "out of memory");
    if (!(P.in = stream_in_open(opt.input)) || !(P.out = stream_out_open(opt.output)))
        die_err(1);
    mval params = {0};
    mval_set_map(&params);
    mval_put_str(&params, "checkpoint", opt.predict);
    char *a = argv_json(argc, argv);
    if (a)
        mval_put_str(&params, "argv", a);
    free(a);
    rc = stream_out_start(P.out, &params);
    mval_free(&params);
    if (rc)
        predict_die("%s", err_get());
    while ((rc = stream_in_next(P.in, &f)) > 0) {
        const tensor *im = frame_tensor_get(&f, "image");
        char buf[64];
        long long seq = (long long)f.seq;
        if (!im) {
            frame_free(&f);
            predict_die("record seq %lld: no 'image' tensor", seq);
        }
        if (im->rank != 2) {
            tensor_shape_str(im, buf, sizeof buf);
            frame_free(&f);
            predict_die("record seq %lld: 'image' has shape %s, expected [Y, X] (slice frames: slice-extract)", seq,
                        buf);
        }
        const int64_t H = im->shape[0], W = im->shape[1];
        if (H < 16 || W < 16 || H % 16 || W % 16 || H > 8192 || W > 8192) {
            frame_free(&f);
            predict_die("record seq %lld: a slice of %lldx%lld pixels; the network needs sides that are multiples "
                        "of 16 (slice-extract --size)",
                        seq, (long long)H, (long long)W);
        }
        if (P.nf) {
            const tensor *t0 = frame_tensor_get(&P.f[0], "image");
            if (t0->shape[0] != H || t0->shape[1] != W)
                flush_batch();
        }
        P.f[P.nf++] = f;
        if (P.nf == opt.batch)
            flush_batch();
    }
    if (rc < 0)
        predict_die("%s", err_get());
    flush_batch();
    log_info("%lld slices predicted with %s", (long long)stream_out_count(P.out), opt.predict);
    rc = stream_out_end(P.out) || stream_out_close(P.out);
    P.out = NULL;
    if (rc)
        die_err(1);
    stream_in_close(P.in);
    segnet_free(P.net);
    free(P.f);
    free(P.x);
    free(P.pred);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"checkpoint", required_argument, 0, 'c'},
        {"cases", required_argument, 0, OPT_CASES},
        {"val-cases", required_argument, 0, OPT_VAL_CASES},
        {"val-input", required_argument, 0, OPT_VAL_INPUT},
        {"best", required_argument, 0, OPT_BEST},
        {"resume", no_argument, 0, OPT_RESUME},
        {"save-every", required_argument, 0, OPT_SAVE_EVERY},
        {"log", required_argument, 0, OPT_LOG},
        {"tensorboard", required_argument, 0, OPT_TENSORBOARD},
        {"log-every", required_argument, 0, OPT_LOG_EVERY},
        {"classes", required_argument, 0, OPT_CLASSES},
        {"arch", required_argument, 0, OPT_ARCH},
        {"global", required_argument, 0, OPT_GLOBAL},
        {"global2", required_argument, 0, OPT_GLOBAL2},
        {"local", required_argument, 0, OPT_LOCAL},
        {"widths", required_argument, 0, OPT_WIDTHS},
        {"dim", required_argument, 0, OPT_DIM},
        {"depth", required_argument, 0, OPT_DEPTH},
        {"width", required_argument, 0, OPT_WIDTH},
        {"norm", required_argument, 0, OPT_NORM},
        {"batch", required_argument, 0, OPT_BATCH},
        {"steps", required_argument, 0, OPT_STEPS},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"empty-keep", required_argument, 0, OPT_EMPTY_KEEP},
        {"lr", required_argument, 0, OPT_LR},
        {"schedule", required_argument, 0, OPT_SCHEDULE},
        {"warmup", required_argument, 0, OPT_WARMUP},
        {"min-lr", required_argument, 0, OPT_MIN_LR},
        {"lr-step", required_argument, 0, OPT_LR_STEP},
        {"lr-gamma", required_argument, 0, OPT_LR_GAMMA},
        {"momentum", required_argument, 0, OPT_MOMENTUM},
        {"weight-decay", required_argument, 0, OPT_WD},
        {"ce-weight", required_argument, 0, OPT_CE_WEIGHT},
        {"dice-smooth", required_argument, 0, OPT_DICE_SMOOTH},
        {"val-every", required_argument, 0, OPT_VAL_EVERY},
        {"seed", required_argument, 0, OPT_SEED},
        {"threads", required_argument, 0, OPT_THREADS},
        {"predict", required_argument, 0, OPT_PREDICT},
        {"loss", required_argument, 0, OPT_LOSS},
        {"shift", required_argument, 0, OPT_SHIFT},
        {"patience", required_argument, 0, OPT_PATIENCE},
        {"help", no_argument, 0, 'h'},
        OPT_COMMON_LONG,
        {0, 0, 0, 0},
    };
    int c;

    filter_init(argc, argv);
    segnet_config_default(&opt.net);
    segtrain_optim_default(&opt.opt);
    segloss_config_default(&opt.loss);
    opt.sched = (sched_config){.kind = SCHED_CONST, .step_size = 1000, .gamma = 0.1};
    while ((c = opt_next(argc, argv, "i:o:c:qvh", longopts)) != -1) {
        if (opt_common(c, optarg))
            continue;
        switch (c) {
        case 'i': opt.input = optarg; break;
        case 'o': opt.output = optarg; break;
        case 'c': opt.ckpt = optarg; break;
        case OPT_CASES: opt.cases = optarg; break;
        case OPT_VAL_CASES: opt.val_cases = optarg; break;
        case OPT_VAL_INPUT: opt.val_input = optarg; break;
        case OPT_BEST: opt.best = optarg; break;
        case OPT_RESUME: opt.resume = 1; break;
        case OPT_SAVE_EVERY: opt.save_every = opt_i64("--save-every", optarg, 0, INT64_MAX); break;
        case OPT_LOG: opt.log = optarg; break;
        case OPT_TENSORBOARD: tensorboard = optarg; break;
        case OPT_LOG_EVERY: opt.log_every = opt_i64("--log-every", optarg, 1, INT64_MAX); break;
        case OPT_CLASSES: opt.classes = opt_i64("--classes", optarg, 2, 256); break;
        case OPT_ARCH:
            if (segnet_arch_parse(optarg, &opt.net.arch))
                usage_error("option --arch: %s", err_get());
            opt.have_arch = 1;
            break;
        case OPT_GLOBAL: opt.global = optarg; break;
        case OPT_GLOBAL2: opt.global2 = optarg; break;
        case OPT_LOCAL: opt.local = optarg; break;
        case OPT_WIDTHS: {
            int64_t w[5];
            if (parse_i64_list(optarg, w, 5))
                usage_error("option --widths: %s (five widths, e.g. 16,32,64,128,256)", err_get());
            for (int i = 0; i < 5; i++) {
                if (w[i] < 1 || w[i] > 4096)
                    usage_error("option --widths: %lld is out of range [1, 4096]", (long long)w[i]);
                opt.net.local.widths[i] = (int)w[i];
            }
            opt.have_unet_opts = 1;
            break;
        }
        case OPT_DIM:
            opt.net.local.out_ch = (int)opt_i64("--dim", optarg, 1, 4096);
            opt.have_unet_opts = 1;
            break;
        case OPT_DEPTH:
            opt.net.enc.depth = (int)opt_i64("--depth", optarg, 18, 50);
            if (opt.net.enc.depth != 18 && opt.net.enc.depth != 34 && opt.net.enc.depth != 50)
                usage_error("option --depth: %d is not 18, 34 or 50", opt.net.enc.depth);
            opt.have_enc_opts = 1;
            break;
        case OPT_WIDTH:
            opt.net.enc.width = (float)opt_f64("--width", optarg, 1e-3, 4);
            opt.have_enc_opts = 1;
            break;
        case OPT_NORM:
            if (!strcmp(optarg, "batch"))
                opt.net.local.norm = opt.net.enc.norm = NORM_BATCH;
            else if (!strcmp(optarg, "group"))
                opt.net.local.norm = opt.net.enc.norm = NORM_GROUP;
            else
                usage_error("option --norm: '%s' is not batch or group", optarg);
            opt.have_unet_opts = opt.have_enc_opts = 1;
            break;
        case OPT_BATCH: opt.batch = opt_i64("--batch", optarg, 1, 4096); break;
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
        case OPT_LR: opt.opt.lr = opt_f64("--lr", optarg, 0, 1e3); break;
        case OPT_SCHEDULE:
            if (sched_kind_parse(optarg, &opt.sched.kind))
                usage_error("option --schedule: '%s' is not const, cosine or step", optarg);
            break;
        case OPT_WARMUP: opt.sched.warmup_steps = opt_i64("--warmup", optarg, 0, INT64_MAX); break;
        case OPT_MIN_LR: opt.sched.min_lr = opt_f64("--min-lr", optarg, 0, 1e3); break;
        case OPT_LR_STEP: opt.sched.step_size = opt_i64("--lr-step", optarg, 1, INT64_MAX); break;
        case OPT_LR_GAMMA: opt.sched.gamma = opt_f64("--lr-gamma", optarg, 0, 1); break;
        case OPT_MOMENTUM: opt.opt.beta1 = opt_f64("--momentum", optarg, 0, 0.999999); break;
        case OPT_WD: opt.opt.weight_decay = opt_f64("--weight-decay", optarg, 0, 1); break;
        case OPT_CE_WEIGHT:
            opt.loss.ce_weight = opt_f64("--ce-weight", optarg, 0, 1e6);
            opt.have_ce_weight = 1;
            break;
        case OPT_DICE_SMOOTH: opt.loss.smooth = opt_f64("--dice-smooth", optarg, 1e-12, 1e12); break;
        case OPT_VAL_EVERY:
            opt.val_every = opt_i64("--val-every", optarg, 0, INT64_MAX);
            opt.have_val_every = 1;
            break;
        case OPT_SEED: opt.seed = opt_i64("--seed", optarg, 0, INT64_MAX); break;
        case OPT_THREADS: opt.threads = opt_i64("--threads", optarg, 1, 1024); break;
        case OPT_PREDICT: opt.predict = optarg; break;
        case 'h': usage(); return 0;
        default: usage_bad_option(argv);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
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
    if (opt.threads)
        nn_set_threads((int)opt.threads);
    if (opt.predict) {
        if (opt.resume || opt.ckpt || opt.cases || opt.val_cases || opt.val_input || opt.best || opt.log ||
            opt.global || opt.global2 || opt.local)
            usage_error("--predict takes no training options (-c, --resume, --cases, --val-cases, --best, --log, "
                        "--global, ...)");
        return predict(argc, argv);
    }
    if (strcmp(opt.output, "-"))
        usage_error("-o is where --predict writes; training writes checkpoints (-c, --best)");
    if (!opt.ckpt)
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
    return train(argc, argv);
}
