#include "nn/ckpt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"
#include "core/json.h"
#include "core/mval.h"
#include "core/tmpfile.h"
#include "core/version.h"

#define HEADER_MAX (100u << 20) /* the safetensors crate's own limit */

static const struct {
    const char *st;
    dtype dt;
} st_types[] = {{"F32", DT_F32}, {"F64", DT_F64}, {"I64", DT_I64}, {"I32", DT_I32},
                {"I16", DT_I16}, {"I8", DT_I8},   {"U8", DT_U8}};

static const char *st_name(dtype dt)
{
    for (size_t i = 0; i < sizeof st_types / sizeof st_types[0]; i++)
        if (st_types[i].dt == dt)
            return st_types[i].st;
    return NULL;
}

/* ---- writer ---- */

typedef struct {
    char *name;
    dtype dt;
    int rank;
    int64_t shape[TENSOR_MAX_RANK];
    const void *data;
    size_t nbytes;
} wentry;

struct ckpt_writer {
    wentry *e;
    int n, cap;
    mval meta;
    void **owned; /* buffers the writer allocated (int64 counters) */
    int nowned;
};

ckpt_writer *ckpt_writer_new(void)
{
    ckpt_writer *w = calloc(1, sizeof *w);
    if (!w) {
        err_set("out of memory");
        return NULL;
    }
    mval_set_map(&w->meta);
    mval_put_str(&w->meta, "format", CKPT_FORMAT);
    mval_put_str(&w->meta, "format_version", CKPT_FORMAT_VERSION);
    return w;
}

void ckpt_writer_free(ckpt_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n; i++)
        free(w->e[i].name);
    for (int i = 0; i < w->nowned; i++)
        free(w->owned[i]);
    free(w->owned);
    free(w->e);
    mval_free(&w->meta);
    free(w);
}

int ckpt_put_tensor(ckpt_writer *w, const char *name, dtype dt, int rank, const int64_t *shape,
                    const void *data)
{
    int64_t n;
    if (!st_name(dt))
        return err_set("checkpoint: dtype %s not supported", dtype_name(dt));
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->e[i].name, name))
            return err_set("checkpoint: duplicate tensor name '%s'", name);
    if ((n = shape_numel_checked(rank, shape, dtype_size(dt), 0)) < 0)
        return err_prefix("checkpoint: tensor '%s'", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        wentry *ne = realloc(w->e, (size_t)cap * sizeof *ne);
        if (!ne)
            return err_set("out of memory");
        w->e = ne, w->cap = cap;
    }
    wentry *e = &w->e[w->n];
    memset(e, 0, sizeof *e);
    if (!(e->name = strdup(name)))
        return err_set("out of memory");
    e->dt = dt, e->rank = rank, e->data = data;
    if (rank)
        memcpy(e->shape, shape, (size_t)rank * sizeof *shape);
    e->nbytes = (size_t)n * dtype_size(dt);
    w->n++;
    return 0;
}

static int own(ckpt_writer *w, void *p)
{
    void **no = realloc(w->owned, (size_t)(w->nowned + 1) * sizeof *no);
    if (!no) {
        free(p);
        return err_set("out of memory");
    }
    w->owned = no;
    w->owned[w->nowned++] = p;
    return 0;
}

int ckpt_put_params(ckpt_writer *w, const char *prefix, const pblock *pb)
{
    char nm[512];
    for (int i = 0; i < pb->n; i++) {
        const param_entry *e = &pb->e[i];
        snprintf(nm, sizeof nm, "%s%s", prefix, e->name);
        if (e->kind == PARAM_COUNT) {
            int64_t *v = malloc(sizeof *v);
            if (!v || own(w, v))
                return err_set("out of memory");
            *v = (int64_t)pblock_ptr(pb, i)[0];
            if (ckpt_put_tensor(w, nm, DT_I64, 0, NULL, v))
                return -1;
        } else if (ckpt_put_tensor(w, nm, DT_F32, e->rank, e->shape, pblock_ptr(pb, i)))
            return -1;
    }
    return 0;
}

int ckpt_put_meta(ckpt_writer *w, const char *key, const char *value)
{
    if (!strcmp(key, "format") || !strcmp(key, "format_version"))
        return err_set("checkpoint: metadata key '%s' is reserved", key);
    return mval_put_str(&w->meta, key, value);
}

int ckpt_put_step(ckpt_writer *w, int64_t step)
{
    char b[32];
    snprintf(b, sizeof b, "%" PRId64, step);
    return mval_put_str(&w->meta, "step", b);
}

