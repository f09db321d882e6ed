#include "models/resnet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/tensor.h"
#include "nn/block.h"
#include "nn/internal.h"

/* ---- Eg ---- */

typedef struct {
    nnb_cbr c[3];  /* basic: c[0], c[1]; bottleneck: c[0..2] */
    int nconv; /* 2 or 3 */
    int has_ds;
    nnb_cbr ds;  /* shortcut: 1x1 conv (the block's stride) + norm, no ReLU */
    float *y; /* relu(main + shortcut) (N, cout, OH, OW) */
    int cin, cout;
} rblock;

#define MAXBLOCKS 8

struct resnet {
    resnet_config cfg;
    pblock pb;
    nnb_normcfg nc;
    nnb_cbr stem;
    rblock blk[4][MAXBLOCKS];
    int nblk[4];
    int ch[5]; /* stage channels: ch[0] the stem's, ch[s+1] stage s's */
    int tv;    /* the torchvision stem: conv1 7x7/2, max pool 3x3/2, layer1 at stride 1 */
    nnb_arena ar;   /* every buffer below, sized by the last bind */
    float *xin;     /* copy of the last input (N, in_ch, H, W) */
    float *mp;      /* the torchvision stem's max pool output */
    float *pooled;  /* global average pool of the last stage (N, ch[4]) */
    float *g[4];    /* gradient work buffers, each of the largest activation (N * C * h * w floats) */
    int N, H, W, bound, have_fwd, training;
};

static const int layout_basic18[4] = {2, 2, 2, 2}, layout_346[4] = {3, 4, 6, 3};

static int bottleneck(const resnet_config *c)
{
    return c->depth == 50;
}

static int width_of(const resnet_config *c, int base)
{
    int w = (int)lround(base * (double)c->width);
    return w < 1 ? 1 : w;
}

int resnet_stage_channels(const resnet_config *c, int s)
{
    if (s == 0)
        return width_of(c, 64);
    return width_of(c, 64 << (s - 1)) * (bottleneck(c) ? 4 : 1);
}

static int layer_stride(const resnet_config *c, int s)
{
    return c->stem == RESNET_STEM_TORCHVISION && s == 0 ? 1 : 2;
}

int resnet_stage_shift(const resnet_config *c, int s)
{
    return c->stem == RESNET_STEM_TORCHVISION ? s + 1 : s;
}

int resnet_input_unit(const resnet_config *c)
{
    return c->stem == RESNET_STEM_TORCHVISION ? 32 : 16;
}

const char *resnet_stem_name(int stem)
{
    return stem == RESNET_STEM_TORCHVISION ? "torchvision" : "3x3";
}

int resnet_stem_parse(const char *s, int *stem)
{
    if (!strcmp(s, "3x3"))
        return *stem = RESNET_STEM_3X3, 0;
    if (!strcmp(s, "torchvision"))
        return *stem = RESNET_STEM_TORCHVISION, 0;
    return err_set("'%s' is not a ResNet stem (3x3 or torchvision)", s);
}

void resnet_config_default(resnet_config *c)
{
    memset(c, 0, sizeof *c);
    c->in_ch = 1;
    c->depth = 18;
    c->width = 0.25f;
    c->norm = NORM_BATCH;
    c->groups = 8;
    c->bn_momentum = 0.1f;
    c->eps = 1e-5f;
}

int resnet_config_check(const resnet_config *c)
{
    if (c->in_ch < 1 || c->in_ch > 4096)
        return err_set("resnet: in_ch %d out of range 1..4096", c->in_ch);
    if (c->stem != RESNET_STEM_3X3 && c->stem != RESNET_STEM_TORCHVISION)
        return err_set("resnet: unknown stem %d", c->stem);
    if (c->depth != 18 && c->depth != 34 && c->depth != 50)
        return err_set("resnet: depth %d (18, 34 or 50)", c->depth);
    if (!(c->width > 0 && c->width <= 4))
        return err_set("resnet: width multiplier %g out of range (0, 4]", (double)c->width);
    if (c->norm != NORM_BATCH && c->norm != NORM_GROUP)
        return err_set("resnet: unknown norm %d", (int)c->norm);
    if (c->norm == NORM_GROUP)
        for (int s = 1; s <= 4; s++) {
            int w = width_of(c, 64 << (s - 1));
            if (c->groups < 1 || w % c->groups || resnet_stage_channels(c, 0) % c->groups)
                return err_set("resnet: %d groups do not divide the widths", c->groups);
        }
    if (!(c->bn_momentum >= 0 && c->bn_momentum <= 1) || !(c->eps > 0))
        return err_set("resnet: bn_momentum must be in [0, 1] and eps positive");
    return 0;
}

