#include "finetune/segsample.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"

/* FNV-1a of a string. */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static int cmp_vol(const void *a, const void *b, void *d)
{
    const segvol *v = ((const segdata *)d)->vols;
    return strcmp(v[*(const int *)a].id, v[*(const int *)b].id);
}

int segsample_init(segsample *s, const segdata *d, uint64_t seed, double empty_keep)
{
    int *order = malloc((size_t)(d->nvol ? d->nvol : 1) * sizeof *order);
    memset(s, 0, sizeof *s);
    s->d = d;
    s->seed = seed;
    s->perm_epoch = -1;
    if (!order || !(s->idx = malloc((size_t)(d->n ? d->n : 1) * sizeof *s->idx)) ||
        !(s->perm = malloc((size_t)(d->n ? d->n : 1) * sizeof *s->perm))) {
        free(order);
        return err_set("out of memory");
    }
    for (int v = 0; v < d->nvol; v++)
        order[v] = v;
    qsort_r(order, (size_t)d->nvol, sizeof *order, cmp_vol, (void *)d);
    for (int k = 0; k < d->nvol; k++) {
        const segvol *sv = &d->vols[order[k]];
        for (int64_t j = 0; j < sv->n; j++) {
            int64_t i = sv->slice[j];
            if (!segdata_has_organ(d, i)) {
                rng r;
                s->empty_total++;
                rng_seed(&r, seed, hash_str(sv->id) ^ (0xE3B0C442ULL * (uint64_t)(d->z[i] + 1)));
                if (!(rng_uniform(&r) < empty_keep))
                    continue;
                s->empty_kept++;
            }
            s->idx[s->n++] = i;
        }
    }
    free(order);
    if (!s->n)
        return err_set("no training slice left: all %lld are organ-free and --empty-keep %g kept none",
                       (long long)s->empty_total, empty_keep);
    return 0;
}

void segsample_free(segsample *s)
{
    free(s->idx);
    free(s->perm);
    memset(s, 0, sizeof *s);
}

int64_t segsample_at(segsample *s, int64_t p)
{
    int64_t e = p / s->n, k = p % s->n;
    if (e != s->perm_epoch) {
        rng r;
        rng_seed(&r, s->seed, 0xE90C0000ULL + (uint64_t)e);
        for (int64_t i = 0; i < s->n; i++)
            s->perm[i] = s->idx[i];
        for (int64_t i = s->n - 1; i > 0; i--) {
            int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1), t = s->perm[i];
            s->perm[i] = s->perm[j];
            s->perm[j] = t;
        }
        s->perm_epoch = e;
    }
    return s->perm[k];
}

void segsample_batch_part(segsample *s, float *x, uint8_t *y, int64_t step, int B, int first, int n, int shift)
{
    const size_t px = (size_t)s->d->H * s->d->W;
    rng r;
    rng_seed(&r, s->seed, 0x5A1F7000ULL + (uint64_t)step);
    for (int k = 0; k < first + n; k++) {
        int dy = 0, dx = 0;
        if (shift) { /* drawn for the slices before first too: the same stream for every split */
            dy = (int)rng_below(&r, 2 * (uint64_t)shift + 1) - shift;
            dx = (int)rng_below(&r, 2 * (uint64_t)shift + 1) - shift;
        }
        if (k >= first)
            segdata_copy_shifted(x + (k - first) * px, y + (k - first) * px, s->d, segsample_at(s, step * B + k),
                                 dy, dx, 0.0f);
    }
}

void segsample_batch(segsample *s, float *x, uint8_t *y, int64_t step, int B, int shift)
{
    segsample_batch_part(s, x, y, step, B, 0, B, shift);
}
