/*
 * lrc-train — LRC pre-training: the U-Net (El + Dl) with the local region
 * contrast loss (--method lrc), or the global encoder Eg with MoCo (--method
 * moco), from a stream of pair frames; and --embed, the trained U-Net's
 * feature maps added to slice frames.
 *
 * The training steps are libcommon's (lrctrainer.h, mocotrainer.h); this
 * file reads, checks, shuffles and batches the pairs, schedules the learning
 * rate, logs, and writes checkpoints.
 */
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/err.h"
#include "core/json.h"
#include "io/frame.h"
#include "io/shufbuf.h"
#include "io/stream.h"
#include "models/unet.h"
#include "nn/ckpt.h"
#include "nn/nn.h"
#include "nn/trainlog.h"
#include "pretrain/lrcpair.h"
#include "pretrain/lrctrainer.h"
#include "pretrain/mocotrainer.h"

/* --tensorboard DIR (the event files beside --log) */
static const char *tensorboard;

static void usage(void)
{
    printf("Usage: %s --method lrc|moco -c CHECKPOINT [OPTION]...\n"
           "       %s --embed -c CHECKPOINT [-i INPUT] [-o OUTPUT]\n"
           "Pre-train LRC's U-Net with the local region contrast loss (lrc), or its\n"
           "global encoder with MoCo (moco), from pair frames; or add the trained\n"
           "U-Net's features to slice frames (--embed).\n"
           "\n"
           "Input and output:\n"
           "  -i, --input SPEC        pair frames (file, '-', tcp://, ipc://, '@' binds; default stdin)\n"
           "  -c, --checkpoint FILE   the checkpoint written during and after training\n"
           "      --resume            continue training from FILE (model, optimiser, step)\n"
           "      --save-every N      write the checkpoint every N steps (default 500) and at the end\n"
           "      --log FILE          metrics, one JSON object per line (appended on --resume)\n"
           "      --tensorboard DIR   the same metrics as TensorBoard event files in DIR\n"
           "      --log-every N       a metrics line every N steps, loss averaged (default 1)\n"
           "\n"
           "Training:\n"
           "      --method M          lrc (U-Net, local loss, Adam) or moco (Eg, InfoNCE, SGD)\n"
           "      --batch N           pairs per step (default 8)\n"
           "      --shuffle-buffer N  shuffle pairs through a buffer of N (default 64; 1 = off)\n"
           "      --steps N           stop after step N (default 0: when the input ends)\n"
           "      --init              write the initialised model (step 0) and exit; reads no input\n"
           "      --epochs N          read a file input N times (default 1)\n"
           "      --lr X              learning rate (default 1e-3 lrc; moco 0.03 x batch / 256,\n"
           "                          MoCo's 0.03 at batch 256 scaled by the linear rule)\n"
           "      --schedule S        const, cosine (needs --steps) or step (default const)\n"
           "      --warmup N          cosine: linear warm-up steps (default 0)\n"
           "      --min-lr X          cosine: final learning rate (default 0)\n"
           "      --lr-step N         step: decay every N steps (default 1000)\n"
           "      --lr-gamma X        step: decay factor (default 0.1)\n"
           "      --momentum X        Adam beta1 / SGD momentum (default 0.9)\n"
           "      --weight-decay X    (default 1e-4)\n"
           "      --seed N            random seed (default 0): same seed and threads, same checkpoint\n"
           "      --threads N         threads of the engine (default: all cores)\n"
           "\n"
           "Local branch (--method lrc):\n"
           "      --samples N         pixels drawn per region and view (default 50)\n"
           "      --tau X             temperature (default 0.1 lrc, 0.2 moco)\n"
           "      --no-normalize      raw region means (the formula's plain dot products)\n"
           "      --exclude-self      leave exp(q_k . q_k / tau) out of the denominator\n"
           "      --widths LIST       U-Net widths w1,w2,w3,w4,w5 (default 16,32,64,128,256)\n"
           "      --dim D             feature channels D (default 64)\n"
           "      --norm N            batch or group (default batch)\n"
           "\n"
           "Global branch (--method moco):\n"
           "      --moco-version V    1 (linear head) or 2 (MLP head; default)\n"
           "      --queue N           negatives in the queue (default 4096)\n"
           "      --moco-m X          key encoder momentum (default 0.999)\n"
           "      --embed-dim N       embedding dimensions (default 128)\n"
           "      --depth N           ResNet depth 18, 34 or 50 (default 18)\n"
           "      --width X           ResNet width multiplier (default 0.25)\n"
           "      --bn-splits G       shuffle-BN sub-batches (default 2; 1 = off)\n"
           "\n"
           "Embedding (--embed):\n"
           "      --embed             read slice frames, add 'features' [D, Y, X] (and\n"
           "                          'features_p' for 'image_p') from the U-Net in CHECKPOINT\n"
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
    OPT_TENSORBOARD = 0x180, OPT_METHOD = 0x100, OPT_RESUME, OPT_SAVE_EVERY, OPT_LOG, OPT_LOG_EVERY, OPT_BATCH, OPT_SHUFFLE, OPT_STEPS,
    OPT_EPOCHS, OPT_LR, OPT_SCHEDULE, OPT_WARMUP, OPT_MIN_LR, OPT_LR_STEP, OPT_LR_GAMMA, OPT_MOMENTUM, OPT_WD,
    OPT_SEED, OPT_THREADS, OPT_SAMPLES, OPT_TAU, OPT_NO_NORMALIZE, OPT_EXCLUDE_SELF, OPT_WIDTHS, OPT_DIM, OPT_NORM,
    OPT_MOCO_VERSION, OPT_QUEUE, OPT_MOCO_M, OPT_EMBED_DIM, OPT_DEPTH, OPT_WIDTH, OPT_BN_SPLITS, OPT_EMBED, OPT_INIT
};

enum { M_LRC, M_MOCO };

static struct {
    const char *input, *output, *ckpt, *log;
    int method, resume, embed, init;
    int64_t save_every, log_every, batch, shuffle, steps, epochs, seed, threads;
    double lr, momentum, wd, tau;
    int have_lr, have_tau;
    sched_config sched;
} opt = {.input = "-", .output = "-", .method = -1, .save_every = 500, .log_every = 1, .batch = 8,
         .shuffle = 64, .epochs = 1, .momentum = 0.9, .wd = 1e-4, .threads = 0};

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

/* ---- the training run ---- */

typedef struct {
    lrc_trainer *lrc;
    moco_trainer *moco;
    int64_t step, pairs, skipped, epoch;
    char *argv;
} run;

static int save(run *r)
{
    ckpt_writer *w = ckpt_writer_new();
    char num[32];
    int rc = -1;
    if (!w)
        return -1;
    if ((r->lrc ? lrc_trainer_save(r->lrc, w) : moco_trainer_save(r->moco, w)) || ckpt_put_step(w, r->step))
        goto out;
    snprintf(num, sizeof num, "%lld", (long long)r->pairs);
    if (ckpt_put_meta(w, "pairs", num))
        goto out;
    snprintf(num, sizeof num, "%lld", (long long)opt.seed);
    if (ckpt_put_meta(w, "seed", num) || ckpt_put_meta(w, "lrcpipe_version", LRCPIPE_VERSION) ||
        (r->argv && ckpt_put_meta(w, "argv", r->argv)))
        goto out;
    rc = ckpt_write(w, opt.ckpt);
out:
    ckpt_writer_free(w);
    return rc;
}

static void resume(run *r)
{
    ckpt *c = ckpt_open(opt.ckpt);
    const char *p;
    if (!c)
        die_errx(1, "--resume");
    if ((r->lrc ? lrc_trainer_load(r->lrc, c) : moco_trainer_load(r->moco, c)))
        die_errx(1, "--resume");
    r->step = ckpt_step(c);
    if ((p = ckpt_meta(c, "pairs")))
        r->pairs = strtoll(p, NULL, 10);
    log_info("resumed from %s at step %lld", opt.ckpt, (long long)r->step);
    ckpt_close(c);
}

/* Reads data records, going back to the start for each further epoch. */
typedef struct {
    stream_in *in;
    int64_t epoch;
    int ended;
} reader;

static int next_frame(reader *rd, frame *f)
{
    while (!rd->ended) {
        int r = stream_in_next(rd->in, f);
        if (r > 0)
            return 1;
        if (r < 0)
            die_errx(1, "%s", stream_in_name(rd->in));
        if (++rd->epoch >= opt.epochs) {
            rd->ended = 1;
            break;
        }
        if (stream_in_rewind(rd->in))
            die_errx(1, "--epochs %lld", (long long)opt.epochs);
        log_info("epoch %lld", (long long)rd->epoch + 1);
    }
    return 0;
}

/* The next usable pair, checked, or NULL at the end. */
static lrc_pair *next_pair(reader *rd, run *r, int *H, int *W)
{
    frame f;
    while (next_frame(rd, &f)) {
        lrc_pair *p = lrc_pair_from_frame(&f, opt.method == M_LRC);
        long long seq = (long long)f.seq;
        frame_free(&f);
        if (!p)
            die_errx(1, "record seq %lld", seq);
        if (*H < 0 && (p->H % 16 || p->W % 16)) {
            int h = p->H, w = p->W;
            lrc_pair_free(p);
            die(1, "record seq %lld: images of %dx%d pixels; the networks need sides that are multiples of 16 "
                   "(slice-extract --size)",
                seq, h, w);
        }
        if (*H >= 0 && (p->H != *H || p->W != *W)) {
            int h = p->H, w = p->W;
            lrc_pair_free(p);
            die(1, "record seq %lld: images of %dx%d pixels, earlier records are %dx%d (one size per run)", seq, h, w,
                *H, *W);
        }
        *H = p->H;
        *W = p->W;
        if (opt.method == M_LRC && p->nreg < 2) {
            r->skipped++;
            log_info("record seq %lld: %d region(s) in both views, skipped", (long long)p->seq, p->nreg);
            lrc_pair_free(p);
            continue;
        }
        return p;
    }
    return NULL;
}

typedef struct {
    trainlog tl;
    double loss_sum, acc_sum, reg_sum, last_t, per_step;
    int64_t nsteps, one_sided, last_pairs;
} meter;

static void after_step(run *r, meter *m, double lr, double loss, double acc, double regions, int one_sided,
                       int npairs)
{
    if (!isfinite(loss))
        die(1, "step %lld: the loss is not finite (lower --lr?)", (long long)r->step);
    double now = trainlog_elapsed(&m->tl), dt = now - m->last_t;
    m->per_step = m->nsteps || r->step > 1 ? 0.9 * m->per_step + 0.1 * dt : dt;
    if (m->per_step == 0)
        m->per_step = dt;
    m->loss_sum += loss;
    m->acc_sum += acc;
    m->reg_sum += regions;
    m->one_sided += one_sided;
    m->nsteps++;
    double rate = m->per_step > 0 ? npairs / m->per_step : 0;
    trainlog_progress(&m->tl, r->step, opt.steps, loss, rate, m->per_step);
    if (m->nsteps >= opt.log_every) {
        mval rec = {0};
        mval_set_map(&rec);
        mval_put_i64(&rec, "step", r->step);
        mval_put_f64(&rec, "loss", m->loss_sum / m->nsteps);
        mval_put_f64(&rec, "lr", lr);
        mval_put_f64(&rec, "time", now);
        mval_put_i64(&rec, "pairs", r->pairs);
        mval_put_f64(&rec, "pairs_per_s", rate);
        mval_put_i64(&rec, "epoch", r->epoch);
        mval_put_i64(&rec, "skipped", r->skipped);
        if (opt.method == M_LRC) {
            mval_put_f64(&rec, "regions", m->reg_sum / m->nsteps);
            mval_put_i64(&rec, "one_sided", m->one_sided);
        } else {
            mval_put_f64(&rec, "acc", m->acc_sum / m->nsteps);
        }
        if (trainlog_write(&m->tl, &rec))
            die_err(1);
        mval_free(&rec);
        m->loss_sum = m->acc_sum = m->reg_sum = 0;
        m->nsteps = 0;
    }
    m->last_t = now;
}

static void train_batch(run *r, meter *m, lrc_pair **batch, int n)
{
    rng rs;
    double lr = opt.sched.kind == SCHED_CONST ? opt.lr : sched_lr(&opt.sched, r->step);
    rng_seed(&rs, (uint64_t)opt.seed, 0x100000000ULL + (uint64_t)r->step);
    if (r->lrc) {
        lrc_step_stats st;
        if (lrc_trainer_step(r->lrc, batch, n, lr, &rs, &st))
            die_errx(1, "step %lld", (long long)r->step + 1);
        r->skipped += st.skipped;
        if (!st.pairs)
            return;
        r->step++;
        r->pairs += st.pairs;
        after_step(r, m, lr, st.loss, 0, st.regions, st.one_sided, st.pairs);
    } else {
        moco_step_stats st;
        if (moco_trainer_step(r->moco, batch, n, lr, &rs, &st))
            die_errx(1, "step %lld", (long long)r->step + 1);
        r->step++;
        r->pairs += st.pairs;
        after_step(r, m, lr, st.loss, st.acc, 0, 0, st.pairs);
    }
    if (opt.save_every > 0 && r->step % opt.save_every == 0 && save(r))
        die_err(1);
}

/* The whole state of a training run, at file scope so that everything it
 * holds stays reachable (and is freed by the OS) when an error ends the
 * process in the middle of a step. */
static struct {
    run r;
    meter m;
    reader rd;
    shufbuf sb;
    lrc_pair **batch;
    int nb;
} S;

static void train_free(void)
{
    for (int i = 0; i < S.nb; i++)
        lrc_pair_free(S.batch[i]);
    for (lrc_pair *p; (p = shufbuf_drain(&S.sb));)
        lrc_pair_free(p);
    shufbuf_free(&S.sb);
    if (S.rd.in)
        stream_in_close(S.rd.in);
    lrc_trainer_free(S.r.lrc);
    moco_trainer_free(S.r.moco);
    free(S.batch);
    free(S.r.argv);
    memset(&S, 0, sizeof S);
}

static int train(lrc_trainer_config *lc, moco_trainer_config *mc, int argc, char **argv)
{
    run *r = &S.r;
    int H = -1, W = -1, draining = 0;
    if (!(S.batch = calloc((size_t)opt.batch, sizeof *S.batch)))
        die(1, "out of memory");
    r->argv = argv_json(argc, argv);
    if (opt.method == M_LRC ? !(r->lrc = lrc_trainer_create(lc, (uint64_t)opt.seed))
                            : !(r->moco = moco_trainer_create(mc, (uint64_t)opt.seed)))
        die_err(1);
    if (opt.resume)
        resume(r);
    if (opt.init) { /* a baseline: the untrained model, as training would start */
        if (save(r))
            die_err(1);
        train_free();
        return 0;
    }
    if (opt.steps && r->step >= opt.steps) {
        log_warn("the checkpoint is at step %lld, --steps is %lld: nothing to do", (long long)r->step,
                 (long long)opt.steps);
        train_free();
        return 0;
    }
    if (!(S.rd.in = stream_in_open(opt.input)) || trainlog_open(&S.m.tl, opt.log, opt.resume) ||
        (tensorboard && trainlog_tensorboard(&S.m.tl, tensorboard)) ||
        shufbuf_init(&S.sb, (int)opt.shuffle, (uint64_t)opt.seed, 1 + 2 * (uint64_t)r->step))
        die_err(1);
    const int64_t start_step = r->step;
    while (!opt.steps || r->step < opt.steps) {
        lrc_pair *p = NULL;
        if (!draining) {
            lrc_pair *in = next_pair(&S.rd, r, &H, &W);
            r->epoch = S.rd.epoch;
            if (in)
                p = shufbuf_put(&S.sb, in);
            else
                draining = 1;
            if (!p && !draining)
                continue;
        }
        if (draining && !(p = shufbuf_drain(&S.sb)) && !S.nb)
            break;
        if (p)
            S.batch[S.nb++] = p;
        if (S.nb == opt.batch || (!p && S.nb)) {
            train_batch(r, &S.m, S.batch, S.nb);
            for (int i = 0; i < S.nb; i++)
                lrc_pair_free(S.batch[i]);
            S.nb = 0;
        }
    }
    trainlog_done(&S.m.tl);
    if (r->step == start_step)
        log_warn("no training step was taken (%lld pairs skipped): the checkpoint holds the %s model",
                 (long long)r->skipped, opt.resume ? "resumed" : "initial");
    if (save(r))
        die_err(1);
    if (log_level >= 1)
        fprintf(stderr, "%s: %lld steps, %lld pairs (%lld skipped with < 2 regions) in %.1f s; wrote %s\n",
                err_progname, (long long)(r->step - start_step), (long long)r->pairs, (long long)r->skipped,
                trainlog_elapsed(&S.m.tl), opt.ckpt);
    if (trainlog_close(&S.m.tl))
        die_err(1);
    train_free();
    return 0;
}

/* ---- --embed ---- */

static int add_features(unet *u, frame *f, const char *from, const char *to)
{
    const tensor *im = frame_tensor_get(f, from);
    char buf[64];
    tensor x, feat;
    if (!im)
        return 0;
    if (im->rank != 2)
        return err_set("'%s' has shape %s, expected [Y, X]", from, tensor_shape_str(im, buf, sizeof buf));
    if (im->shape[0] % 16 || im->shape[1] % 16 || im->shape[0] < 16 || im->shape[1] < 16 || im->shape[0] > 1 << 15 ||
        im->shape[1] > 1 << 15)
        return err_set("'%s' is %lldx%lld; the U-Net needs sides that are multiples of 16", from,
                       (long long)im->shape[0], (long long)im->shape[1]);
    if (tensor_convert(&x, im, DT_F32))
        return -1;
    const int H = (int)im->shape[0], W = (int)im->shape[1], D = unet_get_config(u)->out_ch;
    const float *y = unet_forward(u, x.data, 1, H, W);
    tensor_free(&x);
    if (!y || tensor_init3(&feat, DT_F32, D, H, W))
        return -1;
    memcpy(feat.data, y, tensor_nbytes(&feat));
    return frame_tensor_add(f, to, &feat);
}

/* As S for training: reachable when an error ends the process. */
static struct {
    unet *u;
    stream_in *in;
    stream_out *out;
    frame f;
} E;

static _Noreturn void embed_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void embed_die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (E.out)
        stream_out_abort(E.out);
    die(1, "%s", msg);
}