static const char *const stem_names[] = {[RESNET_STEM_3X3] = "3x3", [RESNET_STEM_TORCHVISION] = "torchvision", NULL};

/* the configuration, field by field in JSON order; stem is absent when it is
 * the default, as in checkpoints from before the option */
static const nnb_cfg_field resnet_fields[] = {
    NNB_CFG(resnet_config, in_ch, NNB_CFG_INT),
    {.key = "stem", .kind = NNB_CFG_ENUM, .off = offsetof(resnet_config, stem), .names = stem_names, .omit = 1,
     .dflt = RESNET_STEM_3X3},
    NNB_CFG(resnet_config, depth, NNB_CFG_INT),
    NNB_CFG(resnet_config, width, NNB_CFG_FLOAT),
    NNB_CFG_NORM_FIELDS(resnet_config),
    {0},
};

/* resnet_config_json, resnet_config_parse */
NNB_MODEL_CONFIG(resnet, resnet_fields, NULL)

/* A block of width w; stride 1 or 2 (the first block of a halving layer);
 * the shortcut gets a convolution when the stride or the width changes. */
static int block_declare(rblock *b, pblock *pb, const char *pre, int cin, int w, int stride,
                         int bott, const nnb_normcfg *nc)
{
    int g = nc->kind == NORM_GROUP;
    const char *nn[3] = {g ? "gn1" : "bn1", g ? "gn2" : "bn2", g ? "gn3" : "bn3"};
    char dpre[96];
    memset(b, 0, sizeof *b);
    b->cin = cin;
    if (!bott) {
        b->nconv = 2, b->cout = w;
        if (nnb_cbr_declare(&b->c[0], pb, pre, "conv1", nn[0], cin, 0, w, 3, stride, 1, nc) ||
            nnb_cbr_declare(&b->c[1], pb, pre, "conv2", nn[1], w, 0, w, 3, 1, 0, nc))
            return -1;
    } else {
        b->nconv = 3, b->cout = 4 * w;
        if (nnb_cbr_declare(&b->c[0], pb, pre, "conv1", nn[0], cin, 0, w, 1, 1, 1, nc) ||
            nnb_cbr_declare(&b->c[1], pb, pre, "conv2", nn[1], w, 0, w, 3, stride, 1, nc) ||
            nnb_cbr_declare(&b->c[2], pb, pre, "conv3", nn[2], w, 0, 4 * w, 1, 1, 0, nc))
            return -1;
    }
    if (stride != 1 || cin != b->cout) {
        b->has_ds = 1;
        snprintf(dpre, sizeof dpre, "%s.downsample", pre);
        if (nnb_cbr_declare(&b->ds, pb, dpre, "0", "1", cin, 0, b->cout, 1, stride, 0, nc))
            return -1;
    }
    return 0;
}

static int resnet_declare(resnet *r)
{
    const resnet_config *c = &r->cfg;
    char pre[64];
    r->training = 1;
    r->nc = (nnb_normcfg){c->norm, c->groups, c->bn_momentum, c->eps};
    for (int s = 0; s < 5; s++)
        r->ch[s] = resnet_stage_channels(c, s);
    r->tv = c->stem == RESNET_STEM_TORCHVISION;
    if (nnb_cbr_declare(&r->stem, &r->pb, "", "conv1", c->norm == NORM_GROUP ? "gn1" : "bn1",
                    c->in_ch, 0, r->ch[0], r->tv ? 7 : 3, r->tv ? 2 : 1, 1, &r->nc))
        return -1;
    for (int s = 0; s < 4; s++) {
        r->nblk[s] = c->depth == 18 ? layout_basic18[s] : layout_346[s];
        for (int b = 0; b < r->nblk[s]; b++) {
            snprintf(pre, sizeof pre, "layer%d.%d", s + 1, b);
            if (block_declare(&r->blk[s][b], &r->pb, pre, b == 0 ? r->ch[s] : r->ch[s + 1],
                              width_of(c, 64 << s), b == 0 ? layer_stride(c, s) : 1, bottleneck(c), &r->nc))
                return -1;
        }
    }
    return pblock_alloc(&r->pb);
}

