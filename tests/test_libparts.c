/* The library parts that the filters share: the record pool (order kept
 * whatever the threads' timing), the slice grouping rule, the training-loop
 * driver, the body's components against a naive flood fill, the labels
 * file, the results of dice-eval's report, metrics-log curves, picture file
 * names, the instruction-set choice, the filter skeleton's lists, the one
 * Dice count and the fine-tuning's sampling and meter. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/filter.h"
#include "cli/trainopts.h"
#include "core/err.h"
#include "core/grow.h"
#include "core/isa.h"
#include "core/json.h"
#include "core/parse.h"
#include "core/recpool.h"
#include "core/rng.h"
#include "ct/body.h"
#include "ct/ctmeta.h"
#include "ct/slicegroup.h"
#include "eval/segmetric.h"
#include "eval/segreport.h"
#include "finetune/segloss.h"
#include "finetune/segsample.h"
#include "io/labels.h"
#include "io/manifest.h"
#include "nn/nn.h"
#include "nn/trainloop.h"
#include "viz/curves.h"
#include "viz/picfiles.h"
#include "viz/vslice.h"
#include "testutil.h"

static char *tmp(const char *name)
{
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, 1024, "%s/%s", tu_tmpdir(), name);
    return p;
}

/* ---- recpool ---- */

typedef struct {
    int index, value, worker;
} rp_slot;

typedef struct {
    int n, next, written, fail_at;
    int *out;
} rp_ctx;

static int rp_read(void *slot, void *ctx)
{
    rp_ctx *c = ctx;
    rp_slot *s = slot;
    if (c->next == c->n)
        return 0;
    s->index = c->next++;
    return 1;
}

static void rp_work(void *slot, int t, void *ctx)
{
    rp_slot *s = slot;
    struct timespec ts = {0, (long)((s->index * 7919) % 13) * 200000L}; /* records take different times */
    nanosleep(&ts, NULL);
    s->value = s->index * s->index;
    s->worker = t;
}

static int rp_write(void *slot, void *ctx)
{
    rp_ctx *c = ctx;
    rp_slot *s = slot;
    if (c->written == c->fail_at)
        return -1;
    c->out[c->written++] = s->index * 100000 + s->value;
    return 0;
}

static void test_recpool_order(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 5; threads += 2) {
        int out[200];
        rp_ctx c = {.n = 200, .fail_at = -1, .out = out};
        recpool p = {threads, threads + 2, sizeof(rp_slot), rp_read, rp_work, rp_write};
        assert_int_equal(recpool_run(&p, &c), 0);
        assert_int_equal(c.written, 200);
        for (int i = 0; i < 200; i++)
            assert_int_equal(out[i], i * 100000 + i * i); /* input order, every record once */
    }
    /* a write that fails stops the run, with the workers joined */
    int out[200];
    rp_ctx c = {.n = 200, .fail_at = 17, .out = out};
    recpool p = {4, 6, sizeof(rp_slot), rp_read, rp_work, rp_write};
    assert_int_equal(recpool_run(&p, &c), -1);
    assert_int_equal(c.written, 17);
    assert_true(c.next <= 17 + 6 + 1);
}

/* ---- slicegroup ---- */

static void test_slicegroup_rule(void **state)
{
    (void)state;
    static const char *const maps[] = {"label", "pred"};
    slicegroup g;
    sg_volume *v;
    char list[128];
    slicegroup_init(&g, 2, maps, sizeof(sg_volume));
    /* Z from the largest z seen is not known: never complete */
    assert_non_null(v = slicegroup_get(&g, "a", 0));
    for (int z = 0; z < 3; z++)
        assert_int_equal(sg_add(&g, v, 0, z) | sg_add(&g, v, 1, z), 0);
    assert_int_equal(v->Z, 3);
    assert_false(sg_complete(&g, v));
    /* with Z known, every map must hold all slices */
    assert_int_equal(sg_set_z(v, 4, "meta 'shape'"), 0);
    assert_false(sg_complete(&g, v));
    sg_missing(v, 0, list, sizeof list);
    assert_string_equal(list, "3");
    assert_int_equal(sg_add(&g, v, 0, 3), 0);
    assert_false(sg_complete(&g, v));
    assert_int_equal(sg_add(&g, v, 1, 3), 0);
    assert_true(sg_complete(&g, v));
    /* a slice twice, a slice outside Z, a Z that disagrees */
    assert_int_equal(sg_add(&g, v, 1, 3), -1);
    assert_non_null(strstr(err_get(), "'pred' of slice z=3 given twice"));
    assert_int_equal(sg_add(&g, v, 0, 4), -1);
    assert_int_equal(sg_set_z(v, 5, "a volume record"), -1);
    assert_int_equal(slicegroup_done(&g, v), 0);
    free(v);
    /* after it was handed out, its id is an error */
    assert_null(slicegroup_get(&g, "a", 2));
    assert_non_null(strstr(err_get(), "volume a: slice z=2 arrived after the volume was complete"));
    /* nslices: the producer sent 2 of 6 slices */
    assert_non_null(v = slicegroup_get(&g, "b", 0));
    assert_int_equal(sg_set_z(v, 6, "meta 'shape'") | sg_expect(v, 2), 0);
    assert_int_equal(sg_expect(v, 3), -1);
    assert_int_equal(sg_add(&g, v, 0, 0) | sg_add(&g, v, 1, 0) | sg_add(&g, v, 0, 4), 0);
    assert_false(sg_complete(&g, v));
    assert_int_equal(sg_add(&g, v, 1, 4), 0);
    assert_true(sg_complete(&g, v));
    sg_missing(v, 0, list, sizeof list);
    assert_string_equal(list, "1..3, 5");
    assert_int_equal(g.nvols, 1);
    slicegroup_free(&g);
}

