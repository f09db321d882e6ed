/* JSON objects: a large object (found through the key hash) parses to the
 * same map as the same pairs put one by one with mval_map_putn (the
 * linear-scan path small objects take): key order, duplicates keeping their
 * first place and their last value, keys with escapes and NUL bytes. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_objects_match_putn),
    };
    err_init("test_json");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
