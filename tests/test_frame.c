/* Frame encoding and decoding: round trips, the msgpack-numpy layout, and
 * every kind of bad record DESIGN.md says a reader must survive. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "io/frame.h"
#include "testutil.h"

static void fill(tensor *t, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 0);
    unsigned char *p = t->data;
    for (size_t i = 0; i < tensor_nbytes(t); i++)
        p[i] = (unsigned char)rng_u32(&r);
}

static void roundtrip(frame *f, frame *g)
{
    frame_buf b = {0};
    assert_int_equal(frame_encode(f, &b), 0);
    if (frame_decode(b.data, b.len, NULL, g))
        fail_msg("decode: %s", err_get());
    frame_buf_free(&b);
}

static void assert_same_tensor(const tensor *a, const tensor *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->rank, b->rank);
    for (int i = 0; i < a->rank; i++)
        assert_int_equal(a->shape[i], b->shape[i]);
    assert_int_equal(tensor_nbytes(a), tensor_nbytes(b));
    assert_memory_equal(a->data, b->data, tensor_nbytes(a) ? tensor_nbytes(a) : 1);
}

static void test_every_dtype_and_rank(void **state)
{
    (void)state;
    static const int64_t dims[5] = {3, 5, 2, 7, 4};
    for (int dt = 0; dt < DT_COUNT; dt++)
        for (int rank = 0; rank <= 4; rank++) {
            frame f, g;
            tensor t;
            frame_init(&f, FRAME_DATA);
            assert_int_equal(tensor_init(&t, (dtype)dt, rank, dims), 0);
            fill(&t, (uint64_t)(dt * 10 + rank));
            assert_int_equal(frame_tensor_add(&f, "x", &t), 0);
            f.seq = 7;
            f.z = rank;
            frame_set_id(&f, "vol");
            roundtrip(&f, &g);
            assert_int_equal(g.type, FRAME_DATA);
            assert_int_equal(g.seq, 7);
            assert_int_equal(g.z, rank);
            assert_string_equal(g.id, "vol");
            assert_int_equal(g.ntensors, 1);
            assert_same_tensor(frame_tensor_get(&f, "x"), frame_tensor_get(&g, "x"));
            frame_free(&f);
            frame_free(&g);
        }
}

static void test_empty_tensors(void **state)
{
    (void)state;
    frame f, g;
    tensor t;
    frame_init(&f, FRAME_DATA);
    assert_int_equal(tensor_init3(&t, DT_F32, 0, 4, 5), 0);
    frame_tensor_add(&f, "empty", &t);
    assert_int_equal(tensor_init2(&t, DT_U8, 3, 0), 0);
    frame_tensor_add(&f, "empty2", &t);
    roundtrip(&f, &g);
    assert_int_equal(g.ntensors, 2);
    assert_int_equal(tensor_numel(frame_tensor_get(&g, "empty")), 0);
    assert_int_equal(frame_tensor_get(&g, "empty2")->shape[0], 3);
    frame_free(&f);
    frame_free(&g);
}

static void test_large_tensor(void **state)
{
    (void)state;
    frame f, g;
    tensor t;
    frame_init(&f, FRAME_DATA);
    /* 72 MiB: more than 64 MiB, and more than a bin32 header's 16-bit cousins. */
    assert_int_equal(tensor_init3(&t, DT_F32, 18, 1024, 1024), 0);
    fill(&t, 99);
    frame_tensor_add(&f, "big", &t);
    roundtrip(&f, &g);
    assert_same_tensor(frame_tensor_get(&f, "big"), frame_tensor_get(&g, "big"));
    frame_free(&f);
    frame_free(&g);
}

