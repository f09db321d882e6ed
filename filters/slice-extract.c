/*
 * slice-extract — volume frames to axial slice frames: HU window to [0,1],
 * a fixed size by crop/pad around the body or by resizing, the label slice
 * carried along, and the geometry slice-regroup needs to put slices back.
 *
 * One volume is in memory at a time; each slice is written as soon as it is
 * made.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/err.h"
#include "ct/body.h"
#include "ct/ctmeta.h"
#include "ct/resample.h"
#include "io/frame.h"
#include "io/stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]... [INPUT]...\n"
           "Cut volume frames into axial slice frames: HU window, fixed size, label slice.\n"
           "\n"
           "  -i, --input SPEC        read volume frames from SPEC (repeatable, also operands;\n"
           "                          default stdin)\n"
           "  -o, --output SPEC       write slice frames to SPEC (default stdout)\n"
           "  -w, --window LO,HI      HU window mapped to [0,1] (default -160,240: soft tissue)\n"
           "      --preset NAME       window preset: soft or abdomen (-160,240), head (-500,1000)\n"
           "      --size H,W          output size in pixels (default 512,512)\n"
           "      --resize            resize the whole slice to --size (default: crop/pad around\n"
           "                          the body, no interpolation)\n"
           "      --body-threshold HU body = largest 4-connected component above HU (default -500)\n"
           "      --min-body N        a slice has a body when that component has >= N pixels\n"
           "                          (default 100)\n"
           "      --skip-empty        leave out slices without a body\n"
           "      --every N           keep only slices z = 0, N, 2N, ... (default 1)\n"
           "      --threads N         OpenMP threads for the body search (default: all cores)\n",
           err_progname);
    filter_usage_common(NULL);
}

enum { OPT_PRESET = 0x100, OPT_SIZE, OPT_RESIZE, OPT_BODY_THR, OPT_MIN_BODY, OPT_SKIP_EMPTY, OPT_EVERY };

static struct {
    strlist inputs;
    const char *output;
    double window[2];
    int64_t size[2];
    int resize, skip_empty;
    double body_thr;
    int64_t min_body, every;
} opt = {.window = {-160, 240}, .size = {512, 512}, .body_thr = -500, .min_body = 100, .every = 1};

static const struct {
    const char *name;
    double lo, hi;
} presets[] = {{"soft", -160, 240}, {"abdomen", -160, 240}, {"head", -500, 1000}};

/* floor(a / 2) for any sign. */
static int64_t half_floor(int64_t a)
{
    return a >= 0 ? a / 2 : -((-a + 1) / 2);
}

/* Top-left of an h-long window on an axis of n pixels: centred on the body
 * [b0, b1] when the window is shorter than the axis (kept inside it), else
 * the axis centred in the window (nothing is lost). */
static int64_t box_start(int64_t n, int64_t h, int64_t b0, int64_t b1, int have_body)
{
    int64_t s;
    if (h >= n)
        return half_floor(n - h);
    s = have_body ? half_floor(b0 + b1 + 1 - h) : half_floor(n - h);
    if (s < 0)
        s = 0;
    if (s > n - h)
        s = n - h;
    return s;
}

/* Copy the box [y0, x0, h, w] of a [ny, nx] plane into out [h, w], zero outside. */
static void crop2(void *out, const void *in, int64_t ny, int64_t nx, const int64_t box[4], size_t es)
{
    int64_t y0 = box[0], x0 = box[1], h = box[2], w = box[3];
    memset(out, 0, (size_t)(h * w) * es);
    for (int64_t u = 0; u < h; u++) {
        int64_t y = y0 + u, a = x0 < 0 ? -x0 : 0, b = x0 + w > nx ? nx - x0 : w;
        if (y < 0 || y >= ny || a >= b)
            continue;
        memcpy((char *)out + (size_t)(u * w + a) * es, (const char *)in + (size_t)(y * nx + x0 + a) * es,
               (size_t)(b - a) * es);
    }
}

/* Labelled voxels (label != 0) that no output slice carries, apart from the
 * slices --every leaves out on purpose: those outside the crop box of a
 * written slice and those of slices left out for having no body. Said on
 * stderr (a warning), so that a crop that cuts an organ is never silent. */
