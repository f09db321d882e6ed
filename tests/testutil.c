#include "testutil.h"

#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmpdir[512];

static void rm_tmp(void)
{
    char cmd[600];
    if (!tmpdir[0] || getenv("LRCPIPE_KEEP_TMP"))
        return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) {
        /* nothing to do about it */
    }
}

const char *tu_root(void)
{
    const char *r = getenv("LRCPIPE_ROOT");
    return r && *r ? r : ".";
}

const char *tu_bindir(void)
{
    static char buf[1024];
    const char *b = getenv("LRCPIPE_BIN");
    if (b && *b)
        return b;
    snprintf(buf, sizeof buf, "%s/bin", tu_root());
    return buf;
}

const char *tu_bin(const char *name)
{
    static char ring[8][1024];
    static int k;
    char *p = ring[k++ & 7];
    snprintf(p, 1024, "%s/%s", tu_bindir(), name);
    return p;
}

const char *tu_data(void)
{
    static char buf[1024];
    static int done;
    const char *d = getenv("LRCPIPE_DATA");
    struct stat st;
    if (done)
        return buf[0] ? buf : NULL;
    done = 1;
    if (d && *d)
        snprintf(buf, sizeof buf, "%s", d);
    else
        snprintf(buf, sizeof buf, "%s/../shared/data", tu_root());
    if (stat(buf, &st) || !S_ISDIR(st.st_mode))
        buf[0] = '\0';
    return buf[0] ? buf : NULL;
}

const char *tu_sample(void)
{
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/data/sample", tu_root());
    return buf;
}

const char *tu_python(void)
{
    const char *p = getenv("PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

const char *tu_tmpdir(void)
{
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/lrcpipe-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(rm_tmp);
    }
    return tmpdir;
}

static int time_limit = 300;

void tu_set_timeout(int seconds)
{
    time_limit = seconds;
}

static int run(char **err, const char *fmt, va_list ap)
{
    char *cmd = NULL, *full = NULL, errpath[600] = "";
    int status, rc;
    if (vasprintf(&cmd, fmt, ap) < 0)
        return -1;
    if (err)
        snprintf(errpath, sizeof errpath, "%s/.stderr.%d", tu_tmpdir(), (int)getpid());
    if (asprintf(&full, "PATH='%s':\"$PATH\"; export PATH; timeout -k 5 %d sh -c '%s'%s%s", tu_bindir(), time_limit,
                 "eval \"$LRCPIPE_CMD\"", err ? " 2>" : "", err ? errpath : "") < 0) {
        free(cmd);
        return -1;
    }
    setenv("LRCPIPE_CMD", cmd, 1);
    status = system(full);
    unsetenv("LRCPIPE_CMD");
    if (WIFEXITED(status))
        rc = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
        rc = 128 + WTERMSIG(status);
    else
        rc = -1;
    if (err) {
        *err = tu_read(errpath, NULL);
        if (!*err)
            *err = strdup("");
        unlink(errpath);
    }
    free(cmd);
    free(full);
    return rc;
}

int tu_sh(const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = run(NULL, fmt, ap);
    va_end(ap);
    return rc;
}

int tu_sh_err(char **err, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = run(err, fmt, ap);
    va_end(ap);
    return rc;
}

char *tu_read(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    if (!f)
        return NULL;
    for (;;) {
        size_t got;
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 65536;
            buf = realloc(buf, cap + 1);
            if (!buf) {
                fclose(f);
                return NULL;
            }
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (!got)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

int tu_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (!f)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int tu_count_lines(const char *s)
{
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/* Run CMD in the scratch directory (stdout to out.txt): its exit status must
 * be `status`; when it fails, stderr must be one line naming n1 and n2. */
void tu_expect(const char *cmd, int status, const char *n1, const char *n2)
{
    char *err = NULL, why[4096] = "";
    int rc = tu_sh_err(&err, "cd %s && %s > out.txt", tu_tmpdir(), cmd);
    /* the message is made before err is freed: fail_msg does not return */
    if (rc != status)
        snprintf(why, sizeof why, "status %d, want %d; stderr: %s", rc, status, err);
    else if (status != 0 && tu_count_lines(err) != 1)
        snprintf(why, sizeof why, "want one line on stderr, got: %s", err);
    else if (n1 && !strstr(err, n1))
        snprintf(why, sizeof why, "stderr lacks '%s': %s", n1, err);
    else if (n2 && !strstr(err, n2))
        snprintf(why, sizeof why, "stderr lacks '%s': %s", n2, err);
    free(err);
    if (*why)
        fail_msg("'%s': %s", cmd, why);
}

int tu_port(void)
{
    static int given[64];
    static int ngiven;
    for (;;) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), port, seen = 0;
        if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) || getsockname(fd, (struct sockaddr *)&a, &len)) {
            perror("tu_port");
            exit(1);
        }
        close(fd);
        port = ntohs(a.sin_port);
        /* the kernel may offer a port again once it is free: not one this
         * program was given already, which may be about to be bound */
        for (int i = 0; i < ngiven; i++)
            seen |= given[i] == port;
        if (seen)
            continue;
        if (ngiven < 64)
            given[ngiven++] = port;
        return port;
    }
}

const char *tu_tmp(const char *name)
{
    static char ring[8][1024];
    static int k;
    char *p = ring[k++ & 7];
    snprintf(p, 1024, "%s/%s", tu_tmpdir(), name);
    return p;
}

void tu_mpi_env(void)
{
    static char supp[4200];
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    snprintf(supp, sizeof supp, "suppressions=%s/tests/lsan-openmpi.supp:fast_unwind_on_malloc=0", tu_root());
    setenv("LSAN_OPTIONS", supp, 0);
}

double *dalloc(size_t n)
{
    double *p = calloc(n ? n : 1, sizeof(double));
    if (!p)
        abort();
    return p;
}

float *falloc(size_t n)
{
    void *p = NULL;
    size_t bytes = ((n ? n : 1) * sizeof(float) + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, bytes))
        abort();
    return memset(p, 0, bytes);
}
