#include "core/tmpfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

struct tmpfile_s {
    char *final, *tmp;
    int fd;
    tmpfile_t *next;
};

/* Live temporaries, for cleanup at exit or on a signal. */
static tmpfile_t *live;
static int hooks_installed;

static void cleanup_all(void)
{
    for (tmpfile_t *t = live; t; t = t->next)
        unlink(t->tmp);
}

static void on_signal(int sig)
{
    cleanup_all(); /* unlink is async-signal-safe */
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_hooks(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    if (hooks_installed)
        return;
    hooks_installed = 1;
    atexit(cleanup_all);
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa, old;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL)
            sigaction(sigs[i], &sa, NULL);
    }
}

static void unlink_live(tmpfile_t *t)
{
    for (tmpfile_t **p = &live; *p; p = &(*p)->next)
        if (*p == t) {
            *p = t->next;
            return;
        }
}

/* An existing device or FIFO (/dev/null, a named pipe) is written in place:
 * a temporary renamed over it would replace the device itself. */
static tmpfile_t *open_in_place(const char *path)
{
    tmpfile_t *t = calloc(1, sizeof *t);
    if (!t || !(t->final = strdup(path))) {
        free(t);
        err_set("out of memory");
        return NULL;
    }
    t->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (t->fd < 0) {
        err_set("%s: cannot open for writing:", path);
        free(t->final);
        free(t);
        return NULL;
    }
    return t; /* t->tmp == NULL marks in-place */
}

tmpfile_t *tmpfile_open(const char *path)
{
    struct stat st;
    tmpfile_t *t;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        return open_in_place(path);
    t = calloc(1, sizeof *t);
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path + 1) : 0;
    const char *base = slash ? slash + 1 : path;
    if (!t || !(t->final = strdup(path)) || !(t->tmp = malloc(strlen(path) + 32))) {
        if (t)
            free(t->final);
        free(t);
        err_set("out of memory");
        return NULL;
    }
    if (!*base) {
        err_set("%s: not a file name", path);
        goto fail;
    }
    memcpy(t->tmp, path, dirlen);
    sprintf(t->tmp + dirlen, ".%s.tmp-XXXXXX", base);
    t->fd = mkstemp(t->tmp);
    if (t->fd < 0) {
        err_set("%s: cannot create a file there:", path);
        goto fail;
    }
    {
        /* mkstemp makes 0600; outputs get the usual 0666 & ~umask. */
        mode_t mask = umask(0);
        umask(mask);
        fchmod(t->fd, 0666 & ~mask);
    }
    install_hooks();
    t->next = live;
    live = t;
    return t;
fail:
    free(t->final);
    free(t->tmp);
    free(t);
    return NULL;
}

int tmpfile_fd(const tmpfile_t *t)
{
    return t->fd;
}

const char *tmpfile_path(const tmpfile_t *t)
{
    return t->tmp ? t->tmp : t->final;
}

static void destroy(tmpfile_t *t)
{
    unlink_live(t);
    free(t->final);
    free(t->tmp);
    free(t);
}

int tmpfile_commit(tmpfile_t *t, int do_fsync)
{
    int rc = 0;
    if (!t->tmp) {
        if (close(t->fd) < 0)
            rc = err_set("%s: close:", t->final);
        destroy(t);
        return rc;
    }
    if (do_fsync && fsync(t->fd) < 0)
        rc = err_set("%s: fsync:", t->final);
    if (close(t->fd) < 0 && !rc)
        rc = err_set("%s: close:", t->final);
    if (!rc && rename(t->tmp, t->final) < 0)
        rc = err_set("%s: rename:", t->final);
    if (rc)
        unlink(t->tmp);
    destroy(t);
    return rc;
}

void tmpfile_abort(tmpfile_t *t)
{
    if (!t)
        return;
    close(t->fd);
    if (t->tmp)
        unlink(t->tmp);
    destroy(t);
}

int tmpfile_finish(tmpfile_t *t, int ok, const char *path, int do_fsync)
{
    if (!ok) {
        err_set("%s: write error:", path);
        tmpfile_abort(t);
        return -1;
    }
    return tmpfile_commit(t, do_fsync);
}
