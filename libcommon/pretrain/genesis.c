#include "pretrain/genesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

enum { ENC, DEC, HEAD };
/* work buffers (eg_scratch) */
enum { S_Y, S_ROWS, S_DOUT, S_DROWS, S_DFEAT };

int genesis_rates_check(const double *rates)
{
    for (int i = 0; i < 5; i++)
        if (!(rates[i] >= 0 && rates[i] <= 1))
            return err_set("genesis: rate %d is %g, not a probability in [0, 1]", i + 1, rates[i]);
    return 0;
}

static int uniform_int(rng *r, int lo, int hi) /* [lo, hi] */
{
    return lo + (int)rng_below(r, (uint64_t)(hi - lo + 1));
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* np.interp(v, xs, ys), xs ascending (n >= 2) */
static double interp(double v, const double *xs, const double *ys, int n)
{
    if (v != v)
        return v;
    if (v < xs[0])
        return ys[0];
    if (v >= xs[n - 1])
        return ys[n - 1];
    int lo = 0, hi = n - 1; /* xs[lo] <= v < xs[hi] */
    while (hi - lo > 1) {
        int mid = lo + (hi - lo) / 2;
        if (xs[mid] <= v)
            lo = mid;
        else
            hi = mid;
    }
    if (xs[lo] == v)
        return ys[lo];
    return (ys[lo + 1] - ys[lo]) / (xs[lo + 1] - xs[lo]) * (v - xs[lo]) + ys[lo];
}

int genesis_curve(float *out, const float *in, size_t n, const double pts[4], int reverse)
{
    const int N = GENESIS_CURVE;
    double *xs = malloc(2 * sizeof(double) * N), *ys = xs + N;
    if (!xs)
        return err_set("out of memory (the intensity curve)");
    /* bernstein_poly(i, 3, t) = C(3, i) t^(3-i) (1-t)^i on the points
     * (0,0), (x1,y1), (x2,y2), (1,1) */
    for (int i = 0; i < N; i++) {
        double t = (double)i / (N - 1), s = 1 - t;
        double b1 = 3 * t * t * s, b2 = 3 * t * s * s, b3 = s * s * s;
        xs[i] = b1 * pts[0] + b2 * pts[2] + b3;
        ys[i] = b1 * pts[1] + b2 * pts[3] + b3;
    }
    qsort(xs, N, sizeof *xs, cmp_double);
    if (!reverse)
        qsort(ys, N, sizeof *ys, cmp_double);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)interp(in[i], xs, ys, N);
    free(xs);
    return 0;
}

/* img reversed along axis 0 (rows) or 1 (columns), in place */
static void flip(float *img, int H, int W, int axis)
{
    for (int y = 0; y < (axis ? H : H / 2); y++)
        for (int x = 0; x < (axis ? W / 2 : W); x++) {
            float *a = img + (size_t)y * W + x,
                  *b = axis ? img + (size_t)y * W + (W - 1 - x) : img + (size_t)(H - 1 - y) * W + x, t = *a;
            *a = *b;
            *b = t;
        }
}

/* local pixel shuffling of x (H, W) in place; orig and idx are work
 * buffers of H W and (H / 10) (W / 10) */
static void shuffle(float *x, float *orig, int *idx, int H, int W, rng *r, genesis_draw *d)
{
    const size_t HW = (size_t)H * W;
    memcpy(orig, x, HW * sizeof(float));
    if (d && d->src)
        for (size_t i = 0; i < HW; i++)
            d->src[i] = (int32_t)i;
    for (int k = 0; k < GENESIS_BLOCKS; k++) {
        const int h = uniform_int(r, 1, H / 10), w = uniform_int(r, 1, W / 10);
        const int y0 = uniform_int(r, 0, H - h), x0 = uniform_int(r, 0, W - w), n = h * w;
        if (d && d->windows)
            memcpy(d->windows + 4 * k, (int[]){y0, x0, h, w}, 4 * sizeof(int));
        for (int i = 0; i < n; i++)
            idx[i] = (y0 + i / w) * W + x0 + i % w;
        for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)rng_below(r, (uint64_t)i + 1), t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        /* window pixel i takes the unshuffled pixel idx[i] */
        for (int i = 0; i < n; i++) {
            const size_t p = (size_t)(y0 + i / w) * W + x0 + i % w;
            x[p] = orig[idx[i]];
            if (d && d->src)
                d->src[p] = idx[i];
        }
    }
}

