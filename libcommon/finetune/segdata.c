/* segdata — labelled slices in memory, grouped by volume; case lists. See segdata.h. */
#include "finetune/segdata.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/grow.h"

void segdata_init(segdata *d, int classes)
{
    memset(d, 0, sizeof *d);
    d->C = classes;
}

static void free_names(char **v, int n)
{
    if (!v)
        return;
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void segdata_free(segdata *d)
{
    free_names(d->classes, d->C);
    free(d->img);
    free(d->lab);
    free(d->z);
    free(d->vol);
    for (int i = 0; i < d->nvol; i++) {
        free(d->vols[i].id);
        free(d->vols[i].slice);
    }
    free(d->vols);
    memset(d, 0, sizeof *d);
}

int segdata_find(const segdata *d, const char *id)
{
    for (int i = 0; i < d->nvol; i++)
        if (!strcmp(d->vols[i].id, id))
            return i;
    return -1;
}

/* meta 'classes' of a record: 1 absent, 0 read into *names / *n, -1 bad */
static int meta_classes(const frame *f, char ***names, int *n)
{
    const mval *c = f->meta.kind == MV_MAP ? mval_map_get(&f->meta, "classes") : NULL;
    if (!c)
        return 1;
    if (c->kind != MV_ARRAY || c->a.n < 1 || c->a.n > 256)
        return err_set("meta 'classes' must be an array of 1 to 256 names");
    char **v = calloc(c->a.n, sizeof *v);
    if (!v)
        return err_set("out of memory");
    for (size_t i = 0; i < c->a.n; i++) {
        if (c->a.v[i].kind != MV_STR || !(v[i] = strdup(c->a.v[i].s.p))) {
            free_names(v, (int)i);
            return err_set("meta 'classes' must be an array of strings");
        }
    }
    *names = v;
    *n = (int)c->a.n;
    return 0;
}

static int check_classes(segdata *d, const frame *f)
{
    char **names = NULL;
    int n = 0, rc = meta_classes(f, &names, &n);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (!d->C)
            return err_set("no meta 'classes' to tell the class count (give --classes N, background included)");
        return 0;
    }
    if (d->classes) {
        int same = n == d->C;
        for (int i = 0; same && i < n; i++)
            same = !strcmp(names[i], d->classes[i]);
        free_names(names, n);
        return same ? 0 : err_set("meta 'classes' differs from the earlier records'");
    }
    if (n < 2) {
        free_names(names, n);
        return err_set("meta 'classes' lists %d class; training needs the background and at least one organ", n);
    }
    if (d->C && d->C != n) {
        int c = d->C;
        free_names(names, n);
        return err_set("meta 'classes' lists %d classes, --classes says %d", n, c);
    }
    d->C = n;
    d->classes = names;
    return 0;
}

static int grow(segdata *d, size_t px)
{
    int64_t cap = d->cap ? 2 * d->cap : 64;
    float *img = realloc(d->img, (size_t)cap * px * sizeof(float));
    if (img)
        d->img = img;
    uint8_t *lab = realloc(d->lab, (size_t)cap * px);
    if (lab)
        d->lab = lab;
    int64_t *z = realloc(d->z, (size_t)cap * sizeof *z);
    if (z)
        d->z = z;
    int32_t *vol = realloc(d->vol, (size_t)cap * sizeof *vol);
    if (vol)
        d->vol = vol;
    if (!img || !lab || !z || !vol)
        return err_set("out of memory (%lld slices of %dx%d)", (long long)cap, d->H, d->W);
    d->cap = cap;
    return 0;
}

static int add_to_volume(segdata *d, const char *id, int64_t idx, int64_t seq)
{
    int v = segdata_find(d, id);
    if (v < 0) {
        segvol *p = grow_array(d->vols, &d->volcap, d->nvol, sizeof *p, 16);
        if (!p)
            return -1;
        d->vols = p;
        v = d->nvol;
        memset(&d->vols[v], 0, sizeof d->vols[v]);
        if (!(d->vols[v].id = strdup(id)))
            return err_set("out of memory");
        d->vols[v].seq0 = seq;
        d->nvol++;
    }
    segvol *sv = &d->vols[v];
    int64_t *slice = grow_array(sv->slice, &sv->cap, sv->n, sizeof *slice, 64);
    if (!slice)
        return -1;
    sv->slice = slice;
    sv->slice[sv->n++] = idx;
    d->vol[idx] = v;
    return 0;
}

