#include "io/npy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/tmpfile.h"
#include "io/frame.h"

/* Find 'key': in the header dict and return a pointer to the value. */
static const char *dict_value(const char *h, const char *key)
{
    char pat[32];
    const char *p;
    snprintf(pat, sizeof pat, "'%s'", key);
    p = strstr(h, pat);
    if (!p)
        return NULL;
    p += strlen(pat);
    while (*p == ' ')
        p++;
    if (*p != ':')
        return NULL;
    p++;
    while (*p == ' ')
        p++;
    return p;
}

int npy_read(const char *path, tensor *t)
{
    FILE *f = fopen(path, "rb");
    unsigned char pre[12];
    size_t hlen, nbytes;
    char *h = NULL;
    const char *v;
    dtype dt;
    int rank = 0;
    int64_t shape[TENSOR_MAX_RANK];
    int64_t n;
    memset(t, 0, sizeof *t);
    if (!f)
        return err_set("%s:", path);
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6)) {
        fclose(f);
        return err_set("%s: not a .npy file", path);
    }
    if (pre[6] == 1) {
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    } else if (pre[6] == 2 || pre[6] == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) {
            fclose(f);
            return err_set("%s: truncated .npy header", path);
        }
        hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    } else {
        fclose(f);
        return err_set("%s: .npy format version %d is not supported", path, pre[6]);
    }
    if (hlen > (1u << 20) || !(h = malloc(hlen + 1)) || fread(h, 1, hlen, f) != hlen) {
        free(h);
        fclose(f);
        return err_set("%s: truncated or oversized .npy header", path);
    }
    h[hlen] = '\0';
    if (!(v = dict_value(h, "descr")) || *v != '\'')
        goto bad;
    {
        const char *e = strchr(v + 1, '\'');
        if (!e)
            goto bad;
        if (v[1] == '>' && e - v - 1 == 3 && v[3] != '1') {
            err_set("%s: big-endian arrays are not supported", path);
            goto fail;
        }
        if (dtype_parse(v + 1, (size_t)(e - v - 1), &dt)) {
            err_prefix("%s", path);
            goto fail;
        }
    }
    if (!(v = dict_value(h, "fortran_order")))
        goto bad;
    if (!strncmp(v, "True", 4)) {
        err_set("%s: Fortran-ordered arrays are not supported (save with np.ascontiguousarray)", path);
        goto fail;
    }
    if (!(v = dict_value(h, "shape")) || *v != '(')
        goto bad;
    v++;
    while (*v && *v != ')') {
        char *end;
        long long d;
        while (*v == ' ' || *v == ',')
            v++;
        if (*v == ')')
            break;
        d = strtoll(v, &end, 10);
        if (end == v || rank >= TENSOR_MAX_RANK)
            goto bad;
        shape[rank++] = d;
        v = end;
        while (*v == ' ' || *v == 'L')
            v++;
        if (*v == ',')
            v++;
    }
    n = shape_numel_checked(rank, shape, dtype_size(dt), frame_default_limits.max_record);
    if (n < 0) {
        err_prefix("%s", path);
        goto fail;
    }
    if (tensor_init(t, dt, rank, shape))
        goto fail;
    nbytes = tensor_nbytes(t);
    if (nbytes && fread(t->data, 1, nbytes, f) != nbytes) {
        tensor_free(t);
        err_set("%s: truncated data (%zu bytes expected)", path, nbytes);
        goto fail;
    }
    free(h);
    fclose(f);
    return 0;
bad:
    err_set("%s: malformed .npy header", path);
fail:
    free(h);
    fclose(f);
    return -1;
}

int npy_write(const char *path, const tensor *t)
{
    char dict[512];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", dtype_str(t->dtype));
    unsigned char pre[12];
    size_t plen, total, pad;
    tmpfile_t *tf;
    FILE *f;
    int ok;
    for (int i = 0; i < t->rank; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld%s", (long long)t->shape[i],
                        t->rank == 1 ? "," : i + 1 < t->rank ? ", " : "");
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");
    plen = 10;
    total = plen + (size_t)len + 1;
    pad = (64 - total % 64) % 64;
    memcpy(pre, "\x93NUMPY\x01\x00", 8);
    pre[8] = (unsigned char)(((size_t)len + pad + 1) & 0xff);
    pre[9] = (unsigned char)(((size_t)len + pad + 1) >> 8);
    if (!(tf = tmpfile_open(path)))
        return -1;
    f = fdopen(dup(tmpfile_fd(tf)), "wb");
    ok = f && fwrite(pre, 1, plen, f) == plen && fwrite(dict, 1, (size_t)len, f) == (size_t)len;
    for (size_t i = 0; ok && i < pad; i++)
        ok = fputc(' ', f) != EOF;
    ok = ok && fputc('\n', f) != EOF;
    if (ok && tensor_nbytes(t))
        ok = fwrite(t->data, tensor_nbytes(t), 1, f) == 1;
    if (f && fclose(f))
        ok = 0;
    return tmpfile_finish(tf, ok, path, 0);
}
