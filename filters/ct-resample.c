/*
 * ct-resample — NIfTI CT volumes or DICOM series (and their label maps) to
 * volume frames on a RAS+ grid at a target spacing; and the way back
 * (--to-original, --like).
 *
 * Forward: each case (a NIfTI operand, a DICOM series found under a folder
 * operand, a manifest row, or a volume frame on -i) is reoriented to RAS+ by axis permutation and flips, then
 * resampled to --spacing: trilinear for the image, nearest for integer
 * tensors such as the label map (libcommon/ct/ctvol.h). One volume is in memory at a
 * time. Backward: volume frames go back onto the grid they came from (or the
 * grid of a reference NIfTI file), nearest for integer tensors.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "ct/affine.h"
#include "ct/ctmeta.h"
#include "ct/ctvol.h"
#include "ct/dicomvol.h"
#include "io/frame.h"
#include "io/manifest.h"
#include "io/nii.h"
#include "io/stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [IMAGE.nii[.gz] | DICOM-DIR]...\n"
           "   or: %s --to-original | --like REF.nii.gz [OPTION]...\n"
           "Reorient CT volumes to RAS+ and resample them to a common spacing, as volume frames;\n"
           "or bring volume frames back onto their original grid.\n"
           "\n"
           "Input:\n"
           "  IMAGE                   NIfTI-1/2 volumes (.nii, .nii.gz); id = file name without extension\n"
           "  DICOM-DIR               a folder of DICOM files, searched recursively: one case per series\n"
           "                          (id = folder name, or NAME_sN by SeriesNumber when it holds several);\n"
           "                          a DICOM file stands for its series in its folder\n"
           "  -m, --manifest FILE     case list (repeatable): CSV with columns id,image[,label], or a\n"
           "                          Decathlon/nnU-Net dataset.json (training, then test cases)\n"
           "      --label FILE        label map on the grid of the one IMAGE operand\n"
           "      --id ID             id of the one IMAGE operand\n"
           "  -i, --input SPEC        read volume frames (image [Z,Y,X], meta affine or spacing)\n"
           "      --keep-going        report a case that cannot be read, go on with the others,\n"
           "                          exit 1 at the end (default: stop at the first)\n"
           "\n"
           "Resampling:\n"
           "  -s, --spacing D,H,W     target spacing in mm, depth,height,width (default 2.5,1,1)\n"
           "      --fov               keep the field of view: round(n*s_in/s_out) voxels whose outer\n"
           "                          edges meet the input's (default: first voxel centres coincide)\n"
           "      --labels-json FILE  class names by label value, put into meta 'classes'\n"
           "      --threads N         OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
           "\n"
           "Back to the original grid (reads volume frames from -i, default stdin):\n"
           "      --to-original       onto meta orig_affine/orig_shape (written by the forward pass)\n"
           "      --like REF          onto the grid of the NIfTI file REF\n"
           "\n"
           "Output:\n"
           "  -o, --output SPEC       frames to SPEC (default stdout); a name ending in .nii or\n"
           "                          .nii.gz writes NIfTI instead: %%i id, %%n tensor name, %%%% a\n"
           "                          percent sign (e.g. 'out/%%i_%%n.nii.gz')\n"
           "  -t, --tensor NAME       keep only these tensors (repeatable)\n",
           err_progname, err_progname);
    filter_usage_common(NULL);
}

enum { OPT_LABEL = 0x100, OPT_ID, OPT_KEEP_GOING, OPT_LABELS_JSON, OPT_TO_ORIGINAL, OPT_LIKE, OPT_FOV };

typedef struct {
    char *id, *image, *label;
    char where[600]; /* "list.csv:7" for manifest rows, else "" */
    dicom_set *dicom; /* a DICOM image: the set its series is in (shared) */
    int series;
} ct_case;

static struct {
    double spacing[3];
    const char *label, *id, *input, *output, *labels_json, *like;
    strlist manifests, files, tensors;
    int keep_going, to_original, fov;
} opt = {.spacing = {2.5, 1, 1}};

/* A case's id: its file or folder name without one of these endings. */
static const char *const id_exts[] = {".nii.gz", ".nii", ".dcm"};

/* ---- tensors ---- */

