#include "io/frame.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/grow.h"

frame_limits frame_default_limits = {(size_t)4 << 30, TENSOR_MAX_RANK, 64};

void frame_init(frame *f, frame_type type)
{
    memset(f, 0, sizeof *f);
    f->type = type;
    f->seq = -1;
    f->z = -1;
}

void frame_free(frame *f)
{
    if (!f)
        return;
    free(f->id);
    free(f->producer);
    free(f->version);
    mval_free(&f->meta);
    for (int i = 0; i < f->ntensors; i++) {
        free(f->tensors[i].name);
        tensor_free(&f->tensors[i].t);
    }
    free(f->tensors);
    frame_init(f, f->type);
}

void frame_clear(frame *f)
{
    frame_free(f);
    frame_init(f, FRAME_DATA);
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int frame_set_id(frame *f, const char *id)
{
    char *p = NULL;
    if (id && !(p = xstrdup(id)))
        return err_set("out of memory");
    free(f->id);
    f->id = p;
    return 0;
}

int frame_copy(frame *dst, const frame *src)
{
    frame_init(dst, src->type);
    dst->seq = src->seq;
    dst->z = src->z;
    dst->count = src->count;
    if ((src->id && !(dst->id = xstrdup(src->id))) ||
        (src->producer && !(dst->producer = xstrdup(src->producer))) ||
        (src->version && !(dst->version = xstrdup(src->version))))
        goto oom;
    if (mval_copy(&dst->meta, &src->meta))
        goto oom;
    for (int i = 0; i < src->ntensors; i++) {
        tensor t;
        if (tensor_copy(&t, &src->tensors[i].t))
            goto fail;
        if (frame_tensor_add(dst, src->tensors[i].name, &t)) {
            tensor_free(&t);
            goto fail;
        }
    }
    return 0;
oom:
    err_set("out of memory");
fail:
    frame_free(dst);
    return -1;
}

tensor *frame_tensor_get(const frame *f, const char *name)
{
    for (int i = 0; i < f->ntensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i].t;
    return NULL;
}

int frame_tensor_add(frame *f, const char *name, tensor *t)
{
    tensor *old = frame_tensor_get(f, name);
    frame_tensor *nt;
    char *nm;
    if (old) {
        tensor_free(old);
        tensor_move(old, t);
        return 0;
    }
    if (!(nm = xstrdup(name)))
        return err_set("out of memory");
    nt = realloc(f->tensors, (size_t)(f->ntensors + 1) * sizeof *nt);
    if (!nt) {
        free(nm);
        return err_set("out of memory");
    }
    f->tensors = nt;
    nt[f->ntensors].name = nm;
    tensor_move(&nt[f->ntensors].t, t);
    f->ntensors++;
    return 0;
}

int frame_tensor_take(frame *f, const char *name, tensor *out)
{
    for (int i = 0; i < f->ntensors; i++) {
        if (strcmp(f->tensors[i].name, name))
            continue;
        tensor_move(out, &f->tensors[i].t);
        free(f->tensors[i].name);
        memmove(&f->tensors[i], &f->tensors[i + 1], (size_t)(f->ntensors - i - 1) * sizeof *f->tensors);
        f->ntensors--;
        return 0;
    }
    return 1;
}

int frame_tensor_del(frame *f, const char *name)
{
    tensor t;
    if (frame_tensor_take(f, name, &t))
        return 1;
    tensor_free(&t);
    return 0;
}

mval *frame_meta(frame *f)
{
    if (f->meta.kind != MV_MAP)
        mval_set_map(&f->meta);
    return &f->meta;
}

/* ---- encoding ---- */

void frame_buf_free(frame_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

int frame_buf_reserve(frame_buf *b, size_t extra)
{
    size_t want = b->len + extra;
    char *nd;
    if (want <= b->cap)
        return 0;
    if (!(nd = grow_bytes(b->data, &b->cap, want, 4096)))
        return err_set("out of memory (encoding a record of %zu bytes)", want);
    b->data = nd;
    return 0;
}

static int buf_write(void *data, const char *p, size_t n)
{
    frame_buf *b = data;
    if (frame_buf_reserve(b, n))
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static int pack_mval(msgpack_packer *pk, const mval *v, int depth)
{
    if (depth > 24)
        return err_set("meta nested too deep to encode");
    switch (v->kind) {
    case MV_NIL: return msgpack_pack_nil(pk);
    case MV_BOOL: return v->b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case MV_INT: return msgpack_pack_int64(pk, v->i);
    case MV_FLOAT: return msgpack_pack_double(pk, v->f);
    case MV_STR:
        msgpack_pack_str(pk, v->s.n);
        return msgpack_pack_str_body(pk, v->s.p, v->s.n);
    case MV_BIN:
        msgpack_pack_bin(pk, v->s.n);
        return msgpack_pack_bin_body(pk, v->s.p, v->s.n);
    case MV_ARRAY:
        msgpack_pack_array(pk, v->a.n);
        for (size_t i = 0; i < v->a.n; i++)
            if (pack_mval(pk, &v->a.v[i], depth + 1))
                return -1;
        return 0;
    case MV_MAP:
        msgpack_pack_map(pk, v->m.n);
        for (size_t i = 0; i < v->m.n; i++) {
            pack_cstr(pk, v->m.k[i]);
            if (pack_mval(pk, &v->m.v[i], depth + 1))
                return -1;
        }
        return 0;
    }
    return -1;
}

static void pack_tensor(msgpack_packer *pk, const tensor *t)
{
    size_t nbytes = tensor_nbytes(t);
    msgpack_pack_map(pk, 5);
    pack_cstr(pk, "nd");
    msgpack_pack_true(pk);
    pack_cstr(pk, "type");
    pack_cstr(pk, dtype_str(t->dtype));
    pack_cstr(pk, "kind");
    msgpack_pack_bin(pk, 0);
    pack_cstr(pk, "shape");
    msgpack_pack_array(pk, (size_t)t->rank);
    for (int i = 0; i < t->rank; i++)
        msgpack_pack_int64(pk, t->shape[i]);
    pack_cstr(pk, "data");
    msgpack_pack_bin(pk, nbytes);
    msgpack_pack_bin_body(pk, t->data, nbytes);
}

/* What every record starts with: a map of nfields, "v" and "type". */
static void pack_head(msgpack_packer *pk, size_t nfields, const char *type)
{
    msgpack_pack_map(pk, nfields);
    pack_cstr(pk, "v");
    msgpack_pack_int(pk, FRAME_VERSION);
    pack_cstr(pk, "type");
    pack_cstr(pk, type);
}

/* A map mval, or an empty map in its place. */
static int pack_map_or_empty(msgpack_packer *pk, const mval *m)
{
    if (m->kind == MV_MAP)
        return pack_mval(pk, m, 0);
    msgpack_pack_map(pk, 0);
    return 0;
}

int frame_encode(const frame *f, frame_buf *b)
{
    msgpack_packer pk;
    size_t payload = 256;
    b->len = 0;
    for (int i = 0; i < f->ntensors; i++)
        payload += tensor_nbytes(&f->tensors[i].t) + 128;
    if (frame_buf_reserve(b, payload))
        return -1;
    msgpack_packer_init(&pk, b, buf_write);
    switch (f->type) {
    case FRAME_START:
        pack_head(&pk, 5, "start");
        pack_cstr(&pk, "producer");
        pack_cstr(&pk, f->producer ? f->producer : "");
        pack_cstr(&pk, "version");
        pack_cstr(&pk, f->version ? f->version : "");
        pack_cstr(&pk, "params");
        if (pack_map_or_empty(&pk, &f->meta))
            return -1;
        break;
    case FRAME_END:
        pack_head(&pk, 3, "end");
        pack_cstr(&pk, "count");
        msgpack_pack_int64(&pk, f->count);
        break;
    case FRAME_DATA:
        pack_head(&pk, 6 + (f->id != NULL), "data");
        if (f->id) {
            pack_cstr(&pk, "id");
            pack_cstr(&pk, f->id);
        }
        pack_cstr(&pk, "seq");
        msgpack_pack_int64(&pk, f->seq);
        pack_cstr(&pk, "z");
        msgpack_pack_int64(&pk, f->z);
        pack_cstr(&pk, "meta");
        if (pack_map_or_empty(&pk, &f->meta))
            return -1;
        pack_cstr(&pk, "tensors");
        msgpack_pack_map(&pk, (size_t)f->ntensors);
        for (int i = 0; i < f->ntensors; i++) {
            pack_cstr(&pk, f->tensors[i].name);
            pack_tensor(&pk, &f->tensors[i].t);
        }
        break;
    }
    return 0;
}

/* ---- scanning (record boundaries in a byte stream) ---- */

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int frame_scan(const char *buf, size_t len, size_t max_record, size_t *need)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t pos = 0, pending = 1;
    while (pending) {
        unsigned c;
        uint64_t hdr = 1, body = 0, items = 0;
        if (pos + pending > max_record) {
            *need = (size_t)(pos + pending);
            return err_set("record larger than the cap of %zu bytes (LRCPIPE_MAX_RECORD)", max_record);
        }
        if (pos >= len) {
            *need = (size_t)(pos + pending);
            return 1;
        }
        c = p[pos];
        if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
            /* fixint, nil, bool */
        } else if (c >= 0x80 && c <= 0x8f) {
            items = 2 * (uint64_t)(c & 0x0f);
        } else if (c >= 0x90 && c <= 0x9f) {
            items = c & 0x0f;
        } else if (c >= 0xa0 && c <= 0xbf) {
            body = c & 0x1f;
        } else {
            static const signed char fixed[] = {
                /* c4..df */
                -1, -2, -4, -1, -2, -4, /* bin8/16/32, ext8/16/32: length bytes (negative) */
                4, 8,                   /* float32, float64 */
                1, 2, 4, 8, 1, 2, 4, 8, /* uint8..64, int8..64 */
                2, 3, 5, 9, 17,         /* fixext 1,2,4,8,16 (type byte + data) */
                -1, -2, -4,             /* str8/16/32 */
                -2, -4, -2, -4,         /* array16/32, map16/32 (count bytes) */
            };
            int k;
            if (c == 0xc1)
                return err_set("malformed record (byte 0xc1 at offset %llu)", (unsigned long long)pos);
            k = fixed[c - 0xc4];
            if (k > 0) {
                body = (uint64_t)k;
            } else {
                uint64_t n;
                hdr = 1 + (uint64_t)-k;
                if (pos + hdr > len) {
                    *need = (size_t)(pos + hdr + pending - 1);
                    return 1;
                }
                n = be(p + pos + 1, -k);
                if (c >= 0xdc) {
                    items = c >= 0xde ? 2 * n : n;
                } else {
                    body = n;
                    if (c >= 0xc7 && c <= 0xc9)
                        body += 1; /* ext type byte */
                }
            }
        }
        pending--;
        pos += hdr + body;
        pending += items;
        if (pos > max_record || pending > max_record) {
            *need = (size_t)pos;
            return err_set("record larger than the cap of %zu bytes (LRCPIPE_MAX_RECORD)", max_record);
        }
    }
    *need = (size_t)pos;
    return pos <= len ? 0 : 1;
}

/* Best effort: the "seq" of a possibly truncated record, so that errors can
 * name it. Walks the top-level map with frame_scan over each element. */
int frame_peek_seq(const char *buf, size_t len, int64_t *seq)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t pos, n, need;
    if (len < 1)
        return -1;
    if ((p[0] & 0xf0) == 0x80) {
        n = p[0] & 0x0f;
        pos = 1;
    } else if (p[0] == 0xde && len >= 3) {
        n = (size_t)p[1] << 8 | p[2];
        pos = 3;
    } else {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int is_seq = len - pos >= 4 && !memcmp(p + pos, "\xa3seq", 4);
        if (frame_scan(buf + pos, len - pos, len, &need))
            return -1;
        pos += need;
        if (is_seq) {
            unsigned char c;
            if (pos >= len)
                return -1;
            c = p[pos];
            if (c <= 0x7f) {
                *seq = c;
                return 0;
            }
            if (c >= 0xcc && c <= 0xd3) {
                static const int w[] = {1, 2, 4, 8, 1, 2, 4, 8};
                int k = w[c - 0xcc];
                uint64_t v;
                if (len - pos < (size_t)k + 1)
                    return -1;
                v = be(p + pos + 1, k);
                if (c >= 0xd0) /* signed: sign-extend */
                    v = (uint64_t)((int64_t)(v << (64 - 8 * k)) >> (64 - 8 * k));
                *seq = (int64_t)v;
                return 0;
            }
            return -1;
        }
        if (frame_scan(buf + pos, len - pos, len, &need))
            return -1;
        pos += need;
    }
    return -1;
}

