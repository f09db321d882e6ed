#include "viz/vslice.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "viz/kmeans.h"
#include "viz/view.h"

int vslice_list(const frame *f, int64_t zlo, int64_t zhi, int every, int radio, vslice **out)
{
    static const char *grid_names[] = {"image", "label", "pred", "regions", "image_p", "regions_p"};
    const tensor *t = NULL;
    char buf[64];
    int n = 0;
    for (size_t i = 0; i < sizeof grid_names / sizeof grid_names[0] && !t; i++)
        t = frame_tensor_get(f, grid_names[i]);
    *out = NULL;
    if (!t)
        return err_set("record seq %lld (id %s): nothing to draw (no image, label, pred or regions)",
                       (long long)f->seq, f->id ? f->id : "-");
    if (!(t->rank == 2 || (t->rank == 3 && f->z < 0)))
        return err_set("record seq %lld (id %s): tensors %s with z = %lld; want [Y,X] slices or [Z,Y,X] volumes (z = -1)",
                       (long long)f->seq, f->id ? f->id : "-", tensor_shape_str(t, buf, sizeof buf), (long long)f->z);
    int64_t nz = t->rank == 2 ? 1 : t->shape[0], Y = t->shape[t->rank - 2], X = t->shape[t->rank - 1];
    if (Y < 1 || X < 1 || Y > 8192 || X > 8192)
        return err_set("record seq %lld: a %lldx%lld slice", (long long)f->seq, (long long)Y, (long long)X);
    if (!(*out = malloc(sizeof **out * (size_t)(nz ? nz : 1))))
        return err_set("out of memory");
    for (int64_t z = 0; z < nz; z++) {
        int64_t zz = t->rank == 2 ? f->z : z;
        if (zz < zlo || zz > zhi || (t->rank == 3 && z % every))
            continue;
        (*out)[n++] = (vslice){f, zz, t->rank == 2 ? -1 : z, (int)Y, (int)X, radio};
    }
    return n;
}

/* The tensor name on the slice's grid, NULL if absent (0) or not on it (-1). */
static int get(const vslice *s, const char *name, const tensor **t)
{
    char buf[64];
    int want = s->zi < 0 ? 2 : 3;
    *t = frame_tensor_get(s->f, name);
    if (!*t)
        return 0;
    if ((*t)->rank != want || (*t)->shape[(*t)->rank - 2] != s->Y || (*t)->shape[(*t)->rank - 1] != s->X)
        return err_set("record seq %lld (id %s): '%s' %s does not match the slice's %dx%d grid", (long long)s->f->seq,
                       s->f->id ? s->f->id : "-", name, tensor_shape_str(*t, buf, sizeof buf), s->Y, s->X);
    return 0;
}

static size_t plane_offset(const vslice *s)
{
    return s->zi < 0 ? 0 : (size_t)s->zi * (size_t)s->Y * (size_t)s->X;
}

/* Index in the stored plane of displayed pixel i. */
static size_t src_index(const vslice *s, size_t i)
{
    return s->radio ? (size_t)s->Y * (size_t)s->X - 1 - i : i;
}

/* The tensor, or 0 with *out NULL, for a reader that wants integers. */
static int get_int(const vslice *s, const char *name, const char *what, const tensor **t)
{
    if (get(s, name, t))
        return -1;
    if (*t && ((*t)->dtype == DT_F32 || (*t)->dtype == DT_F64))
        return err_set("record seq %lld (id %s): '%s' is %s; a %s map must hold integers", (long long)s->f->seq,
                       s->f->id ? s->f->id : "-", name, dtype_name((*t)->dtype), what);
    return 0;
}

int vslice_float(const vslice *s, const char *name, float **out)
{
    const tensor *t;
    size_t n = (size_t)s->Y * (size_t)s->X, off = plane_offset(s);
    *out = NULL;
    if (get(s, name, &t) || !t)
        return t ? -1 : 0;
    if (!(*out = malloc(sizeof **out * n)))
        return err_set("out of memory");
    for (size_t i = 0; i < n; i++)
        (*out)[i] = (float)tensor_get(t, off + src_index(s, i));
    return 0;
}

