#include "core/clock.h"
#include "image/felzenszwalb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/err.h"
#include "image/npcompat.h"

/* An edge is coded as 4*p + f: anchor pixel p = r*W + c and family f
 *   0 right       (r, c+1) - (r, c)
 *   1 down        (r+1, c) - (r, c)
 *   2 down-right  (r+1, c+1) - (r, c)
 *   3 up-right    (r, c+1) - (r+1, c)
 * The merge is symmetric in the two ends, so which is "a" does not matter. */

/* One pixel of the forest; what a merge reads of a root sits in the same
 * cache line as its parent pointer. */
typedef struct {
    int32_t parent; /* parent <= pixel; a root is its segment's smallest pixel */
    int32_t size;   /* segment size, at roots */
    float thr;      /* (float)(Int + k/size), at roots */
    int32_t pad;
} fz_node;

struct fz_work {
    int64_t cap_n, cap_e;
    double *img;      /* (N) smoothed image */
    double *tmp;      /* (N) Gaussian scratch */
    double *wcode;    /* (4N) weight by edge code */
    uint64_t *keys;   /* (E) float32 key << 32 | code, then scratch */
    uint64_t *keys2;  /* (E) radix ping-pong */
    double *sw;       /* (E) sorted weights */
    int32_t *sc;      /* (E) sorted codes */
    fz_node *nd;      /* (N) the forest */
    int32_t *mark;    /* (N) run check: stamp */
    int32_t *partner; /* (N) run check: the other root */
    uint8_t *small;   /* (N) minimum-size pass: pixel in a small component */
    int32_t stamp;
    int32_t da[4], db[4]; /* edge ends: a = p + da[family], b = p + db[family] */
    int64_t cap_scost;  /* numpy's order: costs and codes in skimage's edge order */
    double *scost;      /* (E) */
    int32_t *scode;     /* (E) */
    int have_scost;     /* made for the current image */
    npc_lazysort *lazy; /* numpy's introsort of scost, run as far as asked */
    int have_lazy;      /* lazy started on the current image */
    int64_t cap_run;  /* run check scratch, for runs of up to cap_run edges */
    int32_t *run;     /* (8 cap_run) */
    int64_t *runsz;   /* (2 cap_run) */
    uint8_t *runflag; /* (2 cap_run) */
};

fz_work *fz_work_new(void)
{
    fz_work *w = calloc(1, sizeof *w);
    if (!w)
        err_set("out of memory");
    return w;
}

static void work_release(fz_work *w)
{
    lrc_free(w->img);
    lrc_free(w->tmp);
    lrc_free(w->wcode);
    lrc_free(w->keys);
    lrc_free(w->keys2);
    lrc_free(w->sw);
    lrc_free(w->sc);
    lrc_free(w->nd);
    lrc_free(w->mark);
    lrc_free(w->partner);
    lrc_free(w->small);
    lrc_free(w->scost);
    lrc_free(w->scode);
    npc_lazysort_free(w->lazy);
    free(w->run);
    free(w->runsz);
    free(w->runflag);
    memset(w, 0, sizeof *w);
}

void fz_work_free(fz_work *w)
{
    if (!w)
        return;
    work_release(w);
    free(w);
}

static int work_reserve(fz_work *w, int64_t n, int64_t e)
{
    size_t N, E;
    if (n <= w->cap_n && e <= w->cap_e)
        return 0;
    work_release(w);
    N = (size_t)n;
    E = (size_t)(e > 0 ? e : 1);
    w->img = lrc_alloc(N * sizeof *w->img);
    w->tmp = lrc_alloc(N * sizeof *w->tmp);
    w->wcode = lrc_alloc(4 * N * sizeof *w->wcode);
    w->keys = lrc_alloc(E * sizeof *w->keys);
    w->keys2 = lrc_alloc(E * sizeof *w->keys2);
    w->sw = lrc_alloc(E * sizeof *w->sw);
    w->sc = lrc_alloc(E * sizeof *w->sc);
    w->nd = lrc_alloc(N * sizeof *w->nd);
    w->mark = lrc_alloc(N * sizeof *w->mark);
    w->partner = lrc_alloc(N * sizeof *w->partner);
    w->small = lrc_alloc(N);
    if (!w->small || !w->img || !w->tmp || !w->wcode || !w->keys || !w->keys2 || !w->sw || !w->sc ||
        !w->nd || !w->mark || !w->partner) {
        work_release(w);
        return err_set("out of memory for a %lld-pixel image", (long long)n);
    }
    w->cap_n = n;
    w->cap_e = e;
    return 0;
}