/* ---- decoding ---- */

static int key_is(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    if (k->type == MSGPACK_OBJECT_STR)
        return k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
    if (k->type == MSGPACK_OBJECT_BIN)
        return k->via.bin.size == n && !memcmp(k->via.bin.ptr, s, n);
    return 0;
}

static int obj_str(const msgpack_object *o, const char **p, size_t *n)
{
    if (o->type == MSGPACK_OBJECT_STR) {
        *p = o->via.str.ptr;
        *n = o->via.str.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *p = o->via.bin.ptr;
        *n = o->via.bin.size;
        return 0;
    }
    return -1;
}

static int obj_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX)
            return -1;
        *out = (int64_t)o->via.u64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    return -1;
}

static int obj_to_mval(const msgpack_object *o, mval *out, int depth)
{
    if (depth > 24)
        return err_set("meta nested too deep");
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: mval_set_nil(out); return 0;
    case MSGPACK_OBJECT_BOOLEAN: mval_set_bool(out, o->via.boolean); return 0;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > INT64_MAX)
            mval_set_float(out, (double)o->via.u64);
        else
            mval_set_int(out, (int64_t)o->via.u64);
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: mval_set_int(out, o->via.i64); return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: mval_set_float(out, o->via.f64); return 0;
    case MSGPACK_OBJECT_STR: return mval_set_strn(out, o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return mval_set_bin(out, o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY:
        mval_set_array(out);
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            mval *slot = mval_push(out);
            if (!slot)
                return err_set("out of memory");
            if (obj_to_mval(&o->via.array.ptr[i], slot, depth + 1))
                return -1;
        }
        return 0;
    case MSGPACK_OBJECT_MAP:
        mval_set_map(out);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const char *k;
            size_t kn;
            mval *slot;
            if (obj_str(&o->via.map.ptr[i].key, &k, &kn))
                return err_set("meta has a non-string key");
            if (!(slot = mval_map_putn(out, k, kn)))
                return err_set("out of memory");
            if (obj_to_mval(&o->via.map.ptr[i].val, slot, depth + 1))
                return -1;
        }
        return 0;
    default:
        return err_set("meta holds an unsupported msgpack type (%d)", (int)o->type);
    }
}

