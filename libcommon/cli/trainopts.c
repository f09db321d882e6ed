#include "cli/trainopts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "core/parse.h"
#include "nn/dist.h"
#include "nn/nn.h"

void trainopts_default(trainopts *t)
{
    memset(t, 0, sizeof *t);
    t->input = t->output = "-";
    t->save_every = 500;
    t->log_every = 10;
    t->batch = 8;
    t->momentum = 0.9;
    t->weight_decay = 1e-4;
    t->lr_step = 1000;
    t->lr_gamma = 0.1;
}

int trainopt(int c, const char *arg, trainopts *t)
{
    switch (c) {
    case 'i': t->input = arg; break;
    case 'o': t->output = arg; break;
    case 'c': t->ckpt = arg; break;
    case TOPT_RESUME: t->resume = 1; break;
    case TOPT_SAVE_EVERY: t->save_every = opt_i64("--save-every", arg, 0, INT64_MAX); break;
    case TOPT_LOG: t->log = arg; break;
    case TOPT_TENSORBOARD: t->tensorboard = arg; break;
    case TOPT_LOG_EVERY: t->log_every = opt_i64("--log-every", arg, 1, INT64_MAX); break;
    case TOPT_BATCH: t->batch = opt_i64("--batch", arg, 1, 4096); break;
    case TOPT_SEED: t->seed = opt_i64("--seed", arg, 0, INT64_MAX); break;
    case TOPT_THREADS: t->threads = opt_i64("--threads", arg, 1, 1024); break;
    case TOPT_LR: t->lr = opt_f64("--lr", arg, 0, 1e3), t->have_lr = 1; break;
    case TOPT_MOMENTUM: t->momentum = opt_f64("--momentum", arg, 0, 0.999999), t->have_momentum = 1; break;
    case TOPT_WD: t->weight_decay = opt_f64("--weight-decay", arg, 0, 1), t->have_wd = 1; break;
    case TOPT_SCHEDULE: t->schedule = arg; break;
    case TOPT_WARMUP: t->warmup = opt_i64("--warmup", arg, 0, INT64_MAX); break;
    case TOPT_MIN_LR: t->min_lr = opt_f64("--min-lr", arg, 0, 1e3); break;
    case TOPT_LR_STEP: t->lr_step = opt_i64("--lr-step", arg, 1, INT64_MAX); break;
    case TOPT_LR_GAMMA: t->lr_gamma = opt_f64("--lr-gamma", arg, 0, 1); break;
    case TOPT_WIDTHS: {
        int64_t w[5];
        if (parse_i64_list(arg, w, 5))
            usage_error("option --widths: %s (five widths, e.g. 16,32,64,128,256)", err_get());
        for (int i = 0; i < 5; i++) {
            if (w[i] < 1 || w[i] > 4096)
                usage_error("option --widths: %lld is out of range [1, 4096]", (long long)w[i]);
            t->widths[i] = (int)w[i];
        }
        t->have_widths = 1;
        break;
    }
    case TOPT_DIM: t->dim = (int)opt_i64("--dim", arg, 1, 4096), t->have_dim = 1; break;
    case TOPT_DEPTH:
        t->depth = (int)opt_i64("--depth", arg, 18, 50);
        if (t->depth != 18 && t->depth != 34 && t->depth != 50)
            usage_error("option --depth: %d is not 18, 34 or 50", t->depth);
        t->have_depth = 1;
        break;
    case TOPT_WIDTH: t->width = opt_f64("--width", arg, 1e-3, 4), t->have_width = 1; break;
    case TOPT_SYNC_BN: t->sync_bn = 1; break;
    case TOPT_NORM:
        if (strcmp(arg, "batch") && strcmp(arg, "group"))
            usage_error("option --norm: '%s' is not batch or group", arg);
        t->norm = arg;
        break;
    default: return 0;
    }
    return 1;
}

int trainopts_getopt(int argc, char **argv, const struct option *longopts, void (*usage)(void), trainopts *t)
{
    int c;
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1)
        if (!trainopt(c, optarg, t))
            return c;
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    return -1;
}

stream_out *trainopts_output(const trainopts *t, int argc, char **argv, const char *model)
{
    mval params = filter_params(argc, argv);
    mval_put_str(&params, "checkpoint", model);
    stream_out *out = filter_output(t->output, &params);
    mval_free(&params);
    return out;
}