static int embed(int argc, char **argv)
{
    ckpt *c = ckpt_open(opt.ckpt);
    const char *js, *kind;
    int rc;
    if (!c)
        die_err(1);
    if (!(js = ckpt_meta(c, "config")) || !(kind = ckpt_meta(c, "model")) || strcmp(kind, "unet")) {
        ckpt_close(c);
        die(1, "%s: holds no U-Net (an lrc-train --method lrc checkpoint is needed)", opt.ckpt);
    }
    if (!(E.u = unet_ckpt_load(c, ""))) {
        ckpt_close(c);
        die_errx(1, "%s", opt.ckpt);
    }
    ckpt_close(c);
    unet_set_training(E.u, 0);
    if (!(E.in = stream_in_open(opt.input)) || !(E.out = stream_out_open(opt.output)))
        die_err(1);
    mval params = {0};
    mval_set_map(&params);
    mval_put_str(&params, "checkpoint", opt.ckpt);
    char *a = argv_json(argc, argv);
    if (a)
        mval_put_str(&params, "argv", a);
    free(a);
    rc = stream_out_start(E.out, &params);
    mval_free(&params);
    if (rc)
        embed_die("%s", err_get());
    while ((rc = stream_in_next(E.in, &E.f)) > 0) {
        long long seq = (long long)E.f.seq;
        if (!frame_tensor_get(&E.f, "image"))
            embed_die("record seq %lld: no 'image' tensor", seq);
        if (add_features(E.u, &E.f, "image", "features") || add_features(E.u, &E.f, "image_p", "features_p"))
            embed_die("record seq %lld: %s", seq, err_get());
        E.f.seq = -1;
        if (stream_out_write(E.out, &E.f))
            embed_die("%s", err_get());
        frame_free(&E.f);
    }
    if (rc < 0)
        embed_die("%s", err_get());
    rc = stream_out_end(E.out) || stream_out_close(E.out);
    E.out = NULL;
    if (rc)
        die_err(1);
    stream_in_close(E.in);
    unet_free(E.u);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"checkpoint", required_argument, 0, 'c'},
        {"resume", no_argument, 0, OPT_RESUME},
        {"save-every", required_argument, 0, OPT_SAVE_EVERY},
        {"log", required_argument, 0, OPT_LOG},
        {"tensorboard", required_argument, 0, OPT_TENSORBOARD},
        {"log-every", required_argument, 0, OPT_LOG_EVERY},
        {"method", required_argument, 0, OPT_METHOD},
        {"batch", required_argument, 0, OPT_BATCH},
        {"shuffle-buffer", required_argument, 0, OPT_SHUFFLE},
        {"steps", required_argument, 0, OPT_STEPS},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"lr", required_argument, 0, OPT_LR},
        {"schedule", required_argument, 0, OPT_SCHEDULE},
        {"warmup", required_argument, 0, OPT_WARMUP},
        {"min-lr", required_argument, 0, OPT_MIN_LR},
        {"lr-step", required_argument, 0, OPT_LR_STEP},
        {"lr-gamma", required_argument, 0, OPT_LR_GAMMA},
        {"momentum", required_argument, 0, OPT_MOMENTUM},
        {"weight-decay", required_argument, 0, OPT_WD},
        {"seed", required_argument, 0, OPT_SEED},
        {"threads", required_argument, 0, OPT_THREADS},
        {"samples", required_argument, 0, OPT_SAMPLES},
        {"tau", required_argument, 0, OPT_TAU},
        {"no-normalize", no_argument, 0, OPT_NO_NORMALIZE},
        {"exclude-self", no_argument, 0, OPT_EXCLUDE_SELF},
        {"widths", required_argument, 0, OPT_WIDTHS},
        {"dim", required_argument, 0, OPT_DIM},
        {"norm", required_argument, 0, OPT_NORM},
        {"moco-version", required_argument, 0, OPT_MOCO_VERSION},
        {"queue", required_argument, 0, OPT_QUEUE},
        {"moco-m", required_argument, 0, OPT_MOCO_M},
        {"embed-dim", required_argument, 0, OPT_EMBED_DIM},
        {"depth", required_argument, 0, OPT_DEPTH},
        {"width", required_argument, 0, OPT_WIDTH},
        {"bn-splits", required_argument, 0, OPT_BN_SPLITS},
        {"embed", no_argument, 0, OPT_EMBED},
        {"init", no_argument, 0, OPT_INIT},
        {"help", no_argument, 0, 'h'},
        OPT_COMMON_LONG,
        {0, 0, 0, 0},
    };
    lrc_trainer_config lc;
    moco_trainer_config mc;
    int c;

    filter_init(argc, argv);
    lrc_trainer_config_default(&lc);
    moco_trainer_config_default(&mc);
    opt.sched = (sched_config){.kind = SCHED_CONST, .step_size = 1000, .gamma = 0.1};
    while ((c = opt_next(argc, argv, "i:o:c:qvh", longopts)) != -1) {
        if (opt_common(c, optarg))
            continue;
        switch (c) {
        case 'i': opt.input = optarg; break;
        case 'o': opt.output = optarg; break;
        case 'c': opt.ckpt = optarg; break;
        case OPT_RESUME: opt.resume = 1; break;
        case OPT_SAVE_EVERY: opt.save_every = opt_i64("--save-every", optarg, 0, INT64_MAX); break;
        case OPT_LOG: opt.log = optarg; break;
        case OPT_TENSORBOARD: tensorboard = optarg; break;
        case OPT_LOG_EVERY: opt.log_every = opt_i64("--log-every", optarg, 1, INT64_MAX); break;
        case OPT_METHOD:
            if (!strcmp(optarg, "lrc"))
                opt.method = M_LRC;
            else if (!strcmp(optarg, "moco"))
                opt.method = M_MOCO;
            else
                usage_error("option --method: '%s' is not lrc or moco", optarg);
            break;
        case OPT_BATCH: opt.batch = opt_i64("--batch", optarg, 1, 4096); break;
        case OPT_SHUFFLE: opt.shuffle = opt_i64("--shuffle-buffer", optarg, 0, 1 << 20); break;
        case OPT_STEPS: opt.steps = opt_i64("--steps", optarg, 0, INT64_MAX); break;
        case OPT_EPOCHS: opt.epochs = opt_i64("--epochs", optarg, 1, INT64_MAX); break;
        case OPT_LR:
            opt.lr = opt_f64("--lr", optarg, 0, 1e3);
            opt.have_lr = 1;
            break;
        case OPT_SCHEDULE:
            if (sched_kind_parse(optarg, &opt.sched.kind))
                usage_error("option --schedule: '%s' is not const, cosine or step", optarg);
            break;
        case OPT_WARMUP: opt.sched.warmup_steps = opt_i64("--warmup", optarg, 0, INT64_MAX); break;
        case OPT_MIN_LR: opt.sched.min_lr = opt_f64("--min-lr", optarg, 0, 1e3); break;
        case OPT_LR_STEP: opt.sched.step_size = opt_i64("--lr-step", optarg, 1, INT64_MAX); break;
        case OPT_LR_GAMMA: opt.sched.gamma = opt_f64("--lr-gamma", optarg, 0, 1); break;
        case OPT_MOMENTUM: opt.momentum = opt_f64("--momentum", optarg, 0, 0.999999); break;
        case OPT_WD: opt.wd = opt_f64("--weight-decay", optarg, 0, 1); break;
        case OPT_SEED: opt.seed = opt_i64("--seed", optarg, 0, INT64_MAX); break;
        case OPT_THREADS: opt.threads = opt_i64("--threads", optarg, 1, 1024); break;
        case OPT_SAMPLES: lc.samples = (int)opt_i64("--samples", optarg, 1, 1 << 20); break;
        case OPT_TAU:
            opt.tau = opt_f64("--tau", optarg, 1e-4, 1e4);
            opt.have_tau = 1;
            break;
        case OPT_NO_NORMALIZE: lc.loss.normalize = 0; break;
        case OPT_EXCLUDE_SELF: lc.loss.exclude_self = 1; break;
        case OPT_WIDTHS: {
            int64_t w[5];
            if (parse_i64_list(optarg, w, 5))
                usage_error("option --widths: %s (five widths, e.g. 16,32,64,128,256)", err_get());
            for (int i = 0; i < 5; i++) {
                if (w[i] < 1 || w[i] > 4096)
                    usage_error("option --widths: %lld is out of range [1, 4096]", (long long)w[i]);
                lc.net.widths[i] = (int)w[i];
            }
            break;
        }
        case OPT_DIM: lc.net.out_ch = (int)opt_i64("--dim", optarg, 1, 4096); break;
        case OPT_NORM:
            if (!strcmp(optarg, "batch"))
                lc.net.norm = mc.enc.norm = NORM_BATCH;
            else if (!strcmp(optarg, "group"))
                lc.net.norm = mc.enc.norm = NORM_GROUP;
            else
                usage_error("option --norm: '%s' is not batch or group", optarg);
            break;
        case OPT_MOCO_VERSION: mc.version = (int)opt_i64("--moco-version", optarg, 1, 2); break;
        case OPT_QUEUE: mc.queue = (int)opt_i64("--queue", optarg, 1, 1 << 24); break;
        case OPT_MOCO_M: mc.m = opt_f64("--moco-m", optarg, 0, 1); break;
        case OPT_EMBED_DIM: mc.dim = (int)opt_i64("--embed-dim", optarg, 1, 65536); break;
        case OPT_DEPTH:
            mc.enc.depth = (int)opt_i64("--depth", optarg, 18, 50);
            if (mc.enc.depth != 18 && mc.enc.depth != 34 && mc.enc.depth != 50)
                usage_error("option --depth: %d is not 18, 34 or 50", mc.enc.depth);
            break;
        case OPT_WIDTH: mc.enc.width = (float)opt_f64("--width", optarg, 1e-3, 4); break;
        case OPT_BN_SPLITS: mc.bn_splits = (int)opt_i64("--bn-splits", optarg, 1, 4096); break;
        case OPT_EMBED: opt.embed = 1; break;
        case OPT_INIT: opt.init = 1; break;
        case 'h': usage(); return 0;
        default: usage_bad_option(argv);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (!opt.ckpt)
        usage_error("no checkpoint file (-c FILE)");
    if (opt.threads)
        nn_set_threads((int)opt.threads);
    if (opt.embed) {
        if (opt.method >= 0 || opt.resume)
            usage_error("--embed takes no --method or --resume");
        return embed(argc, argv);
    }
    if (opt.method < 0)
        usage_error("no --method (lrc or moco)");
    if (opt.init && opt.resume)
        usage_error("--init and --resume exclude each other");
    if (opt.sched.kind == SCHED_COSINE && !opt.steps)
        usage_error("--schedule cosine needs --steps");
    if (opt.method == M_MOCO && mc.bn_splits > 1 && opt.batch % mc.bn_splits)
        usage_error("--batch %lld is not a multiple of --bn-splits %d", (long long)opt.batch, mc.bn_splits);

    optim_config *oc = opt.method == M_LRC ? &lc.opt : &mc.opt;
    if (opt.have_lr)
        oc->lr = opt.lr;
    else if (opt.method == M_MOCO)
        oc->lr = 0.03 * (double)opt.batch / 256; /* Goyal et al.'s linear scaling of MoCo's rate */
    oc->weight_decay = opt.wd;
    if (opt.method == M_LRC)
        oc->beta1 = opt.momentum;
    else
        oc->momentum = opt.momentum;
    opt.lr = oc->lr;
    opt.sched.base_lr = oc->lr;
    opt.sched.total_steps = opt.steps;
    if (opt.have_tau) {
        lc.loss.tau = opt.tau;
        mc.tau = opt.tau;
    }
    if (opt.method == M_LRC && unet_config_check(&lc.net))
        usage_error("%s", err_get());
    if (opt.method == M_MOCO && resnet_config_check(&mc.enc))
        usage_error("%s", err_get());
    return train(&lc, &mc, argc, argv);
}
