/*
 * mval — a small dynamic value (nil, bool, int, float, string, bytes, array,
 * map with string keys), the in-memory form of a frame's `meta` and of a
 * `start` record's parameters, and of JSON documents (json.h).
 *
 * Values own their children; mval_free() releases a whole tree. Maps keep
 * insertion order and are searched linearly (they hold a handful of keys).
 *
 * Not here: tensors (frames carry those separately) or any schema: what a key
 * means is documented where it is used (see frame.h for the meta keys).
 */
#ifndef LRC_MVAL_H
#define LRC_MVAL_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MV_NIL, MV_BOOL, MV_INT, MV_FLOAT, MV_STR, MV_BIN, MV_ARRAY, MV_MAP } mval_kind;

typedef struct mval mval;
struct mval {
    mval_kind kind;
    union {
        int b;
        int64_t i;
        double f;
        struct {
            char *p; /* NUL-terminated for convenience; n excludes the NUL */
            size_t n;
        } s;         /* MV_STR and MV_BIN */
        struct {
            mval *v;
            size_t n, cap;
        } a;
        struct {
            char **k;
            mval *v;
            size_t n, cap;
        } m;
    };
};

void mval_free(mval *v);             /* frees children, leaves v as MV_NIL */
int mval_copy(mval *dst, const mval *src);

void mval_set_nil(mval *v);
void mval_set_bool(mval *v, int b);
void mval_set_int(mval *v, int64_t i);
void mval_set_float(mval *v, double f);
int mval_set_str(mval *v, const char *s);
int mval_set_strn(mval *v, const char *s, size_t n);
int mval_set_bin(mval *v, const void *p, size_t n);
void mval_set_array(mval *v);        /* empty array */
void mval_set_map(mval *v);          /* empty map */

/* Arrays: append a NIL slot and return it (NULL on out-of-memory). */
mval *mval_push(mval *arr);

/* Maps. mval_map_get returns NULL when the key is absent or v is not a map.
 * mval_map_put returns the slot for key (created NIL, or the existing one
 * after freeing its old content). */
mval *mval_map_get(const mval *map, const char *key);
mval *mval_map_put(mval *map, const char *key);
mval *mval_map_putn(mval *map, const char *key, size_t keylen);
/* Append key (malloc'ed, NUL-terminated; the map takes it over) without
 * looking for it: for callers that know it is new (the JSON parser, which
 * finds duplicates of large objects by hashing). NULL on out-of-memory
 * (key freed). */
mval *mval_map_push_owned(mval *map, char *key);
int mval_map_del(mval *map, const char *key);

/* Numeric reading of INT or FLOAT: 0 on success. */
int mval_num(const mval *v, double *out);

/* Typed helpers on a map (NULL map = absent). get_* return 0 when found and
 * of the right type, 1 when absent, -1 (err_set) when of the wrong type. */
int mval_get_f64v(const mval *map, const char *key, double *out, size_t n);
/* n integers (a float with an integer value counts) */
int mval_get_i64v(const mval *map, const char *key, int64_t *out, size_t n);
int mval_get_i64(const mval *map, const char *key, int64_t *out);
int mval_get_f64(const mval *map, const char *key, double *out);
int mval_get_str(const mval *map, const char *key, const char **out);
int mval_put_f64v(mval *map, const char *key, const double *v, size_t n);
int mval_put_i64v(mval *map, const char *key, const int64_t *v, size_t n);
int mval_put_i64(mval *map, const char *key, int64_t i);
int mval_put_f64(mval *map, const char *key, double f);
int mval_put_str(mval *map, const char *key, const char *s);
/* Array of strings. */
int mval_put_strv(mval *map, const char *key, const char *const *s, size_t n);

#endif
