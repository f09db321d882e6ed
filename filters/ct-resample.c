/*
 * ct-resample — NIfTI CT volumes (and their label maps) to volume frames on
 * a RAS+ grid at a target spacing; and the way back (--to-original, --like).
 *
 * Forward: each case (a NIfTI operand, a manifest row, or a volume frame on
 * -i) is reoriented to RAS+ by axis permutation and flips (orient.h), then
 * resampled to --spacing: trilinear for the image, nearest for integer
 * tensors such as the label map (resample.h). One volume is in memory at a
 * time. Backward: volume frames go back onto the grid they came from (or the
 * grid of a reference NIfTI file), nearest for integer tensors.
 */
#include <getopt.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "affine.h"
#include "args.h"
#include "ctmeta.h"
#include "err.h"
#include "frame.h"
#include "manifest.h"
#include "nii.h"
#include "orient.h"
#include "resample.h"
#include "stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [IMAGE.nii[.gz]]...\n"
           "   or: %s --to-original | --like REF.nii.gz [OPTION]...\n"
           "Reorient CT volumes to RAS+ and resample them to a common spacing, as volume frames;\n"
           "or bring volume frames back onto their original grid.\n"
           "\n"
           "Input:\n"
           "  IMAGE                   NIfTI-1/2 volumes (.nii, .nii.gz); id = file name without extension\n"
           "  -m, --manifest FILE     CSV case list with columns id,image[,label] (repeatable)\n"
           "      --label FILE        label map on the grid of the one IMAGE operand\n"
           "      --id ID             id of the one IMAGE operand\n"
           "  -i, --input SPEC        read volume frames (image [Z,Y,X], meta affine or spacing)\n"
           "      --keep-going        report a case that cannot be read, go on with the others,\n"
           "                          exit 1 at the end (default: stop at the first)\n"
           "\n"
           "Resampling:\n"
           "  -s, --spacing D,H,W     target spacing in mm, depth,height,width (default 2.5,1,1)\n"
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
           "  -t, --tensor NAME       keep only these tensors (repeatable)\n"
           "\n"
           "Common:\n"
           "  -q, --quiet             errors only\n"
           "  -v, --verbose           more messages (repeatable)\n"
           "      --max-record SIZE   refuse records larger than SIZE bytes (default 4G)\n"
           "  -h, --help              this help\n"
           "      --version           version\n",
           err_progname, err_progname);
}

enum { OPT_LABEL = 0x100, OPT_ID, OPT_KEEP_GOING, OPT_LABELS_JSON, OPT_THREADS, OPT_TO_ORIGINAL, OPT_LIKE };

typedef struct {
    char *id, *image, *label;
    char where[600]; /* "list.csv:7" for manifest rows, else "" */
} ct_case;

static struct {
    double spacing[3];
    const char *label, *id, *input, *output, *labels_json, *like;
    const char **manifests, **files, **tensors;
    int nmanifests, nfiles, ntensors;
    int keep_going, to_original;
} opt = {.spacing = {2.5, 1, 1}};

static void *push(void *arr, int *n, size_t elsize)
{
    char *p = realloc(arr, (size_t)(*n + 1) * elsize);
    if (!p)
        die(1, "out of memory");
    memset(p + (size_t)*n * elsize, 0, elsize);
    (*n)++;
    return p;
}

static char *base_id(const char *path)
{
    const char *b = strrchr(path, '/');
    char *id = strdup(b ? b + 1 : path);
    static const char *exts[] = {".nii.gz", ".nii"};
    if (!id)
        die(1, "out of memory");
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(id), e = strlen(exts[i]);
        if (n > e && !strcmp(id + n - e, exts[i])) {
            id[n - e] = '\0';
            break;
        }
    }
    return id;
}

/* ---- tensors ---- */

static int wanted(const char *name)
{
    if (!opt.ntensors)
        return 1;
    for (int i = 0; i < opt.ntensors; i++)
        if (!strcmp(opt.tensors[i], name))
            return 1;
    return 0;
}

