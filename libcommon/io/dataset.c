#include "io/dataset.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/readall.h"
#include "core/json.h"
#include "core/mval.h"

#define DATASET_MAX_CLASS 255

static const char *exts[] = {".nii.gz", ".nii", ".nrrd", ".mha", ".mhd", ".npy"};

/* file name without folder, extension and nnU-Net channel suffix */
static int case_id(const char *path, char *out, size_t n)
{
    const char *b = strrchr(path, '/');
    size_t len;
    b = b ? b + 1 : path;
    len = strlen(b);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (len > e && !strcmp(b + len - e, exts[i])) {
            len -= e;
            break;
        }
    }
    if (len > 5 && !strncmp(b + len - 5, "_0000", 5))
        len -= 5;
    if (len == 0 || len >= n)
        return -1;
    memcpy(out, b, len);
    out[len] = '\0';
    return 0;
}

/* The listed image, or its channel-0 file when only that exists. */
static char *image_path(const char *dir, const char *p)
{
    char *r = manifest_path(dir, p), *alt;
    size_t len;
    if (!r || access(r, F_OK) == 0)
        return r;
    len = strlen(r);
    for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
        size_t e = strlen(exts[i]);
        if (len > e && !strcmp(r + len - e, exts[i])) {
            if (!(alt = malloc(len + 6)))
                break;
            snprintf(alt, len + 6, "%.*s_0000%s", (int)(len - e), r, exts[i]);
            if (access(alt, F_OK) == 0) {
                free(r);
                return alt;
            }
            free(alt);
            break;
        }
    }
    return r;
}

static int add_case(manifest *m, size_t *cap, const char *name, const char *where, const char *id, char *image,
                    char *label)
{
    manifest_case *c;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->cases[i].id, id)) {
            free(image);
            free(label);
            return err_set("%s: %s: id '%s' already used by %s", name, where, id, m->cases[i].where);
        }
    if (m->n == *cap) {
        size_t nc = *cap ? 2 * *cap : 16;
        manifest_case *p = realloc(m->cases, nc * sizeof *p);
        if (!p) {
            free(image);
            free(label);
            return err_set("out of memory");
        }
        m->cases = p;
        *cap = nc;
    }
    c = &m->cases[m->n];
    memset(c, 0, sizeof *c);
    snprintf(c->where, sizeof c->where, "%s", where);
    c->image = image;
    c->label = label;
    if (!(c->id = strdup(id)) || !image) {
        free(c->id);
        free(image);
        free(label);
        return err_set("out of memory");
    }
    m->n++;
    return 0;
}

