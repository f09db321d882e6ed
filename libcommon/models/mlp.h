/*
 * mlp — a two-layer perceptron head: Linear, ReLU, Linear (MoCo v2's
 * projection head on Eg's pooled vector; the engine provides it so that the
 * trainer only wires it up).
 *
 *   x (N, in) -> fc1 (in -> hidden, bias) -> ReLU -> fc2 (hidden -> out, bias)
 *
 * Tensor names: fc1.weight (hidden, in), fc1.bias (hidden), fc2.weight
 * (out, hidden), fc2.bias (out); PyTorch's default initialisation.
 * Arena, calls and gradient contract as unet.h.
 *
 * Not here: normalisation of the output (the loss does it).
 */
#ifndef LRC_MLP_H
#define LRC_MLP_H

#include <stdint.h>

#include "models/model.h"

typedef struct {
    int in, hidden, out;
} mlp_config;

/* all zero: in, hidden and out must be given */
void mlp_config_default(mlp_config *c);

typedef struct mlp mlp;

/* configuration, create, free, parameters, checkpoints (kind "mlp") */
MODEL_API(mlp)

/* x (N, in) -> (N, out), owned by m. */
const float *mlp_forward(mlp *m, const float *x, int N);
/* Accumulates parameter gradients; writes dx (N, in) unless NULL. */
int mlp_backward(mlp *m, const float *dout, float *dx);

#endif
