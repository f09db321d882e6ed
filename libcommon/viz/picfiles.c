#include "viz/picfiles.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"
#include "core/namepat.h"

static int mkdirs(const char *path)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) && errno != EEXIST)
                return err_set("%s: cannot create directory:", buf);
            *p = '/';
        }
    return 0;
}

int picfiles_name(const picfiles *pf, char *out, size_t n, const char *id, const char *zs, int64_t seq)
{
    char seqs[24], bad;
    snprintf(seqs, sizeof seqs, "%lld", (long long)seq);
    const char *vals[3] = {id ? id : "noid", zs, seqs};
    switch (namepat_expand(pf->pattern, "izs", vals, out, n, &bad)) {
    case 1: err_set("unknown placeholder '%%%c'", bad); return -2;
    case 2: return err_set("'%s': file name too long", pf->pattern);
    }
    return 0;
}

int picfiles_write(picfiles *pf, const canvas *c, const char *id, const char *zs, int64_t seq)
{
    char path[4096], *dup, **w;
    int rc = picfiles_name(pf, path, sizeof path, id, zs, seq);
    if (rc)
        return rc;
    for (int i = 0; i < pf->n; i++)
        if (!strcmp(pf->written[i], path))
            return err_set("%s: two pictures would get this name (add %%z or %%s to --png)", path);
    if (!(dup = strdup(path)) || !(w = realloc(pf->written, sizeof *w * (size_t)(pf->n + 1)))) {
        free(dup);
        return err_set("out of memory");
    }
    pf->written = w;
    pf->written[pf->n++] = dup;
    if (mkdirs(path) || canvas_write_png(c, path))
        return -1;
    log_info("%s", path);
    return 0;
}

void picfiles_free(picfiles *pf)
{
    for (int i = 0; i < pf->n; i++)
        free(pf->written[i]);
    free(pf->written);
    pf->written = NULL;
    pf->n = 0;
}