/* ---- trainloop: a real (tiny) trainer, gradient descent on (w - 3)^2 ---- */

typedef struct {
    double w;
    int64_t data_left;  /* steps the data allows (-1: no end) */
    int saves, validations, logs;
    int64_t save_steps[16];
    int nan_at;
} toy;

static int toy_step(trainloop *l, void *ctx, double *loss)
{
    toy *t = ctx;
    if (t->data_left == 0)
        return 0;
    if (t->data_left > 0)
        t->data_left--;
    *loss = l->step + 1 == t->nan_at ? NAN : (t->w - 3) * (t->w - 3);
    t->w -= 0.1 * 2 * (t->w - 3);
    return 1;
}

static int toy_log(trainloop *l, void *ctx, double loss)
{
    toy *t = ctx;
    mval rec = {0};
    int rc;
    t->logs++;
    mval_set_map(&rec);
    mval_put_i64(&rec, "step", l->step);
    mval_put_f64(&rec, "loss", loss);
    rc = trainlog_write(&l->tl, &rec);
    mval_free(&rec);
    return rc;
}

static int toy_validate(trainloop *l, void *ctx)
{
    ((toy *)ctx)->validations++;
    return 0;
}

static int toy_save(trainloop *l, void *ctx)
{
    toy *t = ctx;
    if (t->saves < 16)
        t->save_steps[t->saves] = l->step;
    t->saves++;
    return 0;
}

static void test_trainloop(void **state)
{
    (void)state;
    const trainloop_fns fns = {.step = toy_step, .log = toy_log, .validate = toy_validate, .save = toy_save};
    int old = log_level;
    log_level = 0;
    /* a known total: saves every 4 steps but not at the last, then once at the end */
    trainloop l = {.log_path = tmp("toy.jsonl"), .total = 10, .save_every = 4, .val_every = 3};
    toy t = {.w = 0, .data_left = -1};
    assert_int_equal(trainloop_run(&l, &fns, &t), 0);
    assert_int_equal(trainloop_close(&l), 0);
    assert_int_equal(l.step, 10);
    assert_int_equal(t.saves, 3);
    assert_int_equal(t.save_steps[0], 4);
    assert_int_equal(t.save_steps[1], 8);
    assert_int_equal(t.save_steps[2], 10);
    assert_int_equal(t.validations, 4); /* steps 3, 6, 9 and the last */
    assert_int_equal(t.logs, 10);
    assert_true(fabs(t.w - 3) < 3 * pow(0.8, 10) + 1e-12);
    char *log = tu_read(tmp("toy.jsonl"), NULL);
    assert_non_null(log);
    assert_int_equal(tu_count_lines(log), 10);
    free(log);
    /* resumed at step 10 with no total: runs until the data ends, appending */
    trainloop r = {.log_path = tmp("toy.jsonl"), .append = 1, .step = 10};
    toy t2 = {.w = t.w, .data_left = 5};
    assert_int_equal(trainloop_run(&r, &fns, &t2), 0);
    assert_int_equal(trainloop_close(&r), 0);
    assert_int_equal(r.step, 15);
    assert_int_equal(r.start_step, 10);
    assert_int_equal(t2.saves, 1);
    assert_int_equal(t2.validations, 0);
    log = tu_read(tmp("toy.jsonl"), NULL);
    assert_int_equal(tu_count_lines(log), 15);
    free(log);
    /* a loss that is not finite stops the run with the step named */
    trainloop n = {.total = 10};
    toy t3 = {.data_left = -1, .nan_at = 4};
    assert_int_equal(trainloop_run(&n, &fns, &t3), -1);
    assert_non_null(strstr(err_get(), "step 4: the loss is not finite"));
    assert_int_equal(n.step, 3);
    trainloop_close(&n);
    log_level = old;
}

