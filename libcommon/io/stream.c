#include "core/clock.h"
#include "io/stream.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "core/err.h"
#include "core/grow.h"
#include "core/parse.h"
#include "core/tmpfile.h"
#include "core/version.h"
#include "io/sniff.h"
#include "io/zsec.h"

/* ---------------------------------------------------------------- common */

static void *zctx;
static int zsockets; /* sockets of ours still open in zctx */

void *stream_zmq_context(void)
{
    if (!zctx)
        zctx = zmq_ctx_new();
    return zctx;
}

static void *zsocket(int type)
{
    void *s = stream_zmq_context() ? zmq_socket(zctx, type) : NULL;
    if (s)
        zsockets++;
    return s;
}

/* Close a socket; closing the last one terminates the context, which is
 * what makes a PUSH socket deliver its queue (for up to LRCPIPE_LINGER). */
static void zclose(void *s, int discard)
{
    if (discard) {
        int zero = 0;
        zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    }
    zmq_close(s);
    if (--zsockets == 0 && zctx) {
        while (zmq_ctx_term(zctx) < 0 && zmq_errno() == EINTR)
            ;
        zctx = NULL;
    }
}

static int64_t upstream_end_count = -1; /* worker mode: the end record we received */

int stream_worker_mode(void)
{
    static int mode = -1;
    if (mode < 0) {
        const char *s = getenv("LRCPIPE_WORKER");
        mode = s && *s && strcmp(s, "0");
    }
    return mode;
}

int stream_is_zmq(const char *spec)
{
    if (spec[0] == '@')
        spec++;
    return strstr(spec, "://") != NULL;
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *s = getenv(name);
    int64_t v;
    if (!s || !*s)
        return def;
    if (parse_i64(s, &v) || v < lo || v > hi) {
        log_warn("ignoring %s='%s' (want %ld..%ld)", name, s, lo, hi);
        return def;
    }
    return (long)v;
}

