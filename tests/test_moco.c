/* MoCo pieces: InfoNCE loss and gradient (finite differences, PyTorch, a
 * naive loop on every instruction set and thread count), the
 * L2 normalisation's backward, the queue (ring buffer) and the momentum
 * update. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/rng.h"
#include "io/npy.h"
#include "nn/nn.h"
#include "pretrain/moco.h"
#include "testutil.h"

static void fill_normalf(float *x, size_t n, double s, uint64_t seed)
{
    rng r;
    rng_seed(&r, seed, 2);
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(s * rng_normal(&r));
}

static void test_queue_ring(void **state)
{
    (void)state;
    moco_queue q;
    rng r;
    rng_seed(&r, 1, 0);
    assert_int_equal(moco_queue_init(&q, 5, 3, &r), 0);
    /* starts with unit vectors */
    for (int i = 0; i < 5; i++) {
        double s = 0;
        for (int c = 0; c < 3; c++)
            s += q.data[i * 3 + c] * q.data[i * 3 + c];
        assert_true(fabs(s - 1) < 1e-6);
    }
    float keys[4 * 3];
    for (int i = 0; i < 12; i++)
        keys[i] = (float)(100 + i);
    /* push 2: rows 0, 1 */
    moco_queue_push(&q, keys, 2);
    assert_int_equal(q.ptr, 2);
    assert_true(q.data[0] == 100 && q.data[3 * 1 + 2] == 105);
    /* push 4: rows 2, 3, 4, then wrap to 0 */
    for (int i = 0; i < 12; i++)
        keys[i] = (float)(200 + i);
    moco_queue_push(&q, keys, 4);
    assert_int_equal(q.ptr, 1);
    assert_true(q.data[2 * 3] == 200 && q.data[4 * 3 + 2] == 208);
    assert_true(q.data[0] == 209 && q.data[2] == 211); /* the oldest (row 0) replaced */
    assert_true(q.data[3] == 103);                      /* row 1 still the first push */
    /* the same seed gives the same initial queue */
    moco_queue q2, q3;
    rng_seed(&r, 9, 0);
    moco_queue_init(&q2, 4, 8, &r);
    rng_seed(&r, 9, 0);
    moco_queue_init(&q3, 4, 8, &r);
    assert_memory_equal(q2.data, q3.data, sizeof(float) * 32);
    moco_queue_free(&q);
    moco_queue_free(&q2);
    moco_queue_free(&q3);
    assert_int_equal(moco_queue_init(&q, 0, 3, &r), -1);
}

static void test_momentum_update(void **state)
{
    (void)state;
    float k[4] = {1, 2, 3, 4}, q[4] = {5, 6, 7, -8}, k0[4];
    memcpy(k0, k, sizeof k);
    moco_momentum_update(k, q, 4, 0.999f);
    for (int i = 0; i < 4; i++) {
        double want = 0.999 * k0[i] + 0.001 * q[i];
        assert_true(fabs(k[i] - want) < 1e-6 * (1 + fabs(want)));
    }
    moco_momentum_update(k, q, 4, 0.0f); /* m = 0 copies the query */
    assert_memory_equal(k, q, sizeof q);
    memcpy(k, k0, sizeof k);
    moco_momentum_update(k, q, 4, 1.0f); /* m = 1 keeps the key */
    assert_memory_equal(k, k0, sizeof k);
}

static void test_l2norm_backward_fd(void **state)
{
    (void)state;
    enum { B = 3, C = 5 };
    float x[B * C], y[B * C], n[B], w[B * C], dx[B * C] = {0};
    fill_normalf(x, B * C, 1, 5);
    fill_normalf(w, B * C, 1, 6);
    moco_l2norm_forward(y, n, x, B, C);
    moco_l2norm_backward(dx, w, y, n, B, C); /* d(sum w . y)/dx */
    double worst = 0;
    for (int i = 0; i < B * C; i++) {
        float keep = x[i], up = keep + 1e-2f, dn = keep - 1e-2f;
        double lp = 0, lm = 0;
        x[i] = up;
        moco_l2norm_forward(y, n, x, B, C);
        for (int j = 0; j < B * C; j++)
            lp += (double)w[j] * y[j];
        x[i] = dn;
        moco_l2norm_forward(y, n, x, B, C);
        for (int j = 0; j < B * C; j++)
            lm += (double)w[j] * y[j];
        x[i] = keep;
        double fd = (lp - lm) / ((double)up - dn);
        worst = fmax(worst, fabs(fd - dx[i]));
    }
    print_message("l2norm backward vs fd: max |diff| %.2e\n", worst);
    assert_true(worst < 2e-3);
}

