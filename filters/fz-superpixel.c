/*
 * fz-superpixel — Felzenszwalb regions of every slice, as scikit-image
 * computes them, added to the frame as `regions` (int32) with meta `K`.
 *
 * The segmentation is libcommon/image/felzenszwalb.c, the body mask and the
 * renumbering libcommon/image/fzregions.c; this file reads frames, runs slices on
 * worker threads and writes the frames back in input order (core/recpool.h).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/filter.h"
#include "core/recpool.h"
#include "core/err.h"
#include "image/felzenszwalb.h"
#include "image/fzregions.h"
#include "io/frame.h"
#include "io/stream.h"

static void usage(void)
{
    printf("Usage: %s [OPTION]...\n"
           "Add Felzenszwalb regions (scikit-image's felzenszwalb, pixel for pixel) to slice frames.\n"
           "\n"
           "Segmentation (scikit-image's parameters):\n"
           "      --scale K           observation scale, the paper's k for 0..255 images; larger\n"
           "                          gives fewer, larger regions (default 100)\n"
           "      --sigma S           Gaussian smoothing before the graph, pixels; 0 for none\n"
           "                          (default 0.8)\n"
           "      --min-size N        merge regions smaller than N pixels into a neighbour\n"
           "                          (default 50)\n"
           "\n"
           "Regions kept:\n"
           "      --body              mark pixels outside the body as -1 (no region)\n"
           "      --body-threshold T  body = largest 4-connected set of pixels > T, holes filled\n"
           "                          (default 0.1, for images windowed to [0,1])\n"
           "      --min-pixels N      mark regions with fewer than N pixels as -1 (default 0)\n"
           "\n"
           "Input and output:\n"
           "  -i, --input SPEC        read frames from SPEC (file, '-', tcp://, ipc://, '@' binds)\n"
           "  -o, --output SPEC       write frames to SPEC (default stdout)\n"
           "  -j, --threads N         worker threads (default: the number of CPUs, at most 64)\n"
           "      --exact-sort        always sort edges with the port of numpy's introsort\n"
           "                          (same result, slower; for testing)\n",
           err_progname);
    filter_usage_common("one line per slice (K, time); repeat for more");
}

enum { OPT_SCALE = 0x100, OPT_SIGMA, OPT_MIN_SIZE, OPT_BODY, OPT_BODY_THR, OPT_MIN_PIXELS, OPT_EXACT };

static struct {
    const char *input, *output;
    fz_params fz;
    int body;
    double body_thr;
    int64_t min_pixels;
    int threads;
} opt = {
    .input = "-",
    .output = "-",
    .fz = {.scale = 100, .sigma = 0.8, .min_size = 50, .sort = FZ_SORT_AUTO},
    .body_thr = 0.1,
};

/* ---- one slice ---- */

typedef struct {
    frame f;
    int rc;            /* 0 ok, -1 error (msg) */
    char msg[512];
    int64_t K;
    fz_stats st;
} job;

typedef struct {
    fz_work *fz;
    double *img;
    uint8_t *mask;
    size_t cap;
} worker_mem;

static int job_fail(job *j, const char *what)
{
    char seq[64];
    if (j->f.seq >= 0)
        snprintf(seq, sizeof seq, "record seq %lld", (long long)j->f.seq);
    else
        snprintf(seq, sizeof seq, "a record without seq");
    snprintf(j->msg, sizeof j->msg, "%s%s%s%s: %s", seq, j->f.id ? " (id " : "", j->f.id ? j->f.id : "",
             j->f.id ? ")" : "", what);
    j->rc = -1;
    return -1;
}