static int zmq_socket_setup(void *sock, const char *spec, int is_out)
{
    int hwm = (int)env_long("LRCPIPE_HWM", 4, 1, 1000000);
    int linger = (int)env_long("LRCPIPE_LINGER", 120000, 0, 86400000);
    int timeout = (int)env_long("LRCPIPE_TIMEOUT", 0, 0, 86400);
    int hb = (int)env_long("LRCPIPE_HEARTBEAT", 0, 0, 86400);
    int64_t maxmsg = (int64_t)frame_default_limits.max_record;
    const char *ep = spec[0] == '@' ? spec + 1 : spec;
    zmq_setsockopt(sock, is_out ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    {
        /* Large kernel buffers: records are megabytes, loopback likes them. */
        int kbuf = 4 << 20;
        zmq_setsockopt(sock, is_out ? ZMQ_SNDBUF : ZMQ_RCVBUF, &kbuf, sizeof kbuf);
    }
    if (hb > 0) {
        /* ZMTP heartbeats travel behind the data: a consumer that holds a
         * full queue for longer than the timeout looks dead. So they are off
         * unless asked for (hosts that may vanish without closing TCP). */
        int ivl = hb * 1000 / 4 > 0 ? hb * 1000 / 4 : 1, to = hb * 1000;
        zmq_setsockopt(sock, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
        zmq_setsockopt(sock, ZMQ_HEARTBEAT_TIMEOUT, &to, sizeof to);
    }
    if (timeout > 0 && is_out) {
        int ms = timeout * 1000;
        zmq_setsockopt(sock, ZMQ_SNDTIMEO, &ms, sizeof ms);
    }
    if (!is_out)
        zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg);
    if (zsec_apply(zctx, sock, spec[0] == '@'))
        return -1;
    if (spec[0] == '@' ? zmq_bind(sock, ep) : zmq_connect(sock, ep))
        return err_set("%s %s: %s", spec[0] == '@' ? "cannot bind" : "cannot connect to", ep,
                       zmq_strerror(zmq_errno()));
    return 0;
}

/* ----------------------------------------------------------------- input */

struct stream_in {
    char *name;
    int fd, is_file, is_zmq, own_fd;
    /* byte streams */
    char *buf;
    size_t cap, start, end; /* valid bytes are buf[start..end) */
    int eof;
    /* zeromq */
    void *sock, *mon;
    zmq_msg_t msg;
    int have_msg, peers, peers_seen, got_end;
    int share;         /* stream_in_share: one of several readers of a PUSH */
    int64_t end_count; /* ... the producer's count when its end came here, else -1 */
    /* ZeroMQ gathering: which data seqs arrived (fan-in from several workers) */
    uint8_t *seen_bits;
    size_t seen_cap; /* bits */
    int64_t seen, expect;
    int grace_ms;
    int timeout_s;
    /* protocol */
    unsigned char head[1024]; /* a byte stream's first bytes, to name a file that is not frames */
    size_t headn;
    int head_done;
    int64_t nrec;      /* records of any type read */
    int64_t seg_count; /* data records in the current segment */
    int64_t total;     /* data records returned */
    int in_segment;    /* a start or data record came since the last end */
    frame startrec;
    int have_start;
};

stream_in *stream_in_open(const char *spec)
{
    stream_in *in = calloc(1, sizeof *in);
    if (!in) {
        err_set("out of memory");
        return NULL;
    }
    frame_init(&in->startrec, FRAME_START);
    in->fd = -1;
    in->expect = -1;
    in->end_count = -1;
    in->name = strdup(strcmp(spec, "-") ? spec : "stdin");
    if (!in->name)
        goto oom;
    if (stream_is_zmq(spec)) {
        char ep[128];
        in->is_zmq = 1;
        in->timeout_s = (int)env_long("LRCPIPE_TIMEOUT", 0, 0, 86400);
        in->grace_ms = (int)env_long("LRCPIPE_GRACE", 3000, 0, 3600000);
        if (!stream_zmq_context())
            goto zfail;
        in->sock = zsocket(ZMQ_PULL);
        if (!in->sock)
            goto zfail;
        snprintf(ep, sizeof ep, "inproc://lrcpipe-monitor-%p", (void *)in);
        if (zmq_socket_monitor(in->sock, ep, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                                                   ZMQ_EVENT_HANDSHAKE_SUCCEEDED))
            goto zfail;
        in->mon = zsocket(ZMQ_PAIR);
        if (!in->mon || zmq_connect(in->mon, ep))
            goto zfail;
        if (zmq_socket_setup(in->sock, spec, 0))
            goto fail;
        return in;
    }
    if (!strcmp(spec, "-")) {
        in->fd = 0;
    } else {
        struct stat st;
        in->fd = open(spec, O_RDONLY | O_CLOEXEC);
        if (in->fd < 0) {
            err_set("%s:", spec);
            goto fail;
        }
        in->own_fd = 1;
        if (fstat(in->fd, &st) == 0 && S_ISDIR(st.st_mode)) {
            err_set("%s: is a directory", spec);
            goto fail;
        }
    }
    {
        struct stat st;
        in->is_file = fstat(in->fd, &st) == 0 && S_ISREG(st.st_mode);
    }
    return in;
zfail:
    err_set("%s: ZeroMQ: %s", spec, zmq_strerror(zmq_errno()));
    goto fail;
oom:
    err_set("out of memory");
fail:
    stream_in_close(in);
    return NULL;
}

const char *stream_in_name(const stream_in *in)
{
    return in->name;
}

/* Make room for at least want bytes from in->start. */
static int in_reserve(stream_in *in, size_t want)
{
    if (in->start && (in->start == in->end || in->cap - in->start < want)) {
        memmove(in->buf, in->buf + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    if (in->cap - in->start < want) {
        char *nb = grow_bytes(in->buf, &in->cap, want, 1 << 16);
        if (!nb)
            return err_set("out of memory (record of %zu bytes)", want);
        in->buf = nb;
    }
    return 0;
}

/* Read more bytes, at least until end - start >= want or EOF. The buffer
 * grows with what actually arrives (at most doubling), not with what a
 * record header claims, so a hostile length costs nothing until it is sent. */
static int in_fill(stream_in *in, size_t want)
{
    while (in->end - in->start < want) {
        size_t have = in->end - in->start;
        size_t step = have < ((size_t)1 << 20) ? ((size_t)1 << 20) : have;
        size_t target = want < have + step ? want : have + step;
        ssize_t n;
        if (in_reserve(in, target))
            return -1;
        n = read(in->fd, in->buf + in->end, in->cap - in->end);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return err_set("read error:");
        }
        if (n == 0) {
            in->eof = 1;
            return 0;
        }
        in->end += (size_t)n;
    }
    return 0;
}

/* A stream whose first bytes are another format (NIfTI, DICOM, .npy ...)
 * is named as such: with its first byte not a msgpack map, at once; else
 * when its first record fails. */
static int keep_head(stream_in *in)
{
    if (in->head_done)
        return 0;
    in->head_done = 1;
    if (in_fill(in, 1))
        return -1;
    if (!sniff_is_frame_start((unsigned char *)in->buf + in->start, in->end - in->start) &&
        in_fill(in, sizeof in->head))
        return -1;
    in->headn = in->end - in->start < sizeof in->head ? in->end - in->start : sizeof in->head;
    memcpy(in->head, in->buf + in->start, in->headn);
    if (in->headn && !sniff_is_frame_start(in->head, in->headn)) {
        char what[300];
        if (sniff_describe(in->head, in->headn, what, sizeof what))
            return err_set("%s", what);
    }
    return 0;
}

/* The first record failed: 1 with the file's format named when it is a
 * known one, else 0 (the error stays). */
static int name_head(stream_in *in)
{
    char what[300];
    if (in->is_zmq || in->nrec > 1 || !in->headn || !sniff_describe(in->head, in->headn, what, sizeof what))
        return 0;
    err_set("%s: %s", in->name, what);
    return 1;
}

static int raw_bytes(stream_in *in, const char **buf, size_t *len)
{
    size_t need = 1;
    if (in->nrec == 0 && keep_head(in))
        return -1;
    for (;;) {
        int rc;
        if (in->end - in->start < need) {
            if (in->eof || in_fill(in, need))
                goto short_read;
            if (in->end - in->start < need)
                goto short_read;
        }
        rc = frame_scan(in->buf + in->start, in->end - in->start, frame_default_limits.max_record, &need);
        if (rc < 0) {
            int64_t seq;
            if (frame_peek_seq(in->buf + in->start, in->end - in->start, &seq) == 0)
                err_prefix("record seq %lld", (long long)seq);
            return -1;
        }
        if (rc == 0) {
            *buf = in->buf + in->start;
            *len = need;
            in->start += need;
            return 1;
        }
    }
short_read:
    if (in->eof && in->end == in->start)
        return 0;
    if (in->eof) {
        int64_t seq;
        if (frame_peek_seq(in->buf + in->start, in->end - in->start, &seq) == 0)
            return err_set("truncated record (seq %lld): the stream ended inside it (%zu of at least %zu bytes)",
                           (long long)seq, in->end - in->start, need);
        return err_set("truncated record: the stream ended inside a record (%zu of at least %zu bytes)",
                       in->end - in->start, need);
    }
    return -1;
}

static int in_recv_zmq(stream_in *in, int timeout_ms)
{
    zmq_pollitem_t items[2] = {{in->sock, 0, ZMQ_POLLIN, 0}, {in->mon, 0, ZMQ_POLLIN, 0}};
    int rc = zmq_poll(items, 2, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : err_set("ZeroMQ poll: %s", zmq_strerror(zmq_errno()));
    if (items[1].revents & ZMQ_POLLIN) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        if (zmq_msg_recv(&ev, in->mon, 0) >= 6 && zmq_msg_more(&ev) && zmq_msg_recv(&addr, in->mon, 0) >= 0) {
            uint16_t e;
            memcpy(&e, zmq_msg_data(&ev), 2);
            /* A producer counts once its handshake succeeded: a client that
             * CURVE refuses never makes the stream look finished. */
            if (e == ZMQ_EVENT_CONNECTED || e == ZMQ_EVENT_ACCEPTED)
                in->peers++;
            else if (e == ZMQ_EVENT_DISCONNECTED && in->peers > 0)
                in->peers--;
            else if (e == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
                in->peers_seen = 1;
            log_debug("%s: event 0x%x, %d connections, %lld records so far", in->name, e, in->peers,
                      (long long)in->nrec);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
    }
    if (items[0].revents & ZMQ_POLLIN) {
        if (in->have_msg)
            zmq_msg_close(&in->msg);
        zmq_msg_init(&in->msg);
        in->have_msg = 1;
        if (zmq_msg_recv(&in->msg, in->sock, 0) < 0)
            return err_set("ZeroMQ receive: %s", zmq_strerror(zmq_errno()));
        return 1;
    }
    return 0;
}

#define PEERS_GONE (-2)

/* 1 with a message, PEERS_GONE when every producer has disconnected and
 * nothing is left to read, -1 on error or timeout. */
static int raw_zmq(stream_in *in, const char **buf, size_t *len)
{
    double last = clock_now();
    for (;;) {
        int rc = in_recv_zmq(in, 200);
        if (rc < 0)
            return -1;
        if (rc > 0) {
            *buf = zmq_msg_data(&in->msg);
            *len = zmq_msg_size(&in->msg);
            return 1;
        }
        if (in->peers_seen && in->peers == 0) {
            /* Every producer is gone. Deliver what arrived before, and give
             * a late one (a worker still connecting) LRCPIPE_GRACE ms. */
            double until = clock_now() + in->grace_ms / 1000.0;
            while (in->peers == 0 && clock_now() < until) {
                rc = in_recv_zmq(in, 100);
                if (rc < 0)
                    return -1;
                if (rc > 0) {
                    *buf = zmq_msg_data(&in->msg);
                    *len = zmq_msg_size(&in->msg);
                    return 1;
                }
            }
            if (in->peers == 0)
                return PEERS_GONE;
        }
        if (in->timeout_s > 0 && clock_now() - last >= in->timeout_s)
            return err_set("no record for %d s (LRCPIPE_TIMEOUT)", in->timeout_s);
    }
}

/* The error for a gathered stream that lacks records once every producer
 * has gone: name the missing seqs. */
static int missing_seqs(stream_in *in)
{
    char list[512];
    size_t used = 0;
    int64_t shown = 0;
    list[0] = '\0';
    for (int64_t q = 0; q < in->expect && shown < 20; q++)
        if ((size_t)q >= in->seen_cap || !(in->seen_bits[q >> 3] & (1u << (q & 7)))) {
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%lld", shown ? ", " : "", (long long)q);
            shown++;
        }
    return err_set("%s: %lld of %lld records never arrived (seq %s%s); a producer or worker died?", in->name,
                   (long long)(in->expect - in->seen), (long long)in->expect, list,
                   in->expect - in->seen > shown ? ", ..." : "");
}

/* Record seq as seen; 1 if it was new, 0 if a duplicate, -1 on error. */
static int mark_seen(stream_in *in, int64_t seq)
{
    if (seq < 0)
        return err_set("%s: a data record without seq over ZeroMQ (needed to gather several producers)", in->name);
    if ((size_t)seq >= in->seen_cap) {
        size_t cap = in->seen_cap ? in->seen_cap : 4096;
        uint8_t *nb;
        while (cap <= (size_t)seq)
            cap *= 2;
        if (cap > ((size_t)1 << 40) || !(nb = realloc(in->seen_bits, cap / 8)))
            return err_set("%s: record seq %lld out of range", in->name, (long long)seq);
        memset(nb + in->seen_cap / 8, 0, (cap - in->seen_cap) / 8);
        in->seen_bits = nb;
        in->seen_cap = cap;
    }
    if (in->seen_bits[seq >> 3] & (1u << (seq & 7)))
        return 0;
    in->seen_bits[seq >> 3] |= (uint8_t)(1u << (seq & 7));
    in->seen++;
    return 1;
}

int stream_in_raw(stream_in *in, const char **buf, size_t *len)
{
    int rc;
    if (in->is_zmq && in->got_end && in->seen == in->expect)
        return 0;
    rc = in->is_zmq ? raw_zmq(in, buf, len) : raw_bytes(in, buf, len);
    if (rc == PEERS_GONE) {
        if (stream_worker_mode() || in->share)
            return 0; /* a sibling worker got the end record */
        if (in->got_end)
            return missing_seqs(in);
        return err_set("%s: truncated stream: the producer disconnected before its end record "
                       "(or sent a record larger than the cap) after %lld records",
                       in->name, (long long)in->nrec);
    }
    if (rc < 0) {
        if (in->nrec == 0 && name_head(in))
            return -1;
        return err_prefix("%s: after %lld records", in->name, (long long)in->nrec);
    }
    if (rc > 0)
        in->nrec++;
    return rc;
}

void stream_in_share(stream_in *in)
{
    in->share = in->is_zmq;
}

int64_t stream_in_end_count(const stream_in *in)
{
    return in->end_count;
}

const frame *stream_in_start(const stream_in *in)
{
    return in->have_start ? &in->startrec : NULL;
}

int64_t stream_in_count(const stream_in *in)
{
    return in->total;
}

/* The byte stream ended cleanly between records. Without an end record (or
 * with no record at all) the producer stopped early: in a shell pipeline that
 * is how a failed upstream stage shows, since sh has no pipefail. It is an
 * error unless LRCPIPE_NO_END_OK=1 (streams from tools that write no end). */
static int missing_end(stream_in *in)
{
    const char *ok = getenv("LRCPIPE_NO_END_OK");
    int lenient = ok && *ok && strcmp(ok, "0");
    if (stream_worker_mode() || in->share || in->got_end)
        return 0;
    if (in->nrec == 0) {
        if (lenient)
            return 0;
        return err_set("%s: empty input, not even a start record (did the producer fail?)", in->name);
    }
    if (!in->in_segment)
        return 0;
    if (lenient) {
        log_warn("%s: stream ended after %lld data records without an end record", in->name,
                 (long long)in->seg_count);
        return 0;
    }
    return err_set("%s: truncated stream: it ended after %lld data records without an end record "
                   "(the producer stopped early; LRCPIPE_NO_END_OK=1 accepts it)",
                   in->name, (long long)in->seg_count);
}

int stream_in_next(stream_in *in, frame *f)
{
    for (;;) {
        const char *buf;
        size_t len;
        int rc = stream_in_raw(in, &buf, &len);
        if (rc <= 0) {
            frame_init(f, FRAME_DATA);
            return rc < 0 ? -1 : missing_end(in) ? -1 : 0;
        }
        if (frame_decode(buf, len, &frame_default_limits, f)) {
            if (name_head(in))
                return -1;
            if (f->seq >= 0)
                return err_prefix("%s: record %lld (seq %lld)", in->name, (long long)in->nrec - 1,
                                  (long long)f->seq);
            return err_prefix("%s: record %lld", in->name, (long long)in->nrec - 1);
        }
        switch (f->type) {
        case FRAME_START:
            if (in->is_zmq && (in->have_start || in->seen > 0)) {
                /* Gathering: workers forward starts in any order; the first
                 * one is the provenance, a late one is not a new stream. */
                if (!in->have_start) {
                    in->startrec = *f;
                    in->have_start = 1;
                } else {
                    frame_free(f);
                }
                continue;
            }
            if (in->in_segment && in->seg_count > 0) {
                frame_free(f);
                return err_set("%s: record %lld: a start record in the middle of a stream "
                               "(after %lld data records without an end)",
                               in->name, (long long)in->nrec - 1, (long long)in->seg_count);
            }
            frame_free(&in->startrec);
            in->startrec = *f;
            in->have_start = 1;
            in->in_segment = 1;
            in->seg_count = 0;
            continue;
        case FRAME_END:
            if (in->is_zmq) {
                int64_t c = f->count;
                frame_free(f);
                if (stream_worker_mode() || in->share) {
                    if (stream_worker_mode())
                        upstream_end_count = c;
                    in->end_count = c;
                    in->got_end = 1;
                    in->in_segment = 0;
                    in->expect = in->seen; /* a worker sees only its share */
                    frame_init(f, FRAME_DATA);
                    return 0;
                }
                if (in->got_end && c != in->expect)
                    return err_set("%s: two end records disagree (%lld and %lld records)", in->name,
                                   (long long)in->expect, (long long)c);
                in->got_end = 1;
                in->in_segment = 0;
                in->expect = c;
                if (in->seen > c)
                    return err_set("%s: the end record counts %lld data records but %lld arrived", in->name,
                                   (long long)c, (long long)in->seen);
                if (in->seen == c) {
                    frame_init(f, FRAME_DATA);
                    return 0;
                }
                continue; /* the rest is still on its way from other workers */
            }
            if (f->count != in->seg_count) {
                int64_t c = f->count;
                frame_free(f);
                return err_set("%s: the end record counts %lld data records but %lld arrived "
                               "(records lost or duplicated)",
                               in->name, (long long)c, (long long)in->seg_count);
            }
            frame_free(f);
            in->in_segment = 0;
            in->seg_count = 0;
            if (in->is_zmq) {
                in->got_end = 1;
                frame_init(f, FRAME_DATA);
                return 0;
            }
            continue;
        case FRAME_DATA:
            if (in->is_zmq) {
                int m = mark_seen(in, f->seq);
                if (m < 0) {
                    frame_free(f);
                    return -1;
                }
                if (m == 0) {
                    log_warn("%s: record seq %lld arrived twice; the copy is dropped", in->name, (long long)f->seq);
                    frame_free(f);
                    continue;
                }
                if (in->got_end && in->seen > in->expect) {
                    frame_free(f);
                    return err_set("%s: record seq %lld arrived after the end record counted %lld", in->name,
                                   (long long)f->seq, (long long)in->expect);
                }
            }
            in->in_segment = 1;
            in->seg_count++;
            in->total++;
            return 1;
        }
    }
}

int stream_in_rewind(stream_in *in)
{
    if (!in->is_file)
        return err_set("%s: input is not a seekable file (needed to read it again)", in->name);
    if (lseek(in->fd, 0, SEEK_SET) < 0)
        return err_set("%s: seek:", in->name);
    in->start = in->end = 0;
    in->eof = 0;
    in->in_segment = 0;
    in->seg_count = 0;
    return 0;
}

void stream_in_close(stream_in *in)
{
    if (!in)
        return;
    if (in->have_msg)
        zmq_msg_close(&in->msg);
    if (in->sock) {
        zmq_socket_monitor(in->sock, NULL, 0);
        zclose(in->sock, 1);
    }
    if (in->mon)
        zclose(in->mon, 1);
    if (in->own_fd)
        close(in->fd);
    frame_free(&in->startrec);
    free(in->seen_bits);
    free(in->buf);
    free(in->name);
    free(in);
}

/* ---------------------------------------------------------------- output */

struct stream_out {
    char *name;
    int fd, is_zmq;
    void *sock;
    tmpfile_t *tmp;
    frame_buf buf;
    int64_t count;
    int keep_seq, failed;
    int own_fd; /* a device or FIFO opened in place, closed by us */
};

stream_out *stream_out_open(const char *spec)
{
    stream_out *out = calloc(1, sizeof *out);
    if (!out) {
        err_set("out of memory");
        return NULL;
    }
    out->fd = -1;
    out->keep_seq = stream_worker_mode();
    out->name = strdup(strcmp(spec, "-") ? spec : "stdout");
    if (!out->name) {
        free(out);
        err_set("out of memory");
        return NULL;
    }
    if (stream_is_zmq(spec)) {
        out->is_zmq = 1;
        if (!(out->sock = zsocket(ZMQ_PUSH))) {
            err_set("%s: ZeroMQ: %s", spec, zmq_strerror(zmq_errno()));
            goto fail;
        }
        if (zmq_socket_setup(out->sock, spec, 1))
            goto fail;
        return out;
    }
    if (!strcmp(spec, "-")) {
        if (isatty(1)) {
            err_set("refusing to write binary frames to a terminal (redirect stdout or use -o FILE)");
            goto fail;
        }
        out->fd = 1;
        return out;
    }
    {
        /* A device or FIFO (-o /dev/null, a named pipe) is written in place:
         * renaming a temporary onto it would replace the device node. */
        struct stat st;
        if (stat(spec, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
            if ((out->fd = open(spec, O_WRONLY | O_CLOEXEC)) < 0) {
                err_set("%s:", spec);
                goto fail;
            }
            out->own_fd = 1;
            return out;
        }
    }
    out->tmp = tmpfile_open(spec);
    if (!out->tmp)
        goto fail;
    out->fd = tmpfile_fd(out->tmp);
    return out;
fail:
    if (out->sock)
        zclose(out->sock, 1);
    free(out->name);
    free(out);
    return NULL;
}

void stream_out_keep_seq(stream_out *out, int keep)
{
    out->keep_seq = keep;
}

int64_t stream_out_count(const stream_out *out)
{
    return out->count;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int stream_out_raw(stream_out *out, const char *buf, size_t len, int is_data)
{
    if (out->failed)
        return err_set("%s: output already failed", out->name);
    if (out->is_zmq) {
        while (zmq_send(out->sock, buf, len, 0) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            out->failed = 1;
            if (zmq_errno() == EAGAIN)
                return err_set("%s: no consumer took a record within LRCPIPE_TIMEOUT", out->name);
            return err_set("%s: ZeroMQ send: %s", out->name, zmq_strerror(zmq_errno()));
        }
    } else if (write_all(out->fd, buf, len)) {
        out->failed = 1;
        return err_set("%s: write error:", out->name);
    }
    if (is_data)
        out->count++;
    return 0;
}

static void free_msg_data(void *data, void *hint)
{
    (void)hint;
    free(data);
}

/* Write out->buf; over ZeroMQ hand the buffer itself to the message
 * (no copy of megabyte records) and start a fresh one. */
static int write_own_buf(stream_out *out, int is_data)
{
    zmq_msg_t msg;
    if (!out->is_zmq || out->buf.len < (1u << 16))
        return stream_out_raw(out, out->buf.data, out->buf.len, is_data);
    if (out->failed)
        return err_set("%s: output already failed", out->name);
    if (zmq_msg_init_data(&msg, out->buf.data, out->buf.len, free_msg_data, NULL))
        return err_set("%s: ZeroMQ: %s", out->name, zmq_strerror(zmq_errno()));
    memset(&out->buf, 0, sizeof out->buf);
    while (zmq_msg_send(&msg, out->sock, 0) < 0) {
        if (zmq_errno() == EINTR)
            continue;
        zmq_msg_close(&msg);
        out->failed = 1;
        if (zmq_errno() == EAGAIN)
            return err_set("%s: no consumer took a record within LRCPIPE_TIMEOUT", out->name);
        return err_set("%s: ZeroMQ send: %s", out->name, zmq_strerror(zmq_errno()));
    }
    if (is_data)
        out->count++;
    return 0;
}

int stream_out_start(stream_out *out, const mval *params)
{
    frame f;
    int rc;
    frame_init(&f, FRAME_START);
    f.producer = (char *)err_progname;
    f.version = (char *)LRCPIPE_VERSION;
    if (params)
        f.meta = *params; /* borrowed: not freed below */
    rc = frame_encode(&f, &out->buf);
    if (!rc)
        rc = stream_out_raw(out, out->buf.data, out->buf.len, 0);
    return rc;
}

int stream_out_write(stream_out *out, frame *f)
{
    int64_t seq = f->seq;
    int rc;
    if (f->type != FRAME_DATA)
        return err_set("internal: stream_out_write takes data records");
    if (!out->keep_seq)
        f->seq = out->count;
    rc = frame_encode(f, &out->buf);
    if (!out->keep_seq)
        f->seq = seq;
    if (rc)
        return rc;
    return write_own_buf(out, 1);
}

int stream_out_end(stream_out *out)
{
    frame f;
    frame_init(&f, FRAME_END);
    f.count = out->count;
    if (stream_worker_mode()) {
        /* Only the worker that received the producer's end passes it on,
         * with the producer's count: the sink gathers every worker's share. */
        if (upstream_end_count < 0)
            return 0;
        f.count = upstream_end_count;
    }
    if (frame_encode(&f, &out->buf))
        return -1;
    return stream_out_raw(out, out->buf.data, out->buf.len, 0);
}

static void out_free(stream_out *out)
{
    frame_buf_free(&out->buf);
    free(out->name);
    free(out);
}

int stream_out_close(stream_out *out)
{
    int rc = out->failed ? -1 : 0;
    if (out->failed)
        err_set("%s: output failed", out->name);
    if (out->is_zmq) {
        zclose(out->sock, 0); /* blocks up to LRCPIPE_LINGER to deliver */
    } else if (out->tmp) {
        if (rc == 0)
            rc = tmpfile_commit(out->tmp, 0);
        else
            tmpfile_abort(out->tmp);
    } else if (out->own_fd) {
        if (close(out->fd) && rc == 0)
            rc = err_set("%s: close:", out->name);
    } else if (out->fd == 1) {
        /* stdout stays open for the process; its final close is checked by
         * the filter's exit path (fclose of stdout is not enough for fd 1
         * written with write(2), so errors surfaced from write above). */
    }
    out_free(out);
    return rc;
}

void stream_out_abort(stream_out *out)
{
    if (!out)
        return;
    if (out->is_zmq)
        zclose(out->sock, 1);
    else if (out->tmp)
        tmpfile_abort(out->tmp);
    else if (out->own_fd)
        close(out->fd);
    out_free(out);
}
