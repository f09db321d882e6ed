#include "core/grow.h"

#include <stdlib.h>

#include "core/err.h"

void *grow_array(void *arr, int64_t *cap, int64_t n, size_t elsize, int64_t first)
{
    int64_t c;
    void *p;
    if (n < *cap)
        return arr;
    c = *cap ? 2 * *cap : first;
    /* a doubled count whose bytes do not fit a size_t is as out of memory
     * as a failed realloc (rather than a wrapped, too small block) */
    if ((uint64_t)c > SIZE_MAX / elsize || !(p = realloc(arr, (size_t)c * elsize))) {
        err_set("out of memory");
        return NULL;
    }
    *cap = c;
    return p;
}

void *grow_bytes(void *buf, size_t *cap, size_t want, size_t first)
{
    size_t c = *cap ? *cap : first;
    void *p;
    while (c < want)
        c = c < ((size_t)1 << 40) ? c * 2 : want;
    if (!(p = realloc(buf, c)))
        return NULL;
    *cap = c;
    return p;
}
