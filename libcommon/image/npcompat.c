#include "image/npcompat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/grow.h"
#include "core/isa.h"
#include "core/tensor.h"

/* ---- exp ---- */

/* numpy 1.24 on AVX512_SKX CPUs calls Intel SVML's __svml_exp8 (the vector
 * exp it bundles, BSD-licensed); this is that kernel's main path, one lane
 * at a time, with its constants: x = (n + j/16) ln2 + r with n + j/16 =
 * floor(16 x log2 e)/16, 2^(j/16) from a table, a degree-5 polynomial for
 * e^r - 1, and vscalefpd's 2^floor(N). Checked against np.exp on 1.26
 * million arguments in [-700, 700] (tests/test_npcompat.c keeps a smaller
 * check). Arguments beyond |x| >= 707.7 take SVML's scalar callout, which is
 * not transcribed: libm's exp stands in (a Gaussian kernel never gets there). */
static const double exp_t16[16] = {
    0x1.0000000000000p+0, 0x1.0b5586cf9890fp+0, 0x1.172b83c7d517bp+0, 0x1.2387a6e756238p+0,
    0x1.306fe0a31b715p+0, 0x1.3dea64c123422p+0, 0x1.4bfdad5362a27p+0, 0x1.5ab07dd485429p+0,
    0x1.6a09e667f3bcdp+0, 0x1.7a11473eb0187p+0, 0x1.8ace5422aa0dbp+0, 0x1.9c49182a3f090p+0,
    0x1.ae89f995ad3adp+0, 0x1.c199bdd85529cp+0, 0x1.d5818dcfba487p+0, 0x1.ea4afa2a490dap+0,
};

double npc_exp_svml(double x)
{
    const double log2e = 0x1.71547652b82fep+0, shift = 0x1.8000000003ff0p+48;
    const double l1 = 0x1.62e42fefa39efp-1, l2 = 0x1.abc9e3b39803fp-56;
    double z, n, r, r2, r3, p45, p23, p01, p, t, res;
    uint64_t ki;

    if (!(fabs(x) < 0x1.61da04cbafe44p+9))
        return exp(x);
    /* SVML rounds this fma toward zero: undo a round-up, told by the sign
     * of the exact residual (z and shift - z are exact). ulp(z) = 1/16. */
    z = fma(x, log2e, shift);
    if (fma(x, log2e, shift - z) < 0)
        z -= 0x1p-4;
    memcpy(&ki, &z, sizeof ki);
    n = z - shift;
    r = fma(-n, l1, x);
    r = fma(-n, l2, r);
    r2 = r * r;
    p45 = fma(r, 0x1.72eb5ef0d213dp-10, 0x1.1106603d97c00p-7);
    p23 = fma(r, 0x1.555564bb4f5f0p-5, 0x1.5555554b508a2p-3);
    r3 = r * r2;
    p01 = fma(r2, 0x1.0000000002622p-1, r);
    p = fma(r2, p45, p23);
    p = fma(r3, p, p01);
    t = exp_t16[ki & 15];
    res = fma(t, p, t);
    return ldexp(res, (int)floor(n));
}

static int exp_mode = -1; /* -1 unknown, 0 libm, 1 SVML */

int npc_exp_is_svml(void)
{
    if (exp_mode < 0) {
        /* NumPy takes SVML's exp on AVX512_SKX CPUs, libm's elsewhere,
         * by what the CPU has: so does this, to give NumPy's bits on this
         * machine whatever LRCPIPE_ISA forces for the SIMD paths (with
         * LRCPIPE_ISA=c following it would differ from NumPy here). */
        exp_mode = isa_cpu_has(ISA_AVX512);
    }
    return exp_mode;
}

double npc_exp(double x)
{
    return npc_exp_is_svml() ? npc_exp_svml(x) : exp(x);
}

/* ---- sum ---- */

static double pairwise_sum(const double *a, size_t n)
{
    if (n < 8) {
        double res = -0.0;
        for (size_t i = 0; i < n; i++)
            res += a[i];
        return res;
    }
    if (n <= 128) {
        double r[8], res;
        size_t i;
        for (int j = 0; j < 8; j++)
            r[j] = a[j];
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += a[i + j];
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += a[i];
        return res;
    }
    {
        size_t n2 = n / 2;
        n2 -= n2 % 8;
        return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
    }
}

double npc_sum(const double *a, size_t n)
{
    /* add.reduce starts from the identity 0.0 and adds the pairwise sum. */
    return 0.0 + pairwise_sum(a, n);
}

