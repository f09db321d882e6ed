/* Per-layer speed of the engine's kernels on the default U-Net's shapes (or
 * the default Eg's, ResNet-18 x 0.25): a developer's tool behind
 * bench/engine.sh and bench/global.sh (which measure whole steps).
 *
 *   engine_layers [BATCH [SIZE [THREADS [COLD [unet|resnet]]]]]
 *
 * For each convolution shape of the model at SIZE x SIZE: forward, backward
 * data and backward weights, in GFLOP/s of process CPU time (robust on a
 * shared machine: time spent preempted does not count) and of wall time.
 * COLD = 1 evicts the caches before each call (as in a real step). The last
 * column says which kernel the engine takes for the layer (LRCPIPE_WINOGRAD
 * chooses: 0 none, 2 everywhere). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/rng.h"
#include "nn/internal.h"
#include "nn/nn.h"

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
    int resnet = argc > 5 && !strcmp(argv[5], "resnet");
    /* (C1, C2, OC, level of the input, K, stride): the U-Net's enc, mid, dec
     * (C2 = the upsampled half of the concatenation), 3x3 stride 1 */
    static const int U[][6] = {{1, 0, 16, 0, 3, 1},    {16, 0, 16, 0, 3, 1},   {16, 0, 32, 1, 3, 1},
                               {32, 0, 32, 1, 3, 1},   {32, 0, 64, 2, 3, 1},   {64, 0, 64, 2, 3, 1},
                               {64, 0, 128, 3, 3, 1},  {128, 0, 128, 3, 3, 1}, {128, 0, 256, 4, 3, 1},
                               {256, 0, 256, 4, 3, 1}, {128, 128, 128, 3, 3, 1}, {64, 64, 64, 2, 3, 1},
                               {32, 32, 32, 1, 3, 1},  {16, 16, 16, 0, 3, 1}};
    /* Eg (resnet.h, 3x3 stem): each stage's first block halves (3x3/2 conv1,
     * 1x1/2 shortcut), then 3x3/1 convs */
    static const int R[][6] = {{1, 0, 16, 0, 3, 1},   {16, 0, 16, 0, 3, 2},   {16, 0, 16, 0, 1, 2},
                               {16, 0, 16, 1, 3, 1},  {16, 0, 32, 1, 3, 2},   {16, 0, 32, 1, 1, 2},
                               {32, 0, 32, 2, 3, 1},  {32, 0, 64, 2, 3, 2},   {32, 0, 64, 2, 1, 2},
                               {64, 0, 64, 3, 3, 1},  {64, 0, 128, 3, 3, 2},  {64, 0, 128, 3, 1, 2},
                               {128, 0, 128, 4, 3, 1}};
    const int(*L)[6] = resnet ? R : U;
    size_t nl = resnet ? sizeof R / sizeof R[0] : sizeof U / sizeof U[0];
    rng r;
    double tot[3] = {0}, totw[3] = {0}, totf = 0;
    nn_set_threads(T);
    rng_seed(&r, 1, 0);
    printf("%s, batch %d, %dx%d, %d threads, %s; GFLOP/s by CPU time (wall)\n",
           resnet ? "Eg ResNet-18 x 0.25" : "U-Net", B, S, S, T, nn_isa_name(nn_isa()));
    printf("%-22s %8s %16s %16s %16s  %s\n", "C1+C2 -> OC", "HxW", "forward", "backward dX",
           "backward dW", "kernel");
    for (size_t l = 0; l < nl; l++) {
        int C1 = L[l][0], C2 = L[l][1], OC = L[l][2], H = S >> L[l][3], W = H;
        int K = L[l][4], st = L[l][5], pad = K / 2, OH = conv_out_size(H, K, st, pad);
        size_t ni1 = (size_t)B * C1 * H * W, ni2 = (size_t)B * C2 * H * W,
               no = (size_t)B * OC * OH * OH, nw = (size_t)OC * (C1 + C2) * K * K;
        float *i1 = rnd(ni1, &r), *i2 = C2 ? rnd(ni2, &r) : NULL, *w = rnd(nw, &r);
        float *o = rnd(no, &r), *d1 = malloc(ni1 * 4), *d2 = C2 ? malloc(ni2 * 4) : NULL,
              *dw = calloc(nw, 4);
        double flops = 2.0 * B * OH * OH * OC * (C1 + C2) * K * K;
        double best[3] = {1e30, 1e30, 1e30}, bestw[3] = {1e30, 1e30, 1e30};
        int reps = (int)(2e9 / flops) + 2;
        for (int pass = 0; pass < 3; pass++)
            for (int k = 0; k < reps; k++) {
                if (cold) /* evict the caches: the layer's data comes from memory, as in a step */
                    for (size_t i = 0; i < flushn; i++)
                        flush[i] += 1.0f;
                double c0 = cpu(), w0 = clock_now();
                if (pass == 0)
                    conv2d_cat_forward(o, i1, C1, i2, C2, w, NULL, B, H, W, OC, K, st, pad);
                else if (pass == 1)
                    conv2d_cat_backward(C1 == 1 ? NULL : d1, d2, NULL, NULL, o, i1, C1, i2, C2, w,
                                        B, H, W, OC, K, st, pad);
                else
                    conv2d_cat_backward(NULL, NULL, dw, NULL, o, i1, C1, i2, C2, w, B, H, W, OC,
                                        K, st, pad);
                double c = cpu() - c0, wt = clock_now() - w0;
                if (c < best[pass])
                    best[pass] = c;
                if (wt < bestw[pass])
                    bestw[pass] = wt;
            }
        char name[48], hw[16];
        snprintf(name, sizeof name, "%d+%d -> %d %dx%d/%d", C1, C2, OC, K, K, st);
        snprintf(hw, sizeof hw, "%dx%d", H, W);
        printf("%-22s %8s", name, hw);
        for (int p = 0; p < 3; p++) {
            printf("  %6.1f (%6.1f)", flops / best[p] * 1e-9, flops / bestw[p] * 1e-9);
            tot[p] += best[p];
            totw[p] += bestw[p];
        }
        totf += flops;
        /* as nn/conv.c chooses (the s2 path's conditions: conv_s2_forward) */
        int s2 = K == 3 && st == 2 && !C2 && nn_isa_active() == NN_ISA_AVX512 && H % 2 == 0 &&
                 W % 2 == 0 && (long)B * (H / 2) * (W / 2) % 16 == 0;
        printf("  %s\n", s2 ? "direct over 4 phases"
                          : K != 3 || st != 1 || (H * W % 16 && (B < 2 || B * H * W % 16)) ? "im2col+gemm"
                          : wg_wanted(B, C1 + C2, H, W, OC) && wg_usable(H, W) ? "winograd"
                          : H * W % 16 ? "folded"
                          : H * W < 256 ? "direct, bwd folded"
                                        : "direct");
        free(i1), free(i2), free(w), free(o), free(d1), free(d2), free(dw);
    }
    printf("%-31s", "all 3x3 layers");
    for (int p = 0; p < 3; p++)
        printf("  %6.1f (%6.1f)", totf / tot[p] * 1e-9, totf / totw[p] * 1e-9);
    printf("\n");
    return 0;
}
