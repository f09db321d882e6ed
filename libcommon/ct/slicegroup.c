#include "ct/slicegroup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void slicegroup_init(slicegroup *g, int nmaps, const char *const *map_names, size_t vol_size)
{
    memset(g, 0, sizeof *g);
    g->nmaps = nmaps;
    g->map_names = map_names;
    g->vol_size = vol_size;
}

sg_volume *slicegroup_get(slicegroup *g, const char *id, int64_t z)
{
    sg_volume *v, **vs;
    for (int i = g->nvols - 1; i >= 0; i--)
        if (!strcmp(g->vols[i]->id, id))
            return g->vols[i];
    for (int i = 0; i < g->ndone; i++)
        if (!strcmp(g->done[i], id)) {
            err_set("volume %s: slice z=%lld arrived after the volume was complete (the id occurs twice?)", id,
                    (long long)z);
            return NULL;
        }
    if (!(vs = realloc(g->vols, sizeof *vs * (size_t)(g->nvols + 1))))
        goto oom;
    g->vols = vs;
    if (!(v = calloc(1, g->vol_size)) || !(v->id = strdup(id))) {
        free(v);
        goto oom;
    }
    g->vols[g->nvols++] = v;
    return v;
oom:
    err_set("out of memory");
    return NULL;
}

int slicegroup_done(slicegroup *g, sg_volume *v)
{
    char **ds = realloc(g->done, sizeof *ds * (size_t)(g->ndone + 1));
    int i;
    if (!ds)
        return err_set("out of memory");
    g->done = ds;
    g->done[g->ndone++] = v->id;
    for (i = 0; i < g->nvols && g->vols[i] != v; i++)
        ;
    if (i < g->nvols) {
        memmove(g->vols + i, g->vols + i + 1, sizeof *g->vols * (size_t)(g->nvols - i - 1));
        g->nvols--;
    }
    for (int m = 0; m < SG_MAXMAPS; m++) {
        free(v->have[m]);
        v->have[m] = NULL;
    }
    v->cap = 0;
    return 0;
}


void slicegroup_free(slicegroup *g)
{
    for (int i = 0; i < g->nvols; i++) {
        for (int m = 0; m < SG_MAXMAPS; m++)
            free(g->vols[i]->have[m]);
        free(g->vols[i]->id);
        free(g->vols[i]);
    }
    for (int i = 0; i < g->ndone; i++)
        free(g->done[i]);
    free(g->vols);
    free(g->done);
    memset(g, 0, sizeof *g);
}

static int grow(sg_volume *v, int64_t n)
{
    int64_t cap = v->cap ? v->cap : 16;
    if (n <= v->cap)
        return 0;
    while (cap < n)
        cap *= 2;
    for (int m = 0; m < SG_MAXMAPS; m++) {
        uint8_t *h = realloc(v->have[m], (size_t)cap);
        if (!h)
            return err_set("out of memory");
        memset(h + v->cap, 0, (size_t)(cap - v->cap));
        v->have[m] = h;
    }
    v->cap = cap;
    return 0;
}

int sg_set_z(sg_volume *v, int64_t Z, const char *why)
{
    if (Z < 1 || Z > SG_MAX_Z)
        return err_set("volume %s: %s gives %lld slices", v->id, why, (long long)Z);
    if (v->zknown && v->Z != Z)
        return err_set("volume %s: %s gives %lld slices, earlier records %lld", v->id, why, (long long)Z,
                       (long long)v->Z);
    if (v->zknown)
        return 0;
    for (int m = 0; m < SG_MAXMAPS; m++)
        for (int64_t z = Z; z < v->cap; z++)
            if (v->have[m][z])
                return err_set("volume %s: slice z=%lld is outside its %lld slices (%s)", v->id, (long long)z,
                               (long long)Z, why);
    if (v->nexpect > Z)
        return err_set("volume %s: meta 'nslices' %lld is not in 1..%lld", v->id, (long long)v->nexpect,
                       (long long)Z);
    v->zknown = 1;
    v->Z = Z;
    return grow(v, Z);
}

int sg_expect(sg_volume *v, int64_t n)
{
    if (n < 1 || n > SG_MAX_Z || (v->zknown && n > v->Z))
        return err_set("volume %s: meta 'nslices' %lld is not in 1..Z", v->id, (long long)n);
    if (v->nexpect && v->nexpect != n)
        return err_set("volume %s: meta 'nslices' %lld, earlier records %lld", v->id, (long long)n,
                       (long long)v->nexpect);
    v->nexpect = n;
    return 0;
}

int sg_add(const slicegroup *g, sg_volume *v, int m, int64_t z)
{
    if (z < 0 || z >= SG_MAX_Z || (v->zknown && z >= v->Z))
        return err_set("volume %s: slice z=%lld is outside its %lld slices", v->id, (long long)z,
                       (long long)(v->zknown ? v->Z : SG_MAX_Z));
    if (grow(v, z + 1))
        return -1;
    if (v->have[m][z]) {
        if (g->map_names)
            return err_set("volume %s: '%s' of slice z=%lld given twice", v->id, g->map_names[m], (long long)z);
        return err_set("volume %s: slice z=%lld arrived twice", v->id, (long long)z);
    }
    v->have[m][z] = 1;
    v->nhave[m]++;
    if (!v->zknown && z + 1 > v->Z)
        v->Z = z + 1;
    return 0;
}

int sg_complete(const slicegroup *g, const sg_volume *v)
{
    int64_t n = v->nexpect ? v->nexpect : v->Z;
    if (!v->zknown)
        return 0;
    for (int m = 0; m < g->nmaps; m++)
        if (v->nhave[m] != n)
            return 0;
    return 1;
}

void sg_missing(const sg_volume *v, int m, char *buf, size_t n)
{
    size_t used = 0;
    int nranges = 0, more = 0;
    buf[0] = '\0';
    for (int64_t z = 0; z < v->Z; z++) {
        if (v->have[m][z])
            continue;
        int64_t e = z;
        while (e + 1 < v->Z && !v->have[m][e + 1])
            e++;
        if (nranges < 6) {
            int k = e > z ? snprintf(buf + used, n - used, "%s%lld..%lld", nranges ? ", " : "", (long long)z, (long long)e)
                          : snprintf(buf + used, n - used, "%s%lld", nranges ? ", " : "", (long long)z);
            if (k > 0 && (size_t)k < n - used)
                used += (size_t)k;
        } else
            more++;
        nranges++;
        z = e;
    }
    if (more)
        snprintf(buf + used, n - used, " and %d more ranges", more);
}
