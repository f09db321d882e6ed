/*
 * slice-regroup — slice frames (from slice-extract, with predictions or any
 * other [Y,X] tensors added on the way) back into volume frames by id, on
 * the grid of the volume they were cut from.
 *
 * Each slice carries its volume's shape, the crop/pad box or resize it went
 * through and how many slices of its volume the stream holds (ctmeta.h). A
 * volume is written as soon as all its slices have arrived; slices of
 * several volumes may interleave (as fanned-out workers deliver them).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/err.h"
#include "ct/ctmeta.h"
#include "ct/resample.h"
#include "io/frame.h"
#include "io/stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT]...\n"
           "Regroup slice frames into volume frames by id, undoing slice-extract's crop, pad or resize.\n"
           "\n"
           "  -i, --input SPEC        read slice frames from SPEC (repeatable, also operands;\n"
           "                          default stdin)\n"
           "  -o, --output SPEC       write volume frames to SPEC (default stdout)\n"
           "  -t, --tensor NAME       regroup only these tensors (repeatable; default all [H,W] ones)\n"
           "\n"
           "  -q, --quiet             errors only\n"
           "  -v, --verbose           more messages (repeatable)\n"
           "      --max-record SIZE   refuse records larger than SIZE bytes (default 4G)\n"
           "  -h, --help              this help\n"
           "      --version           version\n",
           err_progname);
}

typedef struct {
    char *name;
    tensor vol;    /* [Z,Y,X] */
    int64_t count; /* slices received */
} vtensor;

typedef struct {
    char *id;
    int64_t shape[3], nslices, received;
    uint8_t *have;  /* [Z] */
    mval meta;      /* of the first slice */
    frame extra;    /* non-slice tensors of the first slice */
    vtensor *t;
    int nt;
} volume;

static struct {
    const char **inputs, **tensors;
    int ninputs, ntensors;
    const char *output;
} opt;

static volume *vols;
static int nvols;
static char **done; /* ids already written: a later slice of one is an error */
static int ndone;

static void *push(void *arr, int *n, size_t elsize)
{
    char *p = realloc(arr, (size_t)(*n + 1) * elsize);
    if (!p)
        die(1, "out of memory");
    memset(p + (size_t)*n * elsize, 0, elsize);
    (*n)++;
    return p;
}

static int wanted(const char *name)
{
    if (!opt.ntensors)
        return 1;
    for (int i = 0; i < opt.ntensors; i++)
        if (!strcmp(opt.tensors[i], name))
            return 1;
    return 0;
}

static void volume_free(volume *v)
{
    free(v->id);
    free(v->have);
    mval_free(&v->meta);
    frame_free(&v->extra);
    for (int i = 0; i < v->nt; i++) {
        free(v->t[i].name);
        tensor_free(&v->t[i].vol);
    }
    free(v->t);
    memset(v, 0, sizeof *v);
}

/* Place slice s [H,W] of box [y0,x0,h,w] into plane [Y,X]. */
static int place(void *plane, int64_t Y, int64_t X, const tensor *s, const int64_t box[4])
{
    size_t es = dtype_size(s->dtype);
    int64_t H = s->shape[0], W = s->shape[1], h = box[2], w = box[3];
    const char *src = s->data;
    void *tmp = NULL;
    if (H != h || W != w) {
        /* Resized: map back onto the box's own pixel grid first. */
        if (!(tmp = malloc((size_t)(h * w) * es)))
            return err_set("out of memory");
        if (ctmeta_is_int(s->dtype))
            resample_nearest2(tmp, h, w, s->data, H, W, es);
        else
            resample_linear2_f32(tmp, h, w, s->data, H, W);
        src = tmp;
    }
    for (int64_t u = 0; u < h; u++) {
        int64_t y = box[0] + u, a = box[1] < 0 ? -box[1] : 0, b = box[1] + w > X ? X - box[1] : w;
        if (y < 0 || y >= Y || a >= b)
            continue;
        memcpy((char *)plane + (size_t)(y * X + box[1] + a) * es, src + (size_t)(u * w + a) * es,
               (size_t)(b - a) * es);
    }
    free(tmp);
    return 0;
}

