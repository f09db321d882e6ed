#include "nn/tfevents.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

/* ---- CRC-32C (reflected polynomial 0x82f63b78), one table ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
}

uint32_t tfevents_crc32c(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    pthread_once(&crc_once, crc_init);
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ b[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

uint32_t tfevents_masked_crc(const void *p, size_t n)
{
    uint32_t c = tfevents_crc32c(0, p, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- a growable buffer and the protobuf wire format ---- */

typedef struct {
    unsigned char *p;
    size_t n, cap;
    int oom;
} pbuf;

static void put(pbuf *b, const void *src, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        unsigned char *p;
        while (cap < b->n + n)
            cap *= 2;
        if (!(p = realloc(b->p, cap))) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_varint(pbuf *b, uint64_t v)
{
    unsigned char t[10];
    int n = 0;
    do {
        t[n] = (unsigned char)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    put(b, t, (size_t)n);
}

static void put_le(pbuf *b, uint64_t v, int bytes)
{
    unsigned char t[8];
    for (int i = 0; i < bytes; i++)
        t[i] = (unsigned char)(v >> (8 * i));
    put(b, t, (size_t)bytes);
}

/* field key: number << 3 | wire type (0 varint, 1 fixed64, 2 bytes, 5 fixed32) */
static void put_key(pbuf *b, int field, int wire)
{
    put_varint(b, (uint64_t)(field << 3 | wire));
}

static void put_bytes(pbuf *b, int field, const void *p, size_t n)
{
    put_key(b, field, 2);
    put_varint(b, n);
    put(b, p, n);
}

int tfevents_encode(unsigned char **out, size_t *len, double wall_time, int64_t step, const char *version,
                    int n, const char *const *tags, const float *values)
{
    pbuf ev = {0}, sum = {0}, rec = {0};
    uint64_t bits;
    *out = NULL;
    *len = 0;
    if (n < 0 || (version && n))
        return err_set("tfevents: bad scalar count %d", n);
    memcpy(&bits, &wall_time, sizeof bits);
    put_key(&ev, 1, 1);
    put_le(&ev, bits, 8);
    if (step) {
        put_key(&ev, 2, 0);
        put_varint(&ev, (uint64_t)step); /* int64: negative as 10-byte two's complement */
    }
    if (version) {
        put_bytes(&ev, 3, version, strlen(version));
    } else {
        for (int i = 0; i < n; i++) {
            pbuf val = {0};
            uint32_t fb;
            memcpy(&fb, &values[i], sizeof fb);
            put_bytes(&val, 1, tags[i], strlen(tags[i]));
            put_key(&val, 2, 5);
            put_le(&val, fb, 4);
            if (val.oom)
                sum.oom = 1;
            else
                put_bytes(&sum, 1, val.p, val.n);
            free(val.p);
        }
        if (!sum.oom)
            put_bytes(&ev, 5, sum.p ? sum.p : (const unsigned char *)"", sum.n);
        else
            ev.oom = 1;
    }
    if (!ev.oom) {
        unsigned char lenb[8];
        for (int i = 0; i < 8; i++)
            lenb[i] = (unsigned char)((uint64_t)ev.n >> (8 * i));
        put(&rec, lenb, 8);
        put_le(&rec, tfevents_masked_crc(lenb, 8), 4);
        put(&rec, ev.p, ev.n);
        put_le(&rec, tfevents_masked_crc(ev.p, ev.n), 4);
    }
    free(ev.p);
    free(sum.p);
    if (ev.oom || rec.oom) {
        free(rec.p);
        return err_set("out of memory");
    }
    *out = rec.p;
    *len = rec.n;
    return 0;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int mkdirs(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof p)
        return err_set("tensorboard folder '%s': empty or too long", dir);
    memcpy(p, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (p[i] == '/' || p[i] == '\0') {
            char c = p[i];
            p[i] = '\0';
            if (mkdir(p, 0777) && errno != EEXIST)
                return err_set("%s:", p);
            p[i] = c;
        }
    return 0;
}

static int write_rec(tfevents *w, const unsigned char *p, size_t n)
{
    if (fwrite(p, 1, n, w->f) != n || fflush(w->f))
        return err_set("%s: write error:", w->path);
    return 0;
}

int tfevents_open(tfevents *w, const char *dir)
{
    char host[256] = "localhost", name[4600];
    unsigned char *rec;
    size_t len;
    double now = wall_now();
    int rc;
    memset(w, 0, sizeof *w);
    if (mkdirs(dir))
        return -1;
    if (gethostname(host, sizeof host - 1))
        strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *h = host; *h; h++)
        if (*h == '/')
            *h = '_';
    snprintf(name, sizeof name, "%s/events.out.tfevents.%lld.%s.%d.lrcpipe", dir, (long long)now, host,
             (int)getpid());
    if (!(w->path = strdup(name)))
        return err_set("out of memory");
    if (!(w->f = fopen(name, "wb"))) {
        err_set("%s:", name);
        free(w->path);
        w->path = NULL;
        return -1;
    }
    if (tfevents_encode(&rec, &len, now, 0, "brain.Event:2", 0, NULL, NULL)) {
        tfevents_close(w);
        return -1;
    }
    rc = write_rec(w, rec, len);
    free(rec);
    if (rc)
        tfevents_close(w);
    return rc;
}

int tfevents_write(tfevents *w, double wall_time, int64_t step, int n, const char *const *tags,
                   const float *values)
{
    unsigned char *rec;
    size_t len;
    int rc;
    if (!w->f)
        return err_set("tfevents: not open");
    if (tfevents_encode(&rec, &len, wall_time, step, NULL, n, tags, values))
        return -1;
    rc = write_rec(w, rec, len);
    free(rec);
    return rc;
}

int tfevents_close(tfevents *w)
{
    int rc = 0;
    if (w->f && fclose(w->f))
        rc = err_set("%s: write error:", w->path);
    free(w->path);
    memset(w, 0, sizeof *w);
    return rc;
}
