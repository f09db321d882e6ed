/*
 * dist — data-parallel training over MPI (Open MPI): which rank this process
 * is among how many, and the few collectives a trainer needs, so that N
 * processes started by `mpirun -np N` train one model as one process would
 * with N times the batch (PyTorch's DDP, Horovod).
 *
 * The rule every trainer follows: all ranks start from rank 0's parameters
 * (dist_bcast_params), each runs forward and backward on its own share of
 * the batch, the gradients are combined (dist_grad_reduce) after backward and
 * before the optimiser step, and every rank then takes the same step, so the
 * parameters stay equal without being sent again. Buffers (batch norm's
 * running statistics) stay per rank, DDP's default; rank 0's are the ones its
 * checkpoints hold. Collectives are blocking and called by every rank in the
 * same order: a rank that skips one hangs the others, so decisions that
 * depend on local data (is there another batch? stop early?) go through
 * dist_all() or dist_bcast_i64() first.
 *
 * A process not started by an MPI launcher never calls MPI at all: rank 0
 * of 1, every collective a no-op that returns at once, nothing printed or
 * spawned. The launcher is detected from its environment
 * (OMPI_COMM_WORLD_SIZE from Open MPI's mpirun, PMIX_RANK from a PMIx
 * launcher such as srun --mpi=pmix). Not MPI_Init as a "singleton": Open
 * MPI 4 then starts an orted helper and probes the network interfaces, which
 * costs time, can print warnings and fails in sandboxes without networking;
 * a plain `lrc-train` must stay exactly the program it was.
 *
 * Errors: MPI's calls return their errors here (MPI_ERRORS_RETURN) as -1 +
 * err_set. A rank that exits after dist_init without dist_finalize, which
 * is what a filter's die() does after printing its one-line message, calls
 * MPI_Abort from an exit handler: mpirun then ends every rank at once (with
 * that exit status) instead of leaving them blocked in a collective. Messages
 * of a job with more than one rank name the rank ("lrc-train: rank 1: ...").
 * A rank killed outright (kill -9) is mpirun's to notice: it ends the job
 * and names the rank and the signal.
 *
 * Reproducibility: Open MPI's reductions add in an order fixed by the
 * number of ranks and the message size, so the same seed on the same number
 * of ranks gives the same checkpoint.
 *
 * Not here: which records a rank reads (pretrain/pairfeed.h shards a file
 * by seq), what the trainers reduce besides gradients (their own stats).
 */
#ifndef LRC_DIST_H
#define LRC_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "nn/param.h"

/* Join the job when an MPI launcher started this process (otherwise
 * nothing). Call once, after the options are parsed (-v, -q) and before
 * any other dist_ call; a second call does nothing. Ranks other than 0
 * keep warnings and errors only (log_level 1 at most), and the engine's
 * threads default to the host's cores shared among its ranks (set
 * --threads after this). 0, or -1 + err_set. */
int dist_init(void);
/* Leave the job (every rank must call it; a barrier). 0 or -1 + err_set. */
int dist_finalize(void);

int dist_rank(void);        /* 0..size-1; 0 without MPI */
int dist_size(void);        /* ranks in the job; 1 without MPI */
int dist_local_size(void);  /* ranks of the job on this host; 1 without MPI */

/* v[0..n) := the sum of every rank's v (small vectors: statistics). */
int dist_sum_f64(double *v, int n);
/* 1 when flag is non-zero on every rank, else 0 (or -1 + err_set). */
int dist_all(int flag);
/* *v := rank 0's *v. */
int dist_bcast_i64(int64_t *v);
/* all[0..size) := every rank's v, in rank order (all[0] = v alone). */
int dist_allgather_u64(uint64_t v, uint64_t *all);
/* v [size * n]: on entry this rank's n values at v + rank * n, on return
 * every rank's, rank 0's first (MPI_Allgather in place; exact, no
 * arithmetic). n * size must fit an int. Without MPI: nothing to do. */
int dist_allgather_f32(float *v, size_t n);
/* 1 when v is rank 0's v on every rank, else 0 (or -1 + err_set); *v0
 * receives rank 0's (v0 may be NULL). */
int dist_same_i64(int64_t v, int64_t *v0);
/* Every value of pb (trainable, buffers, counters) := rank 0's. */
int dist_bcast_params(pblock *pb);
/* grad := sum over ranks of weight_r * grad_r, in place on every rank
 * (weight_r this rank's weight; the caller makes the weights sum to 1 for
 * a mean, or passes 1 for a plain sum). Sent in buckets of at most 16 MB. */
int dist_grad_reduce(pblock *pb, double weight);

#endif