static const char *shape3(const int64_t *v, char *buf, size_t n)
{
    snprintf(buf, n, "[%lld, %lld, %lld]", (long long)v[0], (long long)v[1], (long long)v[2]);
    return buf;
}

/* The forward pass on one frame, with its log line. */
static int forward(frame *f, const mval *classes)
{
    ctvol_info in;
    char b1[64], b2[64];
    if (ctvol_to_spacing(f, opt.spacing, opt.fov, frame_default_limits.max_record, &in))
        return -1;
    if (classes && mval_copy(mval_map_put(frame_meta(f), "classes"), classes))
        return err_set("out of memory");
    log_info("%s: %s %s, %.4g x %.4g x %.4g mm -> %s", f->id ? f->id : "-", shape3(in.in_shape, b1, sizeof b1),
             in.orient, in.in_spacing[0], in.in_spacing[1], in.in_spacing[2], shape3(in.out_shape, b2, sizeof b2));
    return 0;
}

/* ---- output ---- */

typedef struct {
    stream_out *out;
    const char *pattern;
    char **written;
    int nwritten;
} sink;

static int sink_put(sink *s, frame *f)
{
    filter_keep_tensors(f, &opt.tensors);
    if (s->out)
        return stream_out_write(s->out, f);
    {
        double A[16];
        int n3 = 0;
        if (ctmeta_volume_affine(&f->meta, A))
            return -1;
        for (int i = 0; i < f->ntensors; i++)
            n3 += f->tensors[i].t.rank == 3;
        if (n3 == 0)
            return err_set("no [Z,Y,X] tensor to write as NIfTI");
        if (n3 > 1 && !strstr(s->pattern, "%n")) {
            char names[256] = "";
            for (int i = 0; i < f->ntensors; i++)
                if (f->tensors[i].t.rank == 3 && strlen(names) + strlen(f->tensors[i].name) + 3 < sizeof names)
                    strcat(strcat(names, names[0] ? ", " : ""), f->tensors[i].name);
            return err_set("%s: the volume has tensors %s: put %%n in the output name or choose one with -t",
                           s->pattern, names);
        }
        for (int i = 0; i < f->ntensors; i++) {
            char path[4096];
            if (f->tensors[i].t.rank != 3) {
                log_warn("%s: tensor '%s' is not a [Z,Y,X] volume: not written as NIfTI", f->id ? f->id : "-",
                         f->tensors[i].name);
                continue;
            }
            if (ctmeta_expand(s->pattern, f->id, f->tensors[i].name, path, sizeof path))
                return -1;
            for (int k = 0; k < s->nwritten; k++)
                if (!strcmp(s->written[k], path))
                    return err_set("%s: written already for an earlier volume (put %%i in the output name)", path);
            if (nii_write(path, &f->tensors[i].t, A))
                return -1;
            s->written = filter_push(s->written, &s->nwritten, sizeof *s->written);
            if (!(s->written[s->nwritten - 1] = strdup(path)))
                return err_set("out of memory");
            log_info("wrote %s", path);
        }
    }
    return 0;
}

static int sink_open(sink *s, int argc, char **argv)
{
    memset(s, 0, sizeof *s);
    if (opt.output && ctmeta_is_nifti_name(opt.output)) {
        s->pattern = opt.output;
        return 0;
    }
    if (!(s->out = stream_out_open(opt.output ? opt.output : "-")))
        return -1;
    {
        mval p = filter_params(argc, argv);
        int rc;
        if (!opt.to_original && !opt.like) {
            mval_put_f64v(&p, "spacing", opt.spacing, 3);
            mval_put_str(&p, "grid", opt.fov ? "fov" : "corner");
        }
        rc = stream_out_start(s->out, &p);
        mval_free(&p);
        return rc;
    }
}

static int sink_close(sink *s)
{
    int rc = 0;
    if (s->out)
        rc = stream_out_end(s->out) || stream_out_close(s->out) ? -1 : 0;
    for (int i = 0; i < s->nwritten; i++)
        free(s->written[i]);
    free(s->written);
    return rc;
}

static void sink_abort(sink *s)
{
    if (s->out)
        stream_out_abort(s->out);
    s->out = NULL;
}

