/*
 * segreport — dice-eval's results: which organs a volume scores (ok, absent,
 * missed, spurious, ignored), the statistics over volumes (mean and standard
 * deviation per organ and overall, numpy.std's ddof = 0), and the three
 * ways of writing them: an aligned table, TSV (one row per volume and organ,
 * then '*' summary rows) and one JSON document. dice-eval(1) specifies the
 * columns and keys.
 *
 * Rules: an organ in neither map of a volume ("absent") or named in the
 * ignore list for it is left out of every mean; Dice of the other entries
 * counts (0 for an organ one map misses); HD95/ASSD count where they are
 * finite, the one-sided ones (infinite) in n_inf. The organs shown are those
 * some volume scores.
 *
 * Not here: the counting and surface metrics themselves (segmetric.h),
 * gathering slices into volumes (ct/slicegroup.h).
 */
#ifndef LRC_SEGREPORT_H
#define LRC_SEGREPORT_H

#include <stdint.h>
#include <stdio.h>

#include "eval/segmetric.h"

typedef enum { SEGR_OK, SEGR_ABSENT, SEGR_MISSED, SEGR_SPURIOUS, SEGR_IGNORED } segr_status;
enum { SEGR_DICE, SEGR_HD95, SEGR_ASSD, SEGR_NSD, SEGR_NMETRIC };

/* What is reported of one volume. */
typedef struct {
    char *id;
    int64_t Z, Y, X;                 /* its grid */
    int64_t nz;                      /* slices scored */
    double spacing[3];               /* mm, [dz, dy, dx] */
    segm_count_t cnt[SEGM_NLABELS];
    segm_surface_t *surf;            /* [SEGM_NLABELS] with surface metrics, else NULL */
    uint8_t ignore[SEGM_NLABELS];    /* 1: left out of this volume's scores */
} segr_volume;

typedef struct {
    double sum, sumsq, mean, std;
    int64_t n, ninf;
} segr_stat;

typedef struct {
    /* set by the caller */
    segr_volume **vols;              /* in the order to report */
    int nvols;
    int surface;                     /* HD95 and ASSD too */
    double nsd;                      /* with surface: NSD at this tolerance in mm too (0: no NSD;
                                      * the volumes' surf[].nsd hold it) */
    int digits;                      /* decimals in the table and TSV */
    char **names;                    /* class names by value (NULL entries: the value) */
    int nnames;                      /* 0: no class list */
    const char *names_src;           /* where the list came from, for messages */
    /* set by segreport_summarise */
    int organs[SEGM_NLABELS], norgans;
    segr_stat org[SEGM_NLABELS][SEGR_NMETRIC], all[SEGR_NMETRIC];
} segreport;

/* The surface metrics of a volume whose counts are in (segm_count): v->surf
 * allocated and filled for every organ in ref or pred, the organs in
 * parallel (OpenMP). nsd_tol: NSD's tolerance in mm (NAN: none). ref, pred
 * [v->nz, v->Y, v->X], v->spacing set. 0, or -1 + err_set ("volume ID: ..."). */
int segreport_surface(segr_volume *v, const uint8_t *ref, const uint8_t *pred, double nsd_tol);

/* A volume's organ c. */
segr_status segreport_status(const segr_volume *v, int c);
/* Name of class c: its name in the list, else the number (in buf). */
const char *segreport_class_name(const segreport *r, int c, char *buf, size_t n);
/* Apply an ignore list file ("ID ORGAN[,ORGAN]..." per line, '#' comments;
 * an organ by name or label value) to r's volumes. A volume the file names
 * that is not in r is reported at -v. 0, or -1 + err_set "FILE:LINE: ...". */
int segreport_ignore(segreport *r, const char *path);
/* The organs shown and the statistics. 0, or -1 (out of memory). */
int segreport_summarise(segreport *r);

/* The writers. pass: the --min-dice verdict for JSON (min_dice NaN: none). */
void segreport_table(const segreport *r, FILE *out);
void segreport_tsv(const segreport *r, FILE *out);
int segreport_json(const segreport *r, FILE *out, double min_dice, int pass);

#endif
