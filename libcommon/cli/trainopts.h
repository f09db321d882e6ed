/*
 * trainopts — the options that every training filter (lrc-train,
 * seg-finetune, and the pre-training methods to come) takes alike, parsed
 * the same way with the same ranges; each filter then applies them to its
 * own configurations (which network, which optimiser field): the schedule
 * and the network options through the calls below.
 *
 *   --resume --save-every N --log FILE --log-every N --batch N --seed N
 *   --threads N --lr X --momentum X --weight-decay X
 *   --schedule S --warmup N --min-lr X --lr-step N --lr-gamma X
 *   --widths LIST --dim D (a U-Net) --depth N --width X (a ResNet) --norm N
 *   --sync-bn
 *   -i FILE -o FILE -c FILE (the input, the output and the checkpoint:
 *   TRAINOPTS_LONG_FILES, which each filter puts first in its own table, so
 *   that an ambiguous abbreviation names its candidates in the table's order)
 *
 * Not here: --steps and --epochs (their meaning differs between trainers),
 * the help text (each filter states its defaults).
 */
#ifndef LRC_TRAINOPTS_H
#define LRC_TRAINOPTS_H

#include <getopt.h>
#include <stdint.h>

#include "io/stream.h"
#include "models/resnet.h"
#include "models/unet.h"
#include "nn/optim.h"
#include "nn/trainloop.h"

enum {
    TOPT_RESUME = 0x200, TOPT_SAVE_EVERY, TOPT_LOG, TOPT_LOG_EVERY, TOPT_BATCH, TOPT_SEED, TOPT_THREADS, TOPT_LR,
    TOPT_MOMENTUM, TOPT_WD, TOPT_SCHEDULE, TOPT_WARMUP, TOPT_MIN_LR, TOPT_LR_STEP, TOPT_LR_GAMMA, TOPT_WIDTHS,
    TOPT_DIM, TOPT_DEPTH, TOPT_WIDTH, TOPT_NORM, TOPT_TENSORBOARD, TOPT_SYNC_BN
};