static void label_loss(const frame *vol, const int64_t *area, const int64_t box[4])
{
    const tensor *t = NULL;
    for (int i = 0; i < vol->ntensors; i++)
        if (!strcmp(vol->tensors[i].name, "label") && vol->tensors[i].t.rank == 3)
            t = &vol->tensors[i].t;
    if (!t || opt.resize)
        return;
    const int64_t Z = t->shape[0], Y = t->shape[1], X = t->shape[2];
    int64_t total = 0, cropped = 0, skipped = 0;
    for (int64_t z = 0; z < Z; z++) {
        int emitted = !(opt.skip_empty && !(area[z] >= opt.min_body));
        for (int64_t y = 0; y < Y; y++)
            for (int64_t x = 0; x < X; x++) {
                if (tensor_get(t, (size_t)((z * Y + y) * X + x)) == 0)
                    continue;
                total++;
                if (z % opt.every)
                    continue;
                if (!emitted)
                    skipped++;
                else if (y < box[0] || y >= box[0] + box[2] || x < box[1] || x >= box[1] + box[3])
                    cropped++;
            }
    }
    if (cropped + skipped)
        log_warn("%s: %lld of %lld labelled voxels are in no output slice: %lld outside the %lldx%lld crop, "
                 "%lld in slices left out for their body (--skip-empty, --min-body)",
                 vol->id ? vol->id : "-", (long long)(cropped + skipped), (long long)total, (long long)cropped,
                 (long long)box[2], (long long)box[3], (long long)skipped);
}