/* Random normalised q, keys near q, a queue of random unit vectors. */
static void make_case(float *q, float *k, float *queue, int B, int C, int Kq, uint64_t seed)
{
    float *n = malloc(sizeof(float) * (size_t)(B > Kq ? B : Kq));
    fill_normalf(q, (size_t)B * C, 1, seed);
    fill_normalf(k, (size_t)B * C, 1, seed + 1);
    fill_normalf(queue, (size_t)Kq * C, 1, seed + 2);
    for (int i = 0; i < B * C; i++)
        k[i] = q[i] + 0.5f * k[i];
    moco_l2norm_forward(q, n, q, B, C);
    moco_l2norm_forward(k, n, k, B, C);
    moco_l2norm_forward(queue, n, queue, Kq, C);
    free(n);
}

static void test_infonce_fd(void **state)
{
    (void)state;
    enum { B = 4, C = 8, Kq = 16 };
    float q[B * C], k[B * C], queue[Kq * C], dq[B * C] = {0};
    double loss, acc, worst = 0, gmax = 0;
    make_case(q, k, queue, B, C, Kq, 40);
    assert_int_equal(moco_infonce(&loss, &acc, dq, q, k, queue, B, C, Kq, 0.2, 1.0), 0);
    for (int i = 0; i < B * C; i++)
        gmax = fmax(gmax, fabs(dq[i]));
    for (int i = 0; i < B * C; i++) {
        float keep = q[i], up = keep + 1e-2f, dn = keep - 1e-2f;
        double lp, lm;
        q[i] = up;
        moco_infonce(&lp, NULL, NULL, q, k, queue, B, C, Kq, 0.2, 1.0);
        q[i] = dn;
        moco_infonce(&lm, NULL, NULL, q, k, queue, B, C, Kq, 0.2, 1.0);
        q[i] = keep;
        double fd = (lp - lm) / ((double)up - dn);
        worst = fmax(worst, fabs(fd - dq[i]) / gmax);
    }
    print_message("InfoNCE: loss %.6f acc %.2f, grad vs fd max |diff|/max|g| %.2e\n", loss, acc, worst);
    /* the logits are float (sgemm); central differences with h = 1e-2 */
    assert_true(worst < 1e-3);
    /* positive identical to q and far from the queue: loss small, acc 1 */
    assert_int_equal(moco_infonce(&loss, &acc, NULL, q, q, queue, B, C, Kq, 0.05, 1.0), 0);
    assert_true(acc == 1.0);
    assert_int_equal(moco_infonce(&loss, &acc, NULL, q, q, queue, B, C, Kq, 0, 1.0), -1);
}

/* InfoNCE in double from naive loops: loss and dL/dq (scale 1). */
static double infonce_naive(double *dq, const float *q, const float *k, const float *queue, int B,
                            int C, int Kq, double tau)
{
    double total = 0, *l = malloc(sizeof(double) * (Kq + 1));
    for (int b = 0; b < B; b++) {
        const float *qb = q + (size_t)b * C;
        double m = -INFINITY, z = 0;
        for (int j = 0; j <= Kq; j++) { /* j = 0: the positive; then the queue */
            const float *v = j ? queue + (size_t)(j - 1) * C : k + (size_t)b * C;
            double d = 0;
            for (int c = 0; c < C; c++)
                d += (double)qb[c] * v[c];
            l[j] = d / tau;
            m = fmax(m, l[j]);
        }
        for (int j = 0; j <= Kq; j++)
            z += exp(l[j] - m);
        total += m + log(z) - l[0];
        for (int c = 0; c < C; c++)
            dq[(size_t)b * C + c] = 0;
        for (int j = 0; j <= Kq; j++) {
            const float *v = j ? queue + (size_t)(j - 1) * C : k + (size_t)b * C;
            double w = (exp(l[j] - m) / z - (j == 0)) / (tau * B);
            for (int c = 0; c < C; c++)
                dq[(size_t)b * C + c] += w * v[c];
        }
    }
    free(l);
    return total / B;
}

/* The queue products run on the engine's GEMM: each instruction set agrees
 * with naive loops to float rounding, and on one instruction set the result
 * is bit for bit the same on 1 and 2 threads (the same seed, the same
 * checkpoint). Sizes off the kernels' tiles (B 7, C 100, queue 1000). */
