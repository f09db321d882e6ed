/* The transformer layers of nn.h and tblock.h, and the ViT of vit.h: every
 * layer's forward and backward against PyTorch (tests/py/vit_ref.py, on
 * the same inputs and weights) and every gradient against finite
 * differences of the float forward (Richardson-extrapolated central
 * differences along the gradient and along a random direction, as
 * test_egmethods does). Each case's loss is sum(out * R), R random.
 * Tolerances: PyTorch 1e-4 of the largest magnitude per tensor (vit_ref.py);
 * finite differences 1e-2 relative (float rounding of the differences;
 * a wrong gradient is off by far more). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "models/maedec.h"
#include "models/vitpup.h"
#include "models/vit.h"
#include "nn/ckpt.h"
#include "nn/nn.h"
#include "nn/tblock.h"
#include "testutil.h"

#define FD_TOL 1e-2

#define MAXT 64

typedef struct {
    char name[PARAM_NAME_MAX];
    float *x, *g;
    size_t n;
    int rank;
    int64_t shape[4];
    int owned; /* x and g allocated here (not a model's) */
} tt;

typedef struct lcase lcase;
struct lcase {
    const char *kind;
    tt in[MAXT];
    int nin;
    float *out, *R;
    size_t nout;
    int orank;
    int64_t oshape[4];
    void (*fwd)(lcase *);
    void (*bwd)(lcase *); /* gradients of loss = sum(out R), written into in[].g (zeroed before) */
    int B, T, C, NH, H, W, P;
    float *s[8]; /* scratch */
    pblock pb;
    nnb_tblock blk;
    nnb_arena ar;
};

static size_t shape_numel(int rank, const int64_t *s)
{
    size_t n = 1;
    for (int i = 0; i < rank; i++)
        n *= (size_t)s[i];
    return n;
}

