#include "pretrain/egtrainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/dist.h"
#include "pretrain/moco.h"

static const eg_ops *const methods[] = {&eg_rotation_ops, &eg_relloc_ops, &eg_byol_ops, &eg_simsiam_ops,
                                        &eg_densecl_ops, &eg_genesis_ops, &eg_mae_ops};
enum { NMETHODS = sizeof methods / sizeof methods[0] };

static const eg_ops *find(const char *name)
{
    for (int i = 0; name && i < NMETHODS; i++)
        if (!strcmp(methods[i]->name, name))
            return methods[i];
    return NULL;
}

void eg_config_default(eg_config *c)
{
    memset(c, 0, sizeof *c);
    resnet_config_default(&c->enc);
    optim_config_default(&c->opt, OPTIM_SGD);
    c->opt.lr = 0;
    c->ema = 0.996;
    c->fix_pred_lr = 1;
    c->patch = c->gap = c->jitter = -1;
    c->queue = 4096;
    c->m = 0.999;
    c->tau = 0.2;
    c->dense_weight = 0.5;
    c->bn_splits = 2;
    memcpy(c->genesis_rates, (double[]){0.9, 0.5, 0.9, 0.8, 0.4}, sizeof c->genesis_rates);
    vit_config_default(&c->vit);
    c->dec_depth = 8, c->dec_width = 512, c->dec_heads = 16;
    c->mask_ratio = 0.75;
}

int eg_method_known(const char *name)
{
    return find(name) != NULL;
}

const char *eg_method_names(void)
{
    static char buf[256];
    if (!buf[0])
        for (int i = 0; i < NMETHODS; i++) /* "a, b or c" */
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%s",
                     i == 0 ? "" : i == NMETHODS - 1 ? " or " : ", ", methods[i]->name);
    return buf;
}

int eg_method_gathers(const char *name)
{
    const eg_ops *o = find(name);
    return o && o->gathers;
}

int eg_method_check_ranks(const char *name, const eg_config *c, int batch, int ranks)
{
    const eg_ops *o = find(name);
    return o && o->check_ranks ? o->check_ranks(c, batch, ranks) : 0;
}

int eg_method_check(const char *name, const eg_config *c)
{
    const eg_ops *o = find(name);
    return o && o->check ? o->check(c) : 0;
}

double eg_method_lr(const char *name, int64_t B)
{
    const eg_ops *o = find(name);
    return !o ? 0 : o->lr_per256 ? o->lr * (double)B / 256 : o->lr;
}

const char *eg_method_metric(const char *name)
{
    const eg_ops *o = find(name);
    return o ? o->metric : NULL;
}

double eg_method_wd(const char *name, double wd)
{
    const eg_ops *o = find(name);
    return o && o->wd > 0 ? o->wd : wd;
}

eg_trainer *eg_trainer_create(const char *method, const eg_config *c, uint64_t seed)
{
    const eg_ops *o = find(method);
    eg_trainer *t;
    if (!o) {
        err_set("'%s' is not a global pre-training method (%s)", method, eg_method_names());
        return NULL;
    }
    if (resnet_config_check(&c->enc))
        return NULL;
    if (c->opt.kind != OPTIM_SGD && !(o->adamw && c->opt.kind == OPTIM_ADAMW)) {
        err_set("%s: the global methods train with SGD (MAE with AdamW)", method);
        return NULL;
    }
    if (!(t = calloc(1, sizeof *t))) {
        err_set("out of memory");
        return NULL;
    }
    t->ops = o;
    t->c = *c;
    if (t->c.opt.lr <= 0)
        t->c.opt.lr = o->lr;
    if (o->adamw && c->opt.kind == OPTIM_SGD) { /* MAE's AdamW: betas (0.9, 0.95), beta1 the momentum */
        t->c.opt.kind = OPTIM_ADAMW;
        t->c.opt.beta1 = c->opt.momentum;
        t->c.opt.beta2 = 0.95;
        t->c.opt.no_decay_1d = 1; /* main_pretrain.py's two parameter groups */
    }
    t->seed = seed;
    t->C4 = resnet_stage_channels(&c->enc, 4);
    if (o->init(t)) {
        eg_trainer_free(t);
        return NULL;
    }
    return t;
}

