/*
 * lrc-train — pre-training from a stream of pair frames: the U-Net (El + Dl)
 * with the local region contrast loss (--method lrc), or the global encoder
 * Eg with a global method of the paper's Table 1; and --embed, the trained
 * U-Net's feature maps added to slice frames.
 *
 * The training steps are libcommon's (lrctrainer.h, mocotrainer.h, and
 * egtrainer.h for the methods after MoCo), the pairs come checked, shuffled
 * and batched from pairfeed.h, and the loop (steps, timing, log, saves) is
 * nn/trainloop.h's; this file maps options to configurations, schedules the
 * learning rate, says what goes in the metrics log and the checkpoint, and
 * runs --embed (pretrain/embed.h).
 *
 * Under mpirun (nn/dist.h), every method trains data-parallel: each rank
 * reads the records of the input file whose seq % ranks == its rank, takes
 * --batch pairs of them per step, and the gradients are averaged over all
 * ranks' pairs (lrctrainer.h, egtrainer.h, mocotrainer.h and densecl.h:
 * their queues take every rank's keys); the ranks stop together when the
 * first of them runs out of pairs (MoCo, DenseCL: of full batches). Rank 0
 * writes the checkpoint, the log and the progress.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "cli/trainopts.h"
#include "core/err.h"
#include "core/json.h"
#include "io/frame.h"
#include "io/stream.h"
#include "models/unet.h"
#include "nn/ckpt.h"
#include "nn/dist.h"
#include "nn/nn.h"
#include "nn/trainloop.h"
#include "pretrain/egtrainer.h"
#include "pretrain/embed.h"
#include "pretrain/lrcpair.h"
#include "pretrain/pairfeed.h"
#include "pretrain/lrctrainer.h"
#include "pretrain/mocotrainer.h"

static void usage(void)
{
    printf("Usage: %s --method lrc|moco|rotation|relloc|byol|simsiam|densecl|genesis|mae -c CHECKPOINT [OPTION]...\n"
           "       %s --embed -c CHECKPOINT [-i INPUT] [-o OUTPUT]\n"
           "Pre-train the U-Net with the local region contrast loss (lrc), or the global\n"
           "encoder Eg with MoCo (moco), rotation prediction (rotation), relative patch\n"
           "location (relloc), BYOL (byol), SimSiam (simsiam), DenseCL (densecl), Models\n"
           "Genesis (genesis) or MAE on a ViT (mae) from pair frames; or add U-Net features to\n"
           "slices (--embed).\n"
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
           "      --method M          lrc (U-Net, local loss, Adam), or one of the global methods\n"
           "                          above, training Eg with SGD (mae: AdamW, betas momentum, 0.95)\n"
           "      --batch N           pairs per step (default 8)\n"
           "      --shuffle-buffer N  shuffle pairs through a buffer of N (default 64; 1 = off)\n"
           "      --steps N           stop after step N (default 0: when the input ends)\n"
           "      --init              write the initialised model (step 0) and exit; reads no input\n"
           "      --epochs N          read a file input N times (default 1)\n"
           "      --lr X              learning rate (default 1e-3 lrc; moco and densecl 0.03 x ranks x\n"
           "                          batch / 256, MoCo's 0.03 at batch 256 scaled by the linear rule;\n"
           "                          0.1 rotation, 0.01 relloc, 0.05 byol and simsiam, 1 genesis;\n"
           "                          mae 1.5e-4 x ranks x batch / 256)\n"
           "      --schedule S        const, cosine (needs --steps) or step (default const)\n"
           "      --warmup N          cosine: linear warm-up steps (default 0)\n"
           "      --min-lr X          cosine: final learning rate (default 0)\n"
           "      --lr-step N         step: decay every N steps (default 1000)\n"
           "      --lr-gamma X        step: decay factor (default 0.1)\n"
           "      --momentum X        Adam beta1 / SGD momentum (default 0.9)\n"
           "      --weight-decay X    (default 1e-4; mae 0.05)\n"
           "      --seed N            random seed (default 0): same seed and threads, same checkpoint\n"
           "      --threads N         threads of the engine (default: all cores)\n"
           "      --sync-bn           lrc under mpirun: batch norm statistics over all ranks\n"
           "\n"
           "Local branch (--method lrc):\n"
           "      --samples N         pixels drawn per region and view (default 50)\n"
           "      --tau X             temperature (default 0.1 lrc, 0.2 moco and densecl)\n"
           "      --no-normalize      raw region means (the formula's plain dot products)\n"
           "      --exclude-self      leave exp(q_k . q_k / tau) out of the denominator\n"
           "      --widths LIST       U-Net widths w1,w2,w3,w4,w5 (default 16,32,64,128,256)\n"
           "      --dim D             feature channels D (default 64)\n"
           "      --norm N            batch or group (default batch)\n"
           "\n"
           "Global branch (every --method but lrc):\n"
           "      --moco-version V    1 (linear head) or 2 (MLP head; default)\n"
           "      --queue N           negatives in the queue, each of densecl's two (default 4096;\n"
           "                          under mpirun a multiple of ranks x batch)\n"
           "      --moco-m X          key encoder momentum, moco and densecl (default 0.999)\n"
           "      --embed-dim N       embedding dimensions (default 128 moco and densecl, 256 byol,\n"
           "                          C4 simsiam)\n"
           "      --hidden N          hidden width of byol's MLPs (default 2 C4), simsiam's\n"
           "                          projector, relloc's classifier and densecl's heads (default\n"
           "                          C4); C4: Eg's pooled width\n"
           "      --dense-weight X    densecl: lambda, the dense loss's weight (default 0.5)\n"
           "      --patch N           relloc: patch side, a multiple of 16 (default: the largest\n"
           "                          with 4 patches within the slice); mae: the ViT's (default 16)\n"
           "      --vit C             mae: Eg a ViT tiny, small, base (default: ViT-B) or D,W,H\n"
           "      --mask-ratio X      mae: share of the patches masked (default 0.75)\n"
           "      --mae-decoder-depth N  mae: decoder blocks (default 8)\n"
           "      --mae-decoder-width N  mae: decoder width, a multiple of 16 (default 512; 16 heads)\n"
           "      --gap N             relloc: gap between patches (default patch / 2)\n"
           "      --jitter N          relloc: largest jitter of a patch (default 7/96 of the patch)\n"
           "      --ema X             byol: base rate of the target's moving average (default\n"
           "                          0.996), rising to 1 over --steps\n"
           "      --genesis-rates L   genesis: probabilities of the curve, shuffling, painting,\n"
           "                          out-painting (else in-) and flips (default 0.9,0.5,0.9,0.8,0.4)\n"
           "      --pred-dim N        simsiam: predictor bottleneck (default embed-dim / 4)\n"
           "      --no-fix-pred-lr    simsiam: the predictor follows the schedule too\n"
           "      --depth N           ResNet depth 18, 34 or 50 (default 18; every global method)\n"
           "      --width X           ResNet width multiplier (default 0.25; every global method)\n"
           "      --stem S            3x3 (default: stride 1, stages at 1/1..1/16) or torchvision\n"
           "                          (7x7/2 and a max pool: stages at 1/2..1/32, sides multiples of 32)\n"
           "      --bn-splits G       moco and densecl: shuffle-BN sub-batches per rank (default 2;\n"
           "                          1 = off on one process)\n"
           "\n"
           "Embedding (--embed):\n"
           "      --embed             read slice frames, add 'features' [D, Y, X] (and\n"
           "                          'features_p' for 'image_p') from the U-Net in CHECKPOINT\n"
           "  -o, --output SPEC       frames out (default stdout)\n",
           err_progname, err_progname);
    filter_usage_common(NULL);
}

enum {
    OPT_METHOD = 0x100, OPT_SHUFFLE, OPT_STEPS, OPT_EPOCHS, OPT_SAMPLES, OPT_TAU, OPT_NO_NORMALIZE, OPT_EXCLUDE_SELF,
    OPT_MOCO_VERSION, OPT_QUEUE, OPT_MOCO_M, OPT_EMBED_DIM, OPT_HIDDEN, OPT_PRED_DIM, OPT_EMA, OPT_PATCH, OPT_GAP,
    OPT_JITTER, OPT_STEM, OPT_NO_FIX_PRED_LR, OPT_BN_SPLITS, OPT_EMBED, OPT_INIT, OPT_DENSE_WEIGHT, OPT_GENESIS_RATES,
    OPT_VIT, OPT_MASK_RATIO, OPT_DEC_DEPTH, OPT_DEC_WIDTH
};

enum { M_LRC, M_MOCO, M_EG }; /* M_EG: a method of egtrainer.h, named by opt.eg */

