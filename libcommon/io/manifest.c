#include "io/manifest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "io/dataset.h"

#define MANIFEST_MAX_FIELDS 64

/* Split line (modified in place) into at most MANIFEST_MAX_FIELDS fields.
 * Returns the field count, or -1 on an unterminated quote / too many fields. */
static int split_csv(char *line, char **fields)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *start, *w;
        while (*p == ' ' || *p == '\t')
            p++;
        if (n == MANIFEST_MAX_FIELDS)
            return -1;
        if (*p == '"') {
            start = w = ++p;
            for (;;) {
                if (!*p)
                    return -1;
                if (*p == '"') {
                    if (p[1] == '"') {
                        *w++ = '"';
                        p += 2;
                        continue;
                    }
                    p++;
                    break;
                }
                *w++ = *p++;
            }
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p && *p != ',')
                return -1;
            *w = '\0';
        } else {
            char *e;
            start = p;
            while (*p && *p != ',')
                p++;
            e = p;
            while (e > start && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (*p == ',') {
                *e = '\0';
                fields[n++] = start;
                p++;
                continue;
            }
            *e = '\0';
        }
        fields[n++] = start;
        if (*p == ',') {
            p++;
            continue;
        }
        return n;
    }
}

char *manifest_id_of(const char *path, const char *const *exts, int nexts)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') /* a folder given as DIR/ */
        len--;
    const char *b = memrchr(path, '/', len);
    if (b)
        len -= (size_t)(b + 1 - path), path = b + 1;
    for (int i = 0; i < nexts; i++) {
        size_t e = strlen(exts[i]);
        if (len > e && !memcmp(path + len - e, exts[i], e)) {
            len -= e;
            break;
        }
    }
    return strndup(path, len);
}

char *manifest_path(const char *dir, const char *p)
{
    char *r;
    size_t n;
    while (p[0] == '.' && p[1] == '/')
        p += 2;
    if (p[0] == '/' || !dir)
        return strdup(p);
    n = strlen(dir) + strlen(p) + 2;
    if ((r = malloc(n)))
        snprintf(r, n, "%s/%s", dir, p);
    return r;
}

void manifest_free(manifest *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->cases[i].id);
        free(m->cases[i].image);
        free(m->cases[i].label);
    }
    for (int i = 0; i < m->nclasses; i++)
        free(m->classes[i]);
    free(m->classes);
    free(m->cases);
    free(m->path);
    memset(m, 0, sizeof *m);
}

int manifest_load(const char *path, manifest *m)
{
    FILE *f = fopen(path, "r");
    char *line = NULL, *dir = NULL, *slash;
    size_t cap = 0, mcap = 0;
    ssize_t len;
    int lineno = 0, col_id = -1, col_image = -1, col_label = -1, ncols = 0;
    memset(m, 0, sizeof *m);
    if (!f)
        return err_set("%s:", path);
    {
        int ch;
        while ((ch = getc(f)) == ' ' || ch == '\t' || ch == '\n' || ch == '\r')
            ;
        if (ch == '{') {
            fclose(f);
            return dataset_load(path, m);
        }
        rewind(f);
    }
    m->path = strdup(path);
    dir = strdup(path);
    if (!m->path || !dir)
        goto oom;
    slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else {
        free(dir);
        dir = NULL;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        char *fields[MANIFEST_MAX_FIELDS], *s = line;
        int n;
        lineno++;
        if ((size_t)len != strlen(line)) {
            err_set("%s:%d: a NUL byte (not a text file?)", path, lineno);
            goto fail;
        }
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (lineno == 1 && !strncmp(s, "\xef\xbb\xbf", 3))
            s += 3; /* UTF-8 byte order mark */
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            continue;
        if ((n = split_csv(s, fields)) < 0) {
            err_set("%s:%d: malformed CSV line (unterminated quote or more than %d fields)", path, lineno,
                    MANIFEST_MAX_FIELDS);
            goto fail;
        }
        if (col_id < 0) {
            for (int i = 0; i < n; i++) {
                int *c = !strcmp(fields[i], "id") ? &col_id
                         : !strcmp(fields[i], "image") ? &col_image
                         : !strcmp(fields[i], "label") ? &col_label
                                                        : NULL;
                if (c && *c >= 0) {
                    err_set("%s:%d: column '%s' named twice in the header", path, lineno, fields[i]);
                    goto fail;
                }
                if (c)
                    *c = i;
            }
            if (col_id < 0 || col_image < 0) {
                err_set("%s:%d: header must name the columns 'id' and 'image' (and optionally 'label'), "
                        "e.g. id,image,label",
                        path, lineno);
                col_id = -1;
                goto fail;
            }
            ncols = n;
            continue;
        }
        if (n != ncols) {
            err_set("%s:%d: %d fields, the header has %d", path, lineno, n, ncols);
            goto fail;
        }
        if (!*fields[col_id]) {
            err_set("%s:%d: empty id", path, lineno);
            goto fail;
        }
        if (strchr(fields[col_id], '/')) {
            err_set("%s:%d: id '%s' contains '/'", path, lineno, fields[col_id]);
            goto fail;
        }
        if (!*fields[col_image]) {
            err_set("%s:%d: empty image path", path, lineno);
            goto fail;
        }
        for (size_t i = 0; i < m->n; i++)
            if (!strcmp(m->cases[i].id, fields[col_id])) {
                err_set("%s:%d: id '%s' already used on line %d", path, lineno, fields[col_id], m->cases[i].line);
                goto fail;
            }
        if (m->n == mcap) {
            size_t nc = mcap ? mcap * 2 : 16;
            manifest_case *p = realloc(m->cases, nc * sizeof *p);
            if (!p)
                goto oom;
            m->cases = p;
            mcap = nc;
        }
        {
            manifest_case *c = &m->cases[m->n];
            memset(c, 0, sizeof *c);
            c->line = lineno;
            snprintf(c->where, sizeof c->where, "%d", lineno);
            c->id = strdup(fields[col_id]);
            c->image = manifest_path(dir, fields[col_image]);
            if (col_label >= 0 && *fields[col_label])
                c->label = manifest_path(dir, fields[col_label]);
            m->n++;
            if (!c->id || !c->image || (col_label >= 0 && *fields[col_label] && !c->label))
                goto oom;
        }
    }
    if (ferror(f)) {
        err_set("%s: read error:", path);
        goto fail;
    }
    if (col_id < 0) {
        err_set("%s: no header line (want id,image,label)", path);
        goto fail;
    }
    free(line);
    free(dir);
    fclose(f);
    return 0;
oom:
    err_set("%s: out of memory", path);
fail:
    free(line);
    free(dir);
    fclose(f);
    manifest_free(m);
    return -1;
}