int ckpt_put_model_owned(ckpt_writer *w, const char *prefix, const char *kind, char *config_json,
                         const pblock *pb)
{
    int rc;
    if (!config_json)
        return -1;
    rc = ckpt_put_model(w, prefix, kind, config_json, pb);
    free(config_json);
    return rc;
}

int ckpt_put_metaf(ckpt_writer *w, const char *key, const char *fmt, ...)
{
    char value[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(value, sizeof value, fmt, ap);
    va_end(ap);
    return ckpt_put_meta(w, key, value);
}

int ckpt_put_provenance(ckpt_writer *w, int64_t seed, const char *argv_json)
{
    if (ckpt_put_metaf(w, "seed", "%lld", (long long)seed) || ckpt_put_meta(w, "lrcpipe_version", LRCPIPE_VERSION))
        return -1;
    return argv_json ? ckpt_put_meta(w, "argv", argv_json) : 0;
}

int ckpt_put_model(ckpt_writer *w, const char *prefix, const char *kind, const char *config_json,
                   const pblock *pb)
{
    char key[512];
    snprintf(key, sizeof key, "%smodel", prefix);
    if (mval_put_str(&w->meta, key, kind))
        return -1;
    snprintf(key, sizeof key, "%sconfig", prefix);
    if (mval_put_str(&w->meta, key, config_json))
        return -1;
    return ckpt_put_params(w, prefix, pb);
}

int ckpt_put_optim(ckpt_writer *w, const char *prefix, const optim *o)
{
    char key[512], b[32];
    const pblock *pb = optim_pblock(o);
    char *js = optim_config_json(optim_get_config(o));
    if (!js)
        return -1;
    snprintf(key, sizeof key, "%soptimizer", prefix);
    int rc = mval_put_str(&w->meta, key, js);
    free(js);
    if (rc)
        return -1;
    snprintf(key, sizeof key, "%soptimizer_step", prefix);
    snprintf(b, sizeof b, "%" PRId64, optim_steps(o));
    if (mval_put_str(&w->meta, key, b))
        return -1;
    for (int k = 0; k < optim_nstate(o); k++) {
        const float *st = optim_state((optim *)o, k);
        for (int i = 0; i < pb->n; i++) {
            const param_entry *e = &pb->e[i];
            if (e->kind != PARAM_TRAIN)
                continue;
            snprintf(key, sizeof key, "%s%s.%s", prefix, optim_state_name(o, k), e->name);
            if (ckpt_put_tensor(w, key, DT_F32, e->rank, e->shape, st + e->offset))
                return -1;
        }
    }
    return 0;
}

static int write_all(int fd, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(fd, c, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        c += k, n -= (size_t)k;
    }
    return 0;
}

int ckpt_write(ckpt_writer *w, const char *path)
{
    mval h = {0};
    char *buf = NULL;
    size_t len = 0, cap = 0, off = 0;
    tmpfile_t *t;
    int rc = -1;
    mval_set_map(&h);
    for (int i = 0; i < w->n; i++) {
        wentry *e = &w->e[i];
        mval *v = mval_map_put(&h, e->name), *s, *o;
        if (!v)
            goto oom;
        mval_set_map(v);
        mval_put_str(v, "dtype", st_name(e->dt));
        if (!(s = mval_map_put(v, "shape")))
            goto oom;
        mval_set_array(s);
        for (int d = 0; d < e->rank; d++) {
            mval *x = mval_push(s);
            if (!x)
                goto oom;
            mval_set_int(x, e->shape[d]);
        }
        if (!(o = mval_map_put(v, "data_offsets")))
            goto oom;
        mval_set_array(o);
        mval *b0 = mval_push(o), *b1 = mval_push(o);
        if (!b0 || !b1)
            goto oom;
        mval_set_int(b0, (int64_t)off);
        mval_set_int(b1, (int64_t)(off + e->nbytes));
        off += e->nbytes;
    }
    {
        mval *m = mval_map_put(&h, "__metadata__");
        if (!m || mval_copy(m, &w->meta))
            goto oom;
    }
    if (json_dump(&h, -1, &buf, &len, &cap))
        goto oom;
    /* pad with spaces so that the data starts 8-byte aligned */
    while ((8 + len) % 8) {
        if (len + 1 > cap) {
            char *nb = realloc(buf, len + 8);
            if (!nb)
                goto oom;
            buf = nb, cap = len + 8;
        }
        buf[len++] = ' ';
    }
    if (!(t = tmpfile_open(path))) {
        err_prefix("checkpoint");
        goto out;
    }
    {
        unsigned char lenb[8];
        uint64_t L = len;
        for (int i = 0; i < 8; i++)
            lenb[i] = (unsigned char)(L >> (8 * i));
        int fd = tmpfile_fd(t);
        int bad = write_all(fd, lenb, 8) || write_all(fd, buf, len);
        for (int i = 0; i < w->n && !bad; i++)
            bad = write_all(fd, w->e[i].data, w->e[i].nbytes);
        if (tmpfile_finish(t, !bad, path, 1)) {
            if (!bad)
                err_prefix("%s", path);
            goto out;
        }
    }
    rc = 0;
    goto out;
oom:
    err_set("out of memory");
out:
    free(buf);
    mval_free(&h);
    return rc;
}

/* ---- reader ---- */

typedef struct {
    char *name; /* in ckpt.names */
    dtype dt;
    int rank;
    int64_t shape[TENSOR_MAX_RANK];
    size_t begin, end;
    void *copy; /* the data, when misaligned in the file for its dtype */
} rentry;

struct ckpt {
    char *path;
    unsigned char *file;
    size_t size, data0;
    rentry *e;
    int n;
    char *names; /* the tensors' names, one after the other */
    size_t names_used;
    int *byname; /* indices of e sorted by name: lookups by bsearch */
    mval meta;   /* map of strings */
};

const char *ckpt_path(const ckpt *c)
{
    return c->path;
}

void ckpt_close(ckpt *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->e[i].copy);
    free(c->e);
    free(c->names);
    free(c->byname);
    free(c->file);
    free(c->path);
    mval_free(&c->meta);
    free(c);
}