/* ---- body ---- */

/* Naive components: repeat "a foreground pixel takes the smallest label of
 * its labelled 4-neighbours" until nothing changes. */
static int64_t naive_largest(const int32_t *fg, int ny, int nx, int64_t box[4])
{
    int n = ny * nx, changed = 1;
    int32_t *lab = malloc(sizeof *lab * (size_t)n);
    int64_t best = 0;
    for (int i = 0; i < n; i++)
        lab[i] = fg[i] ? i + 1 : 0;
    while (changed) {
        changed = 0;
        for (int i = 0; i < n; i++) {
            int y = i / nx, x = i % nx, nb[4] = {y > 0 ? i - nx : -1, y < ny - 1 ? i + nx : -1, x > 0 ? i - 1 : -1,
                                                 x < nx - 1 ? i + 1 : -1};
            for (int k = 0; k < 4; k++)
                if (lab[i] && nb[k] >= 0 && lab[nb[k]] && lab[nb[k]] < lab[i])
                    lab[i] = lab[nb[k]], changed = 1;
        }
    }
    /* a component's label is its first pixel + 1: raster order of first pixels */
    for (int root = 0; root < n; root++) {
        int64_t cnt = 0, b[4] = {ny, nx, -1, -1};
        for (int i = 0; i < n; i++)
            if (lab[i] == root + 1) {
                int y = i / nx, x = i % nx;
                cnt++;
                b[0] = y < b[0] ? y : b[0], b[1] = x < b[1] ? x : b[1];
                b[2] = y > b[2] ? y : b[2], b[3] = x > b[3] ? x : b[3];
            }
        if (cnt > best)
            best = cnt, memcpy(box, b, sizeof b);
    }
    free(lab);
    return best;
}

static void test_body_components(void **state)
{
    (void)state;
    enum { NY = 23, NX = 31 };
    int32_t fg[NY * NX], lab[NY * NX], stack[NY * NX], work[2 * NY * NX];
    float img[NY * NX];
    rng r;
    rng_seed(&r, 5, 0);
    for (int trial = 0; trial < 40; trial++) {
        int64_t box[4] = {0}, nbox[4] = {0}, fbox[4] = {0};
        int32_t id = -7;
        double p = 0.3 + 0.01 * trial;
        for (int i = 0; i < NY * NX; i++) {
            fg[i] = rng_uniform(&r) < p;
            lab[i] = fg[i] ? -1 : 0;
            img[i] = fg[i] ? 100.0f : -900.0f;
        }
        int64_t n = body_components(lab, NY, NX, stack, box, &id);
        assert_int_equal(n, naive_largest(fg, NY, NX, nbox));
        if (n) {
            assert_memory_equal(box, nbox, sizeof box);
            int64_t cnt = 0;
            for (int i = 0; i < NY * NX; i++)
                cnt += lab[i] == id;
            assert_int_equal(cnt, n);
        }
        assert_int_equal(body_find(fbox, img, NY, NX, -500, work), n); /* work: 2 ny nx */
        if (n)
            assert_memory_equal(fbox, nbox, sizeof box);
    }
    /* two components of one size: the first in raster order */
    int32_t two[12] = {0, 0, 0, -1, 0, 0, -1, 0, 0, 0, 0, 0};
    int64_t box[4];
    int32_t id;
    assert_int_equal(body_components(two, 2, 6, stack, box, &id), 1);
    assert_int_equal(id, 1);
    assert_int_equal(box[1], 3); /* (0, 3) comes before (1, 0) */
}

/* ---- labels, JSON ---- */

