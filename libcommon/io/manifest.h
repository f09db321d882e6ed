/*
 * manifest — case lists: a CSV file naming volumes and their label maps.
 *
 * Format (data/sample/manifest.csv): the first line that is not blank and
 * not a comment is a header naming the columns; "id" and "image" are
 * required, "label" is optional, other columns are ignored. Every further
 * line is one case: id (unique, non-empty, no '/'), image path, label path
 * (may be empty: an unlabelled case). Lines starting with '#' and blank lines
 * are skipped. Fields are separated by commas; a field may be quoted with
 * double quotes ("" is a quote inside). Surrounding spaces are trimmed. A
 * relative path is taken relative to the manifest's directory.
 *
 * Errors name the file and line: "list.csv:7: 2 fields, want 3".
 *
 * A file whose first non-blank byte is '{' is a Decathlon / nnU-Net
 * dataset.json instead (io/dataset.h): its cases and its label names.
 *
 * Not here: reading the volumes (nii.h); checking that the files exist
 * (callers do, so that they can name the line).
 */
#ifndef LRC_MANIFEST_H
#define LRC_MANIFEST_H

#include <stddef.h>

typedef struct {
    char *id;
    char *image; /* resolved path */
    char *label; /* resolved path, NULL when empty */
    int line;    /* 1-based line number in the file (0 in a dataset.json) */
    char where[80]; /* where the case is named: "7" (the line), "training[3]" */
} manifest_case;

typedef struct {
    char *path;
    manifest_case *cases;
    size_t n;
    char **classes; /* dataset.json: label names by value ("" for gaps), else NULL */
    int nclasses;
} manifest;

int manifest_load(const char *path, manifest *m);
/* A path of a case list: p itself when absolute (or dir is NULL), else
 * dir/p with a leading "./" of p dropped. malloc'ed; NULL on no memory. */
char *manifest_path(const char *dir, const char *p);
/* A case id from a file or folder path: its last component (a trailing
 * '/' ignored) without the first of exts[0..nexts) it ends with
 * ("a/b/subj01.nii.gz" -> "subj01"). malloc'ed; NULL on no memory. */
char *manifest_id_of(const char *path, const char *const *exts, int nexts);
void manifest_free(manifest *m);

#endif
