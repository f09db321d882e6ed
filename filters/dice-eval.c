/*
 * dice-eval — score predicted label maps against ground truth: 3-D Dice per
 * volume and organ (HD95 and ASSD with --surface), means and standard
 * deviations, as a table, TSV or JSON on stdout.
 *
 * Reads frames carrying `label` and `pred` (slices are regrouped into
 * volumes by id and z; they may come in different streams) or pairs of NIfTI
 * label maps. A volume whose slices are not all there is an error, never
 * scored as if the missing slices were background. The metrics themselves
 * are in libcommon/eval/segmetric.c.
 */
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/err.h"
#include "core/json.h"
#include "eval/segmetric.h"
#include "io/frame.h"
#include "io/nii.h"
#include "io/stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT]...\n"
           "   or: %s [OPTION]... --ref REF.nii.gz --pred PRED.nii.gz [--ref ... --pred ...]\n"
           "   or: %s [OPTION]... REF.nii.gz PRED.nii.gz\n"
           "Score predicted label maps against ground truth: 3-D Dice per volume and organ.\n"
           "\n"
           "Input:\n"
           "  -i, --input SPEC        frames with 'label' and/or 'pred' (file, '-', tcp://, ipc://,\n"
           "                          '@' binds); repeatable, also as operands; default stdin\n"
           "      --ref FILE          a ground-truth NIfTI label map (repeatable, pairs with --pred)\n"
           "      --pred FILE         the predicted NIfTI label map for the preceding --ref\n"
           "      --labels-json FILE  organ names by label value ({\"1\": \"Brainstem\", ...});\n"
           "                          default: meta 'classes' of the frames, else the numbers\n"
           "      --ignore FILE       organs not to score per volume: lines 'ID ORGAN[,ORGAN]...'\n"
           "      --spacing DZ,DY,DX  voxel spacing in mm for --surface (default: from meta / NIfTI)\n"
           "\n"
           "Metrics and output:\n"
           "      --surface           also HD95 and ASSD in mm\n"
           "      --nsd MM            also the normalised surface Dice at a tolerance of MM mm\n"
           "                          (implies --surface)\n"
           "      --tsv               tab-separated values, one row per volume and organ\n"
           "      --json              one JSON document\n"
           "      --digits N          decimals in the table and TSV (default 4)\n"
           "      --min-dice X        exit status 1 when the overall mean Dice is below X\n"
           "\n"
           "Common:\n"
           "  -q, --quiet             errors only\n"
           "  -v, --verbose           more messages (repeatable): one line per volume scored\n"
           "      --max-record SIZE   refuse records larger than SIZE bytes (default 4G)\n"
           "  -h, --help              this help\n"
           "      --version           version\n",
           err_progname, err_progname, err_progname);
}

enum {
    OPT_REF = 0x100, OPT_PRED, OPT_LABELS, OPT_IGNORE, OPT_SPACING, OPT_SURFACE, OPT_TSV, OPT_JSON, OPT_DIGITS,
    OPT_MIN_DICE, OPT_NSD
};

/* Where a value of the table comes from. */
typedef enum { ST_OK, ST_ABSENT, ST_MISSED, ST_SPURIOUS, ST_IGNORED } status_t;
static const char *status_name[] = {"ok", "absent", "missed", "spurious", "ignored"};

enum { LAB, PRED }; /* the two maps of a volume */
static const char *map_name[] = {"label", "pred"};

#define MAX_Z (1 << 20)

typedef struct {
    char *id;
    int64_t Z, Y, X;        /* Y, X from the first tensor; Z: see zknown */
    int zknown;             /* Z from meta 'shape' or a volume record (1), else max z seen + 1 */
    int64_t nexpect;        /* meta 'nslices': slices the producer sent (0: all Z) */
    int64_t nz;             /* slices scored (stacked in z order) */
    int64_t nslots;
    uint8_t **sl[2];        /* [LAB|PRED][z]: Y*X bytes, NULL until seen */
    double spacing[3];
    int has_spacing;
    int done;
    int index;              /* position after sorting by id */
    segm_count_t cnt[SEGM_NLABELS];
    segm_surface_t *surf;   /* [SEGM_NLABELS] with --surface */
} volume;

static struct {
    const char **inputs;
    int ninputs;
    const char **refs, **preds;
    int nrefs, npreds;
    const char *labels_json, *ignore;
    double spacing[3];
    int has_spacing;
    int surface, tsv, json, digits;
    double nsd; /* tolerance in mm; 0: no NSD */
    double min_dice;
    int has_min_dice;
} opt = {.digits = 4};

/* Organ names by label value: from --labels-json or the first meta 'classes'. */
static struct {
    char *name[SEGM_NLABELS];
    int n;          /* class count (0: no list, every value 0..255 allowed) */
    char src[512];  /* where the list came from, for messages */
} cls;

static volume **vols;
static int nvols;

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        die(1, "out of memory");
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        die(1, "out of memory");
    return p;
}

/* ---- class list ---- */

static int load_labels_json(const char *path)
{
    mval doc = {0};
    if (json_load(path, &doc))
        return -1;
    if (doc.kind != MV_MAP) {
        mval_free(&doc);
        return err_set("%s: want an object {\"1\": \"name\", ...}", path);
    }
    for (size_t i = 0; i < doc.m.n; i++) {
        int64_t v;
        if (parse_i64(doc.m.k[i], &v) || v < 0 || v >= SEGM_NLABELS || doc.m.v[i].kind != MV_STR) {
            err_set("%s: entry \"%s\": want a label value 0..255 mapped to a name", path, doc.m.k[i]);
            mval_free(&doc);
            return -1;
        }
        free(cls.name[v]);
        cls.name[v] = xstrdup(doc.m.v[i].s.p);
        if (v + 1 > cls.n)
            cls.n = (int)v + 1;
    }
    mval_free(&doc);
    snprintf(cls.src, sizeof cls.src, "%s", path);
    return 0;
}

/* The meta 'classes' of a record: adopt the first list seen, check later
 * ones against it (unless --labels-json overrides them). */