static void test_labels_and_json(void **state)
{
    (void)state;
    const char *good = "{\"0\": \"background\", \"2\": \"Liver\", \"7\": \"Spleen\"}";
    char *names[LABELS_MAX] = {0};
    int n = 0;
    mval cls = {0}, parsed = {0};
    assert_int_equal(tu_write(tmp("l.json"), good, strlen(good)), 0);
    assert_int_equal(labels_load(tmp("l.json"), names, &n), 0);
    assert_int_equal(n, 8);
    assert_string_equal(names[2], "Liver");
    assert_null(names[1]);
    labels_free(names);
    assert_int_equal(ctmeta_load_classes(tmp("l.json"), &cls), 0);
    assert_int_equal((int)cls.a.n, 8);
    assert_string_equal(cls.a.v[7].s.p, "Spleen");
    assert_string_equal(cls.a.v[3].s.p, "");
    mval_free(&cls);
    assert_int_equal(tu_write(tmp("b.json"), "{\"300\": \"x\"}", 12), 0);
    assert_int_equal(labels_load(tmp("b.json"), names, &n), -1);
    assert_non_null(strstr(err_get(), "entry \"300\": want a label value 0..255"));
    assert_int_equal(tu_write(tmp("c.json"), "[1]", 3), 0);
    assert_int_equal(labels_load(tmp("c.json"), names, &n), -1);
    /* meta 'classes': absent, good (replacing the earlier list), not strings */
    char *other[LABELS_MAX] = {0};
    int m = 0;
    mval meta = {0};
    mval_set_map(&meta);
    assert_int_equal(labels_from_meta(&meta, names, &n), 1);
    assert_int_equal(json_parse("[\"background\", \"Liver\"]", 23, mval_map_put(&meta, "classes")), 0);
    assert_int_equal(labels_load(tmp("l.json"), names, &n), 0);
    assert_int_equal(labels_from_meta(&meta, names, &n), 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[1], "Liver");
    assert_null(names[7]);
    assert_int_equal(labels_from_meta(&meta, other, &m), 0);
    assert_true(labels_same(names, n, other, m));
    assert_false(labels_same(names, n, other, 1));
    free(other[1]);
    other[1] = strdup("Spleen");
    assert_false(labels_same(names, n, other, m));
    labels_free(other);
    labels_free(names);
    mval_free(&meta);
    mval_set_map(&meta);
    assert_int_equal(json_parse("[\"a\", 3]", 8, mval_map_put(&meta, "classes")), 0);
    assert_int_equal(labels_from_meta(&meta, names, &n), -1);
    assert_non_null(strstr(err_get(), "array of strings"));
    mval_free(&meta);
    /* the parser's lists and maps: empty, nested, and each bracket's error */
    static const struct {
        const char *text, *err;
    } cases[] = {{"[]", NULL}, {"{}", NULL}, {"[1, [2, {\"a\": [3]}], 4]", NULL}, {"{\"a\": 1, \"b\": {}}", NULL},
                 {"[1, 2", "expected ',' or ']' at byte 5"}, {"[1 2]", "expected ',' or ']' at byte 3"},
                 {"{\"a\": 1 \"b\": 2}", "expected ',' or '}' at byte 8"}, {"{\"a\": [1}", "expected ',' or ']'"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = json_parse(cases[i].text, strlen(cases[i].text), &parsed);
        assert_int_equal(rc, cases[i].err ? -1 : 0);
        if (cases[i].err && !strstr(err_get(), cases[i].err))
            fail_msg("%s: %s (want %s)", cases[i].text, err_get(), cases[i].err);
        mval_free(&parsed);
    }
    assert_int_equal(json_parse("[[1], 2]", 8, &parsed), 0);
    assert_int_equal((int)parsed.a.n, 2);
    assert_int_equal((int)parsed.a.v[0].a.n, 1);
    mval_free(&parsed);
    /* a command line as JSON, and back */
    char *argv[] = {"lrc-train", "--log", "a \"b\".jsonl", "-c", "x"};
    char *js = json_strv(argv, 5);
    assert_non_null(js);
    assert_int_equal(json_parse(js, strlen(js), &parsed), 0);
    assert_int_equal((int)parsed.a.n, 5);
    assert_string_equal(parsed.a.v[2].s.p, "a \"b\".jsonl");
    mval_free(&parsed);
    free(js);
}

/* ---- segreport: two volumes with known counts ---- */

static void test_segreport(void **state)
{
    (void)state;
    segr_volume a = {.id = "a", .Z = 2, .Y = 2, .X = 2, .nz = 2}, b = {.id = "b", .Z = 2, .Y = 2, .X = 2, .nz = 2};
    segr_volume *vols[2] = {&a, &b};
    char *names[3] = {"bg", "Liver", "Kidney"};
    /* a: Liver |A| 4 |B| 4 overlap 3 -> 0.75; Kidney missed -> 0
     * b: Liver |A| 2 |B| 2 overlap 2 -> 1; Kidney absent (left out) */
    a.cnt[1] = (segm_count_t){4, 4, 3, {0}, {0}};
    a.cnt[2] = (segm_count_t){2, 0, 0, {0}, {0}};
    b.cnt[1] = (segm_count_t){2, 2, 2, {0}, {0}};
    segreport r = {.vols = vols, .nvols = 2, .digits = 4, .names = names, .nnames = 3, .names_src = "test"};
    assert_int_equal(segreport_summarise(&r), 0);
    assert_int_equal(r.norgans, 2);
    assert_int_equal(r.org[0][SEGR_DICE].n, 2);
    assert_true(fabs(r.org[0][SEGR_DICE].mean - 0.875) < 1e-12);
    assert_true(fabs(r.org[0][SEGR_DICE].std - 0.125) < 1e-12); /* numpy.std([0.75, 1]) */
    assert_int_equal(r.org[1][SEGR_DICE].n, 1);
    assert_true(fabs(r.all[SEGR_DICE].mean - 1.75 / 3) < 1e-12);
    assert_int_equal(segreport_status(&b, 2), SEGR_ABSENT);
    assert_int_equal(segreport_status(&a, 2), SEGR_MISSED);
    /* ignoring a's Kidney by name leaves only Liver */
    assert_int_equal(tu_write(tmp("ign"), "a Kidney # missed on purpose\n", 29), 0);
    assert_int_equal(segreport_ignore(&r, tmp("ign")), 0);
    assert_int_equal(segreport_summarise(&r), 0);
    assert_int_equal(r.norgans, 1);
    assert_true(fabs(r.all[SEGR_DICE].mean - 0.875) < 1e-12);
    FILE *f = fopen(tmp("r.tsv"), "w");
    segreport_tsv(&r, f);
    fclose(f);
    char *txt = tu_read(tmp("r.tsv"), NULL);
    assert_non_null(strstr(txt, "a\tLiver\t1\tok\t0.7500\n"));
    assert_non_null(strstr(txt, "*\t*\t*\tmean\t0.8750\n"));
    free(txt);
    assert_int_equal(tu_write(tmp("ign2"), "a Bones\n", 8), 0);
    assert_int_equal(segreport_ignore(&r, tmp("ign2")), -1);
    assert_non_null(strstr(err_get(), "ign2:1: unknown organ 'Bones' (not in test)"));
}

/* ---- the one Dice count, against segm_count and a hand count ---- */

static void test_dice_count(void **state)
{
    (void)state;
    enum { Z = 3, Y = 5, X = 7, N = Z * Y * X };
    uint8_t ref[N], pred[N];
    int64_t tp[SEGM_NLABELS] = {0}, np[SEGM_NLABELS] = {0}, nr[SEGM_NLABELS] = {0};
    segm_count_t cnt[SEGM_NLABELS];
    double dice[4];
    rng r;
    rng_seed(&r, 9, 1);
    for (int i = 0; i < N; i++) {
        ref[i] = (uint8_t)(rng_u32(&r) % 3);
        pred[i] = (uint8_t)(rng_u32(&r) % 3);
    }
    /* in two batches, as a trainer counts */
    segm_tally(tp, np, nr, ref, pred, N / 2);
    segm_tally(tp, np, nr, ref + N / 2, pred + N / 2, N - N / 2);
    segm_count(cnt, ref, pred, Z, Y, X);
    double mean = 0;
    for (int c = 0; c < 3; c++) {
        assert_int_equal(tp[c], cnt[c].ntp);
        assert_int_equal(np[c], cnt[c].npred);
        assert_int_equal(nr[c], cnt[c].nref);
        if (c)
            mean += segm_dice(&cnt[c]) / 2;
    }
    assert_true(fabs(segm_mean_dice(tp, np, nr, 4, dice) - mean) < 1e-15);
    assert_true(isnan(dice[0]) && isnan(dice[3]));
    /* labels 1 and 2: |A| 2 |B| 1 overlap 1 -> 2/3; |A| 0 |B| 1 -> 0 */
    const uint8_t a[4] = {1, 1, 0, 0}, b[4] = {1, 0, 2, 0};
    int64_t t2[SEGM_NLABELS] = {0}, p2[SEGM_NLABELS] = {0}, r2[SEGM_NLABELS] = {0};
    segm_tally(t2, p2, r2, a, b, 4);
    assert_true(fabs(segm_mean_dice(t2, p2, r2, 3, dice) - (2.0 / 3) / 2) < 1e-15);
    assert_true(fabs(dice[1] - 2.0 / 3) < 1e-15 && dice[2] == 0);
    assert_true(isnan(segm_mean_dice(t2, p2, r2, 1, NULL)));
}

/* ---- the fine-tuning's sampling: a function of (seed, step) only ---- */

static void add_slice(segdata *d, const char *id, int z, int organ)
{
    frame f;
    tensor im, lab;
    frame_init(&f, FRAME_DATA);
    frame_set_id(&f, id);
    f.z = z;
    tensor_init2(&im, DT_F32, 16, 16);
    tensor_init2(&lab, DT_U8, 16, 16);
    for (int i = 0; i < 256; i++) {
        ((float *)im.data)[i] = (float)(z * 1000 + i);
        ((uint8_t *)lab.data)[i] = organ && i % 7 == 0 ? (uint8_t)organ : 0;
    }
    frame_tensor_add(&f, "image", &im);
    frame_tensor_add(&f, "label", &lab);
    assert_int_equal(segdata_add(d, &f), 0);
    frame_free(&f);
}

/* grow_array doubles from `first`, and refuses a count whose bytes do not
 * fit a size_t as out of memory, leaving the array and its capacity as
 * they were (a wrapped size would have been a too small block). */
static void test_grow_array(void **state)
{
    (void)state;
    int64_t cap = 0;
    int *a = NULL;
    for (int64_t n = 0; n < 100; n++) {
        int *b = grow_array(a, &cap, n, sizeof *a, 4);
        assert_non_null(b);
        a = b;
        a[n] = (int)n;
    }
    assert_int_equal(cap, 128);
    for (int i = 0; i < 100; i++)
        assert_int_equal(a[i], i);
    int64_t big = (int64_t)(SIZE_MAX / 64) + 1, bigcap = big;
    assert_null(grow_array(a, &bigcap, big, 64, 4));
    assert_int_equal(bigcap, big);
    assert_string_equal(err_get(), "out of memory");
    free(a);
}

static void test_segsample(void **state)
{
    (void)state;
    segdata d;
    segsample s, t;
    float x1[4 * 256], x2[4 * 256];
    uint8_t y1[4 * 256], y2[4 * 256];
    segdata_init(&d, 3);
    /* input order: b before a, z out of order */
    add_slice(&d, "b", 2, 1), add_slice(&d, "b", 0, 0), add_slice(&d, "b", 1, 2);
    add_slice(&d, "a", 5, 1), add_slice(&d, "a", 4, 0);
    assert_int_equal(segdata_finish(&d), 0);
    assert_int_equal(segsample_init(&s, &d, 7, 1.0), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.empty_total, 2);
    /* canonical order: volume ids sorted, then z */
    static const int64_t want_z[5] = {4, 5, 0, 1, 2};
    for (int k = 0; k < 5; k++)
        assert_int_equal(d.z[s.idx[k]], want_z[k]);
    /* every epoch a permutation of the slices */
    for (int e = 0; e < 3; e++) {
        int seen[5] = {0};
        for (int k = 0; k < 5; k++)
            for (int m = 0; m < 5; m++)
                seen[m] += segsample_at(&s, e * 5 + k) == s.idx[m];
        for (int m = 0; m < 5; m++)
            assert_int_equal(seen[m], 1);
    }
    /* batch 3 of a fresh sampler is the one after batches 0..2 */
    assert_int_equal(segsample_init(&t, &d, 7, 1.0), 0);
    for (int step = 0; step < 3; step++)
        segsample_batch(&s, x1, y1, step, 4, 2);
    segsample_batch(&s, x1, y1, 3, 4, 2);
    segsample_batch(&t, x2, y2, 3, 4, 2);
    assert_memory_equal(x1, x2, sizeof x1);
    assert_memory_equal(y1, y2, sizeof y1);
    segsample_free(&t);
    segsample_free(&s);
    /* organ-free slices left out, and none left is an error */
    assert_int_equal(segsample_init(&s, &d, 7, 0.0), 0);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.empty_kept, 0);
    segsample_free(&s);
    segdata_free(&d);
    segdata_init(&d, 3);
    add_slice(&d, "c", 0, 0);
    assert_int_equal(segdata_finish(&d), 0);
    assert_int_equal(segsample_init(&s, &d, 7, 0.0), -1);
    assert_non_null(strstr(err_get(), "no training slice left"));
    segsample_free(&s);
    segdata_free(&d);

    /* the training meter: means of the losses, Dice of all the pixels */
    segloss_meter m = {0};
    segloss_stats st = {0};
    mval rec = {0};
    double v;
    st.loss = 1, st.dice_loss = 0.5, st.ce = 0.25, st.tp[1] = 1, st.npred[1] = 2, st.nref[1] = 2;
    segloss_meter_add(&m, &st, 3);
    st.loss = 3, st.tp[1] = 3, st.npred[1] = 3, st.nref[1] = 5;
    segloss_meter_add(&m, &st, 3);
    mval_set_map(&rec);
    segloss_meter_record(&m, &rec, 3);
    assert_int_equal(mval_get_f64(&rec, "loss", &v), 0);
    assert_true(v == 2);
    assert_int_equal(mval_get_f64(&rec, "train_dice", &v), 0);
    assert_true(fabs(v - 8.0 / 12) < 1e-15);
    assert_int_equal(m.n, 0);
    mval_free(&rec);
}

