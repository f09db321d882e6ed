/*
 * stream — reading and writing frame streams over stdio, files and ZeroMQ.
 *
 * An endpoint is a string:
 *   "-"                      stdin / stdout
 *   a path                   a file (output is written to PATH.tmp.PID and
 *                            renamed on a clean close, so a failed run never
 *                            leaves a partial file under the final name)
 *   "tcp://host:port", "ipc://path"   ZeroMQ: input is a PULL socket, output a
 *                            PUSH socket; they connect, or bind with a leading
 *                            "@" ("@tcp://0.0.0.0:5555" listens on every interface)
 * Every transport carries the same bytes: one record per ZeroMQ message, or
 * records back to back in a byte stream (msgpack is self-delimiting).
 *
 * Stream protocol, checked by the reader: an optional `start` record, `data`
 * records, an `end` record whose count must equal the data records seen.
 * Byte streams may be concatenations of several such streams (cat a b). A byte
 * stream that stops without its `end` record, or holds no record at all, is an
 * error (the producer stopped early: in a sh pipeline, which has no pipefail,
 * this is how a failed upstream stage shows); LRCPIPE_NO_END_OK=1 accepts it
 * with a warning. EOF inside a record is always an error. Over
 * ZeroMQ there is no EOF: the `end` record ends the stream, and a producer
 * that disconnects before sending it is an error.
 *
 * Environment: LRCPIPE_HWM (ZeroMQ high-water mark in messages, default 4),
 * LRCPIPE_LINGER (ms a closing socket waits to deliver, default 120000),
 * LRCPIPE_TIMEOUT (seconds without progress before a ZeroMQ read or write
 * fails, default 0 = wait for ever), LRCPIPE_GRACE (ms a ZeroMQ reader
 * waits after its last producer disconnected, for a late one, before it calls
 * the stream truncated; default 3000), LRCPIPE_HEARTBEAT (seconds: ZeroMQ
 * heartbeats declare a silent peer dead after this long; default 0 = off, as
 * a killed process closes its TCP connections anyway; for links across hosts
 * that may vanish, longer than any pause of the consumer), LRCPIPE_MAX_RECORD
 * (see frame.h).
 *
 * Not here: what a record means (frame.h); encryption (see zmq security in
 * the man pages, added by stream_set_curve()).
 */
#ifndef LRC_STREAM_H
#define LRC_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "io/frame.h"

typedef struct stream_in stream_in;
typedef struct stream_out stream_out;

/* ---- reading ---- */

stream_in *stream_in_open(const char *spec);
/* Next data record into an uninitialised frame f: 1 = a data record, 0 = the
 * stream ended cleanly, -1 = error (err_get() names the record). On 1 the
 * caller owns f and frees it with frame_free(). */
int stream_in_next(stream_in *in, frame *f);
/* The raw bytes of the next record of any type (valid until the next call):
 * 1, 0 at the end of the byte stream (or after `end` on ZeroMQ), -1. The
 * protocol is not checked at this level. */
int stream_in_raw(stream_in *in, const char **buf, size_t *len);
/* The most recent start record (NULL if none came). */
const frame *stream_in_start(const stream_in *in);
/* Data records returned so far (all segments). */
int64_t stream_in_count(const stream_in *in);
/* A ZeroMQ input that is one of several readers connected to one PUSH
 * producer (data-parallel training ranks): its share of the records ends
 * cleanly at the producer's end record, or when the producer has gone (a
 * sibling got the end record), as LRCPIPE_WORKER=1 does for a worker, but
 * for this input alone. The readers together must check that their shares
 * add up to the end record's count (stream_in_end_count, stream_in_count).
 * Nothing for other inputs. */
void stream_in_share(stream_in *in);
/* With stream_in_share: the producer's count of data records if its end
 * record came to this reader, else -1. */
int64_t stream_in_end_count(const stream_in *in);
/* Seek a file input back to its beginning (for several epochs over one
 * file); -1 with err_set() if the input is not a seekable file. */
int stream_in_rewind(stream_in *in);
const char *stream_in_name(const stream_in *in);
void stream_in_close(stream_in *in);

/* ---- writing ---- */

stream_out *stream_out_open(const char *spec);
/* Write a start record naming the producer (err_progname) and its params
 * (a map, may be NULL). */
int stream_out_start(stream_out *out, const mval *params);
/* Write a data record. seq is renumbered (0, 1, ...) unless keep_seq is set. */
int stream_out_write(stream_out *out, frame *f);
/* Write raw record bytes (already encoded). Counted as data only if
 * is_data. */
int stream_out_raw(stream_out *out, const char *buf, size_t len, int is_data);
/* Keep the seq of records as given (fan-out workers do). */
void stream_out_keep_seq(stream_out *out, int keep);
int64_t stream_out_count(const stream_out *out);
/* Write the end record with the count of data records written. */
int stream_out_end(stream_out *out);
/* Flush and close; for a file, rename into place. 0, or -1 (write errors such
 * as a full disk surface here at the latest). The object is freed either way. */
int stream_out_close(stream_out *out);
/* Close without committing: a file output's temporary is removed. */
void stream_out_abort(stream_out *out);

/* Encode and write start/data/end in one call from a filter's loop. */

/* Fan-out over ZeroMQ (DESIGN.md: a stage on several processes or hosts):
 *
 *   producer -o @tcp://0.0.0.0:5557  ->  N workers -i tcp://h:5557 -o tcp://h:5558
 *                              ->  sink -i @tcp://0.0.0.0:5558
 *
 * A ZeroMQ reader gathers: it tracks the seq of every data record, drops a
 * duplicate (with a warning), and ends when the end record has come and every
 * seq below its count has arrived, in any order. If every producer
 * disconnects first, it fails naming the missing seqs.
 * Workers run with LRCPIPE_WORKER=1: their output keeps the input's seq, only
 * the worker that received the producer's end record writes one (with the
 * producer's count), and an input whose producer disconnects without an end
 * record (a sibling got it) ends cleanly. Fan-out suits one-in, one-out
 * stages (fz-superpixel, elastic-aug without --epochs). */
int stream_worker_mode(void);

/* ZeroMQ process-wide context (created on first use), for filters that open
 * other sockets. */
void *stream_zmq_context(void);
/* 1 if spec names a ZeroMQ endpoint. */
int stream_is_zmq(const char *spec);

#endif