static struct {
    const char *eg;
    int method, embed, init, have_tau;
    int64_t shuffle, steps, epochs;
    double tau;
    trainopts t;       /* the options every trainer has (cli/trainopts.h), -i -o -c among them */
    sched_config sched;
} opt = {.method = -1, .shuffle = 64, .epochs = 1};

/* ---- the training run ---- */

typedef struct {
    lrc_trainer *lrc;
    moco_trainer *moco;
    eg_trainer *eg;
    int64_t pairs, skipped, epoch;
    char *argv;
    /* the last step's numbers, and sums over the steps since the last log line */
    double lr, acc, regions, loss_sum, acc_sum, reg_sum;
    int64_t nsteps, one_sided, step_one_sided, step_pairs;
} run;

/* The whole state of a training run, at file scope so that everything it
 * holds stays reachable (and is freed by the OS) when an error ends the
 * process in the middle of a step. */
static struct {
    trainloop loop;
    run r;
    pairfeed feed;
} S;

static int save(trainloop *l, void *ctx)
{
    run *r = ctx;
    ckpt_writer *w = ckpt_writer_new();
    int rc = -1;
    if (!w)
        return -1;
    if ((r->lrc ? lrc_trainer_save(r->lrc, w) : r->eg ? eg_trainer_save(r->eg, w) : moco_trainer_save(r->moco, w)) ||
        ckpt_put_step(w, l->step))
        goto out;
    if (ckpt_put_metaf(w, "pairs", "%lld", (long long)r->pairs) || ckpt_put_provenance(w, opt.t.seed, r->argv))
        goto out;
    rc = ckpt_write(w, opt.t.ckpt);
out:
    ckpt_writer_free(w);
    return rc;
}

