/*
 * frame-cat — the frame inspector: print, select and convert lrcpipe streams.
 *
 * Reads frame streams (stdin, files, ZeroMQ), and either prints each record
 * as text (default), passes the selected records on as frames (-o), writes
 * tensors as NIfTI or .npy files, or turns NIfTI / .npy files and DICOM
 * series into frames.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "core/json.h"
#include "core/namepat.h"
#include "ct/ctvol.h"
#include "ct/dicomvol.h"
#include "io/frame.h"
#include "io/nii.h"
#include "io/npy.h"
#include "io/stream.h"
#include "io/zsec.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT]...\n"
           "Print, select and convert lrcpipe frame streams.\n"
           "\n"
           "Input and output:\n"
           "  -i, --input SPEC        read frames from SPEC (file, '-', tcp://, ipc://, '@' binds);\n"
           "                          repeatable, also given as operands; default stdin\n"
           "  -o, --output SPEC       write the selected records as frames instead of text\n"
           "      --json              print one JSON object per record (JSON Lines)\n"
           "      --no-stats          do not compute min/max/mean of tensors\n"
           "      --count             print only the number of data records\n"
           "\n"
           "Selection (records must match every option given):\n"
           "      --id ID             volume id (repeatable)\n"
           "      --z RANGE           slice index, N or A:B (inclusive; open ends allowed)\n"
           "      --seq RANGE         record seq, N or A:B\n"
           "  -t, --tensor NAME       keep only these tensors (repeatable)\n"
           "\n"
           "Conversion:\n"
           "      --to-nifti PATTERN  write every rank-3 tensor as NIfTI; %%i id, %%n tensor name,\n"
           "                          %%s seq, %%z z, %%%% a percent sign (e.g. out/%%i_%%n.nii.gz)\n"
           "      --to-npy PATTERN    write every tensor as .npy (same placeholders)\n"
           "      --from-nifti FILE   make a volume frame from a NIfTI file (repeatable)\n"
           "      --from-dicom DIR    make a volume frame (float32, rescaled) from each DICOM series\n"
           "                          under DIR (id: DIR's name, NAME_sN when it holds several)\n"
           "      --label FILE        add a NIfTI label map to the preceding --from-nifti/--from-dicom\n"
           "      --from-npy FILE     make a frame from a .npy file (repeatable)\n"
           "      --name NAME         tensor name for --from-nifti/--from-npy (default image)\n"
           "      --set-id ID         id of frames made by --from-* (default: file name)\n"
           "      --curve-keygen FILE write a new ZeroMQ CURVE key pair to FILE and FILE.pub\n",
           err_progname);
    filter_usage_common(NULL);
}

enum {
    OPT_JSON = 0x100, OPT_NOSTATS, OPT_COUNT, OPT_ID, OPT_Z, OPT_SEQ, OPT_TO_NIFTI, OPT_TO_NPY,
    OPT_FROM_NIFTI, OPT_LABEL, OPT_FROM_NPY, OPT_NAME, OPT_SET_ID, OPT_KEYGEN, OPT_FROM_DICOM
};

typedef struct {
    const char *path;
    const char *label;
    int npy, dicom;
    const char *name; /* tensor name at the time the option was given */
} source;

static struct {
    strlist inputs;
    const char *output;
    int json, stats, count_only;
    strlist ids;
    int64_t zlo, zhi, seqlo, seqhi;
    strlist tensors;
    const char *to_nifti, *to_npy;
    source *sources;
    int nsources;
    const char *set_id;
} opt = {.stats = 1, .zlo = INT64_MIN, .zhi = INT64_MAX, .seqlo = INT64_MIN, .seqhi = INT64_MAX};

static int selected(const frame *f)
{
    if (opt.ids.n && !(f->id && strlist_wants(&opt.ids, f->id)))
        return 0;
    if (f->z < opt.zlo || f->z > opt.zhi)
        return 0;
    if (f->seq < opt.seqlo || f->seq > opt.seqhi)
        return 0;
    return 1;
}

/* ---- text output ---- */

static void print_record_text(const frame *f)
{
    char shape[128];
    printf("data seq=%lld id=%s z=%lld\n", (long long)f->seq, f->id ? f->id : "-", (long long)f->z);
    if (f->meta.kind == MV_MAP && f->meta.m.n) {
        printf("  meta ");
        json_fprint(stdout, &f->meta, -1);
        printf("\n");
    }
    for (int i = 0; i < f->ntensors; i++) {
        const tensor *t = &f->tensors[i].t;
        printf("  %-10s %-4s %s", f->tensors[i].name, dtype_str(t->dtype), tensor_shape_str(t, shape, sizeof shape));
        if (opt.stats && tensor_numel(t)) {
            tensor_stats s;
            tensor_get_stats(t, &s);
            printf(" min=%.6g max=%.6g mean=%.6g", s.min, s.max, s.mean);
            if (s.nonfinite)
                printf(" nonfinite=%zu", s.nonfinite);
        }
        printf("\n");
    }
}

