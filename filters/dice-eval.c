/*
 * dice-eval — score predicted label maps against ground truth: 3-D Dice per
 * volume and organ (HD95 and ASSD with --surface), means and standard
 * deviations, as a table, TSV or JSON on stdout.
 *
 * Reads frames carrying `label` and `pred` (slices are regrouped into
 * volumes by id and z; they may come in different streams) or pairs of NIfTI
 * label maps. A volume whose slices are not all there is an error, never
 * scored as if the missing slices were background. The rule of when a
 * volume is complete is libcommon/ct/slicegroup.c's, the metrics are
 * libcommon/eval/segmetric.c's, the statistics and the writers
 * libcommon/eval/segreport.c's.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "core/json.h"
#include "io/labels.h"
#include "ct/ctmeta.h"
#include "ct/slicegroup.h"
#include "eval/segmetric.h"
#include "eval/segreport.h"
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
           "      --min-dice X        exit status 1 when the overall mean Dice is below X\n",
           err_progname, err_progname, err_progname);
    filter_usage_common("more messages (repeatable): one line per volume scored");
}

enum {
    OPT_REF = 0x100, OPT_PRED, OPT_LABELS, OPT_IGNORE, OPT_SPACING, OPT_SURFACE, OPT_TSV, OPT_JSON, OPT_DIGITS,
    OPT_MIN_DICE, OPT_NSD
};

/* Where a value of the table comes from. */
enum { LAB, PRED }; /* the two maps of a volume */
static const char *map_name[] = {"label", "pred"};

typedef struct {
    sg_volume g;            /* id, Z, the slices that came (slicegroup.h) */
    segr_volume r;          /* what is reported; Y, X from the first tensor */
    int64_t nslots;
    uint8_t **sl[2];        /* [LAB|PRED][z]: Y*X bytes, NULL until seen */
    int has_spacing;
} volume;