/* ---- curves, picture names ---- */

static void test_curves_and_names(void **state)
{
    (void)state;
    const char *log = "{\"event\": \"start\"}\n{\"step\": 1, \"loss\": 2.5}\n\n{\"step\": 2, \"loss\": 2.0, \"acc\": 0.5}\n";
    const char *keys[2] = {"loss", "acc"};
    curve c[2];
    int64_t skipped;
    assert_int_equal(tu_write(tmp("m.jsonl"), log, strlen(log)), 0);
    assert_int_equal(curves_read(tmp("m.jsonl"), "step", keys, 2, c, &skipped), 0);
    assert_int_equal(skipped, 1);
    assert_int_equal(c[0].n, 2);
    assert_true(c[0].x[1] == 2 && c[0].y[1] == 2.0);
    assert_int_equal(c[1].n, 1);
    curves_free(c, 2);
    assert_int_equal(tu_write(tmp("bad.jsonl"), "{\"step\": 1}\n{oops\n", 18), 0);
    assert_int_equal(curves_read(tmp("bad.jsonl"), "step", keys, 1, c, &skipped), -1);
    assert_non_null(strstr(err_get(), "bad.jsonl:2:"));

    picfiles pf = {.pattern = "out/%i_%z_%s%%.png"};
    char name[64];
    assert_int_equal(picfiles_name(&pf, name, sizeof name, NULL, "12", 3), 0);
    assert_string_equal(name, "out/noid_12_3%.png");
    pf.pattern = "%q.png";
    assert_int_equal(picfiles_name(&pf, name, sizeof name, "x", "1", 0), -2);
    pf.pattern = "%i%i%i%i";
    assert_int_equal(picfiles_name(&pf, name, 8, "abc", "1", 0), -1);
}

