/*
 * filter — the skeleton every filter repeats: the "Common:" block of --help,
 * lists filled by repeatable options and operands, the output opened and its
 * start record written with the command line, each input stream read to its
 * end, and the output ended (or aborted on an error) and closed.
 *
 * Everything here that fails prints "NAME: message" and exits 1 (out of
 * memory, an output that cannot be opened), as a filter's main would;
 * filter_each_input() instead returns the error, so that the caller decides.
 *
 * Not here: option tables and getopt (the filter's own), what a record
 * becomes (the callback), parallel record workers (core/recpool.h).
 */
#ifndef LRC_FILTER_H
#define LRC_FILTER_H

#include <getopt.h>
#include <stddef.h>

#include "core/mval.h"
#include "io/frame.h"
#include "io/stream.h"

/* Print the options every filter shares, under "Common:", as the end of
 * --help. verbose: what -v does for this filter (NULL: "more messages
 * (repeatable)"). */
void filter_usage_common(const char *verbose);

/* The end of every filter's long option table: --help and the options of
 * OPT_COMMON_LONG (cli/args.h), then the terminator. */
#define FILTER_LONGOPTS_END {"help", no_argument, 0, 'h'}, OPT_COMMON_LONG, {0, 0, 0, 0}

/* --threads N of a filter whose parallel work is OpenMP loops
 * (ct-resample, slice-extract): listed in its table, it sets the number of
 * OpenMP threads, 1..1024 (filter_getopt; a usage error otherwise). The
 * help line stays the filter's: it says what runs in parallel. */
#define FILTER_OPT_OMP_THREADS 0x1010
#define FILTER_LONGOPT_OMP_THREADS {"threads", required_argument, 0, FILTER_OPT_OMP_THREADS}

/* The filter's next option from getopt_long. The short options are the
 * long ones whose value is a letter or digit (-i for {"input", ..., 'i'}),
 * so the table is the one list of them. Handled here: the options every
 * filter has (opt_common), --threads when the table lists
 * FILTER_LONGOPT_OMP_THREADS, -h/--help (usage() on stdout, then exit 0) and
 * an unknown option or a missing value (a usage error naming it, exit 2).
 * Returns the option, or -1 after the last (operands from optind). */
int filter_getopt(int argc, char **argv, const struct option *longopts, void (*usage)(void));

/* A list of strings from a repeatable option or the operands. */
typedef struct {
    const char **v;
    int n;
} strlist;

/* Append s (not copied: argv strings live as long as the process). */
void strlist_add(strlist *l, const char *s);
/* Append argv[first..argc). */
void strlist_add_argv(strlist *l, int first, int argc, char **argv);
/* 1 if the list is empty (everything is wanted) or holds name. */
int strlist_wants(const strlist *l, const char *name);
void strlist_free(strlist *l);
/* The operands argv[first..argc) as inputs, and "-" (stdin) when there are
 * no inputs at all. */
void filter_inputs(strlist *inputs, int first, int argc, char **argv);
/* Drop the tensors of f that names does not hold (names empty: keep all). */
void filter_keep_tensors(frame *f, const strlist *names);

/* io/manifest.h's manifest_id_of (a case id from a file name); exits on no
 * memory. */
char *filter_case_id(const char *path, const char *const *exts, int nexts);
/* malloc(n) (n 0: 1 byte); exits on no memory. */
void *filter_malloc(size_t n);
/* Grow arr (n elements of elsize) by one zeroed element; exits on no memory. */
void *filter_push(void *arr, int *n, size_t elsize);

/* For a filter that allocates and frees the same large buffers over and
 * over (per record, per organ): keep freed memory in the heap rather than
 * return it to the kernel (mmap and trim thresholds of 256 and 512 MiB),
 * as page faulting fresh memory in again costs more than holding it. */
void filter_keep_heap(void);

/* A start record's parameters: a map holding "argv" (the command line as an
 * array). The caller adds its own keys and frees it. */
mval filter_params(int argc, char **argv);
/* Open spec (NULL or "-": stdout) and write the start record with params. */
stream_out *filter_output(const char *spec, const mval *params);
/* rc 0: end the stream and close it; otherwise (or if that fails) abort it
 * and exit 1 with the recorded error. */
void filter_output_done(stream_out *out, int rc);

/* Read every input in turn, calling fn on each record (which fn may keep by
 * moving it; the frame is freed after fn returns). An error from fn is
 * prefixed with "INPUT: record seq S (id I)" (", z Z" added for a slice). Returns 0, or -1 at the first
 * error (a stream that cannot be opened or read, or fn's). */
typedef int (*filter_record_fn)(frame *f, stream_in *in, void *ctx);
int filter_each_input(const strlist *inputs, filter_record_fn fn, void *ctx);

#endif
