/*
 * picfiles — the PNG files a run writes, named from a pattern: %i the
 * record's id ("noid" without one), %z the slice (or "sheet", "curve"), %s
 * the record's sequence number, %% a '%'. Folders in the name are made; a
 * name given twice in one run is an error rather than a silent overwrite.
 *
 * Not here: encoding PNG (canvas.h).
 */
#ifndef LRC_PICFILES_H
#define LRC_PICFILES_H

#include <stddef.h>
#include <stdint.h>

#include "viz/canvas.h"

typedef struct {
    const char *pattern;
    char **written;
    int n;
} picfiles;

/* The file name of a picture into out[n]. 0; -1 + err_set when too long;
 * -2 + err_set for a placeholder the pattern should not have. */
int picfiles_name(const picfiles *pf, char *out, size_t n, const char *id, const char *zs, int64_t seq);
/* Write c under its name (picfiles_name's errors, a name written before,
 * a folder or file that cannot be made); its name at -v. */
int picfiles_write(picfiles *pf, const canvas *c, const char *id, const char *zs, int64_t seq);
void picfiles_free(picfiles *pf);

#endif
