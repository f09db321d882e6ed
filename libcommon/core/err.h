/*
 * err — error messages and logging for lrcpipe.
 *
 * Library code never exits: it records one message with err_set() (per
 * thread) and returns -1 or NULL; it prints only warnings and information
 * through log_*(). A filter's main() prints that message with die_err()
 * (cli/args.h) as "NAME: message" on stderr.
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
/* The program's own name (err_progname may carry more: "lrc-train: rank 1"
 * in a job of several ranks, nn/dist.h), for "see NAME --help". */
extern const char *err_cmdname;
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

/* Print the message when log_level is at least level: "NAME: warning: ...",
 * "NAME: ..." (info) or "NAME: debug: ...". */
enum { LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };
void log_at(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

/* "NAME: kind: message" (kind NULL: "NAME: message") on stderr, a trailing
 * ':' in fmt adding strerror(errno): what log_* and cli/args.h's die print. */
void err_vprint(const char *kind, const char *fmt, va_list ap);

#endif