static int process(job *j, worker_mem *m)
{
    tensor *im = frame_tensor_get(&j->f, "image"), reg;
    char shape[128], msg[300];
    int64_t H, W, K;
    size_t n;

    if (!im)
        return job_fail(j, "no 'image' tensor (fz-superpixel reads slice frames)");
    if (im->rank != 2) {
        snprintf(msg, sizeof msg, "image has shape %s; want a 2-D slice [Y,X] (cut volumes with slice-extract)",
                 tensor_shape_str(im, shape, sizeof shape));
        return job_fail(j, msg);
    }
    H = im->shape[0];
    W = im->shape[1];
    if (H < 1 || W < 1 || H > FZ_MAX_PIXELS / W) {
        snprintf(msg, sizeof msg, "image shape %s is outside 1x1 .. %lld pixels",
                 tensor_shape_str(im, shape, sizeof shape), (long long)FZ_MAX_PIXELS);
        return job_fail(j, msg);
    }
    n = (size_t)(H * W);
    if (n > m->cap) {
        free(m->img);
        free(m->mask);
        m->img = malloc(n * sizeof *m->img);
        m->mask = malloc(n);
        m->cap = m->img && m->mask ? n : 0;
        if (!m->cap)
            return job_fail(j, "out of memory");
    }
    if (fz_input_f64(m->img, im->data, im->dtype, n))
        return job_fail(j, err_get());
    for (size_t i = 0; i < n; i++)
        if (!isfinite(m->img[i])) {
            snprintf(msg, sizeof msg, "image pixel (%lld, %lld) is %s", (long long)(i / (size_t)W),
                     (long long)(i % (size_t)W), isnan(m->img[i]) ? "NaN" : "infinite");
            return job_fail(j, msg);
        }
    if (tensor_init2(&reg, DT_I32, H, W))
        return job_fail(j, err_get());
    K = fz_segment(reg.data, m->img, H, W, &opt.fz, m->fz, &j->st);
    if (K >= 0 && (opt.body || opt.min_pixels > 0)) {
        if (opt.body && fz_body_mask(m->mask, m->img, H, W, opt.body_thr) < 0)
            K = -1;
        else
            K = fz_regions_finish(reg.data, opt.body ? m->mask : NULL, (int64_t)n, opt.min_pixels);
    }
    if (K < 0) {
        tensor_free(&reg);
        return job_fail(j, err_get());
    }
    if (frame_tensor_add(&j->f, "regions", &reg) || mval_put_i64(frame_meta(&j->f), "K", K)) {
        tensor_free(&reg);
        return job_fail(j, err_get());
    }
    j->K = K;
    return 0;
}

static mval make_params(const frame *upstream)
{
    mval p = {0};
    mval_set_map(&p);
    mval_put_f64(&p, "scale", opt.fz.scale);
    mval_put_f64(&p, "sigma", opt.fz.sigma);
    mval_put_i64(&p, "min_size", opt.fz.min_size);
    mval_set_bool(mval_map_put(&p, "body"), opt.body);
    if (opt.body)
        mval_put_f64(&p, "body_threshold", opt.body_thr);
    mval_put_i64(&p, "min_pixels", opt.min_pixels);
    if (upstream) {
        mval *u = mval_map_put(&p, "upstream");
        mval_set_map(u);
        mval_put_str(u, "producer", upstream->producer ? upstream->producer : "");
        mval_put_str(u, "version", upstream->version ? upstream->version : "");
        if (upstream->meta.kind == MV_MAP)
            mval_copy(mval_map_put(u, "params"), &upstream->meta);
    }
    return p;
}

static stream_out *out;

_Noreturn static void fail(const char *msg)
{
    if (out)
        stream_out_abort(out);
    die(1, "%s", msg);
}

/* ---- the records, through the record pool (recpool.h) ---- */

static struct {
    stream_in *in;
    worker_mem *mem;
    int started;
    int64_t nrec, ksum, nexact;
    double tsum;
} run;

static int read_job(void *slot, void *ctx)
{
    job *j = slot;
    int r = stream_in_next(run.in, &j->f);
    if (r < 0)
        fail(err_get());
    if (!run.started) {
        mval params = make_params(stream_in_start(run.in));
        if (stream_out_start(out, &params))
            fail(err_get());
        mval_free(&params);
        run.started = 1;
    }
    return r;
}

static void work_job(void *slot, int t, void *ctx)
{
    process(slot, &run.mem[t]);
}