static int check_classes(const frame *f)
{
    const mval *c = mval_map_get(&f->meta, "classes");
    if (!c || opt.labels_json)
        return 0;
    if (c->kind != MV_ARRAY || c->a.n > SEGM_NLABELS)
        return err_set("meta 'classes' must be an array of at most %d names", SEGM_NLABELS);
    for (size_t i = 0; i < c->a.n; i++)
        if (c->a.v[i].kind != MV_STR)
            return err_set("meta 'classes' must be an array of strings");
    if (!cls.n) {
        for (size_t i = 0; i < c->a.n; i++)
            cls.name[i] = xstrdup(c->a.v[i].s.p);
        cls.n = (int)c->a.n;
        snprintf(cls.src, sizeof cls.src, "meta 'classes' of volume %s", f->id);
        return 0;
    }
    int same = (int)c->a.n == cls.n;
    for (int i = 0; same && i < cls.n; i++)
        same = cls.name[i] && !strcmp(cls.name[i], c->a.v[i].s.p);
    if (!same)
        return err_set("meta 'classes' differs from %s (give --labels-json to choose one list)", cls.src);
    return 0;
}

static const char *class_name(int c, char *buf, size_t n)
{
    if (c < cls.n && cls.name[c])
        return cls.name[c];
    snprintf(buf, n, "%d", c);
    return buf;
}

/* ---- volumes ---- */

static volume *find_volume(const char *id, int create)
{
    static volume *last;
    if (last && !strcmp(last->id, id))
        return last;
    for (int i = 0; i < nvols; i++)
        if (!strcmp(vols[i]->id, id))
            return last = vols[i];
    if (!create)
        return NULL;
    volume *v = calloc(1, sizeof *v);
    if (!v)
        die(1, "out of memory");
    v->id = xstrdup(id);
    v->Y = v->X = -1;
    vols = xrealloc(vols, sizeof *vols * (size_t)(nvols + 1));
    vols[nvols++] = v;
    return last = v;
}

static void grow_slots(volume *v, int64_t n)
{
    if (n <= v->nslots)
        return;
    int64_t cap = v->nslots ? v->nslots : 16;
    while (cap < n)
        cap *= 2;
    for (int m = 0; m < 2; m++) {
        v->sl[m] = xrealloc(v->sl[m], sizeof *v->sl[m] * (size_t)cap);
        memset(v->sl[m] + v->nslots, 0, sizeof *v->sl[m] * (size_t)(cap - v->nslots));
    }
    v->nslots = cap;
}

/* Label values of t (any integer dtype, values 0..255) into dst[n]. */
static int to_labels(uint8_t *dst, const tensor *t, size_t n, const char *what)
{
    if (t->dtype == DT_U8) {
        memcpy(dst, t->data, n);
        return 0;
    }
    if (t->dtype == DT_F32 || t->dtype == DT_F64)
        return err_set("'%s' is %s; a label map must hold integers", what, dtype_name(t->dtype));
    for (size_t i = 0; i < n; i++) {
        double x = tensor_get(t, i);
        if (x < 0 || x > 255)
            return err_set("'%s' has label value %.0f, outside 0..255", what, x);
        dst[i] = (uint8_t)x;
    }
    return 0;
}

static int set_z(volume *v, int64_t Z, const char *why)
{
    if (Z < 1 || Z > MAX_Z)
        return err_set("volume %s: %s gives %lld slices", v->id, why, (long long)Z);
    if (v->zknown && v->Z != Z)
        return err_set("volume %s: %s gives %lld slices, earlier records %lld", v->id, why, (long long)Z,
                       (long long)v->Z);
    if (!v->zknown) {
        /* Slices seen before must fit. */
        for (int m = 0; m < 2; m++)
            for (int64_t z = Z; z < v->nslots; z++)
                if (v->sl[m][z])
                    return err_set("volume %s: slice z=%lld is outside its %lld slices (%s)", v->id, (long long)z,
                                   (long long)Z, why);
        v->zknown = 1;
        v->Z = Z;
        grow_slots(v, Z);
    }
    return 0;
}

static int set_plane(volume *v, int64_t Y, int64_t X, const char *what)
{
    if (v->Y < 0) {
        v->Y = Y;
        v->X = X;
        return 0;
    }
    if (v->Y != Y || v->X != X)
        return err_set("volume %s: '%s' is %lldx%lld in-plane, earlier records of the volume %lldx%lld (different grids)",
                       v->id, what, (long long)Y, (long long)X, (long long)v->Y, (long long)v->X);
    return 0;
}

/* Voxel spacing of a record: meta 'spacing' [3], or [2] with dz from the
 * affine, or the affine alone. 1 if the record has none. */
static int record_spacing(const frame *f, double sp[3])
{
    double aff[16], s2[2];
    int ra = mval_get_f64v(&f->meta, "affine", aff, 16);
    const mval *s = mval_map_get(&f->meta, "spacing");
    if (ra < 0)
        return -1;
    if (s && s->kind == MV_ARRAY && s->a.n == 3)
        return mval_get_f64v(&f->meta, "spacing", sp, 3);
    if (s && s->kind == MV_ARRAY && s->a.n == 2 && ra == 0) {
        if (mval_get_f64v(&f->meta, "spacing", s2, 2))
            return -1;
        nii_affine_spacing(aff, sp);
        sp[1] = s2[0];
        sp[2] = s2[1];
        return 0;
    }
    if (s && (s->kind != MV_ARRAY || (s->a.n != 2 && s->a.n != 3)))
        return err_set("meta 'spacing' must be an array of 2 or 3 numbers");
    if (ra == 0) {
        nii_affine_spacing(aff, sp);
        return 0;
    }
    return 1;
}

static void free_slices(volume *v)
{
    for (int m = 0; m < 2; m++) {
        for (int64_t z = 0; z < v->nslots; z++)
            free(v->sl[m] ? v->sl[m][z] : NULL);
        free(v->sl[m]);
        v->sl[m] = NULL;
    }
    v->nslots = 0;
}

/* ---- scoring ---- */

static int ignored(const volume *v, int c);

