/* segnet — LRC's fine-tuning network; see segnet.h. */
#include "models/segnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/rng.h"
#include "nn/nn.h"

typedef struct {
    char kind;    /* 'g' or 'l' */
    resnet *enc;  /* global: a ResNet and resdec, or a ViT and vitpup */
    resdec *dec;
    vit *vit;
    vitpup *vdec;
    unet *u;      /* local */
    int ch;       /* feature channels */
    const float *feat;
    float *dfeat; /* (N, ch, H, W) */
    const char *penc, *pdec;
} branch;

struct segnet {
    segnet_arch arch;
    int C, nb;
    branch br[2];
    pblock head;
    int iw, ib, cin;
    float *logits;
    size_t cap; /* floats of logits and of each dfeat, for N*H*W pixels */
    int N, H, W, fwd;
};

static const char *const arch_names[] = {"global+local", "global+global", "global", "local"};

const char *segnet_arch_name(segnet_arch a)
{
    return (unsigned)a < 4 ? arch_names[a] : "?";
}

int segnet_arch_parse(const char *s, segnet_arch *a)
{
    for (int i = 0; i < 4; i++)
        if (!strcmp(s, arch_names[i])) {
            *a = (segnet_arch)i;
            return 0;
        }
    return err_set("'%s' is not an architecture (global+local, global+global, global or local)", s);
}

void segnet_config_default(segnet_config *c)
{
    memset(c, 0, sizeof *c);
    c->arch = SEG_GL;
    c->classes = 2;
    resnet_config_default(&c->enc);
    unet_config_default(&c->local);
}

static uint64_t part_seed(uint64_t seed, uint64_t part)
{
    rng r;
    rng_seed(&r, seed, 0x5E6000 + part);
    return rng_u64(&r);
}

/* What a pre-training checkpoint holds, checked against the branch kind. */
static int check_pretrained(const ckpt *c, char kind)
{
    const char *model = ckpt_meta(c, "model"), *method = ckpt_meta(c, "method");
    const char *want = kind == 'g' ? (model && !strcmp(model, "vit") ? "vit" : "resnet") : "unet";
    const char *need = kind == 'g' ? "the global branch needs a ResNet or ViT encoder (a checkpoint of an lrc-train "
                                     "global method, or a torchvision ResNet-18/34/50 state dict)"
                                   : "the local branch needs a U-Net (lrc-train --method lrc)";
    if (ckpt_meta(c, "arch") || (method && !strcmp(method, "seg-finetune")))
        return err_set("%s: is a seg-finetune checkpoint, not a pre-training one; %s", ckpt_path(c), need);
    if (!model) {
        tensor t; /* a torchvision state dict: resnet_torchvision_load checks its layout */
        if (kind == 'g' && !ckpt_get_tensor(c, "conv1.weight", &t))
            return 0;
        err_clear();
        return err_set("%s: holds no model under prefix '' (not an lrc-train checkpoint); %s", ckpt_path(c), need);
    }
    if (strcmp(model, want)) {
        if (!strcmp(model, "resnet") || !strcmp(model, "vit"))
            return err_set("%s: holds a %s encoder (lrc-train --method %s); %s", ckpt_path(c),
                           strcmp(model, "vit") ? "ResNet" : "ViT", method ? method : "moco", need);
        return err_set("%s: holds %s; %s", ckpt_path(c),
                       !strcmp(model, "unet") ? "a U-Net (lrc-train --method lrc)" : model, need);
    }
    if (kind == 'l' && method && strcmp(method, "lrc"))
        return err_set("%s: is an lrc-train --method %s checkpoint; %s", ckpt_path(c), method, need);
    return 0;
}

