#include "core/tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static const struct {
    const char *str, *name;
    size_t size;
} dtinfo[DT_COUNT] = {
    [DT_F32] = {"<f4", "f32", 4}, [DT_F64] = {"<f8", "f64", 8}, [DT_U8] = {"|u1", "u8", 1},
    [DT_I8] = {"|i1", "i8", 1},   [DT_I16] = {"<i2", "i16", 2}, [DT_I32] = {"<i4", "i32", 4},
    [DT_I64] = {"<i8", "i64", 8},
};

size_t dtype_size(dtype dt)
{
    return (unsigned)dt < DT_COUNT ? dtinfo[dt].size : 0;
}

const char *dtype_str(dtype dt)
{
    return (unsigned)dt < DT_COUNT ? dtinfo[dt].str : "?";
}

const char *dtype_name(dtype dt)
{
    return (unsigned)dt < DT_COUNT ? dtinfo[dt].name : "?";
}

int dtype_parse(const char *s, size_t len, dtype *out)
{
    static const struct {
        const char *s;
        dtype dt;
    } alias[] = {
        {"<u1", DT_U8},  {"=u1", DT_U8},  {"<i1", DT_I8},  {"=i1", DT_I8},   {"uint8", DT_U8},
        {"int8", DT_I8}, {"int16", DT_I16}, {"int32", DT_I32}, {"int64", DT_I64}, {"float32", DT_F32},
        {"float64", DT_F64},
    };
    for (int i = 0; i < DT_COUNT; i++) {
        if (strlen(dtinfo[i].str) == len && !memcmp(s, dtinfo[i].str, len))
            return *out = (dtype)i, 0;
        if (strlen(dtinfo[i].name) == len && !memcmp(s, dtinfo[i].name, len))
            return *out = (dtype)i, 0;
    }
    for (size_t i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (strlen(alias[i].s) == len && !memcmp(s, alias[i].s, len))
            return *out = alias[i].dt, 0;
    return err_set("unknown dtype '%.*s' (lrcpipe takes <f4 <f8 |u1 |i1 <i2 <i4 <i8)",
                   (int)(len > 16 ? 16 : len), s);
}

int64_t shape_numel_checked(int rank, const int64_t *shape, size_t elsize, size_t max_bytes)
{
    uint64_t n = 1;
    int zero = 0;
    if (rank < 0 || rank > TENSOR_MAX_RANK)
        return err_set("rank %d out of range 0..%d", rank, TENSOR_MAX_RANK);
    for (int i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return err_set("negative dimension %lld", (long long)shape[i]);
        if (shape[i] == 0)
            zero = 1;
    }
    if (zero)
        return 0;
    for (int i = 0; i < rank; i++) {
        if ((uint64_t)shape[i] > (uint64_t)INT64_MAX / n)
            return err_set("shape too large (element count overflows)");
        n *= (uint64_t)shape[i];
    }
    if (elsize && n > (uint64_t)INT64_MAX / elsize)
        return err_set("shape too large (byte count overflows)");
    if (max_bytes && elsize && n * elsize > max_bytes)
        return err_set("tensor of %llu bytes exceeds the cap of %zu bytes",
                       (unsigned long long)(n * elsize), max_bytes);
    return (int64_t)n;
}

void *lrc_alloc(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? (n + 63) & ~(size_t)63 : 64))
        return NULL;
    return p;
}

void *lrc_calloc(size_t n)
{
    void *p = lrc_alloc(n);
    if (p)
        memset(p, 0, n);
    return p;
}

void lrc_free(void *p)
{
    free(p);
}

int lrc_reserve(float **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    lrc_free(*p);
    if (!(*p = lrc_alloc(n * sizeof **p))) {
        *cap = 0;
        return -1;
    }
    *cap = n;
    return 0;
}

int tensor_init(tensor *t, dtype dt, int rank, const int64_t *shape)
{
    int64_t n;
    memset(t, 0, sizeof *t);
    if ((unsigned)dt >= DT_COUNT)
        return err_set("bad dtype %d", (int)dt);
    n = shape_numel_checked(rank, shape, dtype_size(dt), 0);
    if (n < 0)
        return -1;
    t->dtype = dt;
    t->rank = rank;
    for (int i = 0; i < rank; i++)
        t->shape[i] = shape[i];
    t->data = lrc_calloc((size_t)n * dtype_size(dt));
    if (!t->data)
        return err_set("out of memory allocating a tensor of %lld elements", (long long)n);
    return 0;
}

int tensor_init1(tensor *t, dtype dt, int64_t d0)
{
    return tensor_init(t, dt, 1, (int64_t[]){d0});
}

int tensor_init2(tensor *t, dtype dt, int64_t d0, int64_t d1)
{
    return tensor_init(t, dt, 2, (int64_t[]){d0, d1});
}

