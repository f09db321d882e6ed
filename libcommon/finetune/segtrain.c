/* segtrain — a fine-tuning step and its checkpoint; see segtrain.h. */
#include "finetune/segtrain.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "nn/dist.h"
#include "nn/nn.h"

#define MAXPARTS 8

struct segtrain {
    segnet *net;
    int nparts;
    optim *opt[MAXPARTS];
    optim_config oc;
    segloss_config lc;
    float *dlogits;
    size_t cap;
};

void segtrain_optim_default(optim_config *oc)
{
    optim_config_default(oc, OPTIM_ADAM);
    oc->lr = 1e-3;
    oc->beta1 = 0.9;
    oc->weight_decay = 1e-4;
}

segtrain *segtrain_create(segnet *net, const optim_config *oc, const segloss_config *lc)
{
    segtrain *t;
    if (!net)
        return NULL;
    if (!(t = calloc(1, sizeof *t))) {
        segnet_free(net);
        err_set("out of memory");
        return NULL;
    }
    t->net = net;
    t->oc = *oc;
    t->lc = *lc;
    t->lc.all_ranks = 1;
    t->nparts = segnet_nparts(net);
    if (t->nparts > MAXPARTS) {
        err_set("segtrain: %d parts", t->nparts);
        t->nparts = 0;
        segtrain_free(t);
        return NULL;
    }
    for (int i = 0; i < t->nparts; i++) {
        const char *prefix;
        if (!(t->opt[i] = optim_create(oc, segnet_part(net, i, &prefix)))) {
            segtrain_free(t);
            return NULL;
        }
    }
    return t;
}

void segtrain_free(segtrain *t)
{
    if (!t)
        return;
    for (int i = 0; i < t->nparts; i++)
        optim_free(t->opt[i]);
    segnet_free(t->net);
    free(t->dlogits);
    free(t);
}

segnet *segtrain_net(segtrain *t) { return t->net; }
const segloss_config *segtrain_loss(const segtrain *t) { return &t->lc; }
const optim_config *segtrain_optim(const segtrain *t) { return &t->oc; }

int segtrain_step(segtrain *t, const float *x, const uint8_t *y, int N, int H, int W, double lr,
                  segloss_stats *st)
{
    const int C = segnet_classes(t->net);
    const size_t n = (size_t)N * C * H * W;
    const float *logits;
    const char *prefix;
    for (int i = 0; i < t->nparts; i++)
        pblock_zero_grad(segnet_part(t->net, i, &prefix));
    segnet_set_training(t->net, 1);
    if (!(logits = segnet_forward(t->net, x, N, H, W)))
        return -1;
    if (n > t->cap) {
        float *p = realloc(t->dlogits, n * sizeof(float));
        if (!p)
            return err_set("out of memory");
        t->dlogits = p;
        t->cap = n;
    }
    if (segloss_dice(t->dlogits, st, logits, y, N, C, H * W, &t->lc))
        return -1;
    if (!isfinite(st->loss))
        return 0;
    if (segnet_backward(t->net, t->dlogits) || nn_bn_sum_status())
        return -1;
    for (int i = 0; i < t->nparts; i++)
        if (dist_grad_reduce(segnet_part(t->net, i, &prefix), 1.0))
            return -1;
    for (int i = 0; i < t->nparts; i++)
        optim_step(t->opt[i], lr);
    return 0;
}

static const char *optim_prefix(segtrain *t, int i, char *buf, size_t n)
{
    const char *prefix;
    segnet_part(t->net, i, &prefix);
    snprintf(buf, n, "optim.%s", prefix);
    return buf;
}

int segtrain_ckpt_put(ckpt_writer *w, segtrain *t)
{
    char buf[64], js[128];
    if (segnet_ckpt_put(w, t->net))
        return -1;
    for (int i = 0; i < t->nparts; i++) {
        if (ckpt_put_optim(w, optim_prefix(t, i, buf, sizeof buf), t->opt[i]))
            return -1;
    }
    snprintf(js, sizeof js, "{\"smooth\":%.17g,\"ce_weight\":%.17g}", t->lc.smooth, t->lc.ce_weight);
    return ckpt_put_meta(w, "method", "seg-finetune") || ckpt_put_meta(w, "loss", js) ? -1 : 0;
}

segtrain *segtrain_ckpt_load(const ckpt *c, const optim_config *oc, const segloss_config *lc)
{
    char buf[64];
    segtrain *t = segtrain_create(segnet_ckpt_load(c), oc, lc);
    if (!t)
        return NULL;
    for (int i = 0; i < t->nparts; i++) {
        if (ckpt_get_optim(c, optim_prefix(t, i, buf, sizeof buf), t->opt[i])) {
            segtrain_free(t);
            return NULL;
        }
    }
    return t;
}

static int put_meta(ckpt_writer *w, int64_t step, const segtrain_meta *m)
{
    if (ckpt_put_step(w, step) || ckpt_put_provenance(w, m->seed, m->argv_json) ||
        (m->classes_json && ckpt_put_meta(w, "classes", m->classes_json)) ||
        ckpt_put_metaf(w, "num_classes", "%d", m->num_classes) ||
        ckpt_put_metaf(w, "train_slices", "%lld", (long long)m->train_slices))
        return -1;
    if ((m->init_global && ckpt_put_meta(w, "init_global", m->init_global)) ||
        (m->init_global2 && ckpt_put_meta(w, "init_global2", m->init_global2)) ||
        (m->init_local && ckpt_put_meta(w, "init_local", m->init_local)))
        return -1;
    if (!isnan(m->best_dice) && (ckpt_put_metaf(w, "best_dice", "%.17g", m->best_dice) ||
                                 ckpt_put_metaf(w, "best_step", "%lld", (long long)m->best_step)))
        return -1;
    return 0;
}

int segtrain_save(segtrain *t, int64_t step, const segtrain_meta *m, const char *path)
{
    ckpt_writer *w = ckpt_writer_new();
    int rc = !w || segtrain_ckpt_put(w, t) || put_meta(w, step, m) || ckpt_write(w, path) ? -1 : 0;
    ckpt_writer_free(w);
    return rc;
}

int segtrain_save_best(segtrain *t, int64_t step, const segtrain_meta *m, double val_dice, const char *path)
{
    ckpt_writer *w = ckpt_writer_new();
    int rc = !w || segnet_ckpt_put(w, segtrain_net(t)) || ckpt_put_meta(w, "method", "seg-finetune") ||
                     put_meta(w, step, m) || ckpt_put_metaf(w, "val_dice", "%.17g", val_dice) || ckpt_write(w, path)
                 ? -1
                 : 0;
    ckpt_writer_free(w);
    return rc;
}