static int make_global(branch *b, const resnet_config *ec, const ckpt *pre, uint64_t seed, int k)
{
    resdec_config dc;
    b->kind = 'g';
    b->penc = k ? "eg2." : "eg.";
    b->pdec = k ? "dg2." : "dg.";
    if (pre && ckpt_meta(pre, "model") && !strcmp(ckpt_meta(pre, "model"), "vit")) {
        if (check_pretrained(pre, 'g') || !(b->vit = vit_ckpt_load(pre, "")))
            return -1;
        const vit_config *vc = vit_get_config(b->vit);
        vitpup_config pc = {.embed = vc->width, .patch = vc->patch, .out_ch = 64};
        if (vc->in_ch != 1)
            return err_set("%s: the ViT takes %d input channels; CT slices have 1", ckpt_path(pre), vc->in_ch);
        if (!(b->vdec = vitpup_create(&pc, part_seed(seed, 2 + 3 * k))))
            return err_prefix("%s", ckpt_path(pre));
        b->ch = pc.out_ch;
        return 0;
    }
    if (pre) {
        if (check_pretrained(pre, 'g'))
            return -1;
        if (!(b->enc = ckpt_meta(pre, "model") ? resnet_ckpt_load(pre, "") : resnet_torchvision_load(pre, "")))
            return -1;
        if (resnet_get_config(b->enc)->in_ch != 1)
            return err_set("%s: the encoder takes %d input channels; CT slices have 1", ckpt_path(pre),
                           resnet_get_config(b->enc)->in_ch);
    } else if (!(b->enc = resnet_create(ec, part_seed(seed, 1 + 3 * k)))) {
        return -1;
    }
    resdec_config_for(resnet_get_config(b->enc), &dc);
    /* A method that trains Eg with its decoder (Models Genesis) hands Dg on
     * too, under dg.; every other global checkpoint starts Dg fresh. */
    if (pre && ckpt_meta(pre, "dg.model")) {
        char *want, *have;
        int same;
        if (!(b->dec = resdec_ckpt_load(pre, "dg.")))
            return -1;
        want = resdec_config_json(&dc);
        have = resdec_config_json(resdec_get_config(b->dec));
        same = want && have && !strcmp(want, have);
        free(want);
        free(have);
        if (!same)
            return err_set("%s: its decoder dg. does not fit its encoder (configuration %s)", ckpt_path(pre),
                           ckpt_meta(pre, "dg.config"));
    } else if (!(b->dec = resdec_create(&dc, part_seed(seed, 2 + 3 * k)))) {
        return -1;
    }
    b->ch = dc.out_ch;
    return 0;
}

static int make_local(branch *b, const unet_config *uc, const ckpt *pre, uint64_t seed)
{
    b->kind = 'l';
    b->penc = "unet.";
    if (pre) {
        if (check_pretrained(pre, 'l'))
            return -1;
        if (!(b->u = unet_ckpt_load(pre, "")))
            return -1;
        if (unet_get_config(b->u)->in_ch != 1)
            return err_set("%s: the U-Net takes %d input channels; CT slices have 1", ckpt_path(pre),
                           unet_get_config(b->u)->in_ch);
    } else if (!(b->u = unet_create(uc, part_seed(seed, 3)))) {
        return -1;
    }
    b->ch = unet_get_config(b->u)->out_ch;
    return 0;
}

static int head_declare(segnet *s)
{
    int64_t ws[4] = {s->C, s->cin, 1, 1}, bs[1] = {s->C};
    pblock_init(&s->head);
    if ((s->iw = pblock_add(&s->head, "weight", PARAM_TRAIN, 4, ws)) < 0 ||
        (s->ib = pblock_add(&s->head, "bias", PARAM_TRAIN, 1, bs)) < 0)
        return -1;
    return pblock_alloc(&s->head);
}

/* An empty network of arch with C classes; branches are the caller's. */
static segnet *segnet_alloc(segnet_arch arch, int C)
{
    segnet *s;
    if ((unsigned)arch > SEG_L)
        return err_set("segnet: bad architecture %d", (int)arch), NULL;
    if (C < 2 || C > 256)
        return err_set("segnet: %d classes (2..256: background and at least one organ)", C), NULL;
    if (!(s = calloc(1, sizeof *s)))
        return err_set("out of memory"), NULL;
    s->arch = arch;
    s->C = C;
    s->nb = arch == SEG_G || arch == SEG_L ? 1 : 2;
    pblock_init(&s->head);
    return s;
}