static void resnet_init(resnet *r, rng *rg)
{
    nnb_cbr_init(&r->stem, &r->pb, rg);
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < r->nblk[s]; b++) {
            rblock *k = &r->blk[s][b];
            for (int i = 0; i < k->nconv; i++)
                nnb_cbr_init(&k->c[i], &r->pb, rg);
            if (k->has_ds)
                nnb_cbr_init(&k->ds, &r->pb, rg);
        }
}

/* resnet_create */
NNB_MODEL_CREATE(resnet, resnet, resnet_declare, resnet_init, 0x7265736e6574 /* "resnet" */)

/* resnet_free, resnet_get_config, resnet_params */
NNB_MODEL_ACCESSORS(resnet)

MODEL_SET_TRAINING(resnet, resnet)

static void bind_all(resnet *r, int N, int H, int W)
{
    nnb_arena *a = &r->ar;
    size_t gmax = (size_t)N * r->ch[0] * H * W;
    r->xin = nnb_arena_take(a, (size_t)N * r->cfg.in_ch * H * W);
    nnb_cbr_bind(&r->stem, a, N, H, W);
    int h = r->stem.OH, w = r->stem.OW; /* the input resolution of the next layer */
    r->mp = NULL;
    if (r->tv) {
        h = (h - 1) / 2 + 1, w = (w - 1) / 2 + 1;
        r->mp = nnb_arena_take(a, (size_t)N * r->ch[0] * h * w);
    }
    for (int s = 0; s < 4; s++) {
        int st = layer_stride(&r->cfg, s), oh = h / st, ow = w / st;
        for (int b = 0; b < r->nblk[s]; b++) {
            rblock *k = &r->blk[s][b];
            int ih = b == 0 ? h : oh, iw = b == 0 ? w : ow;
            nnb_cbr_bind(&k->c[0], a, N, ih, iw);
            for (int i = 1; i < k->nconv; i++)
                nnb_cbr_bind(&k->c[i], a, N, k->c[i - 1].OH, k->c[i - 1].OW);
            if (k->has_ds)
                nnb_cbr_bind(&k->ds, a, N, ih, iw);
            k->y = nnb_arena_take(a, (size_t)N * k->cout * oh * ow);
            for (int i = 0; i < k->nconv; i++)
                gmax = NN_MAX(gmax, nnb_cbr_out_numel(&k->c[i]));
            gmax = NN_MAX(gmax, (size_t)N * k->cout * oh * ow);
            gmax = NN_MAX(gmax, (size_t)N * k->cin * ih * iw);
        }
        h = oh, w = ow;
    }
    r->pooled = nnb_arena_take(a, (size_t)N * r->ch[4]);
    for (int i = 0; i < 4; i++)
        r->g[i] = nnb_arena_take(a, gmax);
}

static void bind_cb(void *r, int N, int H, int W)
{
    bind_all(r, N, H, W);
}

static int ensure_bound(resnet *r, int N, int H, int W)
{
    if (nnb_check_input_unit("resnet", N, H, W, NN_MAX(r->ch[0], r->ch[1] * 2), resnet_input_unit(&r->cfg)))
        return -1;
    if (r->bound && r->N == N && r->H == H && r->W == W)
        return 0;
    r->bound = 0;
    if (nnb_arena_bind(&r->ar, bind_cb, r, N, H, W))
        return -1;
    r->N = N, r->H = H, r->W = W, r->bound = 1;
    return 0;
}

static void block_forward(rblock *k, pblock *pb, const float *x, int training)
{
    const float *in = x;
    for (int i = 0; i < k->nconv; i++) {
        nnb_cbr_forward(&k->c[i], pb, in, NULL, training);
        in = k->c[i].a;
    }
    if (k->has_ds)
        nnb_cbr_forward(&k->ds, pb, x, NULL, training);
    size_t n = nnb_cbr_out_numel(&k->c[k->nconv - 1]);
    add_relu_forward(k->y, k->c[k->nconv - 1].a, k->has_ds ? k->ds.a : x, n);
}

