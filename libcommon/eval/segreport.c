#include "eval/segreport.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/mval.h"
#include "core/parse.h"

static const char *status_name[] = {"ok", "absent", "missed", "spurious", "ignored"};
static const char *metric_name[] = {"dice", "hd95", "assd", "nsd"};

segr_status segreport_status(const segr_volume *v, int c)
{
    if (v->ignore[c])
        return SEGR_IGNORED;
    const segm_count_t *k = &v->cnt[c];
    if (!k->nref && !k->npred)
        return SEGR_ABSENT;
    if (!k->npred)
        return SEGR_MISSED;
    if (!k->nref)
        return SEGR_SPURIOUS;
    return SEGR_OK;
}

static int scored(segr_status s)
{
    return s != SEGR_ABSENT && s != SEGR_IGNORED;
}

const char *segreport_class_name(const segreport *r, int c, char *buf, size_t n)
{
    if (c < r->nnames && r->names[c])
        return r->names[c];
    snprintf(buf, n, "%d", c);
    return buf;
}

static double value_of(const segr_volume *v, int c, int m)
{
    if (m == SEGR_DICE)
        return segm_dice(&v->cnt[c]);
    return m == SEGR_HD95 ? v->surf[c].hd95 : m == SEGR_ASSD ? v->surf[c].assd : v->surf[c].nsd;
}

static int nmetric(const segreport *r)
{
    return r->surface ? r->nsd > 0 ? SEGR_NMETRIC : SEGR_NSD : 1;
}

/* ---- the ignore list ---- */

/* An organ of the ignore list: a class name, else a label value. -1 if neither. */
static int organ_of(const segreport *r, const char *name)
{
    char buf[16];
    int64_t x;
    for (int k = 1; k < SEGM_NLABELS; k++)
        if (!strcmp(segreport_class_name(r, k, buf, sizeof buf), name))
            return k;
    if (!parse_i64(name, &x) && x >= 1 && x < SEGM_NLABELS && (!r->nnames || x < r->nnames))
        return (int)x;
    return -1;
}

int segreport_ignore(segreport *r, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int ln = 0, rc = 0;
    if (!f)
        return err_set("%s:", path);
    while (!rc && fgets(line, sizeof line, f)) {
        ln++;
        if (!strchr(line, '\n') && !feof(f)) {
            rc = err_set("%s:%d: line too long", path, ln);
            break;
        }
        char *h = strchr(line, '#');
        if (h)
            *h = '\0';
        char *save, *id = strtok_r(line, " \t\r\n", &save);
        if (!id)
            continue;
        char *rest = strtok_r(NULL, "\r\n", &save);
        int norg = 0;
        for (char *o = rest ? strtok_r(rest, ", \t", &save) : NULL; o && !rc; o = strtok_r(NULL, ", \t", &save)) {
            int c = organ_of(r, o), hit = 0;
            norg++;
            if (c < 0) {
                rc = err_set("%s:%d: unknown organ '%s' (not in %s)", path, ln, o,
                             r->nnames ? r->names_src : "label values 1..255");
                break;
            }
            for (int i = 0; i < r->nvols; i++)
                if (!strcmp(r->vols[i]->id, id)) {
                    r->vols[i]->ignore[c] = 1;
                    hit = 1;
                }
            if (!hit)
                log_info("%s:%d: volume %s is not in the input", path, ln, id);
        }
        if (!rc && !norg)
            rc = err_set("%s:%d: want 'ID ORGAN[,ORGAN]...', got only '%s'", path, ln, id);
    }
    if (!rc && ferror(f))
        rc = err_set("%s: read error", path);
    fclose(f);
    return rc;
}

/* ---- statistics ---- */

/* Mean/std over the scored values: Dice of every non-ignored, non-absent
 * entry; HD95/ASSD of the finite ones (one-sided organs counted in ninf). */
static void stat_add(segr_stat *s, double x)
{
    if (isinf(x)) {
        s->ninf++;
        return;
    }
    s->sum += x;
    s->sumsq += x * x;
    s->n++;
}

static void stat_done(segr_stat *s, const double *vals, size_t n)
{
    /* Two passes for the std, as numpy.std does (ddof = 0). */
    s->mean = s->n ? s->sum / (double)s->n : NAN;
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        if (!isinf(vals[i]))
            acc += (vals[i] - s->mean) * (vals[i] - s->mean);
    s->std = s->n ? sqrt(acc / (double)s->n) : NAN;
}

