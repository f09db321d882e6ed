/* The layer kernels of nn.h: every forward against a naive double loop
 * (tests/nnref.h), every backward against finite differences of that
 * double forward, on small shapes, for each instruction set the CPU has.
 * Tolerances: forward 2e-5 of the largest output; gradients 1e-4 of the
 * largest finite difference (float kernels against double differences). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/err.h"
#include "nn/internal.h"
#include "nn/nn.h"
#include "nn/optim.h"
#include "nn/param.h"
#include "nnref.h"
#include "testutil.h"

#define FWD_TOL 2e-5
#define GRAD_TOL 1e-4

static int isa_list[3], n_isa;

static void find_isas(void)
{
    int best = nn_isa();
    n_isa = 0;
    for (int i = NN_ISA_C; i <= NN_ISA_AVX512; i++)
        if (nn_set_isa(i) == 0)
            isa_list[n_isa++] = i;
    nn_set_isa(best);
}

/* ---- gemm ---- */

static void test_gemm(void **state)
{
    (void)state;
    static const int sz[][3] = {{1, 1, 1}, {13, 35, 7}, {12, 32, 256}, {50, 70, 300},
                                {100, 600, 260}, {5, 1100, 3}, {97, 33, 520}};
    rng r;
    rng_seed(&r, 1, 0);
    for (int ii = 0; ii < n_isa; ii++) {
        nn_set_isa(isa_list[ii]);
        for (size_t s = 0; s < sizeof sz / sizeof sz[0]; s++)
            for (int t = 0; t < 4; t++) {
                int M = sz[s][0], N = sz[s][1], K = sz[s][2], ta = t & 1, tb = t >> 1;
                float alpha = t == 3 ? 0.5f : 1.0f, beta = (float)(t % 3) * 0.5f;
                double *a = dalloc((size_t)M * K), *b = dalloc((size_t)K * N),
                       *c = dalloc((size_t)M * N);
                float *af = falloc((size_t)M * K), *bf = falloc((size_t)K * N),
                      *cf = falloc((size_t)M * N);
                rand_fill(a, af, (size_t)M * K, 1, &r);
                rand_fill(b, bf, (size_t)K * N, 1, &r);
                rand_fill(c, cf, (size_t)M * N, 1, &r);
                for (int i = 0; i < M; i++)
                    for (int j = 0; j < N; j++) {
                        double acc = 0;
                        for (int k = 0; k < K; k++)
                            acc += (ta ? a[(long)k * M + i] : a[(long)i * K + k]) *
                                   (tb ? b[(long)j * K + k] : b[(long)k * N + j]);
                        c[(long)i * N + j] = alpha * acc + beta * c[(long)i * N + j];
                    }
                nn_gemm(ta, tb, M, N, K, alpha, af, ta ? M : K, bf, tb ? K : N, beta, cf, N,
                        s & 1);
                double e = max_rel_diff(cf, c, (size_t)M * N);
                if (e > FWD_TOL)
                    fail_msg("gemm %s ta=%d tb=%d %dx%dx%d: rel diff %.3g", nn_isa_name(nn_isa()),
                             ta, tb, M, N, K, e);
                free(a), free(b), free(c), free(af), free(bf), free(cf);
            }
        print_message("  gemm %s: ok\n", nn_isa_name(nn_isa()));
    }
    nn_set_isa(isa_list[n_isa - 1]);
}

/* ---- convolution ---- */

typedef struct {
    int B, C1, C2, H, W, OC, K, S, P, bias;
    double *in1, *in2, *w, *b, *out, *R;
    float *fin1, *fin2, *fw, *fb, *fout, *R_f;
} convcase;

static void conv_fwd_ref(void *ctx, double *out)
{
    convcase *c = ctx;
    ref_conv(out, c->in1, c->C1, c->in2, c->C2, c->w, c->bias ? c->b : NULL, c->B, c->H, c->W,
             c->OC, c->K, c->S, c->P);
}