static int is_int_dtype(dtype dt)
{
    return dt == DT_U8 || dt == DT_I8 || dt == DT_I16 || dt == DT_I32 || dt == DT_I64;
}

static int add_slice(segdata *d, const frame *f)
{
    const tensor *im = frame_tensor_get(f, "image"), *lb = frame_tensor_get(f, "label");
    char b1[64], b2[64];
    if (!f->id)
        return err_set("no volume id (slice frames from slice-extract carry one)");
    if (f->z < 0)
        return err_set("z = %lld: a volume record, not a slice (pipe it through slice-extract)", (long long)f->z);
    if (!im)
        return err_set("no 'image' tensor");
    if (!lb)
        return err_set("no 'label' tensor (training needs labelled slices; --predict takes unlabelled ones)");
    if (im->rank != 2)
        return err_set("'image' has shape %s, expected [Y, X]", tensor_shape_str(im, b1, sizeof b1));
    if (!tensor_same_shape(im, lb))
        return err_set("'label' has shape %s, 'image' %s", tensor_shape_str(lb, b1, sizeof b1),
                       tensor_shape_str(im, b2, sizeof b2));
    if (!is_int_dtype(lb->dtype))
        return err_set("'label' has dtype %s; label maps are integers (uint8)", dtype_name(lb->dtype));
    const int64_t H = im->shape[0], W = im->shape[1];
    if (!d->H) {
        if (H < 16 || W < 16 || H % 16 || W % 16 || H > 8192 || W > 8192)
            return err_set("slices of %lldx%lld pixels; the networks need sides that are multiples of 16 "
                           "(slice-extract --size)",
                           (long long)H, (long long)W);
        d->H = (int)H, d->W = (int)W;
    } else if (H != d->H || W != d->W) {
        return err_set("a slice of %lldx%lld pixels, earlier slices are %dx%d (one size per run)", (long long)H,
                       (long long)W, d->H, d->W);
    }
    if (check_classes(d, f))
        return -1;
    const size_t px = (size_t)H * W;
    if (d->n == d->cap && grow(d, px))
        return -1;
    float *dst = d->img + (size_t)d->n * px;
    uint8_t *ldst = d->lab + (size_t)d->n * px;
    for (size_t i = 0; i < px; i++) {
        double v = tensor_get(im, i);
        if (!isfinite(v))
            return err_set("'image' holds a NaN or infinite value at pixel %zu", i);
        dst[i] = (float)v;
        double l = tensor_get(lb, i);
        if (l < 0 || l >= d->C) {
            if (d->classes)
                return err_set("label value %.0f at pixel (%zu, %zu) is not a class (0..%d: meta 'classes')", l,
                               i / (size_t)W, i % (size_t)W, d->C - 1);
            return err_set("label value %.0f at pixel (%zu, %zu) is not a class (0..%d: --classes %d)", l,
                           i / (size_t)W, i % (size_t)W, d->C - 1, d->C);
        }
        ldst[i] = (uint8_t)l;
    }
    d->z[d->n] = f->z;
    if (add_to_volume(d, f->id, d->n, f->seq))
        return -1;
    d->n++;
    return 0;
}

int segdata_add(segdata *d, const frame *f)
{
    if (add_slice(d, f))
        return err_prefix("record seq %lld (%s z %lld)", (long long)f->seq, f->id ? f->id : "no id",
                          (long long)f->z);
    return 0;
}

static const segdata *sort_d;

static int by_z(const void *a, const void *b)
{
    int64_t za = sort_d->z[*(const int64_t *)a], zb = sort_d->z[*(const int64_t *)b];
    return za < zb ? -1 : za > zb;
}

