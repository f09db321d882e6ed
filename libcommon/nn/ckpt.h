/*
 * ckpt — checkpoints as safetensors files: models, optimiser state, step.
 *
 * File layout (https://github.com/huggingface/safetensors, as torch and the
 * `safetensors` module read it):
 *   bytes 0..7    N, the header length, uint64 little-endian
 *   bytes 8..8+N  a JSON object, UTF-8, padded with spaces so that the data
 *                 starts at a multiple of 8:
 *                   "NAME": {"dtype": "F32"|"I64"|..., "shape": [...],
 *                            "data_offsets": [BEGIN, END]}   (one per tensor)
 *                   "__metadata__": {"KEY": "VALUE", ...}     (strings only)
 *   then the data: each tensor's raw little-endian C-order bytes at
 *   [BEGIN, END) relative to the end of the header, in order, no gaps.
 * Writers sort nothing: tensors appear in the order they were put.
 *
 * lrcpipe's metadata keys (all values are strings):
 *   format          "lrcpipe-ckpt"       format_version  "1"
 *   step            training step (decimal), if the trainer sets it
 *   PREFIXmodel     model kind under tensor-name prefix PREFIX: "unet",
 *                   "resnet", "resdec", "mlp" (PREFIX may be "")
 *   PREFIXconfig    that model's configuration, JSON (unet_config_json ...)
 *   PREFIXoptimizer an optimiser's configuration, JSON (optim_config_json)
 *   PREFIXoptimizer_step  its step count t (decimal)
 *   anything else the trainer adds (ckpt_put_meta), e.g. its command line.
 * Tensor names: PREFIX + the model's PyTorch name (unet.h, resnet.h, mlp.h);
 * optimiser state: PREFIX + state name + "." + parameter name, e.g.
 * "optim.exp_avg.enc1.conv1.weight" (optim.h lists the state names). A
 * single-model checkpoint uses prefix "" for the model, so
 * torch's model.load_state_dict({k: v for k, v in f.items() if not
 * k.startswith("optim.")}) takes it as it is.
 *
 * Writing is atomic (tmpfile.h: temporary + fsync + rename). Reading checks
 * everything (header length against the file size, offsets in bounds and
 * contiguous, dtype sizes, shapes) and refuses a file of another format
 * version, or a model of another kind or configuration, saying which.
 * A safetensors file without lrcpipe's metadata (exported from PyTorch)
 * opens, and its tensors can be read with ckpt_get_params.
 *
 * Not here: what the trainer's extra tensors mean (a MoCo queue ...).
 */
#ifndef LRC_CKPT_H
#define LRC_CKPT_H

#include <stdint.h>

#include "core/tensor.h"
#include "nn/optim.h"
#include "nn/param.h"

#define CKPT_FORMAT "lrcpipe-ckpt"
#define CKPT_FORMAT_VERSION "1"

/* ---- writing ---- */

typedef struct ckpt_writer ckpt_writer;

ckpt_writer *ckpt_writer_new(void);
void ckpt_writer_free(ckpt_writer *w);
/* A tensor; data is NOT copied: it must stay valid until ckpt_write.
 * -1 + err_set on a duplicate name. */
int ckpt_put_tensor(ckpt_writer *w, const char *name, dtype dt, int rank, const int64_t *shape,
                    const void *data);
/* Every tensor of pb (trainable and buffers) as PREFIX + name; PARAM_COUNT
 * entries as int64 scalars. */
int ckpt_put_params(ckpt_writer *w, const char *prefix, const pblock *pb);
/* A model: its tensors plus PREFIXmodel = kind and PREFIXconfig = config_json. */
int ckpt_put_model(ckpt_writer *w, const char *prefix, const char *kind, const char *config_json,
                   const pblock *pb);
/* As ckpt_put_model with a configuration the caller malloc'ed (freed here,
 * NULL meaning its making failed), as a model's X_config_json() returns. */
int ckpt_put_model_owned(ckpt_writer *w, const char *prefix, const char *kind, char *config_json,
                         const pblock *pb);
/* What every run records about itself: "seed", "lrcpipe_version" and, when
 * argv_json is not NULL, "argv" (a JSON array of the command line). */
int ckpt_put_provenance(ckpt_writer *w, int64_t seed, const char *argv_json);
/* An optimiser's state tensors (names from its pblock) and PREFIXoptimizer. */
int ckpt_put_optim(ckpt_writer *w, const char *prefix, const optim *o);
/* Metadata string (copied); replaces an earlier value of key. */
int ckpt_put_meta(ckpt_writer *w, const char *key, const char *value);
/* As ckpt_put_meta with the value formatted (a number, say: "%lld", "%.17g"). */
int ckpt_put_metaf(ckpt_writer *w, const char *key, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ckpt_put_step(ckpt_writer *w, int64_t step);
/* Write the file atomically. 0, or -1 + err_set naming path. */
int ckpt_write(ckpt_writer *w, const char *path);

/* ---- reading ---- */

typedef struct ckpt ckpt;

/* Read and validate a whole file. NULL + err_set ("PATH: what is wrong"). */
ckpt *ckpt_open(const char *path);
void ckpt_close(ckpt *c);
const char *ckpt_path(const ckpt *c);
/* Metadata value or NULL. */
const char *ckpt_meta(const ckpt *c, const char *key);
/* The "step" metadata, or 0 when absent. */
int64_t ckpt_step(const ckpt *c);
int ckpt_ntensors(const ckpt *c);
const char *ckpt_tensor_name(const ckpt *c, int i);
/* Look up a tensor: a view whose data points into c (valid until
 * ckpt_close; do not tensor_free it). -1 + err_set when absent. */
int ckpt_get_tensor(const ckpt *c, const char *name, tensor *view);
/* Check, before a model is allocated from a configuration read out of c,
 * that tensor PREFIX + name exists with shape[0] == n0 and shape[1] == n1
 * (n1 < 0: any): a file cannot then claim a model larger than the data it
 * holds. -1 + err_set naming the tensor. */
int ckpt_expect_shape(const ckpt *c, const char *prefix, const char *name, int64_t n0, int64_t n1);
/* Copy PREFIX + name for every tensor of pb; each must exist with pb's
 * shape (F32, or I64 for PARAM_COUNT). Tensors of the file that pb lacks
 * are ignored. -1 + err_set naming the first missing or mismatched tensor. */
int ckpt_get_params(const ckpt *c, const char *prefix, pblock *pb);
/* As ckpt_get_params, after checking PREFIXmodel == kind and that
 * PREFIXconfig equals config_json (when config_json is not NULL):
 * "PATH: holds a resnet under prefix '', not a unet". With pb NULL it only
 * checks. */
int ckpt_get_model(const ckpt *c, const char *prefix, const char *kind, const char *config_json,
                   pblock *pb);
/* The start of loading a model: PREFIXmodel must be kind; returns
 * PREFIXconfig (owned by c), or NULL + err_set naming the file. The caller
 * parses it, checks the widths it claims against the tensors
 * (ckpt_expect_shape) before allocating anything, then ckpt_get_params. */
const char *ckpt_model_config(const ckpt *c, const char *prefix, const char *kind);
/* After a model's config parser failed on ckpt_model_config's text: prefix
 * its error with the file's path. Returns NULL, for "return ckpt_bad_config(c);". */
void *ckpt_bad_config(const ckpt *c);
/* Restore an optimiser's state and step; its kind must match. */
int ckpt_get_optim(const ckpt *c, const char *prefix, optim *o);

#endif