/* ---- isa, the filter skeleton's lists ---- */

static void test_isa_and_lists(void **state)
{
    (void)state;
    int best = isa_active();
    assert_true(isa_cpu_has(ISA_C));
    assert_true(isa_cpu_has(best));
    assert_int_equal(isa_set(ISA_C), 0);
    assert_int_equal(isa_active(), ISA_C);
    assert_int_equal(isa_set(7), -1);
    assert_int_equal(isa_set(best), 0);
    assert_string_equal(isa_name(ISA_AVX512), "avx512");

    strlist in = {0}, names = {0};
    char *argv[] = {"prog", "-x", "a.fr", "b.fr"};
    filter_inputs(&in, 4, 4, argv);
    assert_int_equal(in.n, 1);
    assert_string_equal(in.v[0], "-");
    strlist_free(&in);
    filter_inputs(&in, 2, 4, argv);
    assert_int_equal(in.n, 2);
    assert_string_equal(in.v[1], "b.fr");
    strlist_free(&in);
    assert_true(strlist_wants(&names, "anything"));
    strlist_add(&names, "image");
    assert_true(strlist_wants(&names, "image"));
    assert_false(strlist_wants(&names, "label"));
    frame f;
    tensor t;
    frame_init(&f, FRAME_DATA);
    tensor_init1(&t, DT_U8, 3);
    frame_tensor_add(&f, "image", &t);
    tensor_init1(&t, DT_U8, 3);
    frame_tensor_add(&f, "label", &t);
    filter_keep_tensors(&f, &names);
    assert_int_equal(f.ntensors, 1);
    assert_non_null(frame_tensor_get(&f, "image"));
    frame_free(&f);
    strlist_free(&names);

    /* case ids from paths, as ct-resample, frame-cat and dice-eval name volumes */
    static const char *const exts[] = {".nii.gz", ".nii"};
    static const struct {
        const char *path, *id;
    } ids[] = {{"a/b/subj01.nii.gz", "subj01"}, {"subj01.nii", "subj01"}, {"dir/series/", "series"},
               {"x.nii.gz.nii", "x.nii.gz"}, {".nii.gz", ".nii.gz"}, {"/", ""}, {"a.npy", "a.npy"}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *id = manifest_id_of(ids[i].path, exts, 2);
        assert_non_null(id);
        if (strcmp(id, ids[i].id))
            fail_msg("%s: id '%s', want '%s'", ids[i].path, id, ids[i].id);
        free(id);
    }
    /* the trainers' shared options onto a U-Net's and a ResNet's configuration */
    trainopts to;
    unet_config uc = {0};
    resnet_config rc = {0};
    trainopts_default(&to);
    assert_int_equal(trainopts_unet(&to, &uc), 0);
    assert_int_equal(trainopts_resnet(&to, &rc), 0);
    to.norm = "group", to.have_dim = 1, to.dim = 32, to.have_depth = 1, to.depth = 34;
    assert_int_equal(trainopts_unet(&to, &uc), 1);
    assert_int_equal(trainopts_resnet(&to, &rc), 1);
    assert_true(uc.norm == NORM_GROUP && uc.out_ch == 32 && rc.norm == NORM_GROUP && rc.depth == 34);
    to.schedule = "cosine", to.warmup = 7;
    sched_config sc = trainopts_sched(&to);
    assert_true(sc.kind == SCHED_COSINE && sc.warmup_steps == 7 && sc.step_size == 1000);

    int64_t w, h;
    assert_int_equal(parse_wxh("800x500", &w, &h, 1, 8000), 0);
    assert_true(w == 800 && h == 500);
    assert_int_equal(parse_wxh("800", &w, &h, 1, 8000), -1);
    assert_int_equal(parse_wxh("800x", &w, &h, 1, 8000), -1);
    assert_int_equal(parse_wxh("9000x500", &w, &h, 1, 8000), -1);
    assert_non_null(strstr(err_get(), "from 1 to 8000"));
    int show[VS_NPANEL];
    assert_int_equal(vslice_parse_show("label,image", show), 0);
    assert_true(show[VS_IMAGE] && show[VS_LABEL] && !show[VS_PRED] && !show[VS_REGIONS]);
    assert_int_equal(vslice_parse_show("image,foo", show), -1);
    assert_non_null(strstr(err_get(), "unknown panel 'foo'"));
    assert_int_equal(vslice_parse_show("regions,", show), 0);
    assert_true(show[VS_REGIONS]);
}