static volume *find_or_add(const frame *f, const int64_t shape[3], int64_t nslices)
{
    const char *id = f->id ? f->id : "";
    volume *v;
    for (int i = 0; i < nvols; i++)
        if (!strcmp(vols[i].id, id)) {
            v = &vols[i];
            if (memcmp(v->shape, shape, sizeof v->shape) || v->nslices != nslices) {
                err_set("id %s: meta shape/nslices differ from the volume's earlier slices", id);
                return NULL;
            }
            return v;
        }
    for (int i = 0; i < ndone; i++)
        if (!strcmp(done[i], id)) {
            err_set("id %s: slice z=%lld arrived after the volume was complete (the id occurs twice?)", id,
                    (long long)f->z);
            return NULL;
        }
    vols = push(vols, &nvols, sizeof *vols);
    v = &vols[nvols - 1];
    v->id = strdup(id);
    memcpy(v->shape, shape, sizeof v->shape);
    v->nslices = nslices;
    v->have = calloc((size_t)shape[0], 1);
    frame_init(&v->extra, FRAME_DATA);
    if (!v->id || !v->have || mval_copy(&v->meta, &f->meta)) {
        err_set("out of memory");
        return NULL;
    }
    return v;
}

static int add_slice(frame *f)
{
    int64_t shape[3], box[4], nslices;
    int rc;
    volume *v;
    char b1[64];
    if ((rc = ctmeta_get_i64v(&f->meta, "shape", shape, 3)) || (rc = ctmeta_get_i64v(&f->meta, "box", box, 4)) ||
        (rc = mval_get_i64(&f->meta, "nslices", &nslices))) {
        if (rc > 0)
            err_set("meta 'shape', 'box' or 'nslices' missing (not a slice from slice-extract?)");
        return -1;
    }
    for (int d = 0; d < 3; d++)
        if (shape[d] < 1)
            return err_set("meta 'shape' is not a volume shape");
    if (box[2] < 1 || box[3] < 1 || shape_numel_checked(2, box + 2, 8, frame_default_limits.max_record) < 0)
        return err_set("meta 'box' size %lld x %lld is empty or too large", (long long)box[2], (long long)box[3]);
    if (shape_numel_checked(3, shape, 8, frame_default_limits.max_record) < 0)
        return err_set("meta 'shape' [%lld, %lld, %lld] is too large", (long long)shape[0], (long long)shape[1],
                       (long long)shape[2]);
    if (nslices < 1 || nslices > shape[0])
        return err_set("meta 'nslices' %lld is outside 1..%lld", (long long)nslices, (long long)shape[0]);
    if (f->z < 0 || f->z >= shape[0])
        return err_set("slice z=%lld is outside the volume's 0..%lld", (long long)f->z, (long long)shape[0] - 1);
    if (!(v = find_or_add(f, shape, nslices)))
        return -1;
    if (v->have[f->z])
        return err_set("id %s: slice z=%lld arrived twice", v->id, (long long)f->z);
    v->have[f->z] = 1;
    v->received++;
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t;
        const char *name = f->tensors[i].name;
        vtensor *vt = NULL;
        if (!wanted(name))
            continue;
        if (t->rank != 2) {
            /* Not a slice: kept as the first slice had it. */
            if (!frame_tensor_get(&v->extra, name)) {
                tensor c;
                if (tensor_copy(&c, t) || frame_tensor_add(&v->extra, name, &c))
                    return -1;
            }
            continue;
        }
        if (t->dtype == DT_F64) {
            tensor u;
            if (tensor_convert(&u, t, DT_F32))
                return -1;
            tensor_free(t);
            tensor_move(t, &u);
        }
        for (int k = 0; k < v->nt; k++)
            if (!strcmp(v->t[k].name, name))
                vt = &v->t[k];
        if (!vt) {
            v->t = push(v->t, &v->nt, sizeof *v->t);
            vt = &v->t[v->nt - 1];
            if (!(vt->name = strdup(name)) || tensor_init(&vt->vol, t->dtype, 3, shape))
                return err_set("id %s: out of memory for tensor '%s' %s", v->id, name,
                               tensor_shape_str(t, b1, sizeof b1));
        }
        if (vt->vol.dtype != t->dtype)
            return err_set("id %s: tensor '%s' changes dtype between slices", v->id, name);
        if (place((char *)vt->vol.data + (size_t)(f->z * shape[1] * shape[2]) * dtype_size(t->dtype), shape[1],
                  shape[2], t, box))
            return -1;
        vt->count++;
    }
    return 0;
}