sched_config trainopts_sched(const trainopts *t)
{
    sched_config s = {.kind = SCHED_CONST, .warmup_steps = t->warmup, .min_lr = t->min_lr, .step_size = t->lr_step,
                      .gamma = t->lr_gamma};
    if (t->schedule && sched_kind_parse(t->schedule, &s.kind))
        usage_error("option --schedule: '%s' is not const, cosine or step", t->schedule);
    return s;
}

static nn_norm_kind norm_of(const char *name)
{
    return strcmp(name, "group") ? NORM_BATCH : NORM_GROUP;
}

int trainopts_unet(const trainopts *t, unet_config *u)
{
    if (t->have_widths)
        memcpy(u->widths, t->widths, sizeof u->widths);
    if (t->have_dim)
        u->out_ch = t->dim;
    if (t->norm)
        u->norm = norm_of(t->norm);
    return t->have_widths || t->have_dim || t->norm;
}

int trainopts_resnet(const trainopts *t, resnet_config *r)
{
    if (t->have_depth)
        r->depth = t->depth;
    if (t->have_width)
        r->width = (float)t->width;
    if (t->norm)
        r->norm = norm_of(t->norm);
    return t->have_depth || t->have_width || t->norm;
}

void trainopts_loop(const trainopts *t, trainloop *l, const char *unit)
{
    l->log_path = t->log;
    l->tensorboard = t->tensorboard;
    l->append = t->resume;
    l->save_every = t->save_every;
    l->batch = t->batch;
    l->unit = unit;
}

int trainopts_join_job(const trainopts *t)
{
    if (dist_init())
        die_err(1);
    if (t->threads)
        nn_set_threads((int)t->threads);
    if (t->sync_bn && dist_size() > 1)
        nn_set_bn_sum(dist_sum_f64);
    return dist_size() > 1;
}

int trainopts_leave_job(void)
{
    if (dist_finalize())
        die_err(1);
    return 0;
}

void trainopts_ranks_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (dist_rank() == 0)
        vusage_error(fmt, ap);
    va_end(ap);
    dist_all(0);
    exit(EXIT_USAGE);
}

/* What names a FIFO across the job: its host, device and inode (never 0). */
static uint64_t fifo_key(const struct stat *st)
{
    char host[256] = "";
    uint64_t h = 14695981039346656037u;
    gethostname(host, sizeof host - 1);
    for (const char *c = host; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211u;
    h = (h ^ (uint64_t)st->st_dev) * 1099511628211u;
    h = (h ^ (uint64_t)st->st_ino) * 1099511628211u;
    return h | 1;
}

void trainopts_ranks_input(const char *what, const char *path, int fifo_ok)
{
    int n = dist_size(), me = dist_rank(), first = -1;
    uint64_t key = 0, *all = calloc((size_t)n, sizeof *all), *bad = calloc((size_t)n, sizeof *bad);
    char msg[1024] = "";
    struct stat st;
    if (!all || !bad)
        die_errx(1, "out of memory");
    if (strcmp(path, "-") && stat(path, &st))
        snprintf(msg, sizeof msg, "%s %s: %s", what, path, strerror(errno));
    else if (strcmp(path, "-") && fifo_ok && S_ISFIFO(st.st_mode))
        key = fifo_key(&st);
    else if (!strcmp(path, "-") || !S_ISREG(st.st_mode))
        snprintf(msg, sizeof msg, "%s %s: with %d ranks the input must be a file that every rank reads%s", what, path, n,
                 fifo_ok ? ", or a FIFO of the rank's own (each rank takes the records whose seq % ranks is its rank; "
                 "mpirun gives stdin to rank 0 only)" : " (mpirun gives stdin to rank 0 only)");
    if (dist_allgather_u64(key, all))
        die_err(1);
    for (int r = 0; r < me && !msg[0]; r++)
        if (key && all[r] == key)
            snprintf(msg, sizeof msg, "%s %s: ranks %d and %d read the same FIFO; give each rank its own "
                     "(mpirun -np 1 ... -i a : -np 1 ... -i b)", what, path, r, me);
    if (dist_allgather_u64(msg[0] != 0, bad))
        die_err(1);
    for (int r = n - 1; r >= 0; r--)
        if (bad[r])
            first = r;
    free(all);
    free(bad);
    if (first < 0)
        return;
    /* the first rank that found a fault says it and ends the job */
    if (me == first)
        usage_error("%s", msg);
    dist_all(0);
    exit(EXIT_USAGE);
}
