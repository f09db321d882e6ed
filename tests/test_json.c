/* JSON objects: a large object (found through the key hash) parses to the
 * same map as the same pairs put one by one with mval_map_putn (the
 * linear-scan path small objects take): key order, duplicates keeping their
 * first place and their last value, keys with escapes and NUL bytes. A
 * pooled parse gives the same trees and errors as a plain one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "core/mval.h"
#include "core/rng.h"
#include "testutil.h"

static void test_objects_match_putn(void **state)
{
    rng r;
    (void)state;
    rng_seed(&r, 5, 0);
    for (int round = 0; round < 200; round++) {
        int n = 1 + (int)rng_below(&r, 300), nkeys = 1 + (int)rng_below(&r, n < 40 ? n : 40 + n / 2);
        char *text = malloc(64 * (size_t)n + 16), *p = text;
        mval want = {0}, got = {0};
        mval_set_map(&want);
        p += sprintf(p, "{");
        for (int i = 0; i < n; i++) {
            int k = (int)rng_below(&r, (uint64_t)nkeys);
            char key[32], raw[48];
            size_t kn;
            /* some keys carry an escaped quote or a NUL */
            if (k % 7 == 3) {
                kn = (size_t)snprintf(key, sizeof key, "k\"%d", k);
                snprintf(raw, sizeof raw, "k\\\"%d", k);
            } else if (k % 11 == 5) {
                kn = (size_t)snprintf(key, sizeof key, "n%d", k) + 2;
                key[kn - 2] = '\0';
                key[kn - 1] = 'z';
                snprintf(raw, sizeof raw, "n%d\\u0000z", k);
            } else {
                kn = (size_t)snprintf(key, sizeof key, "tensor.%d.weight", k);
                snprintf(raw, sizeof raw, "%s", key);
            }
            p += sprintf(p, "%s\"%s\": %d", i ? ", " : "", raw, i);
            mval_set_int(mval_map_putn(&want, key, kn), i);
        }
        p += sprintf(p, "}");
        assert_int_equal(json_parse(text, (size_t)(p - text), &got), 0);
        assert_int_equal(got.m.n, want.m.n);
        for (size_t i = 0; i < want.m.n; i++) {
            assert_string_equal(got.m.k[i], want.m.k[i]);
            assert_int_equal(got.m.v[i].i, want.m.v[i].i);
        }
        mval_free(&got);
        mval_free(&want);
        free(text);
    }
}

/* Two trees equal: kinds, values, string bytes, keys' bytes (to their NUL)
 * and order. */
static void assert_same_tree(const mval *a, const mval *b)
{
    assert_int_equal(a->kind, b->kind);
    switch (a->kind) {
    case MV_BOOL: assert_int_equal(a->b, b->b); break;
    case MV_INT: assert_int_equal(a->i, b->i); break;
    case MV_FLOAT: assert_memory_equal(&a->f, &b->f, sizeof a->f); break;
    case MV_STR:
        assert_int_equal(a->s.n, b->s.n);
        assert_memory_equal(a->s.p, b->s.p, a->s.n + 1);
        break;
    case MV_ARRAY:
        assert_int_equal(a->a.n, b->a.n);
        for (size_t i = 0; i < a->a.n; i++)
            assert_same_tree(&a->a.v[i], &b->a.v[i]);
        break;
    case MV_MAP:
        assert_int_equal(a->m.n, b->m.n);
        for (size_t i = 0; i < a->m.n; i++) {
            assert_string_equal(a->m.k[i], b->m.k[i]);
            assert_same_tree(&a->m.v[i], &b->m.v[i]);
        }
        break;
    default: break;
    }
}

/* json_parse_pooled gives json_parse's tree, or its error message, on a
 * checkpoint-like header (hundreds of small objects, a large top-level one
 * found by hashing, duplicates, escapes and NULs in keys, nesting) and on
 * thousands of mutations of it: bytes changed, removed, duplicated, and
 * truncations. */
static void test_pooled_matches_plain(void **state)
{
    static const char *const bytes = "{}[],:\"\\u0 9-.eE\ntfn";
    rng r;
    char *doc = malloc(1 << 20), *mut = malloc(1 << 20), *p = doc, want_err[512];
    size_t n;
    (void)state;
    rng_seed(&r, 7, 0);
    p += sprintf(p, "{");
    for (int i = 0; i < 300; i++)
        p += sprintf(p, "%s\"%s.%d.w%s\": {\"dtype\": \"F32\", \"shape\": [%d, 3, 3], "
                     "\"data_offsets\": [%d, %d]%s}",
                     i ? ", " : "", i % 13 == 4 ? "n\\u0000" : i % 17 == 2 ? "q\\\"" : "enc",
                     i % 50, i % 29 == 0 ? "\\u00e9\\ud83d\\ude00" : "", i + 1, 36 * i, 36 * i + 36,
                     i % 31 == 7 ? ", \"dtype\": \"I64\"" : "");
    p += sprintf(p, ", \"enc.3.w\": [[[[1.5e3, -2, true, false, null]]]], \"__metadata__\": "
                 "{\"format\": \"lrcpipe-ckpt\", \"config\": \"{\\\"widths\\\": [1, 2]}\"}}");
    n = (size_t)(p - doc);
    for (int round = 0; round < 3000; round++) {
        mval want, got;
        json_pool pool;
        size_t m = n;
        int rw, rg;
        memcpy(mut, doc, n);
        for (int k = round ? 1 + (int)rng_below(&r, 4) : 0; k > 0; k--) {
            size_t at = (size_t)rng_below(&r, m);
            switch (rng_below(&r, 4)) {
            case 0: mut[at] = bytes[rng_below(&r, strlen(bytes))]; break;
            case 1: memmove(mut + at, mut + at + 1, m - at - 1), m--; break;
            case 2: memmove(mut + at + 1, mut + at, m - at), m++; break;
            default: m = at + 1; break;
            }
        }
        err_clear();
        rw = json_parse(mut, m, &want);
        snprintf(want_err, sizeof want_err, "%s", rw ? err_get() : "");
        err_clear();
        rg = json_parse_pooled(mut, m, &got, &pool);
        assert_int_equal(rg, rw);
        if (rw) {
            assert_string_equal(err_get(), want_err);
            assert_int_equal(got.kind, MV_NIL);
            continue;
        }
        assert_same_tree(&want, &got);
        mval_free(&want);
        json_pool_free(&pool);
    }
    free(doc);
    free(mut);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_match_putn),
        cmocka_unit_test(test_pooled_matches_plain),
    };
    err_init("test_json");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