segnet *segnet_create(const segnet_config *c, const segnet_init *init, uint64_t seed)
{
    static const segnet_init none = {{NULL, NULL}, NULL};
    segnet *s;
    int rc = 0;
    if (!init)
        init = &none;
    if (!(s = segnet_alloc(c->arch, c->classes)))
        return NULL;
    switch (c->arch) {
    case SEG_GL:
        rc = make_global(&s->br[0], &c->enc, init->global[0], seed, 0) ||
             make_local(&s->br[1], &c->local, init->local, seed);
        break;
    case SEG_GG:
        rc = make_global(&s->br[0], &c->enc, init->global[0], seed, 0) ||
             make_global(&s->br[1], &c->enc, init->global[1], seed, 1);
        break;
    case SEG_G: rc = make_global(&s->br[0], &c->enc, init->global[0], seed, 0); break;
    case SEG_L: rc = make_local(&s->br[0], &c->local, init->local, seed); break;
    }
    if (rc) {
        segnet_free(s);
        return NULL;
    }
    s->cin = s->br[0].ch + (s->nb > 1 ? s->br[1].ch : 0);
    if (head_declare(s)) {
        segnet_free(s);
        return NULL;
    }
    rng r;
    rng_seed(&r, part_seed(seed, 7), 0);
    nn_init_default(pblock_ptr(&s->head, s->iw), (size_t)s->C * s->cin, s->cin, &r);
    nn_init_default(pblock_ptr(&s->head, s->ib), (size_t)s->C, s->cin, &r);
    return s;
}

void segnet_free(segnet *s)
{
    if (!s)
        return;
    for (int b = 0; b < 2; b++) {
        resnet_free(s->br[b].enc);
        resdec_free(s->br[b].dec);
        vit_free(s->br[b].vit);
        vitpup_free(s->br[b].vdec);
        unet_free(s->br[b].u);
        free(s->br[b].dfeat);
    }
    pblock_free(&s->head);
    free(s->logits);
    free(s);
}

segnet_arch segnet_get_arch(const segnet *s) { return s->arch; }
int segnet_classes(const segnet *s) { return s->C; }
int segnet_nbranch(const segnet *s) { return s->nb; }
char segnet_branch_kind(const segnet *s, int b) { return b >= 0 && b < s->nb ? s->br[b].kind : 0; }
const resnet *segnet_encoder(const segnet *s, int b) { return b >= 0 && b < s->nb ? s->br[b].enc : NULL; }
const vit *segnet_vit(const segnet *s, int b) { return b >= 0 && b < s->nb ? s->br[b].vit : NULL; }

const unet *segnet_unet(const segnet *s)
{
    for (int b = 0; b < s->nb; b++)
        if (s->br[b].u)
            return s->br[b].u;
    return NULL;
}

int segnet_nparts(const segnet *s)
{
    int n = 1;
    for (int b = 0; b < s->nb; b++)
        n += s->br[b].kind == 'g' ? 2 : 1;
    return n;
}

pblock *segnet_part(segnet *s, int i, const char **prefix)
{
    for (int b = 0; b < s->nb; b++) {
        branch *br = &s->br[b];
        if (br->kind == 'g') {
            if (i == 0)
                return *prefix = br->penc, br->vit ? vit_params(br->vit) : resnet_params(br->enc);
            if (i == 1)
                return *prefix = br->pdec, br->vdec ? vitpup_params(br->vdec) : resdec_params(br->dec);
            i -= 2;
        } else {
            if (i == 0)
                return *prefix = br->penc, unet_params(br->u);
            i -= 1;
        }
    }
    if (i == 0)
        return *prefix = "head.", &s->head;
    return *prefix = NULL, NULL;
}

size_t segnet_ntrain(const segnet *s)
{
    size_t n = 0;
    const char *p;
    for (int i = 0; i < segnet_nparts(s); i++)
        n += pblock_ntrain(segnet_part((segnet *)s, i, &p));
    return n;
}

void segnet_set_training(segnet *s, int training)
{
    for (int b = 0; b < s->nb; b++) {
        if (s->br[b].vdec) {
            vitpup_set_training(s->br[b].vdec, training); /* the ViT has no batch norm nor dropout */
        } else if (s->br[b].kind == 'g') {
            resnet_set_training(s->br[b].enc, training);
            resdec_set_training(s->br[b].dec, training);
        } else {
            unet_set_training(s->br[b].u, training);
        }
    }
}

static int grow(float **p, size_t n)
{
    float *q = realloc(*p, n * sizeof(float));
    if (!q)
        return err_set("out of memory");
    *p = q;
    return 0;
}

