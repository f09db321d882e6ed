/*
 * tfevents — TensorBoard event files for scalars, so that
 * `tensorboard --logdir DIR` plots a run's loss, learning rate, throughput
 * and validation Dice beside the JSON Lines log (trainlog.h).
 *
 * The file is a TFRecord stream: each record is
 *   uint64 length (LE) | uint32 masked_crc32c(length bytes) |
 *   data[length]       | uint32 masked_crc32c(data)
 * with masked(c) = ((c >> 15) | (c << 17)) + 0xa282ead8 over CRC-32C
 * (Castagnoli). Each data is a serialized tensorflow.Event protocol buffer;
 * only the fields scalars need are written, by a small encoder here (three
 * messages, a dozen lines; protobuf-c would add a code generator and a
 * library for that):
 *   Event   { double wall_time = 1; int64 step = 2;
 *             string file_version = 3; Summary summary = 5; }
 *   Summary { repeated Value value = 1; }
 *   Value   { string tag = 1; float simple_value = 2; }
 * The first record is Event{wall_time, file_version: "brain.Event:2"}, as
 * TensorFlow writes it; then one Event per call, its scalars in one Summary.
 * Every record is flushed, so a killed run leaves whole records.
 *
 * The file is DIR/events.out.tfevents.SECONDS.HOST.PID.lrcpipe (DIR is
 * created); a resumed run writes a new file beside the old ones, which
 * TensorBoard reads as one run.
 *
 * Not here: reading event files (the tests use an independent reader),
 * histograms, images, graphs.
 */
#ifndef LRC_TFEVENTS_H
#define LRC_TFEVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct {
    FILE *f;
    char *path;
} tfevents;

/* CRC-32C of p[0..n) continuing from crc (0 to start), and its masked form. */
uint32_t tfevents_crc32c(uint32_t crc, const void *p, size_t n);
uint32_t tfevents_masked_crc(const void *p, size_t n);

/* One whole TFRecord holding Event{wall_time, step, summary of n scalars}
 * into a malloc'ed buffer (*out, *len). version non-NULL writes the
 * file_version event instead (n must be 0). 0, or -1 with err_set. */
int tfevents_encode(unsigned char **out, size_t *len, double wall_time, int64_t step, const char *version,
                    int n, const char *const *tags, const float *values);

/* Create DIR (and parents) and a new event file in it with its version
 * record. 0, or -1 with err_set naming the path. */
int tfevents_open(tfevents *w, const char *dir);
/* One event: n scalars at step, wall_time in seconds since the epoch. */
int tfevents_write(tfevents *w, double wall_time, int64_t step, int n, const char *const *tags,
                   const float *values);
/* 0, or -1 when a write failed. Safe on a zeroed or closed w. */
int tfevents_close(tfevents *w);

#endif