static void conv_case(int B, int C1, int C2, int H, int W, int OC, int K, int S, int P, int bias,
                      int fd, uint64_t seed)
{
    convcase c = {.B = B, .C1 = C1, .C2 = C2, .H = H, .W = W, .OC = OC, .K = K, .S = S, .P = P, .bias = bias};
    int OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1, C = C1 + C2;
    size_t n1 = (size_t)B * C1 * H * W, n2 = (size_t)B * C2 * H * W, nw = (size_t)OC * C * K * K,
           no = (size_t)B * OC * OH * OW;
    rng r;
    char what[160];
    rng_seed(&r, seed, 0);
    c.in1 = dalloc(n1), c.in2 = dalloc(n2), c.w = dalloc(nw), c.b = dalloc(OC);
    c.out = dalloc(no), c.R = dalloc(no);
    c.fin1 = falloc(n1), c.fin2 = falloc(n2), c.fw = falloc(nw), c.fb = falloc(OC);
    c.fout = falloc(no), c.R_f = falloc(no);
    rand_fill(c.in1, c.fin1, n1, 1, &r);
    rand_fill(c.in2, c.fin2, n2, 1, &r);
    rand_fill(c.w, c.fw, nw, 0.3, &r);
    rand_fill(c.b, c.fb, OC, 0.5, &r);
    rand_fill(c.R, c.R_f, no, 1, &r);
    snprintf(what, sizeof what, "conv B%d C%d+%d %dx%d OC%d K%d S%d P%d%s", B, C1, C2, H, W, OC, K,
             S, P, bias ? " bias" : "");

    for (int ii = 0; ii < n_isa; ii++) {
        nn_set_isa(isa_list[ii]);
        conv_fwd_ref(&c, c.out);
        if (C2)
            conv2d_cat_forward(c.fout, c.fin1, C1, c.fin2, C2, c.fw, bias ? c.fb : NULL, B, H, W,
                               OC, K, S, P);
        else
            conv2d_forward(c.fout, c.fin1, c.fw, bias ? c.fb : NULL, B, C1, H, W, OC, K, S, P);
        double e = max_rel_diff(c.fout, c.out, no);
        if (e > FWD_TOL)
            fail_msg("%s %s forward: rel diff %.3g", what, nn_isa_name(nn_isa()), e);

        /* backward: library (float) against the naive double backward */
        float *g1 = falloc(n1), *g2 = falloc(n2), *gw = falloc(nw), *gb = falloc(OC);
        double *d1 = dalloc(n1), *d2 = dalloc(n2), *dw = dalloc(nw), *db = dalloc(OC);
        for (size_t i = 0; i < nw; i++) /* accumulation: start from 1 */
            gw[i] = 1, dw[i] = 1;
        for (int i = 0; i < OC; i++)
            gb[i] = 1, db[i] = 1;
        for (size_t i = 0; i < n1; i++) /* written, not accumulated: garbage first */
            g1[i] = 7;
        if (C2)
            conv2d_cat_backward(g1, g2, gw, bias ? gb : NULL, c.R_f, c.fin1, C1, c.fin2, C2, c.fw,
                                B, H, W, OC, K, S, P);
        else
            conv2d_backward(g1, gw, bias ? gb : NULL, c.R_f, c.fin1, c.fw, B, C1, H, W, OC, K, S,
                            P);
        ref_conv_backward(d1, C2 ? d2 : NULL, dw, db, c.R, c.in1, C1, c.in2, C2, c.w, B, H, W, OC,
                          K, S, P);
        double e1 = max_rel_diff(g1, d1, n1), e2 = C2 ? max_rel_diff(g2, d2, n2) : 0,
               ew = max_rel_diff(gw, dw, nw), eb = bias ? max_rel_diff(gb, db, OC) : 0;
        if (e1 > FWD_TOL || e2 > FWD_TOL || ew > FWD_TOL || eb > FWD_TOL)
            fail_msg("%s %s backward vs naive: dinp1 %.3g dinp2 %.3g dw %.3g db %.3g", what,
                     nn_isa_name(nn_isa()), e1, e2, ew, eb);
        if (fd && ii == 0) {
            /* the naive backward's own check: finite differences (grads without the +1) */
            print_message("%s\n", what);
            for (size_t i = 0; i < nw; i++)
                gw[i] -= 1;
            for (int i = 0; i < OC; i++)
                gb[i] -= 1;
            assert_true(fd_check("dinp1", conv_fwd_ref, &c, c.out, no, c.R, c.in1, n1, g1, 400) <
                        GRAD_TOL);
            if (C2)
                assert_true(fd_check("dinp2", conv_fwd_ref, &c, c.out, no, c.R, c.in2, n2, g2,
                                     400) < GRAD_TOL);
            assert_true(fd_check("dweight", conv_fwd_ref, &c, c.out, no, c.R, c.w, nw, gw, 400) <
                        GRAD_TOL);
            if (bias)
                assert_true(fd_check("dbias", conv_fwd_ref, &c, c.out, no, c.R, c.b, OC, gb, 400) <
                            GRAD_TOL);
        }
        free(g1), free(g2), free(gw), free(gb), free(d1), free(d2), free(dw), free(db);
    }
    nn_set_isa(isa_list[n_isa - 1]);
    free(c.in1), free(c.in2), free(c.w), free(c.b), free(c.out), free(c.R);
    free(c.fin1), free(c.fin2), free(c.fw), free(c.fb), free(c.fout), free(c.R_f);
}

static void test_conv_fd(void **state)
{
    (void)state;
    conv_case(2, 3, 0, 6, 5, 4, 3, 1, 1, 0, 1, 11);
    conv_case(2, 3, 2, 6, 6, 4, 3, 1, 1, 1, 1, 12);
    conv_case(1, 3, 0, 7, 6, 5, 3, 2, 1, 1, 1, 13);
    conv_case(2, 4, 0, 6, 6, 3, 1, 1, 0, 1, 1, 14);
    conv_case(2, 4, 3, 4, 4, 3, 1, 1, 0, 0, 1, 15);
    conv_case(1, 2, 0, 8, 8, 3, 1, 2, 0, 0, 1, 16);
    conv_case(1, 2, 0, 9, 9, 3, 7, 2, 3, 1, 1, 17);
    conv_case(2, 3, 0, 8, 8, 4, 3, 2, 1, 1, 1, 61); /* stride 2 by phases */
    /* H W % 16 == 0: the direct kernels (3x3 and 1x1, tiles across images) */
    conv_case(2, 3, 2, 4, 8, 4, 3, 1, 1, 0, 1, 18);
    conv_case(3, 4, 3, 4, 8, 8, 1, 1, 0, 1, 1, 19);
    conv_case(3, 5, 0, 4, 4, 12, 3, 1, 1, 1, 1, 20);
}

/* Larger shapes, the ones the models use (3x3 stride 1 takes the fast kernels). */
static void test_conv_naive(void **state)
{
    (void)state;
    /* streamed (non-temporal) stores of large outputs: small here */
    conv_case(2, 16, 0, 32, 32, 16, 3, 1, 1, 1, 0, 36);
    conv_case(2, 16, 16, 16, 32, 32, 3, 1, 1, 0, 0, 37);
    conv_case(2, 1, 0, 32, 32, 16, 3, 1, 1, 0, 0, 21);
    conv_case(2, 16, 0, 32, 48, 16, 3, 1, 1, 0, 0, 22);
    conv_case(3, 16, 16, 32, 32, 16, 3, 1, 1, 0, 0, 23);
    conv_case(2, 32, 0, 16, 16, 64, 3, 1, 1, 0, 0, 24);
    conv_case(2, 64, 64, 8, 8, 64, 3, 1, 1, 0, 0, 25);
    conv_case(1, 40, 0, 16, 16, 24, 3, 1, 1, 1, 0, 26);
    conv_case(2, 128, 0, 4, 4, 96, 3, 1, 1, 0, 0, 27);
    conv_case(1, 7, 5, 5, 3, 9, 3, 1, 1, 1, 0, 28);
    conv_case(2, 16, 0, 64, 64, 16, 3, 1, 1, 0, 0, 29);
    conv_case(2, 16, 0, 16, 16, 64, 1, 1, 0, 1, 0, 30);
    conv_case(3, 64, 0, 8, 8, 64, 1, 1, 0, 1, 0, 32);
    conv_case(3, 96, 32, 8, 8, 128, 3, 1, 1, 0, 0, 33);
    conv_case(5, 32, 0, 4, 12, 16, 3, 1, 1, 0, 0, 34);
    conv_case(2, 16, 16, 64, 32, 16, 1, 1, 0, 0, 0, 35);
    conv_case(2, 32, 0, 16, 16, 64, 3, 2, 1, 0, 0, 31);
    /* planes of H W % 16 != 0, the batch folded into one tall image
     * (conv_fold_*): 6x6 and 3x3 (the ResNet's last stage), 5x5 with two
     * inputs, 1x1; dW by the pixel loop from B H W >= 256, else the general
     * path's GEMM; 6 output channels: backward by the general path */
    conv_case(8, 16, 0, 6, 6, 16, 3, 1, 1, 1, 0, 44);
    conv_case(4, 32, 16, 6, 6, 24, 3, 1, 1, 0, 0, 45);
    conv_case(32, 16, 0, 3, 3, 16, 3, 1, 1, 0, 0, 46);
    conv_case(16, 12, 4, 5, 5, 8, 3, 1, 1, 1, 0, 47);
    conv_case(8, 16, 0, 6, 6, 8, 1, 1, 0, 0, 0, 48);
    conv_case(8, 16, 0, 6, 6, 6, 3, 1, 1, 0, 0, 49);
    conv_case(2, 8, 0, 6, 6, 8, 3, 1, 1, 0, 0, 50);
    conv_case(4, 16, 8, 8, 8, 16, 3, 1, 1, 1, 0, 51); /* 64 pixels: folded backward */
    conv_case(3, 16, 0, 12, 12, 8, 1, 1, 0, 0, 0, 52);
    /* stride 2 over the input's phases (conv_s2_*): batch 1 and more, 6x6
     * outputs folded over the batch, channel counts off the kernels'
     * blocks (5 inputs, 12 outputs), bias, the 1x1 shortcut; 7x6 input
     * (odd) and 4x4 at batch 1 (4 output pixels) take the general path */
    conv_case(1, 16, 0, 8, 8, 16, 3, 2, 1, 1, 0, 53);
    conv_case(4, 16, 0, 12, 12, 32, 3, 2, 1, 0, 0, 54);
    conv_case(2, 5, 0, 16, 8, 12, 3, 2, 1, 1, 0, 55);
    conv_case(4, 16, 0, 12, 12, 32, 1, 2, 0, 0, 0, 56);
    conv_case(1, 8, 0, 8, 8, 4, 1, 2, 0, 1, 0, 57);
    conv_case(2, 8, 0, 24, 24, 8, 3, 2, 1, 0, 0, 58);
    conv_case(2, 4, 0, 7, 6, 8, 3, 2, 1, 0, 0, 59);
    conv_case(1, 4, 0, 4, 4, 8, 3, 2, 1, 0, 0, 60);
}

