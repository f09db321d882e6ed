#include "args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "frame.h"

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

void usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", err_progname);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see %s --help)\n", err_progname);
    exit(EXIT_USAGE);
}

int64_t opt_i64(const char *opt, const char *s, int64_t lo, int64_t hi)
{
    int64_t v;
    if (parse_i64(s, &v))
        usage_error("option %s: %s", opt, err_get());
    if (v < lo || v > hi)
        usage_error("option %s: %lld is outside %lld..%lld", opt, (long long)v, (long long)lo,
                    (long long)hi);
    return v;
}

double opt_f64(const char *opt, const char *s, double lo, double hi)
{
    double v;
    if (parse_f64(s, &v))
        usage_error("option %s: %s", opt, err_get());
    if (v < lo || v > hi)
        usage_error("option %s: %g is outside %g..%g", opt, v, lo, hi);
    return v;
}

void opt_f64_list(const char *opt, const char *s, double *out, int n, double lo, double hi)
{
    if (parse_f64_list(s, out, n))
        usage_error("option %s: %s", opt, err_get());
    for (int i = 0; i < n; i++)
        if (out[i] < lo || out[i] > hi)
            usage_error("option %s: %g is outside %g..%g", opt, out[i], lo, hi);
}

void print_version(void)
{
    printf("%s (lrcpipe) %s\n", err_progname, LRCPIPE_VERSION);
    if (fflush(stdout) || ferror(stdout))
        exit(1);
    exit(0);
}

int opt_common(int c, const char *arg)
{
    uint64_t v;
    switch (c) {
    case 'q':
        log_level = 0;
        return 1;
    case 'v':
        log_level++;
        return 1;
    case OPT_VERSION:
        print_version();
    case OPT_MAX_RECORD:
        if (parse_size(arg, &v) || v < 64)
            usage_error("option --max-record: want a byte count >= 64 (K/M/G suffixes)");
        frame_default_limits.max_record = (size_t)v;
        return 1;
    default:
        return 0;
    }
}

void usage_bad_option(char **argv)
{
    if (optopt && optopt < 0x100)
        usage_error("option -%c: unknown, or missing its value", optopt);
    usage_error("option '%s': unknown, or missing or given an unwanted value", argv[optind - 1]);
}

void filter_init(int argc, char **argv)
{
    (void)argc;
    err_init(argv[0]);
    opterr = 0; /* getopt's messages become our one-line usage errors */
    if (frame_limits_default(&frame_default_limits))
        die(EXIT_USAGE, "%s", err_get());
}
