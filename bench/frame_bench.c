/* frame_bench — encode or decode a stream of frames as fast as possible.
 *
 *   frame_bench gen N MIB SPEC   encode N records of one MIB-MiB f32 tensor, write to SPEC
 *   frame_bench sink SPEC        read and decode every record from SPEC
 * Both print "<records> <bytes> <seconds>" to stderr; bench/frames.sh turns
 * that into throughput beside a plain cat of the same bytes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/args.h"
#include "core/clock.h"
#include "core/err.h"
#include "io/frame.h"
#include "io/stream.h"

int main(int argc, char **argv)
{
    double t0;
    filter_init(argc, argv);
    if (argc == 5 && !strcmp(argv[1], "gen")) {
        long n = atol(argv[2]), mib = atol(argv[3]);
        stream_out *out = stream_out_open(argv[4]);
        tensor t;
        frame f;
        if (!out)
            die_err(1);
        tensor_init1(&t, DT_F32, mib * (1 << 20) / 4);
        for (size_t i = 0; i < tensor_numel(&t); i++)
            ((float *)t.data)[i] = (float)i;
        frame_init(&f, FRAME_DATA);
        frame_set_id(&f, "bench");
        frame_tensor_add(&f, "image", &t);
        t0 = clock_now();
        if (stream_out_start(out, NULL))
            die_err(1);
        for (long i = 0; i < n; i++) {
            f.z = i;
            if (stream_out_write(out, &f))
                die_err(1);
        }
        if (stream_out_end(out) || stream_out_close(out))
            die_err(1);
        fprintf(stderr, "%ld %ld %.6f\n", n, n * mib * (1L << 20), clock_now() - t0);
        frame_free(&f);
        return 0;
    }
    if (argc == 3 && !strcmp(argv[1], "sink")) {
        stream_in *in = stream_in_open(argv[2]);
        frame f;
        long n = 0, bytes = 0;
        int rc;
        if (!in)
            die_err(1);
        t0 = clock_now();
        while ((rc = stream_in_next(in, &f)) > 0) {
            for (int i = 0; i < f.ntensors; i++)
                bytes += (long)tensor_nbytes(&f.tensors[i].t);
            n++;
            frame_free(&f);
        }
        if (rc < 0)
            die_err(1);
        fprintf(stderr, "%ld %ld %.6f\n", n, bytes, clock_now() - t0);
        stream_in_close(in);
        return 0;
    }
    die(2, "usage: frame_bench gen N MIB SPEC | frame_bench sink SPEC");
}
