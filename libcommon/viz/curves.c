#include "viz/curves.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/mval.h"
#include "viz/plot.h"

static int append(curve *c, double x, double y)
{
    double *nx = realloc(c->x, sizeof *nx * (size_t)(c->n + 1)), *ny;
    if (!nx)
        return err_set("out of memory");
    c->x = nx;
    if (!(ny = realloc(c->y, sizeof *ny * (size_t)(c->n + 1))))
        return err_set("out of memory");
    c->y = ny;
    c->x[c->n] = x;
    c->y[c->n++] = y;
    return 0;
}

int curves_read(const char *path, const char *xkey, const char *const *ykeys, int nk, curve *out,
                int64_t *skipped)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int64_t ln = 0;
    int rc = 0;
    memset(out, 0, sizeof *out * (size_t)nk);
    *skipped = 0;
    if (!f)
        return err_set("%s:", path);
    while (!rc && (len = getline(&line, &cap, f)) > 0) {
        mval rec = {0};
        size_t l = (size_t)len;
        double x, y;
        ln++;
        while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
            l--;
        if (!l)
            continue;
        if (json_parse(line, l, &rec)) {
            rc = err_prefix("%s:%lld", path, (long long)ln);
            break;
        }
        if (rec.kind != MV_MAP || mval_get_f64(&rec, xkey, &x))
            (*skipped)++;
        else
            for (int k = 0; k < nk && !rc; k++)
                if (mval_get_f64(&rec, ykeys[k], &y) == 0)
                    rc = append(&out[k], x, y);
        mval_free(&rec);
    }
    if (!rc && ferror(f))
        rc = err_set("%s: read error:", path);
    fclose(f);
    free(line);
    if (rc)
        curves_free(out, nk);
    return rc;
}

void curves_free(curve *c, int n)
{
    for (int i = 0; i < n; i++) {
        free(c[i].x);
        free(c[i].y);
        c[i].x = c[i].y = NULL;
        c[i].n = 0;
    }
}

static const char *base(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int curves_plot(canvas *c, const char *const *paths, int np, const char *xkey, const char *const *ykeys, int nk,
                int w, int h, const char *title, int logy, int scale)
{
    const int n = np * nk;
    plot_series *s = calloc((size_t)n, sizeof *s);
    curve *cv = calloc((size_t)n, sizeof *cv);
    char **names = calloc((size_t)n, sizeof *names), ylabel[256] = "";
    int rc = -1, ns = 0;
    if (!s || !cv || !names) {
        err_set("out of memory");
        goto out;
    }
    for (int fi = 0; fi < np; fi++, ns += nk) {
        int64_t skipped;
        if (curves_read(paths[fi], xkey, ykeys, nk, cv + ns, &skipped))
            goto out;
        if (skipped)
            log_info("%s: %lld lines without '%s' not plotted", paths[fi], (long long)skipped, xkey);
        for (int k = 0; k < nk; k++) {
            char nm[512];
            if (!cv[ns + k].n) {
                err_set("%s: no line has both '%s' and '%s'", paths[fi], xkey, ykeys[k]);
                ns += nk;
                goto out;
            }
            if (np > 1 && nk > 1)
                snprintf(nm, sizeof nm, "%s %s", base(paths[fi]), ykeys[k]);
            else
                snprintf(nm, sizeof nm, "%s", np > 1 ? base(paths[fi]) : ykeys[k]);
            if (!(names[ns + k] = strdup(nm))) {
                err_set("out of memory");
                ns += nk;
                goto out;
            }
            s[ns + k] = (plot_series){names[ns + k], cv[ns + k].x, cv[ns + k].y, cv[ns + k].n};
        }
    }
    for (int k = 0; k < nk; k++)
        snprintf(ylabel + strlen(ylabel), sizeof ylabel - strlen(ylabel), "%s%s", k ? ", " : "", ykeys[k]);
    rc = plot_lines(c, w, h, s, ns, title, xkey, ylabel, logy, scale);
out:
    if (cv)
        curves_free(cv, ns < n ? ns : n);
    for (int i = 0; names && i < n; i++)
        free(names[i]);
    free(names), free(cv), free(s);
    return rc;
}