/* The general path (conv.c): strides of 2 and planes the direct kernels do
 * not take, im2col'd a chunk of images at a time; with AVX-512 and whole
 * vectors of output pixels the chunk goes to the direct 1x1 kernels, else
 * to one GEMM. Whole batches, then chunks of one image, then of two with a
 * remainder. */
static void test_conv_general(void **state)
{
    (void)state;
    static const char *budgets[] = {NULL, "1", "80000"};
    for (int k = 0; k < 3; k++) {
        if (budgets[k])
            setenv("LRCPIPE_IM2COL_BYTES", budgets[k], 1);
        conv_case(3, 16, 0, 32, 32, 16, 3, 2, 1, 1, 0, 38);  /* direct layout, bias */
        conv_case(3, 8, 8, 16, 16, 16, 1, 2, 0, 0, 0, 39);   /* 1x1/2 shortcut, two inputs */
        conv_case(3, 32, 16, 6, 6, 24, 3, 1, 1, 1, 0, 40);   /* 6x6: the GEMM layout */
        conv_case(2, 16, 0, 32, 32, 18, 3, 2, 1, 0, 0, 41);  /* 18 channels: dW/dX by GEMM */
        conv_case(5, 16, 0, 16, 16, 16, 3, 2, 1, 0, 0, 42);  /* 80000 bytes: chunks 2, 2, 1 */
        conv_case(5, 4, 0, 12, 12, 8, 3, 2, 1, 1, 0, 43);    /* 6x6 output, several chunks */
    }
    unsetenv("LRCPIPE_IM2COL_BYTES");
}

/* ---- Winograd F(4x4, 3x3) ---- */

/* Winograd's result (fused where the sizes allow it, and unfused) and the
 * direct kernels' against the naive double loops: forward, dX (both halves of a concatenation, each alone and together) and
 * dW; its error bounded by WG_TOL of the largest value, and printed beside
 * the direct kernels' own. F(4x4, 3x3) in float: about 1e-5 at 256 input
 * channels, ten times the direct kernels' (its transforms' coefficients run
 * to 8 and 1/24). */
#define WG_TOL 5e-5

typedef struct {
    double wg, direct;
} errpair;

static void wg_track(errpair *e, int mode, double v)
{
    if (mode == 2)
        e->wg = fmax(e->wg, v);
    else
        e->direct = fmax(e->direct, v);
}