static void print_record_json(const frame *f)
{
    mval rec = {0}, *ts;
    mval_set_map(&rec);
    mval_put_str(&rec, "type", "data");
    mval_put_i64(&rec, "seq", f->seq);
    if (f->id)
        mval_put_str(&rec, "id", f->id);
    mval_put_i64(&rec, "z", f->z);
    if (f->meta.kind == MV_MAP)
        mval_copy(mval_map_put(&rec, "meta"), &f->meta);
    ts = mval_map_put(&rec, "tensors");
    mval_set_map(ts);
    for (int i = 0; i < f->ntensors; i++) {
        const tensor *t = &f->tensors[i].t;
        mval *e = mval_map_put(ts, f->tensors[i].name), *sh;
        mval_set_map(e);
        mval_put_str(e, "dtype", dtype_str(t->dtype));
        sh = mval_map_put(e, "shape");
        mval_set_array(sh);
        for (int d = 0; d < t->rank; d++)
            mval_set_int(mval_push(sh), t->shape[d]);
        if (opt.stats && tensor_numel(t)) {
            tensor_stats s;
            tensor_get_stats(t, &s);
            mval_put_f64(e, "min", s.min);
            mval_put_f64(e, "max", s.max);
            mval_put_f64(e, "mean", s.mean);
            mval_put_i64(e, "nonfinite", (int64_t)s.nonfinite);
        }
    }
    json_fprint(stdout, &rec, -1);
    printf("\n");
    mval_free(&rec);
}

static void print_start(const frame *s)
{
    if (opt.json) {
        mval rec = {0};
        mval_set_map(&rec);
        mval_put_str(&rec, "type", "start");
        mval_put_str(&rec, "producer", s->producer ? s->producer : "");
        mval_put_str(&rec, "version", s->version ? s->version : "");
        if (s->meta.kind == MV_MAP)
            mval_copy(mval_map_put(&rec, "params"), &s->meta);
        json_fprint(stdout, &rec, -1);
        printf("\n");
        mval_free(&rec);
        return;
    }
    printf("start producer=%s version=%s", s->producer ? s->producer : "-", s->version ? s->version : "-");
    if (s->meta.kind == MV_MAP && s->meta.m.n) {
        printf(" params=");
        json_fprint(stdout, &s->meta, -1);
    }
    printf("\n");
}

/* ---- file output ---- */

static int expand(const char *pattern, const frame *f, const char *name, char *out, size_t n)
{
    char seq[24], z[24], bad;
    snprintf(seq, sizeof seq, "%lld", (long long)f->seq);
    snprintf(z, sizeof z, "%lld", (long long)f->z);
    const char *vals[4] = {f->id ? f->id : "noid", name, seq, z};
    switch (namepat_expand(pattern, "insz", vals, out, n, &bad)) {
    case 1: return err_set("pattern '%s': unknown placeholder '%%%c'", pattern, bad);
    case 2: return err_set("pattern '%s': file name too long", pattern);
    }
    return 0;
}

static int frame_affine(frame *f, const tensor *t, double aff[16])
{
    double sp[3] = {1, 1, 1};
    int rc = mval_get_f64v(&f->meta, "affine", aff, 16);
    if (rc < 0)
        return -1;
    if (rc == 0)
        return 0;
    if (t->rank == 3 && mval_get_f64v(&f->meta, "spacing", sp, 3) < 0)
        return -1;
    memset(aff, 0, 16 * sizeof *aff);
    aff[0] = sp[2];
    aff[5] = sp[1];
    aff[10] = sp[0];
    aff[15] = 1;
    return 0;
}

static int write_files(frame *f)
{
    char path[4096];
    for (int i = 0; i < f->ntensors; i++) {
        const tensor *t = &f->tensors[i].t;
        if (opt.to_npy) {
            if (expand(opt.to_npy, f, f->tensors[i].name, path, sizeof path) || npy_write(path, t))
                return -1;
            log_info("wrote %s", path);
        }
        if (opt.to_nifti && t->rank == 3) {
            double aff[16];
            if (frame_affine(f, t, aff) || expand(opt.to_nifti, f, f->tensors[i].name, path, sizeof path) ||
                nii_write(path, t, aff))
                return -1;
            log_info("wrote %s", path);
        }
    }
    return 0;
}

/* ---- making frames from files ---- */

/* A case's id: its file or folder name without one of these endings. */
static const char *const id_exts[] = {".nii.gz", ".nii", ".npy"};