/* a tensor with random values and a gradient buffer (or, with x, one of a pblock's) */
static tt *add_in(lcase *c, const char *name, int rank, const int64_t *shape, double scale, rng *r, float *x,
                  float *g)
{
    tt *t = &c->in[c->nin++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rank = rank;
    memcpy(t->shape, shape, sizeof(int64_t) * rank);
    t->n = shape_numel(rank, shape);
    t->owned = !x;
    t->x = x ? x : falloc(t->n);
    t->g = g ? g : falloc(t->n);
    if (scale > 0)
        for (size_t i = 0; i < t->n; i++)
            t->x[i] = (float)(scale * rng_normal(r));
    return t;
}

static void set_out(lcase *c, int rank, const int64_t *shape, rng *r)
{
    c->orank = rank;
    memcpy(c->oshape, shape, sizeof(int64_t) * rank);
    c->nout = shape_numel(rank, shape);
    c->out = falloc(c->nout);
    c->R = falloc(c->nout);
    for (size_t i = 0; i < c->nout; i++)
        c->R[i] = (float)rng_normal(r);
}

static double loss_of(lcase *c)
{
    double s = 0;
    c->fwd(c);
    for (size_t i = 0; i < c->nout; i++)
        s += (double)c->out[i] * c->R[i];
    return s;
}

static void grads(lcase *c)
{
    for (int i = 0; i < c->nin; i++)
        memset(c->in[i].g, 0, sizeof(float) * c->in[i].n);
    c->fwd(c);
    c->bwd(c);
}

/* Richardson-extrapolated central difference of the loss along v (unit)
 * against g.v; the relative error, measured against |g|. */
static double fd_dir(lcase *c, tt *t, const double *v, double gv, double gn)
{
    float *keep = falloc(t->n);
    double wn = 0, best = INFINITY;
    memcpy(keep, t->x, sizeof(float) * t->n);
    for (size_t k = 0; k < t->n; k++)
        wn += (double)keep[k] * keep[k];
    for (int hs = 0; hs < 3; hs++) {
        double h = (double[]){1e-3, 3e-3, 1e-2}[hs] * fmax(sqrt(wn / t->n), 1e-1), l[4];
        for (int k = 0; k < 4; k++) {
            double step = (k & 1 ? -h : h) / (k < 2 ? 1 : 2);
            for (size_t j = 0; j < t->n; j++)
                t->x[j] = keep[j] + (float)(step * v[j]);
            l[k] = loss_of(c);
        }
        double f1 = (l[0] - l[1]) / (2 * h), f2 = (l[2] - l[3]) / h, f = (4 * f2 - f1) / 3;
        best = fmin(best, fabs(f - gv) / fmax(gn, 1e-12));
    }
    memcpy(t->x, keep, sizeof(float) * t->n);
    free(keep);
    return best;
}

/* every input's gradient against finite differences; the worst relative error */
static double fd_case(lcase *c, rng *r)
{
    double worst = 0;
    grads(c);
    for (int i = 0; i < c->nin; i++) {
        tt *t = &c->in[i];
        double *v = dalloc(t->n), gn = 0, gv = 0, vn = 0, e[2];
        float *g = falloc(t->n);
        memcpy(g, t->g, sizeof(float) * t->n);
        for (size_t k = 0; k < t->n; k++)
            gn += (double)g[k] * g[k];
        gn = sqrt(gn);
        assert_true(gn > 0);
        for (size_t k = 0; k < t->n; k++)
            v[k] = g[k] / gn;
        e[0] = fd_dir(c, t, v, gn, gn);
        for (size_t k = 0; k < t->n; k++)
            v[k] = rng_normal(r), vn += v[k] * v[k];
        for (size_t k = 0; k < t->n; k++)
            v[k] /= sqrt(vn), gv += v[k] * g[k];
        e[1] = fd_dir(c, t, v, gv, gn);
        print_message("  fd %-6s %-22s |g| %.4e rel err along g %.1e, random %.1e\n", c->kind, t->name, gn, e[0],
                      e[1]);
        worst = fmax(worst, fmax(e[0], e[1]));
        memcpy(t->g, g, sizeof(float) * t->n);
        free(v);
        free(g);
    }
    return worst;
}

/* The cases for PyTorch, compared by one run of vit_ref.py at the end
 * (test_torch): starting PyTorch once saves seconds per case. */
static char torch_args[8192];

static void torch_later(const char *kind, const char *path)
{
    size_t n = strlen(torch_args);
    snprintf(torch_args + n, sizeof torch_args - n, " %s '%s'", kind, path);
}

static void test_torch(void **state)
{
    (void)state;
    assert_true(torch_args[0]);
    assert_int_equal(tu_sh("'%s' '%s/tests/py/vit_ref.py'%s", tu_python(), tu_root(), torch_args), 0);
}

/* inputs, R, out and the gradients to DIR/vit_KIND.safetensors, for vit_ref.py */
static void vs_torch(lcase *c, const char *extra_cfg)
{
    char path[1024];
    ckpt_writer *w = ckpt_writer_new();
    grads(c);
    for (int i = 0; i < c->nin; i++) {
        char nm[PARAM_NAME_MAX + 8];
        snprintf(nm, sizeof nm, "in.%s", c->in[i].name);
        assert_int_equal(ckpt_put_tensor(w, nm, DT_F32, c->in[i].rank, c->in[i].shape, c->in[i].x), 0);
        snprintf(nm, sizeof nm, "grad.%s", c->in[i].name);
        assert_int_equal(ckpt_put_tensor(w, nm, DT_F32, c->in[i].rank, c->in[i].shape, c->in[i].g), 0);
    }
    assert_int_equal(ckpt_put_tensor(w, "out", DT_F32, c->orank, c->oshape, c->out), 0);
    assert_int_equal(ckpt_put_tensor(w, "R", DT_F32, c->orank, c->oshape, c->R), 0);
    assert_int_equal(ckpt_put_metaf(w, "cfg", "{\"B\":%d,\"T\":%d,\"C\":%d,\"NH\":%d,\"H\":%d,\"W\":%d,\"P\":%d%s}", c->B,
                                    c->T, c->C, c->NH, c->H, c->W, c->P, extra_cfg ? extra_cfg : ""),
                     0);
    snprintf(path, sizeof path, "%s/vit_%s.safetensors", tu_tmpdir(), c->kind);
    if (ckpt_write(w, path))
        fail_msg("%s", err_get());
    ckpt_writer_free(w);
    torch_later(c->kind, path);
}

static void case_free(lcase *c)
{
    for (int i = 0; i < c->nin; i++)
        if (c->in[i].owned) {
            free(c->in[i].x);
            free(c->in[i].g);
        }
    for (int i = 0; i < 8; i++)
        free(c->s[i]);
    free(c->out);
    free(c->R);
    pblock_free(&c->pb);
    nnb_arena_free(&c->ar);
}

static void check_case(lcase *c, rng *r)
{
    double e = fd_case(c, r);
    print_message("%s: worst finite-difference error %.2e\n", c->kind, e);
    assert_true(e < FD_TOL);
    vs_torch(c, NULL);
}

/* ---- layer norm ---- */

static void ln_fwd(lcase *c)
{
    layernorm_forward(c->out, c->s[0], c->s[1], c->in[0].x, c->in[1].x, c->in[2].x, c->B, c->C, 1e-6f);
}

static void ln_bwd(lcase *c)
{
    layernorm_backward(c->in[0].g, c->in[1].g, c->in[2].g, c->R, c->in[0].x, c->s[0], c->s[1], c->in[1].x, c->B,
                       c->C);
}

static void test_layernorm(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 11, 0);
    lcase c = {.kind = "ln", .fwd = ln_fwd, .bwd = ln_bwd, .B = 13, .C = 24};
    add_in(&c, "x", 2, (int64_t[]){13, 24}, 1.5, &r, NULL, NULL);
    add_in(&c, "weight", 1, (int64_t[]){24}, 1, &r, NULL, NULL);
    add_in(&c, "bias", 1, (int64_t[]){24}, 1, &r, NULL, NULL);
    for (int i = 0; i < 13 * 24; i++) /* an offset, as token rows have */
        c.in[0].x[i] += 3;
    set_out(&c, 2, (int64_t[]){13, 24}, &r);
    c.s[0] = falloc(13), c.s[1] = falloc(13);
    check_case(&c, &r);
    case_free(&c);
}