const float *segnet_forward(segnet *s, const float *x, int N, int H, int W)
{
    const size_t npix = (size_t)N * H * W;
    s->fwd = 0;
    if (N < 1 || H < 16 || W < 16 || H % 16 || W % 16)
        return err_set("segnet: input %dx%dx%d; H and W must be multiples of 16", N, H, W), NULL;
    for (int b = 0; b < s->nb; b++) {
        branch *br = &s->br[b];
        if (br->vit) {
            const float *tok = vit_forward(br->vit, x, N, H, W, NULL, (H / vit_get_config(br->vit)->patch) *
                                                                          (W / vit_get_config(br->vit)->patch));
            br->feat = tok ? vitpup_forward(br->vdec, tok, N, H, W) : NULL;
        } else if (br->kind == 'g') {
            const float *stage[5];
            if (!resnet_forward(br->enc, x, N, H, W))
                return NULL;
            for (int k = 0; k < 5; k++)
                stage[k] = resnet_stage(br->enc, k);
            br->feat = resdec_forward(br->dec, stage, N, H, W);
        } else {
            br->feat = unet_forward(br->u, x, N, H, W);
        }
        if (!br->feat)
            return NULL;
    }
    if (npix > s->cap) {
        if (grow(&s->logits, npix * s->C))
            return NULL;
        for (int b = 0; b < s->nb; b++)
            if (grow(&s->br[b].dfeat, npix * s->br[b].ch))
                return NULL;
        s->cap = npix;
    }
    const float *w = pblock_ptr(&s->head, s->iw), *bias = pblock_ptr(&s->head, s->ib);
    if (s->nb == 2)
        conv2d_cat_forward(s->logits, s->br[0].feat, s->br[0].ch, s->br[1].feat, s->br[1].ch, w, bias, N, H, W,
                           s->C, 1, 1, 0);
    else
        conv2d_forward(s->logits, s->br[0].feat, w, bias, N, s->br[0].ch, H, W, s->C, 1, 1, 0);
    s->N = N, s->H = H, s->W = W;
    s->fwd = 1;
    return s->logits;
}

int segnet_backward(segnet *s, const float *dlogits)
{
    const int N = s->N, H = s->H, W = s->W;
    if (!s->fwd)
        return err_set("segnet: backward without a forward");
    const float *w = pblock_ptr(&s->head, s->iw);
    float *dw = pblock_grad(&s->head, s->iw), *db = pblock_grad(&s->head, s->ib);
    if (s->nb == 2)
        conv2d_cat_backward(s->br[0].dfeat, s->br[1].dfeat, dw, db, dlogits, s->br[0].feat, s->br[0].ch,
                            s->br[1].feat, s->br[1].ch, w, N, H, W, s->C, 1, 1, 0);
    else
        conv2d_backward(s->br[0].dfeat, dw, db, dlogits, s->br[0].feat, w, N, s->br[0].ch, H, W, s->C, 1, 1, 0);
    for (int b = 0; b < s->nb; b++) {
        branch *br = &s->br[b];
        if (br->vit) {
            const float *dtok = vitpup_backward(br->vdec, br->dfeat);
            if (!dtok || vit_backward(br->vit, dtok))
                return -1;
        } else if (br->kind == 'g') {
            if (resdec_backward(br->dec, br->dfeat) ||
                resnet_backward(br->enc, NULL, resdec_dstages(br->dec), NULL))
                return -1;
        } else if (unet_backward(br->u, br->dfeat, NULL)) {
            return -1;
        }
    }
    s->fwd = 0;
    return 0;
}

int segnet_predict(segnet *s, uint8_t *pred, const float *x, int N, int H, int W)
{
    const float *logits;
    segnet_set_training(s, 0);
    if (!(logits = segnet_forward(s, x, N, H, W)))
        return -1;
    s->fwd = 0;
    channel_argmax(pred, logits, N, s->C, H * W);
    return 0;
}

double segnet_flops(const segnet *s, int H, int W)
{
    double f = 2.0 * s->C * s->cin * H * W;
    for (int b = 0; b < s->nb; b++) {
        const branch *br = &s->br[b];
        if (br->vit) {
            const vit_config *vc = vit_get_config(br->vit);
            f += vit_flops(vc, 1 + (H / vc->patch) * (W / vc->patch)) + vitpup_flops(vitpup_get_config(br->vdec), H, W);
        } else if (br->kind == 'g')
            f += resnet_flops(resnet_get_config(br->enc), H, W) + resdec_flops(resdec_get_config(br->dec), H, W);
        else
            f += unet_flops(unet_get_config(br->u), H, W);
    }
    return f;
}

/* ---- checkpoints ---- */