static int decode_tensor(const msgpack_object *o, const frame_limits *lim, const char *name, tensor *t)
{
    const msgpack_object *type = NULL, *shape = NULL, *data = NULL;
    int64_t dims[TENSOR_MAX_RANK];
    const char *ts;
    size_t tn, elsize, dlen;
    dtype dt;
    int64_t n;
    memset(t, 0, sizeof *t);
    if (o->type != MSGPACK_OBJECT_MAP)
        return err_set("tensor '%s' is not an array map", name);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
        if (key_is(k, "type"))
            type = v;
        else if (key_is(k, "shape"))
            shape = v;
        else if (key_is(k, "data"))
            data = v;
    }
    if (!type || !shape || !data)
        return err_set("tensor '%s' lacks %s", name, !type ? "'type'" : !shape ? "'shape'" : "'data'");
    if (obj_str(type, &ts, &tn))
        return err_set("tensor '%s': 'type' is not a string", name);
    if (dtype_parse(ts, tn, &dt))
        return err_prefix("tensor '%s'", name);
    if (shape->type != MSGPACK_OBJECT_ARRAY)
        return err_set("tensor '%s': 'shape' is not an array", name);
    if ((int)shape->via.array.size > lim->max_rank || shape->via.array.size > TENSOR_MAX_RANK)
        return err_set("tensor '%s': rank %u exceeds the cap of %d", name, shape->via.array.size,
                       lim->max_rank);
    for (uint32_t i = 0; i < shape->via.array.size; i++) {
        if (obj_i64(&shape->via.array.ptr[i], &dims[i]))
            return err_set("tensor '%s': shape holds a non-integer", name);
        if (dims[i] < 0)
            return err_set("tensor '%s': negative dimension %lld", name, (long long)dims[i]);
    }
    if (data->type != MSGPACK_OBJECT_BIN && data->type != MSGPACK_OBJECT_STR)
        return err_set("tensor '%s': 'data' is not bytes", name);
    dlen = data->type == MSGPACK_OBJECT_BIN ? data->via.bin.size : data->via.str.size;
    elsize = dtype_size(dt);
    n = shape_numel_checked((int)shape->via.array.size, dims, elsize, lim->max_record);
    if (n < 0)
        return err_prefix("tensor '%s'", name);
    if ((uint64_t)n * elsize != dlen)
        return err_set("tensor '%s': shape needs %llu bytes but data holds %zu", name,
                       (unsigned long long)((uint64_t)n * elsize), dlen);
    if (tensor_init(t, dt, (int)shape->via.array.size, dims))
        return err_prefix("tensor '%s'", name);
    if (dlen)
        memcpy(t->data, data->type == MSGPACK_OBJECT_BIN ? data->via.bin.ptr : data->via.str.ptr, dlen);
    return 0;
}

