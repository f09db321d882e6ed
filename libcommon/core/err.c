#include "core/err.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *err_progname = "lrcpipe";
const char *err_cmdname = "lrcpipe";
int log_level = 1;

static _Thread_local char err_buf[1024];

void err_init(const char *argv0)
{
    const char *s;
    if (!argv0)
        return;
    s = strrchr(argv0, '/');
    err_progname = err_cmdname = s ? s + 1 : argv0;
}

static void vformat(char *buf, size_t n, const char *fmt, va_list ap)
{
    int saved = errno;
    size_t len;
    vsnprintf(buf, n, fmt, ap);
    len = strlen(fmt);
    if (len && fmt[len - 1] == ':') {
        size_t used = strlen(buf);
        snprintf(buf + used, n - used, " %s", strerror(saved));
    }
}

int err_set(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(const char *fmt, ...)
{
    char old[sizeof err_buf];
    size_t used;
    va_list ap;
    memcpy(old, err_buf, sizeof old);
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    used = strlen(err_buf);
    if (used + 2 < sizeof err_buf) {
        memcpy(err_buf + used, ": ", 2);
        used += 2;
        memcpy(err_buf + used, old, sizeof err_buf - used - 1);
        err_buf[sizeof err_buf - 1] = '\0';
    }
    return -1;
}

const char *err_get(void)
{
    return err_buf[0] ? err_buf : "unknown error";
}

void err_clear(void)
{
    err_buf[0] = '\0';
}

void err_vprint(const char *kind, const char *fmt, va_list ap)
{
    char buf[2048];
    vformat(buf, sizeof buf, fmt, ap);
    if (kind)
        fprintf(stderr, "%s: %s: %s\n", err_progname, kind, buf);
    else
        fprintf(stderr, "%s: %s\n", err_progname, buf);
}

void log_at(int level, const char *fmt, ...)
{
    static const char *const tag[] = {[LOG_WARN] = "warning", [LOG_INFO] = NULL, [LOG_DEBUG] = "debug"};
    va_list ap;
    if (log_level < level)
        return;
    va_start(ap, fmt);
    err_vprint(tag[level], fmt, ap);
    va_end(ap);
}