static void wg_case(int B, int C1, int C2, int H, int W, int OC, int bias, uint64_t seed)
{
    int C = C1 + C2;
    size_t n1 = (size_t)B * C1 * H * W, n2 = (size_t)B * C2 * H * W, nw = (size_t)OC * C * 9,
           no = (size_t)B * OC * H * W;
    double *in1 = dalloc(n1), *in2 = dalloc(n2), *w = dalloc(nw), *b = dalloc(OC), *R = dalloc(no);
    double *out = dalloc(no), *d1 = dalloc(n1), *d2 = dalloc(n2), *dw = dalloc(nw);
    float *fi1 = falloc(n1), *fi2 = falloc(n2), *fw = falloc(nw), *fb = falloc(OC), *fR = falloc(no);
    float *fo[3] = {falloc(no), falloc(no), falloc(no)}, *g1 = falloc(n1), *g2 = falloc(n2);
    float *gw = falloc(nw);
    errpair ef = {0, 0}, ex = {0, 0}, ew = {0, 0};
    rng r;
    rng_seed(&r, seed, 0);
    rand_fill(in1, fi1, n1, 1, &r);
    rand_fill(in2, fi2, n2, 1, &r);
    rand_fill(w, fw, nw, 0.3, &r);
    rand_fill(b, fb, OC, 0.5, &r);
    rand_fill(R, fR, no, 1, &r);
    ref_conv(out, in1, C1, in2, C2, w, bias ? b : NULL, B, H, W, OC, 3, 1, 1);
    memset(dw, 0, nw * sizeof(double));
    ref_conv_backward(d1, d2, dw, NULL, R, in1, C1, in2, C2, w, B, H, W, OC, 3, 1, 1);
    /* Winograd fused (where it applies), unfused, then the direct kernels */
    for (int k = 0; k < 3; k++) {
        int mode = k == 2 ? 0 : 2;
        nn_set_winograd(mode);
        nn_set_winograd_fused(k == 0);
        conv2d_cat_forward(fo[k], fi1, C1, C2 ? fi2 : NULL, C2, fw, bias ? fb : NULL, B, H, W,
                           OC, 3, 1, 1);
        wg_track(&ef, mode, max_rel_diff(fo[k], out, no));
        /* dX: both halves, then each alone (the other NULL) */
        for (int part = 0; part < (C2 ? 3 : 1); part++) {
            for (size_t i = 0; i < n1; i++)
                g1[i] = 7;
            for (size_t i = 0; i < n2; i++)
                g2[i] = 7;
            conv2d_cat_backward(part == 2 ? NULL : g1, part == 1 || !C2 ? NULL : g2, NULL, NULL,
                                fR, fi1, C1, C2 ? fi2 : NULL, C2, fw, B, H, W, OC, 3, 1, 1);
            if (part != 2)
                wg_track(&ex, mode, max_rel_diff(g1, d1, n1));
            if (part != 1 && C2)
                wg_track(&ex, mode, max_rel_diff(g2, d2, n2));
        }
        /* dW accumulates: from 1 */
        for (size_t i = 0; i < nw; i++)
            gw[i] = 1;
        conv2d_cat_backward(NULL, NULL, gw, NULL, fR, fi1, C1, C2 ? fi2 : NULL, C2, fw, B, H, W,
                            OC, 3, 1, 1);
        for (size_t i = 0; i < nw; i++)
            gw[i] -= 1;
        wg_track(&ew, mode, max_rel_diff(gw, dw, nw));
    }
    nn_set_winograd_fused(1);
    /* the Winograd path ran: its rounding differs from the direct kernels' */
    assert_true(memcmp(fo[1], fo[2], no * sizeof(float)) != 0);
    /* one thread gives the same bits as several (the same seed, the same model) */
    int nt0 = nn_threads();
    nn_set_winograd(2);
    nn_set_threads(1);
    conv2d_cat_forward(fo[1], fi1, C1, C2 ? fi2 : NULL, C2, fw, bias ? fb : NULL,
                       B, H, W, OC, 3, 1, 1);
    assert_memory_equal(fo[0], fo[1], no * sizeof(float));
    for (size_t i = 0; i < nw; i++)
        gw[i] = 1;
    conv2d_cat_backward(NULL, NULL, gw, NULL, fR, fi1, C1, C2 ? fi2 : NULL, C2, fw, B, H, W, OC, 3,
                        1, 1);
    float *gw1 = falloc(nw);
    memcpy(gw1, gw, nw * sizeof(float));
    nn_set_threads(3);
    for (size_t i = 0; i < nw; i++)
        gw[i] = 1;
    conv2d_cat_backward(NULL, NULL, gw, NULL, fR, fi1, C1, C2 ? fi2 : NULL, C2, fw, B, H, W, OC, 3,
                        1, 1);
    assert_memory_equal(gw, gw1, nw * sizeof(float));
    free(gw1);
    nn_set_threads(nt0);
    nn_set_winograd(1);
    print_message("winograd B%d C%d+%d %dx%d OC%d: rel error forward %.1e (direct %.1e), dX %.1e "
                  "(%.1e), dW %.1e (%.1e)\n",
                  B, C1, C2, H, W, OC, ef.wg, ef.direct, ex.wg, ex.direct, ew.wg, ew.direct);
    assert_true(ef.wg < WG_TOL);
    assert_true(ex.wg < WG_TOL);
    assert_true(ew.wg < WG_TOL);
    free(in1), free(in2), free(w), free(b), free(R), free(out), free(d1), free(d2), free(dw);
    free(fi1), free(fi2), free(fw), free(fb), free(fR), free(fo[0]), free(fo[1]), free(fo[2]), free(g1);
    free(g2), free(gw);
}

static void test_winograd(void **state)
{
    (void)state;
    if (nn_set_isa(NN_ISA_AVX512)) {
        print_message("no AVX-512: Winograd not available, skipped\n");
        return;
    }
    nn_set_winograd(2);
    wg_case(1, 3, 0, 5, 7, 4, 1, 51);     /* odd sizes: tiles past the edge */
    wg_case(2, 5, 3, 6, 9, 7, 0, 52);     /* a concatenation */
    wg_case(2, 4, 0, 7, 40, 6, 1, 53);    /* more than 16 tiles across */
    wg_case(3, 32, 0, 16, 16, 64, 0, 54); /* the shapes it is used on */
    wg_case(2, 64, 64, 8, 8, 64, 1, 55);
    wg_case(2, 128, 0, 4, 4, 96, 0, 56);
    wg_case(1, 16, 16, 33, 31, 8, 0, 57);
    wg_case(2, 128, 128, 8, 8, 32, 1, 58);  /* the error grows with the channels */
    nn_set_winograd(1);
    nn_set_isa(isa_list[n_isa - 1]);
}

/* ---- transposed convolution ---- */

typedef struct {
    int B, C, H, W, OC;
    double *in, *w, *b;
} convtcase;

static void convt_fwd_ref(void *ctx, double *out)
{
    convtcase *c = ctx;
    ref_convt(out, c->in, c->w, c->b, c->B, c->C, c->H, c->W, c->OC);
}

static void convt_case(int B, int C, int H, int W, int OC, int fd, uint64_t seed)
{
    convtcase c = {.B = B, .C = C, .H = H, .W = W, .OC = OC};
    size_t ni = (size_t)B * C * H * W, nw = (size_t)C * OC * 4, no = (size_t)B * OC * 4 * H * W;
    double *out = dalloc(no), *R = dalloc(no);
    float *fi = falloc(ni), *fw = falloc(nw), *fb = falloc(OC), *fo = falloc(no), *fR = falloc(no);
    float *gi = falloc(ni), *gw = falloc(nw), *gb = falloc(OC);
    rng r;
    rng_seed(&r, seed, 0);
    c.in = dalloc(ni), c.w = dalloc(nw), c.b = dalloc(OC);
    rand_fill(c.in, fi, ni, 1, &r);
    rand_fill(c.w, fw, nw, 0.5, &r);
    rand_fill(c.b, fb, OC, 0.5, &r);
    rand_fill(R, fR, no, 1, &r);
    for (int ii = 0; ii < n_isa; ii++) {
        nn_set_isa(isa_list[ii]);
        convt_fwd_ref(&c, out);
        convt2x2_forward(fo, fi, fw, fb, B, C, H, W, OC);
        double e = max_rel_diff(fo, out, no);
        if (e > FWD_TOL)
            fail_msg("convt %s forward: %.3g", nn_isa_name(nn_isa()), e);
        memset(gw, 0, nw * sizeof(float));
        memset(gb, 0, OC * sizeof(float));
        convt2x2_backward(gi, gw, gb, fR, fi, fw, B, C, H, W, OC);
        if (fd || ii == n_isa - 1) {
            print_message("convt2x2 B%d C%d %dx%d OC%d %s\n", B, C, H, W, OC,
                          nn_isa_name(nn_isa()));
            assert_true(fd_check("dinp", convt_fwd_ref, &c, out, no, R, c.in, ni, gi, 300) <
                        GRAD_TOL);
            assert_true(fd_check("dweight", convt_fwd_ref, &c, out, no, R, c.w, nw, gw, 300) <
                        GRAD_TOL);
            assert_true(fd_check("dbias", convt_fwd_ref, &c, out, no, R, c.b, OC, gb, 300) <
                        GRAD_TOL);
        }
    }
    free(out), free(R), free(fi), free(fw), free(fb), free(fo), free(fR), free(gi), free(gw);
    free(gb), free(c.in), free(c.w), free(c.b);
}