static void resume(run *r, int64_t *step)
{
    ckpt *c = ckpt_open(opt.t.ckpt);
    const char *p;
    if (!c)
        die_errx(1, "--resume");
    if ((r->lrc ? lrc_trainer_load(r->lrc, c) : r->eg ? eg_trainer_load(r->eg, c) : moco_trainer_load(r->moco, c)))
        die_errx(1, "--resume");
    *step = ckpt_step(c);
    if ((p = ckpt_meta(c, "pairs")))
        r->pairs = strtoll(p, NULL, 10);
    log_info("resumed from %s at step %lld", opt.t.ckpt, (long long)*step);
    ckpt_close(c);
}

/* Pairs the feeds of all ranks left out (every rank calls it, in step). */
static int64_t feed_skipped(void)
{
    double n = (double)S.feed.skipped;
    if (dist_sum_f64(&n, 1))
        die_err(1);
    return (int64_t)n;
}

/* One step's accounting: running sums, and a metrics line every --log-every steps. */
static int log_step(trainloop *l, void *ctx, double loss)
{
    run *r = ctx;
    r->loss_sum += loss;
    r->acc_sum += r->acc;
    r->reg_sum += r->regions;
    r->one_sided += r->step_one_sided;
    if (++r->nsteps < opt.t.log_every)
        return 0;
    mval rec = {0};
    mval_set_map(&rec);
    mval_put_i64(&rec, "step", l->step);
    mval_put_f64(&rec, "loss", r->loss_sum / r->nsteps);
    mval_put_f64(&rec, "lr", r->lr);
    mval_put_f64(&rec, "time", l->t_last);
    mval_put_i64(&rec, "pairs", r->pairs);
    mval_put_f64(&rec, "pairs_per_s", l->per_step > 0 ? r->step_pairs / l->per_step : 0);
    mval_put_i64(&rec, "epoch", r->epoch);
    mval_put_i64(&rec, "skipped", r->skipped + feed_skipped());
    if (opt.method == M_LRC) {
        mval_put_f64(&rec, "regions", r->reg_sum / r->nsteps);
        mval_put_i64(&rec, "one_sided", r->one_sided);
    } else {
        mval_put_f64(&rec, opt.method == M_EG ? eg_method_metric(opt.eg) : "acc", r->acc_sum / r->nsteps);
    }
    int rc = trainlog_write(&l->tl, &rec);
    mval_free(&rec);
    r->loss_sum = r->acc_sum = r->reg_sum = 0;
    r->nsteps = 0;
    return rc;
}