int segreport_summarise(segreport *r)
{
    r->norgans = 0;
    memset(r->org, 0, sizeof r->org);
    memset(r->all, 0, sizeof r->all);
    for (int c = 1; c < SEGM_NLABELS; c++) {
        int any = 0;
        for (int i = 0; i < r->nvols && !any; i++) {
            segr_status s = segreport_status(r->vols[i], c);
            any = s == SEGR_OK || s == SEGR_MISSED || s == SEGR_SPURIOUS;
        }
        if (any)
            r->organs[r->norgans++] = c;
    }
    double *vals = malloc(sizeof *vals * (size_t)(r->nvols + 1));
    double *allv = malloc(sizeof *allv * (size_t)(r->nvols + 1) * (size_t)(r->norgans + 1));
    if (!vals || !allv) {
        free(vals);
        free(allv);
        return err_set("out of memory");
    }
    for (int m = 0; m < nmetric(r); m++) {
        size_t nall = 0;
        for (int o = 0; o < r->norgans; o++) {
            size_t nv = 0;
            for (int i = 0; i < r->nvols; i++) {
                if (!scored(segreport_status(r->vols[i], r->organs[o])))
                    continue;
                double x = value_of(r->vols[i], r->organs[o], m);
                vals[nv++] = x;
                allv[nall++] = x;
                stat_add(&r->org[o][m], x);
                stat_add(&r->all[m], x);
            }
            stat_done(&r->org[o][m], vals, nv);
        }
        stat_done(&r->all[m], allv, nall);
    }
    free(vals);
    free(allv);
    return 0;
}

/* Mean of one volume's scored values of metric m (NaN if none). */
static double volume_mean(const segreport *r, const segr_volume *v, int m)
{
    double s = 0;
    int n = 0;
    for (int o = 0; o < r->norgans; o++) {
        if (!scored(segreport_status(v, r->organs[o])))
            continue;
        double x = value_of(v, r->organs[o], m);
        if (isinf(x))
            continue;
        s += x;
        n++;
    }
    return n ? s / n : NAN;
}

/* ---- writers ---- */

static const char *fmt_num(const segreport *r, double x, char *buf, size_t n)
{
    if (isnan(x))
        snprintf(buf, n, "-");
    else if (isinf(x))
        snprintf(buf, n, "inf");
    else
        snprintf(buf, n, "%.*f", r->digits, x);
    return buf;
}

static const char *cell(const segreport *r, const segr_volume *v, int c, int m, char *buf, size_t n)
{
    segr_status s = segreport_status(v, c);
    if (s == SEGR_IGNORED)
        return "ign";
    if (s == SEGR_ABSENT)
        return "-";
    return fmt_num(r, value_of(v, c, m), buf, n);
}