/* Counts and surface metrics of a complete volume; ref/pred [Z, Y, X]. */
static int score(volume *v, const uint8_t *ref, const uint8_t *pred)
{
    segm_count(v->cnt, ref, pred, v->nz, v->Y, v->X);
    if (opt.surface) {
        int labels[SEGM_NLABELS], n = 0, bad = 0;
        v->surf = calloc(SEGM_NLABELS, sizeof *v->surf);
        if (!v->surf)
            return err_set("out of memory");
        if (opt.has_spacing)
            memcpy(v->spacing, opt.spacing, sizeof v->spacing);
        else if (!v->has_spacing)
            return err_set("volume %s: no voxel spacing in its meta or file (give --spacing DZ,DY,DX)", v->id);
        for (int c = 1; c < SEGM_NLABELS; c++)
            if ((v->cnt[c].nref || v->cnt[c].npred) && !ignored(v, c))
                labels[n++] = c;
        char msg[512] = "";
#pragma omp parallel for schedule(dynamic, 1)
        for (int i = 0; i < n; i++) {
            if (segm_surface_tol(&v->surf[labels[i]], ref, pred, v->nz, v->Y, v->X, (uint8_t)labels[i],
                                 &v->cnt[labels[i]], v->spacing, opt.nsd > 0 ? opt.nsd : NAN)) {
#pragma omp critical
                {
                    bad = 1;
                    snprintf(msg, sizeof msg, "%s", err_get());
                }
            }
        }
        if (bad)
            return err_set("volume %s: %s", v->id, msg);
    }
    v->done = 1;
    if (log_level >= 2) {
        double sum = 0;
        int k = 0;
        for (int c = 1; c < SEGM_NLABELS; c++) {
            double d = segm_dice(&v->cnt[c]);
            if (!isnan(d) && !ignored(v, c))
                sum += d, k++;
        }
        log_info("volume %s: %lldx%lldx%lld, mean Dice %.4f over %d organs", v->id, (long long)v->nz,
                 (long long)v->Y, (long long)v->X, k ? sum / k : NAN, k);
    }
    return 0;
}

/* "3, 7..9, 12" for the missing slices of one map (at most 6 ranges). */
static void missing_list(const volume *v, int m, char *buf, size_t n)
{
    size_t used = 0;
    int nranges = 0, more = 0;
    buf[0] = '\0';
    for (int64_t z = 0; z < v->Z; z++) {
        if (v->sl[m][z])
            continue;
        int64_t e = z;
        while (e + 1 < v->Z && !v->sl[m][e + 1])
            e++;
        if (nranges < 6) {
            int k = e > z ? snprintf(buf + used, n - used, "%s%lld..%lld", nranges ? ", " : "", (long long)z, (long long)e)
                          : snprintf(buf + used, n - used, "%s%lld", nranges ? ", " : "", (long long)z);
            if (k > 0 && (size_t)k < n - used)
                used += (size_t)k;
        } else
            more++;
        nranges++;
        z = e;
    }
    if (more)
        snprintf(buf + used, n - used, " and %d more ranges", more);
}

static int64_t count_slices(const volume *v, int m)
{
    int64_t n = 0;
    for (int64_t z = 0; z < v->Z; z++)
        n += v->sl[m][z] != NULL;
    return n;
}

static int complete(const volume *v)
{
    if (v->Z < 1 || v->Y < 0)
        return 0;
    if (v->nexpect)
        return count_slices(v, LAB) == v->nexpect && count_slices(v, PRED) == v->nexpect;
    for (int m = 0; m < 2; m++)
        for (int64_t z = 0; z < v->Z; z++)
            if (!v->sl[m][z])
                return 0;
    return 1;
}

/* Which slices are scored: all 0..Z-1, or with meta 'nslices' the nexpect
 * slices the producer sent (slice-extract --every / --skip-empty), which
 * must be the same for label and pred. */
static int check_slices(volume *v)
{
    char list[400];
    for (int m = 0; m < 2; m++)
        if (!count_slices(v, m))
            return err_set("volume %s: no '%s' at all (are the ids of the label and prediction streams the same?)",
                           v->id, map_name[m]);
    if (!v->nexpect) {
        for (int m = 0; m < 2; m++) {
            missing_list(v, m, list, sizeof list);
            if (list[0])
                return err_set("volume %s: '%s' missing for slice%s z = %s of 0..%lld%s (missing slices are not scored as background)",
                               v->id, map_name[m], strchr(list, ',') || strstr(list, "..") ? "s" : "", list,
                               (long long)v->Z - 1, v->zknown ? "" : ", the count from the largest z seen");
        }
        return 0;
    }
    for (int m = 0; m < 2; m++) {
        int64_t n = count_slices(v, m), bad = -1;
        for (int64_t z = 0; z < v->Z && bad < 0; z++)
            if (!v->sl[m][z] && v->sl[!m][z])
                bad = z;
        if (bad >= 0 || n != v->nexpect) {
            char where[64] = "";
            if (bad >= 0)
                snprintf(where, sizeof where, "; missing z = %lld", (long long)bad);
            return err_set("volume %s: '%s' has %lld of the %lld slices its producer sent (meta 'nslices')%s (missing slices are not scored as background)",
                           v->id, map_name[m], (long long)n, (long long)v->nexpect, where);
        }
    }
    if (opt.surface) {
        int64_t first = -1, last = -1;
        for (int64_t z = 0; z < v->Z; z++)
            if (v->sl[LAB][z]) {
                if (first < 0)
                    first = z;
                last = z;
            }
        if (last - first + 1 != v->nexpect)
            return err_set("volume %s: the %lld slices sent are not contiguous (slice-extract --every?); surface distances need whole volumes",
                           v->id, (long long)v->nexpect);
    }
    return 0;
}

static int finish(volume *v)
{
    size_t plane = (size_t)(v->Y * v->X);
    uint8_t *buf[2];
    if (check_slices(v))
        return -1;
    v->nz = count_slices(v, LAB);
    for (int m = 0; m < 2; m++) {
        buf[m] = malloc(plane * (size_t)v->nz);
        if (!buf[m])
            return err_set("out of memory");
        for (int64_t z = 0, k = 0; z < v->Z; z++)
            if (v->sl[m][z])
                memcpy(buf[m] + plane * (size_t)k++, v->sl[m][z], plane);
    }
    free_slices(v);
    int rc = score(v, buf[LAB], buf[PRED]);
    free(buf[LAB]);
    free(buf[PRED]);
    return rc;
}

