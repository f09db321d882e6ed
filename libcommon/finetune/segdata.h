/*
 * segdata — the labelled slices a fine-tuning run holds in memory, grouped
 * by volume, and the case lists that select them.
 *
 * A slice comes from a slice frame (slice-extract): `image` [Y, X] (any
 * numeric dtype, converted to float32; NaN or Inf is an error) and `label`
 * [Y, X] (an integer dtype, values 0..C-1), with the frame's `id` and `z`.
 * All slices of a set share one shape. The class count C comes from the
 * frames' meta `classes` (the names, by label value; every record that
 * carries it must carry the same list) or, when the frames have none, from
 * the caller (seg-finetune --classes); when both are given they must agree.
 *
 * Memory: 5 bytes per pixel (float image + uint8 label), in two arrays that
 * grow by doubling. Volumes keep their slices sorted by z; a slice given
 * twice (same id and z) is an error.
 *
 * Case lists: a text file, one volume id per line; blank lines and lines
 * starting with '#' are skipped, surrounding white space is trimmed.
 *
 * A run's sets (segdata_read_sets): the training volumes are those of the
 * --cases list (every volume not held out for validation when there is
 * none), the validation volumes those of the --val-cases list, read from
 * the same input or from their own.
 *
 * Not here: batching and shuffling (segsample.h), metrics (segmetric.h).
 */
#ifndef LRC_SEGDATA_H
#define LRC_SEGDATA_H

#include <stddef.h>
#include <stdint.h>

#include "io/frame.h"
#include "io/stream.h"

typedef struct {
    char *id;
    int64_t n, cap;
    int64_t *slice; /* indices into the set, sorted by z after segdata_finish */
    int64_t seq0;   /* seq of its first record, for messages */
} segvol;

typedef struct {
    int H, W;        /* 0 until the first slice */
    int C;           /* classes (background included); 0 until known */
    char **classes;  /* C names, or NULL when the frames carry none */
    int64_t n, cap;  /* slices */
    float *img;      /* (n, H, W) */
    uint8_t *lab;    /* (n, H, W) */
    int64_t *z;      /* (n) */
    int32_t *vol;    /* (n) index into vols */
    int32_t nvol;
    int64_t volcap;
    segvol *vols;
} segdata;

/* classes: the class count the caller expects (0: take it from the frames). */
void segdata_init(segdata *d, int classes);
void segdata_free(segdata *d);

/* Add the slice of a data record (the frame is not modified). 0, or -1 +
 * err_set("record seq N (ID z Z): ...") for a missing or bad image or
 * label, a shape different from the earlier slices', a label outside the
 * classes, a duplicate slice, or an unknown class count. */
int segdata_add(segdata *d, const frame *f);

/* Sort every volume's slices by z and check for duplicates. */
int segdata_finish(segdata *d);

/* Index of a volume id, or -1. */
int segdata_find(const segdata *d, const char *id);

/* Whether slice i holds any organ (a label value >= 1). */
int segdata_has_organ(const segdata *d, int64_t i);

/* Slice i of d into x (H, W) and y (H, W), translated by (dy, dx) pixels:
 * x[r][c] = img[r + dy][c + dx] where that pixel exists, else fill (the
 * image) and 0 (the label). dy = dx = 0 is a plain copy. This is the
 * fine-tuning's augmentation: the crop window moved by a few pixels. */
void segdata_copy_shifted(float *x, uint8_t *y, const segdata *d, int64_t i, int dy, int dx, float fill);

/* Copy the classes of d into e when e has none yet, else check that they
 * agree (same count, and same names when both have names). */
int segdata_same_classes(segdata *e, const segdata *d);

/* ---- case lists ---- */

typedef struct {
    char **id;
    int n;
} caselist;

/* 0, or -1 + err_set naming the file (unreadable, empty, an id listed twice). */
int caselist_load(caselist *l, const char *path);
void caselist_free(caselist *l);
int caselist_has(const caselist *l, const char *id);

/* ---- a run's training and validation sets ---- */

typedef struct {
    const char *input;       /* the slices */
    const char *val_input;   /* the validation volumes' slices (NULL: input) */
    const char *cases;       /* the training volumes' list file (NULL: every volume not in val_cases) */
    const char *val_cases;   /* the validation volumes' list file (NULL: none) */
    int classes;             /* the class count expected (0: from the frames) */
} segdata_sets;

/* Read the training slices into tr and the validation slices into va, both
 * initialised and finished here, and check them: a volume in both lists,
 * a listed volume with no slices, validation slices of another size or
 * other classes are errors. Records of volumes in neither set are counted
 * in *skipped. *in is the stream being read (for the caller to reach when
 * an error ends the process; NULL after). 0, or -1 + err_set naming the
 * option, file or stream. */
int segdata_read_sets(segdata *tr, segdata *va, caselist *cases, caselist *val_cases, const segdata_sets *o,
                      int64_t *skipped, stream_in **in);

#endif
