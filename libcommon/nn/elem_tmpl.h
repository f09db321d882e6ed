/*
 * elem_tmpl — the element-wise kernels, written once with GCC vector
 * extensions (16 floats) and compiled three times by elem.c: for AVX-512,
 * for AVX2 + FMA, and for the baseline ISA (portable C; the compiler lowers
 * the vectors to whatever the target has). SFX names the copy.
 *
 * Sums go through float vector partials over chunks of at most 1024
 * elements, then double, so that a 500 000-element plane loses no precision
 * that matters for a variance.
 *
 * Not here: dispatch (elem.c), layer semantics (norm.c, layers.c).
 */
#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define FN(name) CAT(name, SFX)

typedef float FN(v16) __attribute__((vector_size(64)));
typedef int FN(i16) __attribute__((vector_size(64)));
#define V FN(v16)
#define VI FN(i16)

static inline V FN(ld)(const float *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void FN(st)(float *p, V v)
{
    memcpy(p, &v, sizeof v);
}

static inline V FN(splat)(float x)
{
    return (V){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
}

static inline double FN(hsum)(V v)
{
    double s = 0;
    for (int i = 0; i < 16; i++)
        s += v[i];
    return s;
}

/* max(v, 0) lane-wise, NaN kept as NaN? No: (v > 0) ? v : 0 sends NaN to 0, as
 * the scalar code does. */
static inline V FN(relu)(V v)
{
    VI m = v > FN(splat)(0.0f);
    return (V)((VI)v & m);
}

static void FN(ew_sums)(const float *x, long n, float m0, double *s, double *ss)
{
    double a = 0, q = 0;
    V vm = FN(splat)(m0);
    long i = 0;
    while (i + 16 <= n) {
        long end = i + 1024 < n ? i + 1024 : n;
        V va = FN(splat)(0), vq = FN(splat)(0), vb = va, vr = va;
        for (; i + 32 <= end; i += 32) {
            V d0 = FN(ld)(x + i) - vm, d1 = FN(ld)(x + i + 16) - vm;
            va += d0, vq += d0 * d0, vb += d1, vr += d1 * d1;
        }
        for (; i + 16 <= end; i += 16) {
            V d0 = FN(ld)(x + i) - vm;
            va += d0, vq += d0 * d0;
        }
        a += FN(hsum)(va + vb), q += FN(hsum)(vq + vr);
    }
    for (; i < n; i++) {
        double d = x[i] - m0;
        a += d, q += d * d;
    }
    *s += a, *ss += q;
}

static void FN(ew_affine)(float *out, const float *x, long n, float sc, float sh, int relu)
{
    V a = FN(splat)(sc), b = FN(splat)(sh);
    long i = 0;
    if (relu) {
        for (; i + 16 <= n; i += 16)
            FN(st)(out + i, FN(relu)(FN(ld)(x + i) * a + b));
        for (; i < n; i++) {
            float v = x[i] * sc + sh;
            out[i] = v > 0 ? v : 0.0f;
        }
    } else {
        for (; i + 16 <= n; i += 16)
            FN(st)(out + i, FN(ld)(x + i) * a + b);
        for (; i < n; i++)
            out[i] = x[i] * sc + sh;
    }
}

/* sg += sum g, sgx += sum g (x - mean); g = dout, zeroed where out <= 0 if out */
static void FN(ew_gsums)(const float *dout, const float *out, const float *x, long n, float mean,
                         double *sg, double *sgx)
{
    double a = 0, q = 0;
    V vm = FN(splat)(mean), z = FN(splat)(0);
    long i = 0;
    while (i + 16 <= n) {
        long end = i + 1024 < n ? i + 1024 : n;
        V va = z, vq = z;
        for (; i + 16 <= end; i += 16) {
            V g = FN(ld)(dout + i);
            if (out)
                g = (V)((VI)g & (FN(ld)(out + i) > z));
            va += g, vq += g * (FN(ld)(x + i) - vm);
        }
        a += FN(hsum)(va), q += FN(hsum)(vq);
    }
    for (; i < n; i++) {
        float g = dout[i];
        if (out && !(out[i] > 0))
            g = 0;
        a += g, q += (double)g * (x[i] - mean);
    }
    *sg += a, *sgx += q;
}

/* dinp = k1 g + k2 (x - mean) + k3, g as in ew_gsums; dinp may alias dout */
static void FN(ew_gapply)(float *dinp, const float *dout, const float *out, const float *x,
                          long n, float mean, float k1, float k2, float k3)
{
    V vm = FN(splat)(mean), a = FN(splat)(k1), b = FN(splat)(k2), c = FN(splat)(k3),
      z = FN(splat)(0);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        V g = FN(ld)(dout + i);
        if (out)
            g = (V)((VI)g & (FN(ld)(out + i) > z));
        FN(st)(dinp + i, a * g + b * (FN(ld)(x + i) - vm) + c);
    }
    for (; i < n; i++) {
        float g = dout[i];
        if (out && !(out[i] > 0))
            g = 0;
        dinp[i] = k1 * g + k2 * (x[i] - mean) + k3;
    }
}

static void FN(ew_relu)(float *out, const float *x, long n)
{
    long i = 0;
    for (; i + 16 <= n; i += 16)
        FN(st)(out + i, FN(relu)(FN(ld)(x + i)));
    for (; i < n; i++)
        out[i] = x[i] > 0 ? x[i] : 0.0f;
}

static void FN(ew_relu_bwd)(float *dinp, const float *dout, const float *out, long n)
{
    V z = FN(splat)(0);
    long i = 0;
    for (; i + 16 <= n; i += 16)
        FN(st)(dinp + i, (V)((VI)FN(ld)(dout + i) & (FN(ld)(out + i) > z)));
    for (; i < n; i++)
        dinp[i] = out[i] > 0 ? dout[i] : 0.0f;
}

static void FN(ew_add)(float *out, const float *a, const float *b, long n)
{
    long i = 0;
    for (; i + 16 <= n; i += 16)
        FN(st)(out + i, FN(ld)(a + i) + FN(ld)(b + i));
    for (; i < n; i++)
        out[i] = a[i] + b[i];
}

static double FN(ew_sum)(const float *x, long n)
{
    double s = 0, q = 0;
    FN(ew_sums)(x, n, 0.0f, &s, &q);
    return s;
}

/* One row pair of 2x2 max pooling: o[0..ow) from r0, r1 (2 ow each), the
 * first maximum of each window (row-major) winning, NaN winning. */
static void FN(ew_maxpool_row)(float *o, const float *r0, const float *r1, int ow)
{
    int x = 0;
    for (; x + 16 <= ow; x += 16) {
        V a0 = FN(ld)(r0 + 2 * x), a1 = FN(ld)(r0 + 2 * x + 16);
        V b0 = FN(ld)(r1 + 2 * x), b1 = FN(ld)(r1 + 2 * x + 16);
        VI ev = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
        VI od = ev + 1;
        V p = __builtin_shuffle(a0, a1, ev), q = __builtin_shuffle(a0, a1, od);
        V r = __builtin_shuffle(b0, b1, ev), s = __builtin_shuffle(b0, b1, od);
        /* m = p; if (q > m || q != q) m = q; ... */
        V m = p;
        VI t = (q > m) | (q != q);
        m = (V)(((VI)q & t) | ((VI)m & ~t));
        t = (r > m) | (r != r);
        m = (V)(((VI)r & t) | ((VI)m & ~t));
        t = (s > m) | (s != s);
        m = (V)(((VI)s & t) | ((VI)m & ~t));
        FN(st)(o + x, m);
    }
    for (; x < ow; x++) {
        float m = r0[2 * x], v;
        v = r0[2 * x + 1];
        if (v > m || v != v)
            m = v;
        v = r1[2 * x];
        if (v > m || v != v)
            m = v;
        v = r1[2 * x + 1];
        if (v > m || v != v)
            m = v;
        o[x] = m;
    }
}

/* One row pair of the 2x2 max-pool backward: each window's gradient g[x]
 * goes to the first element equal to its maximum o[x] (NaN matching NaN),
 * the other three get 0. */
static void FN(ew_maxpool_bwd_row)(float *d0, float *d1, const float *r0, const float *r1,
                                   const float *o, const float *g, int ow)
{
    int x = 0;
    VI ev = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}, od = ev + 1;
    VI lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}, hi = lo + 8;
    for (; x + 16 <= ow; x += 16) {
        V a0 = FN(ld)(r0 + 2 * x), a1 = FN(ld)(r0 + 2 * x + 16);
        V b0 = FN(ld)(r1 + 2 * x), b1 = FN(ld)(r1 + 2 * x + 16);
        V p = __builtin_shuffle(a0, a1, ev), q = __builtin_shuffle(a0, a1, od);
        V r = __builtin_shuffle(b0, b1, ev);
        V m = FN(ld)(o + x), gv = FN(ld)(g + x);
        VI mn = m != m;
        VI e0 = (p == m) | (mn & (p != p));
        VI e1 = ((q == m) | (mn & (q != q))) & ~e0;
        VI e2 = ((r == m) | (mn & (r != r))) & ~(e0 | e1);
        VI e3 = ~(e0 | e1 | e2);
        V g0 = (V)((VI)gv & e0), g1 = (V)((VI)gv & e1), g2 = (V)((VI)gv & e2),
          g3 = (V)((VI)gv & e3);
        FN(st)(d0 + 2 * x, __builtin_shuffle(g0, g1, lo));
        FN(st)(d0 + 2 * x + 16, __builtin_shuffle(g0, g1, hi));
        FN(st)(d1 + 2 * x, __builtin_shuffle(g2, g3, lo));
        FN(st)(d1 + 2 * x + 16, __builtin_shuffle(g2, g3, hi));
    }
    for (; x < ow; x++) {
        float m = o[x], gx = g[x];
        int k = r0[2 * x] == m || (m != m && r0[2 * x] != r0[2 * x])             ? 0
                : r0[2 * x + 1] == m || (m != m && r0[2 * x + 1] != r0[2 * x + 1]) ? 1
                : r1[2 * x] == m || (m != m && r1[2 * x] != r1[2 * x])           ? 2
                                                                                 : 3;
        d0[2 * x] = k == 0 ? gx : 0.0f;
        d0[2 * x + 1] = k == 1 ? gx : 0.0f;
        d1[2 * x] = k == 2 ? gx : 0.0f;
        d1[2 * x + 1] = k == 3 ? gx : 0.0f;
    }
}