static void test_infonce_naive(void **state)
{
    (void)state;
    enum { B = 7, C = 100, Kq = 1000 };
    float *q = malloc(sizeof(float) * B * C), *k = malloc(sizeof(float) * B * C);
    float *queue = malloc(sizeof(float) * Kq * C), *dq = malloc(sizeof(float) * B * C);
    float *dq1 = malloc(sizeof(float) * B * C);
    double *ref = malloc(sizeof(double) * B * C);
    make_case(q, k, queue, B, C, Kq, 90);
    double rloss = infonce_naive(ref, q, k, queue, B, C, Kq, 0.1), gmax = 0;
    for (int i = 0; i < B * C; i++)
        gmax = fmax(gmax, fabs(ref[i]));
    int best = nn_isa();
    for (int isa = NN_ISA_C; isa <= NN_ISA_AVX512; isa++) {
        if (nn_set_isa(isa))
            continue;
        double loss[2], worst = 0;
        for (int t = 1; t <= 2; t++) {
            nn_set_threads(t);
            float *g = t == 1 ? dq1 : dq;
            memset(g, 0, sizeof(float) * B * C);
            assert_int_equal(moco_infonce(&loss[t - 1], NULL, g, q, k, queue, B, C, Kq, 0.1, 1.0), 0);
        }
        for (int i = 0; i < B * C; i++)
            worst = fmax(worst, fabs(dq[i] - ref[i]) / gmax);
        double el = fabs(loss[1] - rloss) / rloss;
        print_message("InfoNCE %s vs naive loops: loss rel %.1e, grad max |diff|/max|g| %.2e\n",
                      nn_isa_name(isa), el, worst);
        assert_true(el < 1e-5);
        assert_true(worst < 1e-5);
        assert_true(loss[0] == loss[1]);
        assert_memory_equal(dq, dq1, sizeof(float) * B * C);
    }
    nn_set_isa(best);
    free(q), free(k), free(queue), free(dq), free(dq1), free(ref);
}

static void put_npy(const char *dir, const char *name, int64_t r0, int64_t r1, const float *data)
{
    char path[1024];
    tensor t;
    assert_int_equal(tensor_init2(&t, DT_F32, r0, r1), 0);
    memcpy(t.data, data, tensor_nbytes(&t));
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (npy_write(path, &t))
        fail_msg("%s", err_get());
    tensor_free(&t);
}

static void test_infonce_vs_pytorch(void **state)
{
    (void)state;
    enum { B = 8, C = 128, Kq = 4096 };
    char dir[1024], path[1100];
    float *q = malloc(sizeof(float) * B * C), *k = malloc(sizeof(float) * B * C);
    float *queue = malloc(sizeof(float) * Kq * C), *dq = calloc(B * C, sizeof(float));
    double loss, worst = 0, gmax = 0;
    tensor rl, rg;
    snprintf(dir, sizeof dir, "%s/mocoref", tu_tmpdir());
    assert_int_equal(tu_sh("mkdir -p '%s'", dir), 0);
    make_case(q, k, queue, B, C, Kq, 70);
    assert_int_equal(moco_infonce(&loss, NULL, dq, q, k, queue, B, C, Kq, 0.2, 1.0), 0);
    put_npy(dir, "q.npy", B, C, q);
    put_npy(dir, "k.npy", B, C, k);
    put_npy(dir, "queue.npy", Kq, C, queue);
    assert_int_equal(tu_sh("'%s' '%s/tests/py/lrc_ref.py' moco '%s' 0.2", tu_python(), tu_root(), dir), 0);
    snprintf(path, sizeof path, "%s/ref_loss.npy", dir);
    assert_int_equal(npy_read(path, &rl), 0);
    snprintf(path, sizeof path, "%s/ref_dq.npy", dir);
    assert_int_equal(npy_read(path, &rg), 0);
    assert_int_equal(tensor_numel(&rg), B * C);
    const double *g = rg.data, rloss = ((double *)rl.data)[0];
    for (int i = 0; i < B * C; i++)
        gmax = fmax(gmax, fabs(g[i]));
    for (int i = 0; i < B * C; i++)
        worst = fmax(worst, fabs(dq[i] - g[i]) / gmax);
    double el = fabs(loss - rloss) / rloss;
    print_message("InfoNCE vs PyTorch (B %d, C %d, queue %d): loss %.8f (ref %.8f, rel %.1e), grad max "
                  "|diff|/max|g| %.2e\n",
                  B, C, Kq, loss, rloss, el, worst);
    assert_true(el < 1e-5);
    assert_true(worst < 1e-5);
    tensor_free(&rl);
    tensor_free(&rg);
    free(q);
    free(k);
    free(queue);
    free(dq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_ring),     cmocka_unit_test(test_momentum_update),
        cmocka_unit_test(test_l2norm_backward_fd), cmocka_unit_test(test_infonce_fd),
        cmocka_unit_test(test_infonce_vs_pytorch), cmocka_unit_test(test_infonce_naive),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