static void keep_wanted(frame *f)
{
    for (int i = f->ntensors - 1; i >= 0; i--)
        if (!wanted(f->tensors[i].name))
            frame_tensor_del(f, f->tensors[i].name);
}

/* Label maps become uint8; a value that is not an integer in 0..255 is an error. */
static int label_to_u8(tensor *t, const char *what)
{
    tensor u;
    size_t n = tensor_numel(t);
    if (t->dtype == DT_U8)
        return 0;
    for (size_t i = 0; i < n; i++) {
        double v = tensor_get(t, i);
        if (!(v >= 0 && v <= 255 && v == floor(v)))
            return err_set("%s: label value %g (voxel %zu) is not an integer in 0..255", what, v, i);
    }
    if (tensor_convert(&u, t, DT_U8))
        return -1;
    tensor_free(t);
    tensor_move(t, &u);
    return 0;
}

static int to_f32(tensor *t)
{
    tensor u;
    if (t->dtype == DT_F32)
        return 0;
    if (tensor_convert(&u, t, DT_F32))
        return -1;
    tensor_free(t);
    tensor_move(t, &u);
    return 0;
}

static const char *shape3(const int64_t *s, char *buf, size_t n)
{
    snprintf(buf, n, "[%lld, %lld, %lld]", (long long)s[0], (long long)s[1], (long long)s[2]);
    return buf;
}

/* ---- forward ---- */

/* Reorient and resample every rank-3 tensor of f (all on the grid of
 * 'image'); update meta. */
static int resample_frame(frame *f, const mval *classes)
{
    double A[16], Acan[16], Aout[16], D[16], sin[3], r[3];
    int64_t ishape[3], cshape[3], oshape[3];
    int ornt[3][2];
    char code[4], b1[64], b2[64];
    tensor *img = frame_tensor_get(f, "image");
    mval *m = frame_meta(f);
    size_t maxb = frame_default_limits.max_record;

    if (!img)
        return err_set("no 'image' tensor");
    if (img->rank != 3)
        return err_set("'image' has rank %d, want a [Z,Y,X] volume", img->rank);
    for (int d = 0; d < 3; d++)
        if (img->shape[d] < 1)
            return err_set("'image' has an empty dimension %s", shape3(img->shape, b1, sizeof b1));
    memcpy(ishape, img->shape, sizeof ishape);
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t;
        if (t->rank == 3 && memcmp(t->shape, ishape, sizeof ishape))
            return err_set("tensor '%s' %s is not on the grid of 'image' %s", f->tensors[i].name,
                           shape3(t->shape, b1, sizeof b1), shape3(ishape, b2, sizeof b2));
    }
    if (ctmeta_volume_affine(&f->meta, A) || orient_ras(ornt, A))
        return -1;
    orient_code(code, ornt);
    if (!mval_map_get(m, "orig_affine")) {
        if (mval_put_f64v(m, "orig_affine", A, 16) || ctmeta_put_i64v(m, "orig_shape", ishape, 3) ||
            mval_put_str(m, "orig_orient", code))
            return -1;
    }
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t, can;
        if (t->rank != 3)
            continue;
        if (!strcmp(f->tensors[i].name, "label") && label_to_u8(t, "label"))
            return -1;
        if (!ctmeta_is_int(t->dtype) && to_f32(t))
            return -1;
        if (orient_apply(&can, Acan, t, A, ornt))
            return -1;
        tensor_free(t);
        tensor_move(t, &can);
    }
    img = frame_tensor_get(f, "image");
    memcpy(cshape, img->shape, sizeof cshape);
    nii_affine_spacing(Acan, sin);
    for (int d = 0; d < 3; d++) {
        r[d] = opt.spacing[d] / sin[d];
        oshape[d] = resample_grid_len(cshape[d], r[d]);
        if (oshape[d] < 1)
            return err_set("cannot resample spacing %g to %g", sin[d], opt.spacing[d]);
    }
    if (shape_numel_checked(3, oshape, 4, maxb) < 0)
        return err_set("the resampled volume %s would exceed %zu bytes (use a coarser --spacing or --max-record)",
                       shape3(oshape, b1, sizeof b1), maxb);
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t, o;
        if (t->rank != 3)
            continue;
        if (tensor_init(&o, t->dtype, 3, oshape))
            return -1;
        if (ctmeta_is_int(t->dtype))
            resample_nearest3(o.data, oshape, t->data, cshape, r, dtype_size(t->dtype));
        else
            resample_linear3_f32(o.data, oshape, t->data, cshape, r);
        tensor_free(t);
        tensor_move(t, &o);
    }
    /* Output voxel o sits at canonical voxel diag(r) o. */
    affine_eye(D);
    D[0] = r[2], D[5] = r[1], D[10] = r[0];
    affine_mul(Aout, Acan, D);
    if (mval_put_f64v(m, "spacing", opt.spacing, 3) || mval_put_f64v(m, "affine", Aout, 16))
        return -1;
    if (classes && mval_copy(mval_map_put(m, "classes"), classes))
        return err_set("out of memory");
    log_info("%s: %s %s, %.4g x %.4g x %.4g mm -> %s", f->id ? f->id : "-", shape3(ishape, b1, sizeof b1), code,
             sin[0], sin[1], sin[2], shape3(oshape, b2, sizeof b2));
    return 0;
}

