#include "io/labels.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/parse.h"

int labels_load(const char *path, char *names[LABELS_MAX], int *n)
{
    mval doc = {0};
    if (json_load(path, &doc))
        return -1;
    if (doc.kind != MV_MAP) {
        mval_free(&doc);
        return err_set("%s: want a JSON object {\"0\": \"background\", \"1\": \"name\", ...}", path);
    }
    for (size_t i = 0; i < doc.m.n; i++) {
        int64_t v;
        char *s;
        if (parse_i64(doc.m.k[i], &v) || v < 0 || v >= LABELS_MAX || doc.m.v[i].kind != MV_STR) {
            err_set("%s: entry \"%s\": want a label value 0..%d mapped to a name", path, doc.m.k[i],
                    LABELS_MAX - 1);
            mval_free(&doc);
            return -1;
        }
        if (!(s = strdup(doc.m.v[i].s.p))) {
            mval_free(&doc);
            return err_set("out of memory");
        }
        free(names[v]);
        names[v] = s;
        if (v + 1 > *n)
            *n = (int)v + 1;
    }
    mval_free(&doc);
    return 0;
}

void labels_free(char *names[LABELS_MAX])
{
    for (int i = 0; i < LABELS_MAX; i++) {
        free(names[i]);
        names[i] = NULL;
    }
}

int labels_from_meta(const mval *meta, char *names[LABELS_MAX], int *n)
{
    const mval *c = mval_map_get(meta, "classes");
    if (!c)
        return 1;
    if (c->kind != MV_ARRAY || c->a.n > LABELS_MAX)
        return err_set("meta 'classes' must be an array of at most %d names", LABELS_MAX);
    for (size_t i = 0; i < c->a.n; i++)
        if (c->a.v[i].kind != MV_STR)
            return err_set("meta 'classes' must be an array of strings");
    labels_free(names);
    for (size_t i = 0; i < c->a.n; i++)
        if (!(names[i] = strdup(c->a.v[i].s.p))) {
            labels_free(names);
            return err_set("out of memory");
        }
    *n = (int)c->a.n;
    return 0;
}

int labels_same(char *const a[], int na, char *const b[], int nb)
{
    if (na != nb)
        return 0;
    for (int i = 0; i < na; i++)
        if (!a[i] != !b[i] || (a[i] && strcmp(a[i], b[i])))
            return 0;
    return 1;
}
