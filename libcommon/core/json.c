#include "core/json.h"

#include <errno.h>
#include <math.h>
#include <sanitizer/asan_interface.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/readall.h"

#define JSON_MAX_DEPTH 64

/* ---- the pool of a pooled parse ---- */

/* Blocks of POOL_BLOCK bytes (a request larger than a quarter of that gets
 * a block of its own, behind the current one), handed out by bumping an
 * offset, 8-byte aligned (an mval's alignment). Under ASan a block is
 * poisoned when made and each piece unpoisoned to its exact size, with a
 * poisoned gap before the next: an overflow out of a pooled string or array
 * is still caught, as it would be out of a malloc'ed one. */
#define POOL_BLOCK (32u << 10)
#if defined(__SANITIZE_ADDRESS__) /* gcc */
#define POOL_GAP 8
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) /* clang */
#define POOL_GAP 8
#endif
#endif
#ifndef POOL_GAP
#define POOL_GAP 0
#endif

typedef struct pool_block pool_block;
struct pool_block {
    pool_block *next;
    size_t used, cap;
    _Alignas(8) unsigned char data[];
};

/* The room a piece of n bytes takes in a block: its gap, 8-aligned. */
static size_t pool_step(size_t n)
{
    return (n + POOL_GAP + 7) & ~(size_t)7;
}

static void *pool_alloc(json_pool *pl, size_t n)
{
    pool_block *b = pl->blocks;
    size_t step = pool_step(n);
    void *p;
    if (!b || b->cap - b->used < step) {
        int own = step > POOL_BLOCK / 4;
        size_t cap = own ? step : POOL_BLOCK;
        pool_block *nb = malloc(offsetof(pool_block, data) + cap);
        if (!nb)
            return NULL;
        nb->used = 0, nb->cap = cap;
        ASAN_POISON_MEMORY_REGION(nb->data, cap);
        if (own && b) /* the current block keeps taking small pieces */
            nb->next = b->next, b->next = nb;
        else
            nb->next = b, pl->blocks = nb;
        b = nb;
    }
    p = b->data + b->used;
    b->used += step;
    ASAN_UNPOISON_MEMORY_REGION(p, n);
    return p;
}

/* An array of the pool grown from n to cap elements of size bytes. The last
 * piece of the current block (an array of numbers, whose elements take
 * nothing from the pool) grows where it is; another moves to a new piece,
 * the old one staying in the pool unused (poisoned under ASan). */
static void *pool_grow(json_pool *pl, void *old, size_t n, size_t cap, size_t size)
{
    pool_block *b = pl->blocks;
    unsigned char *o = old;
    void *p;
    if (n && o >= b->data && o + pool_step(n * size) == b->data + b->used) {
        size_t at = (size_t)(o - b->data);
        if (b->cap - at >= pool_step(cap * size)) {
            b->used = at + pool_step(cap * size);
            ASAN_UNPOISON_MEMORY_REGION(old, cap * size);
            return old;
        }
    }
    p = pool_alloc(pl, cap * size);
    if (p && n) {
        memcpy(p, old, n * size);
        ASAN_POISON_MEMORY_REGION(old, n * size);
    }
    return p;
}

void json_pool_free(json_pool *pl)
{
    for (pool_block *b = pl->blocks, *next; b; b = next) {
        next = b->next;
        ASAN_UNPOISON_MEMORY_REGION(b->data, b->cap);
        free(b);
    }
    pl->blocks = NULL;
}

/* ---- parsing ---- */

typedef struct {
    const char *p, *start, *end;
    json_pool *pool; /* a pooled parse; NULL: the tree is malloc'ed piece by piece */
} parser;

/* The tree's allocations: its strings and keys from the pool of a pooled
 * parse, else malloc'ed; and freeing one (nothing in a pool). */
static void *palloc(parser *ps, size_t n)
{
    return ps->pool ? pool_alloc(ps->pool, n) : malloc(n);
}

static void pfree(parser *ps, void *p)
{
    if (!ps->pool)
        free(p);
}

/* A value about to be replaced (a duplicate key's): freed, or in a pool only
 * forgotten. Left NIL. */
static void drop(parser *ps, mval *v)
{
    if (ps->pool)
        memset(v, 0, sizeof *v);
    else
        mval_free(v);
}

/* Append a NIL element to an array (mval_push); NULL when out of memory.
 * Arrays of a pool start at 2 elements, not 4: a checkpoint header's
 * data_offsets have 2, shapes 1 to 4 (which grow in place). */
