#include "io/zsec.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "core/err.h"
#include "core/tmpfile.h"

#define KEYLEN 40

/* Read "public = ..." (and "secret = ..." if secret is not NULL) from a key
 * file; a line holding just 40 Z85 characters counts as a public key. */
static int read_key(const char *path, char pub[KEYLEN + 1], char *secret)
{
    FILE *f = fopen(path, "r");
    char line[256];
    int have_pub = 0, have_sec = 0;
    if (!f)
        return err_set("%s:", path);
    while (fgets(line, sizeof line, f)) {
        char *p = line, *v;
        size_t n;
        line[strcspn(line, "\r\n")] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if ((v = strchr(p, '='))) {
            char *k = p;
            *v++ = '\0';
            while (*v == ' ' || *v == '"')
                v++;
            n = strcspn(v, " \"");
            v[n] = '\0';
            k[strcspn(k, " ")] = '\0';
            if (n != KEYLEN)
                continue;
            if (!strcmp(k, "public")) {
                memcpy(pub, v, KEYLEN + 1);
                have_pub = 1;
            } else if (!strcmp(k, "secret") && secret) {
                memcpy(secret, v, KEYLEN + 1);
                have_sec = 1;
            }
        } else if (strlen(p) == KEYLEN && !have_pub) {
            memcpy(pub, p, KEYLEN + 1);
            have_pub = 1;
        }
    }
    fclose(f);
    if (!have_pub)
        return err_set("%s: no public key (want a line 'public = <40 Z85 characters>')", path);
    if (secret && !have_sec)
        return err_set("%s: no secret key (want a line 'secret = <40 Z85 characters>')", path);
    return 0;
}

int zsec_keygen(const char *path)
{
    char pub[KEYLEN + 1], sec[KEYLEN + 1], pubpath[4096];
    FILE *f;
    if (zmq_curve_keypair(pub, sec))
        return err_set("cannot make a CURVE key pair: %s", zmq_strerror(zmq_errno()));
    f = fopen(path, "wx");
    if (!f)
        return err_set("%s: cannot create (an existing key is never overwritten):", path);
    chmod(path, 0600);
    fprintf(f, "# lrcpipe CURVE key pair: keep secret\npublic = %s\nsecret = %s\n", pub, sec);
    if (fclose(f))
        return err_set("%s: write error:", path);
    snprintf(pubpath, sizeof pubpath, "%s.pub", path);
    f = fopen(pubpath, "w");
    if (!f)
        return err_set("%s:", pubpath);
    fprintf(f, "# lrcpipe CURVE public key\npublic = %s\n", pub);
    if (fclose(f))
        return err_set("%s: write error:", pubpath);
    return 0;
}

/* ---- ZAP: the authentication handler, one thread per process ---- */

static char (*allowed)[KEYLEN + 1];
static int nallowed;
static pthread_t zap_thread;
static int zap_started;