/* ---- GELU ---- */

static void gelu_fwd(lcase *c) { gelu_forward(c->out, c->in[0].x, c->nout); }
static void gelu_bwd(lcase *c) { gelu_backward(c->in[0].g, c->R, c->in[0].x, c->nout); }

static void test_gelu(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 12, 0);
    lcase c = {.kind = "gelu", .fwd = gelu_fwd, .bwd = gelu_bwd};
    add_in(&c, "x", 1, (int64_t[]){300}, 2, &r, NULL, NULL);
    set_out(&c, 1, (int64_t[]){300}, &r);
    check_case(&c, &r);
    case_free(&c);
}

/* ---- attention with its two linears ---- */

static void attn_fwd(lcase *c)
{
    const int n = c->B * c->T, C = c->C;
    linear_forward(c->s[0], c->in[0].x, c->in[1].x, c->in[2].x, n, C, 3 * C);
    attention_forward(c->s[1], c->s[2], c->s[0], c->B, c->T, C, c->NH);
    linear_forward(c->out, c->s[1], c->in[3].x, c->in[4].x, n, C, C);
}

static void attn_bwd(lcase *c)
{
    const int n = c->B * c->T, C = c->C;
    linear_backward(c->s[3], c->in[3].g, c->in[4].g, c->R, c->s[1], c->in[3].x, n, C, C);
    attention_backward(c->s[4], c->s[3], c->s[0], c->s[2], c->B, c->T, C, c->NH);
    linear_backward(c->in[0].g, c->in[1].g, c->in[2].g, c->s[4], c->in[0].x, c->in[1].x, n, C, 3 * C);
}

static void test_attention(void **state)
{
    (void)state;
    enum { B = 2, T = 7, C = 12, NH = 3 };
    rng r;
    rng_seed(&r, 13, 0);
    lcase c = {.kind = "attn", .fwd = attn_fwd, .bwd = attn_bwd, .B = B, .T = T, .C = C, .NH = NH};
    add_in(&c, "x", 3, (int64_t[]){B, T, C}, 1, &r, NULL, NULL);
    add_in(&c, "qkv.weight", 2, (int64_t[]){3 * C, C}, 0.4, &r, NULL, NULL);
    add_in(&c, "qkv.bias", 1, (int64_t[]){3 * C}, 0.2, &r, NULL, NULL);
    add_in(&c, "proj.weight", 2, (int64_t[]){C, C}, 0.3, &r, NULL, NULL);
    add_in(&c, "proj.bias", 1, (int64_t[]){C}, 0.2, &r, NULL, NULL);
    set_out(&c, 3, (int64_t[]){B, T, C}, &r);
    c.s[0] = falloc(B * T * 3 * C), c.s[1] = falloc(B * T * C), c.s[2] = falloc(B * NH * T * T);
    c.s[3] = falloc(B * T * C), c.s[4] = falloc(B * T * 3 * C);
    check_case(&c, &r);
    case_free(&c);
}

