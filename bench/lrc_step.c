/*
 * lrc_step — pairs per second of lrcpipe's LRC training step (lrctrainer.h:
 * both views through the U-Net, sampling, local loss, backward, Adam), for
 * bench/lrc.sh; bench/lrc_ref.py is the same step in PyTorch.
 *
 * Usage: lrc_step PAIRS.fr BATCH STEPS REPS [THREADS]
 * Prints "pairs_per_s X" (best of REPS runs of STEPS steps, after one
 * warm-up step) and "gflops X" (U-Net forward + backward, 3x forward).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "core/clock.h"
#include "core/err.h"
#include "io/stream.h"
#include "nn/nn.h"
#include "pretrain/lrcpair.h"
#include "pretrain/lrctrainer.h"

int main(int argc, char **argv)
{
    err_init(argv[0]);
    if (argc < 5) {
        fprintf(stderr, "usage: %s PAIRS.fr BATCH STEPS REPS [THREADS]\n", argv[0]);
        return 2;
    }
    int B = atoi(argv[2]), steps = atoi(argv[3]), reps = atoi(argv[4]);
    if (argc > 5)
        nn_set_threads(atoi(argv[5]));
    stream_in *in = stream_in_open(argv[1]);
    lrc_pair **pairs = NULL;
    int n = 0;
    frame f;
    if (!in)
        die_err(1);
    while (stream_in_next(in, &f) > 0) {
        lrc_pair *p = lrc_pair_from_frame(&f, 1);
        frame_free(&f);
        if (!p)
            die_err(1);
        if (p->nreg < 2) {
            lrc_pair_free(p);
            continue;
        }
        pairs = realloc(pairs, (size_t)(n + 1) * sizeof *pairs);
        pairs[n++] = p;
    }
    stream_in_close(in);
    if (n < B)
        die(1, "%s: %d usable pairs, fewer than the batch", argv[1], n);
    lrc_trainer_config c;
    lrc_trainer_config_default(&c);
    lrc_trainer *t = lrc_trainer_create(&c, 0);
    if (!t)
        die_err(1);
    lrc_pair **batch = malloc((size_t)B * sizeof *batch);
    int k = 0;
    rng r;
    rng_seed(&r, 1, 0);
    double best = 0;
    for (int rep = -1; rep < reps; rep++) {
        double t0 = clock_now();
        for (int s = 0; s < (rep < 0 ? 1 : steps); s++) {
            lrc_step_stats st;
            for (int b = 0; b < B; b++)
                batch[b] = pairs[k++ % n];
            if (lrc_trainer_step(t, batch, B, 1e-3, &r, &st))
                die_err(1);
        }
        double rate = B * steps / (clock_now() - t0);
        if (rep >= 0 && rate > best)
            best = rate;
    }
    printf("pairs_per_s %.3f\n", best);
    printf("gflops %.1f\n", best * 2 * 3 * unet_flops(&c.net, pairs[0]->H, pairs[0]->W) * 1e-9);
    lrc_trainer_free(t);
    for (int i = 0; i < n; i++)
        lrc_pair_free(pairs[i]);
    free(pairs);
    free(batch);
    return 0;
}
