/* libFuzzer target: option/number parsers, JSON, and .npy headers. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli/args.h"
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
    if (json_parse((const char *)data, size, &v) == 0) {
        char *buf = NULL;
        size_t len = 0, cap = 0;
        mval w;
        if (json_dump(&v, -1, &buf, &len, &cap))
            abort();
        /* what we print we must read back (bins print as summaries) */
        if (json_parse(buf, len, &w) == 0)
            mval_free(&w);
        free(buf);
        mval_free(&v);
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