/* ---- main ---- */

/* The DICOM series a path names (dicomvol_scan); where: a manifest line. */
static dicom_set *scan_dicom(const char *path, const char *where)
{
    dicom_set *set = malloc(sizeof *set);
    if (!set)
        die(1, "out of memory");
    if (dicomvol_scan(path, set)) {
        if (where[0])
            die_errx(1, "%s", where);
        die_err(1);
    }
    if (set->skipped)
        log_info("%s: %d file%s that are not DICOM images skipped", path, set->skipped, set->skipped == 1 ? "" : "s");
    return set;
}

static void add_dicom_cases(ct_case **cases, int *n, const char *path, const char *id, const char *label)
{
    dicom_set *set = scan_dicom(path, "");
    struct stat st;
    char *base;
    if (label && set->n > 1)
        usage_error("--label: %s holds %d DICOM series; give the folder of one", path, set->n);
    if (!id && !stat(path, &st) && S_ISREG(st.st_mode)) {
        /* a file stands for its series: the id is its folder's name */
        char dir[4096];
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
        base = filter_case_id(strcmp(dir, ".") ? dir : "dicom", id_exts, 3);
    } else {
        base = id ? strdup(id) : filter_case_id(path, id_exts, 3);
    }
    if (!base)
        die(1, "out of memory");
    for (int s = 0; s < set->n; s++) {
        char sid[600];
        ct_case *c;
        dicomvol_series_id(set, s, base, sid, sizeof sid);
        *cases = filter_push(*cases, n, sizeof **cases);
        c = &(*cases)[*n - 1];
        c->image = strdup(path);
        c->id = strdup(sid);
        c->label = label ? strdup(label) : NULL;
        c->dicom = set;
        c->series = s;
        if (!c->image || !c->id)
            die(1, "out of memory");
    }
    free(base);
}

/* A dataset.json's label names as meta classes: the first manifest that
 * has them gives them, a later one must agree (--labels-json overrides). */
static void manifest_classes(const manifest *mf, mval *classes, const char **from)
{
    mval c = {0};
    if (!mf->nclasses || opt.labels_json)
        return;
    mval_set_array(&c);
    for (int i = 0; i < mf->nclasses; i++) {
        mval *e = mval_push(&c);
        if (!e || mval_set_str(e, mf->classes[i]))
            die(1, "out of memory");
    }
    if (classes->kind == MV_NIL) {
        *classes = c;
        *from = mf->path;
        return;
    }
    {
        int same = classes->a.n == c.a.n;
        for (size_t i = 0; same && i < c.a.n; i++)
            same = !strcmp(classes->a.v[i].s.p, c.a.v[i].s.p);
        mval_free(&c);
        if (!same)
            die(1, "%s: its labels differ from those of %s (give --labels-json)", mf->path, *from);
    }
}

static ct_case *collect_cases(int *ncases, mval *classes)
{
    ct_case *cases = NULL;
    const char *classes_from = NULL;
    int n = 0;
    for (int i = 0; i < opt.files.n; i++) {
        ct_case *c;
        if (dicomvol_is_dicom_path(opt.files.v[i])) {
            add_dicom_cases(&cases, &n, opt.files.v[i], opt.id, opt.label);
            continue;
        }
        cases = filter_push(cases, &n, sizeof *cases);
        c = &cases[n - 1];
        c->image = strdup(opt.files.v[i]);
        c->id = opt.id ? strdup(opt.id) : filter_case_id(opt.files.v[i], id_exts, 3);
        c->label = opt.label ? strdup(opt.label) : NULL;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(cases[i].id, cases[j].id))
                die(1, "%s: id '%s' used twice (also by %s): give the operands distinct names", cases[i].image,
                    cases[i].id, cases[j].image);
    for (int k = 0; k < opt.manifests.n; k++) {
        manifest mf;
        if (manifest_load(opt.manifests.v[k], &mf))
            die_err(1);
        manifest_classes(&mf, classes, &classes_from);
        if (classes_from == mf.path)
            classes_from = opt.manifests.v[k];
        for (size_t i = 0; i < mf.n; i++) {
            ct_case *c;
            for (int j = 0; j < n; j++)
                if (!strcmp(cases[j].id, mf.cases[i].id))
                    die(1, "%s:%s: id '%s' used twice (also by %s)", mf.path, mf.cases[i].where, mf.cases[i].id,
                        cases[j].where[0] ? cases[j].where : cases[j].image);
            cases = filter_push(cases, &n, sizeof *cases);
            c = &cases[n - 1];
            c->id = mf.cases[i].id;
            c->image = mf.cases[i].image;
            c->label = mf.cases[i].label;
            mf.cases[i].id = mf.cases[i].image = mf.cases[i].label = NULL;
            snprintf(c->where, sizeof c->where, "%s:%s", mf.path, mf.cases[i].where);
            if (dicomvol_is_dicom_path(c->image)) {
                c->dicom = scan_dicom(c->image, c->where);
                if (c->dicom->n > 1)
                    die(1, "%s: %s holds %d DICOM series; name the folder of one series per case", c->where,
                        c->image, c->dicom->n);
            }
        }
        manifest_free(&mf);
    }
    *ncases = n;
    return cases;
}