static void fill_box(float *x, int W, const int b[4], rng *r)
{
    for (int y = b[0]; y < b[0] + b[2]; y++)
        for (int i = b[1]; i < b[1] + b[3]; i++)
            x[(size_t)y * W + i] = (float)rng_uniform(r);
}

static void copy_box(float *x, const float *from, int W, const int b[4])
{
    for (int y = b[0]; y < b[0] + b[2]; y++)
        memcpy(x + (size_t)y * W + b[1], from + (size_t)y * W + b[1], (size_t)b[3] * sizeof(float));
}

/* A painting box: an in-painting one filled at random, an out-painting
 * one given back the image before the painting (orig). */
static void paint_box(float *x, const float *orig, int H, int W, int outer, rng *r, genesis_draw *d)
{
    int b[4];
    if (outer) {
        b[2] = H - uniform_int(r, 3 * H / 7, 4 * H / 7);
        b[3] = W - uniform_int(r, 3 * W / 7, 4 * W / 7);
    } else {
        b[2] = uniform_int(r, H / 6, H / 3);
        b[3] = uniform_int(r, W / 6, W / 3);
    }
    b[0] = uniform_int(r, 3, H - b[2] - 3);
    b[1] = uniform_int(r, 3, W - b[3] - 3);
    if (outer)
        copy_box(x, orig, W, b);
    else
        fill_box(x, W, b, r);
    if (d)
        memcpy(d->box[d->nbox++], b, sizeof b);
}

/* in-painting (outer 0) or out-painting (outer 1) of x (H, W) in place;
 * orig a work buffer of H W */
static void paint(float *x, float *orig, int H, int W, int outer, rng *r, genesis_draw *d)
{
    const size_t HW = (size_t)H * W;
    if (d)
        d->paint = outer ? GENESIS_OUTPAINTED : GENESIS_INPAINT;
    if (outer) {
        memcpy(orig, x, HW * sizeof(float));
        for (size_t i = 0; i < HW; i++)
            x[i] = (float)rng_uniform(r);
        paint_box(x, orig, H, W, 1, r, d);
    }
    for (int cnt = outer ? 4 : 5; cnt > 0 && rng_uniform(r) < 0.95; cnt--)
        paint_box(x, orig, H, W, outer, r, d);
}

int genesis_transform(float *x, float *y, const float *img, int H, int W, const double *rates, rng *r,
                      genesis_draw *d)
{
    const size_t HW = (size_t)H * W;
    if (H < 16 || W < 16)
        return err_set("genesis: slices of %dx%d; the transformations need at least 16x16", H, W);
    float *orig = malloc(HW * sizeof(float));
    int *idx = malloc(sizeof(int) * (size_t)(H / 10) * (W / 10)), rc = 0;
    if (!orig || !idx) {
        free(orig);
        free(idx);
        return err_set("out of memory");
    }
    if (d) {
        int *win = d->windows;
        int32_t *src = d->src;
        memset(d, 0, sizeof *d);
        d->windows = win, d->src = src;
    }
    memcpy(y, img, HW * sizeof(float));
    for (int n = 0; n < 3 && rng_uniform(r) < rates[GENESIS_FLIP]; n++) {
        int axis = (int)rng_below(r, 2);
        flip(y, H, W, axis);
        if (d)
            d->flip_axis[d->nflip++] = axis;
    }
    memcpy(x, y, HW * sizeof(float));
    if (rng_uniform(r) < rates[GENESIS_LOCAL]) {
        shuffle(x, orig, idx, H, W, r, d);
        if (d)
            d->shuffle = 1;
    } else if (d && d->src) {
        for (size_t i = 0; i < HW; i++)
            d->src[i] = (int32_t)i;
    }
    if (rng_uniform(r) < rates[GENESIS_NONLINEAR]) {
        double pts[4];
        for (int i = 0; i < 4; i++)
            pts[i] = rng_uniform(r);
        int reverse = rng_uniform(r) < 0.5;
        rc = genesis_curve(x, x, HW, pts, reverse);
        if (d) {
            d->nonlinear = 1, d->reverse = reverse;
            memcpy(d->pts, pts, sizeof pts);
        }
    }
    if (!rc && rng_uniform(r) < rates[GENESIS_PAINT])
        paint(x, orig, H, W, rng_uniform(r) < rates[GENESIS_OUTPAINT], r, d);
    free(orig);
    free(idx);
    return rc;
}