void eg_trainer_free(eg_trainer *t)
{
    if (!t)
        return;
    if (t->ops->free)
        t->ops->free(t);
    for (int i = 0; i < EG_SCRATCH; i++)
        lrc_free(t->scr[i]);
    for (int i = 0; i < t->nparts; i++) {
        optim_free(t->part[i].opt);
        resnet_free(t->part[i].enc);
        resdec_free(t->part[i].dec);
        proj_free(t->part[i].proj);
        vit_free(t->part[i].vit);
        maedec_free(t->part[i].mdec);
    }
    lrc_free(t->x);
    free(t);
}

const char *eg_trainer_method(const eg_trainer *t)
{
    return t->ops->name;
}

resnet *eg_trainer_encoder(eg_trainer *t)
{
    return t->part[0].enc;
}

const eg_config *eg_trainer_config(const eg_trainer *t)
{
    return &t->c;
}

int eg_trainer_nparts(const eg_trainer *t)
{
    return t->nparts;
}

static pblock *params(eg_part *p)
{
    return p->enc    ? resnet_params(p->enc)
           : p->dec  ? resdec_params(p->dec)
           : p->vit  ? vit_params(p->vit)
           : p->mdec ? maedec_params(p->mdec)
                     : proj_params(p->proj);
}

pblock *eg_trainer_part(eg_trainer *t, int i, const char **prefix, int *trained)
{
    if (i < 0 || i >= t->nparts)
        return NULL;
    if (prefix)
        *prefix = t->part[i].prefix;
    if (trained)
        *trained = t->part[i].opt != NULL;
    return params(&t->part[i]);
}

/* p holds the part's model (one of its model pointers set) */
static int add_part(eg_trainer *t, const char *prefix, const char *optim_prefix, eg_part p, int fixed_lr)
{
    if (!p.enc && !p.dec && !p.proj && !p.vit && !p.mdec)
        return -1;
    if (t->nparts == EG_MAX_PARTS) {
        resnet_free(p.enc);
        resdec_free(p.dec);
        proj_free(p.proj);
        vit_free(p.vit);
        maedec_free(p.mdec);
        return err_set("egtrainer: too many parts");
    }
    p.prefix = prefix;
    p.optim_prefix = optim_prefix;
    p.fixed_lr = fixed_lr;
    eg_part *q = &t->part[t->nparts++];
    *q = p;
    if (optim_prefix && !(q->opt = optim_create(&t->c.opt, params(q))))
        return -1;
    return t->nparts - 1;
}

/* Each part draws its initial weights from its own stream of the seed. */
static uint64_t part_seed(const eg_trainer *t)
{
    rng r;
    rng_seed(&r, t->seed, 0x45470000 + (uint64_t)t->nparts);
    return rng_u64(&r);
}

int eg_add_resnet(eg_trainer *t, const char *prefix, const char *optim_prefix, const resnet_config *c)
{
    /* Eg itself from the plain seed, as mocotrainer and seg-finetune do */
    return add_part(t, prefix, optim_prefix,
                    (eg_part){.enc = resnet_create(c, t->nparts ? part_seed(t) : t->seed)}, 0);
}

int eg_add_resdec(eg_trainer *t, const char *prefix, const char *optim_prefix, const resdec_config *c)
{
    return add_part(t, prefix, optim_prefix, (eg_part){.dec = resdec_create(c, part_seed(t))}, 0);
}

int eg_add_proj(eg_trainer *t, const char *prefix, const char *optim_prefix, const proj_config *c, int fixed_lr)
{
    return add_part(t, prefix, optim_prefix, (eg_part){.proj = proj_create(c, part_seed(t))}, fixed_lr);
}

