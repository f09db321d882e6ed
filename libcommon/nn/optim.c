#include "nn/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/mval.h"
#include "core/tensor.h"
#include "nn/block.h"
#include "nn/internal.h"
#include "nn/nn.h"

struct optim {
    optim_config cfg;
    pblock *pb;
    float *state[2];
    int nstate;
    int64_t t;
};

static const char *kind_names[] = {"sgd", "adam", "adamw"};

const char *optim_kind_name(optim_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

int optim_kind_parse(const char *s, optim_kind *k)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, kind_names[i]))
            return *k = (optim_kind)i, 0;
    return err_set("unknown optimiser '%s' (sgd, adam, adamw)", s);
}

void optim_config_default(optim_config *c, optim_kind kind)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = kind == OPTIM_SGD ? 0.03 : 1e-3;
    c->momentum = 0.9;
    c->weight_decay = 1e-4;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
}

static int check(const optim_config *c)
{
    if ((unsigned)c->kind > OPTIM_ADAMW)
        return err_set("optimiser: unknown kind %d", (int)c->kind);
    if (!(c->lr >= 0) || !(c->weight_decay >= 0) || !(c->momentum >= 0 && c->momentum < 1) ||
        !(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1) || !(c->eps > 0))
        return err_set("optimiser: a hyperparameter is out of range (lr %g, weight decay %g, "
                       "momentum %g, betas %g %g, eps %g)",
                       c->lr, c->weight_decay, c->momentum, c->beta1, c->beta2, c->eps);
    return 0;
}

optim *optim_create(const optim_config *c, pblock *pb)
{
    optim *o;
    if (check(c))
        return NULL;
    if (!pb->allocated) {
        err_set("optimiser: parameter block not allocated");
        return NULL;
    }
    if (!(o = calloc(1, sizeof *o))) {
        err_set("out of memory");
        return NULL;
    }
    o->cfg = *c;
    o->pb = pb;
    o->nstate = c->kind == OPTIM_SGD ? (c->momentum > 0 ? 1 : 0) : 2;
    for (int k = 0; k < o->nstate; k++)
        if (!(o->state[k] = lrc_calloc((pb->ntrain ? pb->ntrain : 1) * sizeof(float)))) {
            optim_free(o);
            err_set("out of memory");
            return NULL;
        }
    return o;
}

void optim_free(optim *o)
{
    if (!o)
        return;
    for (int k = 0; k < 2; k++)
        lrc_free(o->state[k]);
    free(o);
}

const optim_config *optim_get_config(const optim *o)
{
    return &o->cfg;
}

typedef struct {
    const optim *o;
    float lr, wd, decay, step, sbc2;
    int first;
} step_job;

#define OCHUNK 65536L

/* elements [i, i + len) with weight decay wd (decoupled: the factor decay) */
static void step_range(const step_job *j, long i, long len, float wd, float decay)
{
    const optim *o = j->o;
    const optim_config *c = &o->cfg;
    float *p = o->pb->data + i, *g = o->pb->grad + i;
    if (c->kind == OPTIM_SGD)
        nn_ew()->sgd(p, g, o->state[0] ? o->state[0] + i : NULL, len, wd, (float)c->momentum,
                  j->first, c->nesterov, j->lr);
    else
        nn_ew()->adam(p, g, o->state[0] + i, o->state[1] + i, len, wd,
                   c->kind == OPTIM_ADAMW, decay, (float)c->beta1, (float)c->beta2, j->step,
                   j->sbc2, (float)c->eps);
}

static void step_task(void *ctx, long k, int tid)
{
    const step_job *j = ctx;
    const pblock *pb = j->o->pb;
    long i = k * OCHUNK, end = NN_MIN(i + OCHUNK, (long)pb->ntrain);
    (void)tid;
    if (!j->o->cfg.no_decay_1d) {
        step_range(j, i, end - i, j->wd, j->decay);
        return;
    }
    /* tensor by tensor within the chunk (alignment padding between them is
     * left alone: its gradient is 0, as its value) */
    for (int e = 0; e < pb->n && i < end; e++) {
        const param_entry *pe = &pb->e[e];
        long lo = NN_MAX(i, (long)pe->offset), hi = NN_MIN(end, (long)(pe->offset + pe->numel));
        if (pe->kind != PARAM_TRAIN || lo >= hi)
            continue;
        if (pe->rank == 1)
            step_range(j, lo, hi - lo, 0.0f, 1.0f);
        else
            step_range(j, lo, hi - lo, j->wd, j->decay);
    }
}