static void test_convt(void **state)
{
    (void)state;
    convt_case(2, 3, 3, 4, 5, 1, 41);
    convt_case(2, 32, 8, 8, 16, 0, 42);
    convt_case(3, 8, 4, 4, 24, 1, 43); /* the direct kernels, tiles across images */
    convt_case(2, 6, 4, 8, 8, 0, 44);
}

/* ---- normalisation ---- */

typedef struct {
    int B, C, HW, G, relu, gn;
    double *in, *gamma, *beta;
} normcase;

static void norm_fwd_ref(void *ctx, double *out)
{
    normcase *c = ctx;
    if (c->gn)
        ref_gn(out, c->in, c->gamma, c->beta, c->B, c->C, c->HW, c->G, 1e-5, c->relu);
    else
        ref_bn(out, c->in, c->gamma, c->beta, c->B, c->C, c->HW, 1e-5, c->relu, NULL, NULL);
}

static void norm_case(int gn, int B, int C, int HW, int G, int relu, uint64_t seed)
{
    normcase c = {.B = B, .C = C, .HW = HW, .G = G, .relu = relu, .gn = gn};
    size_t n = (size_t)B * C * HW;
    double *out = dalloc(n), *R = dalloc(n), *mean = dalloc(C), *var = dalloc(C);
    float *fi = falloc(n), *fo = falloc(n), *fR = falloc(n), *gi = falloc(n);
    float *fg = falloc(C), *fbt = falloc(C), *gg = falloc(C), *gbt = falloc(C);
    float *sm = falloc((size_t)B * C), *sr = falloc((size_t)B * C), *rm = falloc(C),
          *rv = falloc(C);
    rng r;
    rng_seed(&r, seed, 0);
    c.in = dalloc(n), c.gamma = dalloc(C), c.beta = dalloc(C);
    rand_fill(c.in, fi, n, 2, &r);
    for (size_t i = 0; i < n; i++) /* an offset per channel, as real activations have */
        c.in[i] += 3.0 * ((i / HW) % C), fi[i] = (float)c.in[i];
    rand_fill(c.gamma, fg, C, 1, &r);
    rand_fill(c.beta, fbt, C, 1, &r);
    rand_fill(R, fR, n, 1, &r);
    print_message("%s B%d C%d HW%d%s\n", gn ? "groupnorm" : "batchnorm", B, C, HW,
                  relu ? " +relu" : "");
    norm_fwd_ref(&c, out);
    for (int i = 0; i < C; i++)
        rm[i] = 0.5f, rv[i] = 2.0f;
    if (gn)
        groupnorm_forward(fo, sm, sr, fi, fg, fbt, B, C, HW, G, 1e-5f, relu);
    else
        batchnorm_forward(fo, sm, sr, rm, rv, fi, fg, fbt, B, C, HW, 0.1f, 1e-5f, 1, relu);
    double e = max_rel_diff(fo, out, n);
    print_message("  forward: rel diff %.3g\n", e);
    assert_true(e < FWD_TOL);
    if (!gn) { /* running statistics, PyTorch's rule */
        ref_bn(out, c.in, c.gamma, c.beta, B, C, HW, 1e-5, relu, mean, var);
        for (int i = 0; i < C; i++) {
            double nn = (double)B * HW;
            double em = 0.9 * 0.5 + 0.1 * mean[i], ev = 0.9 * 2.0 + 0.1 * var[i] * nn / (nn - 1);
            assert_true(fabs(rm[i] - em) < 1e-5 * (1 + fabs(em)));
            assert_true(fabs(rv[i] - ev) < 1e-5 * (1 + fabs(ev)));
        }
    }
    for (int i = 0; i < C; i++)
        gg[i] = gbt[i] = 0;
    if (gn)
        groupnorm_backward(gi, gg, gbt, fR, fi, fo, sm, sr, fg, B, C, HW, G, relu);
    else
        batchnorm_backward(gi, gg, gbt, fR, fi, fo, sm, sr, NULL, fg, B, C, HW, 1e-5f, 1, relu);
    assert_true(fd_check("dinp", norm_fwd_ref, &c, out, n, R, c.in, n, gi, 400) < GRAD_TOL);
    assert_true(fd_check("dgamma", norm_fwd_ref, &c, out, n, R, c.gamma, C, gg, 400) < GRAD_TOL);
    assert_true(fd_check("dbeta", norm_fwd_ref, &c, out, n, R, c.beta, C, gbt, 400) < GRAD_TOL);

    if (!gn) { /* inference: running statistics, the affine map and its gradient */
        for (int i = 0; i < C; i++)
            rm[i] = (float)(0.3 * i), rv[i] = (float)(1.0 + 0.5 * i);
        batchnorm_forward(fo, NULL, NULL, rm, rv, fi, fg, fbt, B, C, HW, 0.1f, 1e-5f, 0, relu);
        for (int ch = 0; ch < C; ch++)
            for (int b = 0; b < B; b++)
                for (int i = 0; i < HW; i++) {
                    long o = ((long)b * C + ch) * HW + i;
                    double v = (c.in[o] - rm[ch]) / sqrt(rv[ch] + 1e-5) * c.gamma[ch] + c.beta[ch];
                    out[o] = relu && v < 0 ? 0 : v;
                }
        e = max_rel_diff(fo, out, n);
        assert_true(e < FWD_TOL);
        batchnorm_backward(gi, NULL, NULL, fR, fi, fo, rm, NULL, rv, fg, B, C, HW, 1e-5f, 0, relu);
        for (size_t i = 0; i < n; i++) {
            int ch = (int)((i / HW) % C);
            double d = (relu && !(fo[i] > 0)) ? 0 : R[i] * c.gamma[ch] / sqrt(rv[ch] + 1e-5);
            out[i] = d;
        }
        e = max_rel_diff(gi, out, n);
        print_message("  inference forward/backward ok (%.3g)\n", e);
        assert_true(e < FWD_TOL);
    }
    free(out), free(R), free(mean), free(var), free(fi), free(fo), free(fR), free(gi), free(fg);
    free(fbt), free(gg), free(gbt), free(sm), free(sr), free(rm), free(rv), free(c.in);
    free(c.gamma), free(c.beta);
}