int segnet_ckpt_put(ckpt_writer *w, const segnet *s)
{
    char js[96];
    for (int b = 0; b < s->nb; b++) {
        const branch *br = &s->br[b];
        if (br->vit) {
            if (vit_ckpt_put(w, br->penc, br->vit) || vitpup_ckpt_put(w, br->pdec, br->vdec))
                return -1;
        } else if (br->kind == 'g') {
            if (resnet_ckpt_put(w, br->penc, br->enc))
                return -1;
            if (resdec_ckpt_put(w, br->pdec, br->dec))
                return -1;
        } else if (unet_ckpt_put(w, br->penc, br->u)) {
            return -1;
        }
    }
    snprintf(js, sizeof js, "{\"in_ch\":%d,\"classes\":%d}", s->cin, s->C);
    if (ckpt_put_model(w, "head.", "seghead", js, &s->head))
        return -1;
    return ckpt_put_meta(w, "arch", segnet_arch_name(s->arch));
}

static int load_global(branch *b, const ckpt *c, int k)
{
    b->kind = 'g';
    b->penc = k ? "eg2." : "eg.";
    b->pdec = k ? "dg2." : "dg.";
    char key[16];
    snprintf(key, sizeof key, "%smodel", b->penc);
    if (ckpt_meta(c, key) && !strcmp(ckpt_meta(c, key), "vit")) {
        if (!(b->vit = vit_ckpt_load(c, b->penc)) || !(b->vdec = vitpup_ckpt_load(c, b->pdec)))
            return -1;
        b->ch = vitpup_get_config(b->vdec)->out_ch;
        return 0;
    }
    if (!(b->enc = resnet_ckpt_load(c, b->penc)))
        return -1;
    if (!(b->dec = resdec_ckpt_load(c, b->pdec)))
        return -1;
    b->ch = resdec_get_config(b->dec)->out_ch;
    return 0;
}

static int load_local(branch *b, const ckpt *c)
{
    b->kind = 'l';
    b->penc = "unet.";
    if (!(b->u = unet_ckpt_load(c, b->penc)))
        return -1;
    b->ch = unet_get_config(b->u)->out_ch;
    return 0;
}

segnet *segnet_ckpt_load(const ckpt *c)
{
    const char *a = ckpt_meta(c, "arch"), *js = ckpt_meta(c, "head.config");
    segnet_arch arch = SEG_GL;
    mval m = {0};
    int64_t cin = 0, C = 0;
    segnet *s;
    if (!a || !js) {
        const char *method = ckpt_meta(c, "method");
        if (method && strcmp(method, "seg-finetune"))
            err_set("%s: is an lrc-train --method %s checkpoint, not a fine-tuned network (seg-finetune -c)",
                    ckpt_path(c), method);
        else
            err_set("%s: holds no fine-tuned network (no 'arch' and 'head.config' metadata)", ckpt_path(c));
        return NULL;
    }
    if (segnet_arch_parse(a, &arch)) {
        err_prefix("%s", ckpt_path(c));
        return NULL;
    }
    if (json_parse(js, strlen(js), &m) || m.kind != MV_MAP || mval_get_i64(&m, "in_ch", &cin) ||
        mval_get_i64(&m, "classes", &C)) {
        mval_free(&m);
        err_set("%s: bad head.config '%s'", ckpt_path(c), js);
        return NULL;
    }
    mval_free(&m);
    if (!(s = segnet_alloc(arch, (int)C))) {
        err_prefix("%s", ckpt_path(c));
        return NULL;
    }
    int rc = 0;
    switch (arch) {
    case SEG_GL: rc = load_global(&s->br[0], c, 0) || load_local(&s->br[1], c); break;
    case SEG_GG: rc = load_global(&s->br[0], c, 0) || load_global(&s->br[1], c, 1); break;
    case SEG_G: rc = load_global(&s->br[0], c, 0); break;
    case SEG_L: rc = load_local(&s->br[0], c); break;
    }
    s->cin = s->br[0].ch + (s->nb > 1 ? s->br[1].ch : 0);
    if (!rc && s->cin != cin)
        rc = err_set("%s: head.config has in_ch %lld, the branches give %d", ckpt_path(c), (long long)cin, s->cin);
    if (rc || head_declare(s) || ckpt_get_model(c, "head.", "seghead", js, &s->head)) {
        segnet_free(s);
        return NULL;
    }
    return s;
}