static int run_reserve(fz_work *w, int64_t m)
{
    if (m <= w->cap_run)
        return 0;
    m = m < 1024 ? 1024 : m + m / 2;
    free(w->run);
    free(w->runsz);
    free(w->runflag);
    w->run = malloc((size_t)m * 8 * sizeof *w->run);
    w->runsz = malloc((size_t)m * 2 * sizeof *w->runsz);
    w->runflag = malloc((size_t)m * 2);
    if (!w->run || !w->runsz || !w->runflag) {
        w->cap_run = 0;
        return err_set("out of memory");
    }
    w->cap_run = m;
    return 0;
}

int fz_input_f64(double *out, const void *data, dtype dt, size_t n)
{
    switch (dt) {
    case DT_F32:
        for (size_t i = 0; i < n; i++)
            out[i] = ((const float *)data)[i];
        return 0;
    case DT_F64:
        memcpy(out, data, n * sizeof *out);
        return 0;
    case DT_U8:
        for (size_t i = 0; i < n; i++)
            out[i] = ((const uint8_t *)data)[i] * (1.0 / 255);
        return 0;
    case DT_I8:
        for (size_t i = 0; i < n; i++)
            out[i] = fmax(((const int8_t *)data)[i] * (1.0 / 127), -1.0);
        return 0;
    case DT_I16:
        for (size_t i = 0; i < n; i++)
            out[i] = fmax(((const int16_t *)data)[i] * (1.0 / 32767), -1.0);
        return 0;
    default:
        return err_set("image dtype %s is not supported (float32, float64, uint8, int8, int16)",
                       dtype_str(dt));
    }
}

/* ---- edges ---- */

static int64_t edge_count(int64_t H, int64_t W)
{
    return H * (W - 1) + (H - 1) * W + 2 * (H - 1) * (W - 1);
}

static inline double weight(double d)
{
    return sqrt(d * d); /* skimage: sqrt(sum over channels of d*d) */
}

/* The two ends of an edge: p plus an offset by family, from a table (no
 * branch on the family; w->da, w->db are set for the image's width). */
static inline void code_ends(const fz_work *w, int32_t code, int32_t *a, int32_t *b)
{
    int32_t p = code >> 2;
    *a = p + w->da[code & 3];
    *b = p + w->db[code & 3];
}