/* A frame from a NIfTI image (and label map). */
static int load_case(const ct_case *c, frame *f)
{
    nii_image img, lab;
    mval *m;
    frame_init(f, FRAME_DATA);
    if (frame_set_id(f, c->id))
        return -1;
    f->z = -1;
    if (nii_read(c->image, &img, NII_F32))
        return -1;
    m = frame_meta(f);
    if (mval_put_f64v(m, "affine", img.affine, 16) || mval_put_f64v(m, "spacing", img.spacing, 3) ||
        mval_put_str(m, "source", c->image)) {
        nii_free(&img);
        return -1;
    }
    if (affine_check(img.affine)) {
        nii_free(&img);
        return err_prefix("%s", c->image);
    }
    if (c->label) {
        char b1[64], b2[64];
        if (nii_read(c->label, &lab, NII_NATIVE)) {
            nii_free(&img);
            return -1;
        }
        if (!tensor_same_shape(&lab.data, &img.data)) {
            err_set("%s: label map grid %s differs from the image %s %s (resample it onto the image first)",
                    c->label, shape3(lab.data.shape, b1, sizeof b1), c->image,
                    shape3(img.data.shape, b2, sizeof b2));
            nii_free(&img);
            nii_free(&lab);
            return -1;
        }
        /* Same tolerance as nibabel's allclose on float32 sform rows. */
        if (!affine_close(lab.affine, img.affine, 1e-4)) {
            err_set("%s: label map affine differs from the image %s (same voxel counts, different placement)",
                    c->label, c->image);
            nii_free(&img);
            nii_free(&lab);
            return -1;
        }
        if (label_to_u8(&lab.data, c->label)) {
            nii_free(&img);
            nii_free(&lab);
            return -1;
        }
        frame_tensor_add(f, "label", &lab.data);
    }
    frame_tensor_add(f, "image", &img.data);
    return 0;
}

/* ---- backward ---- */

