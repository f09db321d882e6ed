/*
 * block — the pieces the models are built from (internal to the engine):
 * an activation arena, conv3x3 + norm + ReLU ("cbr"), the 2x2 transposed
 * convolution ("up"), the U-Net decoder shared by unet.h's Dl and resnet.h's
 * Dg, and the JSON helpers of the model configurations.
 *
 * Each piece declares its tensors in the model's pblock (declare), fills
 * them (init), takes its activation buffers from the model's arena
 * (bind, once per input shape), and runs forward / backward on raw pointers.
 *
 * Not here: public contracts (unet.h, resnet.h), whole models.
 */
#ifndef LRC_NNBLOCK_H
#define LRC_NNBLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "core/mval.h"
#include "core/rng.h"
#include "nn/ckpt.h"
#include "nn/nn.h"
#include "nn/param.h"

/* ---- arena: bump allocation, sized by a counting pass ---- */

typedef struct {
    char *base;
    size_t used, cap;
    int counting;
} nnb_arena;

/* n floats, 64-byte aligned; during the counting pass returns NULL. */
float *nnb_arena_take(nnb_arena *a, size_t n);
/* Start a counting pass; arena_commit allocates what was counted (reusing
 * the old block when large enough) and starts the assigning pass. */
void nnb_arena_count(nnb_arena *a);
int nnb_arena_commit(nnb_arena *a);
void nnb_arena_free(nnb_arena *a);

/* A model's struct of size bytes, zeroed (calloc: T_free releases it), at
 * the start of its T_create; NULL + err_set("out of memory"). */
void *nnb_model_alloc(size_t size);

/* The accessors every model has, T_free, T_get_config and T_params, for a
 * struct T with members cfg (a T_config), pb (its pblock) and ar (its
 * arena), allocated with malloc. */
#define NNB_MODEL_ACCESSORS(T)                                                                  \
    void T##_free(T *m)                                                                         \
    {                                                                                           \
        if (!m)                                                                                 \
            return;                                                                             \
        pblock_free(&m->pb);                                                                    \
        nnb_arena_free(&m->ar);                                                                 \
        free(m);                                                                                \
    }                                                                                           \
    const T##_config *T##_get_config(const T *m) { return &m->cfg; }                           \
    pblock *T##_params(T *m) { return &m->pb; }

/* P_create (model.h's T_create; P the prefix of its calls, mostly T itself)
 * for the same struct T, the steps every model takes in the same order: the
 * configuration c checked (P_config_check); a zeroed struct (nnb_model_alloc)
 * holding a copy of c in cfg and an empty pblock pb; the model's own
 * declare(m), which sets up what the configuration gives - its tensors
 * declared and allocated (pblock_alloc), its other sizes and buffers - 0,
 * or -1 + err_set; then init(m, r), which fills the tensors from an rng
 * seeded (seed, stream). NULL + err_set, m freed (P_free), when a step
 * fails. */
