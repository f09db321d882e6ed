#include "io/shufbuf.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int shufbuf_init(shufbuf *s, int cap, uint64_t seed, uint64_t stream)
{
    memset(s, 0, sizeof *s);
    if (cap < 0)
        return err_set("shuffle buffer of %d items", cap);
    s->cap = cap;
    if (cap > 1 && !(s->items = calloc((size_t)cap, sizeof *s->items)))
        return err_set("out of memory (shuffle buffer of %d items)", cap);
    rng_seed(&s->r, seed, stream);
    return 0;
}

void shufbuf_free(shufbuf *s)
{
    free(s->items);
    memset(s, 0, sizeof *s);
}

void *shufbuf_put(shufbuf *s, void *x)
{
    if (s->cap <= 1)
        return x;
    if (s->n < s->cap) {
        s->items[s->n++] = x;
        return NULL;
    }
    int j = (int)rng_below(&s->r, (uint64_t)s->cap);
    void *out = s->items[j];
    s->items[j] = x;
    return out;
}

void *shufbuf_drain(shufbuf *s)
{
    if (s->n == 0)
        return NULL;
    int j = (int)rng_below(&s->r, (uint64_t)s->n);
    void *out = s->items[j];
    s->items[j] = s->items[--s->n];
    return out;
}