/* ---- Gaussian ---- */

int npc_gaussian_radius(double sigma, double truncate)
{
    return (int)(truncate * sigma + 0.5);
}

int npc_gaussian_kernel1d(double *w, double sigma, double truncate)
{
    int r = npc_gaussian_radius(sigma, truncate);
    double c = -0.5 / (sigma * sigma), s;
    for (int i = -r; i <= r; i++)
        w[i + r] = npc_exp(c * (double)((int64_t)i * i));
    s = npc_sum(w, (size_t)(2 * r + 1));
    for (int i = 0; i <= 2 * r; i++)
        w[i] = w[i] / s;
    return r;
}

/* Half-sample symmetric extension ("reflect"): ... x1 x0 | x0 x1 ... */
static int64_t reflect_index(int64_t i, int64_t n)
{
    int64_t p = 2 * n;
    i %= p;
    if (i < 0)
        i += p;
    return i < n ? i : p - 1 - i;
}

/* Both passes compute, for every output sample, scipy's symmetric
 * correlation in scipy's order: out = x[c] w0, then for j = r..1
 * out += (x[c-j] + x[c+j]) w_j (outermost first). The loops run over j
 * outside and over samples inside, which changes the order of nothing but
 * the memory accesses. */

/* Along axis 0: out row y from input rows reflect(y +- j). acc: W doubles. */
static void correlate_rows(double *out, const double *in, int64_t H, int64_t W, const double *w, int r,
                           double *acc)
{
    const double *fw = w + r;
    for (int64_t y = 0; y < H; y++) {
        const double *xc = in + y * W;
        for (int64_t c = 0; c < W; c++)
            acc[c] = xc[c] * fw[0];
        for (int j = r; j >= 1; j--) {
            const double *lo = in + reflect_index(y - j, H) * W, *hi = in + reflect_index(y + j, H) * W;
            double wj = fw[-j];
            for (int64_t c = 0; c < W; c++)
                acc[c] += (lo[c] + hi[c]) * wj;
        }
        memcpy(out + y * W, acc, (size_t)W * sizeof *acc);
    }
}

/* Along axis 1: each row extended by reflection into buf (W + 2r doubles),
 * then correlated into acc (W doubles). */
static void correlate_cols(double *out, const double *in, int64_t H, int64_t W, const double *w, int r,
                           double *buf, double *acc)
{
    const double *fw = w + r;
    double *x = buf + r;
    for (int64_t y = 0; y < H; y++) {
        const double *src = in + y * W;
        memcpy(x, src, (size_t)W * sizeof *x);
        for (int64_t i = 1; i <= r; i++) {
            x[-i] = src[reflect_index(-i, W)];
            x[W - 1 + i] = src[reflect_index(W - 1 + i, W)];
        }
        for (int64_t c = 0; c < W; c++)
            acc[c] = x[c] * fw[0];
        for (int j = r; j >= 1; j--) {
            double wj = fw[-j];
            for (int64_t c = 0; c < W; c++)
                acc[c] += (x[c - j] + x[c + j]) * wj;
        }
        memcpy(out + y * W, acc, (size_t)W * sizeof *acc);
    }
}

int npc_gaussian_filter2d(double *out, const double *in, int64_t H, int64_t W, double sigma_y,
                          double sigma_x, double truncate, double *tmp)
{
    int ry = sigma_y > 1e-15 ? npc_gaussian_radius(sigma_y, truncate) : -1;
    int rx = sigma_x > 1e-15 ? npc_gaussian_radius(sigma_x, truncate) : -1;
    double *wy = NULL, *wx = NULL, *buf = NULL, *acc = NULL, *mid = tmp;
    int rc = -1;

    if (ry < 0 && rx < 0) {
        if (out != in)
            memmove(out, in, (size_t)(H * W) * sizeof *out);
        return 0;
    }
    wy = malloc((size_t)(2 * (ry > 0 ? ry : 0) + 1) * sizeof *wy);
    wx = malloc((size_t)(2 * (rx > 0 ? rx : 0) + 1) * sizeof *wx);
    buf = malloc((size_t)(W + 2 * (rx > 0 ? rx : 0)) * sizeof *buf);
    acc = malloc((size_t)W * sizeof *acc);
    if (!mid)
        mid = malloc((size_t)(H * W) * sizeof *mid);
    if (!wy || !wx || !buf || !acc || !mid) {
        err_set("out of memory");
        goto done;
    }
    if (ry >= 0) {
        npc_gaussian_kernel1d(wy, sigma_y, truncate);
        correlate_rows(mid, in, H, W, wy, ry, acc);
        in = mid;
    }
    if (rx >= 0) {
        npc_gaussian_kernel1d(wx, sigma_x, truncate);
        correlate_cols(out, in, H, W, wx, rx, buf, acc);
    } else {
        memcpy(out, mid, (size_t)(H * W) * sizeof *out);
    }
    rc = 0;
done:
    free(wy);
    free(wx);
    free(buf);
    free(acc);
    if (mid != tmp)
        free(mid);
    return rc;
}