static void progress(trainloop *l, void *ctx, double loss)
{
    const run *r = ctx;
    trainlog_progress(&l->tl, l->step, opt.steps, loss, l->per_step > 0 ? r->step_pairs / l->per_step : 0,
                      l->per_step);
}

/* Train on a batch: 1 when it made a step (*loss set), 0 when every pair of
 * it was skipped. */
static int train_batch(trainloop *l, run *r, lrc_pair **batch, int n, double *loss)
{
    rng rs;
    double lr = opt.sched.kind == SCHED_CONST ? opt.t.lr : sched_lr(&opt.sched, l->step);
    /* LRC draws per pair from this (lrctrainer.h), MoCo and DenseCL one
     * permutation of all ranks' keys, alike on every rank; the other methods
     * of egtrainer.h draw per batch position, so each rank its own stream */
    uint64_t rank = r->eg && !eg_method_gathers(opt.eg) ? (uint64_t)dist_rank() << 48 : 0;
    rng_seed(&rs, (uint64_t)opt.t.seed, 0x100000000ULL + (uint64_t)l->step + rank);
    r->lr = lr;
    if (r->lrc) {
        lrc_step_stats st;
        if (lrc_trainer_step(r->lrc, batch, n, lr, &rs, &st))
            die_errx(1, "step %lld", (long long)l->step + 1);
        r->skipped += st.skipped;
        if (!st.pairs)
            return 0;
        *loss = st.loss;
        r->acc = 0, r->regions = st.regions, r->step_one_sided = st.one_sided, r->step_pairs = st.pairs;
    } else if (r->eg) {
        eg_stats st;
        if (eg_trainer_step(r->eg, batch, n, lr, &rs, &st))
            die_errx(1, "step %lld", (long long)l->step + 1);
        *loss = st.loss;
        r->acc = st.metric, r->regions = 0, r->step_one_sided = 0, r->step_pairs = st.pairs;
    } else {
        moco_step_stats st;
        if (moco_trainer_step(r->moco, batch, n, lr, &rs, &st))
            die_errx(1, "step %lld", (long long)l->step + 1);
        *loss = st.loss;
        r->acc = st.acc, r->regions = 0, r->step_one_sided = 0, r->step_pairs = st.pairs;
    }
    r->pairs += r->step_pairs;
    return 1;
}

/* Whether the ranks stop at this batch of n pairs. Reading a file, when
 * one rank's share has ended (MoCo, DenseCL: has no full batch, which
 * their all-gathers need; the reference's drop_last). Sharing a ZeroMQ input,
 * when every rank's has, the others stepping with none meanwhile, so that
 * every record sent is trained, once. */
