/*
 * elastic-aug — the positive view of every slice and of its region map.
 *
 * Reads slice frames with `image` [Y,X] f32 and `regions` [Y,X] i32 (from
 * fz-superpixel), draws one elastic field per record (libcommon/image/elastic.h),
 * and writes pair frames: `image`, `regions`, `image_p`, `regions_p` (and
 * `label_p` with --labels), with meta `K` updated after the regions that
 * vanish under the warp are dropped from both maps.
 *
 * Threads: the main thread reads and writes (in input order) while worker
 * threads warp one record each, T+2 records in flight (core/recpool.h); every random
 * number of record (epoch, index) comes from rng streams seeded by (seed,
 * epoch, index), so the output does not depend on the number of threads.
 */
#include <getopt.h>
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/recpool.h"
#include "core/err.h"
#include "core/rng.h"
#include "image/elastic.h"
#include "io/frame.h"
#include "io/stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Write the elastically warped positive view of every slice and of its region map.\n"
           "\n"
           "Input and output:\n"
           "  -i, --input SPEC        slice frames with image and regions (default stdin)\n"
           "  -o, --output SPEC       pair frames (default stdout)\n"
           "\n"
           "The field (pixels; see the man page for the exact formula):\n"
           "      --alpha A[:B]       strength of the elastic displacement; A:B draws it per record\n"
           "                          uniformly in [A, B) (default 34)\n"
           "      --sigma S           smoothness: Gaussian sigma of the noise (default 4)\n"
           "      --rotate DEG        random rotation in [-DEG, DEG] degrees (default 10)\n"
           "      --scale F           random zoom in [1-F, 1+F] (default 0.1)\n"
           "      --shift PX          random shift in [-PX, PX] per axis (default 0)\n"
           "\n"
           "Intensity jitter of image_p only:\n"
           "      --brightness B      added offset in [-B, B] (default 0.05)\n"
           "      --contrast C        factor in [1-C, 1+C] (default 0.1)\n"
           "      --gamma G           exponent log-uniform in [1/(1+G), 1+G] (default 0.2)\n"
           "      --noise N           Gaussian noise, std uniform in [0, N) (default 0.01)\n"
           "\n"
           "Regions and labels:\n"
           "      --min-pixels N      drop regions with fewer pixels in either view (default 16)\n"
           "      --labels            also warp `label` into `label_p` (nearest)\n"
           "\n"
           "Runs:\n"
           "      --epochs E          read a seekable input E times, fresh fields each time (default 1)\n"
           "      --seed N            seed of every random draw (default: random, logged with -v)\n"
           "      --field-out FILE    write each record's field (sample coordinates) as frames\n"
           "      --field-in FILE     use the fields of FILE instead of drawing them\n"
           "      --threads N         worker threads (default: the CPUs this process may use)\n",
           err_progname);
    filter_usage_common(NULL);
}

enum {
    OPT_ALPHA = 0x100, OPT_SIGMA, OPT_ROTATE, OPT_SCALE, OPT_SHIFT, OPT_BRIGHTNESS, OPT_CONTRAST,
    OPT_GAMMA, OPT_NOISE, OPT_MIN_PIXELS, OPT_LABELS, OPT_EPOCHS, OPT_SEED, OPT_FIELD_OUT, OPT_FIELD_IN, OPT_THREADS
};

static struct {
    const char *input, *output, *field_out, *field_in;
    elastic_params field;
    elastic_jitter_params jitter;
    int64_t min_pixels, epochs, threads;
    uint64_t seed;
    int labels;
} opt = {
    .input = "-",
    .output = "-",
    .field = {.alpha = 34, .sigma = 4, .rotate = 10, .scale = 0.1, .shift = 0},
    .jitter = {.brightness = 0.05, .contrast = 0.1, .gamma = 0.2, .noise = 0.01},
    .min_pixels = 16,
    .epochs = 1,
};

/* One record in flight. */
typedef struct {
    frame f;          /* the slice in, the pair out */
    frame field;      /* --field-in record, or the --field-out record */
    int64_t epoch, index;
    int has_field;
    int failed;
    char err[512];
} job;

/* "record 12 (id subj01, z 40)" */
static void where(const frame *f, char *buf, size_t n)
{
    snprintf(buf, n, "record %lld (id %s, z %lld)", (long long)f->seq, f->id ? f->id : "-", (long long)f->z);
}