int segdata_finish(segdata *d)
{
    sort_d = d;
    for (int v = 0; v < d->nvol; v++) {
        segvol *sv = &d->vols[v];
        qsort(sv->slice, (size_t)sv->n, sizeof *sv->slice, by_z);
        for (int64_t i = 1; i < sv->n; i++)
            if (d->z[sv->slice[i]] == d->z[sv->slice[i - 1]])
                return err_set("volume %s: slice z %lld is in the input twice", sv->id,
                               (long long)d->z[sv->slice[i]]);
    }
    return 0;
}

int segdata_has_organ(const segdata *d, int64_t i)
{
    const size_t px = (size_t)d->H * d->W;
    const uint8_t *l = d->lab + (size_t)i * px;
    for (size_t k = 0; k < px; k++)
        if (l[k])
            return 1;
    return 0;
}

int segdata_same_classes(segdata *e, const segdata *d)
{
    if (!e->C && !e->classes) {
        e->C = d->C;
        if (d->classes) {
            if (!(e->classes = calloc((size_t)d->C, sizeof *e->classes)))
                return err_set("out of memory");
            for (int i = 0; i < d->C; i++)
                if (!(e->classes[i] = strdup(d->classes[i])))
                    return err_set("out of memory");
        }
        return 0;
    }
    if (e->C != d->C)
        return err_set("%d classes, the training slices have %d", e->C, d->C);
    if (e->classes && d->classes)
        for (int i = 0; i < d->C; i++)
            if (strcmp(e->classes[i], d->classes[i]))
                return err_set("class %d is '%s', in the training slices '%s'", i, e->classes[i], d->classes[i]);
    return 0;
}

/* ---- case lists ---- */

int caselist_load(caselist *l, const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    int lineno = 0;
    memset(l, 0, sizeof *l);
    if (!fp)
        return err_set("%s:", path);
    while (fgets(line, sizeof line, fp)) {
        char *s = line, *e;
        lineno++;
        if (!strchr(line, '\n') && !feof(fp)) {
            fclose(fp);
            caselist_free(l);
            return err_set("%s: line %d is too long", path, lineno);
        }
        while (isspace((unsigned char)*s))
            s++;
        e = s + strlen(s);
        while (e > s && isspace((unsigned char)e[-1]))
            *--e = '\0';
        if (!*s || *s == '#')
            continue;
        if (caselist_has(l, s)) {
            fclose(fp);
            caselist_free(l);
            return err_set("%s: line %d: '%s' is listed twice", path, lineno, s);
        }
        char **p = realloc(l->id, (size_t)(l->n + 1) * sizeof *p);
        if (!p || !(p[l->n] = strdup(s))) {
            if (p)
                l->id = p;
            fclose(fp);
            caselist_free(l);
            return err_set("out of memory");
        }
        l->id = p;
        l->n++;
    }
    int bad = ferror(fp);
    fclose(fp);
    if (bad) {
        caselist_free(l);
        return err_set("%s: read error", path);
    }
    if (!l->n)
        return err_set("%s: lists no volume id", path);
    return 0;
}

void caselist_free(caselist *l)
{
    for (int i = 0; i < l->n; i++)
        free(l->id[i]);
    free(l->id);
    memset(l, 0, sizeof *l);
}

int caselist_has(const caselist *l, const char *id)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->id[i], id))
            return 1;
    return 0;
}

void segdata_copy_shifted(float *x, uint8_t *y, const segdata *d, int64_t i, int dy, int dx, float fill)
{
    const int H = d->H, W = d->W;
    const float *img = d->img + (size_t)i * H * W;
    const uint8_t *lab = d->lab + (size_t)i * H * W;
    /* columns c with 0 <= c + dx < W: [c0, c1) */
    const int c0 = dx < 0 ? (-dx < W ? -dx : W) : 0, c1 = dx > 0 ? (W - dx > 0 ? W - dx : 0) : W;
    for (int r = 0; r < H; r++) {
        float *xr = x + (size_t)r * W;
        uint8_t *yr = y + (size_t)r * W;
        const int rs = r + dy;
        if (rs < 0 || rs >= H || c0 >= c1) {
            for (int c = 0; c < W; c++)
                xr[c] = fill;
            memset(yr, 0, (size_t)W);
            continue;
        }
        for (int c = 0; c < c0; c++)
            xr[c] = fill;
        for (int c = c1; c < W; c++)
            xr[c] = fill;
        memset(yr, 0, (size_t)c0);
        memset(yr + c1, 0, (size_t)(W - c1));
        memcpy(xr + c0, img + (size_t)rs * W + c0 + dx, (size_t)(c1 - c0) * sizeof(float));
        memcpy(yr + c0, lab + (size_t)rs * W + c0 + dx, (size_t)(c1 - c0));
    }
}

