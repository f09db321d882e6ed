#include "pretrain/lrctrainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/tensor.h"
#include "nn/dist.h"
#include "nn/nn.h"

struct lrc_trainer {
    lrc_trainer_config c;
    unet *net;
    optim *opt;
    lrc_sample smp;
    float *x;  /* (2B, 1, H, W) */
    float *df; /* (2B, D, H, W) */
    size_t xcap, dfcap;
};

void lrc_trainer_config_default(lrc_trainer_config *c)
{
    memset(c, 0, sizeof *c);
    unet_config_default(&c->net);
    optim_config_default(&c->opt, OPTIM_ADAM);
    c->loss = lrc_opts_default();
    c->samples = 50;
}

lrc_trainer *lrc_trainer_create(const lrc_trainer_config *c, uint64_t seed)
{
    if (c->samples < 1) {
        err_set("samples per region must be >= 1 (got %d)", c->samples);
        return NULL;
    }
    if (!(c->loss.tau > 0)) {
        err_set("tau must be > 0 (got %g)", c->loss.tau);
        return NULL;
    }
    lrc_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        err_set("out of memory");
        return NULL;
    }
    t->c = *c;
    lrc_sample_init(&t->smp);
    if (!(t->net = unet_create(&c->net, seed)) || !(t->opt = optim_create(&c->opt, unet_params(t->net)))) {
        lrc_trainer_free(t);
        return NULL;
    }
    return t;
}

void lrc_trainer_free(lrc_trainer *t)
{
    if (!t)
        return;
    optim_free(t->opt);
    unet_free(t->net);
    lrc_sample_free(&t->smp);
    lrc_free(t->x);
    lrc_free(t->df);
    free(t);
}

unet *lrc_trainer_net(lrc_trainer *t)
{
    return t->net;
}

optim *lrc_trainer_optim(lrc_trainer *t)
{
    return t->opt;
}

static int reserve(float **p, size_t *cap, size_t n)
{
    return lrc_reserve(p, cap, n) ? err_set("out of memory (%zu floats)", n) : 0;
}

int lrc_trainer_step(lrc_trainer *t, lrc_pair *const *pairs, int B, double lr, rng *r, lrc_step_stats *st)
{
    memset(st, 0, sizeof *st);
    if (B < 1 && dist_size() == 1)
        return err_set("empty batch");
    const int H = B ? pairs[0]->H : 0, W = B ? pairs[0]->W : 0, D = t->c.net.out_ch;
    const size_t HW = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        if (pairs[b]->H != H || pairs[b]->W != W)
            return err_set("record seq %lld is %dx%d, the batch's first is %dx%d", (long long)pairs[b]->seq,
                           pairs[b]->H, pairs[b]->W, H, W);
        if (!pairs[b]->rq || !pairs[b]->rp)
            return err_set("record seq %lld has no region maps", (long long)pairs[b]->seq);
    }
    if (reserve(&t->x, &t->xcap, 2 * (size_t)B * HW) || reserve(&t->df, &t->dfcap, 2 * (size_t)B * D * HW))
        return -1;
    for (int b = 0; b < B; b++) {
        memcpy(t->x + (size_t)b * HW, pairs[b]->xq, HW * sizeof(float));
        memcpy(t->x + (size_t)(B + b) * HW, pairs[b]->xp, HW * sizeof(float));
    }
    const float *f = NULL; /* (2B, D, H, W) */
    if (B && !(f = unet_forward(t->net, t->x, 2 * B, H, W)))
        return -1;
    /* Sample every pair first: the loss scale needs the number of used pairs. */
    int used = 0;
    for (int b = 0; b < B; b++)
        used += pairs[b]->nreg >= 2;
    if (B)
        memset(t->df, 0, 2 * (size_t)B * D * HW * sizeof(float));
    const uint64_t key = rng_u64(r);
    for (int b = 0; b < B; b++) {
        double loss;
        rng rb;
        rng_seed(&rb, key, (uint64_t)pairs[b]->seq);
        if (lrc_sample_draw(&t->smp, pairs[b]->rq, pairs[b]->rp, (int64_t)HW, t->c.samples, &rb))
            return err_prefix("record seq %lld", (long long)pairs[b]->seq);
        st->one_sided += t->smp.one_sided;
        if (t->smp.nreg < 2) {
            st->skipped++;
            continue;
        }
        const size_t oq = (size_t)b * D * HW, op = (size_t)(B + b) * D * HW;
        if (lrc_pair_loss(&loss, t->df + oq, t->df + op, f + oq, f + op, D, (int64_t)HW, &t->smp, &t->c.loss,
                          1.0 / used))
            return -1;
        st->loss += loss;
        st->regions += t->smp.nreg;
        st->pairs++;
    }
    /* All ranks' statistics; this rank's loss gradient weighs used / all
     * used, applied before backward (not to the gradients after it) so that
     * synchronised batch norm (nn_set_bn_sum) sums the one loss's g over
     * the ranks; for the same reason every rank runs backward, also one
     * whose pairs were all skipped (its g is 0, its inputs still count). */
    double sum[6] = {st->pairs, st->loss, st->regions, st->skipped, st->one_sided, used};
    if (dist_sum_f64(sum, 6))
        return -1;
    st->pairs = (int)sum[0], st->skipped = (int)sum[3], st->one_sided = (int)sum[4];
    if (!st->pairs)
        return 0;
    st->loss = sum[1] / st->pairs;
    st->regions = sum[2] / st->pairs;
    if (B && used != sum[5]) {
        const float w = (float)(used / sum[5]), *end = t->df + 2 * (size_t)B * D * HW;
        for (float *p = t->df; p < end; p++)
            *p *= w;
    }
    pblock *pb = unet_params(t->net);
    pblock_zero_grad(pb);
    if ((B && unet_backward(t->net, t->df, NULL)) || nn_bn_sum_status() || dist_grad_reduce(pb, 1.0))
        return -1;
    optim_step(t->opt, lr);
    return 0;
}

static char *lrc_meta_json(const lrc_trainer_config *c)
{
    char *s = NULL;
    if (asprintf(&s, "{\"tau\":%.15g,\"samples\":%d,\"normalize\":%s,\"exclude_self\":%s}", c->loss.tau, c->samples,
                 c->loss.normalize ? "true" : "false", c->loss.exclude_self ? "true" : "false") < 0)
        return NULL;
    return s;
}

int lrc_trainer_save(lrc_trainer *t, ckpt_writer *w)
{
    char *cfg = unet_config_json(&t->c.net), *meta = lrc_meta_json(&t->c);
    int rc = -1;
    if (!cfg || !meta)
        err_set("out of memory");
    else if (!ckpt_put_model(w, "", "unet", cfg, unet_params(t->net)) && !ckpt_put_optim(w, "optim.", t->opt) &&
             !ckpt_put_meta(w, "method", "lrc") && !ckpt_put_meta(w, "lrc", meta))
        rc = 0;
    free(cfg);
    free(meta);
    return rc;
}

int lrc_trainer_load(lrc_trainer *t, const ckpt *c)
{
    const char *m = ckpt_meta(c, "method");
    if (!m || strcmp(m, "lrc"))
        return err_set("%s: not an lrc-train --method lrc checkpoint (method %s)", ckpt_path(c), m ? m : "absent");
    char *cfg = unet_config_json(&t->c.net);
    if (!cfg)
        return err_set("out of memory");
    int rc = ckpt_get_model(c, "", "unet", cfg, unet_params(t->net)) || ckpt_get_optim(c, "optim.", t->opt) ? -1 : 0;
    free(cfg);
    return rc;
}
