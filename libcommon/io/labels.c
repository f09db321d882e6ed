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
