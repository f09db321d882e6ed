/*
 * slicegroup — slices of volumes that arrive in any order, interleaved
 * between volumes, grouped by volume id; and the one rule for when a volume
 * is complete (slice-regroup puts it back together then, dice-eval scores it).
 *
 * A volume has Z slices: meta 'shape' [Z, Y, X] of its slices, or the depth
 * of a volume record (sg_set_z); until then Z is the largest z seen + 1 and
 * not yet known. Its producer sent N of them: meta 'nslices' (slice-extract
 * --every and --skip-empty send fewer than Z; sg_expect); without it, all Z.
 * Slices come in one or more maps (slice-regroup: one, the slice record;
 * dice-eval: 'label' and 'pred', which may come in separate records).
 *
 *   complete  <=>  Z is known and every map holds N slices (N = Z: all of
 *                  0..Z-1).
 *
 * A complete volume is handed to the caller, which calls slicegroup_done:
 * its id is remembered, and a later slice of it is an error (the id occurs
 * twice in the stream). Errors name the volume: "volume ID: ...".
 *
 * Not here: what a slice holds (the caller's struct, which begins with an
 * sg_volume), placing slices into a grid, which slices a scorer needs.
 */
#ifndef LRC_SLICEGROUP_H
#define LRC_SLICEGROUP_H

#include <stddef.h>
#include <stdint.h>

#define SG_MAXMAPS 2
#define SG_MAX_Z (1 << 20)

typedef struct {
    char *id;
    int64_t Z;                   /* slices in the volume (see zknown) */
    int zknown;                  /* Z from meta 'shape' or a volume record */
    int64_t nexpect;             /* meta 'nslices' (0: all Z) */
    int64_t cap;                 /* length of have[] */
    uint8_t *have[SG_MAXMAPS];   /* [cap]: slice z of map m has arrived */
    int64_t nhave[SG_MAXMAPS];
} sg_volume;

typedef struct {
    int nmaps;
    const char *const *map_names; /* for messages ("'label' of slice z=3"); NULL with one map */
    size_t vol_size;              /* sizeof the caller's struct, which begins with an sg_volume */
    sg_volume **vols;             /* the volumes being gathered */
    int nvols;
    char **done;                  /* ids handed out */
    int ndone;
} slicegroup;

/* vol_size >= sizeof(sg_volume); map_names may be NULL. */
void slicegroup_init(slicegroup *g, int nmaps, const char *const *map_names, size_t vol_size);
/* The volume of id, added (zeroed, of vol_size bytes) when new. NULL + err_set
 * when the volume was handed out already (z: the slice that came, for the
 * message) or out of memory. */
sg_volume *slicegroup_get(slicegroup *g, const char *id, int64_t z);
/* Remove v from the volumes being gathered and remember its id (which stays
 * valid until slicegroup_free); v itself is the caller's now, to free()
 * when done with it. 0, or -1 (out of memory). */
int slicegroup_done(slicegroup *g, sg_volume *v);
/* Free the volumes still being gathered (the caller freed their parts) and
 * the ids. */
void slicegroup_free(slicegroup *g);

/* Z from why ("meta 'shape'", "a volume record"): in 1..SG_MAX_Z, the
 * same as before, and above every z seen. 0 or -1 + err_set. */
int sg_set_z(sg_volume *v, int64_t Z, const char *why);
/* meta 'nslices': in 1..Z, the same as before. 0 or -1 + err_set. */
int sg_expect(sg_volume *v, int64_t n);
/* Slice z of map m has arrived: z in 0..Z-1 when Z is known (else it
 * raises Z), not given before. 0 or -1 + err_set. */
int sg_add(const slicegroup *g, sg_volume *v, int m, int64_t z);
/* The rule above. */
int sg_complete(const slicegroup *g, const sg_volume *v);
/* "3, 7..9, 12": the slices of 0..Z-1 map m lacks (at most 6 ranges). */
void sg_missing(const sg_volume *v, int m, char *buf, size_t n);

#endif