static int emit(stream_out *out, volume *v)
{
    frame f;
    double vsp[3];
    int rc;
    frame_init(&f, FRAME_DATA);
    f.z = -1;
    if (frame_set_id(&f, v->id) || mval_copy(&f.meta, &v->meta)) {
        frame_free(&f);
        return err_set("out of memory");
    }
    for (int i = 0; i < v->nt; i++)
        if (v->t[i].count != v->nslices) {
            frame_free(&f);
            return err_set("id %s: tensor '%s' is in %lld of the %lld slices", v->id, v->t[i].name,
                           (long long)v->t[i].count, (long long)v->nslices);
        }
    if ((rc = mval_get_f64v(&f.meta, "vol_spacing", vsp, 3)) < 0) {
        frame_free(&f);
        return -1;
    }
    if (rc == 0)
        mval_put_f64v(frame_meta(&f), "spacing", vsp, 3);
    else
        mval_map_del(&f.meta, "spacing");
    mval_map_del(&f.meta, "vol_spacing");
    mval_map_del(&f.meta, "box");
    mval_map_del(&f.meta, "nslices");
    mval_map_del(&f.meta, "body_area");
    for (int i = 0; i < v->nt; i++)
        if (frame_tensor_add(&f, v->t[i].name, &v->t[i].vol)) {
            frame_free(&f);
            return -1;
        }
    for (int i = 0; i < v->extra.ntensors; i++)
        if (frame_tensor_add(&f, v->extra.tensors[i].name, &v->extra.tensors[i].t)) {
            frame_free(&f);
            return -1;
        }
    log_info("%s: %lld slices -> [%lld, %lld, %lld]", v->id, (long long)v->nslices, (long long)v->shape[0],
             (long long)v->shape[1], (long long)v->shape[2]);
    rc = stream_out_write(out, &f);
    frame_free(&f);
    return rc;
}

static int finish_complete(stream_out *out)
{
    for (int i = 0; i < nvols; i++)
        if (vols[i].received == vols[i].nslices) {
            int rc = emit(out, &vols[i]);
            done = push(done, &ndone, sizeof *done);
            if (!(done[ndone - 1] = strdup(vols[i].id)))
                return err_set("out of memory");
            volume_free(&vols[i]);
            vols[i] = vols[--nvols];
            if (rc)
                return -1;
            i--;
        }
    return 0;
}

static int report_incomplete(void)
{
    if (!nvols)
        return 0;
    return err_set("id %s: %lld of %lld slices arrived before the end of the stream%s", vols[0].id,
                   (long long)vols[0].received, (long long)vols[0].nslices,
                   nvols > 1 ? "; other volumes are incomplete too" : "");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"tensor", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},
        OPT_COMMON_LONG,
        {0, 0, 0, 0},
    };
    stream_out *out;
    int c, rc = 0;

    filter_init(argc, argv);
    while ((c = opt_next(argc, argv, "i:o:t:qvh", longopts)) != -1) {
        if (opt_common(c, optarg))
            continue;
        switch (c) {
        case 'i':
            opt.inputs = push(opt.inputs, &opt.ninputs, sizeof *opt.inputs);
            opt.inputs[opt.ninputs - 1] = optarg;
            break;
        case 'o': opt.output = optarg; break;
        case 't':
            opt.tensors = push(opt.tensors, &opt.ntensors, sizeof *opt.tensors);
            opt.tensors[opt.ntensors - 1] = optarg;
            break;
        case 'h': usage(); return 0;
        default: usage_bad_option(argv);
        }
    }
    for (int i = optind; i < argc; i++) {
        opt.inputs = push(opt.inputs, &opt.ninputs, sizeof *opt.inputs);
        opt.inputs[opt.ninputs - 1] = argv[i];
    }
    if (!opt.ninputs) {
        opt.inputs = push(opt.inputs, &opt.ninputs, sizeof *opt.inputs);
        opt.inputs[0] = "-";
    }
    if (!(out = stream_out_open(opt.output ? opt.output : "-")))
        die_err(1);
    {
        mval p = {0}, *a;
        mval_set_map(&p);
        a = mval_map_put(&p, "argv");
        mval_set_array(a);
        for (int i = 0; i < argc; i++)
            mval_set_str(mval_push(a), argv[i]);
        rc = stream_out_start(out, &p);
        mval_free(&p);
    }
    for (int k = 0; k < opt.ninputs && !rc; k++) {
        stream_in *in = stream_in_open(opt.inputs[k]);
        frame f;
        int r;
        if (!in) {
            rc = -1;
            break;
        }
        while ((r = stream_in_next(in, &f)) > 0) {
            if (add_slice(&f) || finish_complete(out)) {
                err_prefix("%s: record seq %lld (id %s, z %lld)", stream_in_name(in), (long long)f.seq,
                           f.id ? f.id : "-", (long long)f.z);
                r = -1;
            }
            frame_free(&f);
            if (r < 0)
                break;
        }
        if (r < 0)
            rc = -1;
        stream_in_close(in);
    }
    if (!rc && report_incomplete())
        rc = -1;
    if (rc) {
        stream_out_abort(out);
        die_err(1);
    }
    if (stream_out_end(out) || stream_out_close(out))
        die_err(1);
    for (int i = 0; i < nvols; i++)
        volume_free(&vols[i]);
    free(vols);
    for (int i = 0; i < ndone; i++)
        free(done[i]);
    free(done);
    return 0;
}