static void *zap_main(void *arg)
{
    void *rep = arg;
    for (;;) {
        zmq_msg_t part[7];
        int n = 0, more = 1, ok = 0;
        char req_id[256] = "", z85[KEYLEN + 1];
        size_t idlen = 0;
        while (more && n < 7) {
            zmq_msg_init(&part[n]);
            if (zmq_msg_recv(&part[n], rep, 0) < 0) {
                zmq_msg_close(&part[n]);
                for (int i = 0; i < n; i++)
                    zmq_msg_close(&part[i]);
                zmq_close(rep); /* ETERM: the context is going away */
                return NULL;
            }
            more = zmq_msg_more(&part[n]);
            n++;
        }
        while (more) { /* drain an over-long request */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, rep, 0);
            more = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        if (n == 7) {
            idlen = zmq_msg_size(&part[1]) < sizeof req_id ? zmq_msg_size(&part[1]) : 0;
            memcpy(req_id, zmq_msg_data(&part[1]), idlen);
            if (zmq_msg_size(&part[5]) == 5 && !memcmp(zmq_msg_data(&part[5]), "CURVE", 5) &&
                zmq_msg_size(&part[6]) == 32) {
                zmq_z85_encode(z85, zmq_msg_data(&part[6]), 32);
                for (int i = 0; i < nallowed && !ok; i++)
                    ok = !strcmp(z85, allowed[i]);
            }
        }
        for (int i = 0; i < n; i++)
            zmq_msg_close(&part[i]);
        zmq_send(rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(rep, req_id, idlen, ZMQ_SNDMORE);
        zmq_send(rep, ok ? "200" : "400", 3, ZMQ_SNDMORE);
        zmq_send(rep, ok ? "OK" : "unknown client key", ok ? 2 : 18, ZMQ_SNDMORE);
        zmq_send(rep, "", 0, ZMQ_SNDMORE);
        zmq_send(rep, "", 0, 0);
        if (!ok)
            log_warn("refused a ZeroMQ client whose key is not in LRCPIPE_CURVE_CLIENTS (%s)",
                     n == 7 ? z85 : "malformed request");
    }
}

static int load_clients(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    if (!f)
        return err_set("LRCPIPE_CURVE_CLIENTS=%s:", path);
    while (fgets(line, sizeof line, f)) {
        char *p = line, key[KEYLEN + 1];
        line[strcspn(line, "\r\n")] = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        if (strlen(p) == KEYLEN) {
            memcpy(key, p, KEYLEN + 1);
        } else if (read_key(p, key, NULL)) { /* a line may name a key file */
            fclose(f);
            return err_prefix("LRCPIPE_CURVE_CLIENTS=%s", path);
        }
        allowed = realloc(allowed, (size_t)(nallowed + 1) * sizeof *allowed);
        if (!allowed) {
            fclose(f);
            return err_set("out of memory");
        }
        memcpy(allowed[nallowed++], key, KEYLEN + 1);
    }
    fclose(f);
    if (!nallowed)
        return err_set("LRCPIPE_CURVE_CLIENTS=%s: no keys", path);
    return 0;
}

static int start_zap(void *ctx)
{
    void *rep;
    if (zap_started)
        return 0;
    rep = zmq_socket(ctx, ZMQ_REP);
    if (!rep || zmq_bind(rep, "inproc://zeromq.zap.01"))
        return err_set("cannot start the ZeroMQ authentication handler: %s", zmq_strerror(zmq_errno()));
    if (pthread_create(&zap_thread, NULL, zap_main, rep)) {
        zmq_close(rep);
        return err_set("cannot start the ZeroMQ authentication handler thread");
    }
    pthread_detach(zap_thread);
    zap_started = 1;
    return 0;
}

int zsec_apply(void *ctx, void *sock, int is_server)
{
    const char *keyfile = getenv("LRCPIPE_CURVE_KEY");
    char pub[KEYLEN + 1], sec[KEYLEN + 1];
    if (!keyfile || !*keyfile)
        return 0;
    if (read_key(keyfile, pub, sec))
        return err_prefix("LRCPIPE_CURVE_KEY");
    if (is_server) {
        const char *clients = getenv("LRCPIPE_CURVE_CLIENTS");
        int one = 1;
        if (clients && *clients) {
            if (!nallowed && load_clients(clients))
                return -1;
            if (start_zap(ctx))
                return -1;
        } else {
            log_warn("CURVE without LRCPIPE_CURVE_CLIENTS: encrypted, but any client with the server key is accepted");
        }
        zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one);
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, KEYLEN + 1);
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, "lrcpipe", 7);
    } else {
        const char *serverfile = getenv("LRCPIPE_CURVE_SERVER_KEY");
        char spub[KEYLEN + 1];
        if (!serverfile || !*serverfile)
            return err_set("LRCPIPE_CURVE_KEY is set but LRCPIPE_CURVE_SERVER_KEY (the binding side's public key) is not");
        if (read_key(serverfile, spub, NULL))
            return err_prefix("LRCPIPE_CURVE_SERVER_KEY");
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spub, KEYLEN + 1) ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, pub, KEYLEN + 1) ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, sec, KEYLEN + 1))
            return err_set("CURVE keys rejected: %s", zmq_strerror(zmq_errno()));
    }
    return 0;
}