/* ---- patch embedding: patchify + linear = Conv2d(C, D, P, stride P) ---- */

static void patch_fwd(lcase *c)
{
    const int L = (c->H / c->P) * (c->W / c->P), K = c->P * c->P;
    patchify(c->s[0], c->in[0].x, c->B, 1, c->H, c->W, c->P);
    linear_forward(c->out, c->s[0], c->in[1].x, c->in[2].x, c->B * L, K, c->C);
}

static void patch_bwd(lcase *c)
{
    const int L = (c->H / c->P) * (c->W / c->P), K = c->P * c->P;
    linear_backward(c->s[1], c->in[1].g, c->in[2].g, c->R, c->s[0], c->in[1].x, c->B * L, K, c->C);
    unpatchify(c->in[0].g, c->s[1], c->B, 1, c->H, c->W, c->P);
}

static void test_patch_embed(void **state)
{
    (void)state;
    enum { B = 2, H = 12, W = 8, P = 4, D = 10, L = (H / P) * (W / P) };
    rng r;
    rng_seed(&r, 14, 0);
    lcase c = {.kind = "patch", .fwd = patch_fwd, .bwd = patch_bwd, .B = B, .H = H, .W = W, .P = P, .C = D};
    add_in(&c, "img", 4, (int64_t[]){B, 1, H, W}, 1, &r, NULL, NULL);
    add_in(&c, "weight", 4, (int64_t[]){D, 1, P, P}, 0.3, &r, NULL, NULL);
    add_in(&c, "bias", 1, (int64_t[]){D}, 0.3, &r, NULL, NULL);
    set_out(&c, 3, (int64_t[]){B, L, D}, &r);
    c.s[0] = falloc(B * L * P * P), c.s[1] = falloc(B * L * P * P);
    check_case(&c, &r);
    /* the same as the engine's strided convolution, by a naive loop too */
    float *conv = falloc(B * D * L);
    conv2d_forward(conv, c.in[0].x, c.in[1].x, c.in[2].x, B, 1, H, W, D, P, P, 0);
    double worst = 0;
    for (int b = 0; b < B; b++)
        for (int d = 0; d < D; d++)
            for (int l = 0; l < L; l++) {
                double s = c.in[2].x[d];
                for (int py = 0; py < P; py++)
                    for (int px = 0; px < P; px++)
                        s += (double)c.in[1].x[(d * P + py) * P + px] *
                             c.in[0].x[((size_t)b * H + (l / (W / P)) * P + py) * W + (l % (W / P)) * P + px];
                worst = fmax(worst, fabs(s - c.out[((size_t)b * L + l) * D + d]));
                worst = fmax(worst, fabs(s - conv[((size_t)b * D + d) * L + l]));
            }
    print_message("patch embedding against a naive loop and conv2d: max |diff| %.1e\n", worst);
    assert_true(worst < 1e-5);
    free(conv);
    case_free(&c);
}

/* ---- sine-cosine position embeddings ---- */

static void test_pos_embed(void **state)
{
    (void)state;
    enum { D = 16, GH = 3, GW = 5 };
    float pe[GH * GW * D];
    char path[1024];
    sincos_pos_embed_2d(pe, D, GH, GW);
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(ckpt_put_tensor(w, "out", DT_F32, 2, (int64_t[]){GH * GW, D}, pe), 0);
    assert_int_equal(ckpt_put_metaf(w, "cfg", "{\"D\":%d,\"GH\":%d,\"GW\":%d}", D, GH, GW), 0);
    snprintf(path, sizeof path, "%s/vit_pos.safetensors", tu_tmpdir());
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    torch_later("pos", path);
    /* row 0 column 0: sin 0 = 0 and cos 0 = 1 in both halves */
    for (int k = 0; k < D / 4; k++)
        assert_true(pe[k] == 0 && pe[D / 4 + k] == 1 && pe[D / 2 + k] == 0 && pe[3 * D / 4 + k] == 1);
}

/* ---- a whole transformer block ---- */

static void blk_fwd(lcase *c)
{
    nnb_tblock_forward(&c->blk, &c->pb, c->in[0].x);
    memcpy(c->out, c->blk.out, sizeof(float) * c->nout);
}

