/*
 * labels — a labels file: the class names of a segmentation by label value,
 * as a JSON object {"0": "background", "1": "Brainstem", ...} (the form the
 * datasets ship). The one reader of that file; ct-resample puts the names in
 * meta 'classes', dice-eval and frame-view name organs with them.
 *
 * Not here: meta 'classes' of a frame (an array, read by whoever uses it).
 */
#ifndef LRC_LABELS_H
#define LRC_LABELS_H

#define LABELS_MAX 256

/* Read path into names[LABELS_MAX] (malloc'ed strings, NULL for a value the
 * file does not name; earlier entries of names are freed when the file
 * names them again) and *n = the largest value named + 1. 0, or -1 +
 * err_set naming the file and entry. */
int labels_load(const char *path, char *names[LABELS_MAX], int *n);
/* Free names[0..LABELS_MAX) and set them to NULL. */
void labels_free(char *names[LABELS_MAX]);

#endif
