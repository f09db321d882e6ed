/*
 * json — read and write JSON as mval trees.
 *
 * Used for labels files ({"1": "Brainstem", ...}), safetensors headers,
 * metrics logs and the inspector's text output. The parser is strict RFC 8259
 * (no comments, no trailing commas), nests at most 64 deep, and keeps
 * integers that fit int64 as MV_INT, everything else as MV_FLOAT.
 * Bytes (MV_BIN) print as {"bin": N}, which is a summary, not a round trip.
 *
 * Not here: streaming parsing; documents are read whole.
 */
#ifndef LRC_JSON_H
#define LRC_JSON_H

#include <stdio.h>

#include "core/mval.h"

/* Parse text[0..len); 0 on success, -1 with err_set() naming the byte offset. */
int json_parse(const char *text, size_t len, mval *out);

/* A pooled parse: as json_parse (the same tree, the same errors), but the
 * tree's strings, keys and arrays come from a few large blocks rather than a
 * malloc each, for a large document read and dropped at once (a checkpoint's
 * header: hundreds of small objects, ~9 mallocs each). The tree is read-only:
 * not for mval_free or the mval setters (mval_copy makes an ordinary copy of
 * a part). json_pool_free(pool) releases it; on failure there is nothing to
 * release. */
typedef struct {
    void *blocks;
} json_pool;
int json_parse_pooled(const char *text, size_t len, mval *out, json_pool *pool);
void json_pool_free(json_pool *pool);
/* Read and parse a whole file. */
int json_load(const char *path, mval *out);

/* Append JSON for v to a malloc'ed buffer; buf, len and cap are updated.
 * indent < 0: compact; otherwise pretty with that many spaces per level. */
int json_dump(const mval *v, int indent, char **buf, size_t *len, size_t *cap);
/* A compact JSON array of the n strings v (malloc'ed), or NULL when out of
 * memory: a command line for a checkpoint's "argv", a class list. */
char *json_strv(char *const *v, int n);
/* Write JSON to f; returns 0 or -1. */
int json_fprint(FILE *f, const mval *v, int indent);

#endif