static int ranks_stop(const run *r, int n)
{
    const int gathers = r->moco || (r->eg && eg_method_gathers(opt.eg));
    int v = S.feed.share ? dist_all(n == 0) : dist_all(n > 0 && (!gathers || dist_size() == 1 || n == opt.t.batch));
    if (v < 0)
        die_err(1);
    if (S.feed.share && v && pairfeed_share_check(&S.feed))
        die_errx(1, "-i");
    return S.feed.share ? v : !v;
}

/* Batches until one makes a step (1) or the data has ended (0). */
static int step(trainloop *l, void *ctx, double *loss)
{
    run *r = ctx;
    lrc_pair **batch;
    int n;
    while ((n = pairfeed_next(&S.feed, &batch)) >= 0) {
        if (ranks_stop(r, n)) {
            n = 0;
            break;
        }
        r->epoch = S.feed.epoch;
        if (train_batch(l, r, batch, n, loss))
            return 1;
    }
    r->epoch = S.feed.epoch;
    if (n < 0 && S.feed.rewind_failed)
        die_errx(1, "--epochs %lld", (long long)opt.epochs);
    return n;
}

static void train_free(void)
{
    pairfeed_close(&S.feed);
    lrc_trainer_free(S.r.lrc);
    moco_trainer_free(S.r.moco);
    eg_trainer_free(S.r.eg);
    free(S.r.argv);
    memset(&S, 0, sizeof S);
}

static int train(lrc_trainer_config *lc, moco_trainer_config *mc, eg_config *ec, int argc, char **argv)
{
    static const trainloop_fns fns = {.step = step, .log = log_step, .progress = progress, .save = save};
    run *r = &S.r;
    trainloop *l = &S.loop;
    r->argv = json_strv(argv, argc);
    if (opt.method == M_LRC    ? !(r->lrc = lrc_trainer_create(lc, (uint64_t)opt.t.seed))
        : opt.method == M_EG ? !(r->eg = eg_trainer_create(opt.eg, ec, (uint64_t)opt.t.seed))
                             : !(r->moco = moco_trainer_create(mc, (uint64_t)opt.t.seed)))
        die_err(1);
    if (opt.t.resume)
        resume(r, &l->step);
    if ((r->lrc && dist_bcast_params(unet_params(lrc_trainer_net(r->lrc)))) || (r->moco && moco_trainer_bcast(r->moco)))
        die_err(1);
    for (int i = 0; r->eg && eg_trainer_part(r->eg, i, NULL, NULL); i++)
        if (dist_bcast_params(eg_trainer_part(r->eg, i, NULL, NULL)))
            die_err(1);
    if (opt.init) { /* a baseline: the untrained model, as training would start */
        if (dist_rank() == 0 && save(l, r))
            die_err(1);
        train_free();
        return 0;
    }
    if (opt.steps && l->step >= opt.steps) {
        log_warn("the checkpoint is at step %lld, --steps is %lld: nothing to do", (long long)l->step,
                 (long long)opt.steps);
        train_free();
        return 0;
    }
    if (pairfeed_open(&S.feed, opt.t.input, opt.epochs, (int)opt.t.batch, (int)opt.shuffle, (uint64_t)opt.t.seed,
                      1 + 2 * (uint64_t)l->step, opt.method == M_LRC))
        die_err(1);
    pairfeed_shard(&S.feed, dist_rank(), dist_size());
    trainopts_loop(&opt.t, l, "pairs");
    l->total = opt.steps;
    if (trainloop_run(l, &fns, r))
        die_err(1);
    const int64_t skipped = r->skipped + feed_skipped();
    if (dist_rank() == 0 && l->step == l->start_step)
        log_warn("no training step was taken (%lld pairs skipped): the checkpoint holds the %s model",
                 (long long)skipped, opt.t.resume ? "resumed" : "initial");
    char what[96]; /* only LRC's loss needs regions: the global methods skip no pair */
    snprintf(what, sizeof what, opt.method == M_LRC ? ", %lld pairs (%lld skipped with < 2 regions)" : ", %lld pairs",
             (long long)r->pairs, (long long)skipped);
    if (trainloop_end(l, what, opt.t.ckpt, ""))
        die_err(1);
    train_free();
    return 0;
}