/* One data record: file its label and pred slices under the volume. */
static int add_record(frame *f)
{
    const tensor *t[2] = {frame_tensor_get(f, "label"), frame_tensor_get(f, "pred")};
    char shp[64];
    if (!f->id)
        return err_set("no 'id' (dice-eval groups slices by volume id)");
    if (!t[LAB] && !t[PRED])
        return err_set("volume %s z=%lld: neither 'label' nor 'pred'", f->id, (long long)f->z);
    if (check_classes(f))
        return -1;
    volume *v = find_volume(f->id, 1);
    if (v->done)
        return err_set("volume %s: a record after the volume was complete (z=%lld given twice?)", v->id,
                       (long long)f->z);
    double sh[3], sp[3];
    int rs = mval_get_f64v(&f->meta, "shape", sh, 3);
    if (rs < 0)
        return -1;
    if (rs == 0) {
        for (int i = 0; i < 3; i++)
            if (sh[i] != floor(sh[i]) || sh[i] < 1 || sh[i] > MAX_Z)
                return err_set("meta 'shape' must hold 3 positive integers");
        /* The volume's shape; slices may have been cropped or resized
         * in-plane (slice-extract), so only Z is used. */
        if (set_z(v, (int64_t)sh[0], "meta 'shape'"))
            return -1;
    }
    int64_t ns;
    int rn = mval_get_i64(&f->meta, "nslices", &ns);
    if (rn < 0)
        return -1;
    if (rn == 0) {
        if (ns < 1 || ns > MAX_Z || (v->zknown && ns > v->Z))
            return err_set("volume %s: meta 'nslices' %lld is not in 1..Z", v->id, (long long)ns);
        if (v->nexpect && v->nexpect != ns)
            return err_set("volume %s: meta 'nslices' %lld, earlier records %lld", v->id, (long long)ns,
                           (long long)v->nexpect);
        v->nexpect = ns;
    }
    int rsp = record_spacing(f, sp);
    if (rsp < 0)
        return -1;
    if (rsp == 0) {
        if (v->has_spacing) {
            for (int i = 0; i < 3; i++)
                if (fabs(sp[i] - v->spacing[i]) > 1e-6 * fabs(v->spacing[i]))
                    return err_set("volume %s: spacing differs between its records", v->id);
        } else {
            memcpy(v->spacing, sp, sizeof sp);
            v->has_spacing = 1;
        }
    }
    if (t[LAB] && t[PRED] && !tensor_same_shape(t[LAB], t[PRED])) {
        char s2[64];
        return err_set("volume %s z=%lld: 'label' %s and 'pred' %s are on different grids", v->id, (long long)f->z,
                       tensor_shape_str(t[LAB], shp, sizeof shp), tensor_shape_str(t[PRED], s2, sizeof s2));
    }
    for (int m = 0; m < 2; m++) {
        if (!t[m])
            continue;
        const tensor *x = t[m];
        int64_t z0, nz;
        if (x->rank == 3 && f->z < 0) {
            if (set_z(v, x->shape[0], "a volume record"))
                return -1;
            z0 = 0;
            nz = x->shape[0];
        } else if (x->rank == 2 && f->z >= 0) {
            if (f->z >= MAX_Z || (v->zknown && f->z >= v->Z))
                return err_set("volume %s: slice z=%lld is outside its %lld slices", v->id, (long long)f->z,
                               (long long)v->Z);
            z0 = f->z;
            nz = 1;
        } else
            return err_set("volume %s z=%lld: '%s' %s; want [Z,Y,X] with z = -1 or [Y,X] with z >= 0", v->id,
                           (long long)f->z, map_name[m], tensor_shape_str(x, shp, sizeof shp));
        int64_t Y = x->shape[x->rank - 2], X = x->shape[x->rank - 1];
        if (Y < 1 || X < 1)
            return err_set("volume %s: '%s' is empty", v->id, map_name[m]);
        if (set_plane(v, Y, X, map_name[m]))
            return -1;
        grow_slots(v, z0 + nz);
        if (!v->zknown && z0 + nz > v->Z)
            v->Z = z0 + nz;
        size_t plane = (size_t)(Y * X);
        for (int64_t z = z0; z < z0 + nz; z++) {
            if (v->sl[m][z])
                return err_set("volume %s: '%s' of slice z=%lld given twice", v->id, map_name[m], (long long)z);
            v->sl[m][z] = malloc(plane);
            if (!v->sl[m][z])
                return err_set("out of memory");
            tensor one = *x;
            one.rank = 2;
            one.shape[0] = Y;
            one.shape[1] = X;
            one.data = (char *)x->data + plane * (size_t)(z - z0) * dtype_size(x->dtype);
            if (to_labels(v->sl[m][z], &one, plane, map_name[m]))
                return err_prefix("volume %s z=%lld", v->id, (long long)z);
        }
    }
    if (v->zknown && complete(v))
        return finish(v);
    return 0;
}

static void read_frames(void)
{
    for (int i = 0; i < opt.ninputs; i++) {
        stream_in *in = stream_in_open(opt.inputs[i]);
        frame f;
        int r;
        if (!in)
            die_err(1);
        while ((r = stream_in_next(in, &f)) == 1) {
            if (add_record(&f))
                die(1, "%s: record seq %lld: %s", stream_in_name(in), (long long)f.seq, err_get());
            frame_free(&f);
        }
        if (r < 0)
            die_err(1);
        stream_in_close(in);
    }
    for (int i = 0; i < nvols; i++)
        if (!vols[i]->done && finish(vols[i]))
            die_err(1);
}

/* id of a NIfTI pair: the --ref file name without .nii/.nii.gz and "_seg". */
static char *nifti_id(const char *path)
{
    const char *b = strrchr(path, '/');
    char *id = xstrdup(b ? b + 1 : path);
    size_t n = strlen(id);
    if (n > 7 && !strcmp(id + n - 7, ".nii.gz"))
        id[n -= 7] = '\0';
    else if (n > 4 && !strcmp(id + n - 4, ".nii"))
        id[n -= 4] = '\0';
    if (n > 4 && !strcmp(id + n - 4, "_seg"))
        id[n - 4] = '\0';
    return id;
}