void segreport_table(const segreport *r, FILE *out)
{
    char nsd_title[64];
    const char *title[] = {"Dice", "HD95 (mm)", "ASSD (mm)", nsd_title};
    const int digits = r->digits;
    char buf[64], nb[16];
    int idw = 6, w[SEGM_NLABELS];
    for (int i = 0; i < r->nvols; i++)
        if ((int)strlen(r->vols[i]->id) > idw)
            idw = (int)strlen(r->vols[i]->id);
    for (int o = 0; o < r->norgans; o++) {
        w[o] = (int)strlen(segreport_class_name(r, r->organs[o], nb, sizeof nb));
        if (w[o] < digits + 4)
            w[o] = digits + 4;
    }
    snprintf(nsd_title, sizeof nsd_title, "NSD at %g mm", r->nsd);
    for (int m = 0; m < nmetric(r); m++) {
        fprintf(out, "%s per volume (-: organ in neither map, ign: ignored%s)\n", title[m],
                m == SEGR_HD95 || m == SEGR_ASSD ? ", inf: organ in one map only" : "");
        fprintf(out, "%-*s", idw, "id");
        for (int o = 0; o < r->norgans; o++)
            fprintf(out, "  %*s", w[o], segreport_class_name(r, r->organs[o], nb, sizeof nb));
        fprintf(out, "  %*s\n", digits + 4, "mean");
        for (int i = 0; i < r->nvols; i++) {
            fprintf(out, "%-*s", idw, r->vols[i]->id);
            for (int o = 0; o < r->norgans; o++)
                fprintf(out, "  %*s", w[o], cell(r, r->vols[i], r->organs[o], m, buf, sizeof buf));
            fprintf(out, "  %*s\n", digits + 4, fmt_num(r, volume_mean(r, r->vols[i], m), buf, sizeof buf));
        }
        fprintf(out, "\n");
    }
    int ow = 7;
    for (int o = 0; o < r->norgans; o++)
        if ((int)strlen(segreport_class_name(r, r->organs[o], nb, sizeof nb)) > ow)
            ow = (int)strlen(segreport_class_name(r, r->organs[o], nb, sizeof nb));
    int nw = digits + 5;
    fprintf(out, "Per organ (mean and standard deviation over volumes%s)\n",
            r->surface ? "; HD95/ASSD over the volumes where both maps have the organ" : "");
    fprintf(out, "%-*s  %5s  %*s  %*s", ow, "organ", "n", nw, "dice", nw, "std");
    if (r->surface)
        fprintf(out, "  %*s  %*s  %*s  %*s  %5s", nw, "hd95_mm", nw, "std", nw, "assd_mm", nw, "std", "inf");
    if (nmetric(r) > SEGR_NSD)
        fprintf(out, "  %*s  %*s", nw, "nsd", nw, "std");
    fprintf(out, "\n");
    for (int o = 0; o <= r->norgans; o++) {
        const segr_stat *s = o < r->norgans ? r->org[o] : r->all;
        fprintf(out, "%-*s  %5lld", ow, o < r->norgans ? segreport_class_name(r, r->organs[o], nb, sizeof nb) : "overall",
                (long long)s[SEGR_DICE].n);
        fprintf(out, "  %*s", nw, fmt_num(r, s[SEGR_DICE].mean, buf, sizeof buf));
        fprintf(out, "  %*s", nw, fmt_num(r, s[SEGR_DICE].std, buf, sizeof buf));
        if (r->surface) {
            for (int m = SEGR_HD95; m <= SEGR_ASSD; m++) {
                fprintf(out, "  %*s", nw, fmt_num(r, s[m].mean, buf, sizeof buf));
                fprintf(out, "  %*s", nw, fmt_num(r, s[m].std, buf, sizeof buf));
            }
            fprintf(out, "  %5lld", (long long)s[SEGR_HD95].ninf);
        }
        if (nmetric(r) > SEGR_NSD) {
            fprintf(out, "  %*s", nw, fmt_num(r, s[SEGR_NSD].mean, buf, sizeof buf));
            fprintf(out, "  %*s", nw, fmt_num(r, s[SEGR_NSD].std, buf, sizeof buf));
        }
        fprintf(out, "\n");
    }
}

/* A number for TSV: "nan" for NaN, else as in the table. */
static const char *tsv_num(const segreport *r, double x, char *buf, size_t n)
{
    return isnan(x) ? "nan" : fmt_num(r, x, buf, n);
}

void segreport_tsv(const segreport *r, FILE *out)
{
    char buf[64], nb[16];
    fprintf(out, "id\torgan\tlabel\tstatus\tdice");
    if (r->surface)
        fprintf(out, "\thd95_mm\tassd_mm");
    if (nmetric(r) > SEGR_NSD)
        fprintf(out, "\tnsd");
    fprintf(out, "\n");
    for (int i = 0; i < r->nvols; i++)
        for (int o = 0; o < r->norgans; o++) {
            int c = r->organs[o];
            segr_status s = segreport_status(r->vols[i], c);
            fprintf(out, "%s\t%s\t%d\t%s", r->vols[i]->id, segreport_class_name(r, c, nb, sizeof nb), c,
                    status_name[s]);
            for (int m = 0; m < nmetric(r); m++)
                fprintf(out, "\t%s", tsv_num(r, scored(s) ? value_of(r->vols[i], c, m) : NAN, buf, sizeof buf));
            fprintf(out, "\n");
        }
    /* Summary rows: id '*', status mean / std / n. */
    for (int o = 0; o <= r->norgans; o++) {
        const segr_stat *s = o < r->norgans ? r->org[o] : r->all;
        const char *name = o < r->norgans ? segreport_class_name(r, r->organs[o], nb, sizeof nb) : "*";
        char lab[16];
        snprintf(lab, sizeof lab, o < r->norgans ? "%d" : "*", o < r->norgans ? r->organs[o] : 0);
        for (int k = 0; k < 3; k++) {
            fprintf(out, "*\t%s\t%s\t%s", name, lab, k == 0 ? "mean" : k == 1 ? "std" : "n");
            for (int m = 0; m < nmetric(r); m++) {
                if (k == 2)
                    fprintf(out, "\t%lld", (long long)s[m].n);
                else
                    fprintf(out, "\t%s", tsv_num(r, k == 0 ? s[m].mean : s[m].std, buf, sizeof buf));
            }
            fprintf(out, "\n");
        }
    }
}

static void put_num(mval *map, const char *key, double x)
{
    if (isfinite(x))
        mval_put_f64(map, key, x);
    else
        mval_set_nil(mval_map_put(map, key));
}