static void blk_bwd(lcase *c)
{
    nnb_tblock_backward(&c->blk, &c->pb, c->in[0].g, c->R, c->in[0].x);
}

static void bind_blk(void *m, int N, int H, int W)
{
    lcase *c = m;
    (void)W;
    nnb_tblock_bind(&c->blk, &c->ar, N, H);
}

static void test_block(void **state)
{
    (void)state;
    enum { B = 2, T = 9, C = 16, NH = 4, HID = 4 * C };
    rng r;
    rng_seed(&r, 15, 0);
    lcase c = {.kind = "block", .fwd = blk_fwd, .bwd = blk_bwd, .B = B, .T = T, .C = C, .NH = NH};
    pblock_init(&c.pb);
    assert_int_equal(nnb_tblock_declare(&c.blk, &c.pb, "blk", C, NH, HID, 1e-6f), 0);
    assert_int_equal(pblock_alloc(&c.pb), 0);
    nnb_tblock_init(&c.blk, &c.pb, &r);
    /* norms and biases away from their initial 1 and 0, so each is tested */
    for (int k = 0; k < c.pb.n; k++)
        if (c.pb.e[k].rank == 1)
            for (size_t i = 0; i < c.pb.e[k].numel; i++)
                pblock_ptr(&c.pb, k)[i] += (float)(0.3 * rng_normal(&r));
    assert_int_equal(nnb_arena_bind(&c.ar, bind_blk, &c, B, T, 1), 0);
    add_in(&c, "x", 3, (int64_t[]){B, T, C}, 1, &r, NULL, NULL);
    for (int k = 0; k < c.pb.n; k++)
        add_in(&c, c.pb.e[k].name + 4, c.pb.e[k].rank, c.pb.e[k].shape, 0, &r, pblock_ptr(&c.pb, k),
               pblock_grad(&c.pb, k));
    set_out(&c, 3, (int64_t[]){B, T, C}, &r);
    check_case(&c, &r);
    case_free(&c);
}

/* ---- the ViT and MAE's decoder, whole ---- */

enum { MB = 2, MH = 8, MW = 12, MP = 4, MK = 3, ML = (MH / MP) * (MW / MP) };

/* a tiny ViT: 2 blocks of width 16, 2 heads, patches of 4 */
static vit_config tiny_vit(void)
{
    vit_config c;
    vit_config_default(&c);
    c.depth = 2, c.width = 16, c.heads = 2, c.patch = MP;
    return c;
}

/* each image's kept patches, in a drawn order (as MAE's shuffle) */
static void draw_keep(int *keep, int N, int K, int L, rng *r)
{
    for (int n = 0; n < N; n++) {
        int perm[64];
        for (int l = 0; l < L; l++)
            perm[l] = l;
        for (int l = L - 1; l > 0; l--) {
            int j = (int)rng_below(r, (uint64_t)l + 1), t = perm[l];
            perm[l] = perm[j], perm[j] = t;
        }
        memcpy(keep + n * K, perm, sizeof(int) * K);
    }
}

typedef struct {
    lcase c;
    vit *v;
    maedec *d;
    float *img;
    int keep[MB * MK];
} mcase;

static void vit_fwd(lcase *c)
{
    mcase *m = (mcase *)c;
    const float *t = vit_forward(m->v, m->img, MB, MH, MW, m->keep, MK);
    assert_non_null(t);
    memcpy(c->out, t, sizeof(float) * c->nout);
}

static void vit_bwd(lcase *c)
{
    mcase *m = (mcase *)c;
    assert_int_equal(vit_backward(m->v, c->R), 0);
}

/* the model's tensors as inputs of the case (their gradients are the pblock's) */
static void add_params(lcase *c, pblock *pb, const char *prefix, rng *r)
{
    char nm[PARAM_NAME_MAX];
    for (int k = 0; k < pb->n; k++) {
        /* biases and norms away from 0 and 1, so that each is tested */
        if (pb->e[k].rank == 1)
            for (size_t i = 0; i < pb->e[k].numel; i++)
                pblock_ptr(pb, k)[i] += (float)(0.2 * rng_normal(r));
        snprintf(nm, sizeof nm, "%s%s", prefix, pb->e[k].name);
        add_in(c, nm, pb->e[k].rank, pb->e[k].shape, 0, r, pblock_ptr(pb, k), pblock_grad(pb, k));
    }
}

