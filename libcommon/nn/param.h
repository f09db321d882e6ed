/*
 * param — a block of named parameters and their gradients (one per model).
 *
 * A model declares its tensors once (pblock_add), then pblock_alloc() lays
 * them out in ONE float array `data`, trainable tensors first, buffers after:
 *
 *   data: [ trainable 0 | trainable 1 | ... | buffer 0 | buffer 1 | ... ]
 *          <------------- ntrain ------------>
 *   grad: [ trainable 0 | trainable 1 | ... ]            (ntrain floats)
 *
 * so an optimiser or a momentum (EMA) update is a single loop over
 * data[0..ntrain) and grad[0..ntrain), and a copy of a whole model
 * (MoCo's key encoder) is one memcpy of data[0..numel).
 *
 * Kinds:
 *   PARAM_TRAIN   learnt, has a gradient, updated by optim.h
 *   PARAM_BUFFER  state that is saved but not learnt (batch norm running_mean,
 *                 running_var)
 *   PARAM_COUNT   a counter held as one float (exact up to 2^24) and saved as
 *                 an int64 scalar, shape [] (batch norm num_batches_tracked),
 *                 so that PyTorch's load_state_dict(strict=True) accepts
 *                 our checkpoints as they are
 *
 * Names follow PyTorch's state_dict (`enc1.conv1.weight`,
 * `enc1.bn1.running_mean`); each model's header lists its names.
 * Offsets are stable for a given model configuration: they depend only on the
 * order of pblock_add calls, which each model fixes.
 *
 * Gradients accumulate (+=) across backward calls until pblock_zero_grad().
 *
 * Not here: initialisation (each model does it), optimiser state (optim.h),
 * file I/O (ckpt.h).
 */
#ifndef LRC_PARAM_H
#define LRC_PARAM_H

#include <stddef.h>
#include <stdint.h>

#define PARAM_NAME_MAX 96
#define PARAM_MAX_RANK 4

typedef enum { PARAM_TRAIN, PARAM_BUFFER, PARAM_COUNT } param_kind;

typedef struct {
    char name[PARAM_NAME_MAX];
    param_kind kind;
    int rank;
    int64_t shape[PARAM_MAX_RANK];
    size_t numel;
    size_t offset; /* into data (and, for PARAM_TRAIN, into grad); valid after pblock_alloc */
} param_entry;

typedef struct {
    param_entry *e;
    int n;
    int64_t cap;
    float *data;   /* numel floats, 64-byte aligned */
    float *grad;   /* ntrain floats, 64-byte aligned */
    size_t ntrain; /* floats of the trainable part, alignment padding included
                    * (padding stays 0 under every optimiser) */
    size_t numel;  /* all floats, padding included */
    int allocated;
} pblock;

void pblock_init(pblock *pb);
void pblock_free(pblock *pb);

/* Declare a tensor; returns its index (>= 0), or -1 with err_set() on a
 * duplicate name, a name too long or rank > 4. Not allowed after alloc.
 * A PARAM_COUNT tensor has rank 0 (one float). */
int pblock_add(pblock *pb, const char *name, param_kind kind, int rank, const int64_t *shape);
/* Lay out and zero data and grad. Returns 0 or -1. */
int pblock_alloc(pblock *pb);

float *pblock_ptr(const pblock *pb, int idx);
float *pblock_grad(const pblock *pb, int idx); /* NULL unless PARAM_TRAIN */
/* Index of a name, or -1 (no err_set). */
int pblock_find(const pblock *pb, const char *name);

void pblock_zero_grad(pblock *pb);
/* Copy every tensor's values from src, which must have the same names and
 * shapes in the same order (0, or -1 with err_set naming the first mismatch). */
int pblock_copy(pblock *dst, const pblock *src);
/* Number of trainable values, without padding (what a user calls "the
 * parameter count"). */
size_t pblock_ntrain(const pblock *pb);

#endif