static void step(optim *o, double lr)
{
    const optim_config *c = &o->cfg;
    o->t++;
    /* Adam's bias corrections in double, as PyTorch computes them */
    double bc1 = 1 - pow(c->beta1, (double)o->t), bc2 = 1 - pow(c->beta2, (double)o->t);
    step_job j = {o, (float)lr, (float)c->weight_decay, (float)(1.0 - lr * c->weight_decay),
                  (float)(lr / bc1), (float)sqrt(bc2), o->t == 1};
    nn_parallel_work(((long)o->pb->ntrain + OCHUNK - 1) / OCHUNK, 5 * NN_MIN(OCHUNK, (long)o->pb->ntrain), step_task, &j);
}

void optim_step(optim *o, double lr)
{
    PROF_CALL(PROF_OPTIM, 0, step(o, lr));
}

int64_t optim_steps(const optim *o)
{
    return o->t;
}

void optim_set_steps(optim *o, int64_t t)
{
    o->t = t;
}

int optim_nstate(const optim *o)
{
    return o->nstate;
}

const char *optim_state_name(const optim *o, int k)
{
    if (o->cfg.kind == OPTIM_SGD)
        return "momentum_buffer";
    return k == 0 ? "exp_avg" : "exp_avg_sq";
}

float *optim_state(optim *o, int k)
{
    return k >= 0 && k < o->nstate ? o->state[k] : NULL;
}

pblock *optim_pblock(const optim *o)
{
    return o->pb;
}

char *optim_config_json(const optim_config *c)
{
    mval m = {0};
    char *s;
    mval_set_map(&m);
    mval_put_str(&m, "kind", optim_kind_name(c->kind));
    mval_put_f64(&m, "lr", c->lr);
    mval_put_f64(&m, "weight_decay", c->weight_decay);
    if (c->kind == OPTIM_SGD) {
        mval_put_f64(&m, "momentum", c->momentum);
        mval_put_i64(&m, "nesterov", c->nesterov);
    } else {
        mval_put_f64(&m, "beta1", c->beta1);
        mval_put_f64(&m, "beta2", c->beta2);
        mval_put_f64(&m, "eps", c->eps);
    }
    if (c->no_decay_1d) /* absent: 0, as in checkpoints before the setting */
        mval_put_i64(&m, "no_decay_1d", 1);
    s = nnb_cfg_dump(&m);
    mval_free(&m);
    return s;
}

int optim_config_parse(const char *json, optim_config *c)
{
    static const char *const keys[] = {"kind",  "lr",    "weight_decay", "momentum",    "nesterov",
                                       "beta1", "beta2", "eps",          "no_decay_1d", NULL};
    mval m = {0};
    const char *k;
    int rc = 0;
    if (nnb_cfg_parse(json, &m, "optimiser", keys))
        return -1;
    if (mval_get_str(&m, "kind", &k) != 0) {
        mval_free(&m);
        return err_set("optimiser configuration: no 'kind'");
    }
    if (optim_kind_parse(k, &c->kind) == 0) {
        optim_kind kind = c->kind;
        optim_config_default(c, kind);
        rc = mval_get_f64(&m, "lr", &c->lr) < 0 ||
             mval_get_f64(&m, "weight_decay", &c->weight_decay) < 0 ||
             mval_get_f64(&m, "momentum", &c->momentum) < 0 ||
             mval_get_f64(&m, "beta1", &c->beta1) < 0 || mval_get_f64(&m, "beta2", &c->beta2) < 0 ||
             mval_get_f64(&m, "eps", &c->eps) < 0 || nnb_cfg_int(&m, "optimiser", "nesterov", &c->nesterov) < 0 ||
             nnb_cfg_int(&m, "optimiser", "no_decay_1d", &c->no_decay_1d) < 0;
    } else
        rc = 1;
    mval_free(&m);
    return rc ? -1 : check(c);
}

double sched_lr(const sched_config *s, int64_t t)
{
    switch (s->kind) {
    case SCHED_COSINE: {
        if (t < s->warmup_steps)
            return s->base_lr * (double)(t + 1) / (double)s->warmup_steps;
        int64_t span = s->total_steps - s->warmup_steps;
        double x = span > 0 ? (double)(t - s->warmup_steps) / (double)span : 1.0;
        if (x > 1)
            x = 1;
        return s->min_lr + (s->base_lr - s->min_lr) * (1 + cos(M_PI * x)) / 2;
    }
    case SCHED_STEP:
        return s->base_lr * pow(s->gamma, (double)(s->step_size > 0 ? t / s->step_size : 0));
    default:
        return s->base_lr;
    }
}

int sched_kind_parse(const char *s, sched_kind *k)
{
    static const char *names[] = {"const", "cosine", "step"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, names[i]))
            return *k = (sched_kind)i, 0;
    return err_set("unknown schedule '%s' (const, cosine, step)", s);
}