int vslice_labels(const vslice *s, const char *name, uint8_t **out)
{
    const tensor *t;
    size_t n = (size_t)s->Y * (size_t)s->X, off = plane_offset(s);
    *out = NULL;
    if (get_int(s, name, "label", &t) || !t)
        return t ? -1 : 0;
    if (!(*out = malloc(n)))
        return err_set("out of memory");
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, off + src_index(s, i));
        if (v < 0 || v > 255) {
            free(*out);
            *out = NULL;
            return err_set("record seq %lld (id %s): '%s' has value %.0f, outside 0..255", (long long)s->f->seq,
                           s->f->id ? s->f->id : "-", name, v);
        }
        (*out)[i] = (uint8_t)v;
    }
    return 0;
}

int vslice_regions(const vslice *s, const char *name, int32_t **out, int32_t *kmax)
{
    const tensor *t;
    size_t n = (size_t)s->Y * (size_t)s->X, off = plane_offset(s);
    *out = NULL;
    *kmax = -1;
    if (get_int(s, name, "region", &t) || !t)
        return t ? -1 : 0;
    if (!(*out = malloc(sizeof **out * n)))
        return err_set("out of memory");
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, off + src_index(s, i));
        (*out)[i] = v < 0 ? -1 : v > INT32_MAX ? INT32_MAX : (int32_t)v;
        if ((*out)[i] > *kmax)
            *kmax = (*out)[i];
    }
    return 0;
}

void vslice_window(const vslice *s, const float *img, const double *fixed, double w[2])
{
    if (fixed) {
        w[0] = fixed[0], w[1] = fixed[1];
        return;
    }
    if (mval_map_get(&s->f->meta, "window")) {
        w[0] = 0, w[1] = 1;
        return;
    }
    w[0] = INFINITY, w[1] = -INFINITY;
    size_t n = (size_t)s->Y * (size_t)s->X;
    for (size_t i = 0; img && i < n; i++)
        if (isfinite(img[i])) {
            w[0] = fmin(w[0], img[i]);
            w[1] = fmax(w[1], img[i]);
        }
    if (!(w[1] >= w[0]))
        w[0] = 0, w[1] = 1;
}

int vslice_grey(const vslice *s, const double *fixed, uint8_t **out)
{
    float *img;
    double w[2];
    size_t np = (size_t)s->Y * (size_t)s->X;
    *out = NULL;
    if (vslice_float(s, "image", &img) || !img)
        return img ? -1 : 0;
    vslice_window(s, img, fixed, w);
    if (!(*out = malloc(np))) {
        free(img);
        return err_set("out of memory");
    }
    for (size_t p = 0; p < np; p++) {
        double t = w[1] > w[0] ? (img[p] - w[0]) / (w[1] - w[0]) * 255 : img[p] >= w[1] ? 255 : 0;
        (*out)[p] = isnan(t) || t <= 0 ? 0 : t >= 255 ? 255 : (uint8_t)lround(t);
    }
    free(img);
    return 0;
}

