/*
 * lrcloss — the local region contrast loss of LRC (MICCAI 2023) and its
 * gradient with respect to the two feature maps.
 *
 * A pair is a query feature map fq [D, H, W] with its region map Rq [H, W]
 * and a positive feature map fp [D, H, W] with Rp [H, W] (int32, region
 * labels 0..K-1, -1 = no region). Region k of Rq corresponds to region k of
 * Rp (elastic-aug warps Rq into Rp with the image).
 *
 * Sampling (lrc_sample_draw): a region is used when it has at least one pixel
 * in both maps; regions present in only one map are ignored and counted
 * (lrc_sample.one_sided). For every used region, in increasing label order,
 * N pixel positions are drawn uniformly with replacement from the region's
 * pixels in Rq (N draws of rng_below), then N from its pixels in Rp. Pixels
 * labelled -1 are never drawn. A pair with fewer than 2 used regions has no
 * loss (lrc_sample.nreg < 2): the caller skips it and counts it. Indices can
 * also be supplied from outside (lrc_sample_set), which is what the tests do.
 *
 * Region means: q_k = (1/N) sum_n fq[:, iq[k, n]], p_k likewise from fp.
 * With normalize (the default) they are L2-normalised, q_k / max(|q_k|, 1e-12).
 *
 * The loss of one pair, with a[k1,k2] = q_k1 . q_k2 / tau and
 * b[k1,k2] = q_k1 . p_k2 / tau, exactly as printed in the paper (k2 over all
 * K used regions in both sums, the self term a[k1,k1] included):
 *
 *   L = (1/K) sum_k1 -log( exp b[k1,k1] / sum_k2 (exp a[k1,k2] + exp b[k1,k2]) )
 *
 * i.e. the paper's sum over k1 divided by K: the loss PER REGION. With
 * exclude_self the term exp a[k1,k1] is left out of the denominator (the
 * SimCLR / NT-Xent convention). Note that with normalised means a[k1,k1] =
 * 1/tau is the largest possible logit, so the printed form is >= log 2.
 *
 * Over a batch, the trainer averages the per-pair losses over the pairs that
 * have a loss (each used pair weighs the same, whatever its K): pass
 * scale = 1 / (number of used pairs) to lrc_pair_loss.
 *
 * Everything after the gather runs in double precision; the loss's cost is
 * O(K^2 D + K N D), negligible beside the U-Net.
 *
 * Not here: the network and the optimiser (lrctrainer.h), batching (pairfeed.h).
 */
#ifndef LRC_LRCLOSS_H
#define LRC_LRCLOSS_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"

typedef struct {
    double tau;       /* temperature tau_l, > 0 (default 0.1) */
    int normalize;    /* L2-normalise the region means (default 1) */
    int exclude_self; /* leave exp(q_k . q_k / tau) out of the denominator */
} lrc_opts;

/* The defaults above. */
lrc_opts lrc_opts_default(void);

typedef struct {
    int nreg;        /* regions used (present in both maps) */
    int N;           /* samples per region */
    int one_sided;   /* labels present in only one of the two maps (ignored) */
    int32_t *label;  /* [nreg] the region label of each used region */
    int32_t *iq;     /* [nreg, N] flat pixel indices y*W + x into fq's plane */
    int32_t *ip;     /* [nreg, N] the same into fp's plane */
    int cap;         /* allocated regions */
} lrc_sample;

void lrc_sample_init(lrc_sample *s);
void lrc_sample_free(lrc_sample *s);

/* Draw the samples of one pair (see above). rq, rp [HW] int32. Labels below
 * -1, or >= HW (a dense map 0..K-1 never has K > HW), are an error (-1 with
 * err_set naming the map and the label). Returns 0; s->nreg < 2 means "no
 * loss for this pair". */
int lrc_sample_draw(lrc_sample *s, const int32_t *rq, const int32_t *rp, int64_t HW, int N, rng *r);

/* Supply the samples from outside: nreg regions of N indices each, iq/ip
 * [nreg, N], every index in [0, HW) (checked). Labels are set to 0..nreg-1. */
int lrc_sample_set(lrc_sample *s, int nreg, int N, const int32_t *iq, const int32_t *ip, int64_t HW);

/* The loss on region means. Q, P [K, D] raw (not yet normalised) means.
 * Sets *loss to the per-region loss L above. If dQ / dP are not NULL, ADDS
 * scale * dL/dQ and scale * dL/dP into them ([K, D]). K >= 1.
 * 0, or -1 (allocation failure, bad options) with err_set. */
int lrc_loss_means(double *loss, double *dQ, double *dP, const double *Q, const double *P, int K, int D,
                   const lrc_opts *o, double scale);

/* The loss of one pair on its feature maps. fq, fp [D, HW] float32 (one
 * image's planes, channel-major). Sets *loss; if dfq / dfp are not NULL, ADDS
 * scale * dL/dfq and scale * dL/dfp into them ([D, HW]): each sample receives
 * (1/N) of its region mean's gradient, repeated draws accumulate. Requires
 * s->nreg >= 1 (the caller skips pairs with nreg < 2). */
int lrc_pair_loss(double *loss, float *dfq, float *dfp, const float *fq, const float *fp, int D, int64_t HW,
                  const lrc_sample *s, const lrc_opts *o, double scale);

/* The region means alone (what lrc_pair_loss computes first): Q, P [nreg, D]
 * raw means, double. For diagnostics (same-region vs other-region cosine). */
void lrc_region_means(double *Q, double *P, const float *fq, const float *fp, int D, int64_t HW,
                      const lrc_sample *s);

#endif