static void read_nifti(void)
{
    for (int i = 0; i < opt.nrefs; i++) {
        nii_image a, b;
        char s1[64], s2[64];
        if (nii_read(opt.refs[i], &a, NII_NATIVE))
            die_err(1);
        if (nii_read(opt.preds[i], &b, NII_NATIVE))
            die_err(1);
        if (!tensor_same_shape(&a.data, &b.data))
            die(1, "%s: grid %s differs from the ground truth's %s (%s)", opt.preds[i],
                tensor_shape_str(&b.data, s1, sizeof s1), tensor_shape_str(&a.data, s2, sizeof s2), opt.refs[i]);
        for (int k = 0; k < 16; k++)
            if (fabs(a.affine[k] - b.affine[k]) > 1e-3 * (1 + fabs(a.affine[k])))
                die(1, "%s: voxel-to-world affine differs from the ground truth's (%s): different grids", opt.preds[i],
                    opt.refs[i]);
        char *id = nifti_id(opt.refs[i]);
        if (find_volume(id, 0))
            die(1, "%s: volume id '%s' given twice", opt.refs[i], id);
        volume *v = find_volume(id, 1);
        free(id);
        v->Z = a.data.shape[0];
        v->Y = a.data.shape[1];
        v->X = a.data.shape[2];
        v->zknown = 1;
        v->nz = v->Z;
        memcpy(v->spacing, a.spacing, sizeof v->spacing);
        v->has_spacing = 1;
        size_t n = tensor_numel(&a.data);
        uint8_t *ref = malloc(n ? n : 1), *pred = malloc(n ? n : 1);
        if (!ref || !pred)
            die(1, "out of memory");
        if (to_labels(ref, &a.data, n, "label"))
            die(1, "%s: %s", opt.refs[i], err_get());
        if (to_labels(pred, &b.data, n, "pred"))
            die(1, "%s: %s", opt.preds[i], err_get());
        nii_free(&a);
        nii_free(&b);
        if (score(v, ref, pred))
            die_err(1);
        free(ref);
        free(pred);
    }
}

/* ---- ignore list ---- */

typedef struct {
    char *id, *organ;
    int line;
} ignore_entry;
static ignore_entry *ign;
static int nign;
static uint8_t (*ign_mask)[SEGM_NLABELS]; /* per volume, after resolve_ignore() */

static void load_ignore(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int ln = 0;
    if (!f)
        die(1, "%s:", path);
    while (fgets(line, sizeof line, f)) {
        ln++;
        if (!strchr(line, '\n') && !feof(f))
            die(1, "%s:%d: line too long", path, ln);
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        char *save, *id = strtok_r(line, " \t\r\n", &save);
        if (!id)
            continue;
        char *rest = strtok_r(NULL, "\r\n", &save);
        int norg = 0;
        for (char *o = rest ? strtok_r(rest, ", \t", &save) : NULL; o; o = strtok_r(NULL, ", \t", &save)) {
            ign = xrealloc(ign, sizeof *ign * (size_t)(nign + 1));
            ign[nign++] = (ignore_entry){xstrdup(id), xstrdup(o), ln};
            norg++;
        }
        if (!norg)
            die(1, "%s:%d: want 'ID ORGAN[,ORGAN]...', got only '%s'", path, ln, id);
    }
    if (ferror(f))
        die(1, "%s: read error", path);
    fclose(f);
}

static int ignored(const volume *v, int c)
{
    return ign_mask ? ign_mask[v->index][c] : 0;
}

static void resolve_ignore(void)
{
    if (!opt.ignore)
        return;
    ign_mask = calloc((size_t)nvols + 1, sizeof *ign_mask);
    if (!ign_mask)
        die(1, "out of memory");
    for (int e = 0; e < nign; e++) {
        int c = -1;
        char buf[16];
        for (int k = 1; k < SEGM_NLABELS && c < 0; k++)
            if (!strcmp(class_name(k, buf, sizeof buf), ign[e].organ))
                c = k;
        if (c < 0) {
            int64_t x;
            if (!parse_i64(ign[e].organ, &x) && x >= 1 && x < SEGM_NLABELS && (!cls.n || x < cls.n))
                c = (int)x;
        }
        if (c < 0)
            die(1, "%s:%d: unknown organ '%s' (not in %s)", opt.ignore, ign[e].line, ign[e].organ,
                cls.n ? cls.src : "label values 1..255");
        int hit = 0;
        for (int i = 0; i < nvols; i++)
            if (!strcmp(vols[i]->id, ign[e].id)) {
                ign_mask[i][c] = 1;
                hit = 1;
            }
        if (!hit)
            log_info("%s:%d: volume %s is not in the input", opt.ignore, ign[e].line, ign[e].id);
    }
}

/* ---- results ---- */

enum { M_DICE, M_HD95, M_ASSD, M_NSD, NMETRIC };
static const char *metric_name[] = {"dice", "hd95", "assd", "nsd"};

typedef struct {
    double sum, sumsq, mean, std;
    int64_t n, ninf;
} stat_t;

static status_t status_of(const volume *v, int c)
{
    if (ignored(v, c))
        return ST_IGNORED;
    const segm_count_t *k = &v->cnt[c];
    if (!k->nref && !k->npred)
        return ST_ABSENT;
    if (!k->npred)
        return ST_MISSED;
    if (!k->nref)
        return ST_SPURIOUS;
    return ST_OK;
}

static double value_of(const volume *v, int c, int m)
{
    if (m == M_DICE)
        return segm_dice(&v->cnt[c]);
    return m == M_HD95 ? v->surf[c].hd95 : m == M_ASSD ? v->surf[c].assd : v->surf[c].nsd;
}

/* Mean/std over the scored values: Dice of every non-ignored, non-absent
 * entry; HD95/ASSD of the finite ones (one-sided organs counted in ninf). */
static void stat_add(stat_t *s, double x)
{
    if (isinf(x)) {
        s->ninf++;
        return;
    }
    s->sum += x;
    s->sumsq += x * x;
    s->n++;
}

static void stat_done(stat_t *s, const double *vals, size_t n)
{
    /* Two passes for the std, as numpy.std does (ddof = 0). */
    s->mean = s->n ? s->sum / (double)s->n : NAN;
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        if (!isinf(vals[i]))
            acc += (vals[i] - s->mean) * (vals[i] - s->mean);
    s->std = s->n ? sqrt(acc / (double)s->n) : NAN;
}