static int make_frame(const source *src, frame *f)
{
    char *id = filter_case_id(src->path, id_exts, 3);
    frame_init(f, FRAME_DATA);
    frame_set_id(f, opt.set_id ? opt.set_id : id);
    free(id);
    if (src->npy) {
        tensor t;
        if (npy_read(src->path, &t))
            return -1;
        return frame_tensor_add(f, src->name, &t);
    }
    {
        nii_image img, lab;
        mval *m = frame_meta(f);
        if (nii_read(src->path, &img, NII_NATIVE))
            return -1;
        mval_put_f64v(m, "spacing", img.spacing, 3);
        mval_put_f64v(m, "affine", img.affine, 16);
        if (frame_tensor_add(f, src->name, &img.data))
            return -1;
        if (src->label) {
            tensor *im = frame_tensor_get(f, src->name);
            if (nii_read(src->label, &lab, NII_NATIVE))
                return -1;
            if (!tensor_same_shape(&lab.data, im)) {
                nii_free(&lab);
                return err_set("%s: label map grid differs from %s", src->label, src->path);
            }
            for (int i = 0; i < 16; i++)
                if (fabs(lab.affine[i] - img.affine[i]) > 1e-3 * (1 + fabs(img.affine[i]))) {
                    nii_free(&lab);
                    return err_set("%s: label map affine differs from %s", src->label, src->path);
                }
            if (frame_tensor_add(f, "label", &lab.data))
                return -1;
        }
    }
    return 0;
}

/* One frame per DICOM series under src->path. */
static int put_dicom_frames(const source *src, stream_out *out)
{
    dicom_set set;
    struct stat st;
    char *base;
    int rc = 0;
    if (!stat(src->path, &st) && S_ISREG(st.st_mode)) {
        /* a file stands for its series: the id is its folder's name */
        char dir[4096];
        const char *slash = strrchr(src->path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - src->path) : 1, slash ? src->path : ".");
        base = filter_case_id(strcmp(dir, ".") ? dir : "dicom", id_exts, 3);
    } else {
        base = filter_case_id(src->path, id_exts, 3);
    }
    if (dicomvol_scan(src->path, &set)) {
        free(base);
        return -1;
    }
    if (src->label && set.n > 1)
        rc = err_set("--label: %s holds %d DICOM series; give the folder of one", src->path, set.n);
    for (int i = 0; i < set.n && !rc; i++) {
        char id[600];
        frame f;
        dicomvol_series_id(&set, i, opt.set_id ? opt.set_id : base, id, sizeof id);
        rc = dicomvol_read(&f, id, &set.series[i], src->path, frame_default_limits.max_record);
        if (!rc && src->label)
            rc = ctvol_add_label(&f, src->label, src->path);
        if (!rc && strcmp(src->name, "image")) {
            tensor t;
            rc = frame_tensor_take(&f, "image", &t) ? -1 : frame_tensor_add(&f, src->name, &t);
        }
        if (!rc)
            rc = stream_out_write(out, &f);
        frame_free(&f);
    }
    dicomvol_set_free(&set);
    free(base);
    return rc;
}

