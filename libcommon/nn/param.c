#include "nn/param.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/grow.h"
#include "core/tensor.h"

void pblock_init(pblock *pb)
{
    memset(pb, 0, sizeof *pb);
}

void pblock_free(pblock *pb)
{
    free(pb->e);
    lrc_free(pb->data);
    lrc_free(pb->grad);
    memset(pb, 0, sizeof *pb);
}

int pblock_add(pblock *pb, const char *name, param_kind kind, int rank, const int64_t *shape)
{
    param_entry *e;
    size_t n = 1;
    if (pb->allocated)
        return err_set("pblock: '%s' added after allocation", name);
    if (strlen(name) >= PARAM_NAME_MAX)
        return err_set("pblock: name too long: '%s'", name);
    if (rank < 0 || rank > PARAM_MAX_RANK || (kind == PARAM_COUNT && rank != 0))
        return err_set("pblock: '%s': bad rank %d", name, rank);
    if (pblock_find(pb, name) >= 0)
        return err_set("pblock: duplicate name '%s'", name);
    for (int i = 0; i < rank; i++) {
        if (shape[i] <= 0)
            return err_set("pblock: '%s': bad dimension %lld", name, (long long)shape[i]);
        n *= (size_t)shape[i];
    }
    if (!(e = grow_array(pb->e, &pb->cap, pb->n, sizeof *e, 32)))
        return -1;
    pb->e = e;
    e = &pb->e[pb->n];
    memset(e, 0, sizeof *e);
    strcpy(e->name, name);
    e->kind = kind;
    e->rank = rank;
    for (int i = 0; i < rank; i++)
        e->shape[i] = shape[i];
    e->numel = n;
    return pb->n++;
}

/* Offsets rounded to 16 floats keep every tensor 64-byte aligned. */
static size_t round16(size_t n)
{
    return (n + 15) & ~(size_t)15;
}

int pblock_alloc(pblock *pb)
{
    size_t off = 0;
    if (pb->allocated)
        return 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < pb->n; i++) {
            param_entry *e = &pb->e[i];
            if ((e->kind == PARAM_TRAIN) != (pass == 0))
                continue;
            e->offset = off;
            off += round16(e->numel);
        }
        if (pass == 0)
            pb->ntrain = off;
    }
    pb->numel = off;
    pb->data = lrc_calloc((pb->numel ? pb->numel : 1) * sizeof(float));
    pb->grad = lrc_calloc((pb->ntrain ? pb->ntrain : 1) * sizeof(float));
    if (!pb->data || !pb->grad)
        return err_set("out of memory allocating %zu parameters", pb->numel);
    pb->allocated = 1;
    return 0;
}

float *pblock_ptr(const pblock *pb, int idx)
{
    return pb->data + pb->e[idx].offset;
}

float *pblock_grad(const pblock *pb, int idx)
{
    return pb->e[idx].kind == PARAM_TRAIN ? pb->grad + pb->e[idx].offset : NULL;
}

int pblock_find(const pblock *pb, const char *name)
{
    for (int i = 0; i < pb->n; i++)
        if (!strcmp(pb->e[i].name, name))
            return i;
    return -1;
}

void pblock_zero_grad(pblock *pb)
{
    if (pb->grad)
        memset(pb->grad, 0, pb->ntrain * sizeof(float));
}

int pblock_copy(pblock *dst, const pblock *src)
{
    if (dst->n != src->n)
        return err_set("pblock: %d tensors, source has %d", dst->n, src->n);
    for (int i = 0; i < dst->n; i++) {
        const param_entry *a = &dst->e[i], *b = &src->e[i];
        if (strcmp(a->name, b->name) || a->numel != b->numel || a->kind != b->kind)
            return err_set("pblock: tensor %d is '%s', source has '%s'", i, a->name, b->name);
    }
    memcpy(dst->data, src->data, src->numel * sizeof(float));
    return 0;
}

size_t pblock_ntrain(const pblock *pb)
{
    size_t n = 0;
    for (int i = 0; i < pb->n; i++)
        if (pb->e[i].kind == PARAM_TRAIN)
            n += pb->e[i].numel;
    return n;
}