static void test_norm(void **state)
{
    (void)state;
    for (int ii = 0; ii < n_isa; ii++) {
        nn_set_isa(isa_list[ii]);
        print_message("-- %s\n", nn_isa_name(nn_isa()));
        norm_case(0, 2, 3, 20, 1, 0, 51);
        norm_case(0, 3, 4, 12, 1, 1, 52);
        norm_case(0, 2, 3, 1100, 1, 1, 56); /* vector paths, 1024-element chunks */
        norm_case(1, 2, 6, 10, 3, 0, 53);
        norm_case(1, 2, 8, 9, 2, 1, 54);
        norm_case(1, 1, 4, 16, 4, 1, 55);
        norm_case(1, 2, 4, 1040, 2, 1, 57);
    }
    nn_set_isa(isa_list[n_isa - 1]);
}

/* Optimiser updates on every instruction set against PyTorch's formulas in
 * double (torch_ref.py checks torch.optim itself on the default one). */
static void test_optim_isa(void **state)
{
    (void)state;
    int n = 1000, steps = 4;
    rng r;
    rng_seed(&r, 81, 0);
    double *p0 = dalloc(n), *g = dalloc((size_t)n * steps);
    float *pf = falloc(n), *gf = falloc((size_t)n * steps);
    rand_fill(p0, pf, n, 1, &r);
    rand_fill(g, gf, (size_t)n * steps, 1, &r);
    for (int kind = 0; kind < 3; kind++)
        for (int nest = 0; nest <= (kind == 0); nest++) {
            double lr = 0.01, wd = 1e-4, mom = 0.9, b1 = 0.9, b2 = 0.999, eps = 1e-8;
            double *p = dalloc(n), *m = dalloc(n), *v = dalloc(n);
            memcpy(p, p0, n * sizeof(double));
            for (int t = 1; t <= steps; t++)
                for (int i = 0; i < n; i++) {
                    double gi = g[(long)(t - 1) * n + i];
                    if (kind == 0) {
                        gi += wd * p[i];
                        m[i] = t == 1 ? gi : mom * m[i] + gi;
                        p[i] -= lr * (nest ? gi + mom * m[i] : m[i]);
                    } else {
                        if (kind == 2)
                            p[i] *= 1 - lr * wd;
                        else
                            gi += wd * p[i];
                        m[i] = b1 * m[i] + (1 - b1) * gi;
                        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
                        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
                        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
                    }
                }
            for (int ii = 0; ii < n_isa; ii++) {
                pblock pb;
                optim_config oc;
                int64_t shape[1] = {n};
                nn_set_isa(isa_list[ii]);
                pblock_init(&pb);
                pblock_add(&pb, "p", PARAM_TRAIN, 1, shape);
                assert_int_equal(pblock_alloc(&pb), 0);
                memcpy(pb.data, pf, n * sizeof(float));
                optim_config_default(&oc, (optim_kind)kind);
                oc.nesterov = nest;
                optim *o = optim_create(&oc, &pb);
                for (int t = 0; t < steps; t++) {
                    memcpy(pb.grad, gf + (long)t * n, n * sizeof(float));
                    optim_step(o, lr);
                }
                double e = 0, moved = 0;
                for (int i = 0; i < n; i++) {
                    e = fmax(e, fabs(pb.data[i] - p[i]));
                    moved = fmax(moved, fabs(p[i] - p0[i]));
                }
                /* float parameters near 1 carry ~1e-7 of rounding per step */
                if (e > 2e-5 * moved + 1e-6)
                    fail_msg("%s%s on %s: max |diff| %.3g of a move of %.3g",
                             optim_kind_name((optim_kind)kind), nest ? " nesterov" : "",
                             nn_isa_name(nn_isa()), e, moved);
                optim_free(o);
                pblock_free(&pb);
            }
            print_message("%s%s: every instruction set within 2e-5 of the move + 1e-6\n",
                          optim_kind_name((optim_kind)kind), nest ? " nesterov" : "");
            free(p), free(m), free(v);
        }
    nn_set_isa(isa_list[n_isa - 1]);
    free(p0), free(g), free(pf), free(gf);
}

/* Learning-rate schedules: the formulas of optim.h at their corners. */
static void test_schedules(void **state)
{
    (void)state;
    sched_config c = {SCHED_COSINE, 0.1, 0.001, 110, 10, 0, 0};
    assert_true(fabs(sched_lr(&c, 0) - 0.01) < 1e-12);      /* warm-up from lr / warmup */
    assert_true(fabs(sched_lr(&c, 9) - 0.1) < 1e-12);       /* end of warm-up */
    assert_true(fabs(sched_lr(&c, 10) - 0.1) < 1e-12);      /* cosine starts at base */
    assert_true(fabs(sched_lr(&c, 60) - 0.0505) < 1e-12);   /* half way: the mean */
    assert_true(fabs(sched_lr(&c, 110) - 0.001) < 1e-12);   /* the floor */
    assert_true(fabs(sched_lr(&c, 500) - 0.001) < 1e-12);   /* and after */
    sched_config st = {SCHED_STEP, 0.1, 0, 0, 0, 30, 0.1};
    assert_true(fabs(sched_lr(&st, 29) - 0.1) < 1e-12);
    assert_true(fabs(sched_lr(&st, 30) - 0.01) < 1e-12);
    assert_true(fabs(sched_lr(&st, 65) - 0.001) < 1e-12);
    sched_config k = {SCHED_CONST, 0.5, 0, 0, 0, 0, 0};
    assert_true(sched_lr(&k, 12345) == 0.5);
    sched_kind sk;
    assert_int_equal(sched_kind_parse("cosine", &sk), 0);
    assert_int_equal(sk, SCHED_COSINE);
    assert_int_equal(sched_kind_parse("linear", &sk), -1);
    assert_non_null(strstr(err_get(), "unknown schedule 'linear'"));
}

/* ---- relu, maxpool, concat, avgpool, add, linear ---- */

typedef struct {
    int B, C, H, W, IN, OUT;
    double *in, *in2, *w, *b;
} misccase;

static void maxpool_fwd_ref(void *ctx, double *out)
{
    misccase *c = ctx;
    ref_maxpool(out, c->in, c->B, c->C, c->H, c->W);
}

static void linear_fwd_ref(void *ctx, double *out)
{
    misccase *c = ctx;
    ref_linear(out, c->in, c->w, c->b, c->B, c->IN, c->OUT);
}

