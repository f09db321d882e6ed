/*
 * labels — a labels file: the class names of a segmentation by label value,
 * as a JSON object {"0": "background", "1": "Brainstem", ...} (the form the
 * datasets ship). The one reader of that file; ct-resample puts the names in
 * meta 'classes', dice-eval and frame-view name organs with them.
 *
 * The other form of the same list is a frame's meta 'classes': an array of
 * names, the label value the index (ct-resample writes it).
 */
#ifndef LRC_LABELS_H
#define LRC_LABELS_H

#include "core/mval.h"

#define LABELS_MAX 256

/* Read path into names[LABELS_MAX] (malloc'ed strings, NULL for a value the
 * file does not name; earlier entries of names are freed when the file
 * names them again) and *n = the largest value named + 1. 0, or -1 +
 * err_set naming the file and entry. */
int labels_load(const char *path, char *names[LABELS_MAX], int *n);
/* Meta 'classes' of a frame's meta map into names[LABELS_MAX] (malloc'ed;
 * entries past the list NULL, earlier ones overwritten) and *n = its length.
 * 1 when meta has no 'classes' (names untouched), 0, or -1 + err_set when
 * it is not an array of at most LABELS_MAX strings. */
int labels_from_meta(const mval *meta, char *names[LABELS_MAX], int *n);
/* 1 if the two lists name the same classes in the same order. */
int labels_same(char *const a[], int na, char *const b[], int nb);
/* Free names[0..LABELS_MAX) and set them to NULL. */
void labels_free(char *names[LABELS_MAX]);

#endif
