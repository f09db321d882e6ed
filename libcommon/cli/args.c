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

void vusage_error(const char *fmt, va_list ap)
{
    /* one write: under mpirun another process's output (its abort banner)
     * may otherwise land inside the line */
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "%s: %s (see %s --help)\n", err_progname, msg, err_cmdname);
    exit(EXIT_USAGE);
}

void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vusage_error(fmt, ap);
}

/* The usage errors of a checked option value: not a number (parse's
 * message), or v outside lo..hi (as the caller's type prints them), named
 * when what is not NULL: "option --rotate: 200 is outside 0..180 (degrees)". */
static _Noreturn void not_a_number(const char *opt)
{
    usage_error("option %s: %s", opt, err_get());
}

static _Noreturn void out_of_range(const char *opt, const char *v, const char *lo, const char *hi,
                                   const char *what)
{
    usage_error("option %s: %s is outside %s..%s%s%s%s", opt, v, lo, hi, what ? " (" : "",
                what ? what : "", what ? ")" : "");
}

int64_t opt_i64_in(const char *opt, const char *s, int64_t lo, int64_t hi, const char *what)
{
    int64_t v;
    if (parse_i64(s, &v))
        not_a_number(opt);
    if (v < lo || v > hi) {
        char t[3][24];
        snprintf(t[0], sizeof t[0], "%lld", (long long)v);
        snprintf(t[1], sizeof t[1], "%lld", (long long)lo);
        snprintf(t[2], sizeof t[2], "%lld", (long long)hi);
        out_of_range(opt, t[0], t[1], t[2], what);
    }
    return v;
}

/* v outside lo..hi, as %g prints them */
static _Noreturn void out_of_range_f(const char *opt, double v, double lo, double hi, const char *what)
{
    char t[3][32];
    snprintf(t[0], sizeof t[0], "%g", v);
    snprintf(t[1], sizeof t[1], "%g", lo);
    snprintf(t[2], sizeof t[2], "%g", hi);
    out_of_range(opt, t[0], t[1], t[2], what);
}

double opt_f64_in(const char *opt, const char *s, double lo, double hi, const char *what)
{
    double v;
    if (parse_f64(s, &v))
        not_a_number(opt);
    if (v < lo || v > hi)
        out_of_range_f(opt, v, lo, hi, what);
    return v;
}

int64_t opt_i64(const char *opt, const char *s, int64_t lo, int64_t hi)
{
    return opt_i64_in(opt, s, lo, hi, NULL);
}

double opt_f64(const char *opt, const char *s, double lo, double hi)
{
    return opt_f64_in(opt, s, lo, hi, NULL);
}

void opt_f64_list(const char *opt, const char *s, double *out, int n, double lo, double hi)
{
    if (parse_f64_list(s, out, n))
        not_a_number(opt);
    for (int i = 0; i < n; i++)
        if (out[i] < lo || out[i] > hi)
            out_of_range_f(opt, out[i], lo, hi, NULL);
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

static const char *opt_short;
static const struct option *opt_long;

int opt_next(int argc, char **argv, const char *shortopts, const struct option *longopts)
{
    int c;
    opt_short = shortopts;
    opt_long = longopts;
    c = getopt_long(argc, argv, shortopts, longopts, NULL);
    if (c == '?' || c == ':')
        usage_bad_option(argv);
    return c;
}

/* Damerau-Levenshtein (optimal string alignment) distance, capped. */
static int edit_distance(const char *a, const char *b)
{
    int la = (int)strlen(a), lb = (int)strlen(b), d[34][34];
    if (la > 32 || lb > 32)
        return 99;
    for (int i = 0; i <= la; i++)
        d[i][0] = i;
    for (int j = 0; j <= lb; j++)
        d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1], v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v)
                v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

void opt_bad_message(char *buf, size_t n, char **argv, const char *shortopts, const struct option *longopts)
{
    const char *arg = optind > 0 ? argv[optind - 1] : NULL;
    char name[128];
    if (!arg || strncmp(arg, "--", 2)) {
        /* a short option: optopt is the letter */
        const char *known = optopt > 0 && optopt < 0x100 && shortopts ? strchr(shortopts, optopt) : NULL;
        if (known && optopt != ':')
            snprintf(buf, n, "option '-%c': needs a value", optopt);
        else if (optopt > 0 && optopt < 0x100)
            snprintf(buf, n, "option '-%c': unknown", optopt);
        else
            snprintf(buf, n, "option '%s': unknown", arg ? arg : "?");
        return;
    }
    snprintf(name, sizeof name, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    if (longopts) {
        const struct option *exact = NULL;
        int nprefix = 0;
        char list[256] = "";
        for (const struct option *o = longopts; o->name; o++) {
            if (!strcmp(o->name, name))
                exact = o;
            else if (*name && !strncmp(o->name, name, strlen(name))) {
                nprefix++;
                if (strlen(list) + strlen(o->name) + 5 < sizeof list)
                    strcat(strcat(strcat(list, nprefix > 1 ? ", " : ""), "--"), o->name);
            }
        }
        if (exact || nprefix == 1) {
            /* known (or a unique abbreviation): its value is what is wrong */
            const struct option *o = exact;
            for (const struct option *p = longopts; !o && p->name; p++)
                if (!strncmp(p->name, name, strlen(name)))
                    o = p;
            if (o->has_arg == no_argument)
                snprintf(buf, n, "option '--%s': takes no value", o->name);
            else
                snprintf(buf, n, "option '--%s': needs a value", o->name);
            return;
        }
        if (nprefix > 1) {
            snprintf(buf, n, "option '--%s': ambiguous (%s)", name, list);
            return;
        }
        {
            const struct option *best = NULL;
            int bd = 99;
            for (const struct option *o = longopts; o->name; o++) {
                int dd = edit_distance(name, o->name);
                if (dd < bd) {
                    bd = dd;
                    best = o;
                }
            }
            /* a likely typo: a letter or two off, not a different word */
            if (best && bd <= 2 && 2 * bd < (int)strlen(name)) {
                snprintf(buf, n, "option '--%s': unknown; did you mean '--%s'?", name, best->name);
                return;
            }
        }
    }
    snprintf(buf, n, "option '--%s': unknown", name);
}

void usage_bad_option(char **argv)
{
    char msg[512];
    opt_bad_message(msg, sizeof msg, argv, opt_short, opt_long);
    usage_error("%s", msg);
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