int tensor_init3(tensor *t, dtype dt, int64_t d0, int64_t d1, int64_t d2)
{
    return tensor_init(t, dt, 3, (int64_t[]){d0, d1, d2});
}

int tensor_init4(tensor *t, dtype dt, int64_t d0, int64_t d1, int64_t d2, int64_t d3)
{
    return tensor_init(t, dt, 4, (int64_t[]){d0, d1, d2, d3});
}

void tensor_free(tensor *t)
{
    if (!t)
        return;
    lrc_free(t->data);
    memset(t, 0, sizeof *t);
}

size_t tensor_numel(const tensor *t)
{
    size_t n = 1;
    for (int i = 0; i < t->rank; i++)
        n *= (size_t)t->shape[i];
    return n;
}

size_t tensor_nbytes(const tensor *t)
{
    return tensor_numel(t) * dtype_size(t->dtype);
}

int tensor_same_shape(const tensor *a, const tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->shape[i] != b->shape[i])
            return 0;
    return 1;
}

const char *tensor_shape_str(const tensor *t, char *buf, size_t n)
{
    size_t used = 0;
    used += (size_t)snprintf(buf + used, n - used, "[");
    for (int i = 0; i < t->rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "", (long long)t->shape[i]);
    if (used < n)
        snprintf(buf + used, n - used, "]");
    return buf;
}

void tensor_move(tensor *dst, tensor *src)
{
    *dst = *src;
    memset(src, 0, sizeof *src);
}

int tensor_copy(tensor *dst, const tensor *src)
{
    if (tensor_init(dst, src->dtype, src->rank, src->shape))
        return -1;
    memcpy(dst->data, src->data, tensor_nbytes(src));
    return 0;
}

double tensor_get(const tensor *t, size_t i)
{
    switch (t->dtype) {
    case DT_F32: return ((const float *)t->data)[i];
    case DT_F64: return ((const double *)t->data)[i];
    case DT_U8: return ((const uint8_t *)t->data)[i];
    case DT_I8: return ((const int8_t *)t->data)[i];
    case DT_I16: return ((const int16_t *)t->data)[i];
    case DT_I32: return ((const int32_t *)t->data)[i];
    case DT_I64: return (double)((const int64_t *)t->data)[i];
    default: return 0;
    }
}

static double sat(double v, double lo, double hi)
{
    if (isnan(v))
        return 0;
    v = nearbyint(v);
    return v < lo ? lo : v > hi ? hi : v;
}

void tensor_set(tensor *t, size_t i, double v)
{
    switch (t->dtype) {
    case DT_F32: ((float *)t->data)[i] = (float)v; break;
    case DT_F64: ((double *)t->data)[i] = v; break;
    case DT_U8: ((uint8_t *)t->data)[i] = (uint8_t)sat(v, 0, 255); break;
    case DT_I8: ((int8_t *)t->data)[i] = (int8_t)sat(v, -128, 127); break;
    case DT_I16: ((int16_t *)t->data)[i] = (int16_t)sat(v, -32768, 32767); break;
    case DT_I32: ((int32_t *)t->data)[i] = (int32_t)sat(v, -2147483648.0, 2147483647.0); break;
    case DT_I64: ((int64_t *)t->data)[i] = (int64_t)sat(v, -9223372036854775808.0, 9223372036854774784.0); break;
    default: break;
    }
}

int tensor_convert(tensor *dst, const tensor *src, dtype dt)
{
    size_t n;
    if (tensor_init(dst, dt, src->rank, src->shape))
        return -1;
    n = tensor_numel(src);
    if (dt == src->dtype) {
        memcpy(dst->data, src->data, tensor_nbytes(src));
        return 0;
    }
    if (dt == DT_F32) {
        float *o = dst->data;
        for (size_t i = 0; i < n; i++)
            o[i] = (float)tensor_get(src, i);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        tensor_set(dst, i, tensor_get(src, i));
    return 0;
}

void tensor_get_stats(const tensor *t, tensor_stats *s)
{
    size_t n = tensor_numel(t), used = 0;
    double sum = 0;
    memset(s, 0, sizeof *s);
    s->min = INFINITY;
    s->max = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, i);
        if (!isfinite(v)) {
            s->nonfinite++;
            continue;
        }
        if (v < s->min)
            s->min = v;
        if (v > s->max)
            s->max = v;
        sum += v;
        used++;
    }
    if (!used) {
        s->min = s->max = 0;
        return;
    }
    s->mean = sum / (double)used;
}

int tensor_has_nonfinite(const tensor *t)
{
    size_t n = tensor_numel(t);
    if (t->dtype == DT_F32) {
        const float *p = t->data;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(p[i]))
                return 1;
    } else if (t->dtype == DT_F64) {
        const double *p = t->data;
        for (size_t i = 0; i < n; i++)
            if (!isfinite(p[i]))
                return 1;
    }
    return 0;
}