static int decode_obj(const msgpack_object *root, const frame_limits *lim, frame *f)
{
    const msgpack_object *tensors = NULL, *meta = NULL, *params = NULL;
    int64_t v = -1;
    int have_type = 0;
    if (root->type != MSGPACK_OBJECT_MAP)
        return err_set("record is not a map");
    /* First pass: version and type, so that later fields are read by type. */
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *val = &root->via.map.ptr[i].val;
        const char *s;
        size_t n;
        if (key_is(k, "v")) {
            if (obj_i64(val, &v))
                return err_set("record version 'v' is not an integer");
        } else if (key_is(k, "type")) {
            if (obj_str(val, &s, &n))
                return err_set("record 'type' is not a string");
            if (n == 5 && !memcmp(s, "start", 5))
                f->type = FRAME_START;
            else if (n == 4 && !memcmp(s, "data", 4))
                f->type = FRAME_DATA;
            else if (n == 3 && !memcmp(s, "end", 3))
                f->type = FRAME_END;
            else
                return err_set("unknown record type '%.*s'", (int)(n > 16 ? 16 : n), s);
            have_type = 1;
        }
    }
    if (v != FRAME_VERSION)
        return v < 0 ? err_set("record has no version 'v' (not an lrcpipe stream?)")
                     : err_set("record version %lld, this build reads version %d", (long long)v,
                               FRAME_VERSION);
    if (!have_type)
        return err_set("record has no 'type'");
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key, *val = &root->via.map.ptr[i].val;
        const char *s;
        size_t n;
        if (key_is(k, "id") && f->type == FRAME_DATA) {
            if (obj_str(val, &s, &n))
                return err_set("'id' is not a string");
            if (memchr(s, '\0', n))
                return err_set("'id' holds a NUL byte");
            free(f->id); /* a repeated key: the last one wins */
            if (!(f->id = malloc(n + 1)))
                return err_set("out of memory");
            memcpy(f->id, s, n);
            f->id[n] = '\0';
        } else if (key_is(k, "seq")) {
            if (val->type != MSGPACK_OBJECT_NIL && obj_i64(val, &f->seq))
                return err_set("'seq' is not an integer");
        } else if (key_is(k, "z")) {
            if (val->type != MSGPACK_OBJECT_NIL && obj_i64(val, &f->z))
                return err_set("'z' is not an integer");
        } else if (key_is(k, "count") && f->type == FRAME_END) {
            if (obj_i64(val, &f->count) || f->count < 0)
                return err_set("end 'count' is not a non-negative integer");
        } else if (key_is(k, "meta")) {
            meta = val;
        } else if (key_is(k, "params")) {
            params = val;
        } else if (key_is(k, "tensors")) {
            tensors = val;
        } else if ((key_is(k, "producer") || key_is(k, "version")) && f->type == FRAME_START) {
            char **dst = key_is(k, "producer") ? &f->producer : &f->version;
            if (!obj_str(val, &s, &n) && !memchr(s, '\0', n)) {
                free(*dst);
                if (!(*dst = malloc(n + 1)))
                    return err_set("out of memory");
                memcpy(*dst, s, n);
                (*dst)[n] = '\0';
            }
        }
    }
    if (f->type == FRAME_DATA && meta && meta->type != MSGPACK_OBJECT_NIL) {
        if (meta->type != MSGPACK_OBJECT_MAP)
            return err_set("'meta' is not a map");
        if (obj_to_mval(meta, &f->meta, 0))
            return -1;
    }
    if (f->type == FRAME_START && params && params->type == MSGPACK_OBJECT_MAP)
        if (obj_to_mval(params, &f->meta, 0))
            return -1;
    if (f->type == FRAME_DATA && tensors && tensors->type != MSGPACK_OBJECT_NIL) {
        if (tensors->type != MSGPACK_OBJECT_MAP)
            return err_set("'tensors' is not a map");
        if ((int)tensors->via.map.size > lim->max_tensors)
            return err_set("record holds %u tensors, more than the cap of %d", tensors->via.map.size,
                           lim->max_tensors);
        for (uint32_t i = 0; i < tensors->via.map.size; i++) {
            const msgpack_object *k = &tensors->via.map.ptr[i].key;
            char name[128];
            const char *s;
            size_t n;
            tensor t;
            if (obj_str(k, &s, &n) || n == 0 || n >= sizeof name || memchr(s, '\0', n))
                return err_set("tensor name is not a string of 1..127 bytes");
            memcpy(name, s, n);
            name[n] = '\0';
            if (frame_tensor_get(f, name))
                return err_set("tensor '%s' appears twice", name);
            if (decode_tensor(&tensors->via.map.ptr[i].val, lim, name, &t))
                return -1;
            if (frame_tensor_add(f, name, &t)) {
                tensor_free(&t);
                return -1;
            }
        }
    }
    return 0;
}

