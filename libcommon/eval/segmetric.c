/* segmetric — Dice, HD95 and ASSD of label maps (definitions in segmetric.h). */
#include "eval/segmetric.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eval/edt.h"

void segm_count(segm_count_t out[SEGM_NLABELS], const uint8_t *ref, const uint8_t *pred, int64_t Z, int64_t Y,
                int64_t X)
{
    /* Per row: counts go straight to the tables; a label's box grows by the
     * row's (z, y) and its first and last x, tracked in small per-row tables. */
    int64_t nref[SEGM_NLABELS] = {0}, npred[SEGM_NLABELS] = {0}, ntp[SEGM_NLABELS] = {0};
    int64_t xlo[SEGM_NLABELS], xhi[SEGM_NLABELS];
    uint8_t seen[SEGM_NLABELS];
    for (int c = 0; c < SEGM_NLABELS; c++) {
        out[c] = (segm_count_t){0};
        out[c].lo[0] = out[c].lo[1] = out[c].lo[2] = INT64_MAX;
        out[c].hi[0] = out[c].hi[1] = out[c].hi[2] = -1;
    }
    for (int64_t z = 0; z < Z; z++)
        for (int64_t y = 0; y < Y; y++) {
            const uint8_t *r = ref + (z * Y + y) * X, *p = pred + (z * Y + y) * X;
            uint8_t list[2 * SEGM_NLABELS];
            int nlist = 0;
            memset(seen, 0, sizeof seen);
            for (int64_t x = 0; x < X; x++) {
                uint8_t a = r[x], b = p[x];
                nref[a]++;
                npred[b]++;
                if (a == b) {
                    ntp[a]++;
                    if (!a)
                        continue;
                }
                /* Box of the union: background (0) is tracked too, but it
                 * is rarely asked for; skip the common all-zero case above. */
                if (!seen[a]) {
                    seen[a] = 1;
                    list[nlist++] = a;
                    xlo[a] = x;
                }
                xhi[a] = x;
                if (!seen[b]) {
                    seen[b] = 1;
                    list[nlist++] = b;
                    xlo[b] = x;
                }
                xhi[b] = x;
            }
            for (int i = 0; i < nlist; i++) {
                segm_count_t *c = &out[list[i]];
                if (z < c->lo[0]) c->lo[0] = z;
                if (z > c->hi[0]) c->hi[0] = z;
                if (y < c->lo[1]) c->lo[1] = y;
                if (y > c->hi[1]) c->hi[1] = y;
                if (xlo[list[i]] < c->lo[2]) c->lo[2] = xlo[list[i]];
                if (xhi[list[i]] > c->hi[2]) c->hi[2] = xhi[list[i]];
            }
        }
    for (int c = 0; c < SEGM_NLABELS; c++) {
        out[c].nref = nref[c];
        out[c].npred = npred[c];
        out[c].ntp = ntp[c];
    }
    /* Background's box: the whole grid if it occurs at all (it is skipped
     * above where both maps agree on it). */
    if (nref[0] || npred[0]) {
        out[0].lo[0] = out[0].lo[1] = out[0].lo[2] = 0;
        out[0].hi[0] = Z - 1;
        out[0].hi[1] = Y - 1;
        out[0].hi[2] = X - 1;
    }
}

double segm_dice(const segm_count_t *c)
{
    int64_t den = c->nref + c->npred;
    if (!den)
        return NAN;
    return 2.0 * (double)c->ntp / (double)den;
}