static int write_job(void *slot, void *ctx)
{
    job *j = slot;
    if (j->rc)
        fail(j->msg);
    if (log_level >= 2) {
        char shape[64];
        log_info("seq %lld id %s z %lld: %s, K=%lld, %.1f ms%s", (long long)j->f.seq,
                 j->f.id ? j->f.id : "-", (long long)j->f.z,
                 tensor_shape_str(frame_tensor_get(&j->f, "image"), shape, sizeof shape),
                 (long long)j->K, 1e3 * (j->st.t_smooth + j->st.t_sort + j->st.t_merge),
                 j->st.exact_sort == 2 ? ", numpy's order for all edges" : j->st.exact_sort ? ", numpy's order for some runs" : "");
    }
    if (j->f.seq < 0)
        j->f.seq = run.nrec; /* seq is kept as it came (fan-out workers), or numbered */
    run.nrec++;
    run.ksum += j->K;
    run.nexact += j->st.exact_sort != 0;
    run.tsum += j->st.t_smooth + j->st.t_sort + j->st.t_merge;
    if (stream_out_write(out, &j->f))
        fail(err_get());
    frame_free(&j->f);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"scale", required_argument, 0, OPT_SCALE},
        {"sigma", required_argument, 0, OPT_SIGMA},
        {"min-size", required_argument, 0, OPT_MIN_SIZE},
        {"body", no_argument, 0, OPT_BODY},
        {"body-threshold", required_argument, 0, OPT_BODY_THR},
        {"min-pixels", required_argument, 0, OPT_MIN_PIXELS},
        {"input", required_argument, 0, 'i'},
        {"output", required_argument, 0, 'o'},
        {"threads", required_argument, 0, 'j'},
        {"exact-sort", no_argument, 0, OPT_EXACT},
        FILTER_LONGOPTS_END,
    };
    stream_in *in;
    worker_mem *mem;
    int c;

    filter_init(argc, argv);
    /* Every slice allocates and frees the same few megabytes (decoded image,
     * regions, encoded record). */
    filter_keep_heap();
    while ((c = filter_getopt(argc, argv, longopts, usage)) != -1) {
        switch (c) {
        case OPT_SCALE: opt.fz.scale = opt_f64("--scale", optarg, 0, 1e30); break;
        case OPT_SIGMA: opt.fz.sigma = opt_f64("--sigma", optarg, 0, 1000); break;
        case OPT_MIN_SIZE: opt.fz.min_size = opt_i64("--min-size", optarg, 0, FZ_MAX_PIXELS); break;
        case OPT_BODY: opt.body = 1; break;
        case OPT_BODY_THR: opt.body_thr = opt_f64("--body-threshold", optarg, -1e30, 1e30); break;
        case OPT_MIN_PIXELS: opt.min_pixels = opt_i64("--min-pixels", optarg, 0, FZ_MAX_PIXELS); break;
        case 'i': opt.input = optarg; break;
        case 'o': opt.output = optarg; break;
        case 'j': opt.threads = (int)opt_i64("--threads", optarg, 1, 64); break;
        case OPT_EXACT: opt.fz.sort = FZ_SORT_EXACT; break;
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s' (use -i for the input)", argv[optind]);
    if (!opt.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        opt.threads = n < 1 ? 1 : n > 64 ? 64 : (int)n;
    }

    if (!(in = stream_in_open(opt.input)))
        die_err(1);
    if (!(out = stream_out_open(opt.output)))
        die_err(1);
    stream_out_keep_seq(out, 1);

    run.in = in;
    run.mem = mem = calloc((size_t)opt.threads, sizeof *mem);
    if (!mem)
        fail("out of memory");
    for (int t = 0; t < opt.threads; t++)
        if (!(mem[t].fz = fz_work_new()))
            fail(err_get());
    {
        recpool p = {.threads = opt.threads, .nslots = 2 * opt.threads, .slot_size = sizeof(job),
                     .read = read_job, .work = work_job, .write = write_job};
        if (recpool_run(&p, NULL))
            fail(err_get());
    }
    if (stream_out_end(out)) {
        fail(err_get());
    }
    if (stream_out_close(out)) {
        out = NULL;
        die_err(1);
    }
    out = NULL;
    stream_in_close(in);
    if (run.nrec)
        log_info("%lld slices, mean K %.1f, %.2f ms per slice of compute%s", (long long)run.nrec,
                 (double)run.ksum / (double)run.nrec, 1e3 * run.tsum / (double)run.nrec,
                 run.nexact ? ", numpy's sort order needed for some" : "");
    for (int t = 0; t < opt.threads; t++) {
        fz_work_free(mem[t].fz);
        free(mem[t].img);
        free(mem[t].mask);
    }
    free(mem);
    return 0;
}