static mval *array_push(parser *ps, mval *arr)
{
    if (!ps->pool)
        return mval_push(arr);
    if (arr->a.n == arr->a.cap) {
        size_t cap = arr->a.cap ? 2 * arr->a.cap : 2;
        mval *nv = pool_grow(ps->pool, arr->a.v, arr->a.n, cap, sizeof *nv);
        if (!nv)
            return NULL;
        arr->a.v = nv, arr->a.cap = cap;
    }
    memset(&arr->a.v[arr->a.n], 0, sizeof(mval));
    return &arr->a.v[arr->a.n++];
}

/* Append key (from palloc, taken over) and a NIL value to a map without
 * looking for it (mval_map_push_owned); NULL when out of memory. Maps of a
 * pool start at 4 slots, not 8: a checkpoint header's entries have 3 keys. */
static mval *map_push(parser *ps, mval *map, char *key)
{
    if (!ps->pool)
        return mval_map_push_owned(map, key);
    if (map->m.n == map->m.cap) {
        size_t cap = map->m.cap ? 2 * map->m.cap : 4;
        char **nk = pool_grow(ps->pool, map->m.k, map->m.n, cap, sizeof *nk);
        mval *nv = nk ? pool_grow(ps->pool, map->m.v, map->m.n, cap, sizeof *nv) : NULL;
        if (!nv)
            return NULL;
        map->m.k = nk, map->m.v = nv, map->m.cap = cap;
    }
    map->m.k[map->m.n] = key;
    memset(&map->m.v[map->m.n], 0, sizeof(mval));
    return &map->m.v[map->m.n++];
}

static int perr(parser *ps, const char *what)
{
    return err_set("JSON: %s at byte %td", what, ps->p - ps->start);
}

static void skip_ws(parser *ps)
{
    while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
        ps->p++;
}

static int hex4(parser *ps, unsigned *out)
{
    unsigned v = 0;
    if (ps->end - ps->p < 4)
        return perr(ps, "short \\u escape");
    for (int i = 0; i < 4; i++) {
        char c = *ps->p++;
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return perr(ps, "bad \\u escape");
    }
    *out = v;
    return 0;
}