static int nmetric(void)
{
    return opt.surface ? opt.nsd > 0 ? NMETRIC : M_NSD : 1;
}

static int *organs;
static int norgans;
static stat_t (*org_stat)[NMETRIC], all_stat[NMETRIC];

static void validate_and_summarise(void)
{
    /* Labels outside the class list. */
    for (int i = 0; i < nvols; i++)
        for (int c = cls.n ? cls.n : SEGM_NLABELS; c < SEGM_NLABELS; c++)
            for (int m = 0; m < 2; m++)
                if (m == LAB ? vols[i]->cnt[c].nref : vols[i]->cnt[c].npred)
                    die(1, "volume %s: '%s' has label value %d, outside the %d classes of %s (0..%d)", vols[i]->id,
                        map_name[m], c, cls.n, cls.src, cls.n - 1);
    resolve_ignore();
    /* Organs shown: those some volume scores. */
    organs = xrealloc(NULL, sizeof *organs * SEGM_NLABELS);
    for (int c = 1; c < SEGM_NLABELS; c++) {
        int any = 0;
        for (int i = 0; i < nvols && !any; i++) {
            status_t s = status_of(vols[i], c);
            any = s == ST_OK || s == ST_MISSED || s == ST_SPURIOUS;
        }
        if (any)
            organs[norgans++] = c;
    }
    org_stat = calloc((size_t)norgans + 1, sizeof *org_stat);
    double *vals = xrealloc(NULL, sizeof *vals * (size_t)(nvols + 1));
    double *allv = xrealloc(NULL, sizeof *allv * (size_t)(nvols + 1) * (size_t)(norgans + 1));
    if (!org_stat)
        die(1, "out of memory");
    for (int m = 0; m < nmetric(); m++) {
        size_t nall = 0;
        for (int o = 0; o < norgans; o++) {
            size_t nv = 0;
            for (int i = 0; i < nvols; i++) {
                status_t s = status_of(vols[i], organs[o]);
                if (s == ST_ABSENT || s == ST_IGNORED)
                    continue;
                double x = value_of(vols[i], organs[o], m);
                vals[nv++] = x;
                allv[nall++] = x;
                stat_add(&org_stat[o][m], x);
                stat_add(&all_stat[m], x);
            }
            stat_done(&org_stat[o][m], vals, nv);
        }
        stat_done(&all_stat[m], allv, nall);
    }
    free(vals);
    free(allv);
}

/* Mean of one volume's scored values of metric m (NaN if none). */
static double volume_mean(const volume *v, int m)
{
    double s = 0;
    int n = 0;
    for (int o = 0; o < norgans; o++) {
        status_t st = status_of(v, organs[o]);
        if (st == ST_ABSENT || st == ST_IGNORED)
            continue;
        double x = value_of(v, organs[o], m);
        if (isinf(x))
            continue;
        s += x;
        n++;
    }
    return n ? s / n : NAN;
}

static const char *fmt_num(double x, char *buf, size_t n)
{
    if (isnan(x))
        snprintf(buf, n, "-");
    else if (isinf(x))
        snprintf(buf, n, "inf");
    else
        snprintf(buf, n, "%.*f", opt.digits, x);
    return buf;
}

static const char *cell(const volume *v, int c, int m, char *buf, size_t n)
{
    status_t s = status_of(v, c);
    if (s == ST_IGNORED)
        return "ign";
    if (s == ST_ABSENT)
        return "-";
    return fmt_num(value_of(v, c, m), buf, n);
}

static void print_table(void)
{
    char nsd_title[64];
    const char *title[] = {"Dice", "HD95 (mm)", "ASSD (mm)", nsd_title};
    char buf[64], nb[16];
    int idw = 6;
    snprintf(nsd_title, sizeof nsd_title, "NSD at %g mm", opt.nsd);
    for (int i = 0; i < nvols; i++)
        if ((int)strlen(vols[i]->id) > idw)
            idw = (int)strlen(vols[i]->id);
    int *w = xrealloc(NULL, sizeof *w * (size_t)(norgans + 1));
    for (int o = 0; o < norgans; o++) {
        w[o] = (int)strlen(class_name(organs[o], nb, sizeof nb));
        if (w[o] < opt.digits + 4)
            w[o] = opt.digits + 4;
    }
    for (int m = 0; m < nmetric(); m++) {
        printf("%s per volume (-: organ in neither map, ign: ignored%s)\n", title[m],
               m == M_HD95 || m == M_ASSD ? ", inf: organ in one map only" : "");
        printf("%-*s", idw, "id");
        for (int o = 0; o < norgans; o++)
            printf("  %*s", w[o], class_name(organs[o], nb, sizeof nb));
        printf("  %*s\n", opt.digits + 4, "mean");
        for (int i = 0; i < nvols; i++) {
            printf("%-*s", idw, vols[i]->id);
            for (int o = 0; o < norgans; o++)
                printf("  %*s", w[o], cell(vols[i], organs[o], m, buf, sizeof buf));
            printf("  %*s\n", opt.digits + 4, fmt_num(volume_mean(vols[i], m), buf, sizeof buf));
        }
        printf("\n");
    }
    int ow = 7;
    for (int o = 0; o < norgans; o++)
        if ((int)strlen(class_name(organs[o], nb, sizeof nb)) > ow)
            ow = (int)strlen(class_name(organs[o], nb, sizeof nb));
    int nw = opt.digits + 5;
    printf("Per organ (mean and standard deviation over volumes%s)\n",
           opt.surface ? "; HD95/ASSD over the volumes where both maps have the organ" : "");
    printf("%-*s  %5s  %*s  %*s", ow, "organ", "n", nw, "dice", nw, "std");
    if (opt.surface)
        printf("  %*s  %*s  %*s  %*s  %5s", nw, "hd95_mm", nw, "std", nw, "assd_mm", nw, "std", "inf");
    if (opt.nsd > 0)
        printf("  %*s  %*s", nw, "nsd", nw, "std");
    printf("\n");
    for (int o = 0; o <= norgans; o++) {
        stat_t *s = o < norgans ? org_stat[o] : all_stat;
        printf("%-*s  %5lld", ow, o < norgans ? class_name(organs[o], nb, sizeof nb) : "overall",
               (long long)s[M_DICE].n);
        printf("  %*s", nw, fmt_num(s[M_DICE].mean, buf, sizeof buf));
        printf("  %*s", nw, fmt_num(s[M_DICE].std, buf, sizeof buf));
        if (opt.surface) {
            for (int m = M_HD95; m <= M_ASSD; m++) {
                printf("  %*s", nw, fmt_num(s[m].mean, buf, sizeof buf));
                printf("  %*s", nw, fmt_num(s[m].std, buf, sizeof buf));
            }
            printf("  %5lld", (long long)s[M_HD95].ninf);
        }
        if (opt.nsd > 0) {
            printf("  %*s", nw, fmt_num(s[M_NSD].mean, buf, sizeof buf));
            printf("  %*s", nw, fmt_num(s[M_NSD].std, buf, sizeof buf));
        }
        printf("\n");
    }
    free(w);
}