static int check_2d(const char *name, const tensor *t, const tensor *image)
{
    char s1[64], s2[64];
    if (t->rank != 2 || t->shape[0] != image->shape[0] || t->shape[1] != image->shape[1])
        return err_set("'%s' has shape %s but 'image' has %s (same [Y, X] needed)", name,
                       tensor_shape_str(t, s1, sizeof s1), tensor_shape_str(image, s2, sizeof s2));
    return 0;
}

/* Number of regions: meta K when present, else max + 1; every value must lie
 * in -1..K-1. */
static int region_count(const frame *f, const tensor *reg, int64_t *K)
{
    const int32_t *r = reg->data;
    size_t n = tensor_numel(reg);
    int32_t lo = -1, hi = -1;
    int rc = mval_get_i64(&f->meta, "K", K);
    for (size_t i = 0; i < n; i++) {
        if (r[i] < lo)
            lo = r[i];
        if (r[i] > hi)
            hi = r[i];
    }
    if (rc < 0)
        return -1; /* "meta 'K' must be an integer" */
    if (lo < -1)
        return err_set("'regions' holds %d (values must be -1 or 0..K-1)", (int)lo);
    if (rc == 1) {
        *K = (int64_t)hi + 1;
        return 0;
    }
    if (*K < 0 || hi >= *K)
        return err_set("'regions' holds %d but meta K is %lld (values must be -1 or 0..K-1)", (int)hi,
                       (long long)*K);
    if ((uint64_t)*K > (uint64_t)n)
        return err_set("meta K is %lld, more regions than the slice's %zu pixels", (long long)*K, n);
    return 0;
}

static int take_field(job *jb, int64_t Y, int64_t X, tensor *coords)
{
    tensor *t = frame_tensor_get(&jb->field, "field");
    char s1[64];
    const float *c;
    if (!t)
        return err_set("%s: field record %lld has no 'field' tensor", opt.field_in, (long long)jb->field.seq);
    if (t->dtype != DT_F32 || t->rank != 3 || t->shape[0] != 2 || t->shape[1] != Y || t->shape[2] != X)
        return err_set("%s: field record %lld is %s %s, the slice needs <f4 [2, %lld, %lld]", opt.field_in,
                       (long long)jb->field.seq, dtype_str(t->dtype), tensor_shape_str(t, s1, sizeof s1),
                       (long long)Y, (long long)X);
    c = t->data;
    for (size_t i = 0; i < tensor_numel(t); i++)
        if (!isfinite(c[i]))
            return err_set("%s: field record %lld holds a non-finite coordinate", opt.field_in,
                           (long long)jb->field.seq);
    frame_tensor_take(&jb->field, "field", coords);
    return 0;
}

static int put_meta(mval *m, const elastic_affine *a, const elastic_jitter *j, int with_affine)
{
    if (with_affine) {
        double sh[2] = {a->shift_r, a->shift_c};
        if (opt.field.alpha_max > opt.field.alpha && mval_put_f64(m, "alpha", a->alpha))
            return -1;
        if (mval_put_f64(m, "rotate", a->theta_deg) || mval_put_f64(m, "scale", a->scale) ||
            mval_put_f64v(m, "shift", sh, 2))
            return -1;
    }
    if (mval_put_f64(m, "brightness", j->b) || mval_put_f64(m, "contrast", j->c) ||
        mval_put_f64(m, "gamma", j->g) || mval_put_f64(m, "noise", j->n))
        return -1;
    return 0;
}