#define NNB_MODEL_CREATE(P, T, declare, init, stream)                                           \
    T *P##_create(const P##_config *c, uint64_t seed)                                           \
    {                                                                                           \
        T *m;                                                                                   \
        rng r;                                                                                  \
        if (P##_config_check(c) || !(m = nnb_model_alloc(sizeof *m)))                           \
            return NULL;                                                                        \
        m->cfg = *c;                                                                            \
        pblock_init(&m->pb);                                                                    \
        if (declare(m)) {                                                                       \
            P##_free(m);                                                                        \
            return NULL;                                                                        \
        }                                                                                       \
        rng_seed(&r, seed, stream);                                                             \
        init(m, &r);                                                                            \
        return m;                                                                               \
    }

/* T_ckpt_put and T_ckpt_load (ckpt.h) for the same struct T, under model
 * kind "T". Loading parses the file's configuration, then
 * expect_shapes(c, prefix, &cfg) checks the sizes it claims against the
 * file's own tensors (ckpt_expect_shape), before anything of that size is
 * allocated; then the model is created and its tensors read. */
#define NNB_MODEL_CKPT(T, expect_shapes)                                                        \
    int T##_ckpt_put(ckpt_writer *w, const char *prefix, const T *m)                            \
    {                                                                                           \
        return ckpt_put_model_owned(w, prefix, #T, T##_config_json(&m->cfg), &m->pb);          \
    }                                                                                           \
    T *T##_ckpt_load(const ckpt *c, const char *prefix)                                         \
    {                                                                                           \
        const char *js = ckpt_model_config(c, prefix, #T);                                      \
        T##_config cfg;                                                                         \
        T *m;                                                                                   \
        if (!js)                                                                                \
            return NULL;                                                                        \
        if (T##_config_parse(js, &cfg))                                                         \
            return ckpt_bad_config(c);                                                          \
        if (expect_shapes(c, prefix, &cfg) || !(m = T##_create(&cfg, 0)))                       \
            return NULL;                                                                        \
        if (ckpt_get_params(c, prefix, &m->pb)) {                                               \
            T##_free(m);                                                                        \
            return NULL;                                                                        \
        }                                                                                       \
        return m;                                                                               \
    }

/* The check every model makes of its input: a batch of at least 1, sides
 * that are multiples of 16 (four halvings) and at least 16, and at most
 * 2^31 floats in the widest activation (maxch channels at full size).
 * 0, or -1 + err_set naming who. */
int nnb_check_input(const char *who, int N, int H, int W, size_t maxch);
/* the same for models whose input must be a multiple of `unit` (a
 * torchvision stem: 32) */
int nnb_check_input_unit(const char *who, int N, int H, int W, size_t maxch, int unit);
/* Take every buffer of model m for input (N, H, W) from a: bind(m, N, H, W)
 * calls nnb_arena_take for each, and runs twice, counting then assigning
 * (nnb_arena_count, nnb_arena_commit). 0, or -1 + err_set (out of memory;
 * then no buffer is bound). */
int nnb_arena_bind(nnb_arena *a, void (*bind)(void *m, int N, int H, int W), void *m, int N, int H, int W);

/* ---- normalisation settings shared by a model ---- */

typedef struct {
    nn_norm_kind kind;
    int groups;
    float momentum, eps;
} nnb_normcfg;

/* ---- conv3x3 (no bias) + norm + ReLU ---- */

typedef struct {
    int cin1, cin2, cout; /* input channels (cin2 > 0: the conv reads cat[in1, in2]) */
    int K, stride;        /* 3x3 (1x1 for a bottleneck's convs), stride 1 or 2 */
    int relu;
    nnb_normcfg nc;
    int iw, ig, ib, irm, irv, inb; /* pblock indices (irm.. -1 for group norm) */
    /* arena (bind) */
    float *z, *a;       /* conv output, normalised (+ReLU) output (N, cout, OH, OW) */
    float *mean, *rstd; /* batch (cout) or group (N * groups) statistics */
    int N, H, W, OH, OW;
} nnb_cbr;

/* Names: PREFIX.conv{idx}.weight, PREFIX.{bn|gn}{idx}.* ; or, if conv_name
 * is not NULL, PREFIX.CONV_NAME.weight and PREFIX.NORM_NAME.* */
int nnb_cbr_declare(nnb_cbr *c, pblock *pb, const char *prefix, const char *conv_name,
                const char *norm_name, int cin1, int cin2, int cout, int K, int stride, int relu,
                const nnb_normcfg *nc);
void nnb_cbr_init(const nnb_cbr *c, pblock *pb, rng *r);
void nnb_cbr_bind(nnb_cbr *c, nnb_arena *a, int N, int H, int W);
void nnb_cbr_forward(nnb_cbr *c, pblock *pb, const float *in1, const float *in2, int training);
/* da: gradient of c->a (N, cout, OH, OW), overwritten with dz. din1, din2
 * written (NULL: not computed). */
void nnb_cbr_backward(nnb_cbr *c, pblock *pb, float *da, float *din1, float *din2, const float *in1,
                  const float *in2, int training);
size_t nnb_cbr_out_numel(const nnb_cbr *c);
double nnb_cbr_flops(const nnb_cbr *c, int H, int W); /* per image, forward */

/* ---- ConvTranspose2d(cin, cout, 2, 2) with bias ---- */

typedef struct {
    int cin, cout;
    int iw, ib;
    float *u; /* (N, cout, 2H, 2W) */
    int N, H, W;
} nnb_upconv;

int nnb_up_declare(nnb_upconv *u, pblock *pb, const char *prefix, int cin, int cout);
void nnb_up_init(const nnb_upconv *u, pblock *pb, rng *r);
void nnb_up_bind(nnb_upconv *u, nnb_arena *a, int N, int H, int W);
void nnb_up_forward(nnb_upconv *u, pblock *pb, const float *in);
void nnb_up_backward(nnb_upconv *u, pblock *pb, const float *du, float *din, const float *in);

/* ---- the U-Net decoder: 4 levels up, then a 1x1 head ---- */

typedef struct {
    int skip_ch[4]; /* skips at 1/1, 1/2, 1/4, 1/8 of the input size */
    int bottom_ch;  /* the input at 1/16 */
    int widths[4];  /* dec1..dec4 */
    int out_ch;
    nnb_upconv up[4];
    nnb_cbr c1[4], c2[4];
    int ihw, ihb;              /* head */
    float *f;                  /* head output (N, out_ch, H, W) */
    float *gx, *gy;            /* gradient ping-pong buffers */
    int N, H, W;
} nnb_decoder;

int nnb_dec_declare(nnb_decoder *d, pblock *pb, const int skip_ch[4], int bottom_ch, const int widths[4],
                int out_ch, const nnb_normcfg *nc);
void nnb_dec_init(const nnb_decoder *d, pblock *pb, rng *r);
void nnb_dec_bind(nnb_decoder *d, nnb_arena *a, int N, int H, int W);
/* skip[k] (N, skip_ch[k], H >> k, W >> k), bottom (N, bottom_ch, H/16, W/16). */
void nnb_dec_forward(nnb_decoder *d, pblock *pb, const float *const skip[4], const float *bottom,
                 int training);
/* dskip[k] and dbottom written (each shaped as its input). */
void nnb_dec_backward(nnb_decoder *d, pblock *pb, const float *df, float *const dskip[4], float *dbottom,
                  const float *const skip[4], const float *bottom, int training);
double nnb_dec_flops(const nnb_decoder *d, int H, int W);

/* ---- configuration JSON ---- */

/* A model's configuration described once, field by field, in JSON order:
 * nnb_cfg_json writes it and nnb_cfg_read reads it back, so that a key is
 * named in one place. The JSON key is the member's name. */
typedef enum {
    NNB_CFG_INT,   /* int */
    NNB_CFG_FLOAT, /* float, written as the shortest decimal that reads back */
    NNB_CFG_INTS,  /* int[n] */
    NNB_CFG_ENUM,  /* int, written as names[value] */
} nnb_cfg_kind;

typedef struct {
    const char *key;
    nnb_cfg_kind kind;
    size_t off;                /* offsetof(T_config, member) */
    int n;                     /* NNB_CFG_INTS: how many */
    const char *const *names;  /* NNB_CFG_ENUM: the values' names, NULL-terminated */
    int required;              /* absent is an error (otherwise the default stays) */
    int omit, dflt;            /* omit: an int or enum not written when it is dflt */
} nnb_cfg_field;

#define NNB_CFG(T, member, kind_) {.key = #member, .kind = (kind_), .off = offsetof(T, member)}
#define NNB_CFG_N(T, member, n_) {.key = #member, .kind = NNB_CFG_INTS, .off = offsetof(T, member), .n = (n_)}
#define NNB_CFG_REQUIRED(T, member, kind_) {.key = #member, .kind = (kind_), .off = offsetof(T, member), .required = 1}
/* nn_norm_kind as "batch" or "group" */
#define NNB_CFG_NORM(T, member) {.key = #member, .kind = NNB_CFG_ENUM, .off = offsetof(T, member), .names = nnb_norm_names}
/* the normalisation settings every convolutional model's configuration ends
 * with, in this JSON order: norm, groups, bn_momentum, eps */
#define NNB_CFG_NORM_FIELDS(T)                                                                                    \
    NNB_CFG_NORM(T, norm), NNB_CFG(T, groups, NNB_CFG_INT), NNB_CFG(T, bn_momentum, NNB_CFG_FLOAT),                 \
        NNB_CFG(T, eps, NNB_CFG_FLOAT)
extern const char *const nnb_norm_names[];

/* cfg's fields f (ending with a field whose key is NULL) as compact JSON
 * (malloc'ed); NULL + err_set. */
char *nnb_cfg_json(const void *cfg, const nnb_cfg_field *f);
/* json's fields into cfg (which holds the defaults); what names the
 * configuration in messages. -1 when json is not an object of these fields
 * only; 1 when a field has the wrong type or a required one is absent (the
 * first such, in field order); 0 when all is well. */
int nnb_cfg_read(const char *json, void *cfg, const char *what, const nnb_cfg_field *f);
/* T_config_json and T_config_parse for a configuration described by
 * fields: parse starts from T_config_default(c), reads json (configuration
 * "T" in messages) and checks what it read with T_config_check. needs: NULL,
 * or what "T configuration: " says when a field has the wrong type or a
 * required one is absent (instead of naming the field). */
#define NNB_MODEL_CONFIG(T, fields, needs)                                                      \
    char *T##_config_json(const T##_config *c) { return nnb_cfg_json(c, fields); }              \
    int T##_config_parse(const char *json, T##_config *c)                                       \
    {                                                                                           \
        int rc;                                                                                 \
        T##_config_default(c);                                                                  \
        if ((rc = nnb_cfg_read(json, c, #T, fields)) > 0 && (needs))                            \
            return err_set("%s configuration: %s", #T, (const char *)(needs));                  \
        return rc ? -1 : T##_config_check(c);                                                   \
    }

/* nnb_cfg_read in two steps, for a configuration whose sizes depend on what
 * it holds: parse json into m (-1 as above; m to be freed otherwise), then
 * read m's fields (0 or 1 as above). */
int nnb_cfg_open(const char *json, mval *m, const char *what, const nnb_cfg_field *f);
int nnb_cfg_get(const mval *m, void *cfg, const char *what, const nnb_cfg_field *f);

/* Parse json as an object whose keys are all in allowed (NULL-terminated).
 * what names the configuration in messages. */
int nnb_cfg_parse(const char *json, mval *m, const char *what, const char *const *allowed);
/* 0 found, 1 absent, -1 wrong type (err_set). */
int nnb_cfg_int(const mval *m, const char *what, const char *key, int *out);
int nnb_cfg_float(const mval *m, const char *what, const char *key, float *out);
int nnb_cfg_ints(const mval *m, const char *what, const char *key, int *out, int n);
/* A float as the shortest decimal that reads back as the same float. */
void nnb_cfg_put_float(mval *m, const char *key, float v);
void nnb_cfg_put_ints(mval *m, const char *key, const int *v, int n);
char *nnb_cfg_dump(const mval *m); /* compact JSON, malloc'ed */

#endif