static void print_tsv(void)
{
    char buf[64], nb[16];
    printf("id\torgan\tlabel\tstatus\tdice");
    if (opt.surface)
        printf("\thd95_mm\tassd_mm");
    if (opt.nsd > 0)
        printf("\tnsd");
    printf("\n");
    for (int i = 0; i < nvols; i++)
        for (int o = 0; o < norgans; o++) {
            int c = organs[o];
            status_t s = status_of(vols[i], c);
            printf("%s\t%s\t%d\t%s", vols[i]->id, class_name(c, nb, sizeof nb), c, status_name[s]);
            for (int m = 0; m < nmetric(); m++) {
                double x = s == ST_ABSENT || s == ST_IGNORED ? NAN : value_of(vols[i], c, m);
                printf("\t%s", isnan(x) ? "nan" : fmt_num(x, buf, sizeof buf));
            }
            printf("\n");
        }
    /* Summary rows: id '*', status mean / std / n. */
    for (int o = 0; o <= norgans; o++) {
        stat_t *s = o < norgans ? org_stat[o] : all_stat;
        const char *name = o < norgans ? class_name(organs[o], nb, sizeof nb) : "*";
        char lab[16];
        snprintf(lab, sizeof lab, o < norgans ? "%d" : "*", o < norgans ? organs[o] : 0);
        for (int k = 0; k < 3; k++) {
            printf("*\t%s\t%s\t%s", name, lab, k == 0 ? "mean" : k == 1 ? "std" : "n");
            for (int m = 0; m < nmetric(); m++) {
                if (k == 2)
                    printf("\t%lld", (long long)s[m].n);
                else {
                    double x = k == 0 ? s[m].mean : s[m].std;
                    printf("\t%s", isnan(x) ? "nan" : fmt_num(x, buf, sizeof buf));
                }
            }
            printf("\n");
        }
    }
}

static void put_num(mval *map, const char *key, double x)
{
    if (isfinite(x))
        mval_put_f64(map, key, x);
    else
        mval_set_nil(mval_map_put(map, key));
}

static void print_json(int pass)
{
    char nb[16];
    mval doc = {0};
    mval_set_map(&doc);
    if (opt.nsd > 0)
        mval_put_f64(&doc, "nsd_mm", opt.nsd);
    mval *names = mval_map_put(&doc, "organs");
    mval_set_array(names);
    for (int o = 0; o < norgans; o++)
        mval_set_str(mval_push(names), class_name(organs[o], nb, sizeof nb));
    mval *vs = mval_map_put(&doc, "volumes");
    mval_set_array(vs);
    for (int i = 0; i < nvols; i++) {
        mval *v = mval_push(vs), *orgs;
        mval_set_map(v);
        mval_put_str(v, "id", vols[i]->id);
        double shape[3] = {(double)vols[i]->Z, (double)vols[i]->Y, (double)vols[i]->X};
        mval *sh = mval_map_put(v, "shape");
        mval_set_array(sh);
        for (int k = 0; k < 3; k++)
            mval_set_int(mval_push(sh), (int64_t)shape[k]);
        mval_put_i64(v, "slices", vols[i]->nz);
        if (opt.surface)
            mval_put_f64v(v, "spacing", vols[i]->spacing, 3);
        orgs = mval_map_put(v, "organs");
        mval_set_map(orgs);
        for (int o = 0; o < norgans; o++) {
            int c = organs[o];
            status_t s = status_of(vols[i], c);
            mval *e = mval_map_put(orgs, class_name(c, nb, sizeof nb));
            mval_set_map(e);
            mval_put_i64(e, "label", c);
            mval_put_str(e, "status", status_name[s]);
            mval_put_i64(e, "n_ref", vols[i]->cnt[c].nref);
            mval_put_i64(e, "n_pred", vols[i]->cnt[c].npred);
            mval_put_i64(e, "n_both", vols[i]->cnt[c].ntp);
            for (int m = 0; m < nmetric(); m++)
                put_num(e, metric_name[m], s == ST_ABSENT || s == ST_IGNORED ? NAN : value_of(vols[i], c, m));
        }
        for (int m = 0; m < nmetric(); m++) {
            char key[32];
            snprintf(key, sizeof key, "mean_%s", metric_name[m]);
            put_num(v, key, volume_mean(vols[i], m));
        }
    }
    mval *sum = mval_map_put(&doc, "summary");
    mval_set_map(sum);
    for (int o = 0; o <= norgans; o++) {
        stat_t *s = o < norgans ? org_stat[o] : all_stat;
        mval *e = mval_map_put(sum, o < norgans ? class_name(organs[o], nb, sizeof nb) : "overall");
        mval_set_map(e);
        for (int m = 0; m < nmetric(); m++) {
            mval *x = mval_map_put(e, metric_name[m]);
            mval_set_map(x);
            put_num(x, "mean", s[m].mean);
            put_num(x, "std", s[m].std);
            mval_put_i64(x, "n", s[m].n);
            if (m != M_DICE)
                mval_put_i64(x, "n_inf", s[m].ninf);
        }
    }
    if (opt.has_min_dice) {
        mval_put_f64(&doc, "min_dice", opt.min_dice);
        mval_set_bool(mval_map_put(&doc, "pass"), pass);
    }
    json_fprint(stdout, &doc, 1);
    printf("\n");
    mval_free(&doc);
}