static int process(job *jb)
{
    frame *f = &jb->f;
    tensor *image = frame_tensor_get(f, "image"), *reg = frame_tensor_get(f, "regions"), *lab = NULL;
    tensor coords = {0}, imp = {0}, regp = {0}, labp = {0};
    int32_t *idx = NULL;
    int64_t Y, X, n, K, Kn;
    uint64_t stream = ((uint64_t)jb->epoch << 32) + (uint64_t)jb->index;
    elastic_affine aff = {0};
    elastic_jitter jit;
    rng r;
    char s1[64];

    if (!image)
        return err_set("no 'image' tensor (elastic-aug reads slice frames)");
    if (!reg)
        return err_set("no 'regions' tensor (run fz-superpixel first)");
    if (image->dtype != DT_F32 || image->rank != 2)
        return err_set("'image' is %s %s, expected <f4 [Y, X] (a slice)", dtype_str(image->dtype),
                       tensor_shape_str(image, s1, sizeof s1));
    if (reg->dtype != DT_I32)
        return err_set("'regions' is %s, expected <i4", dtype_str(reg->dtype));
    if (check_2d("regions", reg, image))
        return -1;
    if (opt.labels && (lab = frame_tensor_get(f, "label"))) {
        if (lab->dtype == DT_F32 || lab->dtype == DT_F64)
            return err_set("'label' is %s, expected an integer map", dtype_str(lab->dtype));
        if (check_2d("label", lab, image))
            return -1;
    }
    Y = image->shape[0];
    X = image->shape[1];
    n = Y * X;
    if (n > INT32_MAX)
        return err_set("slice of %lld pixels is too large (at most 2^31-1)", (long long)n);
    if (region_count(f, reg, &K))
        return -1;

    if (jb->has_field) {
        if (take_field(jb, Y, X, &coords))
            return -1;
    } else {
        if (tensor_init3(&coords, DT_F32, 2, Y, X))
            return -1;
        rng_seed(&r, opt.seed, 2 * stream);
        if (elastic_field(coords.data, Y, X, &opt.field, &r, &aff))
            goto fail;
    }

    if (tensor_init2(&imp, DT_F32, Y, X) || tensor_init2(&regp, DT_I32, Y, X))
        goto fail;
    if (lab && tensor_init2(&labp, lab->dtype, Y, X))
        goto fail;
    if (!(idx = lrc_alloc((size_t)n * sizeof *idx))) {
        err_set("out of memory");
        goto fail;
    }
    elastic_warp_linear(imp.data, image->data, Y, X, coords.data, n);
    elastic_warp_index(idx, Y, X, coords.data, n);
    elastic_gather(regp.data, reg->data, idx, n, sizeof(int32_t));
    if (lab)
        elastic_gather(labp.data, lab->data, idx, n, dtype_size(lab->dtype));
    lrc_free(idx);
    idx = NULL;

    rng_seed(&r, opt.seed, 2 * stream + 1);
    elastic_jitter_draw(&jit, &opt.jitter, &r);
    elastic_jitter_apply(imp.data, n, &jit, &r);

    if ((Kn = elastic_regions_prune(reg->data, regp.data, n, K, opt.min_pixels)) < 0)
        goto fail;

    if (mval_put_i64(frame_meta(f), "K", Kn) || mval_put_i64(frame_meta(f), "epoch", jb->epoch))
        goto fail;
    if (frame_tensor_add(f, "image_p", &imp) || frame_tensor_add(f, "regions_p", &regp))
        goto fail;
    if (lab && frame_tensor_add(f, "label_p", &labp))
        goto fail;

    if (opt.field_out) {
        frame *g = &jb->field;
        mval *m;
        if (jb->has_field)
            frame_free(g);
        frame_init(g, FRAME_DATA);
        g->seq = f->seq;
        g->z = f->z;
        m = frame_meta(g);
        if ((f->id && frame_set_id(g, f->id)) || mval_put_i64(m, "epoch", jb->epoch) ||
            mval_put_i64(m, "index", jb->index) || put_meta(m, &aff, &jit, !jb->has_field) ||
            frame_tensor_add(g, "field", &coords))
            goto fail;
    }
    tensor_free(&coords);
    return 0;
fail:
    lrc_free(idx);
    tensor_free(&coords);
    tensor_free(&imp);
    tensor_free(&regp);
    tensor_free(&labp);
    return -1;
}

static void run_job(void *slot, int t, void *ctx)
{
    job *jb = slot;
    jb->failed = 0;
    if (process(jb)) {
        char w[160];
        where(&jb->f, w, sizeof w);
        snprintf(jb->err, sizeof jb->err, "%s: %s", w, err_get());
        jb->failed = 1;
    }
}

static mval make_params(void)
{
    mval p = {0};
    mval_set_map(&p);
    mval_put_f64(&p, "alpha", opt.field.alpha);
    if (opt.field.alpha_max > opt.field.alpha)
        mval_put_f64(&p, "alpha_max", opt.field.alpha_max);
    mval_put_f64(&p, "sigma", opt.field.sigma);
    mval_put_f64(&p, "rotate", opt.field.rotate);
    mval_put_f64(&p, "scale", opt.field.scale);
    mval_put_f64(&p, "shift", opt.field.shift);
    mval_put_f64(&p, "brightness", opt.jitter.brightness);
    mval_put_f64(&p, "contrast", opt.jitter.contrast);
    mval_put_f64(&p, "gamma", opt.jitter.gamma);
    mval_put_f64(&p, "noise", opt.jitter.noise);
    mval_put_i64(&p, "min_pixels", opt.min_pixels);
    mval_put_i64(&p, "epochs", opt.epochs);
    /* As a string: msgpack ints are signed here and the seed is 64-bit. */
    {
        char s[32];
        snprintf(s, sizeof s, "%llu", (unsigned long long)opt.seed);
        mval_put_str(&p, "seed", s);
    }
    mval_put_i64(&p, "labels", opt.labels);
    if (opt.field_in)
        mval_put_str(&p, "field_in", opt.field_in);
    return p;
}