/* Files that cannot be opened are reported before any output is written. */
static int check_readable(const ct_case *c)
{
    const char *p[2] = {c->image, c->label};
    for (int i = 0; i < 2; i++)
        if (p[i] && access(p[i], R_OK)) {
            if (c->where[0])
                return err_set("%s: %s:", c->where, p[i]);
            return err_set("%s:", p[i]);
        }
    return 0;
}

static int run_cases(sink *s, const ct_case *cases, int n, const mval *classes)
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        frame f;
        int rc = check_readable(&cases[i]);
        if (!rc) {
            if (cases[i].dicom) {
                rc = dicomvol_read(&f, cases[i].id, &cases[i].dicom->series[cases[i].series], cases[i].image,
                                   frame_default_limits.max_record);
                if (!rc && cases[i].label)
                    rc = ctvol_add_label(&f, cases[i].label, cases[i].image);
            } else {
                rc = ctvol_from_nifti(&f, cases[i].id, cases[i].image, cases[i].label);
            }
            if (!rc && forward(&f, classes))
                rc = err_prefix("%s", cases[i].image);
            if (!rc && sink_put(s, &f))
                rc = -1;
            frame_free(&f);
        }
        if (rc) {
            if (cases[i].where[0] && !strstr(err_get(), cases[i].where))
                err_prefix("%s", cases[i].where);
            if (!opt.keep_going)
                return -1;
            log_warn("%s (case skipped)", err_get());
            failed++;
        }
    }
    if (failed)
        return err_set("%d of %d cases failed (see above)", failed, n);
    return 0;
}

