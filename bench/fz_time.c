/*
 * fz_time — compute time of fz_segment (felzenszwalb.h) on the slices of a
 * frame stream, single-threaded, in-process: the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID, which time spent waiting for a core on a shared
 * machine does not inflate), for every slice the best of R runs, summed
 * over slices. bench/fz.sh prints it next to skimage's, measured the same
 * way (time.thread_time).
 *
 *   fz_time FRAMES SCALE SIGMA MIN_SIZE REPS [exact]
 *
 * Prints one line: "slices N best_sum_s S exact_slices E".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/err.h"
#include "image/felzenszwalb.h"
#include "io/frame.h"
#include "io/stream.h"

#include <time.h>

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    stream_in *in;
    fz_params p = {0};
    fz_work *w;
    frame f;
    int r, reps;
    int64_t n = 0, nexact = 0;
    double total = 0;

    filter_init(argc, argv);
    if (argc < 6)
        die(2, "usage: fz_time FRAMES SCALE SIGMA MIN_SIZE REPS [exact]");
    p.scale = opt_f64("SCALE", argv[2], 0, 1e30);
    p.sigma = opt_f64("SIGMA", argv[3], 0, 1000);
    p.min_size = opt_i64("MIN_SIZE", argv[4], 0, FZ_MAX_PIXELS);
    reps = (int)opt_i64("REPS", argv[5], 1, 1000);
    p.sort = argc > 6 && !strcmp(argv[6], "exact") ? FZ_SORT_EXACT : FZ_SORT_AUTO;
    if (!(in = stream_in_open(argv[1])) || !(w = fz_work_new()))
        die_err(1);
    while ((r = stream_in_next(in, &f)) > 0) {
        tensor *im = frame_tensor_get(&f, "image");
        double best = 1e30, *img;
        int32_t *lab;
        size_t N;
        int exact = 0;
        if (!im || im->rank != 2)
            die(1, "record %lld: no 2-D image", (long long)n);
        N = tensor_numel(im);
        img = malloc(N * sizeof *img);
        lab = malloc(N * sizeof *lab);
        if (!img || !lab || fz_input_f64(img, im->data, im->dtype, N))
            die(1, "out of memory or bad dtype");
        for (int k = 0; k < reps; k++) {
            fz_stats st;
            double t0 = cpu_now(), t;
            if (fz_segment(lab, img, im->shape[0], im->shape[1], &p, w, &st) < 0)
                die_err(1);
            t = cpu_now() - t0;
            if (t < best)
                best = t;
            exact = st.exact_sort != 0;
        }
        total += best;
        nexact += exact;
        n++;
        free(img);
        free(lab);
        frame_free(&f);
    }
    if (r < 0)
        die_err(1);
    printf("slices %lld best_sum_s %.6f exact_slices %lld\n", (long long)n, total, (long long)nexact);
    fz_work_free(w);
    stream_in_close(in);
    return 0;
}
