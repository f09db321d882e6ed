/*
 * segsetup — the network a fine-tuning run starts from: the one of its
 * checkpoint when it resumes (with the step and best validation score it
 * had), or a new segnet.h network whose parts are pre-trained (lrc-train
 * checkpoints) or random.
 *
 * A resumed network must be of the architecture asked for (when one is)
 * and have the slices' class count; a pre-trained part must agree with the
 * options that describe a random one, when those are given. A resumed run
 * trained on another number of slices or with another seed is warned of
 * (its batches will not be the interrupted run's).
 *
 * Not here: training (segtrain.h), the data (segdata.h).
 */
#ifndef LRC_SEGSETUP_H
#define LRC_SEGSETUP_H

#include <stdint.h>

#include "finetune/segtrain.h"

typedef struct {
    const char *resume;                    /* continue this checkpoint (NULL: a new network) */
    const char *global, *global2, *local;  /* pre-trained parts' checkpoints (NULL: random) */
    segnet_config net;                     /* the architecture and the random parts; classes set here */
    int have_arch;                         /* net.arch was asked for */
    int have_unet_opts, have_enc_opts;     /* the random U-Net's / encoder's options were given */
    optim_config opt;
    segloss_config loss;
    int64_t seed;
    int classes;                           /* of the slices */
    int64_t train_slices;                  /* the run's training slices */
} segsetup;

typedef struct {
    int64_t step;          /* 0, or the resumed checkpoint's */
    double best_dice;      /* NAN, or the resumed checkpoint's */
    int64_t best_step;
} segsetup_state;

/* The trainer of the run, and *st. NULL + err_set, the message naming the
 * option whose file it is about (--resume, --global, --global2, --local).
 * Under MPI (nn/dist.h) every rank gets rank 0's parameters. */
segtrain *segsetup_trainer(const segsetup *o, segsetup_state *st);

#endif
