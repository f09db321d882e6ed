/*
 * model — the calls every model of this folder has, stated once.
 * MODEL_API(T), in the header of model T after its configuration struct
 * T_config and its type T, declares:
 *
 *   int T_config_check(const T_config *c);
 *       0, or -1 + err_set saying which field is wrong
 *   char *T_config_json(const T_config *c);
 *   int T_config_parse(const char *json, T_config *c);
 *       the configuration as compact JSON (malloc'ed), and back; parse
 *       checks what it read, and an unknown field is an error
 *   T *T_create(const T_config *c, uint64_t seed);
 *       a new model with weights initialised from seed; NULL + err_set on
 *       a bad configuration or out of memory
 *   void T_free(T *m);
 *   const T_config *T_get_config(const T *m);
 *   pblock *T_params(T *m);
 *       the parameters (weights, norm buffers) and their gradients
 *   int T_ckpt_put(ckpt_writer *w, const char *prefix, const T *m);
 *   T *T_ckpt_load(const ckpt *c, const char *prefix);
 *       checkpoints (ckpt.h): the model's tensors under prefix ("" when it
 *       is alone in the file) with its kind "T" and its configuration; and
 *       a new model built from a checkpoint's configuration and weights
 *       (NULL + err_set when the file holds another kind of model under
 *       prefix, or a bad tensor)
 *
 * nn/block.h's NNB_MODEL_CREATE defines T_create around the model's own
 * declare and init, and NNB_MODEL_ACCESSORS and NNB_MODEL_CKPT the last
 * five for most models.
 *
 * MODEL_SET_TRAINING(P, T) defines void P_set_training(T *m, int training)
 * for a model whose struct T has an int training: nonzero (the default)
 * puts batch norm on the batch's statistics, 0 on the running ones.
 *
 * Not here: forward and backward, whose shapes are each model's own.
 */
#ifndef LRC_MODEL_H
#define LRC_MODEL_H

#include <stdint.h>

#include "nn/ckpt.h"
#include "nn/param.h"

#define MODEL_API(T)                                                                                \
    int T##_config_check(const T##_config *c);                                                      \
    char *T##_config_json(const T##_config *c);                                                     \
    int T##_config_parse(const char *json, T##_config *c);                                          \
    T *T##_create(const T##_config *c, uint64_t seed);                                              \
    void T##_free(T *m);                                                                            \
    const T##_config *T##_get_config(const T *m);                                                   \
    pblock *T##_params(T *m);                                                                       \
    int T##_ckpt_put(ckpt_writer *w, const char *prefix, const T *m);                               \
    T *T##_ckpt_load(const ckpt *c, const char *prefix);

#define MODEL_SET_TRAINING(P, T)                                                                    \
    void P##_set_training(T *m, int training)                                                       \
    {                                                                                               \
        m->training = training != 0;                                                                \
    }

#endif
