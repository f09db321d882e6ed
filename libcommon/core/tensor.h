/*
 * tensor — a dense, C-ordered n-dimensional array: dtype, rank, shape, data.
 *
 * Whoever calls tensor_init() owns the data and calls tensor_free(). Data is
 * 64-byte aligned and zero-filled. Sizes are checked for overflow and against
 * the caller's cap, so a hostile shape cannot make us allocate without bound.
 *
 * dtypes and their NumPy dtype.str (what frames carry, see frame.h):
 *   DT_F32 "<f4"  DT_F64 "<f8"  DT_U8 "|u1"  DT_I8 "|i1"
 *   DT_I16 "<i2"  DT_I32 "<i4"  DT_I64 "<i8"
 * Readers also take "<u1", "<i1", "|b1"-free spellings as NumPy does; only
 * little-endian data is accepted (this is what every x86/ARM host writes).
 *
 * Not here: views, strides, broadcasting. Kernels work on raw pointers.
 */
#ifndef LRC_TENSOR_H
#define LRC_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#define TENSOR_MAX_RANK 8

typedef enum {
    DT_F32,
    DT_F64,
    DT_U8,
    DT_I8,
    DT_I16,
    DT_I32,
    DT_I64,
    DT_COUNT
} dtype;

typedef struct {
    dtype dtype;
    int rank;
    int64_t shape[TENSOR_MAX_RANK];
    void *data;
} tensor;

size_t dtype_size(dtype dt);
/* NumPy dtype.str of dt ("<f4" ...). */
const char *dtype_str(dtype dt);
/* Short human name ("f32" ...). */
const char *dtype_name(dtype dt);
/* Parse a NumPy dtype.str or a short name; -1 (with err_set) if unknown. */
int dtype_parse(const char *s, size_t len, dtype *out);

/* Number of elements of shape[0..rank-1]; -1 if a dimension is negative or
 * the product overflows or exceeds max_bytes / elsize (max_bytes 0 = no cap). */
int64_t shape_numel_checked(int rank, const int64_t *shape, size_t elsize, size_t max_bytes);

/* Allocate a zeroed tensor. Returns 0, or -1 with err_set(). */
int tensor_init(tensor *t, dtype dt, int rank, const int64_t *shape);
/* Convenience for ranks 1..4. */
int tensor_init1(tensor *t, dtype dt, int64_t d0);
int tensor_init2(tensor *t, dtype dt, int64_t d0, int64_t d1);
int tensor_init3(tensor *t, dtype dt, int64_t d0, int64_t d1, int64_t d2);
int tensor_init4(tensor *t, dtype dt, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
void tensor_free(tensor *t);

size_t tensor_numel(const tensor *t);
size_t tensor_nbytes(const tensor *t);
int tensor_same_shape(const tensor *a, const tensor *b);
/* "[3, 128, 128]" into buf. */
const char *tensor_shape_str(const tensor *t, char *buf, size_t n);

/* Deep copy; dst must not be initialised. */
int tensor_copy(tensor *dst, const tensor *src);
/* New tensor of dtype dt with src's values converted (C casts; float to int
 * rounds to nearest and saturates). dst must not be initialised. */
int tensor_convert(tensor *dst, const tensor *src, dtype dt);
/* Move: dst takes src's data, src is left empty. */
void tensor_move(tensor *dst, tensor *src);

/* Element i as double. */
double tensor_get(const tensor *t, size_t i);
/* Store v (converted as tensor_convert does) at element i. */
void tensor_set(tensor *t, size_t i, double v);

typedef struct {
    double min, max, mean;
    size_t nonfinite; /* NaN or Inf count (float dtypes) */
} tensor_stats;
/* Min/max/mean over finite elements; for an empty tensor all are 0. */
void tensor_get_stats(const tensor *t, tensor_stats *s);

/* 1 if any element is NaN or Inf (float dtypes only). */
int tensor_has_nonfinite(const tensor *t);

/* Aligned allocation used for tensors and kernels' work buffers. */
void *lrc_alloc(size_t n);
void *lrc_calloc(size_t n);
void lrc_free(void *p);
/* A work buffer *p of at least n floats (*cap: how many it holds), from
 * lrc_alloc: reallocated, its contents lost, only when it holds fewer, so
 * that a step sized by its batch allocates once. 0; -1 when out of memory,
 * with *p NULL and *cap 0 and nothing said (the caller's message names
 * what the buffer was for). */
int lrc_reserve(float **p, size_t *cap, size_t n);

#endif