static void test_meta_and_start_end(void **state)
{
    (void)state;
    frame f, g;
    double sp[3] = {2.5, 1, 1}, back[3];
    const char *classes[] = {"background", "Brainstem"};
    const char *s;
    mval *m;
    frame_init(&f, FRAME_DATA);
    m = frame_meta(&f);
    mval_put_f64v(m, "spacing", sp, 3);
    mval_put_strv(m, "classes", classes, 2);
    mval_put_str(m, "note", "caf\xc3\xa9");
    roundtrip(&f, &g);
    assert_int_equal(mval_get_f64v(&g.meta, "spacing", back, 3), 0);
    assert_true(back[0] == 2.5 && back[1] == 1 && back[2] == 1);
    assert_int_equal(mval_get_str(&g.meta, "note", &s), 0);
    assert_string_equal(s, "caf\xc3\xa9");
    assert_int_equal(mval_map_get(&g.meta, "classes")->a.n, 2);
    frame_free(&f);
    frame_free(&g);

    frame_init(&f, FRAME_END);
    f.count = 12345678901LL;
    roundtrip(&f, &g);
    assert_int_equal(g.type, FRAME_END);
    assert_int_equal(g.count, 12345678901LL);
    frame_free(&g);

    frame_init(&f, FRAME_START);
    f.producer = "unit";
    f.version = "9";
    roundtrip(&f, &g);
    assert_int_equal(g.type, FRAME_START);
    assert_string_equal(g.producer, "unit");
    frame_free(&g);
}

/* The array layout is msgpack-numpy's: check the bytes of a tiny record. */
static void test_wire_layout(void **state)
{
    (void)state;
    frame f;
    tensor t;
    frame_buf b = {0};
    frame_init(&f, FRAME_DATA);
    tensor_init1(&t, DT_I16, 2);
    ((int16_t *)t.data)[0] = 1;
    ((int16_t *)t.data)[1] = -2;
    frame_tensor_add(&f, "a", &t);
    frame_encode(&f, &b);
    /* ... "a" -> {"nd": true, "type": "<i2", "kind": b"", "shape": [2], "data": b"\x01\x00\xfe\xff"} */
    static const unsigned char tail[] = {
        0xa1, 'a', 0x85, 0xa2, 'n', 'd', 0xc3, 0xa4, 't', 'y', 'p', 'e', 0xa3, '<', 'i', '2',
        0xa4, 'k', 'i', 'n', 'd', 0xc4, 0x00, 0xa5, 's', 'h', 'a', 'p', 'e', 0x91, 0x02,
        0xa4, 'd', 'a', 't', 'a', 0xc4, 0x04, 0x01, 0x00, 0xfe, 0xff};
    assert_true(b.len > sizeof tail);
    assert_memory_equal(b.data + b.len - sizeof tail, tail, sizeof tail);
    frame_buf_free(&b);
    frame_free(&f);
}

/* Encode a record, then corrupt it in a given way and expect an error. */
static int decode_bytes(const void *p, size_t n, const frame_limits *lim)
{
    frame g;
    int rc = frame_decode(p, n, lim, &g);
    if (rc == 0)
        frame_free(&g);
    return rc;
}

static void test_bad_records(void **state)
{
    (void)state;
    frame f;
    tensor t;
    frame_buf b = {0};
    char *copy;
    frame_init(&f, FRAME_DATA);
    f.seq = 41;
    tensor_init2(&t, DT_F32, 4, 4);
    frame_tensor_add(&f, "image", &t);
    frame_encode(&f, &b);
    copy = malloc(b.len);

    /* truncated at every length */
    for (size_t n = 0; n < b.len; n++)
        assert_int_equal(decode_bytes(b.data, n, NULL), -1);
    /* trailing garbage */
    {
        char *p = malloc(b.len + 3);
        memcpy(p, b.data, b.len);
        memcpy(p + b.len, "xyz", 3);
        assert_int_equal(decode_bytes(p, b.len + 3, NULL), -1);
        assert_non_null(strstr(err_get(), "trailing"));
        free(p);
    }
    /* garbage bytes */
    {
        rng r;
        char junk[4096];
        rng_seed(&r, 5, 0);
        for (int it = 0; it < 2000; it++) {
            size_t n = 1 + rng_below(&r, sizeof junk);
            for (size_t i = 0; i < n; i++)
                junk[i] = (char)rng_u32(&r);
            assert_int_equal(decode_bytes(junk, n, NULL), -1);
        }
        /* and random mutations of a valid record must never crash */
        for (int it = 0; it < 5000; it++) {
            memcpy(copy, b.data, b.len);
            for (int k = 0; k < 3; k++)
                copy[rng_below(&r, b.len)] = (char)rng_u32(&r);
            decode_bytes(copy, b.len, NULL);
        }
    }
    /* shape that does not match the data length: 4x4 -> 4x5 */
    memcpy(copy, b.data, b.len);
    {
        char *p = memmem(copy, b.len, "shape\x92\x04\x04", 8);
        assert_non_null(p);
        p[7] = 5;
        assert_int_equal(decode_bytes(copy, b.len, NULL), -1);
        assert_non_null(strstr(err_get(), "data holds"));
        /* negative dimension (fixint -1) */
        p[7] = (char)0xff;
        assert_int_equal(decode_bytes(copy, b.len, NULL), -1);
        assert_non_null(strstr(err_get(), "negative"));
    }
    /* unknown dtype */
    memcpy(copy, b.data, b.len);
    {
        char *p = memmem(copy, b.len, "<f4", 3);
        p[1] = 'c';
        assert_int_equal(decode_bytes(copy, b.len, NULL), -1);
        assert_non_null(strstr(err_get(), "unknown dtype"));
    }
    /* record larger than the cap */
    {
        frame_limits lim = {64, 8, 64};
        assert_int_equal(decode_bytes(b.data, b.len, &lim), -1);
        assert_non_null(strstr(err_get(), "cap"));
    }
    /* rank above the cap */
    {
        frame_limits lim = {1 << 20, 1, 64};
        assert_int_equal(decode_bytes(b.data, b.len, &lim), -1);
        assert_non_null(strstr(err_get(), "rank"));
    }
    /* the seq survives a failed decode so readers can name the record */
    {
        frame g;
        memcpy(copy, b.data, b.len);
        char *p = memmem(copy, b.len, "<f4", 3);
        p[2] = '9';
        assert_int_equal(frame_decode(copy, b.len, NULL, &g), -1);
        assert_int_equal(g.seq, 41);
    }
    free(copy);
    frame_buf_free(&b);
    frame_free(&f);
}