static int run_frames(sink *s, const mval *classes, const double *ref_affine, const int64_t *ref_shape)
{
    stream_in *in = stream_in_open(opt.input ? opt.input : "-");
    frame f;
    int r;
    if (!in)
        return -1;
    while ((r = stream_in_next(in, &f)) > 0) {
        int rc = opt.to_original || opt.like
                     ? ctvol_to_grid(&f, ref_affine, ref_shape, frame_default_limits.max_record)
                     : forward(&f, classes);
        if (rc)
            err_prefix("%s: record seq %lld (id %s)", stream_in_name(in), (long long)f.seq, f.id ? f.id : "-");
        else if (sink_put(s, &f))
            rc = -1;
        frame_free(&f);
        if (rc) {
            r = -1;
            break;
        }
    }
    stream_in_close(in);
    return r < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"manifest", required_argument, 0, 'm'},
        {"label", required_argument, 0, OPT_LABEL},
        {"id", required_argument, 0, OPT_ID},
        {"input", required_argument, 0, 'i'},
        {"keep-going", no_argument, 0, OPT_KEEP_GOING},
        {"spacing", required_argument, 0, 's'},
        {"labels-json", required_argument, 0, OPT_LABELS_JSON},
        {"fov", no_argument, 0, OPT_FOV},
        FILTER_LONGOPT_OMP_THREADS,
        {"to-original", no_argument, 0, OPT_TO_ORIGINAL},
        {"like", required_argument, 0, OPT_LIKE},
        {"output", required_argument, 0, 'o'},
        {"tensor", required_argument, 0, 't'},
        FILTER_LONGOPTS_END,
    };
    mval classes = {0};
    double ref_affine[16];
    int64_t ref_shape[3];
    ct_case *cases = NULL;
    int ncases = 0, c, rc;
    sink s;

    filter_init(argc, argv);
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'm': strlist_add(&opt.manifests, optarg); break;
        case OPT_LABEL: opt.label = optarg; break;
        case OPT_ID: opt.id = optarg; break;
        case 'i': opt.input = optarg; break;
        case OPT_KEEP_GOING: opt.keep_going = 1; break;
        case 's': opt_f64_list("--spacing", optarg, opt.spacing, 3, 1e-3, 1e3); break;
        case OPT_LABELS_JSON: opt.labels_json = optarg; break;
        case OPT_FOV: opt.fov = 1; break;
        case OPT_TO_ORIGINAL: opt.to_original = 1; break;
        case OPT_LIKE: opt.like = optarg; break;
        case 'o': opt.output = optarg; break;
        case 't': strlist_add(&opt.tensors, optarg); break;
        }
    }
    strlist_add_argv(&opt.files, optind, argc, argv);
    if (opt.to_original && opt.like)
        usage_error("give --to-original or --like, not both");
    if (opt.to_original || opt.like) {
        if (opt.files.n || opt.manifests.n || opt.label)
            usage_error("--to-original and --like read volume frames (-i), not NIfTI files or manifests");
        if (opt.labels_json || opt.fov)
            usage_error("--labels-json and --fov apply to the forward direction");
    } else {
        if (opt.input && (opt.files.n || opt.manifests.n))
            usage_error("give either -i (volume frames) or NIfTI files/--manifest, not both");
        if ((opt.label || opt.id) && opt.files.n != 1)
            usage_error("--label and --id need exactly one IMAGE operand");
    }
    if (opt.keep_going && (opt.input || opt.to_original || opt.like || !(opt.files.n || opt.manifests.n)))
        usage_error("--keep-going applies to NIfTI files and manifests, not to a frame stream");

    if (opt.labels_json && ctmeta_load_classes(opt.labels_json, &classes))
        die_err(1);
    if (opt.like) {
        nii_image ref;
        if (nii_read(opt.like, &ref, NII_NATIVE))
            die_err(1);
        memcpy(ref_affine, ref.affine, sizeof ref_affine);
        memcpy(ref_shape, ref.data.shape, sizeof ref_shape);
        nii_free(&ref);
        if (affine_check(ref_affine))
            die_errx(1, "%s", opt.like);
    }
    if (!opt.input && !opt.files.n && !opt.manifests.n)
        opt.input = "-";
    if (!opt.input)
        cases = collect_cases(&ncases, &classes);
    if (!opt.input && !opt.keep_going)
        for (int i = 0; i < ncases; i++)
            if (check_readable(&cases[i]))
                die_err(1);
    if (sink_open(&s, argc, argv))
        die_err(1);
    if (opt.input || opt.to_original || opt.like)
        rc = run_frames(&s, classes.kind == MV_ARRAY ? &classes : NULL, opt.like ? ref_affine : NULL, ref_shape);
    else
        rc = run_cases(&s, cases, ncases, classes.kind == MV_ARRAY ? &classes : NULL);
    if (rc && !(opt.keep_going && s.out)) {
        sink_abort(&s);
        die_err(1);
    }
    if (rc) {
        /* --keep-going: the good cases are written and the stream ends cleanly. */
        char msg[4096];
        snprintf(msg, sizeof msg, "%s", err_get());
        if (sink_close(&s))
            die_err(1);
        die(1, "%s", msg);
    }
    if (sink_close(&s))
        die_err(1);
    for (int i = 0; i < ncases; i++) {
        free(cases[i].id);
        free(cases[i].image);
        free(cases[i].label);
        /* a folder's series share one set, on consecutive cases */
        if (cases[i].dicom && (i + 1 == ncases || cases[i + 1].dicom != cases[i].dicom)) {
            dicomvol_set_free(cases[i].dicom);
            free(cases[i].dicom);
        }
    }
    free(cases);
    mval_free(&classes);
    return 0;
}
