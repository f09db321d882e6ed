/*
 * recpool — records processed in parallel and delivered in input order, the
 * one mechanism of the record-parallel filters (fz-superpixel,
 * elastic-aug): the caller's thread reads the next record into a free slot,
 * a worker thread processes it, and the caller's thread writes the oldest
 * slot as soon as it is done, so the output order is the input order
 * whatever the threads' timing. With one thread everything runs in the
 * caller's thread, record by record.
 *
 * Why not the engine's pool (nn/threadpool.c) or OpenMP: those split one
 * computation across cores and wait for all of it; here each worker holds
 * a whole record for as long as it takes (records differ in cost), reading
 * and writing overlap with the work, and at most nslots records are in
 * memory at once.
 *
 * Not here: what a record is or how it fails (the caller keeps an error in
 * its slot and reports it from write()).
 */
#ifndef LRC_RECPOOL_H
#define LRC_RECPOOL_H

#include <stddef.h>

typedef struct {
    int threads;          /* workers (1: no threads) */
    int nslots;           /* records in flight, at least threads + 1 */
    size_t slot_size;     /* bytes of a slot: the caller's job struct, zeroed before read() */
    /* Caller's thread: read the next record into slot. 1, 0 at the end, -1 to stop. */
    int (*read)(void *slot, void *ctx);
    /* Worker thread t (0..threads-1): process slot. */
    void (*work)(void *slot, int t, void *ctx);
    /* Caller's thread, in input order: write slot out. 0, or -1 to stop. */
    int (*write)(void *slot, void *ctx);
} recpool;

/* Run until read() says the end and every record is written. 0, or -1 when
 * a callback stopped it (the workers are joined first) or a thread could
 * not be started (err_set). */
int recpool_run(const recpool *p, void *ctx);

#endif
