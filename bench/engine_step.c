/* lrcpipe side of bench/engine.sh: training steps of the default U-Net.
 *
 *   engine_step BATCH SIZE STEPS REPS [THREADS [OPT [BUDGET]]]
 *
 * A step is what a trainer does: zero the gradients, forward, backward from a
 * fixed upstream gradient (what a loss would hand back), optimiser step (Adam,
 * lr 1e-3, weight decay 1e-4, like the PyTorch side). Prints one line:
 *   img_per_s=... gflops=... maxrss_kb=... isa=... fwd_gflop=... winograd=MODE
 * (the best of up to REPS runs of STEPS steps, after 2 warm-up steps, within
 * BUDGET seconds (default 60) when the machine is slow; GFLOP/s counts 3x the
 * forward convolution FLOPs per image, as the issue does). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "cli/args.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/rng.h"
#include "models/unet.h"
#include "nn/internal.h"
#include "nn/nn.h"
#include "nn/optim.h"

int main(int argc, char **argv)
{
    int N, S, steps, reps, threads = 2;
    unet_config cfg;
    optim_config oc;
    rng r;
    err_init(argv[0]);
    if (argc < 5) {
        fprintf(stderr, "usage: engine_step BATCH SIZE STEPS REPS [THREADS [sgd|adam]]\n");
        return 2;
    }
    N = atoi(argv[1]), S = atoi(argv[2]), steps = atoi(argv[3]), reps = atoi(argv[4]);
    if (argc > 5)
        threads = atoi(argv[5]);
    nn_set_threads(threads);
    unet_config_default(&cfg);
    unet *u = unet_create(&cfg, 1);
    optim_config_default(&oc, argc > 6 && argv[6][0] == 's' ? OPTIM_SGD : OPTIM_ADAM);
    oc.lr = 1e-3;
    optim *o = optim_create(&oc, unet_params(u));
    size_t nx = (size_t)N * S * S, nf = nx * cfg.out_ch;
    float *x = malloc(nx * sizeof(float)), *df = malloc(nf * sizeof(float));
    if (!u || !o || !x || !df)
        die_err(1);
    rng_seed(&r, 2, 0);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)rng_normal(&r);
    for (size_t i = 0; i < nf; i++)
        df[i] = (float)(1e-3 * rng_normal(&r));
    double best = 0, budget = argc > 7 ? atof(argv[7]) : 60, start = clock_now();
    for (int rep = -1; rep < reps && (rep < 1 || clock_now() - start < budget); rep++) {
        int n = rep < 0 ? 2 : steps;
        double t0 = clock_now();
        for (int s = 0; s < n; s++) {
            pblock_zero_grad(unet_params(u));
            if (!unet_forward(u, x, N, S, S) || unet_backward(u, df, NULL))
                die_err(1);
            optim_step(o, oc.lr);
        }
        double ips = N * n / (clock_now() - t0);
        if (rep < 0)
            nn_prof_reset(); /* LRCPIPE_PROFILE: steady state only */
        if (rep >= 0 && ips > best)
            best = ips;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("img_per_s=%.3f gflops=%.1f maxrss_kb=%ld isa=%s fwd_gflop=%.4f winograd=%d\n", best,
           best * 3 * unet_flops(&cfg, S, S) * 1e-9, ru.ru_maxrss, nn_isa_name(nn_isa()),
           unet_flops(&cfg, S, S) * 1e-9, nn_winograd());
    optim_free(o);
    unet_free(u);
    free(x), free(df);
    return 0;
}
