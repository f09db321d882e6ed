/*
 * frame — one record of an lrcpipe stream, and its msgpack encoding.
 *
 * Wire format (version 1; see DESIGN.md). A record is one msgpack map:
 *
 *   "v"       int      format version, 1
 *   "type"    str      "start" | "data" | "end"
 *   start:  "producer" str (filter name), "version" str, "params" map (the
 *           producer's options, for provenance)
 *   data:   "id" str (volume id), "seq" int (running number from 0), "z" int
 *           (slice index, -1 for a whole volume), "meta" map, "tensors" map
 *           name -> array
 *   end:    "count" int, the number of data records sent
 *
 * An array is laid out as msgpack-numpy lays it out: a map with "nd" true,
 * "type" NumPy dtype.str ("<f4" ...), "kind" bin "" , "shape" array of ints
 * (C order), "data" bin of the raw little-endian bytes. Writers use str keys;
 * readers take str or bin keys, skip unknown keys, and check that shape times
 * element size equals the data length.
 *
 * Meta keys in use (all optional):
 *   "spacing"  [3] or [2] floats, mm, in tensor axis order ([Z,Y,X] or [Y,X])
 *   "affine"   [16] floats, row-major 4x4 voxel-to-world (RAS+ mm) map of the
 *              volume; voxel (i,j,k) = (x index, y index, z index), as NIfTI
 *   "shape"    [3] ints, the volume's [Z,Y,X] (slices carry it for regrouping)
 *   "window"   [2] floats, the HU window mapped to [0,1]
 *   "classes"  array of str, class names by label value
 *   "K"        int, number of regions (fz-superpixel)
 *   filters add their own keys; unknown keys pass through untouched.
 *
 * Decoding never trusts the input: every size is checked against the record
 * and the limits (frame_limits), unknown dtypes and bad shapes are errors
 * that name the record's seq, and nothing is left half-initialised.
 *
 * Not here: transports (stream.h) or what a filter does with the tensors.
 */
#ifndef LRC_FRAME_H
#define LRC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/mval.h"
#include "core/tensor.h"

#define FRAME_VERSION 1

typedef enum { FRAME_START, FRAME_DATA, FRAME_END } frame_type;

typedef struct {
    char *name;
    tensor t;
} frame_tensor;

typedef struct {
    frame_type type;
    char *id;     /* data: volume id, NULL if absent */
    int64_t seq;  /* data: running number; -1 if absent */
    int64_t z;    /* data: slice index, -1 for a volume or if absent */
    mval meta;    /* data: MV_MAP or MV_NIL; start: the "params" map */
    int ntensors;
    frame_tensor *tensors;
    int64_t count; /* end: data records sent */
    char *producer, *version; /* start */
} frame;

typedef struct {
    size_t max_record;    /* bytes of one encoded record */
    int max_rank;         /* <= TENSOR_MAX_RANK */
    int max_tensors;      /* tensors per record */
} frame_limits;

/* Process-wide limits used by readers: 4G per record, rank 8, 64 tensors,
 * changed once at a filter's set-up (cli/args.h: LRCPIPE_MAX_RECORD,
 * LRCPIPE_MAX_RANK, --max-record). */
extern frame_limits frame_default_limits;

void frame_init(frame *f, frame_type type);
void frame_free(frame *f);
/* Drop all tensors and meta but keep nothing: same as free + init(DATA). */
void frame_clear(frame *f);
int frame_set_id(frame *f, const char *id);
/* Deep copy of src into an uninitialised dst. */
int frame_copy(frame *dst, const frame *src);

/* Tensors by name. add takes ownership of *t (t is left empty) and replaces an
 * existing tensor of that name. */
tensor *frame_tensor_get(const frame *f, const char *name);
int frame_tensor_add(frame *f, const char *name, tensor *t);
/* Move the named tensor out into *out (uninitialised); 1 if absent. */
int frame_tensor_take(frame *f, const char *name, tensor *out);
int frame_tensor_del(frame *f, const char *name);

/* Meta map, created on demand. */
mval *frame_meta(frame *f);

/* Growable byte buffer for encoding. */
typedef struct {
    char *data;
    size_t len, cap;
} frame_buf;
void frame_buf_free(frame_buf *b);
int frame_buf_reserve(frame_buf *b, size_t extra);

/* Encode f as one record, replacing b's content. */
int frame_encode(const frame *f, frame_buf *b);
/* Decode exactly one record of len bytes into an uninitialised f. A record
 * with trailing bytes is an error. */
int frame_decode(const char *buf, size_t len, const frame_limits *lim, frame *f);

/* How many bytes the msgpack object starting at buf needs. Returns 0 and sets
 * *need to the complete length if buf[0..len) holds it, 1 and *need to a lower
 * bound of the total length if more bytes are needed, -1 on a malformed or
 * over-limit prefix. Used by byte-stream readers to find record boundaries
 * without parsing twice. */
int frame_scan(const char *buf, size_t len, size_t max_record, size_t *need);
/* The "seq" of a record of which only buf[0..len) arrived, when the bytes
 * hold it: 0 and *seq set, else -1. For error messages only. */
int frame_peek_seq(const char *buf, size_t len, int64_t *seq);

#endif