const float *resnet_forward(resnet *r, const float *x, int N, int H, int W)
{
    const float *in;
    r->have_fwd = 0;
    if (ensure_bound(r, N, H, W))
        return NULL;
    memcpy(r->xin, x, (size_t)N * r->cfg.in_ch * H * W * sizeof(float));
    nnb_cbr_forward(&r->stem, &r->pb, r->xin, NULL, r->training);
    in = r->stem.a;
    if (r->tv) {
        maxpool3x3s2_forward(r->mp, in, N, r->ch[0], r->stem.OH, r->stem.OW);
        in = r->mp;
    }
    for (int s = 0; s < 4; s++)
        for (int b = 0; b < r->nblk[s]; b++) {
            block_forward(&r->blk[s][b], &r->pb, in, r->training);
            in = r->blk[s][b].y;
        }
    avgpool_forward(r->pooled, in, N, r->ch[4], (H >> resnet_stage_shift(&r->cfg, 4)) * (W >> resnet_stage_shift(&r->cfg, 4)));
    r->have_fwd = 1;
    return r->pooled;
}

const float *resnet_stage(const resnet *r, int s)
{
    if (s < 0 || s > 4 || !r->bound)
        return NULL;
    if (s == 0)
        return r->stem.a;
    return r->blk[s - 1][r->nblk[s - 1] - 1].y;
}

/* dy in P (clobbered) -> dx written into Q; t1, t2 work buffers. */
static void block_backward(rblock *k, pblock *pb, const float *x, float *P, float *Q, float *t1,
                           float *t2, int training)
{
    size_t n = nnb_cbr_out_numel(&k->c[k->nconv - 1]);
    size_t nin = (size_t)k->c[0].N * k->cin * k->c[0].H * k->c[0].W;
    /* dy through the ReLU, to both branches: P for the convolutions; t1
     * for the shortcut's (its backward clobbers it) or Q, the identity's */
    relu_backward2(P, k->has_ds ? t1 : Q, P, k->y, n);
    if (k->has_ds)
        nnb_cbr_backward(&k->ds, pb, t1, Q, NULL, x, NULL, training);
    float *da = P, *bufs[2] = {t1, t2};
    for (int i = k->nconv - 1; i >= 0; i--) {
        float *din = bufs[(k->nconv - 1 - i) & 1];
        nnb_cbr_backward(&k->c[i], pb, da, din, NULL, i == 0 ? x : k->c[i - 1].a, NULL, training);
        da = din;
    }
    add_inplace(Q, da, nin);
}

int resnet_backward(resnet *r, const float *dpooled, const float *const *dstage, float *dx)
{
    int N = r->N, H = r->H, W = r->W, s4 = resnet_stage_shift(&r->cfg, 4);
    float *A = r->g[0], *B = r->g[1], *t;
    size_t n4 = (size_t)N * r->ch[4] * (H >> s4) * (W >> s4);
    if (!r->have_fwd)
        return err_set("resnet: backward without a forward");
    if (dpooled)
        avgpool_backward(A, dpooled, N, r->ch[4], (H >> s4) * (W >> s4));
    else
        memset(A, 0, n4 * sizeof(float));
    if (dstage && dstage[4])
        add_inplace(A, dstage[4], n4);
    for (int s = 3; s >= 0; s--) {
        for (int b = r->nblk[s] - 1; b >= 0; b--) {
            const float *x = b > 0 ? r->blk[s][b - 1].y : s > 0 ? resnet_stage(r, s) : r->tv ? r->mp : r->stem.a;
            block_backward(&r->blk[s][b], &r->pb, x, A, B, r->g[2], r->g[3], r->training);
            t = A, A = B, B = t;
        }
        if (s == 0 && r->tv) { /* A: the max pool's output gradient */
            maxpool3x3s2_backward(B, A, r->stem.a, N, r->ch[0], r->stem.OH, r->stem.OW);
            t = A, A = B, B = t;
        }
        int sh = resnet_stage_shift(&r->cfg, s);
        if (dstage && dstage[s])
            add_inplace(A, dstage[s], (size_t)N * r->ch[s] * (H >> sh) * (W >> sh));
    }
    nnb_cbr_backward(&r->stem, &r->pb, A, dx, NULL, r->xin, NULL, r->training);
    return 0;
}