int vslice_clusters(const vslice *s, int k, int iters, uint64_t seed, int32_t **out)
{
    const tensor *t = frame_tensor_get(s->f, "features");
    char buf[64];
    int64_t D, FY, FX;
    *out = NULL;
    if (t && t->rank == 3 && s->zi < 0)
        D = t->shape[0], FY = t->shape[1], FX = t->shape[2];
    else if (t && t->rank == 4 && t->shape[0] == 1 && s->zi < 0)
        D = t->shape[1], FY = t->shape[2], FX = t->shape[3];
    else
        return err_set("record seq %lld (id %s): 'features' %s; want [D,Y,X] or [1,D,Y,X] on a slice record",
                       (long long)s->f->seq, s->f->id ? s->f->id : "-",
                       t ? tensor_shape_str(t, buf, sizeof buf) : "missing");
    if (t->dtype != DT_F32)
        return err_set("record seq %lld: 'features' is %s, want f32", (long long)s->f->seq, dtype_name(t->dtype));
    int64_t n = FY * FX;
    if (k > n)
        return err_set("record seq %lld: --k %d is more than the %lld feature vectors", (long long)s->f->seq, k,
                       (long long)n);
    /* [D, FY*FX] -> points [N, D] */
    float *x = malloc(sizeof *x * (size_t)(n * D));
    int32_t *a = malloc(sizeof *a * (size_t)n);
    kmeans_info info;
    if (!x || !a || !(*out = malloc(sizeof **out * (size_t)s->Y * (size_t)s->X))) {
        free(x), free(a);
        return err_set("out of memory");
    }
    const float *src = t->data;
    for (int64_t d = 0; d < D; d++)
        for (int64_t i = 0; i < n; i++)
            x[i * D + d] = src[d * n + i];
    if (kmeans(a, NULL, x, n, (int)D, k, iters, seed, &info)) {
        free(x), free(a), free(*out);
        *out = NULL;
        return -1;
    }
    log_debug("id %s z %lld: K-means K=%d, %d iterations%s, inertia %g", s->f->id ? s->f->id : "-", (long long)s->z,
              k, info.iters, info.converged ? "" : " (not converged)", info.inertia);
    free(x);
    /* Nearest-neighbour onto the slice grid when the features are smaller. */
    for (int y = 0; y < s->Y; y++)
        for (int xx = 0; xx < s->X; xx++)
            (*out)[src_index(s, (size_t)y * s->X + xx)] = a[(y * FY / s->Y) * FX + xx * FX / s->X];
    free(a);
    return 0;
}

const char *const vslice_panel_names[VS_NPANEL] = {"image", "label", "pred", "regions", "clusters"};

int vslice_parse_show(const char *list, int show[VS_NPANEL])
{
    memset(show, 0, sizeof *show * VS_NPANEL);
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, ",");
        int k = 0;
        while (k < VS_NPANEL && (strlen(vslice_panel_names[k]) != n || strncmp(p, vslice_panel_names[k], n)))
            k++;
        if (k == VS_NPANEL)
            return err_set("unknown panel '%.*s' (image, label, pred, regions, clusters)", (int)n, p);
        show[k] = 1;
        p += n + (p[n] == ',');
    }
    return 0;
}

/* The pair record's two views. */
static int pair_figure(figure *fig, const vslice *s, const vslice_panels *o, const figure_style *st, const float *img,
                       const double w[2])
{
    const int Y = s->Y, X = s->X, zoom = figure_zoom(st, Y, X);
    float *img2 = NULL;
    int32_t k1, k2, *r1 = NULL, *r2 = NULL;
    uint8_t *l1 = NULL, *l2 = NULL;
    figure_panel *p;
    char title[128];
    int rc = -1;
    if (vslice_float(s, "image_p", &img2) || vslice_regions(s, "regions", &r1, &k1) ||
        vslice_regions(s, "regions_p", &r2, &k2) || (!r1 && vslice_labels(s, "label", &l1)) ||
        (!r2 && vslice_labels(s, "label_p", &l2)))
        goto out;
    snprintf(title, sizeof title, "view q%s", r1 ? "" : " (no regions)");
    if (!(p = figure_add(fig, st, img, Y, X, w, title)))
        goto out;
    if (r1)
        view_regions(&p->c, r1, Y, X, zoom, !o->regions_fill, o->alpha, o->seed, 0);
    else if (l1)
        figure_labels(fig, p, st, l1, Y, X, o->alpha, o->outline);
    if (!(p = figure_add(fig, st, img2, Y, X, w, "view p (elastic)")))
        goto out;
    if (r2)
        view_regions(&p->c, r2, Y, X, zoom, !o->regions_fill, o->alpha, o->seed, 0);
    else if (l2)
        figure_labels(fig, p, st, l2, Y, X, o->alpha, o->outline);
    rc = 0;
out:
    free(img2), free(r1), free(r2), free(l1), free(l2);
    return rc;
}

