/*
 * args — a filter's command line: checked option values (a bad one is a
 * one-line usage error and exit 2), the options every filter shares, and the
 * set-up every filter does first (err, the readers' limits from the
 * environment). The only library code that exits.
 *
 * Not here: the number parsers themselves (core/parse.h, which return
 * errors), getopt itself (filters call getopt_long) or option tables.
 */
#ifndef LRC_ARGS_H
#define LRC_ARGS_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

#include "core/parse.h"
#include "core/version.h"

/* Print "NAME: message" and exit with status. A trailing ':' adds strerror(errno). */
_Noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "NAME: <recorded error>" and exit with status. */
_Noreturn void die_err(int status);
/* As die_err, with context: "NAME: ctx: <recorded error>". */
_Noreturn void die_errx(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Checked option values for filters: parse or exit 2 with
 * "NAME: option --opt: message". */
int64_t opt_i64(const char *opt, const char *s, int64_t lo, int64_t hi);
double opt_f64(const char *opt, const char *s, double lo, double hi);
/* The same, the range error naming what the value is ("... is outside
 * 0..180 (degrees)"); what may be NULL. */
int64_t opt_i64_in(const char *opt, const char *s, int64_t lo, int64_t hi, const char *what);
double opt_f64_in(const char *opt, const char *s, double lo, double hi, const char *what);
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
/* usage_error with its arguments as a va_list. */
_Noreturn void vusage_error(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));
/* getopt_long for filters: an unknown option, an option missing its value
 * or given one it does not take, and an ambiguous abbreviation end the
 * program here (usage_bad_option), so the switch after it never sees '?'.
 * Otherwise returns what getopt_long returns. */
struct option;
int opt_next(int argc, char **argv, const char *shortopts, const struct option *longopts);
/* For getopt's '?': a one-line usage error naming the offending option,
 * "option '--spacng': unknown; did you mean '--spacing'?", from the
 * tables the last opt_next call was given. */
_Noreturn void usage_bad_option(char **argv);
/* The message usage_bad_option prints, for getopt's state now (tests). */
void opt_bad_message(char *buf, size_t n, char **argv, const char *shortopts, const struct option *longopts);
/* Initialise err, limits from the environment (exit 2 on a bad value), and
 * silence getopt's own messages (use usage_bad_option for '?'). */
void filter_init(int argc, char **argv);

#endif