double resnet_flops(const resnet_config *c, int H, int W)
{
    resnet *r = resnet_create(c, 0);
    double f;
    if (!r)
        return 0;
    f = nnb_cbr_flops(&r->stem, H, W);
    int lh = r->tv ? H >> 2 : H, lw = r->tv ? W >> 2 : W; /* the input of layer s + 1 */
    for (int s = 0; s < 4; s++) {
        for (int b = 0; b < r->nblk[s]; b++) {
            rblock *k = &r->blk[s][b];
            int h = lh, w = lw;
            for (int i = 0; i < k->nconv; i++) {
                f += nnb_cbr_flops(&k->c[i], h, w);
                if (k->c[i].stride == 2)
                    h /= 2, w /= 2;
            }
            if (k->has_ds)
                f += nnb_cbr_flops(&k->ds, lh, lw);
            lh = h, lw = w;
        }
    }
    resnet_free(r);
    return f;
}

/* the widths a checkpoint's configuration claims, against its tensors */
static int resnet_expect_shapes(const ckpt *c, const char *prefix, const resnet_config *cfg)
{
    if (ckpt_expect_shape(c, prefix, "conv1.weight", resnet_stage_channels(cfg, 0), cfg->in_ch))
        return -1;
    for (int s = 0; s < 4; s++) {
        char name[32];
        snprintf(name, sizeof name, "layer%d.0.conv1.weight", s + 1);
        if (ckpt_expect_shape(c, prefix, name, width_of(cfg, 64 << s), resnet_stage_channels(cfg, s)))
            return -1;
    }
    return 0;
}

/* resnet_ckpt_put, resnet_ckpt_load */
NNB_MODEL_CKPT(resnet, resnet_expect_shapes)

/* Blocks of layer s (1..4) in a state dict: the largest b with
 * layer{s}.{b}.conv1.weight, plus one (0 when absent). */
static int count_blocks(const ckpt *c, const char *prefix, int s)
{
    char name[PARAM_NAME_MAX + 64];
    tensor t;
    int n = 0;
    for (;; n++) {
        snprintf(name, sizeof name, "%slayer%d.%d.conv1.weight", prefix, s, n);
        if (ckpt_get_tensor(c, name, &t))
            break;
    }
    err_clear();
    return n;
}

resnet *resnet_torchvision_load(const ckpt *c, const char *prefix)
{
    char name[PARAM_NAME_MAX + 64];
    tensor w;
    resnet_config cfg;
    int nb[4];
    snprintf(name, sizeof name, "%sconv1.weight", prefix);
    if (ckpt_get_tensor(c, name, &w)) {
        err_set("%s: no '%s': not a torchvision ResNet", ckpt_path(c), name);
        return NULL;
    }
    if (w.rank != 4 || w.shape[2] != 7 || w.shape[3] != 7 || w.shape[0] < 1 || w.shape[1] < 1 || w.shape[1] > 16) {
        char buf[64];
        err_set("%s: conv1.weight is %s, not torchvision's 7x7 stem (C, in, 7, 7)", ckpt_path(c),
                tensor_shape_str(&w, buf, sizeof buf));
        return NULL;
    }
    for (int s = 0; s < 4; s++)
        nb[s] = count_blocks(c, prefix, s + 1);
    snprintf(name, sizeof name, "%slayer1.0.conv3.weight", prefix);
    tensor t3;
    int bott = !ckpt_get_tensor(c, name, &t3);
    err_clear();
    resnet_config_default(&cfg);
    cfg.stem = RESNET_STEM_TORCHVISION;
    cfg.depth = bott ? 50 : nb[0] == 2 ? 18 : 34;
    const int *want = cfg.depth == 18 ? layout_basic18 : layout_346;
    if (memcmp(nb, want, sizeof nb)) {
        err_set("%s: layers of %d, %d, %d, %d %s blocks: not a torchvision ResNet-18, 34 or 50", ckpt_path(c), nb[0],
                nb[1], nb[2], nb[3], bott ? "bottleneck" : "basic");
        return NULL;
    }
    cfg.width = (float)w.shape[0] / 64;
    cfg.in_ch = (int)w.shape[1];
    if (resnet_config_check(&cfg) || resnet_stage_channels(&cfg, 0) != w.shape[0]) {
        err_set("%s: conv1 has %lld channels, not a width torchvision's ResNet takes", ckpt_path(c),
                (long long)w.shape[0]);
        return NULL;
    }
    /* the file's model as it is (checked tensor by tensor), then its input
     * channels summed into one */
    resnet *rin = resnet_create(&cfg, 0), *r = NULL;
    if (!rin || ckpt_get_params(c, prefix, &rin->pb))
        goto out;
    cfg.in_ch = 1;
    if (!(r = resnet_create(&cfg, 0)))
        goto out;
    for (int i = 0; i < r->pb.n; i++) {
        const param_entry *e = &r->pb.e[i], *f = &rin->pb.e[i];
        float *dst = pblock_ptr(&r->pb, i);
        const float *src = pblock_ptr(&rin->pb, i);
        if (!strcmp(e->name, "conv1.weight")) {
            const int C = (int)f->shape[0], I = (int)f->shape[1];
            for (int o = 0; o < C; o++)
                for (int k = 0; k < 49; k++) {
                    double sum = 0;
                    for (int j = 0; j < I; j++)
                        sum += src[((size_t)o * I + j) * 49 + k];
                    dst[(size_t)o * 49 + k] = (float)sum;
                }
        } else {
            memcpy(dst, src, e->numel * sizeof(float));
        }
    }
out:
    resnet_free(rin);
    return r;
}