/* out[2 i] = a[i] + c, out[2 i + 1] = b[i] + c for i < n */
static void FN(ew_interleave)(float *out, const float *a, const float *b, int n, float c)
{
    int i = 0;
    VI lo = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23}, hi = lo + 8;
    V vc = FN(splat)(c);
    for (; i + 16 <= n; i += 16) {
        V x = FN(ld)(a + i) + vc, y = FN(ld)(b + i) + vc;
        FN(st)(out + 2 * i, __builtin_shuffle(x, y, lo));
        FN(st)(out + 2 * i + 16, __builtin_shuffle(x, y, hi));
    }
    for (; i < n; i++)
        out[2 * i] = a[i] + c, out[2 * i + 1] = b[i] + c;
}

/* a[i] = in[2 i], b[i] = in[2 i + 1] for i < n */
static void FN(ew_deinterleave)(float *a, float *b, const float *in, int n)
{
    int i = 0;
    VI ev = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}, od = ev + 1;
    for (; i + 16 <= n; i += 16) {
        V x = FN(ld)(in + 2 * i), y = FN(ld)(in + 2 * i + 16);
        FN(st)(a + i, __builtin_shuffle(x, y, ev));
        FN(st)(b + i, __builtin_shuffle(x, y, od));
    }
    for (; i < n; i++)
        a[i] = in[2 * i], b[i] = in[2 * i + 1];
}

