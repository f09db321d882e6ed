#include "core/parse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s)
        return err_set("empty number");
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE)
        return err_set("'%s' is out of range", s);
    if (*end || end == s)
        return err_set("'%s' is not an integer", s);
    *out = v;
    return 0;
}

int parse_int(const char *s, int *out)
{
    int64_t v;
    if (parse_i64(s, &v))
        return -1;
    if (v < -2147483647 - 1 || v > 2147483647)
        return err_set("'%s' is out of range", s);
    *out = (int)v;
    return 0;
}

int parse_f64(const char *s, double *out)
{
    char *end;
    double v;
    if (!s || !*s)
        return err_set("empty number");
    errno = 0;
    v = strtod(s, &end);
    if (*end || end == s)
        return err_set("'%s' is not a number", s);
    if (!isfinite(v) || errno == ERANGE)
        return err_set("'%s' is out of range", s);
    *out = v;
    return 0;
}

int parse_size(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    unsigned shift = 0;
    if (!s || !*s || *s == '-')
        return err_set("'%s' is not a size", s ? s : "");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (end == s || errno == ERANGE)
        return err_set("'%s' is not a size", s);
    if (*end) {
        switch (*end) {
        case 'k': case 'K': shift = 10; break;
        case 'm': case 'M': shift = 20; break;
        case 'g': case 'G': shift = 30; break;
        case 't': case 'T': shift = 40; break;
        default: return err_set("'%s' is not a size (suffixes K M G T)", s);
        }
        if (end[1] && strcmp(end + 1, "B") && strcmp(end + 1, "iB"))
            return err_set("'%s' is not a size (suffixes K M G T)", s);
    }
    if (shift && v > (~0ULL >> shift))
        return err_set("'%s' is out of range", s);
    *out = (uint64_t)v << shift;
    return 0;
}

static int split_list(const char *s, int n, int (*one)(const char *, void *, int), void *out)
{
    char buf[512];
    char *p, *save = NULL;
    int i = 0;
    if (!s || strlen(s) >= sizeof buf)
        return err_set("list too long");
    strcpy(buf, s);
    for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        if (i >= n)
            return err_set("'%s': expected %d comma-separated values", s, n);
        if (one(p, out, i++))
            return -1;
    }
    if (i != n || s[strlen(s) - 1] == ',' || s[0] == ',' || strstr(s, ",,"))
        return err_set("'%s': expected %d comma-separated values", s, n);
    return 0;
}

static int one_f64(const char *s, void *out, int i)
{
    return parse_f64(s, (double *)out + i);
}

static int one_i64(const char *s, void *out, int i)
{
    return parse_i64(s, (int64_t *)out + i);
}

int parse_f64_list(const char *s, double *out, int n)
{
    return split_list(s, n, one_f64, out);
}

int parse_i64_list(const char *s, int64_t *out, int n)
{
    return split_list(s, n, one_i64, out);
}

int parse_wxh(const char *s, int64_t *w, int64_t *h, int64_t lo, int64_t hi)
{
    const char *x = strchr(s, 'x');
    char buf[32];
    if (!x || (size_t)(x - s) >= sizeof buf)
        return err_set("'%s' is not WxH (e.g. 800x500)", s);
    memcpy(buf, s, (size_t)(x - s));
    buf[x - s] = '\0';
    if (parse_i64(buf, w) || parse_i64(x + 1, h))
        return err_set("'%s' is not WxH (e.g. 800x500)", s);
    if (*w < lo || *h < lo || *w > hi || *h > hi)
        return err_set("'%s': each side from %lld to %lld", s, (long long)lo, (long long)hi);
    return 0;
}

int parse_i64_range(const char *s, int64_t *lo, int64_t *hi)
{
    const char *colon = strchr(s, ':');
    char buf[64];
    if (!colon) {
        if (parse_i64(s, lo))
            return -1;
        *hi = *lo;
        return 0;
    }
    if ((size_t)(colon - s) >= sizeof buf)
        return err_set("'%s' is not a range", s);
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    *lo = INT64_MIN;
    *hi = INT64_MAX;
    if (buf[0] && parse_i64(buf, lo))
        return -1;
    if (colon[1] && parse_i64(colon + 1, hi))
        return -1;
    if (*lo > *hi)
        return err_set("'%s': empty range", s);
    return 0;
}