/* ---- Dg ---- */

struct resdec {
    resdec_config cfg;
    pblock pb;
    nnb_normcfg nc;
    nnb_decoder dec;        /* up to features (N, out_ch, H, W) */
    nnb_arena ar;
    float *dst[5];          /* gradients of the encoder's stages: (N, skip_ch[s], H >> s, W >> s) */
    const float *stage[5];  /* the encoder's stage outputs of the last forward, same shapes */
    float *up, *dup;        /* upsample 2: the output at H x W, its gradient at the decoder's H/2 */
    int N, H, W, bound, have_fwd, training;
};

void resdec_config_for(const resnet_config *e, resdec_config *c)
{
    static const int w[4] = {16, 32, 64, 128};
    memset(c, 0, sizeof *c);
    for (int s = 0; s < 5; s++)
        c->skip_ch[s] = resnet_stage_channels(e, s);
    memcpy(c->dec_widths, w, sizeof w);
    c->out_ch = 64;
    c->upsample = e->stem == RESNET_STEM_TORCHVISION ? 2 : 1;
    c->norm = e->norm;
    c->groups = e->groups;
    c->bn_momentum = e->bn_momentum;
    c->eps = e->eps;
}

int resdec_config_check(const resdec_config *c)
{
    for (int s = 0; s < 5; s++)
        if (c->skip_ch[s] < 1 || c->skip_ch[s] > 16384)
            return err_set("resdec: skip_ch[%d] = %d out of range", s, c->skip_ch[s]);
    for (int k = 0; k < 4; k++) {
        if (c->dec_widths[k] < 1 || c->dec_widths[k] > 4096)
            return err_set("resdec: dec_widths[%d] = %d out of range", k, c->dec_widths[k]);
        if (c->norm == NORM_GROUP && (c->groups < 1 || c->dec_widths[k] % c->groups))
            return err_set("resdec: %d groups do not divide width %d", c->groups,
                           c->dec_widths[k]);
    }
    if (c->out_ch < 1 || c->out_ch > 4096)
        return err_set("resdec: out_ch %d out of range", c->out_ch);
    if (c->upsample != 1 && c->upsample != 2)
        return err_set("resdec: upsample %d (1 or 2)", c->upsample);
    if ((c->norm != NORM_BATCH && c->norm != NORM_GROUP) ||
        !(c->bn_momentum >= 0 && c->bn_momentum <= 1) || !(c->eps > 0))
        return err_set("resdec: bad normalisation settings");
    return 0;
}

/* the same for the decoder; upsample is absent when 1, as in checkpoints
 * from before the option */
static const nnb_cfg_field resdec_fields[] = {
    NNB_CFG_N(resdec_config, skip_ch, 5),
    NNB_CFG_N(resdec_config, dec_widths, 4),
    NNB_CFG(resdec_config, out_ch, NNB_CFG_INT),
    {.key = "upsample", .kind = NNB_CFG_INT, .off = offsetof(resdec_config, upsample), .omit = 1, .dflt = 1},
    NNB_CFG_NORM_FIELDS(resdec_config),
    {0},
};

/* the decoder of the default encoder */
static void resdec_config_default(resdec_config *c)
{
    resnet_config e;
    resnet_config_default(&e);
    resdec_config_for(&e, c);
}

/* resdec_config_json, resdec_config_parse */
NNB_MODEL_CONFIG(resdec, resdec_fields, NULL)