static int slice_volume(frame *vol, stream_in *in, void *ctx)
{
    stream_out *out = ctx;
    tensor *img = frame_tensor_get(vol, "image");
    int64_t Z, Y, X, H = opt.size[0], W = opt.size[1], bb[4] = {0, 0, 0, 0}, box[4];
    int64_t *area, nbody = 0, nemit = 0;
    double vsp[3] = {1, 1, 1}, sp[2];
    char b1[64];
    int rc = 0;
    if (!img)
        return err_set("no 'image' tensor");
    if (img->rank != 3)
        return err_set("'image' has rank %d, want a [Z,Y,X] volume", img->rank);
    Z = img->shape[0], Y = img->shape[1], X = img->shape[2];
    if (Z < 1 || Y < 1 || X < 1)
        return err_set("'image' is empty (%s)", tensor_shape_str(img, b1, sizeof b1));
    if (Y * X > INT32_MAX / 2)
        return err_set("slices of %lld x %lld pixels are too large", (long long)Y, (long long)X);
    for (int i = 0; i < vol->ntensors; i++) {
        tensor *t = &vol->tensors[i].t;
        if (t->rank == 3 && !tensor_same_shape(t, img))
            return err_set("tensor '%s' is not on the grid of 'image'", vol->tensors[i].name);
        /* The image is windowed in float whatever it came as (int16 HU from
         * frame-cat --from-nifti); other tensors keep integer dtypes. */
        if (t->rank == 3 && t->dtype != DT_F32 &&
            (!ctmeta_is_int(t->dtype) || !strcmp(vol->tensors[i].name, "image"))) {
            tensor u;
            if (tensor_convert(&u, t, DT_F32))
                return -1;
            tensor_free(t);
            tensor_move(t, &u);
        }
    }
    img = frame_tensor_get(vol, "image");
    if (mval_get_f64v(&vol->meta, "spacing", vsp, 3) < 0)
        return -1;
    for (int d = 0; d < 3; d++)
        if (!(vsp[d] > 0) || !isfinite(vsp[d]))
            return err_set("meta 'spacing' [%g, %g, %g] is not positive", vsp[0], vsp[1], vsp[2]);

    /* Body per slice, in parallel: pixel count of the largest component and its box. */
    if (!(area = calloc((size_t)Z * 5, sizeof *area)))
        return err_set("out of memory");
    #pragma omp parallel
    {
        int32_t *work = malloc(sizeof *work * (size_t)(2 * Y * X));
        #pragma omp for schedule(dynamic, 1)
        for (int64_t z = 0; z < Z; z++)
            if (work)
                area[z] = body_find(area + Z + 4 * z, (const float *)img->data + z * Y * X, Y, X,
                                    (float)opt.body_thr, work);
            else
                area[z] = -1;
        free(work);
    }
    for (int64_t z = 0; z < Z; z++) {
        const int64_t *b = area + Z + 4 * z;
        if (area[z] < 0) {
            free(area);
            return err_set("out of memory");
        }
        if (area[z] < opt.min_body)
            continue;
        if (!nbody++)
            memcpy(bb, b, sizeof bb);
        bb[0] = b[0] < bb[0] ? b[0] : bb[0];
        bb[1] = b[1] < bb[1] ? b[1] : bb[1];
        bb[2] = b[2] > bb[2] ? b[2] : bb[2];
        bb[3] = b[3] > bb[3] ? b[3] : bb[3];
    }
    if (opt.resize) {
        box[0] = 0, box[1] = 0, box[2] = Y, box[3] = X;
        sp[0] = vsp[1] * (double)Y / (double)H;
        sp[1] = vsp[2] * (double)X / (double)W;
    } else {
        box[0] = box_start(Y, H, bb[0], bb[2], nbody > 0);
        box[1] = box_start(X, W, bb[1], bb[3], nbody > 0);
        box[2] = H, box[3] = W;
        sp[0] = vsp[1], sp[1] = vsp[2];
        if (nbody && (bb[0] < box[0] || bb[2] >= box[0] + H || bb[1] < box[1] || bb[3] >= box[1] + W))
            log_warn("%s: body %lld x %lld pixels is larger than --size %lld,%lld: cropped around its centre",
                     vol->id ? vol->id : "-", (long long)(bb[2] - bb[0] + 1), (long long)(bb[3] - bb[1] + 1),
                     (long long)H, (long long)W);
    }
    for (int64_t z = 0; z < Z; z++)
        if (z % opt.every == 0 && (!opt.skip_empty || area[z] >= opt.min_body))
            nemit++;
    label_loss(vol, area, box);
    log_info("%s: %lld slices, %lld with a body, %lld written; box y0=%lld x0=%lld %lldx%lld", vol->id ? vol->id : "-",
             (long long)Z, (long long)nbody, (long long)nemit, (long long)box[0], (long long)box[1],
             (long long)box[2], (long long)box[3]);

    for (int64_t z = 0; z < Z && !rc; z++) {
        frame s;
        mval *m;
        int64_t shape[3] = {Z, Y, X};
        if (z % opt.every || (opt.skip_empty && !(area[z] >= opt.min_body)))
            continue;
        frame_init(&s, FRAME_DATA);
        s.z = z;
        if ((vol->id && frame_set_id(&s, vol->id)) || mval_copy(&s.meta, &vol->meta)) {
            frame_free(&s);
            rc = err_set("out of memory");
            break;
        }
        m = frame_meta(&s);
        if (mval_put_f64v(m, "spacing", sp, 2) || mval_put_f64v(m, "vol_spacing", vsp, 3) ||
            mval_put_i64v(m, "shape", shape, 3) || mval_put_i64v(m, "box", box, 4) ||
            mval_put_i64(m, "nslices", nemit) || mval_put_f64v(m, "window", opt.window, 2) ||
            mval_put_i64(m, "body_area", area[z])) {
            frame_free(&s);
            rc = -1;
            break;
        }
        for (int i = 0; i < vol->ntensors && !rc; i++) {
            const tensor *t = &vol->tensors[i].t;
            const char *name = vol->tensors[i].name;
            tensor o;
            size_t es = dtype_size(t->dtype);
            if (t->rank != 3) {
                if (tensor_copy(&o, t) || frame_tensor_add(&s, name, &o))
                    rc = -1;
                continue;
            }
            if (tensor_init2(&o, t->dtype, H, W)) {
                rc = -1;
                break;
            }
            {
                const char *plane = (const char *)t->data + (size_t)(z * Y * X) * es;
                if (!opt.resize)
                    crop2(o.data, plane, Y, X, box, es);
                else if (ctmeta_is_int(t->dtype))
                    resample_nearest2(o.data, H, W, plane, Y, X, es);
                else
                    resample_linear2_f32(o.data, H, W, (const float *)plane, Y, X);
            }
            if (!strcmp(name, "image")) {
                /* Window after geometry; padding (0) stays 0, the bottom of the window. */
                float *p = o.data;
                double lo = opt.window[0], inv = 1.0 / (opt.window[1] - opt.window[0]);
                int64_t h0 = box[0], w0 = box[1];
                for (int64_t u = 0; u < H; u++)
                    for (int64_t v = 0; v < W; v++) {
                        int inside = opt.resize || (h0 + u >= 0 && h0 + u < Y && w0 + v >= 0 && w0 + v < X);
                        double x = inside ? ((double)p[u * W + v] - lo) * inv : 0;
                        p[u * W + v] = (float)(x < 0 ? 0 : x > 1 ? 1 : x);
                    }
            }
            if (frame_tensor_add(&s, name, &o))
                rc = -1;
        }
        if (!rc && stream_out_write(out, &s))
            rc = -1;
        frame_free(&s);
    }
    free(area);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"window", required_argument, 0, 'w'},
        {"preset", required_argument, 0, OPT_PRESET},
        {"size", required_argument, 0, OPT_SIZE},
        {"resize", no_argument, 0, OPT_RESIZE},
        {"body-threshold", required_argument, 0, OPT_BODY_THR},
        {"min-body", required_argument, 0, OPT_MIN_BODY},
        {"skip-empty", no_argument, 0, OPT_SKIP_EMPTY},
        {"every", required_argument, 0, OPT_EVERY},
        FILTER_LONGOPT_OMP_THREADS,
        FILTER_LONGOPTS_END,
    };
    stream_out *out;
    int c, have_window = 0, have_preset = 0;

    filter_init(argc, argv);
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'i': strlist_add(&opt.inputs, optarg); break;
        case 'o': opt.output = optarg; break;
        case 'w':
            opt_f64_list("--window", optarg, opt.window, 2, -1e6, 1e6);
            if (!(opt.window[1] > opt.window[0]))
                usage_error("option --window: want LO,HI with LO < HI");
            have_window = 1;
            break;
        case OPT_PRESET: {
            size_t i;
            for (i = 0; i < sizeof presets / sizeof presets[0]; i++)
                if (!strcmp(optarg, presets[i].name))
                    break;
            if (i == sizeof presets / sizeof presets[0])
                usage_error("option --preset: unknown preset '%s' (soft, abdomen, head)", optarg);
            opt.window[0] = presets[i].lo, opt.window[1] = presets[i].hi;
            have_preset = 1;
            break;
        }
        case OPT_SIZE: {
            double v[2];
            opt_f64_list("--size", optarg, v, 2, 1, 32768);
            if (v[0] != floor(v[0]) || v[1] != floor(v[1]))
                usage_error("option --size: want two whole numbers H,W");
            opt.size[0] = (int64_t)v[0], opt.size[1] = (int64_t)v[1];
            break;
        }
        case OPT_RESIZE: opt.resize = 1; break;
        case OPT_BODY_THR: opt.body_thr = opt_f64("--body-threshold", optarg, -1e6, 1e6); break;
        case OPT_MIN_BODY: opt.min_body = opt_i64("--min-body", optarg, 1, INT64_MAX); break;
        case OPT_SKIP_EMPTY: opt.skip_empty = 1; break;
        case OPT_EVERY: opt.every = opt_i64("--every", optarg, 1, 1000000); break;
        }
    }
    if (have_window && have_preset)
        usage_error("give --window or --preset, not both");
    filter_inputs(&opt.inputs, optind, argc, argv);
    mval params = filter_params(argc, argv);
    mval_put_f64v(&params, "window", opt.window, 2);
    out = filter_output(opt.output, &params);
    mval_free(&params);
    filter_output_done(out, filter_each_input(&opt.inputs, slice_volume, out));
    strlist_free(&opt.inputs);
    return 0;
}