/* The whole file in one buffer of its size, read straight into it (no stdio:
 * its FILE and buffer were two more allocations per checkpoint). */
static int read_file(const char *path, unsigned char **out, size_t *size)
{
    struct stat st;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set("%s:", path);
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set("%s: not a regular file", path);
    }
    *size = (size_t)st.st_size;
    *out = malloc(*size ? *size : 1);
    if (!*out) {
        close(fd);
        return err_set("%s: out of memory reading %zu bytes", path, *size);
    }
    while (got < *size) {
        ssize_t k = read(fd, *out + got, *size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != *size) {
        free(*out);
        return err_set("%s: read error:", path);
    }
    return 0;
}

static int parse_entry(ckpt *c, const char *name, const mval *v, rentry *e, size_t datalen)
{
    const mval *dt = mval_map_get(v, "dtype"), *sh = mval_map_get(v, "shape"),
               *of = mval_map_get(v, "data_offsets");
    int found = 0;
    memset(e, 0, sizeof *e);
    if (v->kind != MV_MAP || !dt || dt->kind != MV_STR || !sh || sh->kind != MV_ARRAY || !of ||
        of->kind != MV_ARRAY || of->a.n != 2 || of->a.v[0].kind != MV_INT ||
        of->a.v[1].kind != MV_INT)
        return err_set("%s: tensor '%s': malformed entry (dtype, shape, data_offsets)", c->path,
                       name);
    for (size_t i = 0; i < sizeof st_types / sizeof st_types[0]; i++)
        if (!strcmp(dt->s.p, st_types[i].st))
            e->dt = st_types[i].dt, found = 1;
    if (!found)
        return err_set("%s: tensor '%s': dtype %s not supported (F32 F64 I64 I32 I16 I8 U8)",
                       c->path, name, dt->s.p);
    if (sh->a.n > TENSOR_MAX_RANK)
        return err_set("%s: tensor '%s': rank %zu above %d", c->path, name, sh->a.n,
                       TENSOR_MAX_RANK);
    e->rank = (int)sh->a.n;
    for (int i = 0; i < e->rank; i++) {
        if (sh->a.v[i].kind != MV_INT || sh->a.v[i].i < 0)
            return err_set("%s: tensor '%s': bad shape", c->path, name);
        e->shape[i] = sh->a.v[i].i;
    }
    int64_t n = shape_numel_checked(e->rank, e->shape, dtype_size(e->dt), datalen);
    int64_t b = of->a.v[0].i, en = of->a.v[1].i;
    if (n < 0)
        return err_prefix("%s: tensor '%s'", c->path, name);
    if (b < 0 || en < b || (uint64_t)en > datalen)
        return err_set("%s: tensor '%s': data offsets [%lld, %lld] outside the %zu data bytes "
                       "(truncated file?)",
                       c->path, name, (long long)b, (long long)en, datalen);
    if ((uint64_t)(en - b) != (uint64_t)n * dtype_size(e->dt))
        return err_set("%s: tensor '%s': %lld data bytes for a shape of %lld elements", c->path,
                       name, (long long)(en - b), (long long)n);
    e->begin = (size_t)b, e->end = (size_t)en;
    e->name = strcpy(c->names + c->names_used, name);
    c->names_used += strlen(name) + 1;
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const rentry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int cmp_byname(const void *a, const void *b, void *arg)
{
    const ckpt *c = arg;
    return strcmp(c->e[*(const int *)a].name, c->e[*(const int *)b].name);
}

/* The header is parsed into a pooled tree (json.h): a header holds hundreds
 * of small objects, which parsed piece by piece were most of the time of
 * opening a checkpoint (of fuzz_ckpt's, under ASan). The entries are read
 * out of it into c->e, their names into one block, the metadata copied; the
 * tree is dropped whole. */
ckpt *ckpt_open(const char *path)
{
    ckpt *c = calloc(1, sizeof *c);
    mval h = {0};
    json_pool pool = {0};
    size_t namebytes = 0;
    uint64_t L = 0;
    if (!c || !(c->path = strdup(path))) {
        free(c);
        err_set("out of memory");
        return NULL;
    }
    mval_set_map(&c->meta);
    if (read_file(path, &c->file, &c->size))
        goto fail;
    if (c->size < 8) {
        err_set("%s: not a safetensors file (%zu bytes)", path, c->size);
        goto fail;
    }
    for (int i = 0; i < 8; i++)
        L |= (uint64_t)c->file[i] << (8 * i);
    if (L > HEADER_MAX || L > c->size - 8) {
        err_set("%s: not a safetensors file (header length %llu, file %zu bytes)", path,
                (unsigned long long)L, c->size);
        goto fail;
    }
    if (json_parse_pooled((const char *)c->file + 8, (size_t)L, &h, &pool)) {
        err_prefix("%s: not a safetensors file: header", path);
        goto fail;
    }
    if (h.kind != MV_MAP) {
        err_set("%s: not a safetensors file (header is not a JSON object)", path);
        goto fail;
    }
    c->data0 = 8 + (size_t)L;
    for (size_t i = 0; i < h.m.n; i++)
        namebytes += strlen(h.m.k[i]) + 1;
    if (!(c->e = calloc(h.m.n ? h.m.n : 1, sizeof *c->e)) || !(c->names = malloc(namebytes + 1))) {
        err_set("out of memory");
        goto fail;
    }
    for (size_t i = 0; i < h.m.n; i++) {
        const mval *v = &h.m.v[i];
        if (!strcmp(h.m.k[i], "__metadata__")) {
            if (v->kind != MV_MAP) {
                err_set("%s: __metadata__ is not an object", path);
                goto fail;
            }
            for (size_t j = 0; j < v->m.n; j++)
                if (v->m.v[j].kind != MV_STR) {
                    err_set("%s: metadata '%s' is not a string", path, v->m.k[j]);
                    goto fail;
                }
            mval_free(&c->meta);
            if (mval_copy(&c->meta, v)) {
                err_set("out of memory");
                goto fail;
            }
            continue;
        }
        if (parse_entry(c, h.m.k[i], v, &c->e[c->n], c->size - c->data0))
            goto fail;
        c->n++;
    }
    {
        /* the data must be covered exactly, without overlaps */
        rentry *s = malloc((c->n ? c->n : 1) * sizeof *s);
        size_t at = 0;
        int bad = 0;
        if (!s) {
            err_set("out of memory");
            goto fail;
        }
        memcpy(s, c->e, c->n * sizeof *s);
        qsort(s, c->n, sizeof *s, cmp_begin);
        for (int i = 0; i < c->n; i++) {
            if (s[i].begin != at)
                bad = 1;
            at = s[i].end;
        }
        free(s);
        if (bad || at != c->size - c->data0) {
            err_set("%s: tensor data overlaps, has gaps or trailing bytes (%zu of %zu bytes "
                    "used)",
                    path, at, c->size - c->data0);
            goto fail;
        }
    }
    /* Tensors are contiguous without padding, so one whose offset is not a
     * multiple of its element size (an int64 after an odd number of float32s,
     * which ckpt_write itself produces, or a header not padded to 8) would
     * give a misaligned view: such data are copied to an aligned buffer. */
    for (int i = 0; i < c->n; i++) {
        rentry *e = &c->e[i];
        const unsigned char *p = c->file + c->data0 + e->begin;
        if (e->end == e->begin || (uintptr_t)p % dtype_size(e->dt) == 0)
            continue;
        if (!(e->copy = malloc(e->end - e->begin))) {
            err_set("out of memory");
            goto fail;
        }
        memcpy(e->copy, p, e->end - e->begin);
    }
    if (!(c->byname = malloc((c->n ? c->n : 1) * sizeof *c->byname))) {
        err_set("out of memory");
        goto fail;
    }
    for (int i = 0; i < c->n; i++)
        c->byname[i] = i;
    qsort_r(c->byname, (size_t)c->n, sizeof *c->byname, cmp_byname, c);
    {
        const char *fmt = ckpt_meta(c, "format"), *ver = ckpt_meta(c, "format_version");
        if (fmt && strcmp(fmt, CKPT_FORMAT)) {
            err_set("%s: format '%s', not an lrcpipe checkpoint ('%s')", path, fmt, CKPT_FORMAT);
            goto fail;
        }
        if (fmt && (!ver || strcmp(ver, CKPT_FORMAT_VERSION))) {
            err_set("%s: checkpoint format version %s; this lrcpipe reads version %s", path,
                    ver ? ver : "(none)", CKPT_FORMAT_VERSION);
            goto fail;
        }
    }
    json_pool_free(&pool);
    return c;
fail:
    json_pool_free(&pool);
    ckpt_close(c);
    return NULL;
}

const char *ckpt_meta(const ckpt *c, const char *key)
{
    const mval *v = mval_map_get(&c->meta, key);
    return v && v->kind == MV_STR ? v->s.p : NULL;
}

int64_t ckpt_step(const ckpt *c)
{
    const char *s = ckpt_meta(c, "step");
    return s ? strtoll(s, NULL, 10) : 0;
}

int ckpt_ntensors(const ckpt *c)
{
    return c->n;
}

const char *ckpt_tensor_name(const ckpt *c, int i)
{
    return i >= 0 && i < c->n ? c->e[i].name : NULL;
}

static const void *edata(const ckpt *c, const rentry *e)
{
    return e->copy ? e->copy : c->file + c->data0 + e->begin;
}

static const rentry *find(const ckpt *c, const char *name)
{
    int lo = 0, hi = c->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, d = strcmp(c->e[c->byname[mid]].name, name);
        if (!d)
            return &c->e[c->byname[mid]];
        if (d < 0)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return NULL;
}

int ckpt_get_tensor(const ckpt *c, const char *name, tensor *view)
{
    const rentry *e = find(c, name);
    if (!e)
        return err_set("%s: no tensor '%s'", c->path, name);
    memset(view, 0, sizeof *view);
    view->dtype = e->dt;
    view->rank = e->rank;
    memcpy(view->shape, e->shape, sizeof e->shape);
    view->data = (void *)edata(c, e);
    return 0;
}

int ckpt_expect_shape(const ckpt *c, const char *prefix, const char *name, int64_t n0, int64_t n1)
{
    char full[512];
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const rentry *e = find(c, full);
    if (!e)
        return err_set("%s: no tensor '%s' (the configuration in the file asks for it)", c->path, full);
    if (e->rank < 2 || e->shape[0] != n0 || (n1 >= 0 && e->shape[1] != n1))
        return err_set("%s: tensor '%s' does not have the %lld x %lld channels its configuration says", c->path,
                       full, (long long)n0, (long long)n1);
    return 0;
}

static void shape_str(char *b, size_t n, int rank, const int64_t *s)
{
    size_t k = (size_t)snprintf(b, n, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(b + k, n - k, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (k < n)
        snprintf(b + k, n - k, "]");
}

int ckpt_get_params(const ckpt *c, const char *prefix, pblock *pb)
{
    char nm[512], s1[128], s2[128];
    for (int i = 0; i < pb->n; i++) {
        const param_entry *pe = &pb->e[i];
        snprintf(nm, sizeof nm, "%s%s", prefix, pe->name);
        const rentry *e = find(c, nm);
        const unsigned char *src;
        if (!e)
            return err_set("%s: no tensor '%s' (not a checkpoint of this model?)", c->path, nm);
        src = edata(c, e);
        if (pe->kind == PARAM_COUNT) {
            int64_t v;
            if (e->rank != 0 || (e->dt != DT_I64 && e->dt != DT_F32))
                return err_set("%s: tensor '%s' must be an int64 scalar", c->path, nm);
            if (e->dt == DT_I64) {
                memcpy(&v, src, 8);
                pblock_ptr(pb, i)[0] = (float)v;
            } else
                memcpy(pblock_ptr(pb, i), src, 4);
            continue;
        }
        int same = e->rank == pe->rank;
        for (int d = 0; same && d < e->rank; d++)
            same = e->shape[d] == pe->shape[d];
        if (!same) {
            shape_str(s1, sizeof s1, e->rank, e->shape);
            shape_str(s2, sizeof s2, pe->rank, pe->shape);
            return err_set("%s: tensor '%s' has shape %s, the model expects %s", c->path, nm, s1,
                           s2);
        }
        if (e->dt != DT_F32)
            return err_set("%s: tensor '%s' is %s, not float32", c->path, nm, dtype_name(e->dt));
        memcpy(pblock_ptr(pb, i), src, pe->numel * sizeof(float));
    }
    return 0;
}

int ckpt_get_model(const ckpt *c, const char *prefix, const char *kind, const char *config_json,
                   pblock *pb)
{
    char key[512];
    const char *k, *cfg;
    snprintf(key, sizeof key, "%smodel", prefix);
    if (!(k = ckpt_meta(c, key)))
        return err_set("%s: holds no model under prefix '%s' (no '%s' metadata)", c->path, prefix,
                       key);
    if (strcmp(k, kind))
        return err_set("%s: holds a %s under prefix '%s', not a %s", c->path, k, prefix, kind);
    snprintf(key, sizeof key, "%sconfig", prefix);
    cfg = ckpt_meta(c, key);
    if (config_json && (!cfg || strcmp(cfg, config_json)))
        return err_set("%s: the %s in the checkpoint has configuration %s, this one %s", c->path,
                       kind, cfg ? cfg : "(none)", config_json);
    return pb ? ckpt_get_params(c, prefix, pb) : 0;
}

const char *ckpt_model_config(const ckpt *c, const char *prefix, const char *kind)
{
    char key[512];
    const char *js;
    if (ckpt_get_model(c, prefix, kind, NULL, NULL))
        return NULL;
    snprintf(key, sizeof key, "%sconfig", prefix);
    if (!(js = ckpt_meta(c, key)))
        err_set("%s: no '%s' metadata", c->path, key);
    return js;
}

void *ckpt_bad_config(const ckpt *c)
{
    err_prefix("%s", c->path);
    return NULL;
}

int ckpt_get_optim(const ckpt *c, const char *prefix, optim *o)
{
    char key[512];
    const char *js, *st;
    optim_config oc;
    const pblock *pb = optim_pblock(o);
    snprintf(key, sizeof key, "%soptimizer", prefix);
    if (!(js = ckpt_meta(c, key)))
        return err_set("%s: no optimiser state under prefix '%s'", c->path, prefix);
    if (optim_config_parse(js, &oc))
        return err_prefix("%s", c->path);
    if (oc.kind != optim_get_config(o)->kind)
        return err_set("%s: the optimiser state is %s's, this run uses %s", c->path,
                       optim_kind_name(oc.kind), optim_kind_name(optim_get_config(o)->kind));
    for (int k = 0; k < optim_nstate(o); k++) {
        float *dst = optim_state(o, k);
        for (int i = 0; i < pb->n; i++) {
            const param_entry *pe = &pb->e[i];
            const rentry *e;
            if (pe->kind != PARAM_TRAIN)
                continue;
            snprintf(key, sizeof key, "%s%s.%s", prefix, optim_state_name(o, k), pe->name);
            if (!(e = find(c, key)))
                return err_set("%s: no tensor '%s'", c->path, key);
            if (e->dt != DT_F32 || e->end - e->begin != pe->numel * sizeof(float))
                return err_set("%s: tensor '%s' does not match the parameter's shape", c->path,
                               key);
            memcpy(dst + pe->offset, edata(c, e), pe->numel * sizeof(float));
        }
    }
    snprintf(key, sizeof key, "%soptimizer_step", prefix);
    st = ckpt_meta(c, key);
    optim_set_steps(o, st ? strtoll(st, NULL, 10) : 0);
    return 0;
}
