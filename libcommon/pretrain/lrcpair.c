#include "pretrain/lrcpair.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const char *NEED_PAIRS = "lrc-train needs pair frames (image, regions, image_p, regions_p) from elastic-aug";

static const tensor *get2d(const frame *f, const char *name, int *H, int *W)
{
    char buf[128];
    const tensor *t = frame_tensor_get(f, name);
    if (!t) {
        err_set("no '%s' tensor (%s)", name, NEED_PAIRS);
        return NULL;
    }
    if (t->rank != 2 || t->shape[0] < 1 || t->shape[1] < 1) {
        err_set("'%s' has shape %s, expected [Y, X]", name, tensor_shape_str(t, buf, sizeof buf));
        return NULL;
    }
    if (*H < 0) {
        if (t->shape[0] > 1 << 15 || t->shape[1] > 1 << 15) {
            err_set("'%s' of %lldx%lld pixels is too large", name, (long long)t->shape[0], (long long)t->shape[1]);
            return NULL;
        }
        *H = (int)t->shape[0];
        *W = (int)t->shape[1];
    } else if (t->shape[0] != *H || t->shape[1] != *W) {
        err_set("'%s' is %lldx%lld but 'image' is %dx%d (the two views and their region maps must have one shape)",
                name, (long long)t->shape[0], (long long)t->shape[1], *H, *W);
        return NULL;
    }
    return t;
}

static int get_image(float *out, const tensor *t, const char *name)
{
    size_t n = tensor_numel(t);
    if (t->dtype == DT_F32)
        memcpy(out, t->data, n * sizeof *out);
    else
        for (size_t i = 0; i < n; i++)
            out[i] = (float)tensor_get(t, i);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(out[i]))
            return err_set("'%s' has a non-finite value at pixel %zu", name, i);
    return 0;
}

static int get_regions(int32_t *out, const tensor *t, const char *name)
{
    size_t n = tensor_numel(t);
    if (t->dtype == DT_F32 || t->dtype == DT_F64)
        return err_set("'%s' is %s; region maps are integer (int32)", name, dtype_str(t->dtype));
    for (size_t i = 0; i < n; i++) {
        double v = t->dtype == DT_I32 ? ((const int32_t *)t->data)[i] : tensor_get(t, i);
        if (v < -1 || v >= (double)n)
            return err_set("'%s' has region label %.0f at pixel %zu (labels are -1 or 0..K-1)", name, v, i);
        out[i] = (int32_t)v;
    }
    return 0;
}

/* Labels present in both maps. */
static int count_common(int *nreg, const int32_t *rq, const int32_t *rp, size_t n)
{
    int32_t m = -1;
    for (size_t i = 0; i < n; i++) {
        if (rq[i] > m)
            m = rq[i];
        if (rp[i] > m)
            m = rp[i];
    }
    unsigned char *seen = calloc((size_t)m + 2, 1);
    if (!seen)
        return err_set("out of memory");
    for (size_t i = 0; i < n; i++)
        if (rq[i] >= 0)
            seen[rq[i]] |= 1;
    for (size_t i = 0; i < n; i++)
        if (rp[i] >= 0)
            seen[rp[i]] |= 2;
    *nreg = 0;
    for (int32_t k = 0; k <= m; k++)
        *nreg += seen[k] == 3;
    free(seen);
    return 0;
}

lrc_pair *lrc_pair_from_frame(const frame *f, int need_regions)
{
    int H = -1, W = -1;
    const tensor *xq = get2d(f, "image", &H, &W), *xp, *rq = NULL, *rp = NULL;
    if (!xq || !(xp = get2d(f, "image_p", &H, &W)))
        return NULL;
    if (need_regions && (!(rq = get2d(f, "regions", &H, &W)) || !(rp = get2d(f, "regions_p", &H, &W))))
        return NULL;
    size_t n = (size_t)H * W;
    lrc_pair *p = calloc(1, sizeof *p);
    if (!p) {
        err_set("out of memory");
        return NULL;
    }
    p->H = H;
    p->W = W;
    p->seq = f->seq;
    p->z = f->z;
    p->xq = malloc(n * sizeof *p->xq);
    p->xp = malloc(n * sizeof *p->xp);
    if (need_regions) {
        p->rq = malloc(n * sizeof *p->rq);
        p->rp = malloc(n * sizeof *p->rp);
    }
    if ((f->id && !(p->id = strdup(f->id))) || !p->xq || !p->xp || (need_regions && (!p->rq || !p->rp))) {
        err_set("out of memory (pair of %dx%d)", H, W);
        goto fail;
    }
    if (get_image(p->xq, xq, "image") || get_image(p->xp, xp, "image_p"))
        goto fail;
    if (need_regions && (get_regions(p->rq, rq, "regions") || get_regions(p->rp, rp, "regions_p") ||
                         count_common(&p->nreg, p->rq, p->rp, n)))
        goto fail;
    return p;
fail:
    lrc_pair_free(p);
    return NULL;
}

void lrc_pair_free(lrc_pair *p)
{
    if (!p)
        return;
    free(p->xq);
    free(p->xp);
    free(p->rq);
    free(p->rp);
    free(p->id);
    free(p);
}