/* Which set a volume id belongs to: 't', 'v' or 0 (neither). */
static int role_of(const char *id, int from_val_input, const caselist *cases, const caselist *val,
                   const segdata_sets *o)
{
    if (from_val_input)
        return caselist_has(val, id) ? 'v' : 0;
    if (o->cases ? caselist_has(cases, id) : !caselist_has(val, id))
        return 't';
    if (!o->val_input && caselist_has(val, id))
        return 'v';
    return 0;
}

static int read_input(segdata *tr, segdata *va, const caselist *cases, const caselist *val, const segdata_sets *o,
                      int from_val_input, int64_t *skipped, stream_in **inp)
{
    stream_in *in = *inp = stream_in_open(from_val_input ? o->val_input : o->input);
    frame f;
    int rc;
    if (!in)
        return -1;
    while ((rc = stream_in_next(in, &f)) > 0) {
        int role = f.id ? role_of(f.id, from_val_input, cases, val, o) : 't';
        if (role && segdata_add(role == 't' ? tr : va, &f)) {
            frame_free(&f);
            return err_prefix("%s", stream_in_name(in));
        }
        *skipped += !role;
        frame_free(&f);
    }
    if (rc < 0)
        return err_prefix("%s", stream_in_name(in));
    stream_in_close(in);
    *inp = NULL;
    return 0;
}

int segdata_read_sets(segdata *tr, segdata *va, caselist *cases, caselist *val, const segdata_sets *o,
                      int64_t *skipped, stream_in **in)
{
    const char *val_from = o->val_input ? o->val_input : o->input;
    segdata_init(tr, o->classes);
    segdata_init(va, o->classes);
    *skipped = 0;
    if (o->cases && caselist_load(cases, o->cases))
        return err_prefix("--cases");
    if (o->val_cases && caselist_load(val, o->val_cases))
        return err_prefix("--val-cases");
    for (int i = 0; i < cases->n; i++)
        if (caselist_has(val, cases->id[i]))
            return err_set("volume '%s' is in both --cases %s and --val-cases %s (validation must be held out)",
                           cases->id[i], o->cases, o->val_cases);
    if (read_input(tr, va, cases, val, o, 0, skipped, in) ||
        (o->val_input && read_input(tr, va, cases, val, o, 1, skipped, in)))
        return -1;
    if (segdata_finish(tr))
        return err_prefix("%s", o->input);
    if (segdata_finish(va))
        return err_prefix("%s", val_from);
    for (int i = 0; i < cases->n; i++)
        if (segdata_find(tr, cases->id[i]) < 0)
            return err_set("--cases %s: volume '%s' has no slices in %s", o->cases, cases->id[i], o->input);
    for (int i = 0; i < val->n; i++)
        if (segdata_find(va, val->id[i]) < 0)
            return err_set("--val-cases %s: volume '%s' has no slices in %s", o->val_cases, val->id[i], val_from);
    if (!tr->n)
        return err_set("%s: no training slices (%lld records of other volumes)", o->input, (long long)*skipped);
    if (va->n) {
        if (va->H != tr->H || va->W != tr->W)
            return err_set("validation slices are %dx%d, training slices %dx%d (one size per run)", va->H, va->W,
                           tr->H, tr->W);
        if (segdata_same_classes(va, tr))
            return err_prefix("validation slices");
    }
    return 0;
}