static inline uint32_t f32_key(double w)
{
    /* Rounding to float is monotone, and for w >= 0 the float's bits order
     * like its value: equal doubles get equal keys, a < b gives key(a) <=
     * key(b). */
    float f = (float)w;
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Weights by code; the codes of zero-weight edges, in code order, at the
 * front of sc (they come first in any order, and need no sorting: CT slices
 * are mostly air, whose smoothed value is exactly 0); keys = key << 32 |
 * code of the others. Returns the number of zero-weight edges. */
static int64_t build_edges(fz_work *w, int64_t H, int64_t W)
{
    const double *I = w->img;
    double *wc = w->wcode;
    uint64_t *k = w->keys;
    int32_t *z = w->sc;
#define EMIT(P, F, D)                                                 \
    do {                                                              \
        double x_ = weight(D);                                        \
        int32_t c_ = (int32_t)(4 * (P) + (F));                        \
        wc[c_] = x_;                                                  \
        if (x_ == 0)                                                  \
            *z++ = c_;                                                \
        else                                                          \
            *k++ = (uint64_t)f32_key(x_) << 32 | (uint64_t)(uint32_t)c_; \
    } while (0)
    for (int64_t r = 0; r < H; r++) {
        for (int64_t c = 0; c < W; c++) {
            int64_t p = r * W + c;
            if (c + 1 < W)
                EMIT(p, 0, I[p + 1] - I[p]);
            if (r + 1 < H) {
                EMIT(p, 1, I[p + W] - I[p]);
                if (c + 1 < W) {
                    EMIT(p, 2, I[p + W + 1] - I[p]);
                    EMIT(p, 3, I[p + W] - I[p + 1]);
                }
            }
        }
    }
#undef EMIT
    return z - w->sc;
}

static int cmp_key_hi(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a >> 32, y = *(const uint64_t *)b >> 32;
    return (x > y) - (x < y);
}

/* LSD radix sort of keys[0..n) on their upper 32 bits (11 + 11 + 10 bit
 * digits); passes whose digit is the same for every key are skipped. The
 * result is in w->keys. */
static void radix_sort_keys(fz_work *w, int64_t n)
{
    enum { B0 = 11, B1 = 11, B2 = 10 };
    static const int shift[3] = {32, 32 + B0, 32 + B0 + B1};
    static const uint32_t mask[3] = {(1u << B0) - 1, (1u << B1) - 1, (1u << B2) - 1};
    size_t *hist = calloc(3u << 11, sizeof *hist);
    uint64_t *src = w->keys, *dst = w->keys2;
    if (!hist) {
        /* No memory for 48 KiB: a comparison sort does the same job. */
        qsort(src, (size_t)n, sizeof *src, cmp_key_hi);
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        uint64_t k = src[i];
        hist[(k >> shift[0]) & mask[0]]++;
        hist[2048 + ((k >> shift[1]) & mask[1])]++;
        hist[4096 + ((k >> shift[2]) & mask[2])]++;
    }
    for (int d = 0; d < 3; d++) {
        size_t *h = hist + 2048 * d, sum = 0;
        int trivial = 0;
        for (uint32_t b = 0; b <= mask[d]; b++) {
            size_t c = h[b];
            if (c == (size_t)n)
                trivial = 1;
            h[b] = sum;
            sum += c;
        }
        if (trivial)
            continue;
        for (int64_t i = 0; i < n; i++) {
            uint64_t k = src[i];
            dst[h[(k >> shift[d]) & mask[d]]++] = k;
        }
        {
            uint64_t *t = src;
            src = dst;
            dst = t;
        }
    }
    if (src != w->keys)
        memcpy(w->keys, src, (size_t)n * sizeof *src);
    free(hist);
}

typedef struct {
    double w;
    int32_t c;
} wc_pair;

static int cmp_wc(const void *a, const void *b)
{
    double x = ((const wc_pair *)a)->w, y = ((const wc_pair *)b)->w;
    return (x > y) - (x < y);
}

/* Sorted weights and codes: the nz zero-weight edges already at the front
 * of sc, then the E - nz radix-sorted keys; within a run of equal float32
 * keys the doubles may still differ: sort those runs by the double. */
static int fast_order(fz_work *w, int64_t nz, int64_t E)
{
    const uint64_t *k = w->keys;
    double *sw = w->sw + nz;
    int32_t *sc = w->sc + nz;
    for (int64_t i = 0; i < nz; i++)
        w->sw[i] = 0.0;
    E -= nz;
    for (int64_t i = 0; i < E; i++) {
        int32_t c = (int32_t)(uint32_t)k[i];
        sc[i] = c;
        sw[i] = w->wcode[c];
    }
    for (int64_t i = 0; i < E;) {
        uint32_t key = (uint32_t)(k[i] >> 32);
        int64_t j = i + 1, m;
        int mixed = 0;
        while (j < E && (uint32_t)(k[j] >> 32) == key) {
            mixed |= sw[j] != sw[i];
            j++;
        }
        m = j - i;
        if (mixed) {
            if (m <= 32) {
                for (int64_t a = i + 1; a < j; a++) {
                    double x = sw[a];
                    int32_t c = sc[a];
                    int64_t b = a;
                    while (b > i && x < sw[b - 1]) {
                        sw[b] = sw[b - 1];
                        sc[b] = sc[b - 1];
                        b--;
                    }
                    sw[b] = x;
                    sc[b] = c;
                }
            } else {
                wc_pair *t = malloc((size_t)m * sizeof *t);
                if (!t)
                    return err_set("out of memory");
                for (int64_t a = 0; a < m; a++)
                    t[a] = (wc_pair){sw[i + a], sc[i + a]};
                qsort(t, (size_t)m, sizeof *t, cmp_wc);
                for (int64_t a = 0; a < m; a++) {
                    sw[i + a] = t[a].w;
                    sc[i + a] = t[a].c;
                }
                free(t);
            }
        }
        i = j;
    }
    return 0;
}

/* numpy's order. skimage lists the costs family by family (right, down,
 * down-right, up-right), each in raster order of its anchor, and sorts them
 * with np.argsort. exact_order puts all E edges in that order;
 * exact_run only the run at sorted positions [i, j), with the part of the
 * introsort that decides those positions (npc_argsort_range). Both need
 * the costs in skimage's order, made once per image (w->scost, w->scode). */
static int skimage_costs(fz_work *w, int64_t H, int64_t W, int64_t E)
{
    int64_t e = 0;
    if (w->have_scost)
        return 0;
    if (E > w->cap_scost) {
        lrc_free(w->scost);
        lrc_free(w->scode);
        w->scost = lrc_alloc((size_t)E * sizeof *w->scost);
        w->scode = lrc_alloc((size_t)E * sizeof *w->scode);
        w->cap_scost = w->scost && w->scode ? E : 0;
        if (!w->cap_scost)
            return err_set("out of memory");
    }
    for (int f = 0; f < 4; f++) {
        int64_t rows = f == 0 ? H : H - 1, cols = f == 1 ? W : W - 1;
        for (int64_t r = 0; r < rows; r++)
            for (int64_t c = 0; c < cols; c++) {
                int64_t cd = 4 * (r * W + c) + f;
                w->scost[e] = w->wcode[cd];
                w->scode[e++] = (int32_t)cd;
            }
    }
    w->have_scost = 1;
    return 0;
}

static int exact_order(fz_work *w, int64_t H, int64_t W, int64_t E)
{
    int32_t *idx;
    if (skimage_costs(w, H, W, E))
        return -1;
    if (!(idx = lrc_alloc((size_t)(E > 0 ? E : 1) * sizeof *idx)))
        return err_set("out of memory");
    if (npc_argsort(idx, w->scost, E)) {
        lrc_free(idx);
        return -1;
    }
    for (int64_t i = 0; i < E; i++) {
        w->sw[i] = w->scost[idx[i]];
        w->sc[i] = w->scode[idx[i]];
    }
    lrc_free(idx);
    return 0;
}

static int exact_run(fz_work *w, int64_t H, int64_t W, int64_t E, int64_t i, int64_t j)
{
    int32_t *idx;
    if (skimage_costs(w, H, W, E))
        return -1;
    if (!w->have_lazy) {
        if (!w->lazy ? !(w->lazy = npc_lazysort_new(w->scost, E)) : npc_lazysort_reset(w->lazy, w->scost, E))
            return -1;
        w->have_lazy = 1;
    }
    if (!(idx = lrc_alloc((size_t)(j - i) * sizeof *idx)))
        return err_set("out of memory");
    if (npc_lazysort_range(w->lazy, idx, i, j)) {
        lrc_free(idx);
        return -1;
    }
    for (int64_t t = 0; t < j - i; t++)
        w->sc[i + t] = w->scode[idx[t]];
    lrc_free(idx);
    return 0;
}

/* ---- union-find ---- */

static inline int32_t find_root(fz_node *nd, int32_t x)
{
    /* Path halving keeps every pointer towards a smaller index, so the root
     * stays the segment's smallest pixel, as in skimage's forest. */
    while (nd[x].parent != x) {
        nd[x].parent = nd[nd[x].parent].parent;
        x = nd[x].parent;
    }
    return x;
}

/* Greedy pass: one edge. */
static inline void merge_edge(fz_work *w, int32_t code, double x, double k)
{
    int32_t a, b, s0, s1, lo, hi;
    float t0, t1;
    code_ends(w, code, &a, &b);
    s0 = find_root(w->nd, a);
    s1 = find_root(w->nd, b);
    if (s0 == s1)
        return;
    t0 = w->nd[s0].thr;
    t1 = w->nd[s1].thr;
    if (x < (double)(t0 < t1 ? t0 : t1)) {
        lo = s0 < s1 ? s0 : s1;
        hi = s0 < s1 ? s1 : s0;
        w->nd[hi].parent = lo;
        w->nd[lo].size += w->nd[hi].size;
        /* skimage: Int = w, threshold Int + k/size computed in double and
         * stored in a C float */
        w->nd[lo].thr = (float)(x + k / (double)w->nd[lo].size);
    }
}

/* Minimum-size pass: one edge. */
static inline void small_edge(fz_work *w, int32_t code, int64_t min_size)
{
    int32_t a, b, s0, s1, lo, hi;
    code_ends(w, code, &a, &b);
    s0 = find_root(w->nd, a);
    s1 = find_root(w->nd, b);
    if (s0 == s1)
        return;
    if (w->nd[s0].size < min_size || w->nd[s1].size < min_size) {
        lo = s0 < s1 ? s0 : s1;
        hi = s0 < s1 ? s1 : s0;
        w->nd[hi].parent = lo;
        w->nd[lo].size += w->nd[hi].size;
    }
}

static int cmp_pair(const void *a, const void *b)
{
    const int32_t *x = a, *y = b;
    return x[0] != y[0] ? (x[0] > y[0]) - (x[0] < y[0]) : (x[1] > y[1]) - (x[1] < y[1]);
}

/* The minimum-size pass's finer test, on the graph of the active edges
 * (na edges es[2e], es[2e+1] over nn local nodes, group root lp[], group
 * size gs[root], component nroot[]). When an edge (u, v) comes, u's
 * component holds at most the nodes that u reaches without that edge:
 * the whole group unless the edge is a bridge, else u's side of it. If one
 * side is below min_size, that end is still small and the edge joins. If
 * that holds for every edge, every edge joins in any order: 1, else 0
 * (-1: out of memory). */
static int bridges_all_small(const fz_work *w, const int32_t *es, int64_t na, int64_t nn, const int32_t *lp,
                             const int64_t *gs, const int32_t *nroot, int64_t min_size)
{
    int32_t *pr = malloc((size_t)na * 2 * sizeof *pr), *off = calloc((size_t)nn + 1, sizeof *off);
    int32_t *adj = malloc((size_t)na * 2 * sizeof *adj), *tin = malloc((size_t)nn * sizeof *tin);
    int32_t *low = malloc((size_t)nn * sizeof *low), *par = malloc((size_t)nn * sizeof *par);
    int32_t *it = malloc((size_t)nn * sizeof *it), *stk = malloc((size_t)nn * sizeof *stk);
    int64_t *sub = malloc((size_t)nn * sizeof *sub), m = 0;
    int32_t timer = 0;
    int rc = 1;
    if (!pr || !off || !adj || !tin || !low || !par || !it || !stk || !sub) {
        rc = err_set("out of memory");
        goto done;
    }
    /* distinct edges (parallel ones decide together) */
    for (int64_t e = 0; e < na; e++) {
        int32_t u = es[2 * e], v = es[2 * e + 1];
        pr[2 * e] = u < v ? u : v;
        pr[2 * e + 1] = u < v ? v : u;
    }
    qsort(pr, (size_t)na, 2 * sizeof *pr, cmp_pair);
    for (int64_t e = 0; e < na; e++)
        if (!m || pr[2 * e] != pr[2 * (m - 1)] || pr[2 * e + 1] != pr[2 * (m - 1) + 1]) {
            pr[2 * m] = pr[2 * e];
            pr[2 * m + 1] = pr[2 * e + 1];
            m++;
        }
    for (int64_t e = 0; e < m; e++)
        off[pr[2 * e] + 1]++, off[pr[2 * e + 1] + 1]++;
    for (int64_t u = 0; u < nn; u++)
        off[u + 1] += off[u];
    for (int64_t u = 0; u < nn; u++)
        it[u] = off[u];
    for (int64_t e = 0; e < m; e++) {
        adj[it[pr[2 * e]]++] = pr[2 * e + 1];
        adj[it[pr[2 * e + 1]]++] = pr[2 * e];
    }
    /* iterative DFS: discovery time, low link, size of the DFS subtree */
    for (int64_t u = 0; u < nn; u++)
        tin[u] = -1;
    for (int64_t r0 = 0; r0 < nn; r0++) {
        int64_t top = 0;
        if (tin[r0] >= 0)
            continue;
        tin[r0] = low[r0] = timer++;
        par[r0] = -1;
        sub[r0] = w->nd[nroot[r0]].size;
        it[r0] = off[r0];
        stk[top++] = (int32_t)r0;
        while (top > 0) {
            int32_t u = stk[top - 1];
            if (it[u] < off[u + 1]) {
                int32_t v = adj[it[u]++];
                if (v == par[u])
                    continue;
                if (tin[v] >= 0) {
                    if (tin[v] < low[u])
                        low[u] = tin[v];
                } else {
                    tin[v] = low[v] = timer++;
                    par[v] = u;
                    sub[v] = w->nd[nroot[v]].size;
                    it[v] = off[v];
                    stk[top++] = v;
                }
            } else {
                int32_t pu = par[u];
                top--;
                if (pu >= 0) {
                    if (low[u] < low[pu])
                        low[pu] = low[u];
                    sub[pu] += sub[u];
                    /* tree edge pu - u */
                    if (low[u] > tin[pu]) { /* a bridge: sides sub[u] and S - sub[u] */
                        int64_t S = gs[lp[u]];
                        if (!(sub[u] < min_size || S - sub[u] < min_size))
                            rc = 0;
                    } else if (!(gs[lp[u]] < min_size)) {
                        rc = 0;
                    }
                }
            }
        }
    }
    /* non-tree edges are never bridges: both sides are the whole group */
    for (int64_t e = 0; e < m && rc; e++) {
        int32_t u = pr[2 * e], v = pr[2 * e + 1];
        if (par[v] != u && par[u] != v && !(gs[lp[u]] < min_size))
            rc = 0;
    }
done:
    free(pr);
    free(off);
    free(adj);
    free(tin);
    free(low);
    free(par);
    free(it);
    free(stk);
    free(sub);
    return rc;
}

/* Is the outcome of the edges sc[i..j) (all of weight x) the same in every
 * order? Returns 1 if so, 0 if the order may matter, -1 on error.
 *
 * An edge is inert when it cannot join in any order: in the greedy pass,
 * when a component at one end has a threshold <= x (such a component
 * cannot join during the run, so its threshold stays); in the minimum-size
 * pass, when both components are already >= min_size (they only grow). The
 * other edges are active; group the components by the active edges. A group
 * of two components decides once, whichever of its parallel edges comes
 * first. A larger group is order-free when every active edge in it joins
 * whatever the order:
 *   greedy pass: a union of its components has the threshold
 *     (float)(x + k/size) >= (float)(x + k/S), S the group's total size, so
 *     if that exceeds x, unions stay joinable and every active edge joins;
 *   minimum-size pass: S < min_size (every union stays small), or every
 *     active edge has a small end whose only neighbour in the group is the
 *     other end (that end is still alone, and small, when the edge comes),
 *     or, more generally, every active edge is a bridge of the group with
 *     one side below min_size (bridges_all_small).
 * Otherwise the order may matter. */
static int run_order_free(fz_work *w, int64_t i, int64_t j, int pass, double x, double k,
                          int64_t min_size)
{
    int32_t st = ++w->stamp;
    int64_t m = j - i, nn = 0, na = 0;
    int32_t *es, *lp, *nroot, *nb;
    int64_t *gs;
    uint8_t *multi;
    int rc = 1;

    if (run_reserve(w, m))
        return -1;
    es = w->run;            /* (2m) the two local nodes of each active edge */
    lp = w->run + 2 * m;    /* (2m) local union-find over the nodes */
    nroot = w->run + 4 * m; /* (2m) the component (root pixel) of each node */
    nb = w->run + 6 * m;    /* (2m) a neighbour of each node */
    gs = w->runsz;          /* (2m) group sizes, at the group's local root */
    multi = w->runflag;     /* (2m) node has two distinct neighbours */
    for (int64_t e = 0; e < m; e++) {
        int32_t a, b, s0, s1, u, v;
        code_ends(w, w->sc[i + e], &a, &b);
        if (pass == 2 && !(w->small[a] | w->small[b]))
            continue;
        s0 = find_root(w->nd, a);
        s1 = find_root(w->nd, b);
        if (s0 == s1)
            continue;
        if (pass == 1 ? !((double)w->nd[s0].thr > x && (double)w->nd[s1].thr > x)
                      : !(w->nd[s0].size < min_size || w->nd[s1].size < min_size))
            continue;
        for (int t = 0; t < 2; t++) {
            int32_t r = t ? s1 : s0;
            if (w->mark[r] != st) {
                w->mark[r] = st;
                w->partner[r] = (int32_t)nn;
                lp[nn] = (int32_t)nn;
                nroot[nn] = r;
                nb[nn] = -1;
                multi[nn++] = 0;
            }
        }
        u = w->partner[s0];
        v = w->partner[s1];
        es[2 * na] = u;
        es[2 * na + 1] = v;
        na++;
        if (nb[u] < 0)
            nb[u] = v;
        else if (nb[u] != v)
            multi[u] = 1;
        if (nb[v] < 0)
            nb[v] = u;
        else if (nb[v] != u)
            multi[v] = 1;
        while (lp[u] != u)
            u = lp[u] = lp[lp[u]];
        while (lp[v] != v)
            v = lp[v] = lp[lp[v]];
        if (u != v)
            lp[u > v ? u : v] = u < v ? u : v;
    }
    if (na <= 1)
        return 1;
    /* Groups: flatten the local union-find, total sizes at the roots. */
    for (int64_t u = 0; u < nn; u++) {
        int32_t r = (int32_t)u;
        while (lp[r] != r)
            r = lp[r];
        lp[u] = r;
        gs[u] = 0;
    }
    for (int64_t u = 0; u < nn; u++)
        gs[lp[u]] += w->nd[nroot[u]].size;
    for (int64_t u = 0; u < nn; u++) {
        /* a group of two nodes: its root's only neighbour is the other node */
        if (lp[u] == u)
            multi[u] |= 2 * (nb[u] >= 0 && !(multi[u] & 1) && !(multi[nb[u]] & 1) && nb[nb[u]] == u);
    }
    for (int64_t e = 0; e < na && rc; e++) {
        int32_t u = es[2 * e], v = es[2 * e + 1], g = lp[u];
        int64_t S = gs[g];
        if (multi[g] & 2)
            continue; /* two components */
        if (pass == 1) {
            if ((double)(float)(x + k / (double)S) > x)
                continue;
        } else {
            if (S < min_size)
                continue;
            if (!(multi[u] & 1) && w->nd[nroot[u]].size < min_size)
                continue;
            if (!(multi[v] & 1) && w->nd[nroot[v]].size < min_size)
                continue;
        }
        rc = 0;
    }
    if (!rc && pass == 2)
        rc = bridges_all_small(w, es, na, nn, lp, gs, nroot, min_size);
    return rc;
}

int64_t fz_segment(int32_t *labels, const double *img, int64_t H, int64_t W, const fz_params *p,
                   fz_work *w, fz_stats *st)
{
    fz_stats s = {0};
    int64_t N, E, K = 0, nz;
    double k, t0;
    int exact, zero_free;

    if (H < 1 || W < 1 || H > FZ_MAX_PIXELS / W)
        return err_set("image size %lldx%lld is outside 1x1 .. %lld pixels", (long long)H,
                       (long long)W, (long long)FZ_MAX_PIXELS);
    if (!(p->scale >= 0 && p->scale <= 1e30) || !(p->sigma >= 0 && p->sigma <= 1000) ||
        p->min_size < 0)
        return err_set("parameters out of range (scale %g, sigma %g, min_size %lld)", p->scale,
                       p->sigma, (long long)p->min_size);
    N = H * W;
    E = edge_count(H, W);
    for (int64_t i = 0; i < N; i++)
        if (!isfinite(img[i]))
            return err_set("pixel (%lld, %lld) is %s", (long long)(i / W), (long long)(i % W),
                           isnan(img[i]) ? "NaN" : "infinite");
    if (work_reserve(w, N, E))
        return -1;

    t0 = clock_now();
    if (npc_gaussian_filter2d(w->img, img, H, W, p->sigma, p->sigma, 4.0, w->tmp))
        return -1;
    s.t_smooth = clock_now() - t0;

    /* right, down, down-right: (p + 1 | p + W | p + W + 1, p); up-right: (p + 1, p + W) */
    w->da[0] = 1, w->da[1] = (int32_t)W, w->da[2] = (int32_t)W + 1, w->da[3] = 1;
    w->db[0] = 0, w->db[1] = 0, w->db[2] = 0, w->db[3] = (int32_t)W;

    t0 = clock_now();
    w->have_scost = 0;
    w->have_lazy = 0;
    nz = build_edges(w, H, W);
    exact = p->sort == FZ_SORT_EXACT;
    if (exact) {
        if (exact_order(w, H, W, E))
            return -1;
    } else {
        radix_sort_keys(w, E - nz);
        if (fast_order(w, nz, E))
            return -1;
    }
    s.t_sort = clock_now() - t0;

    t0 = clock_now();
    k = p->scale / 255.0;
    for (int64_t i = 0; i < N; i++) {
        w->nd[i].parent = (int32_t)i;
        w->nd[i].size = 1;
        w->nd[i].thr = (float)(0.0 + k / 1.0);
        w->mark[i] = 0;
    }
    w->stamp = 0;

    /* Greedy pass. With k = 0 no threshold exceeds 0 and nothing joins.
     * Zero weights join whatever they touch when every threshold is > 0:
     * the smallest possible one is (float)(k / N) with Int = 0. */
    zero_free = k > 0 && (float)(k / (double)N) > 0.0f;
    if (k > 0) {
        for (int64_t i = 0; i < E;) {
            double x = w->sw[i];
            int64_t j = i + 1;
            if (exact) {
                merge_edge(w, w->sc[i], x, k);
                i++;
                continue;
            }
            while (j < E && w->sw[j] == x)
                j++;
            if (j - i > 1 && !(x == 0 && zero_free)) {
                int free_;
                s.tie_runs++;
                if ((free_ = run_order_free(w, i, j, 1, x, k, 0)) < 0)
                    return -1;
                if (!free_) {
                    /* numpy's order for this run (the introsort goes on
                     * from where the last such run left it) */
                    s.exact_runs++;
                    if (exact_run(w, H, W, E, i, j))
                        return -1;
                }
            }
            for (int64_t e = i; e < j; e++)
                merge_edge(w, w->sc[e], x, k);
            i = j;
        }
    }

    /* Minimum-size pass over the same order; sizes are >= 1, so min_size <= 1
     * joins nothing. An edge between two components that are already big
     * does nothing (they only grow): small[] flags the pixels of the small
     * ones, so that most edges are passed over without a find. */
    if (p->min_size > 1) {
        uint8_t *small = w->small;
        int64_t nsmall = 0, i = 0;
        for (int64_t q = 0; q < N; q++) {
            small[q] = w->nd[find_root(w->nd, (int32_t)q)].size < p->min_size;
            nsmall += small[q];
        }
        if (zero_free && !exact) /* every zero edge joined or was inside already */
            while (i < E && w->sw[i] == 0)
                i++;
        while (nsmall && i < E) {
            double x = w->sw[i];
            int64_t j = i + 1;
            if (exact) {
                int32_t a, b;
                code_ends(w, w->sc[i], &a, &b);
                if (small[a] | small[b])
                    small_edge(w, w->sc[i], p->min_size);
                i++;
                continue;
            }
            while (j < E && w->sw[j] == x)
                j++;
            if (j - i > 1) {
                int free_;
                s.tie_runs++;
                if ((free_ = run_order_free(w, i, j, 2, x, k, p->min_size)) < 0)
                    return -1;
                if (!free_) {
                    s.exact_runs++;
                    if (exact_run(w, H, W, E, i, j))
                        return -1;
                }
            }
            for (int64_t e = i; e < j; e++) {
                int32_t a, b;
                code_ends(w, w->sc[e], &a, &b);
                if (small[a] | small[b])
                    small_edge(w, w->sc[e], p->min_size);
            }
            i = j;
        }
    }

    /* Labels: a segment's root is its first pixel in raster order. */
    for (int64_t i = 0; i < N; i++) {
        int32_t r = find_root(w->nd, (int32_t)i);
        labels[i] = r == i ? (int32_t)K++ : labels[r];
    }
    s.t_merge = clock_now() - t0;
    s.K = K;
    s.edges = E;
    s.exact_sort = exact ? 2 : s.exact_runs > 0;
    if (st)
        *st = s;
    return K;
}
