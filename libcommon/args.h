/*
 * args — checked parsing of numbers and lists from the command line and the
 * environment, and the options every filter shares.
 *
 * Every parser takes the whole string: "12x" or "" is an error, as is a value
 * out of range. They return 0 or -1 with err_set() describing the problem.
 *
 * Not here: getopt itself (filters call getopt_long) or option tables.
 */
#ifndef LRC_ARGS_H
#define LRC_ARGS_H

#include <stddef.h>
#include <stdint.h>

#define LRCPIPE_VERSION "0.1.0"

int parse_i64(const char *s, int64_t *out);
int parse_int(const char *s, int *out);
int parse_f64(const char *s, double *out);   /* finite values only */
/* A byte count with optional K, M, G, T suffix (powers of 1024). */
int parse_size(const char *s, uint64_t *out);
/* Exactly n comma-separated numbers: "2.5,1,1". */
int parse_f64_list(const char *s, double *out, int n);
int parse_i64_list(const char *s, int64_t *out, int n);
/* A range "A:B" (inclusive; either side may be empty for open). */
int parse_i64_range(const char *s, int64_t *lo, int64_t *hi);

/* Checked option values for filters: parse or exit 2 with
 * "NAME: option --opt: message". */
int64_t opt_i64(const char *opt, const char *s, int64_t lo, int64_t hi);
double opt_f64(const char *opt, const char *s, double lo, double hi);
void opt_f64_list(const char *opt, const char *s, double *out, int n, double lo, double hi);

/* Shared handling of the options every filter has. Filters list these long
 * options in their getopt table and pass the cases here:
 *   -q (quiet) -v (verbose, repeatable) --version --max-record SIZE
 * Returns 1 if the option was handled. */
int opt_common(int c, const char *arg);
#define OPT_VERSION 0x1000
#define OPT_MAX_RECORD 0x1001
#define OPT_COMMON_LONG                                                   \
    {"quiet", no_argument, 0, 'q'}, {"verbose", no_argument, 0, 'v'},   \
        {"version", no_argument, 0, OPT_VERSION},                       \
        {"max-record", required_argument, 0, OPT_MAX_RECORD}
/* Prints "NAME (lrcpipe) VERSION" on stdout and exits 0. */
_Noreturn void print_version(void);
/* Usage error: "NAME: msg" + "Try 'NAME --help'." and exit 2. */
_Noreturn void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* For getopt's '?': a one-line usage error naming the offending option. */
_Noreturn void usage_bad_option(char **argv);
/* Initialise err, limits from the environment (exit 2 on a bad value), and
 * silence getopt's own messages (use usage_bad_option for '?'). */
void filter_init(int argc, char **argv);

#endif