static struct {
    strlist inputs;
    strlist refs, preds;
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

static slicegroup group;   /* volumes being gathered */
static volume **vols;      /* volumes scored */
static int nvols;

/* ---- class list ---- */

static int load_labels_json(const char *path)
{
    if (labels_load(path, cls.name, &cls.n))
        return -1;
    snprintf(cls.src, sizeof cls.src, "%s", path);
    return 0;
}

/* The meta 'classes' of a record: adopt the first list seen, check later
 * ones against it (unless --labels-json overrides them). */
static int check_classes(const frame *f)
{
    char *names[LABELS_MAX] = {0};
    int n = 0, r = opt.labels_json ? 1 : labels_from_meta(&f->meta, names, &n);
    if (r)
        return r < 0 ? -1 : 0;
    if (!cls.n) {
        memcpy(cls.name, names, sizeof names);
        cls.n = n;
        snprintf(cls.src, sizeof cls.src, "meta 'classes' of volume %s", f->id);
        return 0;
    }
    r = labels_same(cls.name, cls.n, names, n);
    labels_free(names);
    if (!r)
        return err_set("meta 'classes' differs from %s (give --labels-json to choose one list)", cls.src);
    return 0;
}

/* ---- volumes ---- */

static volume *get_volume(const char *id, int64_t z)
{
    volume *v = (volume *)slicegroup_get(&group, id, z);
    if (v && !v->r.id) {
        v->r.id = v->g.id;
        v->r.Y = v->r.X = -1;
    }
    return v;
}

static void grow_slots(volume *v, int64_t n)
{
    if (n <= v->nslots)
        return;
    int64_t cap = v->nslots ? v->nslots : 16;
    while (cap < n)
        cap *= 2;
    for (int m = 0; m < 2; m++) {
        if (!(v->sl[m] = realloc(v->sl[m], sizeof *v->sl[m] * (size_t)cap)))
            die(1, "out of memory");
        memset(v->sl[m] + v->nslots, 0, sizeof *v->sl[m] * (size_t)(cap - v->nslots));
    }
    v->nslots = cap;
}

static int set_plane(volume *v, int64_t Y, int64_t X, const char *what)
{
    if (v->r.Y < 0) {
        v->r.Y = Y;
        v->r.X = X;
        return 0;
    }
    if (v->r.Y != Y || v->r.X != X)
        return err_set("volume %s: '%s' is %lldx%lld in-plane, earlier records of the volume %lldx%lld (different grids)",
                       v->r.id, what, (long long)Y, (long long)X, (long long)v->r.Y, (long long)v->r.X);
    return 0;
}

/* ---- scoring ---- */

/* Counts and surface metrics of a complete volume; ref/pred [Z, Y, X]. It
 * joins the scored volumes. */
static int score(volume *v, const uint8_t *ref, const uint8_t *pred)
{
    segm_count(v->r.cnt, ref, pred, v->r.nz, v->r.Y, v->r.X);
    vols = filter_push(vols, &nvols, sizeof *vols);
    vols[nvols - 1] = v;
    if (opt.surface) {
        if (opt.has_spacing)
            memcpy(v->r.spacing, opt.spacing, sizeof v->r.spacing);
        else if (!v->has_spacing)
            return err_set("volume %s: no voxel spacing in its meta or file (give --spacing DZ,DY,DX)", v->r.id);
        if (segreport_surface(&v->r, ref, pred, opt.nsd > 0 ? opt.nsd : NAN))
            return -1;
    }
    if (log_level >= 2) {
        double sum = 0;
        int k = 0;
        for (int c = 1; c < SEGM_NLABELS; c++) {
            double d = segm_dice(&v->r.cnt[c]);
            if (!isnan(d))
                sum += d, k++;
        }
        log_info("volume %s: %lldx%lldx%lld, mean Dice %.4f over %d organs", v->r.id, (long long)v->r.nz,
                 (long long)v->r.Y, (long long)v->r.X, k ? sum / k : NAN, k);
    }
    return 0;
}

/* Which slices are scored: all 0..Z-1, or with meta 'nslices' the nexpect
 * slices the producer sent (slice-extract --every / --skip-empty), which
 * must be the same for label and pred. */
static int check_slices(volume *v)
{
    const sg_volume *g = &v->g;
    char list[400];
    for (int m = 0; m < 2; m++)
        if (!g->nhave[m])
            return err_set("volume %s: no '%s' at all (are the ids of the label and prediction streams the same?)",
                           g->id, map_name[m]);
    if (!g->nexpect) {
        for (int m = 0; m < 2; m++) {
            sg_missing(g, m, list, sizeof list);
            if (list[0])
                return err_set("volume %s: '%s' missing for slice%s z = %s of 0..%lld%s (missing slices are not scored as background)",
                               g->id, map_name[m], strchr(list, ',') || strstr(list, "..") ? "s" : "", list,
                               (long long)g->Z - 1, g->zknown ? "" : ", the count from the largest z seen");
        }
        return 0;
    }
    for (int m = 0; m < 2; m++) {
        int64_t bad = -1;
        for (int64_t z = 0; z < g->Z && bad < 0; z++)
            if (!g->have[m][z] && g->have[!m][z])
                bad = z;
        if (bad >= 0 || g->nhave[m] != g->nexpect) {
            char where[64] = "";
            if (bad >= 0)
                snprintf(where, sizeof where, "; missing z = %lld", (long long)bad);
            return err_set("volume %s: '%s' has %lld of the %lld slices its producer sent (meta 'nslices')%s (missing slices are not scored as background)",
                           g->id, map_name[m], (long long)g->nhave[m], (long long)g->nexpect, where);
        }
    }
    if (opt.surface) {
        int64_t first = -1, last = -1;
        for (int64_t z = 0; z < g->Z; z++)
            if (g->have[LAB][z]) {
                if (first < 0)
                    first = z;
                last = z;
            }
        if (last - first + 1 != g->nexpect)
            return err_set("volume %s: the %lld slices sent are not contiguous (slice-extract --every?); surface distances need whole volumes",
                           g->id, (long long)g->nexpect);
    }
    return 0;
}

/* Stack the slices that came, in z order, and score them. */
static int finish(volume *v)
{
    size_t plane = (size_t)(v->r.Y * v->r.X);
    uint8_t *buf[2];
    int rc;
    if (check_slices(v))
        return -1;
    v->r.Z = v->g.Z;
    v->r.nz = v->g.nhave[LAB];
    for (int m = 0; m < 2; m++) {
        buf[m] = malloc(plane * (size_t)v->r.nz);
        if (!buf[m])
            return err_set("out of memory");
        for (int64_t z = 0, k = 0; z < v->nslots; z++)
            if (v->sl[m][z]) {
                memcpy(buf[m] + plane * (size_t)k++, v->sl[m][z], plane);
                free(v->sl[m][z]);
            }
        free(v->sl[m]);
        v->sl[m] = NULL;
    }
    v->nslots = 0;
    if (slicegroup_done(&group, &v->g))
        return -1;
    rc = score(v, buf[LAB], buf[PRED]);
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
    volume *v = get_volume(f->id, f->z);
    if (!v)
        return -1;
    double sh[3], sp[3];
    int rs = mval_get_f64v(&f->meta, "shape", sh, 3);
    if (rs < 0)
        return -1;
    if (rs == 0) {
        for (int i = 0; i < 3; i++)
            if (sh[i] != floor(sh[i]) || sh[i] < 1 || sh[i] > SG_MAX_Z)
                return err_set("meta 'shape' must hold 3 positive integers");
        /* The volume's shape; slices may have been cropped or resized
         * in-plane (slice-extract), so only Z is used. */
        if (sg_set_z(&v->g, (int64_t)sh[0], "meta 'shape'"))
            return -1;
    }
    int64_t ns;
    int rn = mval_get_i64(&f->meta, "nslices", &ns);
    if (rn < 0 || (rn == 0 && sg_expect(&v->g, ns)))
        return -1;
    int rsp = ctmeta_spacing(&f->meta, sp);
    if (rsp < 0)
        return -1;
    if (rsp == 0) {
        if (v->has_spacing) {
            for (int i = 0; i < 3; i++)
                if (fabs(sp[i] - v->r.spacing[i]) > 1e-6 * fabs(v->r.spacing[i]))
                    return err_set("volume %s: spacing differs between its records", v->r.id);
        } else {
            memcpy(v->r.spacing, sp, sizeof sp);
            v->has_spacing = 1;
        }
    }
    if (t[LAB] && t[PRED] && !tensor_same_shape(t[LAB], t[PRED])) {
        char s2[64];
        return err_set("volume %s z=%lld: 'label' %s and 'pred' %s are on different grids", v->r.id, (long long)f->z,
                       tensor_shape_str(t[LAB], shp, sizeof shp), tensor_shape_str(t[PRED], s2, sizeof s2));
    }
    for (int m = 0; m < 2; m++) {
        if (!t[m])
            continue;
        const tensor *x = t[m];
        int64_t z0, nz;
        if (x->rank == 3 && f->z < 0) {
            if (sg_set_z(&v->g, x->shape[0], "a volume record"))
                return -1;
            z0 = 0;
            nz = x->shape[0];
        } else if (x->rank == 2 && f->z >= 0) {
            z0 = f->z;
            nz = 1;
        } else
            return err_set("volume %s z=%lld: '%s' %s; want [Z,Y,X] with z = -1 or [Y,X] with z >= 0", v->r.id,
                           (long long)f->z, map_name[m], tensor_shape_str(x, shp, sizeof shp));
        int64_t Y = x->shape[x->rank - 2], X = x->shape[x->rank - 1];
        if (Y < 1 || X < 1)
            return err_set("volume %s: '%s' is empty", v->r.id, map_name[m]);
        if (set_plane(v, Y, X, map_name[m]))
            return -1;
        size_t plane = (size_t)(Y * X);
        for (int64_t z = z0; z < z0 + nz; z++) {
            if (sg_add(&group, &v->g, m, z))
                return -1;
            grow_slots(v, z + 1);
            v->sl[m][z] = malloc(plane);
            if (!v->sl[m][z])
                return err_set("out of memory");
            tensor one = *x;
            one.rank = 2;
            one.shape[0] = Y;
            one.shape[1] = X;
            one.data = (char *)x->data + plane * (size_t)(z - z0) * dtype_size(x->dtype);
            if (segm_labels(v->sl[m][z], &one, plane, map_name[m]))
                return err_prefix("volume %s z=%lld", v->r.id, (long long)z);
        }
    }
    if (sg_complete(&group, &v->g))
        return finish(v);
    return 0;
}

static void read_frames(void)
{
    for (int i = 0; i < opt.inputs.n; i++) {
        stream_in *in = stream_in_open(opt.inputs.v[i]);
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
    while (group.nvols)
        if (finish((volume *)group.vols[0]))
            die_err(1);
}

/* id of a NIfTI pair: the --ref file name without .nii/.nii.gz and "_seg". */
static char *nifti_id(const char *path)
{
    static const char *const exts[] = {".nii.gz", ".nii"};
    char *id = filter_case_id(path, exts, 2);
    size_t n = strlen(id);
    if (n > 4 && !strcmp(id + n - 4, "_seg"))
        id[n - 4] = '\0';
    return id;
}

static void read_nifti(void)
{
    for (int i = 0; i < opt.refs.n; i++) {
        nii_image a, b;
        char s1[64], s2[64];
        if (nii_read(opt.refs.v[i], &a, NII_NATIVE))
            die_err(1);
        if (nii_read(opt.preds.v[i], &b, NII_NATIVE))
            die_err(1);
        if (!tensor_same_shape(&a.data, &b.data))
            die(1, "%s: grid %s differs from the ground truth's %s (%s)", opt.preds.v[i],
                tensor_shape_str(&b.data, s1, sizeof s1), tensor_shape_str(&a.data, s2, sizeof s2), opt.refs.v[i]);
        for (int k = 0; k < 16; k++)
            if (fabs(a.affine[k] - b.affine[k]) > 1e-3 * (1 + fabs(a.affine[k])))
                die(1, "%s: voxel-to-world affine differs from the ground truth's (%s): different grids", opt.preds.v[i],
                    opt.refs.v[i]);
        char *id = nifti_id(opt.refs.v[i]);
        volume *v = get_volume(id, 0);
        if (!v)
            die(1, "%s: volume id '%s' given twice", opt.refs.v[i], id);
        free(id);
        v->r.Z = a.data.shape[0];
        v->r.Y = a.data.shape[1];
        v->r.X = a.data.shape[2];
        v->r.nz = v->r.Z;
        memcpy(v->r.spacing, a.spacing, sizeof v->r.spacing);
        v->has_spacing = 1;
        size_t n = tensor_numel(&a.data);
        uint8_t *ref = malloc(n ? n : 1), *pred = malloc(n ? n : 1);
        if (!ref || !pred)
            die(1, "out of memory");
        if (segm_labels(ref, &a.data, n, "label"))
            die(1, "%s: %s", opt.refs.v[i], err_get());
        if (segm_labels(pred, &b.data, n, "pred"))
            die(1, "%s: %s", opt.preds.v[i], err_get());
        nii_free(&a);
        nii_free(&b);
        if (slicegroup_done(&group, &v->g) || score(v, ref, pred))
            die_err(1);
        free(ref);
        free(pred);
    }
}

/* ---- results ---- */

static segreport rep;

static void summarise(void)
{
    /* Labels outside the class list. */
    for (int i = 0; i < nvols; i++)
        for (int c = cls.n ? cls.n : SEGM_NLABELS; c < SEGM_NLABELS; c++)
            for (int m = 0; m < 2; m++)
                if (m == LAB ? vols[i]->r.cnt[c].nref : vols[i]->r.cnt[c].npred)
                    die(1, "volume %s: '%s' has label value %d, outside the %d classes of %s (0..%d)", vols[i]->r.id,
                        map_name[m], c, cls.n, cls.src, cls.n - 1);
    for (int i = 0; i < nvols; i++) {
        rep.vols = filter_push(rep.vols, &rep.nvols, sizeof *rep.vols);
        rep.vols[i] = &vols[i]->r;
    }
    rep.surface = opt.surface;
    rep.nsd = opt.nsd;
    rep.digits = opt.digits;
    rep.names = cls.name;
    rep.nnames = cls.n;
    rep.names_src = cls.src;
    if ((opt.ignore && segreport_ignore(&rep, opt.ignore)) || segreport_summarise(&rep))
        die_err(1);
}

static int cmp_vol(const void *a, const void *b)
{
    return strcmp((*(volume *const *)a)->r.id, (*(volume *const *)b)->r.id);
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
        FILTER_LONGOPTS_END,
    };
    int c;
    filter_init(argc, argv);
    slicegroup_init(&group, 2, map_name, sizeof(volume));
    /* The surface metrics allocate and free box-sized buffers per organ;
     * returning them to the kernel made page faults a quarter of the run
     * time. */
    filter_keep_heap();
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'i': strlist_add(&opt.inputs, optarg); break;
        case OPT_REF:
            strlist_add(&opt.refs, optarg);
            break;
        case OPT_PRED:
            if (opt.preds.n + 1 != opt.refs.n)
                usage_error("each --pred must follow its --ref");
            strlist_add(&opt.preds, optarg);
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
        }
    }
    {
        /* two NIfTI operands: ref then pred, as plastimatch dice takes them */
        int nnii = 0;
        for (int i = optind; i < argc; i++)
            nnii += ctmeta_is_nifti_name(argv[i]);
        if (nnii == 2 && argc - optind == 2 && !opt.refs.n && !opt.inputs.n) {
            strlist_add(&opt.refs, argv[optind]);
            strlist_add(&opt.preds, argv[optind + 1]);
            optind = argc;
        } else if (nnii) {
            usage_error("NIfTI operands: two are read as REF PRED; for more pairs give --ref A --pred B for each");
        }
    }
    strlist_add_argv(&opt.inputs, optind, argc, argv);
    if (opt.tsv && opt.json)
        usage_error("give --tsv or --json, not both");
    if (opt.refs.n != opt.preds.n)
        usage_error("--ref %s has no --pred", opt.refs.v[opt.refs.n - 1]);
    if (opt.refs.n && opt.inputs.n)
        usage_error("give frame inputs or --ref/--pred pairs, not both");
    if (!opt.refs.n)
        filter_inputs(&opt.inputs, argc, argc, argv);
    if (opt.labels_json && load_labels_json(opt.labels_json))
        die_err(1);

    if (opt.refs.n)
        read_nifti();
    else
        read_frames();
    if (!nvols)
        die(1, "no volumes to score (empty input)");
    qsort(vols, (size_t)nvols, sizeof *vols, cmp_vol);
    summarise();

    int pass = 1;
    if (opt.has_min_dice)
        pass = rep.all[SEGR_DICE].n > 0 && rep.all[SEGR_DICE].mean >= opt.min_dice;
    if (opt.json)
        segreport_json(&rep, stdout, opt.has_min_dice ? opt.min_dice : NAN, pass);
    else if (opt.tsv)
        segreport_tsv(&rep, stdout);
    else
        segreport_table(&rep, stdout);
    if (fflush(stdout) || ferror(stdout))
        die(1, "standard output: write error:");
    if (!pass) {
        if (!rep.all[SEGR_DICE].n)
            die(1, "no organ was scored, so the mean Dice is undefined (--min-dice %g)", opt.min_dice);
        die(1, "mean Dice %.*f is below --min-dice %g", opt.digits, rep.all[SEGR_DICE].mean, opt.min_dice);
    }
    return 0;
}
