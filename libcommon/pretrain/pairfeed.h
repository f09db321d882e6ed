/*
 * pairfeed — the data side of a pre-training run: pair records (lrcpair.h)
 * read from a stream for a number of epochs (going back to the start of
 * the input for each further one), checked to be of one size whose sides
 * are multiples of 16 (the networks halve them four times), pairs with
 * fewer than 2 regions in both views left out when the method needs
 * regions, shuffled through a buffer (shufbuf.h), and handed out in batches.
 * The last batch may be short; a seeded run gives the same batches.
 *
 * Sharding (data-parallel training, nn/dist.h): with pairfeed_shard(pf, r,
 * n), only the records whose seq % n == r are used (a record without a seq:
 * its position in the input, from 0, instead), so n ranks reading one file
 * share out its records, each exactly once per epoch. The other records
 * are read and dropped before they become pairs. From a ZeroMQ input
 * (connecting to one PUSH producer) every rank's socket already gets its
 * own share, each record going to one rank: no records are dropped, the
 * shares may differ in size, and at the end pairfeed_share_check verifies
 * that they add up to what the producer sent (stream_in_share).
 *
 * Not here: the training step (the trainers), schedules, logging.
 */
#ifndef LRC_PAIRFEED_H
#define LRC_PAIRFEED_H

#include <stdint.h>

#include "io/shufbuf.h"
#include "io/stream.h"
#include "pretrain/lrcpair.h"

typedef struct {
    stream_in *in;
    int64_t epochs;          /* passes over the input */
    int64_t epoch;           /* the current one, from 0 */
    int regions;             /* the method needs region maps (LRC): fewer than 2 regions is skipped */
    int H, W;                /* the run's image size, -1 until the first pair */
    int64_t skipped;         /* pairs left out for too few regions */
    int rewind_failed;       /* the input could not be read again for a further epoch */
    int ended, draining;
    int shard_rank, shard_size; /* pairfeed_shard's (size 0: every record) */
    int zmq, share;             /* a ZeroMQ input; ... shared among ranks */
    int64_t pos;                /* records read in this epoch */
    shufbuf sb;
    lrc_pair **batch;
    int nb, cap;
} pairfeed;

/* Open spec for epochs passes, batches of batch pairs, a shuffle buffer of
 * shuffle pairs seeded by (seed, stream). 0 or -1 + err_set. */
int pairfeed_open(pairfeed *pf, const char *spec, int64_t epochs, int batch, int shuffle, uint64_t seed,
                  uint64_t stream, int regions);
/* Use only the records of shard rank of size (see above; a ZeroMQ input
 * with size > 1: this rank's share); before the first pairfeed_next. */
void pairfeed_shard(pairfeed *pf, int rank, int size);
/* A ZeroMQ input shared among the ranks, once every rank's share has
 * ended (every rank calls it): 0 when the shares add up to the producer's
 * count, else -1 + err_set (records lost on the way). */
int pairfeed_share_check(pairfeed *pf);
/* The next batch in *batch (pf's until the next call): its size 1..batch,
 * 0 at the end of the last epoch, or -1 + err_set ("record seq S: ..."). */
int pairfeed_next(pairfeed *pf, lrc_pair ***batch);
/* Free the pairs still held and close the input. */
void pairfeed_close(pairfeed *pf);

#endif