void segm_surface_mask(uint8_t *surf, const uint8_t *mask, int64_t Z, int64_t Y, int64_t X)
{
    const int64_t YX = Y * X;
    for (int64_t z = 0; z < Z; z++)
        for (int64_t y = 0; y < Y; y++) {
            int64_t o = z * YX + y * X;
            for (int64_t x = 0; x < X; x++) {
                int64_t i = o + x;
                if (!mask[i]) {
                    surf[i] = 0;
                    continue;
                }
                int inner = x > 0 && x < X - 1 && y > 0 && y < Y - 1 && z > 0 && z < Z - 1 && mask[i - 1] &&
                            mask[i + 1] && mask[i - X] && mask[i + X] && mask[i - YX] && mask[i + YX];
                surf[i] = !inner;
            }
        }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double segm_percentile(double *v, size_t n, double q)
{
    if (!n)
        return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    double quant = q / 100.0;
    double virt = (double)(n - 1) * quant;
    if (virt >= (double)(n - 1))
        return v[n - 1];
    if (virt < 0)
        return v[0];
    double prev = floor(virt);
    size_t i = (size_t)prev;
    double a = v[i], b = v[i + 1], t = virt - prev;
    double diff = b - a;
    if (t >= 0.5)
        return b - diff * (1.0 - t);
    return a + diff * t;
}

/* Surface voxels of {m == c} inside the box, as box coordinates (z, y, x)
 * appended to pts (int32 triples). A voxel is interior when its 6
 * neighbours are in the grid and labelled c. */
static int64_t surface_points(int32_t *pts, const uint8_t *m, int64_t Z, int64_t Y, int64_t X, uint8_t c,
                              const int64_t lo[3], const int64_t hi[3])
{
    const int64_t YX = Y * X;
    int64_t n = 0;
    for (int64_t z = lo[0]; z <= hi[0]; z++)
        for (int64_t y = lo[1]; y <= hi[1]; y++) {
            const uint8_t *row = m + z * YX + y * X;
            for (int64_t x = lo[2]; x <= hi[2]; x++) {
                if (row[x] != c)
                    continue;
                int inner = x > 0 && x < X - 1 && y > 0 && y < Y - 1 && z > 0 && z < Z - 1 && row[x - 1] == c &&
                            row[x + 1] == c && row[x - X] == c && row[x + X] == c && row[x - YX] == c &&
                            row[x + YX] == c;
                if (inner)
                    continue;
                pts[3 * n] = (int32_t)(z - lo[0]);
                pts[3 * n + 1] = (int32_t)(y - lo[1]);
                pts[3 * n + 2] = (int32_t)(x - lo[2]);
                n++;
            }
        }
    return n;
}

/* Squared distance between box voxels, summed in the order scipy's EDT sums
 * NIfTI-ordered axes: (x^2 + y^2) + z^2, each an integer offset times its
 * spacing. */
static inline double sqdist(double oz, double oy, double ox, const double sp[3])
{
    double tx = ox * sp[2], ty = oy * sp[1], tz = oz * sp[0];
    return (tx * tx + ty * ty) + tz * tz;
}

/* Nearest-surface distances by comparing every pair: dab[i] for point i of
 * a, dba[j] for point j of b (both squared, mm^2). */
static int brute_dists(double *dab, double *dba, const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                       const double sp[3])
{
    double *bz = malloc(sizeof(double) * (size_t)nb * 3), *by = bz + nb, *bx = by + nb;
    if (!bz)
        return err_set("segmetric: out of memory");
    for (int64_t j = 0; j < nb; j++) {
        bz[j] = b[3 * j];
        by[j] = b[3 * j + 1];
        bx[j] = b[3 * j + 2];
        dba[j] = INFINITY;
    }
    for (int64_t i = 0; i < na; i++) {
        const double az = a[3 * i], ay = a[3 * i + 1], ax = a[3 * i + 2];
        double best = INFINITY;
#pragma omp simd reduction(min : best)
        for (int64_t j = 0; j < nb; j++) {
            double d = sqdist(az - bz[j], ay - by[j], ax - bx[j], sp);
            best = d < best ? d : best;
            dba[j] = d < dba[j] ? d : dba[j];
        }
        dab[i] = best;
    }
    free(bz);
    return 0;
}

/* The same with the exact EDT of each surface over the box. */
static int edt_dists(double *dab, double *dba, const int32_t *a, int64_t na, const int32_t *b, int64_t nb,
                     const int64_t dims[3], const double sp[3])
{
    const int64_t nbox = dims[0] * dims[1] * dims[2];
    uint8_t *ma = calloc((size_t)nbox, 1), *mb = calloc((size_t)nbox, 1);
    double *sq = malloc(sizeof(double) * (size_t)nbox);
    int rc = -1;
    if (!ma || !mb || !sq) {
        err_set("segmetric: out of memory");
        goto done;
    }
#define IDX(p) (((int64_t)(p)[0] * dims[1] + (p)[1]) * dims[2] + (p)[2])
    for (int64_t i = 0; i < na; i++)
        ma[IDX(a + 3 * i)] = 1;
    for (int64_t j = 0; j < nb; j++)
        mb[IDX(b + 3 * j)] = 1;
    if (edt_sq3_at(sq, mb, ma, dims[0], dims[1], dims[2], sp))
        goto done;
    for (int64_t i = 0; i < na; i++)
        dab[i] = sq[IDX(a + 3 * i)];
    if (edt_sq3_at(sq, ma, mb, dims[0], dims[1], dims[2], sp))
        goto done;
    for (int64_t j = 0; j < nb; j++)
        dba[j] = sq[IDX(b + 3 * j)];
#undef IDX
    rc = 0;
done:
    free(ma), free(mb), free(sq);
    return rc;
}

int segm_surface(segm_surface_t *out, const uint8_t *ref, const uint8_t *pred, int64_t Z, int64_t Y, int64_t X,
                 uint8_t c, const segm_count_t *box, const double spacing[3])
{
    memset(out, 0, sizeof *out);
    if (!box->nref && !box->npred) {
        out->hd95 = out->assd = NAN;
        return 0;
    }
    const int64_t dims[3] = {box->hi[0] - box->lo[0] + 1, box->hi[1] - box->lo[1] + 1, box->hi[2] - box->lo[2] + 1};
    const int64_t nbox = dims[0] * dims[1] * dims[2];
    /* A surface has at most as many voxels as its mask. */
    int32_t *pa = malloc(sizeof(int32_t) * 3 * (size_t)(box->nref + 1));
    int32_t *pb = malloc(sizeof(int32_t) * 3 * (size_t)(box->npred + 1));
    double *dist = NULL;
    int rc = -1;
    if (!pa || !pb) {
        err_set("segmetric: out of memory");
        goto done;
    }
    int64_t na = box->nref ? surface_points(pa, ref, Z, Y, X, c, box->lo, box->hi) : 0;
    int64_t nb = box->npred ? surface_points(pb, pred, Z, Y, X, c, box->lo, box->hi) : 0;
    out->nsurf_ref = na;
    out->nsurf_pred = nb;
    if (!na || !nb) {
        out->hd95 = out->assd = INFINITY;
        rc = 0;
        goto done;
    }
    dist = malloc(sizeof(double) * (size_t)(na + nb));
    if (!dist) {
        err_set("segmetric: out of memory");
        goto done;
    }
    /* dist[0..nb): D_BA (pred surface to ref surface), dist[nb..): D_AB.
     * Comparing all pairs costs about 2 ns a pair, the two EDTs about 30 ns
     * a voxel of the box (measured on spheres, Xeon, SSE2): take the
     * cheaper; both give the same numbers. Brute force wins for scattered
     * voxels in a large box (noisy predictions). */
    double *dba = dist, *dab = dist + nb;
        if ((double)na * (double)nb < 15.0 * (double)nbox) {
        if (brute_dists(dab, dba, pa, na, pb, nb, spacing))
            goto done;
    } else if (edt_dists(dab, dba, pa, na, pb, nb, dims, spacing))
        goto done;
    long double sum = 0;
    for (int64_t i = 0; i < na + nb; i++) {
        dist[i] = sqrt(dist[i]);
        sum += dist[i];
    }
    /* ASSD: NumPy sums the concatenation pairwise; a long double running sum
     * is within an ulp of it (and of the exact sum). */
    out->assd = (double)(sum / (long double)(na + nb));
    double p1 = segm_percentile(dba, (size_t)nb, 95.0), p2 = segm_percentile(dab, (size_t)na, 95.0);
    out->hd95 = p1 > p2 ? p1 : p2;
    rc = 0;
done:
    free(pa), free(pb), free(dist);
    return rc;
}

int segm_labels(uint8_t *dst, const tensor *t, size_t n, const char *what)
{
    if (t->dtype == DT_U8) {
        memcpy(dst, t->data, n);
        return 0;
    }
    if (t->dtype == DT_F32 || t->dtype == DT_F64)
        return err_set("'%s' is %s; a label map must hold integers", what, dtype_name(t->dtype));
    for (size_t i = 0; i < n; i++) {
        double x = tensor_get(t, i);
        if (x < 0 || x > 255)
            return err_set("'%s' has label value %.0f, outside 0..255", what, x);
        dst[i] = (uint8_t)x;
    }
    return 0;
}

void segm_tally(int64_t *tp, int64_t *npred, int64_t *nref, const uint8_t *ref, const uint8_t *pred, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        nref[ref[i]]++;
        npred[pred[i]]++;
        tp[ref[i]] += ref[i] == pred[i];
    }
}

double segm_mean_dice(const int64_t *tp, const int64_t *npred, const int64_t *nref, int C, double *dice)
{
    double sum = 0;
    int n = 0;
    if (dice && C > 0)
        dice[0] = NAN;
    for (int c = 1; c < C; c++) {
        int64_t den = npred[c] + nref[c];
        double d = den ? 2.0 * (double)tp[c] / (double)den : NAN;
        if (dice)
            dice[c] = d;
        if (!den)
            continue;
        sum += d;
        n++;
    }
    return n ? sum / n : NAN;
}