/* ---- argsort ---- */

/* numpy's aquicksort_ moves indices and compares v[index]; carrying the key
 * with its index performs the same comparisons and the same swaps, so the
 * permutation is identical, with sequential instead of scattered reads. */
typedef struct {
    double v;
    int32_t i;
} kv;

#define KV_SWAP(a, b)  \
    do {               \
        kv t_ = (a);   \
        (a) = (b);     \
        (b) = t_;      \
    } while (0)

/* Move tmp down from heap slot i of a[1..n] (numpy's sift-down). */
static void sift_down(kv *a, kv tmp, int64_t i, int64_t n)
{
    for (int64_t j = i << 1; j <= n;) {
        if (j < n && a[j].v < a[j + 1].v)
            j++;
        if (!(tmp.v < a[j].v))
            break;
        a[i] = a[j];
        i = j;
        j += j;
    }
    a[i] = tmp;
}

static void aheapsort(kv *base, int64_t n)
{
    kv *a = base - 1; /* 1-based heap */
    for (int64_t l = n >> 1; l > 0; --l)
        sift_down(a, a[l], l, n);
    for (; n > 1;) {
        kv tmp = a[n];
        a[n] = a[1];
        n -= 1;
        sift_down(a, tmp, 1, n);
    }
}

/* numpy's aquicksort_, run lazily: only the subarrays that hold a final
 * position in a requested range [lo, hi) are partitioned; the others wait
 * in a pending list with their depth. A partition moves elements only
 * inside its own subarray, and numpy's result does not depend on the order
 * in which disjoint subarrays are sorted, so each range comes out as the
 * full sort leaves it, and all requests together cost at most one sort.
 *
 * numpy checks the depth (heapsort when it is used up) only for subarrays
 * popped from its stack, not for the smaller side it goes on with after a
 * partition; pending entries remember which kind they are. */
typedef struct {
    int64_t pl, pr; /* inclusive */
    int depth, checked;
} pend;

struct npc_lazysort {
    kv *a;
    int64_t n, cap_a;
    pend *p;
    int64_t np, cap;
};

static int pend_add(npc_lazysort *s, int64_t pl, int64_t pr, int depth, int checked)
{
    if (pr - pl < 1)
        return 0; /* 0 or 1 element: nothing to do */
    pend *q = grow_array(s->p, &s->cap, s->np, sizeof *q, 64);
    if (!q)
        return -1;
    s->p = q;
    s->p[s->np++] = (pend){pl, pr, depth, checked};
    return 0;
}