static stream_out *out, *fout;
static stream_in *in, *fin;

_Noreturn static void fail(const char *msg)
{
    if (out)
        stream_out_abort(out);
    if (fout)
        stream_out_abort(fout);
    die(1, "%s", msg);
}

/* ---- reading, and the worker pool ---- */

/* The next record to warp, across epochs: 1, or 0 at the end of the last
 * epoch. Failures exit. */
static int worker_mode;

static int next_record(void *slot, void *ctx)
{
    job *jb = slot;
    static int64_t epoch, index;
    for (;;) {
        int r = stream_in_next(in, &jb->f);
        if (r < 0)
            fail(err_get());
        if (r > 0)
            break;
        log_info("epoch %lld: %lld records", (long long)epoch, (long long)index);
        if (++epoch >= opt.epochs)
            return 0;
        index = 0;
        if (stream_in_rewind(in))
            fail(err_get());
    }
    jb->epoch = epoch;
    /* A fan-out worker sees a share of the records: it keys the field by
     * the producer's seq so that N workers draw what one process would. */
    jb->index = worker_mode && jb->f.seq >= 0 ? jb->f.seq : index;
    index++;
    jb->has_field = 0;
    if (fin) {
        int r = stream_in_next(fin, &jb->field);
        if (r < 0)
            fail(err_get());
        if (r == 0) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s: has %lld field records, fewer than the records to warp", opt.field_in,
                     (long long)stream_in_count(fin));
            fail(msg);
        }
        jb->has_field = 1;
    }
    return 1;
}

static int write_job(void *slot, void *ctx)
{
    job *jb = slot;
    if (jb->failed)
        fail(jb->err);
    if (stream_out_write(out, &jb->f))
        fail(err_get());
    if (fout && stream_out_write(fout, &jb->field))
        fail(err_get());
    frame_free(&jb->f);
    if (jb->has_field || fout)
        frame_free(&jb->field);
    return 0;
}

/* Warp every record with T workers (T = 1: in this thread). */
static void run_all(int T)
{
    /* T warping, one being read, one being written */
    recpool p = {.threads = T, .nslots = T + 2, .slot_size = sizeof(job), .read = next_record, .work = run_job,
                 .write = write_job};
    if (recpool_run(&p, NULL))
        fail(err_get());
}