/* The frames of one --from-* source onto out. 0, or -1 + err_set. */
static int put_source(const source *src, stream_out *out)
{
    frame f;
    int rc;
    if (src->dicom)
        return put_dicom_frames(src, out);
    if (make_frame(src, &f))
        return -1;
    rc = stream_out_write(out, &f);
    frame_free(&f);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"json", no_argument, 0, OPT_JSON},
        {"no-stats", no_argument, 0, OPT_NOSTATS},
        {"count", no_argument, 0, OPT_COUNT},
        {"id", required_argument, 0, OPT_ID},
        {"z", required_argument, 0, OPT_Z},
        {"seq", required_argument, 0, OPT_SEQ},
        {"tensor", required_argument, 0, 't'},
        {"to-nifti", required_argument, 0, OPT_TO_NIFTI},
        {"to-npy", required_argument, 0, OPT_TO_NPY},
        {"from-nifti", required_argument, 0, OPT_FROM_NIFTI},
        {"from-dicom", required_argument, 0, OPT_FROM_DICOM},
        {"label", required_argument, 0, OPT_LABEL},
        {"from-npy", required_argument, 0, OPT_FROM_NPY},
        {"name", required_argument, 0, OPT_NAME},
        {"set-id", required_argument, 0, OPT_SET_ID},
        {"curve-keygen", required_argument, 0, OPT_KEYGEN},
        FILTER_LONGOPTS_END,
    };
    const char *name = "image";
    stream_out *out = NULL;
    int64_t nsel = 0;
    int c, rc = 0;

    filter_init(argc, argv);
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'i': strlist_add(&opt.inputs, optarg); break;
        case 'o': opt.output = optarg; break;
        case OPT_JSON: opt.json = 1; break;
        case OPT_NOSTATS: opt.stats = 0; break;
        case OPT_COUNT: opt.count_only = 1; break;
        case OPT_ID: strlist_add(&opt.ids, optarg); break;
        case OPT_Z:
            if (parse_i64_range(optarg, &opt.zlo, &opt.zhi))
                usage_error("option --z: %s", err_get());
            break;
        case OPT_SEQ:
            if (parse_i64_range(optarg, &opt.seqlo, &opt.seqhi))
                usage_error("option --seq: %s", err_get());
            break;
        case 't': strlist_add(&opt.tensors, optarg); break;
        case OPT_TO_NIFTI: opt.to_nifti = optarg; break;
        case OPT_TO_NPY: opt.to_npy = optarg; break;
        case OPT_FROM_NIFTI:
        case OPT_FROM_NPY:
        case OPT_FROM_DICOM:
            opt.sources = filter_push(opt.sources, &opt.nsources, sizeof *opt.sources);
            opt.sources[opt.nsources - 1] = (source){optarg, NULL, c == OPT_FROM_NPY, c == OPT_FROM_DICOM, name};
            break;
        case OPT_LABEL:
            if (!opt.nsources || opt.sources[opt.nsources - 1].npy)
                usage_error("--label must follow a --from-nifti or --from-dicom");
            opt.sources[opt.nsources - 1].label = optarg;
            break;
        case OPT_NAME:
            name = optarg;
            for (int i = 0; i < opt.nsources; i++)
                if (!opt.sources[i].name)
                    opt.sources[i].name = name;
            break;
        case OPT_SET_ID: opt.set_id = optarg; break;
        case OPT_KEYGEN:
            if (zsec_keygen(optarg))
                die_err(1);
            return 0;
        }
    }
    /* --name applies to every --from-* given before or after it. */
    for (int i = 0; i < opt.nsources; i++)
        opt.sources[i].name = name;
    strlist_add_argv(&opt.inputs, optind, argc, argv);
    if (opt.nsources && opt.inputs.n)
        usage_error("give either --from-nifti/--from-npy/--from-dicom or frame inputs, not both");
    if (opt.nsources && !opt.output)
        opt.output = "-";
    if (!opt.nsources)
        filter_inputs(&opt.inputs, argc, argc, argv);

    if (opt.output) {
        if (!(out = stream_out_open(opt.output)))
            die_err(1);
    }

    if (opt.nsources) {
        mval params = filter_params(argc, argv);
        if (stream_out_start(out, &params))
            die_err(1);
        mval_free(&params);
        for (int i = 0; i < opt.nsources && !rc; i++)
            rc = put_source(&opt.sources[i], out);
        filter_output_done(out, rc);
        return 0;
    }

    for (int k = 0; k < opt.inputs.n && !rc; k++) {
        stream_in *in = stream_in_open(opt.inputs.v[k]);
        const frame *last_start = NULL;
        frame f;
        int r;
        if (!in) {
            rc = -1;
            break;
        }
        while ((r = stream_in_next(in, &f)) > 0) {
            const frame *st = stream_in_start(in);
            if (st && st != last_start) {
                last_start = st;
                if (out && stream_out_count(out) == 0 && k == 0 && nsel == 0) {
                    /* Forward the producer's provenance. */
                    frame_buf b = {0};
                    if (frame_encode(st, &b) || stream_out_raw(out, b.data, b.len, 0))
                        r = -1;
                    frame_buf_free(&b);
                    if (r < 0) {
                        frame_free(&f);
                        break;
                    }
                } else if (!out && !opt.count_only && !opt.to_nifti && !opt.to_npy) {
                    print_start(st);
                }
            }
            if (!selected(&f)) {
                frame_free(&f);
                continue;
            }
            nsel++;
            filter_keep_tensors(&f, &opt.tensors);
            if (out) {
                r = stream_out_write(out, &f) ? -1 : 1;
            } else if (opt.to_nifti || opt.to_npy) {
                r = write_files(&f) ? -1 : 1;
            } else if (!opt.count_only) {
                if (opt.json)
                    print_record_json(&f);
                else
                    print_record_text(&f);
            }
            frame_free(&f);
            if (r < 0)
                break;
        }
        if (r < 0)
            rc = -1;
        stream_in_close(in);
    }
    if (out) {
        filter_output_done(out, rc);
        return 0;
    }
    if (rc)
        die_err(1);
    if (opt.count_only)
        printf("%lld\n", (long long)nsel);
    else if (!opt.to_nifti && !opt.to_npy && !opt.json)
        printf("end count=%lld\n", (long long)nsel);
    if (fflush(stdout) || ferror(stdout))
        die(1, "write error on stdout:");
    return 0;
}
