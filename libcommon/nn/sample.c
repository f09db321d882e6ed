/* The resampling layers of nn.h that torchvision's ResNet stem and its
 * decoder need: max pooling 3x3 / 2 (padding 1) and 2x bilinear
 * up-sampling (align_corners = False), forward and backward, one plane per
 * task. */
#include <math.h>

#include "nn/internal.h"
#include "nn/nn.h"

typedef struct {
    float *out;
    const float *inp;
    int H, W;
} plane_job;

/* The first maximum of the 3x3 window at output (oy, ox), in row-major scan
 * order over the window clipped to the image (PyTorch's CPU rule). */
static long window_argmax(const float *x, int H, int W, int oy, int ox)
{
    long best = -1;
    float m = 0;
    for (int iy = 2 * oy - 1; iy <= 2 * oy + 1; iy++)
        for (int ix = 2 * ox - 1; ix <= 2 * ox + 1; ix++)
            if (iy >= 0 && iy < H && ix >= 0 && ix < W && (best < 0 || x[(long)iy * W + ix] > m)) {
                best = (long)iy * W + ix;
                m = x[best];
            }
    return best;
}

static void mp_fwd_task(void *ctx, long p, int tid)
{
    const plane_job *j = ctx;
    const int H = j->H, W = j->W, OH = (H - 1) / 2 + 1, OW = (W - 1) / 2 + 1;
    const float *x = j->inp + p * H * W;
    float *o = j->out + p * OH * OW;
    (void)tid;
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++)
            o[(long)oy * OW + ox] = x[window_argmax(x, H, W, oy, ox)];
}

void maxpool3x3s2_forward(float *out, const float *inp, int B, int C, int H, int W)
{
    plane_job j = {out, inp, H, W};
    nn_parallel_work((long)B * C, 2L * H * W, mp_fwd_task, &j);
}

typedef struct {
    float *dinp;
    const float *dout, *inp;
    int H, W;
} mp_bwd_job;

static void mp_bwd_task(void *ctx, long p, int tid)
{
    const mp_bwd_job *j = ctx;
    const int H = j->H, W = j->W, OH = (H - 1) / 2 + 1, OW = (W - 1) / 2 + 1;
    const float *x = j->inp + p * H * W, *d = j->dout + p * OH * OW;
    float *dx = j->dinp + p * H * W;
    (void)tid;
    for (long i = 0; i < (long)H * W; i++)
        dx[i] = 0;
    for (int oy = 0; oy < OH; oy++)
        for (int ox = 0; ox < OW; ox++)
            dx[window_argmax(x, H, W, oy, ox)] += d[(long)oy * OW + ox];
}

void maxpool3x3s2_backward(float *dinp, const float *dout, const float *inp, int B, int C, int H, int W)
{
    mp_bwd_job j = {dinp, dout, inp, H, W};
    nn_parallel_work((long)B * C, 3L * H * W, mp_bwd_task, &j);
}

/* Output index o of 2n reads input lo with weight 1 - l and hi with l:
 * source position max((o + 0.5) / 2 - 0.5, 0), as PyTorch computes it. */
static void up_index(int o, int n, int *lo, int *hi, float *l)
{
    double src = (o + 0.5) / 2 - 0.5;
    if (src < 0)
        src = 0;
    *lo = (int)src;
    *hi = *lo < n - 1 ? *lo + 1 : *lo;
    *l = (float)(src - *lo);
}

static void up_fwd_task(void *ctx, long p, int tid)
{
    const plane_job *j = ctx;
    const int H = j->H, W = j->W;
    const float *x = j->inp + p * H * W;
    float *o = j->out + p * 4 * H * W;
    (void)tid;
    for (int oy = 0; oy < 2 * H; oy++) {
        int y0, y1;
        float ly;
        up_index(oy, H, &y0, &y1, &ly);
        for (int ox = 0; ox < 2 * W; ox++) {
            int x0, x1;
            float lx;
            up_index(ox, W, &x0, &x1, &lx);
            const float *r0 = x + (long)y0 * W, *r1 = x + (long)y1 * W;
            o[(long)oy * 2 * W + ox] =
                (1 - ly) * ((1 - lx) * r0[x0] + lx * r0[x1]) + ly * ((1 - lx) * r1[x0] + lx * r1[x1]);
        }
    }
}

void upsample2x_forward(float *out, const float *inp, int B, int C, int H, int W)
{
    plane_job j = {out, inp, H, W};
    nn_parallel_work((long)B * C, 5L * H * W, up_fwd_task, &j);
}

static void up_bwd_task(void *ctx, long p, int tid)
{
    const plane_job *j = ctx; /* out = dinp, inp = dout */
    const int H = j->H, W = j->W;
    const float *d = j->inp + p * 4 * H * W;
    float *dx = j->out + p * H * W;
    (void)tid;
    for (long i = 0; i < (long)H * W; i++)
        dx[i] = 0;
    for (int oy = 0; oy < 2 * H; oy++) {
        int y0, y1;
        float ly;
        up_index(oy, H, &y0, &y1, &ly);
        for (int ox = 0; ox < 2 * W; ox++) {
            int x0, x1;
            float lx, g = d[(long)oy * 2 * W + ox];
            up_index(ox, W, &x0, &x1, &lx);
            dx[(long)y0 * W + x0] += (1 - ly) * (1 - lx) * g;
            dx[(long)y0 * W + x1] += (1 - ly) * lx * g;
            dx[(long)y1 * W + x0] += ly * (1 - lx) * g;
            dx[(long)y1 * W + x1] += ly * lx * g;
        }
    }
}

void upsample2x_backward(float *dinp, const float *dout, int B, int C, int H, int W)
{
    plane_job j = {dinp, dout, H, W};
    nn_parallel_work((long)B * C, 5L * H * W, up_bwd_task, &j);
}