int frame_decode(const char *buf, size_t len, const frame_limits *lim, frame *f)
{
    msgpack_unpacked res;
    msgpack_unpack_return rc;
    size_t off = 0, need;
    int ok;
    frame_init(f, FRAME_DATA);
    if (!lim)
        lim = &frame_default_limits;
    if (len > lim->max_record)
        return err_set("record of %zu bytes exceeds the cap of %zu bytes", len, lim->max_record);
    /* The scan proves completeness and bounds every count by the record's
     * length before msgpack-c allocates anything for it. */
    ok = frame_scan(buf, len, lim->max_record, &need);
    if (ok < 0)
        return -1;
    if (ok > 0)
        return err_set("truncated record (%zu bytes, needs at least %zu)", len, need);
    if (need != len)
        return err_set("record has %zu trailing bytes", len - need);
    msgpack_unpacked_init(&res);
    rc = msgpack_unpack_next(&res, buf, len, &off);
    if (rc == MSGPACK_UNPACK_NOMEM_ERROR) {
        msgpack_unpacked_destroy(&res);
        return err_set("out of memory decoding a record of %zu bytes", len);
    }
    if (rc != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(&res);
        return err_set("malformed record (msgpack error %d)", (int)rc);
    }
    if (decode_obj(&res.data, lim, f)) {
        int64_t seq = f->seq; /* kept so that the caller can name the record */
        msgpack_unpacked_destroy(&res);
        frame_free(f);
        f->seq = seq;
        return -1;
    }
    msgpack_unpacked_destroy(&res);
    return 0;
}
