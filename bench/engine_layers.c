/* Per-layer speed of the engine's kernels on the default U-Net's shapes: a
 * developer's tool behind bench/engine.sh (which measures whole steps).
 *
 *   engine_layers [BATCH [SIZE [THREADS [COLD]]]]
 *
 * For each convolution shape of the U-Net at SIZE x SIZE: forward, backward
 * data and backward weights, in GFLOP/s of process CPU time (robust on a
 * shared machine: time spent preempted does not count) and of wall time.
 * COLD = 1 evicts the caches before each call (as in a real step). The last
 * column says which kernel the engine takes for the layer (LRCPIPE_WINOGRAD
 * chooses: 0 none, 2 everywhere). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/rng.h"
#include "nn/internal.h"
#include "nn/nn.h"

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static double cpu(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *rnd(size_t n, rng *r)
{
    float *p = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++)
        p[i] = (float)rng_normal(r);
    return p;
}

int main(int argc, char **argv)
{
    int B = argc > 1 ? atoi(argv[1]) : 2, S = argc > 2 ? atoi(argv[2]) : 128;
    int T = argc > 3 ? atoi(argv[3]) : 1;
    int cold = argc > 4 ? atoi(argv[4]) : 0;
    size_t flushn = 64u << 20 >> 2;
    float *flush = calloc(flushn, sizeof(float));
    /* (C1, C2, OC, level): enc, mid, dec (C2 = the upsampled half of the concatenation) */
    static const int L[][4] = {{1, 0, 16, 0},    {16, 0, 16, 0},   {16, 0, 32, 1},
                               {32, 0, 32, 1},   {32, 0, 64, 2},   {64, 0, 64, 2},
                               {64, 0, 128, 3},  {128, 0, 128, 3}, {128, 0, 256, 4},
                               {256, 0, 256, 4}, {128, 128, 128, 3}, {64, 64, 64, 2},
                               {32, 32, 32, 1},  {16, 16, 16, 0}};
    rng r;
    double tot[3] = {0}, totw[3] = {0}, totf = 0;
    nn_set_threads(T);
    rng_seed(&r, 1, 0);
    printf("batch %d, %dx%d, %d threads, %s; GFLOP/s by CPU time (wall)\n", B, S, S, T,
           nn_isa_name(nn_isa()));
    printf("%-16s %8s %16s %16s %16s  %s\n", "C1+C2 -> OC", "HxW", "forward", "backward dX",
           "backward dW", "kernel");
    for (size_t l = 0; l < sizeof L / sizeof L[0]; l++) {
        int C1 = L[l][0], C2 = L[l][1], OC = L[l][2], H = S >> L[l][3], W = H;
        size_t ni1 = (size_t)B * C1 * H * W, ni2 = (size_t)B * C2 * H * W,
               no = (size_t)B * OC * H * W, nw = (size_t)OC * (C1 + C2) * 9;
        float *i1 = rnd(ni1, &r), *i2 = C2 ? rnd(ni2, &r) : NULL, *w = rnd(nw, &r);
        float *o = rnd(no, &r), *d1 = malloc(ni1 * 4), *d2 = C2 ? malloc(ni2 * 4) : NULL,
              *dw = calloc(nw, 4);
        double flops = 2.0 * B * H * W * OC * (C1 + C2) * 9;
        double best[3] = {1e30, 1e30, 1e30}, bestw[3] = {1e30, 1e30, 1e30};
        int reps = (int)(2e9 / flops) + 2;
        for (int pass = 0; pass < 3; pass++)
            for (int k = 0; k < reps; k++) {
                if (cold) /* evict the caches: the layer's data comes from memory, as in a step */
                    for (size_t i = 0; i < flushn; i++)
                        flush[i] += 1.0f;
                double c0 = cpu(), w0 = wall();
                if (pass == 0)
                    conv2d_cat_forward(o, i1, C1, i2, C2, w, NULL, B, H, W, OC, 3, 1, 1);
                else if (pass == 1)
                    conv2d_cat_backward(C1 == 1 ? NULL : d1, d2, NULL, NULL, o, i1, C1, i2, C2, w,
                                        B, H, W, OC, 3, 1, 1);
                else
                    conv2d_cat_backward(NULL, NULL, dw, NULL, o, i1, C1, i2, C2, w, B, H, W, OC,
                                        3, 1, 1);
                double c = cpu() - c0, wt = wall() - w0;
                if (c < best[pass])
                    best[pass] = c;
                if (wt < bestw[pass])
                    bestw[pass] = wt;
            }
        char name[32], hw[16];
        snprintf(name, sizeof name, "%d+%d -> %d", C1, C2, OC);
        snprintf(hw, sizeof hw, "%dx%d", H, W);
        printf("%-16s %8s", name, hw);
        for (int p = 0; p < 3; p++) {
            printf("  %6.1f (%6.1f)", flops / best[p] * 1e-9, flops / bestw[p] * 1e-9);
            tot[p] += best[p];
            totw[p] += bestw[p];
        }
        totf += flops;
        printf("  %s\n", wg_wanted(B, C1 + C2, H, W, OC) && wg_usable(H, W) ? "winograd" : "direct");
        free(i1), free(i2), free(w), free(o), free(d1), free(d2), free(dw);
    }
    printf("%-25s", "all 3x3 layers");
    for (int p = 0; p < 3; p++)
        printf("  %6.1f (%6.1f)", totf / tot[p] * 1e-9, totf / totw[p] * 1e-9);
    printf("\n");
    return 0;
}