int eg_add_vit(eg_trainer *t, const char *prefix, const char *optim_prefix, const vit_config *c)
{
    return add_part(t, prefix, optim_prefix, (eg_part){.vit = vit_create(c, t->nparts ? part_seed(t) : t->seed)},
                    0);
}

int eg_add_maedec(eg_trainer *t, const char *prefix, const char *optim_prefix, const maedec_config *c)
{
    return add_part(t, prefix, optim_prefix, (eg_part){.mdec = maedec_create(c, part_seed(t))}, 0);
}

int eg_copy_part(eg_trainer *t, int dst, int src)
{
    return pblock_copy(params(&t->part[dst]), params(&t->part[src]));
}

void eg_ema_part(eg_trainer *t, int dst, int src, double m)
{
    pblock *pd = params(&t->part[dst]), *ps = params(&t->part[src]);
    moco_momentum_update(pd->data, ps->data, ps->ntrain, (float)m);
}

float *eg_input(eg_trainer *t, size_t n)
{
    if (lrc_reserve(&t->x, &t->xcap, n)) {
        err_set("out of memory (a batch of %zu values)", n);
        return NULL;
    }
    return t->x;
}

float *eg_scratch(eg_trainer *t, int slot, size_t n)
{
    if (lrc_reserve(&t->scr[slot], &t->scap[slot], n)) {
        err_set("out of memory (%zu values)", n);
        return NULL;
    }
    memset(t->scr[slot], 0, n * sizeof(float));
    return t->scr[slot];
}

void eg_softmax_xent(double *loss, double *acc, float *dlogits, const float *logits, const int *labels, int N,
                     int K)
{
    double total = 0;
    int hits = 0;
    for (int n = 0; n < N; n++) {
        const float *l = logits + (size_t)n * K;
        float *d = dlogits + (size_t)n * K;
        int best = 0;
        for (int k = 1; k < K; k++)
            if (l[k] > l[best])
                best = k;
        double z = 0;
        for (int k = 0; k < K; k++)
            z += exp((double)l[k] - l[best]);
        double lse = l[best] + log(z);
        total += lse - l[labels[n]];
        hits += best == labels[n];
        for (int k = 0; k < K; k++)
            d[k] = (float)((exp((double)l[k] - lse) - (k == labels[n])) / N);
    }
    *loss = total / N;
    *acc = (double)hits / N;
}

/* x = [xq..., xp...] (2B, 1, H, W) */
float *eg_two_views(eg_trainer *t, lrc_pair *const *pairs, int B)
{
    const size_t HW = (size_t)pairs[0]->H * pairs[0]->W;
    float *x = eg_input(t, 2 * (size_t)B * HW);
    if (x)
        for (int b = 0; b < B; b++) {
            memcpy(x + b * HW, pairs[b]->xq, HW * sizeof(float));
            memcpy(x + (B + b) * HW, pairs[b]->xp, HW * sizeof(float));
        }
    return x;
}

int eg_check_batch(lrc_pair *const *pairs, int B)
{
    if (B < 1)
        return err_set("empty batch");
    const int H = pairs[0]->H, W = pairs[0]->W;
    if (H % 16 || W % 16 || H < 16 || W < 16)
        return err_set("images of %dx%d pixels; Eg needs sides that are multiples of 16", H, W);
    for (int b = 1; b < B; b++)
        if (pairs[b]->H != H || pairs[b]->W != W)
            return err_set("record seq %lld is %dx%d, the batch's first is %dx%d", (long long)pairs[b]->seq,
                           pairs[b]->H, pairs[b]->W, H, W);
    return 0;
}

int eg_trainer_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    memset(st, 0, sizeof *st);
    if (eg_check_batch(pairs, B))
        return -1;
    for (int i = 0; i < t->nparts; i++)
        if (t->part[i].opt)
            pblock_zero_grad(params(&t->part[i]));
    if (t->ops->grad(t, pairs, B, r, st))
        return -1;
    st->pairs = B;
    return 0;
}

