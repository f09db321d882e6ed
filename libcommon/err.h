/*
 * err — error messages and logging for lrcpipe.
 *
 * Library code never prints and never exits: it records one message with
 * err_set() (per thread) and returns -1 or NULL. A filter's main() prints that
 * message with die_err() or log_*() as "NAME: message" on stderr.
 *
 * Verbosity: 0 quiet (errors only), 1 normal (warnings), 2 verbose (info),
 * 3 debug. Filters map -q to 0 and each -v to one level up.
 *
 * Not here: progress bars (see progress in each trainer) and exit policy
 * beyond the 0 / 1 / 2 convention (2 is a usage error).
 */
#ifndef LRC_ERR_H
#define LRC_ERR_H

#include <stdarg.h>

#define EXIT_USAGE 2

extern const char *err_progname;
extern int log_level;

/* Set the program name used as message prefix (basename of argv0). */
void err_init(const char *argv0);

/* Record the error message of the current thread; a trailing ':' in fmt
 * appends strerror(errno). Always returns -1 so that `return err_set(...)` reads well. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefix the recorded message with more context: "ctx: old message". */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_get(void);
void err_clear(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Print "NAME: message" and exit with status. A trailing ':' adds strerror(errno). */
_Noreturn void die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "NAME: <recorded error>" and exit with status. */
_Noreturn void die_err(int status);
/* As die_err, with context: "NAME: ctx: <recorded error>". */
_Noreturn void die_errx(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