/* "training" or "test": entries {"image", "label"} or image strings. */
static int list_cases(manifest *m, size_t *cap, const mval *list, const char *key, const char *dir,
                      const char *name)
{
    if (list->kind != MV_ARRAY)
        return err_set("%s: '%s' is not a list", name, key);
    for (size_t i = 0; i < list->a.n; i++) {
        const mval *e = &list->a.v[i];
        const char *img = NULL, *lab = NULL;
        char where[80], id[256];
        snprintf(where, sizeof where, "%s[%zu]", key, i);
        const mval *im = e, *l = NULL;
        if (e->kind == MV_MAP) {
            im = mval_map_get(e, "image");
            if (!im || im->kind != MV_STR)
                return err_set("%s: %s: no image path (want {\"image\": \"./imagesTr/x.nii.gz\", ...})", name,
                               where);
            if ((l = mval_map_get(e, "label")) && l->kind != MV_NIL) {
                if (l->kind != MV_STR || strlen(l->s.p) != l->s.n)
                    return err_set("%s: %s: 'label' is not a path", name, where);
                lab = l->s.p;
            }
        } else if (e->kind != MV_STR) {
            return err_set("%s: %s: neither an image path nor an object", name, where);
        }
        img = im->s.p;
        if (!*img || strlen(img) != im->s.n || case_id(img, id, sizeof id))
            return err_set("%s: %s: image path '%s' has no file name", name, where, img);
        if (lab && !*lab)
            lab = NULL;
        if (add_case(m, cap, name, where, id, image_path(dir, img), lab ? manifest_path(dir, lab) : NULL))
            return -1;
        if (lab && !m->cases[m->n - 1].label)
            return err_set("out of memory");
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* nnU-Net v2: images/CASE_0000<ending>, labels/CASE<ending>. */
static int folder_cases(manifest *m, size_t *cap, const char *dir, const char *images, const char *labels,
                        const char *ending, const char *name)
{
    char *idir = manifest_path(dir, images), **names = NULL;
    size_t n = 0, ncap = 0, suffix = strlen(ending) + 5;
    DIR *d;
    struct dirent *e;
    int rc = 0;
    if (!idir)
        return err_set("out of memory");
    if (!(d = opendir(idir))) {
        free(idir);
        return 0; /* no such folder: no cases of this kind */
    }
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (e->d_name[0] == '.' || len <= suffix || strncmp(e->d_name + len - suffix, "_0000", 5) ||
            strcmp(e->d_name + len - suffix + 5, ending))
            continue;
        if (n == ncap) {
            char **p = realloc(names, (ncap = ncap ? 2 * ncap : 64) * sizeof *p);
            if (!p) {
                rc = err_set("out of memory");
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = err_set("out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc && n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        char where[80], id[256], rel[600];
        char *img, *lab;
        size_t idlen = strlen(names[i]) - suffix;
        if (idlen == 0 || idlen >= sizeof id)
            continue;
        memcpy(id, names[i], idlen);
        id[idlen] = '\0';
        snprintf(where, sizeof where, "%s/%.60s", images, names[i]);
        img = malloc(strlen(idir) + strlen(names[i]) + 2);
        if (img)
            sprintf(img, "%s/%s", idir, names[i]);
        snprintf(rel, sizeof rel, "%s/%s%s", labels, id, ending);
        lab = labels ? manifest_path(dir, rel) : NULL;
        if (lab && access(lab, F_OK)) {
            free(lab);
            lab = NULL;
        }
        rc = add_case(m, cap, name, where, id, img, lab);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    free(idir);
    return rc;
}

/* "labels" into class names by value. */
static int load_labels(manifest *m, const mval *labels, const char *name)
{
    int maxv = -1;
    char **cls;
    if (labels->kind != MV_MAP)
        return err_set("%s: 'labels' is not an object", name);
    for (size_t i = 0; i < labels->m.n; i++) {
        const mval *v = &labels->m.v[i];
        const char *k = labels->m.k[i];
        long val;
        char *end;
        if (v->kind == MV_INT)
            val = v->i >= 0 && v->i <= DATASET_MAX_CLASS ? (long)v->i : -1;
        else if (v->kind == MV_STR)
            val = strtol(k, &end, 10), val = (*k && !*end && val >= 0 && val <= DATASET_MAX_CLASS) ? val : -1;
        else if (v->kind == MV_ARRAY)
            return err_set("%s: labels: '%s' is a region (a list of values): region-based labels are not read", name,
                           k);
        else
            val = -1;
        if (val < 0)
            return err_set("%s: labels: '%s' does not map a value 0..%d to a name", name, k, DATASET_MAX_CLASS);
        if (val > maxv)
            maxv = (int)val;
    }
    if (maxv < 0)
        return 0;
    if (!(cls = calloc((size_t)maxv + 1, sizeof *cls)))
        return err_set("out of memory");
    m->classes = cls;
    m->nclasses = maxv + 1;
    for (size_t i = 0; i < labels->m.n; i++) {
        const mval *v = &labels->m.v[i];
        int val = v->kind == MV_INT ? (int)v->i : (int)strtol(labels->m.k[i], NULL, 10);
        const char *nm = v->kind == MV_INT ? labels->m.k[i] : v->s.p;
        if (cls[val])
            return err_set("%s: labels: value %d named twice ('%s', '%s')", name, val, cls[val], nm);
        if (!(cls[val] = strdup(nm)))
            return err_set("out of memory");
    }
    for (int i = 0; i <= maxv; i++)
        if (!cls[i] && !(cls[i] = strdup("")))
            return err_set("out of memory");
    return 0;
}

int dataset_parse(const char *text, size_t len, const char *dir, const char *name, manifest *m)
{
    mval doc = {0};
    const mval *v;
    size_t cap = 0;
    memset(m, 0, sizeof *m);
    if (!(m->path = strdup(name)))
        return err_set("out of memory");
    if (json_parse(text, len, &doc)) {
        err_prefix("%s", name);
        goto fail;
    }
    if (doc.kind != MV_MAP) {
        err_set("%s: not a dataset.json (the top level is not an object)", name);
        goto fail;
    }
    if ((v = mval_map_get(&doc, "labels")) && load_labels(m, v, name))
        goto fail;
    {
        const mval *ch = mval_map_get(&doc, "channel_names");
        if (!ch)
            ch = mval_map_get(&doc, "modality");
        if (ch && ch->kind == MV_MAP && ch->m.n > 1)
            log_warn("%s: %zu channels: only the first (channel 0) is read", name, ch->m.n);
    }
    if ((v = mval_map_get(&doc, "training"))) {
        if (list_cases(m, &cap, v, "training", dir, name))
            goto fail;
        if ((v = mval_map_get(&doc, "test")) && list_cases(m, &cap, v, "test", dir, name))
            goto fail;
    } else {
        const char *ending = ".nii.gz";
        int r = mval_get_str(&doc, "file_ending", &ending);
        if (r < 0) {
            err_prefix("%s: file_ending", name);
            goto fail;
        }
        if (!*ending || strchr(ending, '/')) {
            err_set("%s: file_ending '%s' is not a file name ending", name, ending);
            goto fail;
        }
        if (folder_cases(m, &cap, dir, "imagesTr", "labelsTr", ending, name) ||
            folder_cases(m, &cap, dir, "imagesTs", NULL, ending, name))
            goto fail;
    }
    if (!m->n) {
        err_set("%s: no cases (no 'training' list, and no imagesTr/CASE_0000 files beside it)", name);
        goto fail;
    }
    mval_free(&doc);
    return 0;
fail:
    mval_free(&doc);
    manifest_free(m);
    return -1;
}

int dataset_load(const char *path, manifest *m)
{
    char *text, *dir = NULL, *slash;
    size_t n;
    int rc;
    memset(m, 0, sizeof *m);
    rc = readall_path(path, 64u << 20, "larger than 64 MB: not a dataset.json", &text, &n);
    if (rc == -2)
        return err_set("%s: read error:", path);
    if (rc)
        return -1;
    if ((slash = strrchr(path, '/')) && !(dir = strndup(path, (size_t)(slash - path)))) {
        free(text);
        return err_set("out of memory");
    }
    rc = dataset_parse(text, n, dir, path, m);
    free(dir);
    free(text);
    return rc;
}