/* Sort what of [pl, pr] lands in [lo, hi) (indices into s->a). */
static int sort_part(npc_lazysort *s, pend e, int64_t lo, int64_t hi)
{
    enum { SMALL = 15, STACK = 128 };
    kv *base = s->a;
    kv *pl = base + e.pl, *pr = base + e.pr, *plo = base + lo, *phi = base + hi;
    kv *stack[STACK], **sptr = stack;
    kv *pm, *pi, *pj, *pk;
    int depth[STACK], *psdepth = depth;
    int cdepth = e.depth, checked = e.checked;
    double vp;

    for (;;) {
        if (checked && cdepth < 0) {
            aheapsort(pl, pr - pl + 1);
            goto stack_pop;
        }
        while ((pr - pl) > SMALL) {
            kv *a, *b, *c, *d;
            pm = pl + ((pr - pl) >> 1);
            if (pm->v < pl->v)
                KV_SWAP(*pm, *pl);
            if (pr->v < pm->v)
                KV_SWAP(*pr, *pm);
            if (pm->v < pl->v)
                KV_SWAP(*pm, *pl);
            vp = pm->v;
            pi = pl;
            pj = pr - 1;
            KV_SWAP(*pm, *pj);
            for (;;) {
                do
                    ++pi;
                while (pi->v < vp);
                do
                    --pj;
                while (vp < pj->v);
                if (pi >= pj)
                    break;
                KV_SWAP(*pi, *pj);
            }
            pk = pr - 1;
            KV_SWAP(*pi, *pk);
            /* numpy pushes the larger side [a, b] and goes on with the
             * smaller [c, d]; both get the depth --cdepth */
            if (pi - pl < pr - pi)
                a = pi + 1, b = pr, c = pl, d = pi - 1;
            else
                a = pl, b = pi - 1, c = pi + 1, d = pr;
            --cdepth;
            if (a < phi && b >= plo) {
                *sptr++ = a;
                *sptr++ = b;
                *psdepth++ = cdepth;
            } else if (pend_add(s, a - base, b - base, cdepth, 1)) {
                return -1;
            }
            if (!(c < phi && d >= plo)) {
                if (pend_add(s, c - base, d - base, cdepth, 0))
                    return -1;
                goto stack_pop;
            }
            pl = c;
            pr = d;
        }
        /* insertion sort */
        for (pi = pl + 1; pi <= pr; ++pi) {
            kv vi = *pi;
            pj = pi;
            pk = pi - 1;
            while (pj > pl && vi.v < pk->v)
                *pj-- = *pk--;
            *pj = vi;
        }
    stack_pop:
        if (sptr == stack)
            break;
        pr = *(--sptr);
        pl = *(--sptr);
        cdepth = *(--psdepth);
        checked = 1;
    }
    return 0;
}

int npc_lazysort_reset(npc_lazysort *s, const double *v, int64_t n)
{
    int depth = 0;
    if (n < 0 || n > INT32_MAX)
        return err_set("argsort: %lld elements is outside 0 .. 2^31-1", (long long)n);
    if (n > s->cap_a) {
        lrc_free(s->a);
        s->cap_a = 0;
        if (!(s->a = lrc_alloc((size_t)n * sizeof *s->a)))
            return err_set("out of memory");
        s->cap_a = n;
    }
    s->n = n;
    s->np = 0;
    for (int64_t i = 0; i < n; i++) {
        s->a[i].v = v[i];
        s->a[i].i = (int32_t)i;
    }
    for (uint64_t u = (uint64_t)n; u >>= 1;)
        depth++;
    return pend_add(s, 0, n - 1, 2 * depth, 1);
}

npc_lazysort *npc_lazysort_new(const double *v, int64_t n)
{
    npc_lazysort *s = calloc(1, sizeof *s);
    if (!s) {
        err_set("out of memory");
        return NULL;
    }
    if (npc_lazysort_reset(s, v, n)) {
        npc_lazysort_free(s);
        return NULL;
    }
    return s;
}

int npc_lazysort_range(npc_lazysort *s, int32_t *idx, int64_t lo, int64_t hi)
{
    if (lo < 0 || hi > s->n || lo > hi)
        return err_set("argsort: range [%lld, %lld) is outside [0, %lld)", (long long)lo, (long long)hi,
                       (long long)s->n);
    /* Take out the pending subarrays that meet [lo, hi); sort_part may add
     * new ones at the end, which do not meet it. */
    for (int64_t k = 0; k < s->np;) {
        pend e = s->p[k];
        if (e.pl < hi && e.pr >= lo) {
            s->p[k] = s->p[--s->np];
            if (sort_part(s, e, lo, hi))
                return -1;
        } else {
            k++;
        }
    }
    for (int64_t i = lo; i < hi; i++)
        idx[i - lo] = s->a[i].i;
    return 0;
}

void npc_lazysort_free(npc_lazysort *s)
{
    if (!s)
        return;
    lrc_free(s->a);
    free(s->p);
    free(s);
}

int npc_argsort(int32_t *idx, const double *v, int64_t n)
{
    return npc_argsort_range(idx, v, n, 0, n);
}

int npc_argsort_range(int32_t *idx, const double *v, int64_t n, int64_t lo, int64_t hi)
{
    npc_lazysort *s;
    int rc;
    if (lo < 0 || hi > n || lo > hi)
        return err_set("argsort: range [%lld, %lld) is outside [0, %lld)", (long long)lo, (long long)hi,
                       (long long)n);
    if (!(s = npc_lazysort_new(v, n)))
        return -1;
    rc = npc_lazysort_range(s, idx, lo, hi);
    npc_lazysort_free(s);
    return rc;
}