const float *genesis_batch(const eg_trainer *t, int which)
{
    return which ? t->scr[S_Y] : t->x;
}

static int gen_init(eg_trainer *t)
{
    resdec_config dc;
    if (genesis_rates_check(t->c.genesis_rates))
        return -1;
    resdec_config_for(&t->c.enc, &dc);
    proj_config pc = {.dims = {dc.out_ch}};
    proj_config_add(&pc, 1, 1, PROJ_NO_BN, 0);
    if (eg_add_resnet(t, "", "optim.", &t->c.enc) != ENC || eg_add_resdec(t, "dg.", "optim_dg.", &dc) != DEC ||
        eg_add_proj(t, "head.", "optim_head.", &pc, 0) != HEAD)
        return -1;
    return 0;
}

/* rows (n P, C) <- map (n, C, P), or back with to_map */
static void transpose(float *rows, float *map, int n, int C, size_t P, int to_map)
{
    for (int b = 0; b < n; b++)
        for (int c = 0; c < C; c++) {
            float *m = map + ((size_t)b * C + c) * P, *r = rows + (size_t)b * P * C + c;
            for (size_t p = 0; p < P; p++)
                if (to_map)
                    m[p] = r[p * C];
                else
                    r[p * C] = m[p];
        }
}

static int gen_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    const int H = pairs[0]->H, W = pairs[0]->W, C = resdec_get_config(t->part[DEC].dec)->out_ch;
    const size_t HW = (size_t)H * W, N = (size_t)B * HW;
    if (H % resnet_input_unit(&t->c.enc) || W % resnet_input_unit(&t->c.enc))
        return err_set("images of %dx%d pixels; Eg needs sides that are multiples of %d", H, W,
                       resnet_input_unit(&t->c.enc));
    float *x = eg_input(t, N), *y = eg_scratch(t, S_Y, N), *rows = eg_scratch(t, S_ROWS, N * C),
          *dout = eg_scratch(t, S_DOUT, N), *drows = eg_scratch(t, S_DROWS, N * C),
          *dfeat = eg_scratch(t, S_DFEAT, N * C);
    if (!x || !y || !rows || !dout || !drows || !dfeat)
        return -1;
    for (int b = 0; b < B; b++)
        if (genesis_transform(x + b * HW, y + b * HW, pairs[b]->xq, H, W, t->c.genesis_rates, r, NULL))
            return -1;
    const float *feat, *out, *stage[5];
    if (!resnet_forward(t->part[ENC].enc, x, B, H, W))
        return -1;
    for (int s = 0; s < 5; s++)
        stage[s] = resnet_stage(t->part[ENC].enc, s);
    if (!(feat = resdec_forward(t->part[DEC].dec, stage, B, H, W)))
        return -1;
    transpose(rows, (float *)feat, B, C, HW, 0);
    if (!(out = proj_forward(t->part[HEAD].proj, rows, (int)N)))
        return -1;
    double loss = 0, base = 0;
    for (size_t i = 0; i < N; i++) {
        const double p = 1 / (1 + exp(-(double)out[i])), e = p - y[i], e0 = (double)x[i] - y[i];
        loss += e * e;
        base += e0 * e0;
        dout[i] = (float)(2 * e * p * (1 - p) / (double)N);
    }
    st->loss = loss / (double)N;
    st->metric = base / (double)N;
    if (proj_backward(t->part[HEAD].proj, dout, drows))
        return -1;
    transpose(drows, dfeat, B, C, HW, 1);
    if (resdec_backward(t->part[DEC].dec, dfeat))
        return -1;
    return resnet_backward(t->part[ENC].enc, NULL, resdec_dstages(t->part[DEC].dec), NULL);
}

static char *gen_json(const eg_trainer *t)
{
    const double *g = t->c.genesis_rates;
    char *s = NULL;
    if (asprintf(&s, "{\"rates\":[%.15g,%.15g,%.15g,%.15g,%.15g]}", g[0], g[1], g[2], g[3], g[4]) < 0) {
        err_set("out of memory");
        return NULL;
    }
    return s;
}

const eg_ops eg_genesis_ops = {
    .name = "genesis", .metric = "input_mse", .lr = 1, .init = gen_init, .grad = gen_grad, .json = gen_json,
};