/* ---- --embed ---- */

/* As S for training: reachable when an error ends the process. */
static struct {
    unet *u;
    stream_in *in;
    stream_out *out;
    frame f;
} E;

static int embed(int argc, char **argv)
{
    if (!(E.u = embed_load(opt.t.ckpt)) || !(E.in = stream_in_open(opt.t.input)))
        die_err(1);
    E.out = trainopts_output(&opt.t, argc, argv, opt.t.ckpt);
    filter_output_done(E.out, embed_stream(E.u, E.in, E.out, &E.f));
    stream_in_close(E.in);
    unet_free(E.u);
    return 0;
}

/* What a job of several ranks can do (nn/dist.h). */
static void check_ranks(const moco_trainer_config *mc, const eg_config *ec)
{
    if (opt.embed)
        trainopts_ranks_usage_error("--embed runs as one process, not under mpirun with %d ranks", dist_size());
    if (opt.method == M_MOCO && moco_trainer_check_ranks(mc, (int)opt.t.batch, dist_size()))
        trainopts_ranks_usage_error("%s", err_get());
    if (opt.method == M_EG && eg_method_check_ranks(opt.eg, ec, (int)opt.t.batch, dist_size()))
        trainopts_ranks_usage_error("%s", err_get());
    if (opt.t.sync_bn && opt.method != M_LRC)
        trainopts_ranks_usage_error("--sync-bn is for --method lrc (the global methods keep batch norm per rank)");
    if (!opt.init && stream_is_zmq(opt.t.input) &&
        (strncmp(opt.t.input, "tcp://", 6) || opt.method != M_LRC || opt.t.sync_bn))
        trainopts_ranks_usage_error("-i %s: with %d ranks a ZeroMQ input is tcp://HOST:PORT, every rank connecting to one "
                                    "producer, for --method lrc without --sync-bn", opt.t.input, dist_size());
    if (!opt.init && !stream_is_zmq(opt.t.input))
        trainopts_ranks_input("-i", opt.t.input, 1);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        TRAINOPTS_LONG_FILES,
        {"method", required_argument, 0, OPT_METHOD},
        {"shuffle-buffer", required_argument, 0, OPT_SHUFFLE},
        {"steps", required_argument, 0, OPT_STEPS},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"samples", required_argument, 0, OPT_SAMPLES},
        {"tau", required_argument, 0, OPT_TAU},
        {"no-normalize", no_argument, 0, OPT_NO_NORMALIZE},
        {"exclude-self", no_argument, 0, OPT_EXCLUDE_SELF},
        {"moco-version", required_argument, 0, OPT_MOCO_VERSION},
        {"queue", required_argument, 0, OPT_QUEUE},
        {"moco-m", required_argument, 0, OPT_MOCO_M},
        {"embed-dim", required_argument, 0, OPT_EMBED_DIM},
        {"hidden", required_argument, 0, OPT_HIDDEN},
        {"pred-dim", required_argument, 0, OPT_PRED_DIM},
        {"ema", required_argument, 0, OPT_EMA},
        {"patch", required_argument, 0, OPT_PATCH},
        {"stem", required_argument, 0, OPT_STEM},
        {"gap", required_argument, 0, OPT_GAP},
        {"jitter", required_argument, 0, OPT_JITTER},
        {"no-fix-pred-lr", no_argument, 0, OPT_NO_FIX_PRED_LR},
        {"bn-splits", required_argument, 0, OPT_BN_SPLITS},
        {"dense-weight", required_argument, 0, OPT_DENSE_WEIGHT},
        {"genesis-rates", required_argument, 0, OPT_GENESIS_RATES},
        {"vit", required_argument, 0, OPT_VIT},
        {"mask-ratio", required_argument, 0, OPT_MASK_RATIO},
        {"mae-decoder-depth", required_argument, 0, OPT_DEC_DEPTH},
        {"mae-decoder-width", required_argument, 0, OPT_DEC_WIDTH},
        {"embed", no_argument, 0, OPT_EMBED},
        {"init", no_argument, 0, OPT_INIT},
        TRAINOPTS_LONG,
        FILTER_LONGOPTS_END,
    };
    lrc_trainer_config lc;
    moco_trainer_config mc;
    eg_config ec;
    int c;

    filter_init(argc, argv);
    lrc_trainer_config_default(&lc);
    moco_trainer_config_default(&mc);
    eg_config_default(&ec);
    trainopts_default(&opt.t);
    opt.t.log_every = 1;
    while ((c = trainopts_getopt(argc, argv, longopts, usage, &opt.t)) != -1) {
        switch (c) {
        case OPT_METHOD:
            if (!strcmp(optarg, "lrc"))
                opt.method = M_LRC;
            else if (!strcmp(optarg, "moco"))
                opt.method = M_MOCO;
            else if (eg_method_known(optarg))
                opt.method = M_EG, opt.eg = optarg;
            else
                usage_error("option --method: '%s' is not lrc, moco, %s", optarg, eg_method_names());
            break;
        case OPT_SHUFFLE: opt.shuffle = opt_i64("--shuffle-buffer", optarg, 0, 1 << 20); break;
        case OPT_STEPS: opt.steps = opt_i64("--steps", optarg, 0, INT64_MAX); break;
        case OPT_EPOCHS: opt.epochs = opt_i64("--epochs", optarg, 1, INT64_MAX); break;
        case OPT_SAMPLES: lc.samples = (int)opt_i64("--samples", optarg, 1, 1 << 20); break;
        case OPT_TAU: opt.tau = opt_f64("--tau", optarg, 1e-4, 1e4), opt.have_tau = 1; break;
        case OPT_NO_NORMALIZE: lc.loss.normalize = 0; break;
        case OPT_EXCLUDE_SELF: lc.loss.exclude_self = 1; break;
        case OPT_MOCO_VERSION: mc.version = (int)opt_i64("--moco-version", optarg, 1, 2); break;
        case OPT_QUEUE: ec.queue = mc.queue = (int)opt_i64("--queue", optarg, 1, 1 << 24); break;
        case OPT_MOCO_M: ec.m = mc.m = opt_f64("--moco-m", optarg, 0, 1); break;
        case OPT_DENSE_WEIGHT: ec.dense_weight = opt_f64("--dense-weight", optarg, 0, 1); break;
        case OPT_EMBED_DIM: ec.dim = mc.dim = (int)opt_i64("--embed-dim", optarg, 1, 65536); break;
        case OPT_HIDDEN: ec.hidden = (int)opt_i64("--hidden", optarg, 1, 65536); break;
        case OPT_EMA: ec.ema = opt_f64("--ema", optarg, 0, 1); break;
        case OPT_GENESIS_RATES: opt_f64_list("--genesis-rates", optarg, ec.genesis_rates, 5, 0, 1); break;
        case OPT_STEM:
            if (resnet_stem_parse(optarg, &mc.enc.stem))
                usage_error("option --stem: '%s' is not 3x3 or torchvision", optarg);
            ec.enc.stem = mc.enc.stem;
            break;
        case OPT_PATCH: ec.patch = ec.vit.patch = (int)opt_i64("--patch", optarg, 2, 256); break;
        case OPT_VIT:
            if (vit_config_preset(&ec.vit, optarg))
                usage_error("option --vit: %s", err_get());
            break;
        case OPT_MASK_RATIO: ec.mask_ratio = opt_f64("--mask-ratio", optarg, 0.01, 0.99); break;
        case OPT_DEC_DEPTH: ec.dec_depth = (int)opt_i64("--mae-decoder-depth", optarg, 1, 32); break;
        case OPT_DEC_WIDTH:
            if ((ec.dec_width = (int)opt_i64("--mae-decoder-width", optarg, 16, 8192)) % 16)
                usage_error("option --mae-decoder-width: %d is not a multiple of 16 (its heads)", ec.dec_width);
            break;
        case OPT_GAP: ec.gap = (int)opt_i64("--gap", optarg, 0, 1 << 15); break;
        case OPT_JITTER: ec.jitter = (int)opt_i64("--jitter", optarg, 0, 1 << 15); break;
        case OPT_PRED_DIM: ec.pred_dim = (int)opt_i64("--pred-dim", optarg, 1, 65536); break;
        case OPT_NO_FIX_PRED_LR: ec.fix_pred_lr = 0; break;
        case OPT_BN_SPLITS: ec.bn_splits = mc.bn_splits = (int)opt_i64("--bn-splits", optarg, 1, 4096); break;
        case OPT_EMBED: opt.embed = 1; break;
        case OPT_INIT: opt.init = 1; break;
        }
    }
    opt.sched = trainopts_sched(&opt.t);
    trainopts_unet(&opt.t, &lc.net);
    trainopts_resnet(&opt.t, &mc.enc);
    trainopts_resnet(&opt.t, &ec.enc);
    if (!opt.t.ckpt)
        usage_error("no checkpoint file (-c FILE)");
    if (trainopts_join_job(&opt.t))
        check_ranks(&mc, &ec);
    if (opt.embed) {
        if (opt.method >= 0 || opt.t.resume)
            usage_error("--embed takes no --method or --resume");
        embed(argc, argv);
        return trainopts_leave_job();
    }
    if (opt.method < 0)
        usage_error("no --method (lrc, moco, %s)", eg_method_names());
    if (opt.init && opt.t.resume)
        usage_error("--init and --resume exclude each other");
    if (opt.sched.kind == SCHED_COSINE && !opt.steps)
        usage_error("--schedule cosine needs --steps");
    if ((opt.method == M_MOCO || (opt.method == M_EG && !strcmp(opt.eg, "densecl"))) && mc.bn_splits > 1 &&
        opt.t.batch % mc.bn_splits)
        usage_error("--batch %lld is not a multiple of --bn-splits %d", (long long)opt.t.batch, mc.bn_splits);

    optim_config *oc = opt.method == M_LRC ? &lc.opt : opt.method == M_EG ? &ec.opt : &mc.opt;
    if (opt.t.have_lr)
        oc->lr = opt.t.lr;
    else if (opt.method == M_MOCO)
        oc->lr = 0.03 * (double)(opt.t.batch * dist_size()) / 256; /* Goyal et al.'s linear scaling */
    else if (opt.method == M_EG)
        oc->lr = eg_method_lr(opt.eg, opt.t.batch * dist_size());
    ec.total_steps = opt.steps;
    oc->weight_decay = opt.method == M_EG && !opt.t.have_wd ? eg_method_wd(opt.eg, opt.t.weight_decay) : opt.t.weight_decay;
    if (opt.method == M_LRC)
        oc->beta1 = opt.t.momentum;
    else
        oc->momentum = opt.t.momentum;
    opt.t.lr = oc->lr;
    opt.sched.base_lr = oc->lr;
    opt.sched.total_steps = opt.steps;
    if (opt.have_tau) {
        lc.loss.tau = opt.tau;
        mc.tau = ec.tau = opt.tau;
    }
    if (opt.method == M_LRC && unet_config_check(&lc.net))
        usage_error("%s", err_get());
    if ((opt.method == M_MOCO && resnet_config_check(&mc.enc)) ||
        (opt.method == M_EG && (resnet_config_check(&ec.enc) || eg_method_check(opt.eg, &ec))))
        usage_error("%s", err_get());
    train(&lc, &mc, &ec, argc, argv);
    return trainopts_leave_job();
}