static void put_keep(const int *keep, char *cfg, size_t n)
{
    size_t o = (size_t)snprintf(cfg, n, ",\"keep\":[");
    for (int i = 0; i < MB * MK; i++)
        o += (size_t)snprintf(cfg + o, n - o, "%s%d", i ? "," : "", keep[i]);
    snprintf(cfg + o, n - o, "],\"K\":%d,\"depth\":2", MK);
}

static void test_vit_forward(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 21, 0);
    vit_config vc = tiny_vit();
    mcase m = {.c = {.kind = "vit", .fwd = vit_fwd, .bwd = vit_bwd, .B = MB, .C = 16, .NH = 2, .H = MH, .W = MW,
                     .P = MP}};
    assert_non_null(m.v = vit_create(&vc, 3));
    draw_keep(m.keep, MB, MK, ML, &r);
    m.img = falloc(MB * MH * MW);
    for (int i = 0; i < MB * MH * MW; i++)
        m.img[i] = (float)rng_normal(&r);
    add_params(&m.c, vit_params(m.v), "", &r);
    set_out(&m.c, 3, (int64_t[]){MB, MK + 1, 16}, &r);
    double e = fd_case(&m.c, &r);
    print_message("vit: worst finite-difference error %.2e\n", e);
    assert_true(e < FD_TOL);
    char cfg[512];
    put_keep(m.keep, cfg, sizeof cfg);
    /* vit_ref.py reads the image as in.img (its gradient, which the ViT does not compute, is not compared) */
    tt *ti = add_in(&m.c, "img", 4, (int64_t[]){MB, 1, MH, MW}, 0, &r, NULL, NULL);
    memcpy(ti->x, m.img, sizeof(float) * MB * MH * MW);
    vs_torch(&m.c, cfg);
    /* a checkpoint round trip gives the same model and the same tokens */
    char path[1024];
    snprintf(path, sizeof path, "%s/vit.safetensors", tu_tmpdir());
    ckpt_writer *w = ckpt_writer_new();
    assert_int_equal(vit_ckpt_put(w, "eg.", m.v), 0);
    assert_int_equal(ckpt_write(w, path), 0);
    ckpt_writer_free(w);
    ckpt *ck = ckpt_open(path);
    assert_non_null(ck);
    assert_string_equal(ckpt_meta(ck, "eg.model"), "vit");
    vit *v2 = vit_ckpt_load(ck, "eg.");
    if (!v2)
        fail_msg("%s", err_get());
    assert_memory_equal(vit_get_config(v2), &vc, sizeof vc);
    assert_null(vit_ckpt_load(ck, ""));
    const float *t1 = vit_forward(m.v, m.img, MB, MH, MW, m.keep, MK);
    float *copy = falloc(m.c.nout);
    memcpy(copy, t1, sizeof(float) * m.c.nout);
    const float *t2 = vit_forward(v2, m.img, MB, MH, MW, m.keep, MK);
    assert_memory_equal(copy, t2, sizeof(float) * m.c.nout);
    /* every patch (fine-tuning's way) and a bad input */
    assert_non_null(vit_forward(v2, m.img, MB, MH, MW, NULL, ML));
    assert_null(vit_forward(v2, m.img, MB, MH + 2, MW, NULL, ML));
    print_message("vit: checkpoint round trip identical; %s\n", err_get());
    vit_free(v2);
    ckpt_close(ck);
    free(copy);
    free(m.img);
    vit_free(m.v);
    case_free(&m.c);
}

static void dec_fwd(lcase *c)
{
    mcase *m = (mcase *)c;
    const float *p = maedec_forward(m->d, c->in[0].x, m->keep, MB, MK, MH / MP, MW / MP);
    assert_non_null(p);
    memcpy(c->out, p, sizeof(float) * c->nout);
}

static void dec_bwd(lcase *c)
{
    mcase *m = (mcase *)c;
    const float *dl = maedec_backward(m->d, c->R);
    assert_non_null(dl);
    memcpy(c->in[0].g, dl, sizeof(float) * c->in[0].n);
}

