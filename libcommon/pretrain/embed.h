/*
 * embed — the dense features of an LRC-trained U-Net on frames (lrc-train
 * --embed): 'image' [Y, X] becomes 'features' [D, Y, X] beside it, and an
 * elastic-aug pair's 'image_p' 'features_p', for frame-view's K-means
 * clusters (the paper's Figure 3). The U-Net runs in evaluation mode.
 *
 * Not here: opening the streams and the output's start record (the filter).
 */
#ifndef LRC_EMBED_H
#define LRC_EMBED_H

#include "io/frame.h"
#include "io/stream.h"
#include "models/unet.h"

/* The U-Net of an lrc-train --method lrc checkpoint, in evaluation mode.
 * NULL + err_set (no such file, no U-Net in it). */
unet *embed_load(const char *path);
/* Add the features of f's images (an image side must be a multiple of 16,
 * 16..32768). 0 or -1 + err_set. */
int embed_frame(unet *u, frame *f);
/* Every record of in, its features added, to out (seq renumbered), through
 * f (the caller's, so that it stays reachable when an error ends the
 * process). 0 at the end of in, or -1 + err_set naming the record. */
int embed_stream(unet *u, stream_in *in, stream_out *out, frame *f);

#endif
