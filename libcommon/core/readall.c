#include "core/readall.h"

#include <errno.h>
#include <stdlib.h>

#include "core/err.h"

int readall(FILE *f, size_t max, char **buf, size_t *n)
{
    size_t cap = 0, got;
    char *p;
    *buf = NULL;
    *n = 0;
    do {
        if (*n == cap) {
            if (cap >= max) {
                free(*buf);
                *buf = NULL;
                return 1;
            }
            cap = cap ? 2 * cap : 4096;
            if (!(p = realloc(*buf, cap))) {
                free(*buf);
                *buf = NULL;
                return err_set("out of memory");
            }
            *buf = p;
        }
        got = fread(*buf + *n, 1, cap - *n, f);
        *n += got;
    } while (got);
    if (ferror(f)) {
        free(*buf);
        *buf = NULL;
        return -2;
    }
    return 0;
}

int readall_path(const char *path, size_t max, const char *too_large, char **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    int rc, e;
    if (!f)
        return err_set("%s:", path);
    rc = readall(f, max, buf, n);
    e = errno;
    fclose(f);
    errno = e;
    if (rc == 1)
        return err_set("%s: %s", path, too_large);
    return rc;
}
