/*
 * parse — checked parsing of numbers and lists from strings (the command
 * line, the environment, files).
 *
 * Every parser takes the whole string: "12x" or "" is an error, as is a value
 * out of range. They return 0 or -1 with err_set() describing the problem;
 * none exits (cli/args.h turns a failure into a usage error).
 *
 * Not here: option handling (cli/args.h).
 */
#ifndef LRC_PARSE_H
#define LRC_PARSE_H

#include <stddef.h>
#include <stdint.h>

int parse_i64(const char *s, int64_t *out);
int parse_int(const char *s, int *out);
int parse_f64(const char *s, double *out);   /* finite values only */
/* A byte count with optional K, M, G, T suffix (powers of 1024). */
int parse_size(const char *s, uint64_t *out);
/* Exactly n comma-separated numbers: "2.5,1,1". */
int parse_f64_list(const char *s, double *out, int n);
int parse_i64_list(const char *s, int64_t *out, int n);
/* A picture size "WxH" ("800x500"), each side in [lo, hi]. */
int parse_wxh(const char *s, int64_t *w, int64_t *h, int64_t lo, int64_t hi);
/* A range "A:B" (inclusive; either side may be empty for open). */
int parse_i64_range(const char *s, int64_t *lo, int64_t *hi);

#endif