static void avgpool_fwd_ref(void *ctx, double *out)
{
    misccase *c = ctx;
    for (int p = 0; p < c->B * c->C; p++) {
        double s = 0;
        for (int i = 0; i < c->H * c->W; i++)
            s += c->in[(long)p * c->H * c->W + i];
        out[p] = s / (c->H * c->W);
    }
}

static void relu_fwd_ref(void *ctx, double *out)
{
    misccase *c = ctx;
    for (long i = 0; i < (long)c->B * c->C * c->H * c->W; i++)
        out[i] = c->in[i] > 0 ? c->in[i] : 0;
}

static void test_misc(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 61, 0);
    for (int ii = 0; ii < n_isa; ii++) {
        nn_set_isa(isa_list[ii]);
        misccase c = {.B = 2, .C = 3, .H = 6, .W = 40}; /* 20 outputs a row: vector + tail */
        size_t n = 2 * 3 * 6 * 40, no = n / 4;
        double *out = dalloc(n), *R = dalloc(n);
        float *fi = falloc(n), *fo = falloc(n), *fR = falloc(n), *gi = falloc(n);
        c.in = dalloc(n);
        rand_fill(c.in, fi, n, 1, &r);
        rand_fill(R, fR, n, 1, &r);
        print_message("maxpool2x2, relu, avgpool B2 C3 6x40, %s\n", nn_isa_name(nn_isa()));
        maxpool_fwd_ref(&c, out);
        maxpool2x2_forward(fo, fi, 2, 3, 6, 40);
        assert_true(max_rel_diff(fo, out, no) == 0);
        maxpool2x2_backward(gi, fR, fi, fo, 2, 3, 6, 40);
        assert_true(fd_check("maxpool dinp", maxpool_fwd_ref, &c, out, no, R, c.in, n, gi, 400) <
                    GRAD_TOL);
        /* ties: the first maximum of the window takes the gradient (PyTorch) */
        {
            float t[4] = {1, 2, 2, 0}, o, g = 5, d[4];
            maxpool2x2_forward(&o, t, 1, 1, 2, 2);
            maxpool2x2_backward(d, &g, t, &o, 1, 1, 2, 2);
            assert_true(o == 2 && d[0] == 0 && d[1] == 5 && d[2] == 0 && d[3] == 0);
        }
        relu_fwd_ref(&c, out);
        relu_forward(fo, fi, n);
        assert_true(max_rel_diff(fo, out, n) == 0);
        relu_backward(gi, fR, fo, n);
        assert_true(fd_check("relu dinp", relu_fwd_ref, &c, out, n, R, c.in, n, gi, 400) <
                    GRAD_TOL);
        relu_backward(fo, fR, fo, n); /* in place */
        assert_memory_equal(fo, gi, n * sizeof(float));
        avgpool_fwd_ref(&c, out);
        avgpool_forward(fo, fi, 2, 3, 240);
        assert_true(max_rel_diff(fo, out, 6) < FWD_TOL);
        avgpool_backward(gi, fR, 2, 3, 240);
        assert_true(fd_check("avgpool dinp", avgpool_fwd_ref, &c, out, 6, R, c.in, n, gi, 400) <
                    GRAD_TOL);
        /* concat and add: exact */
        float *cat = falloc(2 * n), *da = falloc(n), *db = falloc(n);
        concat_forward(cat, fi, fR, 2, 3, 3, 240);
        assert_memory_equal(cat + 3 * 240, fR, 3 * 240 * sizeof(float));
        assert_memory_equal(cat + 6 * 240, fi + 3 * 240, 3 * 240 * sizeof(float));
        concat_backward(da, db, cat, 2, 3, 3, 240);
        assert_memory_equal(da, fi, n * sizeof(float));
        assert_memory_equal(db, fR, n * sizeof(float));
        add_forward(da, fi, fR, n);
        add_inplace(db, fi, n);
        for (size_t i = 0; i < n; i++)
            assert_true(da[i] == fi[i] + fR[i] && db[i] == da[i]);
        free(cat), free(da), free(db);
        free(out), free(R), free(fi), free(fo), free(fR), free(gi), free(c.in);
    }
    for (int ii = 0; ii < n_isa; ii++) {
        misccase c = {.B = 5, .IN = 37, .OUT = 19};
        size_t ni = 5 * 37, nw = 37 * 19, no = 5 * 19;
        double *out = dalloc(no), *R = dalloc(no);
        float *fi = falloc(ni), *fw = falloc(nw), *fb = falloc(19), *fo = falloc(no),
              *fR = falloc(no), *gi = falloc(ni), *gw = falloc(nw), *gb = falloc(19);
        nn_set_isa(isa_list[ii]);
        c.in = dalloc(ni), c.w = dalloc(nw), c.b = dalloc(19);
        rand_fill(c.in, fi, ni, 1, &r);
        rand_fill(c.w, fw, nw, 0.3, &r);
        rand_fill(c.b, fb, 19, 1, &r);
        rand_fill(R, fR, no, 1, &r);
        print_message("linear 37 -> 19, B5, %s\n", nn_isa_name(nn_isa()));
        linear_fwd_ref(&c, out);
        linear_forward(fo, fi, fw, fb, 5, 37, 19);
        assert_true(max_rel_diff(fo, out, no) < FWD_TOL);
        linear_backward(gi, gw, gb, fR, fi, fw, 5, 37, 19);
        assert_true(fd_check("dinp", linear_fwd_ref, &c, out, no, R, c.in, ni, gi, 400) <
                    GRAD_TOL);
        assert_true(fd_check("dweight", linear_fwd_ref, &c, out, no, R, c.w, nw, gw, 800) <
                    GRAD_TOL);
        assert_true(fd_check("dbias", linear_fwd_ref, &c, out, no, R, c.b, 19, gb, 400) <
                    GRAD_TOL);
        free(out), free(R), free(fi), free(fw), free(fb), free(fo), free(fR), free(gi), free(gw);
        free(gb), free(c.in), free(c.w), free(c.b);
    }
    nn_set_isa(isa_list[n_isa - 1]);
}

/* Max pooling on rows long enough for the vector paths, with ties and NaN:
 * against the plainest loop (PyTorch's rule: the first maximum in row-major
 * window order takes the gradient; NaN wins). */
