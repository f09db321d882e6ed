#include "pretrain/rotation.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "pretrain/egtrainer.h"

enum { ENC, HEAD };
enum { S_DLOGITS, S_DPOOLED, S_LABELS };

void rotation_rot90(float *out, const float *in, int S, int k)
{
    k &= 3;
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int sy, sx;
            switch (k) {
            case 0: sy = y, sx = x; break;
            case 1: sy = x, sx = S - 1 - y; break;
            case 2: sy = S - 1 - y, sx = S - 1 - x; break;
            default: sy = S - 1 - x, sx = y; break;
            }
            out[(size_t)y * S + x] = in[(size_t)sy * S + sx];
        }
}

static int rot_init(eg_trainer *t)
{
    proj_config pc = {.dims = {t->C4}};
    proj_config_add(&pc, 4, 1, PROJ_NO_BN, 0);
    if (eg_add_resnet(t, "", "optim.", &t->c.enc) != ENC || eg_add_proj(t, "head.", "optim_head.", &pc, 0) != HEAD)
        return -1;
    return 0;
}

static int rot_grad(eg_trainer *t, lrc_pair *const *pairs, int B, rng *r, eg_stats *st)
{
    (void)r;
    const int S = pairs[0]->H, N = 4 * B;
    const size_t HW = (size_t)S * S;
    if (pairs[0]->W != S)
        return err_set("rotation needs square slices (got %dx%d)", pairs[0]->H, pairs[0]->W);
    float *x = eg_input(t, (size_t)N * HW), *dlogits = eg_scratch(t, S_DLOGITS, (size_t)N * 4),
          *dpooled = eg_scratch(t, S_DPOOLED, (size_t)N * t->C4);
    int *labels = (int *)eg_scratch(t, S_LABELS, (size_t)N);
    if (!x || !dlogits || !dpooled || !labels)
        return -1;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < 4; k++) {
            rotation_rot90(x + (size_t)(4 * b + k) * HW, pairs[b]->xq, S, k);
            labels[4 * b + k] = k;
        }
    const float *pooled = resnet_forward(t->part[ENC].enc, x, N, S, S), *logits;
    if (!pooled || !(logits = proj_forward(t->part[HEAD].proj, pooled, N)))
        return -1;
    eg_softmax_xent(&st->loss, &st->metric, dlogits, logits, labels, N, 4);
    if (proj_backward(t->part[HEAD].proj, dlogits, dpooled) || resnet_backward(t->part[ENC].enc, dpooled, NULL, NULL))
        return -1;
    return 0;
}

static char *rot_json(const eg_trainer *t)
{
    (void)t;
    char *s = strdup("{\"classes\":4}");
    if (!s)
        err_set("out of memory");
    return s;
}

const eg_ops eg_rotation_ops = {
    .name = "rotation", .metric = "acc", .lr = 0.1, .init = rot_init, .grad = rot_grad, .json = rot_json,
};
