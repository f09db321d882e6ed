/*
 * segpredict — a fine-tuned network's prediction added to slice frames
 * (seg-finetune --predict): each frame goes out as it came with `pred`
 * [Y, X] uint8 added, the class of every pixel (segnet_predict). Frames are
 * predicted in batches of up to B of one shape (a frame of another shape
 * ends the batch), and written in input order.
 *
 * A frame needs `image` [Y, X] with sides that are multiples of 16 (16..8192)
 * and finite values.
 *
 * Not here: reading the checkpoint, opening the streams (the caller).
 */
#ifndef LRC_SEGPREDICT_H
#define LRC_SEGPREDICT_H

#include <stddef.h>
#include <stdint.h>

#include "io/frame.h"
#include "io/stream.h"
#include "models/segnet.h"

typedef struct {
    segnet *net;
    stream_out *out;
    int B;
    frame *f;         /* the batch waiting: nf frames of one shape */
    int nf;
    float *x;         /* (nf, H, W) */
    uint8_t *pred;    /* (nf, H, W) */
    size_t cap;       /* pixels x and pred hold */
} segpredict;

int segpredict_init(segpredict *p, segnet *net, stream_out *out, int B);
/* Take f (moved into the batch; on an error it is freed): checked, and the
 * batch predicted and written when full. 0, or -1 + err_set
 * ("record seq S: ..."). */
int segpredict_add(segpredict *p, frame *f);
/* Predict and write the frames waiting. 0 or -1 + err_set. */
int segpredict_flush(segpredict *p);
/* Every frame of in, then the last batch: segpredict_add until the end of
 * the stream, and segpredict_flush. 0 or -1 + err_set. */
int segpredict_stream(segpredict *p, stream_in *in);
void segpredict_free(segpredict *p);

#endif
