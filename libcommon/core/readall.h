/*
 * readall — a whole file into memory, refusing one that is too large, so a
 * reader of small text files (JSON, dataset.json) cannot be made to
 * allocate without bound.
 *
 * Not here: what kind of file was too large, and a read error's message,
 * which are the caller's.
 */
#ifndef LRC_READALL_H
#define LRC_READALL_H

#include <stddef.h>
#include <stdio.h>

/* Read f to its end into *buf (malloc'ed, *n bytes). 0; 1 when f holds max
 * bytes or more; -1 + err_set("out of memory"); -2 on a read error (errno
 * as the read left it). On any failure *buf is NULL. */
int readall(FILE *f, size_t max, char **buf, size_t *n);
/* readall of the file at path, opened and closed here: 0; -1 + err_set
 * ("PATH:" and strerror when it cannot be opened, "PATH: TOO_LARGE" when it
 * holds max bytes or more, "out of memory"); -2 on a read error, for the
 * caller to say (errno as the read left it). */
int readall_path(const char *path, size_t max, const char *too_large, char **buf, size_t *n);

#endif
