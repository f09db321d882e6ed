/*
 * readall — a whole file into memory, refusing one that is too large, so a
 * reader of small text files (JSON, dataset.json) cannot be made to
 * allocate without bound.
 *
 * Not here: opening and closing the file, and the messages, which are the
 * caller's (it knows what kind of file was too large).
 */
#ifndef LRC_READALL_H
#define LRC_READALL_H

#include <stddef.h>
#include <stdio.h>

/* Read f to its end into *buf (malloc'ed, *n bytes). 0; 1 when f holds max
 * bytes or more; -1 + err_set("out of memory"); -2 on a read error (errno
 * as the read left it). On any failure *buf is NULL. */
int readall(FILE *f, size_t max, char **buf, size_t *n);

#endif