/* Adam / AdamW over n elements (PyTorch's formulation, see optim.c); SQRT is
 * the copy's vector square root. */
static void FN(ew_adam)(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, long n, float wd, int decoupled, float decay, float b1,
                        float b2, float step, float sbc2, float eps)
{
    long i = 0;
    V vb1 = FN(splat)(b1), vb2 = FN(splat)(b2), c1 = FN(splat)(1 - b1), c2 = FN(splat)(1 - b2);
    V vwd = FN(splat)(decoupled ? 0.0f : wd), vdec = FN(splat)(decoupled ? decay : 1.0f);
    V vst = FN(splat)(step), vs2 = FN(splat)(1.0f / sbc2), ve = FN(splat)(eps);
    for (; i + 16 <= n; i += 16) {
        V pi = FN(ld)(p + i), gi = FN(ld)(g + i) + vwd * pi;
        V mi = vb1 * FN(ld)(m + i) + c1 * gi, vi = vb2 * FN(ld)(v + i) + c2 * gi * gi;
        FN(st)(m + i, mi), FN(st)(v + i, vi);
        FN(st)(p + i, pi * vdec - vst * mi / (SQRT(vi) * vs2 + ve));
    }
    for (; i < n; i++) {
        float gi = g[i];
        if (decoupled)
            p[i] *= decay;
        else
            gi += wd * p[i];
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        p[i] -= step * m[i] / (__builtin_sqrtf(v[i]) / sbc2 + eps);
    }
}

/* SGD with momentum over n elements. */
__attribute__((optimize("tree-vectorize", "vect-cost-model=dynamic"))) static void FN(ew_sgd)(
    float *restrict p, const float *restrict g, float *restrict buf, long n, float wd, float mom,
    int first, int nest, float lr)
{
    if (!buf) {
        for (long i = 0; i < n; i++)
            p[i] -= lr * (g[i] + wd * p[i]);
        return;
    }
    for (long i = 0; i < n; i++) {
        float d = g[i] + wd * p[i];
        float b = first ? d : mom * buf[i] + d;
        buf[i] = b;
        p[i] -= lr * (nest ? d + mom * b : b);
    }
}

#undef V
#undef VI
#undef FN
#undef CAT
#undef CAT2
