/*
 * slice-regroup — slice frames (from slice-extract, with predictions or any
 * other [Y,X] tensors added on the way) back into volume frames by id, on
 * the grid of the volume they were cut from.
 *
 * Each slice carries its volume's shape, the crop/pad box or resize it went
 * through and how many slices of its volume the stream holds (ctmeta.h). A
 * volume is written as soon as all its slices have arrived (the rule is
 * libcommon/ct/slicegroup.c's, shared with dice-eval); slices of several
 * volumes may interleave (as fanned-out workers deliver them).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "ct/slicegroup.h"
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
           "  -t, --tensor NAME       regroup only these tensors (repeatable; default all [H,W] ones)\n",
           err_progname);
    filter_usage_common(NULL);
}

typedef struct {
    char *name;
    tensor vol;    /* [Z,Y,X] */
    int64_t count; /* slices received */
} vtensor;

typedef struct {
    sg_volume g;    /* id, the slices that came (slicegroup.h) */
    int64_t shape[3];
    int started;    /* shape, meta and extra set from the first slice */
    mval meta;      /* of the first slice */
    frame extra;    /* non-slice tensors of the first slice */
    vtensor *t;
    int nt;
} volume;

static struct {
    strlist inputs, tensors;
    const char *output;
} opt;

static slicegroup group;

/* What the volume holds besides its sg_volume. */
static void volume_free(volume *v)
{
    mval_free(&v->meta);
    frame_free(&v->extra);
    for (int i = 0; i < v->nt; i++) {
        free(v->t[i].name);
        tensor_free(&v->t[i].vol);
    }
    free(v->t);
    v->t = NULL;
    v->nt = 0;
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
    volume *v = (volume *)slicegroup_get(&group, f->id ? f->id : "", f->z);
    if (!v)
        return NULL;
    if (v->started) {
        if (memcmp(v->shape, shape, sizeof v->shape) || v->g.nexpect != nslices) {
            err_set("id %s: meta shape/nslices differ from the volume's earlier slices", v->g.id);
            return NULL;
        }
        return v;
    }
    v->started = 1;
    memcpy(v->shape, shape, sizeof v->shape);
    frame_init(&v->extra, FRAME_DATA);
    if (sg_set_z(&v->g, shape[0], "meta 'shape'") || sg_expect(&v->g, nslices))
        return NULL;
    if (mval_copy(&v->meta, &f->meta)) {
        err_set("out of memory");
        return NULL;
    }
    return v;
}

static int add_slice(frame *f, volume **vp)
{
    int64_t shape[3], box[4], nslices;
    int rc;
    volume *v;
    char b1[64];
    if ((rc = mval_get_i64v(&f->meta, "shape", shape, 3)) || (rc = mval_get_i64v(&f->meta, "box", box, 4)) ||
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
    if (!(*vp = v = find_or_add(f, shape, nslices)))
        return -1;
    if (sg_add(&group, &v->g, 0, f->z))
        return -1;
    for (int i = 0; i < f->ntensors; i++) {
        tensor *t = &f->tensors[i].t;
        const char *name = f->tensors[i].name;
        vtensor *vt = NULL;
        if (!strlist_wants(&opt.tensors, name))
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
            v->t = filter_push(v->t, &v->nt, sizeof *v->t);
            vt = &v->t[v->nt - 1];
            if (!(vt->name = strdup(name)) || tensor_init(&vt->vol, t->dtype, 3, shape))
                return err_set("id %s: out of memory for tensor '%s' %s", v->g.id, name,
                               tensor_shape_str(t, b1, sizeof b1));
        }
        if (vt->vol.dtype != t->dtype)
            return err_set("id %s: tensor '%s' changes dtype between slices", v->g.id, name);
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
    if (frame_set_id(&f, v->g.id) || mval_copy(&f.meta, &v->meta)) {
        frame_free(&f);
        return err_set("out of memory");
    }
    for (int i = 0; i < v->nt; i++)
        if (v->t[i].count != v->g.nexpect) {
            frame_free(&f);
            return err_set("id %s: tensor '%s' is in %lld of the %lld slices", v->g.id, v->t[i].name,
                           (long long)v->t[i].count, (long long)v->g.nexpect);
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
    log_info("%s: %lld slices -> [%lld, %lld, %lld]", v->g.id, (long long)v->g.nexpect, (long long)v->shape[0],
             (long long)v->shape[1], (long long)v->shape[2]);
    rc = stream_out_write(out, &f);
    frame_free(&f);
    return rc;
}

/* Write v if it is complete. */
static int finish_complete(stream_out *out, volume *v)
{
    int rc;
    if (!sg_complete(&group, &v->g))
        return 0;
    rc = emit(out, v);
    volume_free(v);
    if (slicegroup_done(&group, &v->g))
        rc = -1;
    free(v);
    return rc;
}

/* One slice record: file it, then write every volume it completes. */
static int add_slice_complete(frame *f, stream_in *in, void *out)
{
    volume *v;
    return add_slice(f, &v) || finish_complete(out, v) ? -1 : 0;
}

static int report_incomplete(void)
{
    const sg_volume *v = group.nvols ? group.vols[0] : NULL;
    if (!v)
        return 0;
    return err_set("id %s: %lld of %lld slices arrived before the end of the stream%s", v->id, (long long)v->nhave[0],
                   (long long)v->nexpect, group.nvols > 1 ? "; other volumes are incomplete too" : "");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"tensor", required_argument, 0, 't'},
        FILTER_LONGOPTS_END,
    };
    stream_out *out;
    int c, rc = 0;

    filter_init(argc, argv);
    slicegroup_init(&group, 1, NULL, sizeof(volume));
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'i': strlist_add(&opt.inputs, optarg); break;
        case 'o': opt.output = optarg; break;
        case 't': strlist_add(&opt.tensors, optarg); break;
        }
    }
    filter_inputs(&opt.inputs, optind, argc, argv);
    mval params = filter_params(argc, argv);
    out = filter_output(opt.output, &params);
    mval_free(&params);
    rc = filter_each_input(&opt.inputs, add_slice_complete, out);
    if (!rc && report_incomplete())
        rc = -1;
    filter_output_done(out, rc);
    for (int i = 0; i < group.nvols; i++)
        volume_free((volume *)group.vols[i]);
    slicegroup_free(&group);
    strlist_free(&opt.inputs);
    strlist_free(&opt.tensors);
    return 0;
}
