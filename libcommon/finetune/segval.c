#include "finetune/segval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "eval/segmetric.h"

int segval_run(segval_result *res, segnet *net, const segdata *va, int B, float *x, uint8_t *pred)
{
    const int C = va->C;
    const size_t px = (size_t)va->H * va->W;
    int64_t tp[SEGM_NLABELS], np[SEGM_NLABELS], nr[SEGM_NLABELS];
    double *osum = calloc((size_t)C, sizeof *osum), *dice = malloc((size_t)C * sizeof *dice), sum = 0;
    int *on = calloc((size_t)C, sizeof *on), n = 0, rc = -1;
    memset(res, 0, sizeof *res);
    if (!osum || !dice || !on || !(res->organ = calloc((size_t)C, sizeof *res->organ))) {
        err_set("out of memory");
        goto out;
    }
    for (int v = 0; v < va->nvol; v++) {
        const segvol *sv = &va->vols[v];
        memset(tp, 0, sizeof tp), memset(np, 0, sizeof np), memset(nr, 0, sizeof nr);
        for (int64_t j0 = 0; j0 < sv->n; j0 += B) {
            int m = (int)(sv->n - j0 < B ? sv->n - j0 : B);
            for (int k = 0; k < m; k++)
                memcpy(x + k * px, va->img + (size_t)sv->slice[j0 + k] * px, px * sizeof(float));
            if (segnet_predict(net, pred, x, m, va->H, va->W))
                goto out;
            for (int k = 0; k < m; k++)
                segm_tally(tp, np, nr, va->lab + (size_t)sv->slice[j0 + k] * px, pred + k * px, px);
        }
        segm_mean_dice(tp, np, nr, C, dice);
        for (int c = 1; c < C; c++) {
            if (isnan(dice[c]))
                continue; /* absent from both: excluded, as dice-eval does */
            sum += dice[c];
            n++;
            osum[c] += dice[c];
            on[c]++;
        }
    }
    res->mean = n ? sum / n : NAN;
    res->scored = n;
    for (int c = 0; c < C; c++)
        res->organ[c] = c && on[c] ? osum[c] / on[c] : NAN;
    rc = 0;
out:
    free(osum), free(dice), free(on);
    return rc;
}

void segval_free(segval_result *res)
{
    free(res->organ);
    res->organ = NULL;
}

void segval_record(mval *rec, const segval_result *res, char *const *classes, int C)
{
    mval *org;
    if (!isnan(res->mean))
        mval_put_f64(rec, "val_dice", res->mean);
    org = mval_map_put(rec, "val_organs");
    mval_set_map(org);
    for (int c = 1; c < C; c++) {
        char name[32];
        if (isnan(res->organ[c]))
            continue;
        if (!classes)
            snprintf(name, sizeof name, "%d", c);
        mval_put_f64(org, classes ? classes[c] : name, res->organ[c]);
    }
    mval_put_i64(rec, "val_scored", res->scored);
}

void segval_log_record(mval *rec, int64_t step, double epoch, const segval_result *res, char *const *classes, int C,
                       double best, int64_t best_step)
{
    mval_put_i64(rec, "step", step);
    mval_put_f64(rec, "epoch", epoch);
    segval_record(rec, res, classes, C);
    if (!isnan(best)) {
        mval_put_f64(rec, "best_dice", best);
        mval_put_i64(rec, "best_step", best_step);
    }
}