#define TRAINOPTS_LONG_FILES                                                                            \
    {"input", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'},                        \
        {"checkpoint", required_argument, 0, 'c'}

#define TRAINOPTS_LONG                                                                                  \
    {"resume", no_argument, 0, TOPT_RESUME}, {"save-every", required_argument, 0, TOPT_SAVE_EVERY},     \
        {"log", required_argument, 0, TOPT_LOG}, {"log-every", required_argument, 0, TOPT_LOG_EVERY},   \
        {"tensorboard", required_argument, 0, TOPT_TENSORBOARD},                                        \
        {"batch", required_argument, 0, TOPT_BATCH}, {"seed", required_argument, 0, TOPT_SEED},         \
        {"threads", required_argument, 0, TOPT_THREADS}, {"lr", required_argument, 0, TOPT_LR},         \
        {"momentum", required_argument, 0, TOPT_MOMENTUM},                                              \
        {"weight-decay", required_argument, 0, TOPT_WD},                                                \
        {"schedule", required_argument, 0, TOPT_SCHEDULE}, {"warmup", required_argument, 0, TOPT_WARMUP}, \
        {"min-lr", required_argument, 0, TOPT_MIN_LR}, {"lr-step", required_argument, 0, TOPT_LR_STEP}, \
        {"lr-gamma", required_argument, 0, TOPT_LR_GAMMA}, {"widths", required_argument, 0, TOPT_WIDTHS}, \
        {"dim", required_argument, 0, TOPT_DIM}, {"depth", required_argument, 0, TOPT_DEPTH},           \
        {"width", required_argument, 0, TOPT_WIDTH}, {"norm", required_argument, 0, TOPT_NORM},      \
        {"sync-bn", no_argument, 0, TOPT_SYNC_BN}

typedef struct {
    const char *input, *output;    /* -i, -o ("-": stdin, stdout) */
    const char *ckpt;              /* -c (NULL: not given) */
    int resume;
    int64_t save_every, log_every, batch, seed, threads; /* threads 0: not given */
    const char *log;
    const char *tensorboard;       /* --tensorboard DIR (NULL: not given) */
    double lr, momentum, weight_decay;
    int have_lr, have_momentum, have_wd;
    const char *schedule;          /* as given (NULL: not given); the filter parses it */
    int64_t warmup, lr_step;
    double min_lr, lr_gamma;
    int widths[5], dim;            /* a U-Net's, when have_unet */
    int depth;                     /* a ResNet's (18, 34, 50) and width, when have_enc */
    double width;
    const char *norm;              /* "batch" or "group" (NULL: not given) */
    int have_widths, have_dim, have_depth, have_width;
    int sync_bn;                   /* --sync-bn */
} trainopts;

/* The defaults the trainers share: -i -, -o -, --save-every 500, --log-every 10,
 * --batch 8, --momentum 0.9, --weight-decay 1e-4, --lr-step 1000,
 * --lr-gamma 0.1, the rest 0 or not given. */
void trainopts_default(trainopts *t);
/* Parse c (a TOPT_* option, or -i, -o, -c) into t: 1; 0 when c is not one
 * of them. A bad value is a usage error (exit 2). */
int trainopt(int c, const char *arg, trainopts *t);
/* filter_getopt (cli/filter.h) for a trainer: the options above go into t
 * (trainopt), and the next of the filter's own is returned; -1 after the
 * last, when an operand left over is a usage error (a trainer takes none). */
int trainopts_getopt(int argc, char **argv, const struct option *longopts, void (*usage)(void), trainopts *t);
/* The learning-rate schedule of --schedule, --warmup, --min-lr, --lr-step
 * and --lr-gamma (const when not given; base_lr and total_steps left 0).
 * An unknown --schedule is a usage error (exit 2). */
sched_config trainopts_sched(const trainopts *t);
/* --widths, --dim and --norm onto a U-Net's configuration; --depth, --width
 * and --norm onto a ResNet's. Each returns 1 when one of its options was
 * given (the configuration then differs from a default), else 0. */
int trainopts_unet(const trainopts *t, unet_config *u);
int trainopts_resnet(const trainopts *t, resnet_config *r);

/* The output of a trainer that runs a model rather than train one
 * (lrc-train --embed, seg-finetune --predict): -o opened, its start record
 * holding the command line and "checkpoint": model, the file it runs.
 * Exits 1 when it cannot be opened (filter_output). */
stream_out *trainopts_output(const trainopts *t, int argc, char **argv, const char *model);

/* The training loop's settings that these options give: the metrics log
 * (--log, appended to on --resume), --tensorboard, --save-every and one
 * rank's --batch of unit ("pairs", "slices"). */
void trainopts_loop(const trainopts *t, trainloop *l, const char *unit);
/* Several ranks (nn/dist.h). The start of a trainer's work, once its
 * options are read: join the job (dist_init; exits 1 with the message when
 * that fails), --threads, and --sync-bn: on several ranks, batch norm's
 * statistics summed over all of them (nn_set_bn_sum with dist_sum_f64), so
 * that N ranks of B train as one process of N B. Returns 1 when the job has
 * several ranks (for the filter's own checks of them), else 0. */
int trainopts_join_job(const trainopts *t);

/* The end of a trainer's main once trainopts_join_job has run: every rank leaves the job (a rank that exits without it aborts
 * the job); exits 1 with the message when that fails. Returns 0. */
int trainopts_leave_job(void);
/* A usage error of a job of several ranks, which every rank finds alike:
 * rank 0 says it and ends the job (exit 2); the others wait for that
 * rather than say it too. */
_Noreturn void trainopts_ranks_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Every rank's input of a job of several ranks (what: its option, "-i"):
 * a regular file that every rank reads, or with fifo_ok a FIFO that is the
 * rank's alone (the same FIFO read by two ranks would split its records
 * between them). Collective: a fault on any rank is said once, by the
 * first rank that has one, and ends the job (exit 2). */
void trainopts_ranks_input(const char *what, const char *path, int fifo_ok);

#endif