static void test_maxpool_ties(void **state)
{
    (void)state;
    int B = 2, C = 3, H = 6, W = 72, n = B * C * H * W, no = n / 4;
    float *x = falloc(n), *o = falloc(no), *g = falloc(no), *d = falloc(n);
    rng r;
    rng_seed(&r, 71, 0);
    for (int i = 0; i < n; i++)
        x[i] = (float)(int)(rng_uniform(&r) * 4); /* 0..3: many ties */
    x[5] = NAN, x[W + 9] = NAN;
    for (int i = 0; i < no; i++)
        g[i] = (float)(i + 1);
    for (int ii = 0; ii < n_isa; ii++) {
        nn_set_isa(isa_list[ii]);
        maxpool2x2_forward(o, x, B, C, H, W);
        maxpool2x2_backward(d, g, x, o, B, C, H, W);
        for (int p = 0; p < B * C; p++)
            for (int y = 0; y < H / 2; y++)
                for (int xo = 0; xo < W / 2; xo++) {
                    const float *w0 = x + ((long)p * H + 2 * y) * W + 2 * xo, *w1 = w0 + W;
                    float v[4] = {w0[0], w0[1], w1[0], w1[1]}, m = v[0];
                    int k = 0;
                    for (int t = 1; t < 4; t++)
                        if (v[t] > m || (v[t] != v[t] && m == m))
                            m = v[t], k = t;
                    long oi = ((long)p * (H / 2) + y) * (W / 2) + xo;
                    assert_true(o[oi] == m || (m != m && o[oi] != o[oi]));
                    float *dw0 = d + ((long)p * H + 2 * y) * W + 2 * xo, *dw1 = dw0 + W;
                    float dv[4] = {dw0[0], dw0[1], dw1[0], dw1[1]};
                    for (int t = 0; t < 4; t++)
                        assert_true(dv[t] == (t == k ? g[oi] : 0.0f));
                }
    }
    print_message("max pool with ties and NaN: ok on every instruction set\n");
    nn_set_isa(isa_list[n_isa - 1]);
    free(x), free(o), free(g), free(d);
}

static void test_isa_and_threads(void **state)
{
    (void)state;
    print_message("instruction sets: ");
    for (int i = 0; i < n_isa; i++)
        print_message("%s ", nn_isa_name(isa_list[i]));
    print_message("(using %s), %d threads\n", nn_isa_name(nn_isa()), nn_threads());
    assert_int_equal(nn_set_isa(7), -1);
    nn_set_threads(1);
    assert_int_equal(nn_threads(), 1);
    nn_set_threads(2);
    /* a forked child (a filter's helper process) runs kernels and exits cleanly */
    {
        static float a[128 * 128], c[128 * 128];
        for (int i = 0; i < 128 * 128; i++)
            a[i] = 1;
        nn_gemm(0, 0, 128, 128, 128, 1, a, 128, a, 128, 0, c, 128, 1);
        pid_t p = fork();
        if (p == 0) {
            nn_gemm(0, 0, 128, 128, 128, 1, a, 128, a, 128, 0, c, 128, 1);
            exit(c[0] == 128 ? 0 : 3); /* atexit handlers run: the pool's too */
        }
        int st = 0;
        assert_true(p > 0 && waitpid(p, &st, 0) == p);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* ---- the thread pool: every item exactly once, however claims group them ---- */

typedef struct {
    _Atomic int *hits;
    _Atomic int other; /* items run by a thread other than the caller */
} par_count;

static void count_task(void *ctx, long i, int tid)
{
    par_count *c = ctx;
    atomic_fetch_add(&c->hits[i], 1);
    if (tid)
        atomic_fetch_add(&c->other, 1);
}

/* add_relu_forward and relu_backward2 against the two calls they fuse, bit
 * for bit, over several chunks and a tail, one and two threads */
static void test_fused_ew(void **state)
{
    (void)state;
    rng r;
    rng_seed(&r, 67, 0);
    size_t n = 3 * 16384 + 77;
    float *a = falloc(n), *b = falloc(n), *y = falloc(n), *p = falloc(n), *q = falloc(n),
          *ref = falloc(n);
    int nt0 = nn_threads();
    for (size_t i = 0; i < n; i++)
        a[i] = (float)rng_normal(&r), b[i] = (float)rng_normal(&r);
    for (int ii = 0; ii < n_isa; ii++)
        for (int t = 1; t <= 2; t++) {
            nn_set_isa(isa_list[ii]);
            nn_set_threads(t);
            add_forward(ref, a, b, n);
            relu_forward(ref, ref, n);
            add_relu_forward(y, a, b, n);
            assert_memory_equal(y, ref, n * sizeof(float));
            relu_backward(ref, a, y, n);
            memcpy(p, a, n * sizeof(float));
            relu_backward2(p, q, p, y, n); /* in place, as a residual block calls it */
            assert_memory_equal(p, ref, n * sizeof(float));
            assert_memory_equal(q, ref, n * sizeof(float));
        }
    nn_set_threads(nt0);
    free(a), free(b), free(y), free(p), free(q), free(ref);
}

static void test_parallel_items(void **state)
{
    (void)state;
    const long ns[] = {0, 1, 2, 3, 15, 16, 17, 100, 4099, (1L << 20) + 5}; /* past one ticket's 2^20 */
    const long works[] = {0, 1, 1000, 1L << 20};
    _Atomic int *hits = calloc((1L << 20) + 5, sizeof *hits);
    assert_non_null(hits);
    nn_set_threads(2);
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
        for (size_t b = 0; b < sizeof works / sizeof *works; b++) {
            long n = ns[a], w = works[b];
            par_count c = {hits, 0};
            memset(hits, 0, (size_t)(n ? n : 1) * sizeof *hits);
            if (w)
                nn_parallel_work(n, w, count_task, &c);
            else
                nn_parallel(n, count_task, &c);
            for (long i = 0; i < n; i++)
                if (hits[i] != 1)
                    fail_msg("n %ld, work %ld: item %ld ran %d times", n, w, i, (int)hits[i]);
            /* little work stays on the caller: 100 items of 1 unit is far below the cut */
            if (w && (double)n * w <= 100 * 1000)
                assert_int_equal(c.other, 0);
        }
    free(hits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_isa_and_threads), cmocka_unit_test(test_gemm),
        cmocka_unit_test(test_conv_fd),         cmocka_unit_test(test_conv_naive),
        cmocka_unit_test(test_conv_general),
        cmocka_unit_test(test_convt),           cmocka_unit_test(test_norm),
        cmocka_unit_test(test_misc),            cmocka_unit_test(test_maxpool_ties),
        cmocka_unit_test(test_optim_isa),       cmocka_unit_test(test_schedules),
        cmocka_unit_test(test_winograd),        cmocka_unit_test(test_parallel_items),
        cmocka_unit_test(test_fused_ew),
    };
    find_isas();
    setenv("LRCPIPE_STREAM_MIN", "100000", 1); /* outputs over 100 KB stream */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
