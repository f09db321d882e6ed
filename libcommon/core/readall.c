#include "core/readall.h"

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