/* ---- the engine says once at -v when the direct kernel declines a layer ---- */

static void test_conv_fallback_note(void **state)
{
    (void)state;
    float in[2 * 2 * 2] = {1, 2, 3, 4, 5, 6, 7, 8}, w[4 * 2 * 9], out[4 * 2 * 2], ref[4 * 2 * 2];
    int old = log_level, saved, fd;
    if (isa_active() != ISA_AVX512) {
        print_message("no AVX-512: the direct kernels never run, nothing to say\n");
        skip();
    }
    for (int i = 0; i < 4 * 2 * 9; i++)
        w[i] = (float)(i % 7) - 3;
    fflush(stderr);
    saved = dup(2);
    fd = fileno(fopen(tmp("note.txt"), "w"));
    dup2(fd, 2);
    log_level = 2;
    for (int k = 0; k < 3; k++) /* a 2x2 plane: not a multiple of 16 pixels */
        conv2d_forward(out, in, w, NULL, 1, 2, 2, 2, 4, 3, 1, 1);
    log_level = old;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *txt = tu_read(tmp("note.txt"), NULL);
    assert_non_null(txt);
    assert_int_equal(tu_count_lines(txt), 1);
    assert_non_null(strstr(txt, "convolution on a 2x2 plane: the direct AVX-512 kernel does not take it"));
    free(txt);
    /* and the result is the convolution: a naive loop */
    for (int oc = 0; oc < 4; oc++)
        for (int y = 0; y < 2; y++)
            for (int x = 0; x < 2; x++) {
                double acc = 0;
                for (int c = 0; c < 2; c++)
                    for (int dy = -1; dy <= 1; dy++)
                        for (int dx = -1; dx <= 1; dx++)
                            if (y + dy >= 0 && y + dy < 2 && x + dx >= 0 && x + dx < 2)
                                acc += w[((oc * 2 + c) * 3 + dy + 1) * 3 + dx + 1] * in[(c * 2 + y + dy) * 2 + x + dx];
                ref[(oc * 2 + y) * 2 + x] = (float)acc;
            }
    for (int i = 0; i < 16; i++)
        assert_true(fabsf(out[i] - ref[i]) <= 1e-5f * (1 + fabsf(ref[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recpool_order),   cmocka_unit_test(test_slicegroup_rule),
        cmocka_unit_test(test_trainloop),       cmocka_unit_test(test_body_components),
        cmocka_unit_test(test_labels_and_json), cmocka_unit_test(test_segreport),
        cmocka_unit_test(test_curves_and_names), cmocka_unit_test(test_isa_and_lists),
        cmocka_unit_test(test_conv_fallback_note), cmocka_unit_test(test_dice_count),
        cmocka_unit_test(test_segsample),       cmocka_unit_test(test_grow_array),
    };
    err_init("test_libparts");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
