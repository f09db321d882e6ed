#include "nn/dist.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/err.h"
#include "nn/nn.h"

static struct {
    int inited;   /* dist_init ran */
    int mpi;      /* ... and joined an MPI job */
    int finalized;
    int rank, size, local_size;
    char progname[128];
} D = {.size = 1, .local_size = 1};

/* 16 MB of floats per MPI_Allreduce: large enough that the latency of a
 * call is nothing beside its transfer, small enough for int counts. */
#define BUCKET ((size_t)1 << 22)

static int mpi_err(const char *what, int rc)
{
    char s[MPI_MAX_ERROR_STRING];
    int n = 0;
    if (MPI_Error_string(rc, s, &n) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error %d", rc);
    return err_set("%s: %s", what, s);
}

static int launched(void)
{
    const char *s;
    return ((s = getenv("OMPI_COMM_WORLD_SIZE")) && *s) || ((s = getenv("PMIX_RANK")) && *s);
}

/* A rank that ends without dist_finalize (die() after its message, or a
 * return from main that forgot it) takes the whole job down with it, with
 * its exit status. on_exit (glibc), not atexit: the status is wanted. */
static void abort_unfinalized(int status, void *arg)
{
    int fin = 0;
    (void)arg;
    if (D.mpi && !D.finalized && MPI_Finalized(&fin) == MPI_SUCCESS && !fin) {
        fflush(stdout);
        MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    }
}

int dist_init(void)
{
    int provided, rc;
    if (D.inited)
        return 0;
    D.inited = 1;
    if (!launched())
        return 0;
    /* FUNNELED: only the main thread calls MPI; the engine's pool never does. */
    if ((rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
        return mpi_err("MPI_Init_thread", rc);
    D.mpi = 1;
    on_exit(abort_unfinalized, NULL);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &D.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &D.size);
    MPI_Comm local;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, D.rank, MPI_INFO_NULL, &local) == MPI_SUCCESS) {
        MPI_Comm_size(local, &D.local_size);
        MPI_Comm_free(&local);
    }
    if (D.local_size > 1) /* the host's cores shared out (--threads overrides) */
        nn_set_threads(nn_threads() / D.local_size > 1 ? nn_threads() / D.local_size : 1);
    if (D.rank > 0 && log_level > 1) /* info and debug from rank 0 only */
        log_level = 1;
    if (D.size > 1) {
        snprintf(D.progname, sizeof D.progname, "%s: rank %d", err_progname, D.rank);
        err_progname = D.progname;
    }
    return 0;
}

int dist_finalize(void)
{
    int rc;
    if (!D.mpi || D.finalized)
        return 0;
    D.finalized = 1;
    if ((rc = MPI_Finalize()) != MPI_SUCCESS)
        return mpi_err("MPI_Finalize", rc);
    return 0;
}

int dist_rank(void) { return D.rank; }
int dist_size(void) { return D.size; }
int dist_local_size(void) { return D.local_size; }

int dist_sum_f64(double *v, int n)
{
    int rc;
    if (D.size == 1)
        return 0;
    if ((rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD)) != MPI_SUCCESS)
        return mpi_err("MPI_Allreduce", rc);
    return 0;
}

int dist_all(int flag)
{
    int v = flag != 0, rc;
    if (D.size == 1)
        return v;
    if ((rc = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD)) != MPI_SUCCESS)
        return mpi_err("MPI_Allreduce", rc);
    return v;
}

int dist_bcast_i64(int64_t *v)
{
    int rc;
    if (D.size == 1)
        return 0;
    if ((rc = MPI_Bcast(v, 1, MPI_INT64_T, 0, MPI_COMM_WORLD)) != MPI_SUCCESS)
        return mpi_err("MPI_Bcast", rc);
    return 0;
}

int dist_allgather_u64(uint64_t v, uint64_t *all)
{
    int rc;
    if (D.size == 1) {
        all[0] = v;
        return 0;
    }
    if ((rc = MPI_Allgather(&v, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD)) != MPI_SUCCESS)
        return mpi_err("MPI_Allgather", rc);
    return 0;
}

int dist_allgather_f32(float *v, size_t n)
{
    int rc;
    if (D.size == 1)
        return 0;
    if (n > (size_t)INT_MAX / (size_t)D.size)
        return err_set("MPI_Allgather: %zu values from each of %d ranks is too many for one call", n, D.size);
    rc = MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, v, (int)n, MPI_FLOAT, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS)
        return mpi_err("MPI_Allgather", rc);
    return 0;
}

int dist_same_i64(int64_t v, int64_t *v0)
{
    int64_t first = v;
    if (dist_bcast_i64(&first))
        return -1;
    if (v0)
        *v0 = first;
    return dist_all(v == first);
}

int dist_bcast_params(pblock *pb)
{
    if (D.size == 1)
        return 0;
    for (size_t i = 0; i < pb->numel; i += BUCKET) {
        size_t n = pb->numel - i < BUCKET ? pb->numel - i : BUCKET;
        int rc = MPI_Bcast(pb->data + i, (int)n, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_err("MPI_Bcast of the parameters", rc);
    }
    return 0;
}

int dist_grad_reduce(pblock *pb, double weight)
{
    if (weight != 1) {
        const float w = (float)weight;
        for (size_t i = 0; i < pb->ntrain; i++)
            pb->grad[i] *= w;
    }
    if (D.size == 1)
        return 0;
    for (size_t i = 0; i < pb->ntrain; i += BUCKET) {
        size_t n = pb->ntrain - i < BUCKET ? pb->ntrain - i : BUCKET;
        int rc = MPI_Allreduce(MPI_IN_PLACE, pb->grad + i, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS)
            return mpi_err("MPI_Allreduce of the gradients", rc);
    }
    return 0;
}