/* Several ranks: all ranks' statistics, the gradients averaged over all
 * ranks' pairs. */
static int reduce_ranks(eg_trainer *t, eg_stats *st)
{
    double sum[3] = {st->pairs, st->loss * st->pairs, st->metric * st->pairs};
    const int mine = st->pairs;
    if (dist_sum_f64(sum, 3))
        return -1;
    st->pairs = (int)sum[0];
    st->loss = sum[1] / sum[0];
    st->metric = sum[2] / sum[0];
    for (int i = 0; i < t->nparts; i++)
        if (t->part[i].opt && dist_grad_reduce(params(&t->part[i]), mine / sum[0]))
            return -1;
    return 0;
}

int eg_trainer_step(eg_trainer *t, lrc_pair *const *pairs, int B, double lr, rng *r, eg_stats *st)
{
    if (eg_trainer_grad(t, pairs, B, r, st) || (dist_size() > 1 && reduce_ranks(t, st)))
        return -1;
    for (int i = 0; i < t->nparts; i++)
        if (t->part[i].opt)
            optim_step(t->part[i].opt, t->part[i].fixed_lr ? t->c.opt.lr : lr);
    if (t->ops->after_update)
        t->ops->after_update(t);
    return 0;
}

static char *part_json(const eg_part *p)
{
    return p->enc    ? resnet_config_json(resnet_get_config(p->enc))
           : p->dec  ? resdec_config_json(resdec_get_config(p->dec))
           : p->vit  ? vit_config_json(vit_get_config(p->vit))
           : p->mdec ? maedec_config_json(maedec_get_config(p->mdec))
                     : proj_config_json(proj_get_config(p->proj));
}

static const char *part_kind(const eg_part *p)
{
    return p->enc ? "resnet" : p->dec ? "resdec" : p->vit ? "vit" : p->mdec ? "maedec" : "projector";
}

/* Every part's model and optimiser into w, or (w NULL) out of c, then the
 * method's own state. */
static int parts_io(eg_trainer *t, ckpt_writer *w, const ckpt *c)
{
    int rc = 0;
    for (int i = 0; !rc && i < t->nparts; i++) {
        eg_part *p = &t->part[i];
        char *cfg = part_json(p);
        if (!cfg)
            rc = -1;
        else if (w)
            rc = ckpt_put_model(w, p->prefix, part_kind(p), cfg, params(p)) ||
                 (p->opt && ckpt_put_optim(w, p->optim_prefix, p->opt));
        else
            rc = ckpt_get_model(c, p->prefix, part_kind(p), cfg, params(p)) ||
                 (p->opt && ckpt_get_optim(c, p->optim_prefix, p->opt));
        free(cfg);
    }
    if (!rc && w && t->ops->save)
        rc = t->ops->save(t, w);
    if (!rc && !w && t->ops->load)
        rc = t->ops->load(t, c);
    return rc ? -1 : 0;
}

int eg_trainer_save(eg_trainer *t, ckpt_writer *w)
{
    char *js = t->ops->json(t);
    int rc = js && !ckpt_put_meta(w, "method", t->ops->name) && !ckpt_put_meta(w, t->ops->name, js) ? 0 : -1;
    free(js);
    return rc ? -1 : parts_io(t, w, NULL);
}

int eg_trainer_load(eg_trainer *t, const ckpt *c)
{
    const char *m = ckpt_meta(c, "method"), *saved = ckpt_meta(c, t->ops->name);
    char *js;
    int rc = 0;
    if (!m || strcmp(m, t->ops->name))
        return err_set("%s: not an lrc-train --method %s checkpoint (method %s)", ckpt_path(c), t->ops->name,
                       m ? m : "absent");
    if (!(js = t->ops->json(t)))
        return -1;
    if (!saved || strcmp(saved, js))
        rc = err_set("%s: trained with %s settings %s, the options give %s", ckpt_path(c), t->ops->name,
                     saved ? saved : "(absent)", js);
    free(js);
    return rc ? -1 : parts_io(t, NULL, c);
}