/* One volume's entry of the JSON document. */
static void json_volume(const segreport *r, const segr_volume *vol, mval *v)
{
    char nb[16];
    mval *orgs, *sh;
    mval_set_map(v);
    mval_put_str(v, "id", vol->id);
    sh = mval_map_put(v, "shape");
    mval_set_array(sh);
    mval_set_int(mval_push(sh), vol->Z);
    mval_set_int(mval_push(sh), vol->Y);
    mval_set_int(mval_push(sh), vol->X);
    mval_put_i64(v, "slices", vol->nz);
    if (r->surface)
        mval_put_f64v(v, "spacing", vol->spacing, 3);
    orgs = mval_map_put(v, "organs");
    mval_set_map(orgs);
    for (int o = 0; o < r->norgans; o++) {
        int c = r->organs[o];
        segr_status s = segreport_status(vol, c);
        mval *e = mval_map_put(orgs, segreport_class_name(r, c, nb, sizeof nb));
        mval_set_map(e);
        mval_put_i64(e, "label", c);
        mval_put_str(e, "status", status_name[s]);
        mval_put_i64(e, "n_ref", vol->cnt[c].nref);
        mval_put_i64(e, "n_pred", vol->cnt[c].npred);
        mval_put_i64(e, "n_both", vol->cnt[c].ntp);
        for (int m = 0; m < nmetric(r); m++)
            put_num(e, metric_name[m], scored(s) ? value_of(vol, c, m) : NAN);
    }
    for (int m = 0; m < nmetric(r); m++) {
        char key[32];
        snprintf(key, sizeof key, "mean_%s", metric_name[m]);
        put_num(v, key, volume_mean(r, vol, m));
    }
}

int segreport_json(const segreport *r, FILE *out, double min_dice, int pass)
{
    char nb[16];
    mval doc = {0};
    int rc;
    mval_set_map(&doc);
    if (nmetric(r) > SEGR_NSD)
        mval_put_f64(&doc, "nsd_mm", r->nsd);
    mval *names = mval_map_put(&doc, "organs");
    mval_set_array(names);
    for (int o = 0; o < r->norgans; o++)
        mval_set_str(mval_push(names), segreport_class_name(r, r->organs[o], nb, sizeof nb));
    mval *vs = mval_map_put(&doc, "volumes");
    mval_set_array(vs);
    for (int i = 0; i < r->nvols; i++)
        json_volume(r, r->vols[i], mval_push(vs));
    mval *sum = mval_map_put(&doc, "summary");
    mval_set_map(sum);
    for (int o = 0; o <= r->norgans; o++) {
        const segr_stat *s = o < r->norgans ? r->org[o] : r->all;
        mval *e = mval_map_put(sum, o < r->norgans ? segreport_class_name(r, r->organs[o], nb, sizeof nb) : "overall");
        mval_set_map(e);
        for (int m = 0; m < nmetric(r); m++) {
            mval *x = mval_map_put(e, metric_name[m]);
            mval_set_map(x);
            put_num(x, "mean", s[m].mean);
            put_num(x, "std", s[m].std);
            mval_put_i64(x, "n", s[m].n);
            if (m == SEGR_HD95 || m == SEGR_ASSD)
                mval_put_i64(x, "n_inf", s[m].ninf);
        }
    }
    if (!isnan(min_dice)) {
        mval_put_f64(&doc, "min_dice", min_dice);
        mval_set_bool(mval_map_put(&doc, "pass"), pass);
    }
    rc = json_fprint(out, &doc, 1);
    fprintf(out, "\n");
    mval_free(&doc);
    return rc;
}

int segreport_surface(segr_volume *v, const uint8_t *ref, const uint8_t *pred, double nsd_tol)
{
    int labels[SEGM_NLABELS], n = 0, bad = 0;
    char msg[512] = "";
    if (!v->surf && !(v->surf = calloc(SEGM_NLABELS, sizeof *v->surf)))
        return err_set("out of memory");
    for (int c = 1; c < SEGM_NLABELS; c++)
        if (v->cnt[c].nref || v->cnt[c].npred)
            labels[n++] = c;
#pragma omp parallel for schedule(dynamic, 1)
    for (int i = 0; i < n; i++) {
        if (segm_surface_tol(&v->surf[labels[i]], ref, pred, v->nz, v->Y, v->X, (uint8_t)labels[i],
                             &v->cnt[labels[i]], v->spacing, nsd_tol)) {
#pragma omp critical
            {
                bad = 1;
                snprintf(msg, sizeof msg, "%s", err_get());
            }
        }
    }
    if (bad)
        return err_set("volume %s: %s", v->id, msg);
    return 0;
}
