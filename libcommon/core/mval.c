#include "core/mval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void mval_free(mval *v)
{
    if (!v)
        return;
    switch (v->kind) {
    case MV_STR:
    case MV_BIN:
        free(v->s.p);
        break;
    case MV_ARRAY:
        for (size_t i = 0; i < v->a.n; i++)
            mval_free(&v->a.v[i]);
        free(v->a.v);
        break;
    case MV_MAP:
        for (size_t i = 0; i < v->m.n; i++) {
            free(v->m.k[i]);
            mval_free(&v->m.v[i]);
        }
        free(v->m.k);
        free(v->m.v);
        break;
    default:
        break;
    }
    memset(v, 0, sizeof *v);
}

int mval_copy(mval *dst, const mval *src)
{
    memset(dst, 0, sizeof *dst);
    switch (src->kind) {
    case MV_STR:
        return mval_set_strn(dst, src->s.p, src->s.n);
    case MV_BIN:
        return mval_set_bin(dst, src->s.p, src->s.n);
    case MV_ARRAY:
        mval_set_array(dst);
        for (size_t i = 0; i < src->a.n; i++) {
            mval *slot = mval_push(dst);
            if (!slot || mval_copy(slot, &src->a.v[i]))
                return mval_free(dst), -1;
        }
        return 0;
    case MV_MAP:
        mval_set_map(dst);
        for (size_t i = 0; i < src->m.n; i++) {
            mval *slot = mval_map_put(dst, src->m.k[i]);
            if (!slot || mval_copy(slot, &src->m.v[i]))
                return mval_free(dst), -1;
        }
        return 0;
    default:
        *dst = *src;
        return 0;
    }
}

void mval_set_nil(mval *v)
{
    mval_free(v);
}

void mval_set_bool(mval *v, int b)
{
    mval_free(v);
    v->kind = MV_BOOL;
    v->b = !!b;
}

void mval_set_int(mval *v, int64_t i)
{
    mval_free(v);
    v->kind = MV_INT;
    v->i = i;
}

void mval_set_float(mval *v, double f)
{
    mval_free(v);
    v->kind = MV_FLOAT;
    v->f = f;
}

static int set_bytes(mval *v, mval_kind kind, const void *p, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy)
        return err_set("out of memory");
    if (n)
        memcpy(copy, p, n);
    copy[n] = '\0';
    mval_free(v);
    v->kind = kind;
    v->s.p = copy;
    v->s.n = n;
    return 0;
}

int mval_set_str(mval *v, const char *s)
{
    return set_bytes(v, MV_STR, s, strlen(s));
}

int mval_set_strn(mval *v, const char *s, size_t n)
{
    return set_bytes(v, MV_STR, s, n);
}

int mval_set_bin(mval *v, const void *p, size_t n)
{
    return set_bytes(v, MV_BIN, p, n);
}

void mval_set_array(mval *v)
{
    mval_free(v);
    v->kind = MV_ARRAY;
}

void mval_set_map(mval *v)
{
    mval_free(v);
    v->kind = MV_MAP;
}

mval *mval_push(mval *arr)
{
    if (arr->kind != MV_ARRAY)
        return NULL;
    if (arr->a.n == arr->a.cap) {
        size_t cap = arr->a.cap ? 2 * arr->a.cap : 4;
        mval *nv = realloc(arr->a.v, cap * sizeof *nv);
        if (!nv)
            return NULL;
        arr->a.v = nv;
        arr->a.cap = cap;
    }
    memset(&arr->a.v[arr->a.n], 0, sizeof(mval));
    return &arr->a.v[arr->a.n++];
}

static mval *map_find(const mval *map, const char *key, size_t keylen)
{
    if (!map || map->kind != MV_MAP)
        return NULL;
    for (size_t i = 0; i < map->m.n; i++)
        if (strlen(map->m.k[i]) == keylen && !memcmp(map->m.k[i], key, keylen))
            return &map->m.v[i];
    return NULL;
}

mval *mval_map_get(const mval *map, const char *key)
{
    return map_find(map, key, strlen(key));
}

static int map_grow(mval *map)
{
    if (map->m.n == map->m.cap) {
        size_t cap = map->m.cap ? 2 * map->m.cap : 8;
        char **nk = realloc(map->m.k, cap * sizeof *nk);
        if (!nk)
            return -1;
        map->m.k = nk;
        mval *nv = realloc(map->m.v, cap * sizeof *nv);
        if (!nv)
            return -1;
        map->m.v = nv;
        map->m.cap = cap;
    }
    return 0;
}

mval *mval_map_putn(mval *map, const char *key, size_t keylen)
{
    mval *slot;
    char *k;
    if (map->kind != MV_MAP)
        return NULL;
    slot = map_find(map, key, keylen);
    if (slot) {
        mval_free(slot);
        return slot;
    }
    if (!(k = malloc(keylen + 1)))
        return NULL;
    memcpy(k, key, keylen);
    k[keylen] = '\0';
    return mval_map_push_owned(map, k);
}

mval *mval_map_push_owned(mval *map, char *key)
{
    if (map->kind != MV_MAP || map_grow(map)) {
        free(key);
        return NULL;
    }
    map->m.k[map->m.n] = key;
    memset(&map->m.v[map->m.n], 0, sizeof(mval));
    return &map->m.v[map->m.n++];
}

mval *mval_map_put(mval *map, const char *key)
{
    return mval_map_putn(map, key, strlen(key));
}