static void put_utf8(char *o, size_t *n, unsigned cp)
{
    if (cp < 0x80) {
        o[(*n)++] = (char)cp;
    } else if (cp < 0x800) {
        o[(*n)++] = (char)(0xC0 | (cp >> 6));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        o[(*n)++] = (char)(0xE0 | (cp >> 12));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        o[(*n)++] = (char)(0xF0 | (cp >> 18));
        o[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        o[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[(*n)++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Parse a string at ps->p (which points at the opening quote) into a buffer
 * from palloc. */
static int parse_string(parser *ps, char **out, size_t *outn)
{
    const char *q = ++ps->p;
    size_t n = 0;
    int plain = 1; /* no escape, no control character */
    char *o;
    /* Upper bound of decoded length: the raw span. */
    while (q < ps->end && *q != '"') {
        if (*q == '\\')
            q++, plain = 0;
        else if ((unsigned char)*q < 0x20)
            plain = 0;
        q++;
    }
    if (q >= ps->end)
        return perr(ps, "unterminated string");
    o = palloc(ps, (size_t)(q - ps->p) + 1);
    if (!o)
        return err_set("out of memory");
    if (plain) {
        /* most strings: the raw span is the string */
        n = (size_t)(q - ps->p);
        memcpy(o, ps->p, n);
        ps->p = q;
    }
    while (*ps->p != '"') {
        unsigned char c = (unsigned char)*ps->p++;
        if (c < 0x20) {
            pfree(ps, o);
            return perr(ps, "control character in string");
        }
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        c = (unsigned char)*ps->p++;
        switch (c) {
        case '"': o[n++] = '"'; break;
        case '\\': o[n++] = '\\'; break;
        case '/': o[n++] = '/'; break;
        case 'b': o[n++] = '\b'; break;
        case 'f': o[n++] = '\f'; break;
        case 'n': o[n++] = '\n'; break;
        case 'r': o[n++] = '\r'; break;
        case 't': o[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(ps, &cp))
                return pfree(ps, o), -1;
            if (cp >= 0xD800 && cp < 0xDC00) {
                if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u')
                    return pfree(ps, o), perr(ps, "lone surrogate");
                ps->p += 2;
                if (hex4(ps, &lo))
                    return pfree(ps, o), -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return pfree(ps, o), perr(ps, "bad surrogate pair");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            put_utf8(o, &n, cp);
            break;
        }
        default:
            pfree(ps, o);
            return perr(ps, "bad escape");
        }
    }
    ps->p++;
    o[n] = '\0';
    *out = o;
    *outn = n;
    return 0;
}

static int parse_value(parser *ps, mval *out, int depth);

/* Objects of more than a few keys find duplicates through a hash of their
 * keys (index + 1 per slot, 0 empty) rather than a scan per key: a
 * checkpoint header has hundreds of keys. A duplicate key keeps its place
 * and takes the later value, as mval_map_putn does. */
#define OBJECT_SCAN_KEYS 16

static uint32_t key_hash(const char *k, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 16777619u;
    return h;
}

typedef struct {
    uint32_t *slot;
    size_t cap; /* a power of two, at least twice the keys */
} keyhash;

static int keyhash_build(keyhash *h, const mval *map, size_t want)
{
    size_t cap = 64;
    while (cap < 2 * want)
        cap *= 2;
    free(h->slot);
    if (!(h->slot = calloc(cap, sizeof *h->slot)))
        return -1;
    h->cap = cap;
    for (size_t i = 0; i < map->m.n; i++) {
        const char *k = map->m.k[i];
        size_t j = key_hash(k, strlen(k)) & (cap - 1);
        while (h->slot[j])
            j = (j + 1) & (cap - 1);
        h->slot[j] = (uint32_t)i + 1;
    }
    return 0;
}

static mval *object_slot(parser *ps, mval *out, keyhash *h, char *key, size_t kn)
{
    size_t j;
    mval *slot;
    if (out->m.n < OBJECT_SCAN_KEYS && !h->slot) {
        /* a scan, and the parsed key kept rather than copied (a checkpoint
         * header has three small objects per tensor) */
        for (size_t i = 0; i < out->m.n; i++)
            if (strlen(out->m.k[i]) == kn && !memcmp(out->m.k[i], key, kn)) {
                pfree(ps, key);
                drop(ps, &out->m.v[i]);
                return &out->m.v[i];
            }
        return map_push(ps, out, key);
    }
    if ((!h->slot || 2 * (out->m.n + 1) > h->cap) && keyhash_build(h, out, out->m.n + 1)) {
        pfree(ps, key);
        return NULL;
    }
    for (j = key_hash(key, kn) & (h->cap - 1); h->slot[j]; j = (j + 1) & (h->cap - 1)) {
        size_t i = h->slot[j] - 1;
        if (strlen(out->m.k[i]) == kn && !memcmp(out->m.k[i], key, kn)) {
            pfree(ps, key);
            drop(ps, &out->m.v[i]);
            return &out->m.v[i];
        }
    }
    if (!(slot = map_push(ps, out, key)))
        return NULL;
    h->slot[j] = (uint32_t)out->m.n; /* its index + 1 */
    return slot;
}

/* After an object's or array's opening bracket: 0 when its closing bracket
 * follows (then consumed: the container is empty), else 1. */
static int first_item(parser *ps, char close)
{
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close)
        return ps->p++, 0;
    return 1;
}

static int parse_object(parser *ps, mval *out, int depth)
{
    keyhash h = {0};
    int rc = -1;
    mval_set_map(out);
    if (!first_item(ps, '}'))
        return 0;
    for (;;) {
        char *key;
        size_t kn;
        mval *slot;
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != '"') {
            perr(ps, "expected a string key");
            break;
        }
        if (parse_string(ps, &key, &kn))
            break;
        if (!(slot = object_slot(ps, out, &h, key, kn))) {
            err_set("out of memory");
            break;
        }
        skip_ws(ps);
        if (ps->p >= ps->end || *ps->p != ':') {
            perr(ps, "expected ':'");
            break;
        }
        ps->p++;
        if (parse_value(ps, slot, depth + 1))
            break;
        skip_ws(ps);
        if (ps->p < ps->end && *ps->p == ',') {
            ps->p++;
            continue;
        }
        if (ps->p < ps->end && *ps->p == '}') {
            ps->p++;
            rc = 0;
        } else {
            perr(ps, "expected ',' or '}'");
        }
        break;
    }
    free(h.slot);
    return rc;
}


static int parse_number(parser *ps, mval *out)
{
    const char *s = ps->p;
    int isfloat = 0, digits = 1; /* digits: nothing but digits after the sign */
    char buf[64];
    if (ps->p < ps->end && *ps->p == '-')
        ps->p++;
    if (ps->p >= ps->end || !(*ps->p >= '0' && *ps->p <= '9'))
        return perr(ps, "bad number");
    while (ps->p < ps->end && ((*ps->p >= '0' && *ps->p <= '9') || *ps->p == '.' || *ps->p == 'e' ||
                               *ps->p == 'E' || *ps->p == '+' || *ps->p == '-')) {
        if (*ps->p == '.' || *ps->p == 'e' || *ps->p == 'E')
            isfloat = 1;
        if (*ps->p < '0' || *ps->p > '9')
            digits = 0;
        ps->p++;
    }
    if (digits && ps->p - s <= 18 + (*s == '-')) {
        /* most numbers (shapes, offsets): at most 18 digits cannot
         * overflow; strtoll's value, without the copy and the call */
        int64_t v = 0;
        for (const char *d = s + (*s == '-'); d < ps->p; d++)
            v = 10 * v + (*d - '0');
        mval_set_int(out, *s == '-' ? -v : v);
        return 0;
    }
    if ((size_t)(ps->p - s) >= sizeof buf)
        return perr(ps, "number too long");
    memcpy(buf, s, (size_t)(ps->p - s));
    buf[ps->p - s] = '\0';
    errno = 0;
    if (!isfloat) {
        char *e;
        long long v = strtoll(buf, &e, 10);
        if (!*e && errno != ERANGE) {
            mval_set_int(out, v);
            return 0;
        }
    }
    {
        char *e;
        double d = strtod(buf, &e);
        if (*e)
            return perr(ps, "bad number");
        mval_set_float(out, d);
    }
    return 0;
}

static int lit(parser *ps, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n))
        return perr(ps, "unexpected token");
    ps->p += n;
    return 0;
}

/* After an item of an object or array: a ',' (1: another item follows), the
 * closing bracket (0: the end) or an error (-1). */
static int next_item(parser *ps, char close)
{
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        return 1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    return perr(ps, close == '}' ? "expected ',' or '}'" : "expected ',' or ']'");
}

static int parse_value(parser *ps, mval *out, int depth)
{
    int more;
    if (depth > JSON_MAX_DEPTH)
        return perr(ps, "nested too deep");
    skip_ws(ps);
    if (ps->p >= ps->end)
        return perr(ps, "unexpected end");
    switch (*ps->p) {
    case '{':
        return parse_object(ps, out, depth);
    case '[':
        mval_set_array(out);
        if (!first_item(ps, ']'))
            return 0;
        for (;;) {
            mval *slot = array_push(ps, out);
            if (!slot)
                return err_set("out of memory");
            if (parse_value(ps, slot, depth + 1))
                return -1;
            if ((more = next_item(ps, ']')) <= 0)
                return more;
        }
    case '"': {
        char *s;
        size_t n;
        if (parse_string(ps, &s, &n))
            return -1;
        drop(ps, out);
        out->kind = MV_STR;
        out->s.p = s;
        out->s.n = n;
        return 0;
    }
    case 't':
        if (lit(ps, "true"))
            return -1;
        mval_set_bool(out, 1);
        return 0;
    case 'f':
        if (lit(ps, "false"))
            return -1;
        mval_set_bool(out, 0);
        return 0;
    case 'n':
        if (lit(ps, "null"))
            return -1;
        mval_set_nil(out);
        return 0;
    default:
        return parse_number(ps, out);
    }
}

/* The document text[0..len) into out, from NIL; -1 + err_set, the tree then
 * left for the caller to free. */
static int parse_document(parser *ps, mval *out)
{
    memset(out, 0, sizeof *out);
    if (parse_value(ps, out, 0))
        return -1;
    skip_ws(ps);
    if (ps->p != ps->end)
        return perr(ps, "trailing characters");
    return 0;
}

int json_parse(const char *text, size_t len, mval *out)
{
    parser ps = {text, text, text + len, NULL};
    if (parse_document(&ps, out))
        return mval_free(out), -1;
    return 0;
}

int json_parse_pooled(const char *text, size_t len, mval *out, json_pool *pool)
{
    parser ps = {text, text, text + len, pool};
    pool->blocks = NULL;
    if (parse_document(&ps, out)) {
        json_pool_free(pool);
        memset(out, 0, sizeof *out);
        return -1;
    }
    return 0;
}

int json_load(const char *path, mval *out)
{
    char *buf;
    size_t n;
    int rc = readall_path(path, 256u << 20, "JSON file larger than 256 MiB", &buf, &n);
    if (rc == -2)
        return err_set("%s: read error", path);
    if (rc)
        return -1;
    rc = json_parse(buf, n, out);
    free(buf);
    if (rc)
        err_prefix("%s", path);
    return rc;
}

typedef struct {
    char **buf;
    size_t *len, *cap;
} sink;

static int put(sink *s, const char *p, size_t n)
{
    if (*s->len + n + 1 > *s->cap) {
        size_t cap = *s->cap ? *s->cap : 256;
        char *nb;
        while (cap < *s->len + n + 1)
            cap *= 2;
        nb = realloc(*s->buf, cap);
        if (!nb)
            return err_set("out of memory");
        *s->buf = nb;
        *s->cap = cap;
    }
    memcpy(*s->buf + *s->len, p, n);
    *s->len += n;
    (*s->buf)[*s->len] = '\0';
    return 0;
}

static int puts_(sink *s, const char *p)
{
    return put(s, p, strlen(p));
}

static int put_string(sink *s, const char *p, size_t n)
{
    if (put(s, "\"", 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            if (put(s, esc, 2))
                return -1;
        } else if (c < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", c);
            if (puts_(s, esc))
                return -1;
        } else if (put(s, (const char *)&p[i], 1)) {
            return -1;
        }
    }
    return put(s, "\"", 1);
}

static int newline(sink *s, int indent, int depth)
{
    if (indent < 0)
        return 0;
    if (put(s, "\n", 1))
        return -1;
    for (int i = 0; i < indent * depth; i++)
        if (put(s, " ", 1))
            return -1;
    return 0;
}

static int dump(sink *s, const mval *v, int indent, int depth);

/* An array's or a map's items, each on its own line (with indent >= 0),
 * except an array's numbers, which stay on one line: affines and spacings
 * read better. */
static int dump_items(sink *s, const mval *v, int indent, int depth)
{
    const int map = v->kind == MV_MAP;
    const size_t n = map ? v->m.n : v->a.n;
    const mval *item = map ? v->m.v : v->a.v;
    if (put(s, map ? "{" : "[", 1))
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (i && puts_(s, indent < 0 ? ", " : ","))
            return -1;
        if ((map || item[i].kind >= MV_STR) && newline(s, indent, depth + 1))
            return -1;
        if (map && (put_string(s, v->m.k[i], strlen(v->m.k[i])) || puts_(s, ": ")))
            return -1;
        if (dump(s, &item[i], indent, depth + 1))
            return -1;
    }
    if (n && (map || item[n - 1].kind >= MV_STR) && newline(s, indent, depth))
        return -1;
    return put(s, map ? "}" : "]", 1);
}

