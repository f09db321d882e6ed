#include "nn/trainlog.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"

int trainlog_open(trainlog *t, const char *path, int append)
{
    memset(t, 0, sizeof *t);
    t->tty = isatty(2);
    t->t0 = clock_now();
    t->last_print = t->t0;
    if (path) {
        if (!(t->log = fopen(path, append ? "a" : "w")))
            return err_set("%s:", path);
        if (!(t->path = strdup(path))) {
            fclose(t->log);
            t->log = NULL;
            return err_set("out of memory");
        }
    }
    return 0;
}

double trainlog_elapsed(const trainlog *t)
{
    return clock_now() - t->t0;
}

int trainlog_tensorboard(trainlog *t, const char *dir)
{
    return tfevents_open(&t->tb, dir);
}

typedef struct {
    char **tags;
    float *values;
    int n, cap;
} scalars;

static int scalars_add(scalars *s, const char *tag, double v)
{
    if (s->n == s->cap) {
        int cap = s->cap ? 2 * s->cap : 16;
        char **t = realloc(s->tags, (size_t)cap * sizeof *t);
        float *f;
        if (!t)
            return err_set("out of memory");
        s->tags = t;
        if (!(f = realloc(s->values, (size_t)cap * sizeof *f)))
            return err_set("out of memory");
        s->values = f;
        s->cap = cap;
    }
    if (!(s->tags[s->n] = strdup(tag)))
        return err_set("out of memory");
    s->values[s->n++] = (float)v;
    return 0;
}

/* every number under v, tagged by its path of keys */
static int flatten(scalars *s, const char *prefix, const mval *v, int depth)
{
    char tag[512];
    double x;
    if (depth > 4)
        return 0;
    if (v->kind == MV_INT || v->kind == MV_FLOAT) {
        mval_num(v, &x);
        return scalars_add(s, prefix, x);
    }
    if (v->kind == MV_MAP) {
        for (size_t i = 0; i < v->m.n; i++) {
            if (depth == 0 && !strcmp(v->m.k[i], "step"))
                continue;
            snprintf(tag, sizeof tag, "%s%s%s", prefix, depth ? "/" : "", v->m.k[i]);
            if (flatten(s, tag, &v->m.v[i], depth + 1))
                return -1;
        }
    } else if (v->kind == MV_ARRAY) {
        for (size_t i = 0; i < v->a.n; i++) {
            snprintf(tag, sizeof tag, "%s/%zu", prefix, i);
            if (flatten(s, tag, &v->a.v[i], depth + 1))
                return -1;
        }
    }
    return 0;
}

static int write_tensorboard(trainlog *t, const mval *rec)
{
    scalars s = {0};
    int64_t step;
    int rc;
    struct timespec ts;
    if (mval_get_i64(rec, "step", &step) != 0)
        return 0;
    rc = flatten(&s, "", rec, 0);
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!rc && s.n)
        rc = tfevents_write(&t->tb, (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec, step, s.n,
                            (const char *const *)s.tags, s.values);
    for (int i = 0; i < s.n; i++)
        free(s.tags[i]);
    free(s.tags);
    free(s.values);
    return rc;
}

int trainlog_write(trainlog *t, const mval *rec)
{
    if (t->tb.f && write_tensorboard(t, rec))
        return -1;
    if (!t->log)
        return 0;
    errno = 0;
    if (json_fprint(t->log, rec, -1) || fputc('\n', t->log) == EOF || fflush(t->log))
        return err_set("%s: write error:", t->path);
    return 0;
}

const char *trainlog_fmt_secs(double s, char *buf, size_t n)
{
    long v = s < 0 ? 0 : (long)(s + 0.5);
    if (v >= 3600)
        snprintf(buf, n, "%ldh%02ldm", v / 3600, v / 60 % 60);
    else if (v >= 60)
        snprintf(buf, n, "%ldm%02lds", v / 60, v % 60);
    else
        snprintf(buf, n, "%lds", v);
    return buf;
}

void trainlog_show(trainlog *t, const trainlog_line *p)
{
    char line[256], eta[32];
    int n;
    double now = clock_now();
    if (log_level < 1)
        return;
    if (!t->tty && log_level < 3 && now - t->last_print < 30 && !(p->show_last && p->step == p->total))
        return;
    t->last_print = now;
    n = snprintf(line, sizeof line, p->total > 0 ? "%s: step %lld/%lld" : "%s: step %lld", err_progname,
                 (long long)p->step, (long long)p->total);
    if (n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "  loss %.4f  %.*f %s", p->loss, p->decimals, p->rate,
                      p->unit);
    if (!isnan(p->val) && n < (int)sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, "  val %.4f", p->val);
    if (n < (int)sizeof line) {
        if (p->total > 0)
            snprintf(line + n, sizeof line - (size_t)n, "  ETA %s",
                     trainlog_fmt_secs((double)(p->total - p->step) * p->per_step, eta, sizeof eta));
        else
            snprintf(line + n, sizeof line - (size_t)n, "  %s elapsed", trainlog_fmt_secs(now - t->t0, eta, sizeof eta));
    }
    if (t->tty) {
        fprintf(stderr, "\r%s\033[K", line);
        t->drawn = 1;
    } else {
        fprintf(stderr, "%s\n", line);
    }
    fflush(stderr);
}

void trainlog_progress(trainlog *t, int64_t step, int64_t total, double loss, double rate, double per_step)
{
    trainlog_line p = {step, total, loss, rate, "pairs/s", 1, per_step, NAN, 0};
    trainlog_show(t, &p);
}

void trainlog_done(trainlog *t)
{
    if (t->drawn) {
        fputc('\n', stderr);
        t->drawn = 0;
    }
}

int trainlog_close(trainlog *t)
{
    int rc = 0;
    trainlog_done(t);
    if (t->log && fclose(t->log)) {
        err_set("%s: close:", t->path);
        rc = -1;
    }
    free(t->path);
    t->log = NULL;
    t->path = NULL;
    if (tfevents_close(&t->tb))
        rc = -1;
    return rc;
}
