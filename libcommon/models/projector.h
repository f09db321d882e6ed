/*
 * projector — the heads of the global pre-training methods: a stack of fully
 * connected layers on Eg's pooled vector, each optionally followed by 1-d
 * batch normalisation and a ReLU (torch.nn.Linear, BatchNorm1d, ReLU):
 *
 *   x (N, dims[0]) -> layer 1 -> ... -> layer n -> (N, dims[n])
 *   layer i: fc{i} Linear(dims[i-1] -> dims[i], bias[i]) (no bias: bias = False)
 *            bn{i} BatchNorm1d(dims[i]) if bn[i] (PROJ_BN: affine; PROJ_BN_PLAIN:
 *                  affine=False, SimSiam's output layer)
 *            ReLU if relu[i]
 * With one layer the names drop the index: fc.weight, fc.bias (a linear
 * classifier). Tensor names: fc{i}.weight (dims[i], dims[i-1]), fc{i}.bias,
 * bn{i}.weight, bn{i}.bias (affine only), bn{i}.running_mean, .running_var,
 * .num_batches_tracked. Initialisation: PyTorch's defaults (Linear:
 * U(+-1/sqrt(fan_in)) weights and biases; BatchNorm: weight 1, bias 0).
 *
 * Batch normalisation uses the batch's statistics in training mode (the
 * default; N >= 2 then) and the running ones after proj_set_training(p, 0),
 * as torch does.
 *
 * Heads in use: BYOL's projector and predictor (Linear, BN, ReLU, Linear),
 * SimSiam's 3-layer projector and 2-layer predictor, the classifiers of
 * rotation prediction (one layer) and relative location (Linear, ReLU,
 * Linear). (MoCo's heads predate this module and keep their own kinds,
 * "mlp" and "linear", with the same tensor names.)
 *
 * Arena, calls and gradient contract as unet.h: one forward, then at most
 * one backward; parameter gradients accumulate.
 */
#ifndef LRC_PROJECTOR_H
#define LRC_PROJECTOR_H

#include <stdint.h>

#include "nn/ckpt.h"
#include "nn/param.h"

#define PROJ_MAX_LAYERS 4

enum { PROJ_NO_BN = 0, PROJ_BN = 1, PROJ_BN_PLAIN = 2 };

typedef struct {
    int n;                          /* layers, 1..PROJ_MAX_LAYERS */
    int dims[PROJ_MAX_LAYERS + 1];  /* input, then each layer's output */
    int bias[PROJ_MAX_LAYERS];      /* 1: the Linear has a bias */
    int bn[PROJ_MAX_LAYERS];        /* PROJ_NO_BN, PROJ_BN, PROJ_BN_PLAIN */
    int relu[PROJ_MAX_LAYERS];
    float bn_momentum, eps;         /* PyTorch's 0.1, 1e-5 */
} proj_config;

/* One layer to the configuration c (n grows by one); bn_momentum and eps
 * take PyTorch's defaults when 0. */
void proj_config_add(proj_config *c, int out, int bias, int bn, int relu);
int proj_config_check(const proj_config *c);
char *proj_config_json(const proj_config *c);
int proj_config_parse(const char *json, proj_config *c);

typedef struct projector projector;

projector *proj_create(const proj_config *c, uint64_t seed);
void proj_free(projector *p);
const proj_config *proj_get_config(const projector *p);
pblock *proj_params(projector *p);
void proj_set_training(projector *p, int training);
/* x (N, dims[0]) -> (N, dims[n]), owned by p. NULL + err_set. */
const float *proj_forward(projector *p, const float *x, int N);
/* Accumulates parameter gradients; writes dx (N, dims[0]) unless NULL. */
int proj_backward(projector *p, const float *dout, float *dx);

/* Checkpoints, as unet.h: kind "projector". */
int proj_ckpt_put(ckpt_writer *w, const char *prefix, const projector *p);

#endif
