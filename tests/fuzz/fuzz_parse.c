/* libFuzzer target: option/number parsers, JSON (plain and pooled parses
 * compared), and .npy headers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/args.h"
#include "core/err.h"
#include "core/json.h"
#include "io/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    int64_t i, lo, hi, il[3];
    double d, l[3];
    uint64_t u;
    mval v;
    memcpy(s, data, size);
    s[size] = '\0';
    parse_i64(s, &i);
    parse_f64(s, &d);
    parse_size(s, &u);
    parse_f64_list(s, l, 3);
    parse_i64_list(s, il, 3);
    parse_i64_range(s, &lo, &hi);
    {
        /* a pooled parse (ckpt's) must give the same tree or error */
        json_pool pool;
        mval pv;
        char *perr = NULL, *pbuf = NULL;
        size_t plen = 0, pcap = 0;
        int prc = json_parse_pooled((const char *)data, size, &pv, &pool);
        if (prc)
            perr = strdup(err_get());
        else if (json_dump(&pv, -1, &pbuf, &plen, &pcap))
            abort();
        if (json_parse((const char *)data, size, &v) == 0) {
            char *buf = NULL;
            size_t len = 0, cap = 0;
            mval w;
            if (json_dump(&v, -1, &buf, &len, &cap))
                abort();
            if (prc || len != plen || memcmp(buf, pbuf, len))
                abort();
            /* what we print we must read back (bins print as summaries) */
            if (json_parse(buf, len, &w) == 0)
                mval_free(&w);
            free(buf);
            mval_free(&v);
        } else if (!prc || !perr || strcmp(perr, err_get()))
            abort();
        if (!prc)
            json_pool_free(&pool);
        free(perr);
        free(pbuf);
    }
    {
        int fd = memfd_create("npy", 0);
        char path[64];
        tensor t;
        if (fd >= 0 && write(fd, data, size) == (ssize_t)size) {
            snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
            if (npy_read(path, &t) == 0)
                tensor_free(&t);
        }
        if (fd >= 0)
            close(fd);
    }
    free(s);
    return 0;
}
