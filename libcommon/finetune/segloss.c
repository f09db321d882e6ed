/* segloss — soft Dice (+ cross-entropy) over organ classes; see segloss.h. */
#include "finetune/segloss.h"

#include <math.h>
#include <string.h>

#include "core/err.h"
#include "eval/segmetric.h"
#include "nn/dist.h"

#define TILE 64

void segloss_config_default(segloss_config *c)
{
    c->smooth = 1e-5;
    c->ce_weight = 0.0;
    c->all_ranks = 0;
}

/* The batch's sums over every rank: P, I, the hard counts, the
 * cross-entropy and the pixel count. */
static int sum_ranks(double *P, double *I, segloss_stats *st, double *ce, double *npix, int C)
{
    double v[5 * SEGLOSS_MAX_CLASSES + 2];
    int n = 0;
    for (int c = 0; c < C; c++) {
        v[n++] = P[c], v[n++] = I[c];
        v[n++] = (double)st->tp[c], v[n++] = (double)st->npred[c], v[n++] = (double)st->nref[c];
    }
    v[n++] = *ce, v[n++] = *npix;
    if (dist_sum_f64(v, n))
        return -1;
    n = 0;
    for (int c = 0; c < C; c++) {
        P[c] = v[n++], I[c] = v[n++];
        st->tp[c] = (int64_t)v[n++], st->npred[c] = (int64_t)v[n++], st->nref[c] = (int64_t)v[n++];
    }
    *ce = v[n++], *npix = v[n++];
    return 0;
}

/* Softmax of one tile of n pixels: z (C, row stride zs) into p (C, row
 * stride ps); mx the per-pixel maximum and lse the log of the partition
 * function relative to it (for the cross-entropy). */
static void softmax_tile(float *p, int ps, float *lse, float *mx, const float *z, int zs, int C, int n)
{
    for (int j = 0; j < n; j++)
        mx[j] = z[j];
    for (int c = 1; c < C; c++) {
        const float *zc = z + (size_t)c * zs;
        for (int j = 0; j < n; j++)
            mx[j] = zc[j] > mx[j] ? zc[j] : mx[j];
    }
    for (int j = 0; j < n; j++)
        lse[j] = 0;
    for (int c = 0; c < C; c++) {
        const float *zc = z + (size_t)c * zs;
        float *pc = p + (size_t)c * ps;
        for (int j = 0; j < n; j++) {
            pc[j] = expf(zc[j] - mx[j]);
            lse[j] += pc[j];
        }
    }
    for (int j = 0; j < n; j++) {
        float inv = 1.0f / lse[j];
        for (int c = 0; c < C; c++)
            p[(size_t)c * ps + j] *= inv;
        lse[j] = logf(lse[j]);
    }
}