static int is_nifti_name(const char *p)
{
    size_t n = strlen(p);
    return (n > 4 && !strcmp(p + n - 4, ".nii")) || (n > 7 && !strcmp(p + n - 7, ".nii.gz"));
}

static int cmp_vol(const void *a, const void *b)
{
    return strcmp((*(volume *const *)a)->id, (*(volume *const *)b)->id);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"ref", required_argument, 0, OPT_REF},
        {"pred", required_argument, 0, OPT_PRED},
        {"labels-json", required_argument, 0, OPT_LABELS},
        {"ignore", required_argument, 0, OPT_IGNORE},
        {"spacing", required_argument, 0, OPT_SPACING},
        {"surface", no_argument, 0, OPT_SURFACE},
        {"tsv", no_argument, 0, OPT_TSV},
        {"json", no_argument, 0, OPT_JSON},
        {"digits", required_argument, 0, OPT_DIGITS},
        {"min-dice", required_argument, 0, OPT_MIN_DICE},
        {"nsd", required_argument, 0, OPT_NSD},
        {"help", no_argument, 0, 'h'},
        OPT_COMMON_LONG,
        {0, 0, 0, 0},
    };
    int c;
    filter_init(argc, argv);
    /* The surface metrics allocate and free box-sized buffers per organ;
     * keep freed memory in the heap rather than returning it to the kernel
     * (mmap/trim), which made page faults a quarter of the run time. */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    while ((c = opt_next(argc, argv, "i:qvh", longopts)) != -1) {
        if (opt_common(c, optarg))
            continue;
        switch (c) {
        case 'i':
            opt.inputs = xrealloc(opt.inputs, sizeof *opt.inputs * (size_t)(opt.ninputs + 1));
            opt.inputs[opt.ninputs++] = optarg;
            break;
        case OPT_REF:
            opt.refs = xrealloc(opt.refs, sizeof *opt.refs * (size_t)(opt.nrefs + 1));
            opt.refs[opt.nrefs++] = optarg;
            break;
        case OPT_PRED:
            if (opt.npreds + 1 != opt.nrefs)
                usage_error("each --pred must follow its --ref");
            opt.preds = xrealloc(opt.preds, sizeof *opt.preds * (size_t)(opt.npreds + 1));
            opt.preds[opt.npreds++] = optarg;
            break;
        case OPT_LABELS: opt.labels_json = optarg; break;
        case OPT_IGNORE: opt.ignore = optarg; break;
        case OPT_SPACING:
            opt_f64_list("--spacing", optarg, opt.spacing, 3, 1e-6, 1e6);
            opt.has_spacing = 1;
            break;
        case OPT_SURFACE: opt.surface = 1; break;
        case OPT_NSD:
            opt.nsd = opt_f64("--nsd", optarg, 1e-6, 1e6);
            opt.surface = 1;
            break;
        case OPT_TSV: opt.tsv = 1; break;
        case OPT_JSON: opt.json = 1; break;
        case OPT_DIGITS: opt.digits = (int)opt_i64("--digits", optarg, 0, 17); break;
        case OPT_MIN_DICE:
            opt.min_dice = opt_f64("--min-dice", optarg, 0, 1);
            opt.has_min_dice = 1;
            break;
        case 'h': usage(); return 0;
        default: usage_bad_option(argv);
        }
    }
    {
        /* two NIfTI operands: ref then pred, as plastimatch dice takes them */
        int nnii = 0;
        for (int i = optind; i < argc; i++)
            nnii += is_nifti_name(argv[i]);
        if (nnii == 2 && argc - optind == 2 && !opt.nrefs && !opt.ninputs) {
            opt.refs = xrealloc(NULL, sizeof *opt.refs);
            opt.preds = xrealloc(NULL, sizeof *opt.preds);
            opt.refs[0] = argv[optind];
            opt.preds[0] = argv[optind + 1];
            opt.nrefs = opt.npreds = 1;
            optind = argc;
        } else if (nnii) {
            usage_error("NIfTI operands: two are read as REF PRED; for more pairs give --ref A --pred B for each");
        }
    }
    for (int i = optind; i < argc; i++) {
        opt.inputs = xrealloc(opt.inputs, sizeof *opt.inputs * (size_t)(opt.ninputs + 1));
        opt.inputs[opt.ninputs++] = argv[i];
    }
    if (opt.tsv && opt.json)
        usage_error("give --tsv or --json, not both");
    if (opt.nrefs != opt.npreds)
        usage_error("--ref %s has no --pred", opt.refs[opt.nrefs - 1]);
    if (opt.nrefs && opt.ninputs)
        usage_error("give frame inputs or --ref/--pred pairs, not both");
    if (!opt.nrefs && !opt.ninputs) {
        opt.inputs = xrealloc(opt.inputs, sizeof *opt.inputs);
        opt.inputs[opt.ninputs++] = "-";
    }
    if (opt.labels_json && load_labels_json(opt.labels_json))
        die_err(1);
    if (opt.ignore)
        load_ignore(opt.ignore);

    if (opt.nrefs)
        read_nifti();
    else
        read_frames();
    if (!nvols)
        die(1, "no volumes to score (empty input)");
    qsort(vols, (size_t)nvols, sizeof *vols, cmp_vol);
    for (int i = 0; i < nvols; i++)
        vols[i]->index = i;
    validate_and_summarise();

    int pass = 1;
    if (opt.has_min_dice)
        pass = all_stat[M_DICE].n > 0 && all_stat[M_DICE].mean >= opt.min_dice;
    if (opt.json)
        print_json(pass);
    else if (opt.tsv)
        print_tsv();
    else
        print_table();
    if (fflush(stdout) || ferror(stdout))
        die(1, "standard output: write error:");
    if (!pass) {
        if (!all_stat[M_DICE].n)
            die(1, "no organ was scored, so the mean Dice is undefined (--min-dice %g)", opt.min_dice);
        die(1, "mean Dice %.*f is below --min-dice %g", opt.digits, all_stat[M_DICE].mean, opt.min_dice);
    }
    return 0;
}
