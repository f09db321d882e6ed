#include "cli/args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/parse.h"
#include "io/frame.h"

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

/* LRCPIPE_MAX_RECORD (bytes, K/M/G suffixes, default 4G) and LRCPIPE_MAX_RANK
 * (default 8) into the readers' process-wide limits (frame.h). */
static int limits_from_env(frame_limits *lim)
{
    const char *s;
    if ((s = getenv("LRCPIPE_MAX_RECORD")) && *s) {
        uint64_t v;
        if (parse_size(s, &v) || v < 64)
            return err_set("LRCPIPE_MAX_RECORD='%s': want a byte count >= 64 (K/M/G suffixes)", s);
        lim->max_record = (size_t)v;
    }
    if ((s = getenv("LRCPIPE_MAX_RANK")) && *s) {
        int64_t v;
        if (parse_i64(s, &v) || v < 0 || v > TENSOR_MAX_RANK)
            return err_set("LRCPIPE_MAX_RANK='%s': want 0..%d", s, TENSOR_MAX_RANK);
        lim->max_rank = (int)v;
    }
    return 0;
}

void filter_init(int argc, char **argv)
{
    (void)argc;
    err_init(argv[0]);
    opterr = 0; /* getopt's messages become our one-line usage errors */
    if (limits_from_env(&frame_default_limits))
        die(EXIT_USAGE, "%s", err_get());
}

void die(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    err_vprint(NULL, fmt, ap);
    va_end(ap);
    exit(status);
}

void die_err(int status)
{
    fprintf(stderr, "%s: %s\n", err_progname, err_get());
    exit(status);
}

void die_errx(int status, const char *fmt, ...)
{
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s: %s\n", err_progname, ctx, err_get());
    exit(status);
}