/* An absurd dimension (2^62) in a small record must not allocate. */
static void test_absurd_dimension(void **state)
{
    (void)state;
    /* {"v":1,"type":"data","tensors":{"x":{"nd":true,"type":"<f4","shape":[2^62],"data":b""}}} */
    static const unsigned char rec[] = {
        0x83, 0xa1, 'v', 0x01, 0xa4, 't', 'y', 'p', 'e', 0xa4, 'd', 'a', 't', 'a', 0xa7, 't', 'e', 'n', 's', 'o',
        'r', 's', 0x81, 0xa1, 'x', 0x84, 0xa2, 'n', 'd', 0xc3, 0xa4, 't', 'y', 'p', 'e', 0xa3, '<', 'f', '4',
        0xa5, 's', 'h', 'a', 'p', 'e', 0x91, 0xcf, 0x40, 0, 0, 0, 0, 0, 0, 0, 0xa4, 'd', 'a', 't', 'a', 0xc4, 0x00};
    assert_int_equal(decode_bytes(rec, sizeof rec, NULL), -1);
}

/* A map claiming 2^32-1 entries in a few bytes is refused by the scan. */
static void test_huge_count_claim(void **state)
{
    (void)state;
    static const unsigned char rec[] = {0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 'v', 0x01};
    size_t need;
    assert_int_equal(frame_scan((const char *)rec, sizeof rec, 1 << 20, &need), -1);
    assert_int_equal(decode_bytes(rec, sizeof rec, NULL), -1);
}

static void test_scan_boundaries(void **state)
{
    (void)state;
    frame f;
    tensor t;
    frame_buf b = {0};
    size_t need;
    frame_init(&f, FRAME_DATA);
    tensor_init1(&t, DT_F64, 1000);
    frame_tensor_add(&f, "a", &t);
    frame_encode(&f, &b);
    for (size_t n = 0; n < b.len; n++) {
        assert_int_equal(frame_scan(b.data, n, 1 << 30, &need), 1);
        assert_true(need > n && need <= b.len);
    }
    assert_int_equal(frame_scan(b.data, b.len, 1 << 30, &need), 0);
    assert_int_equal(need, b.len);
    frame_buf_free(&b);
    frame_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_dtype_and_rank),
        cmocka_unit_test(test_empty_tensors),
        cmocka_unit_test(test_large_tensor),
        cmocka_unit_test(test_meta_and_start_end),
        cmocka_unit_test(test_wire_layout),
        cmocka_unit_test(test_bad_records),
        cmocka_unit_test(test_absurd_dimension),
        cmocka_unit_test(test_huge_count_claim),
        cmocka_unit_test(test_scan_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