static int resdec_declare(resdec *d)
{
    const resdec_config *c = &d->cfg;
    d->training = 1;
    d->nc = (nnb_normcfg){c->norm, c->groups, c->bn_momentum, c->eps};
    if (nnb_dec_declare(&d->dec, &d->pb, c->skip_ch, c->skip_ch[4], c->dec_widths, c->out_ch, &d->nc))
        return -1;
    return pblock_alloc(&d->pb);
}

static void resdec_init(resdec *d, rng *r)
{
    nnb_dec_init(&d->dec, &d->pb, r);
}

/* resdec_create */
NNB_MODEL_CREATE(resdec, resdec, resdec_declare, resdec_init, 0x726573646563 /* "resdec" */)

/* resdec_free, resdec_get_config, resdec_params */
NNB_MODEL_ACCESSORS(resdec)

MODEL_SET_TRAINING(resdec, resdec)

/* H, W: the decoder's resolution (the image's / upsample) */
static void dbind(resdec *d, int N, int H, int W)
{
    for (int s = 0; s < 5; s++)
        d->dst[s] = nnb_arena_take(&d->ar, (size_t)N * d->cfg.skip_ch[s] * (H >> s) * (W >> s));
    nnb_dec_bind(&d->dec, &d->ar, N, H, W);
    d->up = d->dup = NULL;
    if (d->cfg.upsample == 2) {
        d->up = nnb_arena_take(&d->ar, (size_t)N * d->cfg.out_ch * 4 * H * W);
        d->dup = nnb_arena_take(&d->ar, (size_t)N * d->cfg.out_ch * H * W);
    }
}

static void dbind_cb(void *d, int N, int H, int W)
{
    dbind(d, N, H, W);
}

const float *resdec_forward(resdec *d, const float *const stage[5], int N, int H, int W)
{
    const int u = 16 * d->cfg.upsample;
    d->have_fwd = 0;
    if (nnb_check_input_unit("resdec", N, H, W, 0, u))
        return NULL;
    H /= d->cfg.upsample, W /= d->cfg.upsample; /* the decoder's own resolution */
    if (!(d->bound && d->N == N && d->H == H && d->W == W)) {
        d->bound = 0;
        if (nnb_arena_bind(&d->ar, dbind_cb, d, N, H, W))
            return NULL;
        d->N = N, d->H = H, d->W = W, d->bound = 1;
    }
    memcpy(d->stage, stage, sizeof d->stage);
    nnb_dec_forward(&d->dec, &d->pb, stage, stage[4], d->training);
    d->have_fwd = 1;
    if (d->cfg.upsample == 2) {
        upsample2x_forward(d->up, d->dec.f, N, d->cfg.out_ch, H, W);
        return d->up;
    }
    return d->dec.f;
}

int resdec_backward(resdec *d, const float *dfeat)
{
    if (!d->have_fwd)
        return err_set("resdec: backward without a forward");
    if (d->cfg.upsample == 2) {
        upsample2x_backward(d->dup, dfeat, d->N, d->cfg.out_ch, d->H, d->W);
        dfeat = d->dup;
    }
    nnb_dec_backward(&d->dec, &d->pb, dfeat, d->dst, d->dst[4], d->stage, d->stage[4], d->training);
    return 0;
}

const float *const *resdec_dstages(const resdec *d)
{
    return (const float *const *)d->dst;
}

double resdec_flops(const resdec_config *c, int H, int W)
{
    resdec *d = resdec_create(c, 0);
    double f = d ? nnb_dec_flops(&d->dec, H / c->upsample, W / c->upsample) : 0;
    resdec_free(d);
    return f;
}

static int resdec_expect_shapes(const ckpt *c, const char *prefix, const resdec_config *cfg)
{
    for (int k = 0; k < 4; k++) {
        char name[32];
        snprintf(name, sizeof name, "dec%d.conv1.weight", k + 1);
        if (ckpt_expect_shape(c, prefix, name, cfg->dec_widths[k], (int64_t)cfg->skip_ch[k] + cfg->dec_widths[k]))
            return -1;
        snprintf(name, sizeof name, "dec%d.conv2.weight", k + 1);
        if (ckpt_expect_shape(c, prefix, name, cfg->dec_widths[k], cfg->dec_widths[k]))
            return -1;
    }
    return ckpt_expect_shape(c, prefix, "dec4.up.weight", cfg->skip_ch[4], cfg->dec_widths[3]);
}

/* resdec_ckpt_put, resdec_ckpt_load */
NNB_MODEL_CKPT(resdec, resdec_expect_shapes)