int mval_map_del(mval *map, const char *key)
{
    if (!map || map->kind != MV_MAP)
        return -1;
    for (size_t i = 0; i < map->m.n; i++) {
        if (strcmp(map->m.k[i], key))
            continue;
        free(map->m.k[i]);
        mval_free(&map->m.v[i]);
        memmove(&map->m.k[i], &map->m.k[i + 1], (map->m.n - i - 1) * sizeof(char *));
        memmove(&map->m.v[i], &map->m.v[i + 1], (map->m.n - i - 1) * sizeof(mval));
        map->m.n--;
        return 0;
    }
    return -1;
}

/* An integer, or a float with an integer value: 0, or -1. */
static int mval_int(const mval *v, int64_t *out)
{
    if (v->kind == MV_INT)
        return *out = v->i, 0;
    if (v->kind == MV_FLOAT && v->f == floor(v->f) && fabs(v->f) < 9e15)
        return *out = (int64_t)v->f, 0;
    return -1;
}

int mval_num(const mval *v, double *out)
{
    if (v->kind == MV_INT)
        return *out = (double)v->i, 0;
    if (v->kind == MV_FLOAT)
        return *out = v->f, 0;
    return -1;
}

/* The n numbers of the array under key into f, or (f NULL) the n integers
 * into i: 0, 1 absent, -1 + err_set ("an array of n numbers|integers"). */
static int get_vec(const mval *map, const char *key, double *f, int64_t *i, size_t n)
{
    const mval *v = mval_map_get(map, key);
    const char *what = f ? "numbers" : "integers";
    if (!v)
        return 1;
    if (v->kind != MV_ARRAY || v->a.n != n)
        return err_set("meta '%s' must be an array of %zu %s", key, n, what);
    for (size_t k = 0; k < n; k++) {
        const mval *e = &v->a.v[k];
        if (f ? mval_num(e, &f[k]) : mval_int(e, &i[k]))
            return err_set("meta '%s' must be an array of %zu %s", key, n, what);
    }
    return 0;
}

int mval_get_f64v(const mval *map, const char *key, double *out, size_t n)
{
    return get_vec(map, key, out, NULL, n);
}

int mval_get_i64v(const mval *map, const char *key, int64_t *out, size_t n)
{
    return get_vec(map, key, NULL, out, n);
}

/* The scalar under key as an integer (into i), a number (f) or a string
 * (s), whichever is not NULL: 0, 1 absent, -1 + err_set ("an integer|a
 * number|a string"). */
static int get_scalar(const mval *map, const char *key, int64_t *i, double *f, const char **s)
{
    const mval *v = mval_map_get(map, key);
    if (!v)
        return 1;
    if (i && v->kind == MV_INT)
        *i = v->i;
    else if (s && v->kind == MV_STR)
        *s = v->s.p;
    else if (!f || mval_num(v, f))
        return err_set("meta '%s' must be %s", key, i ? "an integer" : f ? "a number" : "a string");
    return 0;
}

int mval_get_i64(const mval *map, const char *key, int64_t *out)
{
    return get_scalar(map, key, out, NULL, NULL);
}

int mval_get_f64(const mval *map, const char *key, double *out)
{
    return get_scalar(map, key, NULL, out, NULL);
}

int mval_get_str(const mval *map, const char *key, const char **out)
{
    return get_scalar(map, key, NULL, NULL, out);
}

/* The slot of key in map, or NULL with err_set (out of memory). */
static mval *put_slot(mval *map, const char *key)
{
    mval *slot = mval_map_put(map, key);
    if (!slot)
        err_set("out of memory");
    return slot;
}

/* The slot of key in map made an array of n null elements, for the caller
 * to set; NULL with err_set (out of memory). */
static mval *put_array(mval *map, const char *key, size_t n)
{
    mval *slot = put_slot(map, key);
    if (!slot)
        return NULL;
    mval_set_array(slot);
    for (size_t i = 0; i < n; i++)
        if (!mval_push(slot)) {
            err_set("out of memory");
            return NULL;
        }
    return slot;
}

/* An array of the n numbers f, or (f NULL) the n integers i, under key. */
static int put_vec(mval *map, const char *key, const double *f, const int64_t *i, size_t n)
{
    mval *a = put_array(map, key, n);
    if (!a)
        return -1;
    for (size_t k = 0; k < n; k++)
        if (f)
            mval_set_float(&a->a.v[k], f[k]);
        else
            mval_set_int(&a->a.v[k], i[k]);
    return 0;
}

int mval_put_f64v(mval *map, const char *key, const double *vals, size_t n)
{
    return put_vec(map, key, vals, NULL, n);
}

int mval_put_i64v(mval *map, const char *key, const int64_t *vals, size_t n)
{
    return put_vec(map, key, NULL, vals, n);
}

int mval_put_i64(mval *map, const char *key, int64_t i)
{
    mval *slot = put_slot(map, key);
    return slot ? (mval_set_int(slot, i), 0) : -1;
}

int mval_put_f64(mval *map, const char *key, double f)
{
    mval *slot = put_slot(map, key);
    return slot ? (mval_set_float(slot, f), 0) : -1;
}

int mval_put_str(mval *map, const char *key, const char *s)
{
    mval *slot = put_slot(map, key);
    return slot ? mval_set_str(slot, s) : -1;
}

int mval_put_strv(mval *map, const char *key, const char *const *s, size_t n)
{
    mval *a = put_array(map, key, n);
    if (!a)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (mval_set_str(&a->a.v[i], s[i] ? s[i] : ""))
            return err_set("out of memory");
    return 0;
}
