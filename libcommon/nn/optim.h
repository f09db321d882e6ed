/*
 * optim — optimisers (SGD with momentum, Adam, AdamW) and learning-rate
 * schedules, updating a pblock from its gradients.
 *
 * Update rules are PyTorch's (torch.optim, 1.13), per element, g the gradient:
 *   SGD    g += wd p; buf = g on the first step, else buf = momentum buf + g;
 *          (nesterov: g += momentum buf, else g = buf); p -= lr g
 *   Adam   g += wd p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
 *          p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 *   AdamW  p *= 1 - lr wd, then Adam's update without the wd term
 * Weight decay applies to every trainable tensor (PyTorch's default; with
 * no_decay_1d not to those of rank 1, as two parameter groups would), and
 * the paper's values are momentum 0.9, weight decay 1e-4 (optim_config_default).
 * optim_step does not zero the gradients (pblock_zero_grad does).
 *
 * State, for checkpoints (ckpt.h writes it under PyTorch's state names, per
 * parameter): SGD "momentum_buffer"; Adam/AdamW "exp_avg", "exp_avg_sq";
 * each a float array laid out like pb->grad, plus the step count t.
 *
 * Schedules give the learning rate of step t (0-based): constant; cosine
 * (linear warm-up over warmup steps from lr/warmup, then
 * min + (base - min)(1 + cos(pi (t - warmup) / (total - warmup))) / 2);
 * step (base * gamma^floor(t / step_size)).
 *
 * Not here: gradient clipping, parameter groups other than no_decay_1d's
 * (use one optim per pblock).
 */
#ifndef LRC_OPTIM_H
#define LRC_OPTIM_H

#include <stdint.h>

#include "nn/param.h"

typedef enum { OPTIM_SGD = 0, OPTIM_ADAM = 1, OPTIM_ADAMW = 2 } optim_kind;

typedef struct {
    optim_kind kind;
    double lr;           /* used by optim_step when no schedule overrides it */
    double momentum;     /* SGD: 0.9 */
    double weight_decay; /* 1e-4 */
    double beta1, beta2; /* Adam: 0.9, 0.999 */
    double eps;          /* Adam: 1e-8 */
    int nesterov;        /* SGD: 0 */
    int no_decay_1d;     /* no weight decay on tensors of rank 1 (biases, norms): the
                          * parameter groups of MAE's and timm's optim_factory (0) */
} optim_config;

typedef struct optim optim;

/* Paper defaults for kind: lr 0.03 (SGD) or 1e-3 (Adam/AdamW), momentum 0.9,
 * weight decay 1e-4, betas (0.9, 0.999), eps 1e-8. */
void optim_config_default(optim_config *c, optim_kind kind);
const char *optim_kind_name(optim_kind k); /* "sgd", "adam", "adamw" */
int optim_kind_parse(const char *s, optim_kind *k);

/* An optimiser for pb's trainable tensors (pb must be allocated and must
 * outlive it). Zeroed state. NULL + err_set on a bad configuration. */
optim *optim_create(const optim_config *c, pblock *pb);
void optim_free(optim *o);
const optim_config *optim_get_config(const optim *o);

/* One update of pb->data from pb->grad with learning rate lr. Threaded. */
void optim_step(optim *o, double lr);
/* Steps taken so far (Adam's t); restored by ckpt_get_optim. */
int64_t optim_steps(const optim *o);
void optim_set_steps(optim *o, int64_t t);

/* State arrays (for ckpt.h): count, PyTorch name, and data (pb->ntrain floats). */
int optim_nstate(const optim *o);
const char *optim_state_name(const optim *o, int k);
float *optim_state(optim *o, int k);
pblock *optim_pblock(const optim *o);
/* Configuration + step as compact JSON (malloc'ed), and back. */
char *optim_config_json(const optim_config *c);
int optim_config_parse(const char *json, optim_config *c);

typedef enum { SCHED_CONST = 0, SCHED_COSINE = 1, SCHED_STEP = 2 } sched_kind;

typedef struct {
    sched_kind kind;
    double base_lr;
    double min_lr;        /* cosine floor (0) */
    int64_t total_steps;  /* cosine: steps of the whole run */
    int64_t warmup_steps; /* cosine: linear warm-up (0) */
    int64_t step_size;    /* step: steps between decays */
    double gamma;         /* step: decay factor (0.1) */
} sched_config;

/* Learning rate at step t (0-based). */
double sched_lr(const sched_config *s, int64_t t);
int sched_kind_parse(const char *s, sched_kind *k); /* "const", "cosine", "step" */

#endif