static int dump(sink *s, const mval *v, int indent, int depth)
{
    char num[64];
    switch (v->kind) {
    case MV_NIL: return puts_(s, "null");
    case MV_BOOL: return puts_(s, v->b ? "true" : "false");
    case MV_INT:
        snprintf(num, sizeof num, "%lld", (long long)v->i);
        return puts_(s, num);
    case MV_FLOAT:
        if (!isfinite(v->f))
            return puts_(s, isnan(v->f) ? "NaN" : v->f > 0 ? "Infinity" : "-Infinity");
        snprintf(num, sizeof num, "%.17g", v->f);
        /* Shortest form that reads back exactly. */
        for (int prec = 1; prec <= 17; prec++) {
            char t[64];
            snprintf(t, sizeof t, "%.*g", prec, v->f);
            if (strtod(t, NULL) == v->f) {
                memcpy(num, t, sizeof t);
                break;
            }
        }
        if (!strpbrk(num, ".eEn"))
            strcat(num, ".0");
        return puts_(s, num);
    case MV_STR: return put_string(s, v->s.p, v->s.n);
    case MV_BIN:
        snprintf(num, sizeof num, "{\"bin\": %zu}", v->s.n);
        return puts_(s, num);
    case MV_ARRAY:
    case MV_MAP: return dump_items(s, v, indent, depth);
    }
    return -1;
}

int json_dump(const mval *v, int indent, char **buf, size_t *len, size_t *cap)
{
    sink s = {buf, len, cap};
    return dump(&s, v, indent, 0);
}

int json_fprint(FILE *f, const mval *v, int indent)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = json_dump(v, indent, &buf, &len, &cap);
    if (!rc && fwrite(buf, 1, len, f) != len)
        rc = err_set("write error:");
    free(buf);
    return rc;
}

char *json_strv(char *const *v, int n)
{
    mval a = {0};
    char *buf = NULL;
    size_t len = 0, cap = 0;
    mval_set_array(&a);
    for (int i = 0; i < n; i++)
        mval_set_str(mval_push(&a), v[i]);
    if (json_dump(&a, -1, &buf, &len, &cap)) {
        free(buf);
        buf = NULL;
    }
    mval_free(&a);
    return buf;
}