static int restore_frame(frame *f, const double *ref_affine, const int64_t *ref_shape)
{
    double A[16], At[16], Ainv[16], M[16], sp[3];
    int64_t shape[3], tshape[3];
    int have = 0;
    char b1[64], b2[64];
    mval *m = frame_meta(f);
    if (ctmeta_volume_affine(&f->meta, A))
        return -1;
    if (ref_affine) {
        memcpy(At, ref_affine, sizeof At);
        memcpy(tshape, ref_shape, sizeof tshape);
    } else {
        int r1 = mval_get_f64v(m, "orig_affine", At, 16), r2;
        if (r1 < 0)
            return -1;
        r2 = ctmeta_get_i64v(m, "orig_shape", tshape, 3);
        if (r2 < 0)
            return -1;
        if (r1 || r2)
            return err_set("meta has no orig_affine/orig_shape (not made by ct-resample? use --like REF.nii.gz)");
        if (affine_check(At))
            return err_prefix("meta 'orig_affine'");
        for (int d = 0; d < 3; d++)
            if (tshape[d] < 1 || tshape[d] > 1000000)
                return err_set("meta 'orig_shape' %s is not a volume shape", shape3(tshape, b1, sizeof b1));
    }
    if (affine_inv(Ainv, A))
        return err_prefix("meta 'affine'");
    affine_mul(M, Ainv, At);
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t;
        if (t->rank != 3)
            continue;
        if (have && memcmp(t->shape, shape, sizeof shape))
            return err_set("tensor '%s' %s is not on the grid of the others %s", f->tensors[i].name,
                           shape3(t->shape, b1, sizeof b1), shape3(shape, b2, sizeof b2));
        memcpy(shape, t->shape, sizeof shape);
        have = 1;
    }
    if (!have)
        return err_set("no [Z,Y,X] tensor to bring back");
    if (shape_numel_checked(3, tshape, 8, frame_default_limits.max_record) < 0)
        return err_set("the target grid %s is too large", shape3(tshape, b1, sizeof b1));
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t, o;
        if (t->rank != 3)
            continue;
        if (!ctmeta_is_int(t->dtype) && to_f32(t))
            return -1;
        if (tensor_init(&o, t->dtype, 3, tshape))
            return -1;
        if (ctmeta_is_int(t->dtype))
            resample_affine_nearest(o.data, tshape, t->data, shape, M, dtype_size(t->dtype));
        else
            resample_affine_linear_f32(o.data, tshape, t->data, shape, M);
        tensor_free(t);
        tensor_move(t, &o);
    }
    nii_affine_spacing(At, sp);
    if (mval_put_f64v(m, "affine", At, 16) || mval_put_f64v(m, "spacing", sp, 3))
        return -1;
    log_info("%s: %s -> %s", f->id ? f->id : "-", shape3(shape, b1, sizeof b1), shape3(tshape, b2, sizeof b2));
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
    keep_wanted(f);
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
            if (f->tensors[i].t.rank != 3)
                continue;
            if (ctmeta_expand(s->pattern, f->id, f->tensors[i].name, path, sizeof path))
                return -1;
            for (int k = 0; k < s->nwritten; k++)
                if (!strcmp(s->written[k], path))
                    return err_set("%s: written already for an earlier volume (put %%i in the output name)", path);
            if (nii_write(path, &f->tensors[i].t, A))
                return -1;
            s->written = push(s->written, &s->nwritten, sizeof *s->written);
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
        mval p = {0}, *a;
        int rc;
        mval_set_map(&p);
        a = mval_map_put(&p, "argv");
        mval_set_array(a);
        for (int i = 0; i < argc; i++)
            mval_set_str(mval_push(a), argv[i]);
        if (!opt.to_original && !opt.like)
            mval_put_f64v(&p, "spacing", opt.spacing, 3);
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

