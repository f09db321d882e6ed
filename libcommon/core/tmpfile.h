/*
 * tmpfile — write a file under a temporary name and rename it into place.
 *
 * tmpfile_open(path) creates "DIR/.BASE.tmp-XXXXXX" next to path (same file
 * system, so the rename is atomic). tmpfile_commit() checks that every byte
 * reached the file (close errors, optional fsync) before the rename, so a full
 * disk or a killed process never leaves a partial file under the final name.
 * Temporaries that were neither committed nor aborted are removed at exit and
 * on SIGINT, SIGTERM, SIGHUP and SIGPIPE.
 *
 * A path that exists and is neither a regular file nor a directory (a
 * device such as /dev/null, a FIFO) is opened and written in place: renaming
 * a temporary over it would replace the device with a regular file.
 *
 * Not here: the content; callers write to tmpfile_fd() themselves.
 */
#ifndef LRC_TMPFILE_H
#define LRC_TMPFILE_H

typedef struct tmpfile_s tmpfile_t;

tmpfile_t *tmpfile_open(const char *path);
int tmpfile_fd(const tmpfile_t *t);
const char *tmpfile_path(const tmpfile_t *t); /* the temporary's name */
/* Close (after fsync if do_fsync) and rename into place; frees t. */
int tmpfile_commit(tmpfile_t *t, int do_fsync);
/* Close and remove; frees t. */
void tmpfile_abort(tmpfile_t *t);
/* The end of every atomic write: when ok, commit (tmpfile_commit with
 * do_fsync); else abort with err_set "PATH: write error: <errno>".
 * Frees t. 0 or -1. */
int tmpfile_finish(tmpfile_t *t, int ok, const char *path, int do_fsync);

#endif
