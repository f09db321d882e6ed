/*
 * testutil — helpers shared by the cmocka test programs: where the filters
 * and data are, scratch directories, running real processes with a timeout.
 *
 * Environment (set by `make check`): LRCPIPE_BIN (directory of the filters),
 * LRCPIPE_ROOT (the repository), LRCPIPE_DATA (the real CT data; default
 * ROOT/../shared/data, tests that need it are skipped when it is absent),
 * PYTHON (the interpreter with Debian's numpy/scipy/skimage/torch; default
 * /usr/bin/python3).
 */
#ifndef LRC_TESTUTIL_H
#define LRC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

const char *tu_bin(const char *name);  /* full path of a filter (static buffer ring) */
const char *tu_bindir(void);
const char *tu_root(void);
/* For a test that starts mpirun: Open MPI allowed to run as root (CI does),
 * and under make check SANITIZE=1 LeakSanitizer told what Open MPI itself
 * never frees (tests/lsan-openmpi.supp; an LSAN_OPTIONS already set wins). */
void tu_mpi_env(void);
const char *tu_data(void);             /* NULL when the shared data is absent */
const char *tu_sample(void);           /* the bundled sample directory */
const char *tu_python(void);
/* A fresh directory under $TMPDIR, removed at exit (unless LRCPIPE_KEEP_TMP). */
const char *tu_tmpdir(void);
/* tu_tmpdir()/name (a ring of 8 static buffers: up to 8 at once) */
const char *tu_tmp(const char *name);
/* A loopback TCP port that no socket holds now, chosen by the kernel (not
 * derived from the pid, so test programs run side by side do not collide) */
int tu_port(void);

/* Zeroed buffers for reference computations; abort when memory runs out.
 * falloc's are 64-byte aligned, as the engine's own (free() releases both). */
double *dalloc(size_t n);
float *falloc(size_t n);

/* Run "sh -c CMD" (printf-style) with PATH led by LRCPIPE_BIN and a timeout
 * of 300 s; returns the exit status, 128+N if killed by signal N, 124 on
 * timeout. stdout/stderr go where the command redirects them. */
int tu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The limit of the next tu_sh/tu_sh_err commands, in seconds (300 until
 * set): for a command that is a whole experiment, not a single stage. */
void tu_set_timeout(int seconds);
/* As tu_sh, capturing stderr into *err (malloc'ed, NUL-terminated). */
int tu_sh_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Run CMD in tu_tmpdir() with stdout to out.txt: the exit status must be
 * `status`, a failure's stderr one line, containing n1 and n2 when given. */
void tu_expect(const char *cmd, int status, const char *n1, const char *n2);

/* Whole file into memory (NUL-terminated); NULL if unreadable. */
char *tu_read(const char *path, size_t *len);
int tu_write(const char *path, const void *data, size_t len);
/* Count the lines of text in s. */
int tu_count_lines(const char *s);

/* Skip the current test with a message when the shared data is absent. */
#define TU_NEED_DATA()                                                        \
    do {                                                                      \
        if (!tu_data()) {                                                     \
            print_message("shared data absent: skipped\n");                   \
            skip();                                                           \
        }                                                                     \
    } while (0)

#endif