int segloss_dice(float *dlogits, segloss_stats *st, const float *logits, const uint8_t *label, int N, int C,
                 int HW, const segloss_config *cfg)
{
    double I[SEGLOSS_MAX_CLASSES] = {0}, P[SEGLOSS_MAX_CLASSES] = {0};
    double a[SEGLOSS_MAX_CLASSES] = {0}, b[SEGLOSS_MAX_CLASSES] = {0};
    float pbuf[SEGLOSS_MAX_CLASSES * TILE];
    float mx[TILE], lse[TILE];
    uint8_t best[TILE]; /* argmax of a tile's pixels */
    double ce = 0;
    if (C < 2 || C > SEGLOSS_MAX_CLASSES)
        return err_set("segloss: %d classes (2..%d: background and at least one organ)", C, SEGLOSS_MAX_CLASSES);
    memset(st, 0, sizeof *st);
    for (int n = 0; n < N; n++)
        for (int j = 0; j < HW; j++)
            if (label[(size_t)n * HW + j] >= C)
                return err_set("segloss: image %d, pixel %d: label %d is not a class (0..%d)", n, j,
                               label[(size_t)n * HW + j], C - 1);

    /* pass 1: probabilities (into dlogits when given, else a tile buffer),
     * sums, cross-entropy and argmax counts */
    for (int n = 0; n < N; n++) {
        const float *zn = logits + (size_t)n * C * HW;
        const uint8_t *yn = label + (size_t)n * HW;
        for (int j0 = 0; j0 < HW; j0 += TILE) {
            int m = HW - j0 < TILE ? HW - j0 : TILE;
            float *p = dlogits ? dlogits + (size_t)n * C * HW + j0 : pbuf;
            int ps = dlogits ? HW : TILE;
            softmax_tile(p, ps, lse, mx, zn + j0, HW, C, m);
            for (int c = 0; c < C; c++) {
                const float *pc = p + (size_t)c * ps;
                double s = 0, si = 0;
                for (int j = 0; j < m; j++) {
                    s += pc[j];
                    si += yn[j0 + j] == c ? pc[j] : 0;
                }
                P[c] += s;
                I[c] += si;
            }
            for (int j = 0; j < m; j++) {
                int y = yn[j0 + j], k = 0;
                float bz = zn[j0 + j];
                for (int c = 1; c < C; c++) {
                    float v = zn[(size_t)c * HW + j0 + j];
                    if (v > bz)
                        bz = v, k = c;
                }
                best[j] = (uint8_t)k;
                /* log p_y = z_y - max - log sum exp(z - max) */
                ce -= (double)(zn[(size_t)y * HW + j0 + j] - mx[j] - lse[j]);
            }
            segm_tally(st->tp, st->npred, st->nref, yn + j0, best, (size_t)m);
        }
    }
    double npix = (double)N * HW;
    if (cfg->all_ranks && sum_ranks(P, I, st, &ce, &npix, C))
        return -1;
    const double s = cfg->smooth, K = C - 1;
    double dsum = 0;
    for (int c = 1; c < C; c++) {
        double den = P[c] + (double)st->nref[c] + s, num = 2 * I[c] + s;
        dsum += num / den;
        /* dL/dp_c = a_c [y = c] + b_c */
        a[c] = -2.0 / (K * den);
        b[c] = num / (K * den * den);
    }
    st->dice_loss = 1 - dsum / K;
    st->ce = ce / npix;
    st->loss = st->dice_loss + cfg->ce_weight * st->ce;
    if (!dlogits)
        return 0;

    /* pass 2: through the softmax, dz_c = p_c (g_c - sum_k p_k g_k), plus
     * the cross-entropy's w (p_c - [y = c]) / npix */
    const float w = (float)(cfg->ce_weight / npix);
    for (int n = 0; n < N; n++) {
        float *dn = dlogits + (size_t)n * C * HW;
        const uint8_t *yn = label + (size_t)n * HW;
        for (int j0 = 0; j0 < HW; j0 += TILE) {
            int m = HW - j0 < TILE ? HW - j0 : TILE;
            float dot[TILE];
            for (int j = 0; j < m; j++) {
                int y = yn[j0 + j];
                dot[j] = (float)a[y] * dn[(size_t)y * HW + j0 + j];
            }
            for (int c = 0; c < C; c++) {
                const float bc = (float)b[c];
                const float *pc = dn + (size_t)c * HW + j0;
                for (int j = 0; j < m; j++)
                    dot[j] += bc * pc[j];
            }
            for (int c = 0; c < C; c++) {
                const float ac = (float)a[c], bc = (float)b[c];
                float *pc = dn + (size_t)c * HW + j0;
                for (int j = 0; j < m; j++) {
                    int hit = yn[j0 + j] == c;
                    float g = bc + (hit ? ac : 0.0f);
                    float p = pc[j];
                    pc[j] = p * (g - dot[j]) + w * (p - (float)hit);
                }
            }
        }
    }
    return 0;
}

double segloss_hard_dice(const segloss_stats *st, int C)
{
    return segm_mean_dice(st->tp, st->npred, st->nref, C < SEGLOSS_MAX_CLASSES ? C : SEGLOSS_MAX_CLASSES, NULL);
}

void segloss_meter_add(segloss_meter *m, const segloss_stats *st, int C)
{
    m->loss += st->loss;
    m->dice_loss += st->dice_loss;
    m->ce += st->ce;
    m->n++;
    for (int c = 0; c < C; c++) {
        m->tp[c] += st->tp[c];
        m->npred[c] += st->npred[c];
        m->nref[c] += st->nref[c];
    }
}

void segloss_meter_record(segloss_meter *m, mval *rec, int C)
{
    mval_put_f64(rec, "loss", m->loss / m->n);
    mval_put_f64(rec, "dice_loss", m->dice_loss / m->n);
    mval_put_f64(rec, "ce", m->ce / m->n);
    double d = segm_mean_dice(m->tp, m->npred, m->nref, C, NULL);
    if (!isnan(d))
        mval_put_f64(rec, "train_dice", d);
    memset(m, 0, sizeof *m);
}