/* CPUs this process may run on. */
static int cpu_count(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"alpha", required_argument, 0, OPT_ALPHA},
        {"sigma", required_argument, 0, OPT_SIGMA},
        {"rotate", required_argument, 0, OPT_ROTATE},
        {"scale", required_argument, 0, OPT_SCALE},
        {"shift", required_argument, 0, OPT_SHIFT},
        {"brightness", required_argument, 0, OPT_BRIGHTNESS},
        {"contrast", required_argument, 0, OPT_CONTRAST},
        {"gamma", required_argument, 0, OPT_GAMMA},
        {"noise", required_argument, 0, OPT_NOISE},
        {"min-pixels", required_argument, 0, OPT_MIN_PIXELS},
        {"labels", no_argument, 0, OPT_LABELS},
        {"epochs", required_argument, 0, OPT_EPOCHS},
        {"seed", required_argument, 0, OPT_SEED},
        {"field-out", required_argument, 0, OPT_FIELD_OUT},
        {"field-in", required_argument, 0, OPT_FIELD_IN},
        {"threads", required_argument, 0, OPT_THREADS},
        FILTER_LONGOPTS_END,
    };
    int c, have_seed = 0;
    mval params;

    filter_init(argc, argv);
    /* Every record allocates and frees the same few megabytes. */
    filter_keep_heap();
    /* One arena: workers allocate what the main thread frees, and per-thread
     * arenas would give that memory back to the kernel each time. */
    mallopt(M_ARENA_MAX, 1);
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case 'i': opt.input = optarg; break;
        case 'o': opt.output = optarg; break;
        case OPT_ALPHA: {
            const char *colon = strchr(optarg, ':');
            char lo[64];
            if (!colon) {
                opt.field.alpha = opt_f64_in("--alpha", optarg, 0, 1e6, "a displacement scale in pixels");
                opt.field.alpha_max = 0;
                break;
            }
            if ((size_t)(colon - optarg) >= sizeof lo)
                usage_error("option --alpha: '%s' is not A or A:B", optarg);
            memcpy(lo, optarg, (size_t)(colon - optarg));
            lo[colon - optarg] = '\0';
            opt.field.alpha = opt_f64_in("--alpha", lo, 0, 1e6, "a displacement scale in pixels");
            opt.field.alpha_max = opt_f64_in("--alpha", colon + 1, 0, 1e6, "a displacement scale in pixels");
            if (!(opt.field.alpha_max > opt.field.alpha))
                usage_error("option --alpha: %s is not a range A:B with A < B", optarg);
            break;
        }
        case OPT_SIGMA: opt.field.sigma = opt_f64_in("--sigma", optarg, 0, 1000, "a Gaussian width in pixels"); break;
        case OPT_ROTATE: opt.field.rotate = opt_f64_in("--rotate", optarg, 0, 180, "degrees"); break;
        case OPT_SCALE: opt.field.scale = opt_f64_in("--scale", optarg, 0, 0.9, "zoom range 1-F..1+F"); break;
        case OPT_SHIFT: opt.field.shift = opt_f64_in("--shift", optarg, 0, 1e6, "pixels"); break;
        case OPT_BRIGHTNESS: opt.jitter.brightness = opt_f64_in("--brightness", optarg, 0, 1e6, "an offset range"); break;
        case OPT_CONTRAST: opt.jitter.contrast = opt_f64_in("--contrast", optarg, 0, 1, "factor range 1-C..1+C"); break;
        case OPT_GAMMA: opt.jitter.gamma = opt_f64_in("--gamma", optarg, 0, 100, "exponent range 1/(1+G)..1+G"); break;
        case OPT_NOISE: opt.jitter.noise = opt_f64_in("--noise", optarg, 0, 1e6, "a standard deviation"); break;
        case OPT_MIN_PIXELS: opt.min_pixels = opt_i64_in("--min-pixels", optarg, 1, INT64_MAX, "a pixel count"); break;
        case OPT_LABELS: opt.labels = 1; break;
        case OPT_EPOCHS: opt.epochs = opt_i64_in("--epochs", optarg, 1, 1 << 30, "passes over the input"); break;
        case OPT_SEED: {
            int64_t s = opt_i64_in("--seed", optarg, 0, INT64_MAX, "a non-negative integer");
            opt.seed = (uint64_t)s;
            have_seed = 1;
            break;
        }
        case OPT_FIELD_OUT: opt.field_out = optarg; break;
        case OPT_FIELD_IN: opt.field_in = optarg; break;
        case OPT_THREADS: opt.threads = opt_i64_in("--threads", optarg, 1, 256, "a thread count"); break;
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s' (use -i for the input)", argv[optind]);
    if (!have_seed) {
        if (getrandom(&opt.seed, sizeof opt.seed, 0) != sizeof opt.seed)
            die(1, "cannot draw a random seed (give --seed):");
        opt.seed >>= 1; /* printable as a non-negative int64 for --seed */
    }
    log_info("seed %llu", (unsigned long long)opt.seed);

    if (!(in = stream_in_open(opt.input)))
        die_err(1);
    if (opt.epochs > 1 && stream_in_rewind(in))
        die_errx(1, "--epochs %lld", (long long)opt.epochs);
    if (opt.field_in && !(fin = stream_in_open(opt.field_in)))
        die_err(1);
    if (!(out = stream_out_open(opt.output)))
        die_err(1);
    if (opt.field_out && !(fout = stream_out_open(opt.field_out)))
        fail(err_get());
    params = make_params();
    if (stream_out_start(out, &params) || (fout && stream_out_start(fout, &params)))
        fail(err_get());
    mval_free(&params);

    worker_mode = stream_worker_mode();
    run_all(opt.threads ? (int)opt.threads : cpu_count());
    if (fin) {
        frame extra;
        int r = stream_in_next(fin, &extra);
        if (r < 0)
            fail(err_get());
        if (r > 0) {
            char msg[512];
            frame_free(&extra);
            snprintf(msg, sizeof msg, "%s: has more field records than the %lld records warped", opt.field_in,
                     (long long)stream_out_count(out));
            fail(msg);
        }
        stream_in_close(fin);
    }
    stream_in_close(in);
    if (stream_out_end(out) || (fout && stream_out_end(fout)))
        fail(err_get());
    if (fout && stream_out_close(fout)) {
        fout = NULL;
        fail(err_get());
    }
    fout = NULL;
    if (stream_out_close(out)) {
        out = NULL;
        die_err(1);
    }
    return 0;
}