/* A missing tensor a panel needs. */
static int lacks(const vslice *s, const char *what)
{
    return err_set("record seq %lld (id %s): no '%s' to %s", (long long)s->f->seq, s->f->id ? s->f->id : "-", what,
                   strcmp(what, "features") ? "show" : "cluster");
}

/* One panel k of the slice. */
static int add_panel(figure *fig, const vslice *s, const vslice_panels *o, const figure_style *st, int k,
                     const float *img, const double w[2], const int32_t *reg, int32_t kreg)
{
    const int Y = s->Y, X = s->X, zoom = figure_zoom(st, Y, X);
    figure_panel *p;
    char title[128];
    if (k == VS_LABEL || k == VS_PRED) {
        uint8_t *lab;
        if (vslice_labels(s, vslice_panel_names[k], &lab))
            return -1;
        if (!lab)
            return lacks(s, vslice_panel_names[k]);
        if ((p = figure_add(fig, st, img, Y, X, w, k == VS_LABEL ? "ground truth" : "prediction")))
            figure_labels(fig, p, st, lab, Y, X, o->alpha, o->outline);
        free(lab);
        return p ? 0 : -1;
    }
    if (k == VS_REGIONS) {
        if (!reg)
            return lacks(s, "regions");
        snprintf(title, sizeof title, "regions (%d)", (int)kreg + 1);
        if (!(p = figure_add(fig, st, img, Y, X, w, title)))
            return -1;
        view_regions(&p->c, reg, Y, X, zoom, !o->regions_fill, o->alpha, o->seed, 0);
        return 0;
    }
    if (k == VS_CLUSTERS) {
        int64_t mk = 0;
        int kk = o->k;
        int32_t *cl;
        if (!frame_tensor_get(s->f, "features"))
            return lacks(s, "features");
        if (!kk && mval_get_i64(&s->f->meta, "K", &mk) == 0 && mk > 0 && mk < (1 << 20))
            kk = (int)mk;
        if (!kk && reg)
            kk = kreg + 1 > 0 ? kreg + 1 : 8;
        if (!kk)
            kk = 8;
        if (vslice_clusters(s, kk, o->iters, o->seed, &cl))
            return -1;
        snprintf(title, sizeof title, "K-means (K=%d)", kk);
        if ((p = figure_add(fig, st, img, Y, X, w, title)))
            view_regions(&p->c, cl, Y, X, zoom, 0, o->regions_fill ? o->alpha : 1, o->seed, 1);
        free(cl);
        return p ? 0 : -1;
    }
    return figure_add(fig, st, img, Y, X, w, "image") ? 0 : -1;
}

int vslice_figure(figure *fig, const vslice *s, const vslice_panels *o, const figure_style *st)
{
    float *img;
    int32_t kreg = -1, *reg = NULL;
    int show[VS_NPANEL], rc = 0;
    double w[2];
    memset(fig, 0, sizeof *fig);
    if (vslice_float(s, "image", &img))
        return -1;
    vslice_window(s, img, o->window, w);
    if (frame_tensor_get(s->f, "image_p") || frame_tensor_get(s->f, "regions_p")) {
        rc = pair_figure(fig, s, o, st, img, w);
        free(img);
        return rc;
    }
    memcpy(show, o->show, sizeof show);
    if (!o->show_given) {
        show[VS_LABEL] = frame_tensor_get(s->f, "label") != NULL;
        show[VS_PRED] = frame_tensor_get(s->f, "pred") != NULL;
        show[VS_REGIONS] = frame_tensor_get(s->f, "regions") != NULL;
        show[VS_CLUSTERS] = frame_tensor_get(s->f, "features") != NULL;
        show[VS_IMAGE] = !(show[VS_LABEL] || show[VS_PRED] || show[VS_REGIONS] || show[VS_CLUSTERS]);
    }
    if ((show[VS_REGIONS] || show[VS_CLUSTERS]) && vslice_regions(s, "regions", &reg, &kreg))
        rc = -1;
    for (int k = 0; k < VS_NPANEL && !rc; k++)
        if (show[k])
            rc = add_panel(fig, s, o, st, k, img, w, reg, kreg);
    free(reg);
    free(img);
    return rc;
}