static ct_case *collect_cases(int *ncases)
{
    ct_case *cases = NULL;
    int n = 0;
    for (int i = 0; i < opt.nfiles; i++) {
        ct_case *c;
        cases = push(cases, &n, sizeof *cases);
        c = &cases[n - 1];
        c->image = strdup(opt.files[i]);
        c->id = opt.id ? strdup(opt.id) : base_id(opt.files[i]);
        c->label = opt.label ? strdup(opt.label) : NULL;
    }
    for (int k = 0; k < opt.nmanifests; k++) {
        manifest mf;
        if (manifest_load(opt.manifests[k], &mf))
            die_err(1);
        for (size_t i = 0; i < mf.n; i++) {
            ct_case *c;
            for (int j = 0; j < n; j++)
                if (!strcmp(cases[j].id, mf.cases[i].id))
                    die(1, "%s:%d: id '%s' used twice (also by %s)", mf.path, mf.cases[i].line, mf.cases[i].id,
                        cases[j].where[0] ? cases[j].where : cases[j].image);
            cases = push(cases, &n, sizeof *cases);
            c = &cases[n - 1];
            c->id = mf.cases[i].id;
            c->image = mf.cases[i].image;
            c->label = mf.cases[i].label;
            mf.cases[i].id = mf.cases[i].image = mf.cases[i].label = NULL;
            snprintf(c->where, sizeof c->where, "%s:%d", mf.path, mf.cases[i].line);
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
            rc = load_case(&cases[i], &f);
            if (!rc && resample_frame(&f, classes))
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
        int rc = opt.to_original || opt.like ? restore_frame(&f, ref_affine, ref_shape)
                                             : resample_frame(&f, classes);
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
        {"threads", required_argument, 0, OPT_THREADS},
        {"to-original", no_argument, 0, OPT_TO_ORIGINAL},
        {"like", required_argument, 0, OPT_LIKE},
        {"output", required_argument, 0, 'o'},
        {"tensor", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},
        OPT_COMMON_LONG,
        {0, 0, 0, 0},
    };
    mval classes = {0};
    double ref_affine[16];
    int64_t ref_shape[3];
    ct_case *cases = NULL;
    int ncases = 0, c, rc;
    sink s;

    filter_init(argc, argv);
    while ((c = getopt_long(argc, argv, "m:i:s:o:t:qvh", longopts, NULL)) != -1) {
        if (opt_common(c, optarg))
            continue;
        switch (c) {
        case 'm':
            opt.manifests = push(opt.manifests, &opt.nmanifests, sizeof *opt.manifests);
            opt.manifests[opt.nmanifests - 1] = optarg;
            break;
        case OPT_LABEL: opt.label = optarg; break;
        case OPT_ID: opt.id = optarg; break;
        case 'i': opt.input = optarg; break;
        case OPT_KEEP_GOING: opt.keep_going = 1; break;
        case 's': opt_f64_list("--spacing", optarg, opt.spacing, 3, 1e-3, 1e3); break;
        case OPT_LABELS_JSON: opt.labels_json = optarg; break;
        case OPT_THREADS: omp_set_num_threads((int)opt_i64("--threads", optarg, 1, 1024)); break;
        case OPT_TO_ORIGINAL: opt.to_original = 1; break;
        case OPT_LIKE: opt.like = optarg; break;
        case 'o': opt.output = optarg; break;
        case 't':
            opt.tensors = push(opt.tensors, &opt.ntensors, sizeof *opt.tensors);
            opt.tensors[opt.ntensors - 1] = optarg;
            break;
        case 'h': usage(); return 0;
        default: usage_error("unknown option");
        }
    }
    for (int i = optind; i < argc; i++) {
        opt.files = push(opt.files, &opt.nfiles, sizeof *opt.files);
        opt.files[opt.nfiles - 1] = argv[i];
    }
    if (opt.to_original && opt.like)
        usage_error("give --to-original or --like, not both");
    if (opt.to_original || opt.like) {
        if (opt.nfiles || opt.nmanifests || opt.label)
            usage_error("--to-original and --like read volume frames (-i), not NIfTI files or manifests");
        if (opt.labels_json)
            usage_error("--labels-json applies to the forward direction");
    } else {
        if (opt.input && (opt.nfiles || opt.nmanifests))
            usage_error("give either -i (volume frames) or NIfTI files/--manifest, not both");
        if ((opt.label || opt.id) && opt.nfiles != 1)
            usage_error("--label and --id need exactly one IMAGE operand");
    }
    if (opt.keep_going && (opt.input || opt.to_original || opt.like || !(opt.nfiles || opt.nmanifests)))
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
    if (!opt.input && !opt.nfiles && !opt.nmanifests)
        opt.input = "-";
    if (!opt.input)
        cases = collect_cases(&ncases);
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
    }
    free(cases);
    mval_free(&classes);
    return 0;
}
