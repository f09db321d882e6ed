/* Pair frames into training pairs (lrcpair), the shuffle buffer (shufbuf)
 * and the metrics log (trainlog). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"
#include "io/frame.h"
#include "io/shufbuf.h"
#include "nn/trainlog.h"
#include "pretrain/lrcpair.h"
#include "testutil.h"

static void add2(frame *f, const char *name, dtype dt, int H, int W, double v)
{
    tensor t;
    assert_int_equal(tensor_init2(&t, dt, H, W), 0);
    for (size_t i = 0; i < tensor_numel(&t); i++)
        tensor_set(&t, i, v < 0 ? v : (double)(i % 3) + v);
    assert_int_equal(frame_tensor_add(f, name, &t), 0);
}

static void make(frame *f, int H, int W)
{
    frame_init(f, FRAME_DATA);
    f->seq = 4;
    frame_set_id(f, "vol");
    add2(f, "image", DT_F32, H, W, 0.5);
    add2(f, "image_p", DT_F64, H, W, 0.25);
    add2(f, "regions", DT_I32, H, W, 0);
    add2(f, "regions_p", DT_U8, H, W, 0);
}

static void expect_error(const frame *f, int need_regions, const char *msg)
{
    lrc_pair *p = lrc_pair_from_frame(f, need_regions);
    assert_null(p);
    if (!strstr(err_get(), msg))
        fail_msg("error '%s' does not contain '%s'", err_get(), msg);
}

static void test_pair_ok(void **state)
{
    (void)state;
    frame f;
    make(&f, 4, 6);
    lrc_pair *p = lrc_pair_from_frame(&f, 1);
    assert_non_null(p);
    assert_int_equal(p->H, 4);
    assert_int_equal(p->W, 6);
    assert_int_equal(p->nreg, 3);
    assert_int_equal(p->seq, 4);
    assert_string_equal(p->id, "vol");
    assert_true(p->xq[4] == 1.5f && p->xp[5] == 2.25f);
    assert_int_equal(p->rp[5], 2);
    lrc_pair_free(p);
    /* MoCo needs no regions */
    frame_tensor_del(&f, "regions_p");
    p = lrc_pair_from_frame(&f, 0);
    assert_non_null(p);
    assert_null(p->rq);
    lrc_pair_free(p);
    frame_free(&f);
}

static void test_pair_errors(void **state)
{
    (void)state;
    frame f;
    make(&f, 4, 6);
    frame_tensor_del(&f, "regions_p");
    expect_error(&f, 1, "no 'regions_p' tensor");
    frame_free(&f);

    make(&f, 4, 6);
    add2(&f, "image_p", DT_F32, 4, 5, 0);
    expect_error(&f, 0, "'image_p' is 4x5 but 'image' is 4x6");
    frame_free(&f);

    make(&f, 4, 6);
    add2(&f, "regions", DT_F32, 4, 6, 0);
    expect_error(&f, 1, "'regions' is <f4; region maps are integer");
    frame_free(&f);

    make(&f, 4, 6);
    add2(&f, "regions_p", DT_I32, 4, 6, -3);
    expect_error(&f, 1, "'regions_p' has region label -3 at pixel 0");
    frame_free(&f);

    make(&f, 4, 6);
    ((float *)frame_tensor_get(&f, "image")->data)[7] = NAN;
    expect_error(&f, 1, "'image' has a non-finite value at pixel 7");
    frame_free(&f);

    make(&f, 4, 6);
    {
        tensor t;
        tensor_init3(&t, DT_F32, 1, 4, 6);
        frame_tensor_add(&f, "image", &t);
    }
    expect_error(&f, 1, "'image' has shape [1, 4, 6], expected [Y, X]");
    frame_free(&f);

    /* fewer than 2 common regions is not an error: nreg says it */
    make(&f, 4, 6);
    add2(&f, "regions_p", DT_I32, 4, 6, -1);
    lrc_pair *p = lrc_pair_from_frame(&f, 1);
    assert_non_null(p);
    assert_int_equal(p->nreg, 0);
    lrc_pair_free(p);
    frame_free(&f);
}

static void test_shufbuf(void **state)
{
    (void)state;
    enum { N = 1000 };
    int vals[N], seen[N], order1[N], order2[N];
    for (int run = 0; run < 2; run++) {
        shufbuf s;
        int k = 0, *order = run ? order2 : order1;
        memset(seen, 0, sizeof seen);
        assert_int_equal(shufbuf_init(&s, 64, 42, 1), 0);
        for (int i = 0; i < N; i++) {
            vals[i] = i;
            int *out = shufbuf_put(&s, &vals[i]);
            if (i < 64)
                assert_null(out);
            else
                assert_non_null(out);
            if (out)
                order[k++] = *out;
        }
        for (int *out; (out = shufbuf_drain(&s));)
            order[k++] = *out;
        assert_int_equal(k, N);
        for (int i = 0; i < N; i++)
            seen[order[i]]++;
        for (int i = 0; i < N; i++)
            assert_int_equal(seen[i], 1);
        shufbuf_free(&s);
    }
    assert_memory_equal(order1, order2, sizeof order1); /* seeded: reproducible */
    int displaced = 0;
    for (int i = 0; i < N; i++)
        displaced += order1[i] != i;
    assert_true(displaced > N / 2);
    /* cap 1: no shuffling */
    shufbuf s;
    shufbuf_init(&s, 1, 1, 1);
    assert_ptr_equal(shufbuf_put(&s, &vals[3]), &vals[3]);
    assert_null(shufbuf_drain(&s));
    shufbuf_free(&s);
}

static void test_trainlog(void **state)
{
    (void)state;
    char path[1024];
    trainlog t;
    mval rec = {0}, back = {0};
    double v;
    snprintf(path, sizeof path, "%s/metrics.jsonl", tu_tmpdir());
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(trainlog_open(&t, path, pass), 0);
        mval_set_map(&rec);
        mval_put_i64(&rec, "step", pass + 1);
        mval_put_f64(&rec, "loss", 0.5);
        assert_int_equal(trainlog_write(&t, &rec), 0);
        mval_free(&rec);
        assert_int_equal(trainlog_close(&t), 0);
    }
    char *text = tu_read(path, NULL);
    assert_non_null(text);
    assert_int_equal(tu_count_lines(text), 2); /* the second open appended */
    assert_int_equal(json_parse(text, strcspn(text, "\n"), &back), 0);
    assert_int_equal(mval_get_f64(&back, "loss", &v), 0);
    assert_true(v == 0.5);
    mval_free(&back);
    free(text);
    char buf[32];
    assert_string_equal(trainlog_fmt_secs(192, buf, sizeof buf), "3m12s");
    assert_string_equal(trainlog_fmt_secs(3720, buf, sizeof buf), "1h02m");
    assert_int_equal(trainlog_open(&t, "/nonexistent/dir/x.jsonl", 0), -1);
    assert_non_null(strstr(err_get(), "/nonexistent/dir/x.jsonl"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pair_ok),
        cmocka_unit_test(test_pair_errors),
        cmocka_unit_test(test_shufbuf),
        cmocka_unit_test(test_trainlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
