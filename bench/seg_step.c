/* lrcpipe side of bench/finetune.sh: fine-tuning steps of the segnet.h
 * network (forward, Dice loss, backward, Adam) on random slices.
 *
 *   seg_step ARCH BATCH SIZE STEPS REPS [THREADS [CLASSES]]
 *
 * Prints one line: steps_per_s=... img_per_s=... gflops=... ms_loss=...
 * (the best of REPS runs of STEPS steps after 2 warm-up steps; GFLOP/s
 * counts 3x the forward convolution FLOPs per image; ms_loss is the loss
 * function's share of a step). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli/args.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/rng.h"
#include "finetune/segtrain.h"
#include "nn/nn.h"

int main(int argc, char **argv)
{
    segnet_config nc;
    optim_config oc;
    segloss_config lc;
    segloss_stats st;
    rng r;
    err_init(argv[0]);
    if (argc < 6) {
        fprintf(stderr, "usage: seg_step ARCH BATCH SIZE STEPS REPS [THREADS [CLASSES]]\n");
        return 2;
    }
    segnet_config_default(&nc);
    if (segnet_arch_parse(argv[1], &nc.arch))
        die_err(2);
    int N = atoi(argv[2]), S = atoi(argv[3]), steps = atoi(argv[4]), reps = atoi(argv[5]);
    nn_set_threads(argc > 6 ? atoi(argv[6]) : 2);
    nc.classes = argc > 7 ? atoi(argv[7]) : 8;
    segtrain_optim_default(&oc);
    segloss_config_default(&lc);
    lc.ce_weight = 0;
    segtrain *t = segtrain_create(segnet_create(&nc, NULL, 1), &oc, &lc);
    if (!t)
        die_err(1);
    size_t nx = (size_t)N * S * S;
    float *x = malloc(nx * sizeof(float));
    uint8_t *y = malloc(nx);
    rng_seed(&r, 1, 0);
    for (size_t i = 0; i < nx; i++) {
        x[i] = rng_uniformf(&r);
        y[i] = (uint8_t)rng_below(&r, (uint64_t)nc.classes);
    }
    for (int i = 0; i < 2; i++)
        if (segtrain_step(t, x, y, N, S, S, 1e-4, &st))
            die_err(1);
    double best = 1e30;
    for (int k = 0; k < reps; k++) {
        double t0 = clock_now();
        for (int i = 0; i < steps; i++)
            if (segtrain_step(t, x, y, N, S, S, 1e-4, &st))
                die_err(1);
        double dt = (clock_now() - t0) / steps;
        best = dt < best ? dt : best;
    }
    /* the loss alone */
    float *dl = malloc(nx * nc.classes * sizeof(float)), *lg = malloc(nx * nc.classes * sizeof(float));
    for (size_t i = 0; i < nx * nc.classes; i++)
        lg[i] = rng_uniformf(&r);
    double t0 = clock_now();
    for (int i = 0; i < 10; i++)
        segloss_dice(dl, &st, lg, y, N, nc.classes, S * S, &lc);
    double tl = (clock_now() - t0) / 10;
    double fl = segnet_flops(segtrain_net(t), S, S);
    printf("arch=%s batch=%d size=%d threads=%d steps_per_s=%.3f img_per_s=%.2f gflops=%.1f ms_loss=%.2f "
           "params=%zu isa=%s\n",
           argv[1], N, S, nn_threads(), 1 / best, N / best, 3 * fl * N / best * 1e-9, tl * 1e3,
           segnet_ntrain(segtrain_net(t)), nn_isa_name(nn_isa()));
    segtrain_free(t);
    free(x), free(y), free(dl), free(lg);
    return 0;
}