static void test_maedec(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 23, 0);
    maedec_config dc;
    maedec_config_default(&dc);
    dc.embed = 16, dc.patch = MP, dc.depth = 2, dc.width = 12, dc.heads = 3;
    mcase m = {.c = {.kind = "maedec", .fwd = dec_fwd, .bwd = dec_bwd, .B = MB, .C = 12, .NH = 3, .H = MH, .W = MW,
                     .P = MP}};
    assert_non_null(m.d = maedec_create(&dc, 4));
    draw_keep(m.keep, MB, MK, ML, &r);
    add_in(&m.c, "lat", 3, (int64_t[]){MB, MK + 1, 16}, 1, &r, NULL, NULL);
    add_params(&m.c, maedec_params(m.d), "", &r);
    set_out(&m.c, 3, (int64_t[]){MB, ML, MP * MP}, &r);
    double e = fd_case(&m.c, &r);
    print_message("maedec: worst finite-difference error %.2e\n", e);
    assert_true(e < FD_TOL);
    char cfg[512];
    put_keep(m.keep, cfg, sizeof cfg);
    vs_torch(&m.c, cfg);
    /* a patch kept twice is an error */
    m.keep[1] = m.keep[0];
    assert_null(maedec_forward(m.d, m.c.in[0].x, m.keep, MB, MK, MH / MP, MW / MP));
    maedec_free(m.d);
    case_free(&m.c);
}

/* ---- the progressive upsampling decoder on the ViT's tokens ---- */

typedef struct {
    lcase c;
    vitpup *d;
} pcase;

static void pup_fwd(lcase *c)
{
    const float *f = vitpup_forward(((pcase *)c)->d, c->in[0].x, c->B, c->H, c->W);
    assert_non_null(f);
    memcpy(c->out, f, sizeof(float) * c->nout);
}

static void pup_bwd(lcase *c)
{
    const float *dt = vitpup_backward(((pcase *)c)->d, c->R);
    assert_non_null(dt);
    memcpy(c->in[0].g, dt, sizeof(float) * c->in[0].n);
}

static void test_vitpup(void **state)
{
    (void)state;
    enum { B = 2, H = 8, W = 12, P = 4, D = 6, L = (H / P) * (W / P) };
    rng r;
    rng_seed(&r, 24, 0);
    vitpup_config pc = {.embed = D, .patch = P, .out_ch = 5};
    pcase m = {.c = {.kind = "vitpup", .fwd = pup_fwd, .bwd = pup_bwd, .B = B, .C = D, .H = H, .W = W, .P = P}};
    assert_non_null(m.d = vitpup_create(&pc, 1));
    add_in(&m.c, "tok", 3, (int64_t[]){B, L + 1, D}, 1, &r, NULL, NULL);
    pblock *pb = vitpup_params(m.d);
    for (int k = 0; k < pb->n; k++)
        if (pb->e[k].kind == PARAM_TRAIN)
            add_in(&m.c, pb->e[k].name, pb->e[k].rank, pb->e[k].shape, 0, &r, pblock_ptr(pb, k), pblock_grad(pb, k));
    for (int k = 0; k < pb->n; k++) /* norms away from 1 and 0 */
        if (pb->e[k].kind == PARAM_TRAIN && pb->e[k].rank == 1)
            for (size_t i = 0; i < pb->e[k].numel; i++)
                pblock_ptr(pb, k)[i] += (float)(0.2 * rng_normal(&r));
    set_out(&m.c, 4, (int64_t[]){B, 5, H, W}, &r);
    double e = fd_case(&m.c, &r);
    print_message("vitpup: worst finite-difference error %.2e\n", e);
    assert_true(e < FD_TOL);
    /* the cls token gets no gradient */
    for (int b = 0; b < B; b++)
        for (int k = 0; k < D; k++)
            assert_true(m.c.in[0].g[(size_t)b * (L + 1) * D + k] == 0);
    vs_torch(&m.c, ",\"widths\":[256,128,5]");
    /* a patch that is not a power of two */
    pc.patch = 12;
    assert_null(vitpup_create(&pc, 1));
    print_message("%s\n", err_get());
    vitpup_free(m.d);
    case_free(&m.c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layernorm), cmocka_unit_test(test_gelu),  cmocka_unit_test(test_attention),
        cmocka_unit_test(test_patch_embed), cmocka_unit_test(test_pos_embed), cmocka_unit_test(test_block),
        cmocka_unit_test(test_vit_forward), cmocka_unit_test(test_maedec), cmocka_unit_test(test_vitpup),
        cmocka_unit_test(test_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
