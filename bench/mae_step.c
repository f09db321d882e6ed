/*
 * mae_step — pairs per second of an MAE step (pretrain/mae.h: masking, the
 * ViT on the kept patches, the decoder, norm_pix_loss, backward, AdamW),
 * for bench/mae.sh; bench/mae_torch.py is the same step in PyTorch.
 *
 * Usage: mae_step BATCH SIZE STEPS REPS THREADS VIT PATCH DEC_DEPTH DEC_WIDTH
 * Random SIZE x SIZE images. Prints "pairs_per_s X" (best of REPS runs of
 * STEPS steps, after one warm-up step).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/args.h"
#include "core/err.h"
#include "nn/nn.h"
#include "nn/trainlog.h"
#include "pretrain/egtrainer.h"

int main(int argc, char **argv)
{
    err_init(argv[0]);
    if (argc < 10) {
        fprintf(stderr, "usage: %s BATCH SIZE STEPS REPS THREADS VIT PATCH DEC_DEPTH DEC_WIDTH\n", argv[0]);
        return 2;
    }
    int B = atoi(argv[1]), S = atoi(argv[2]), steps = atoi(argv[3]), reps = atoi(argv[4]);
    nn_set_threads(atoi(argv[5]));
    eg_config c;
    eg_config_default(&c);
    if (vit_config_preset(&c.vit, argv[6]))
        die_err(2);
    c.vit.patch = atoi(argv[7]);
    c.dec_depth = atoi(argv[8]), c.dec_width = atoi(argv[9]);
    eg_trainer *t = eg_trainer_create("mae", &c, 0);
    if (!t)
        die_err(1);
    lrc_pair *pairs = calloc((size_t)B, sizeof *pairs), **batch = malloc((size_t)B * sizeof *batch);
    rng r;
    rng_seed(&r, 1, 0);
    for (int b = 0; b < B; b++) {
        pairs[b].H = pairs[b].W = S;
        pairs[b].xq = malloc(sizeof(float) * S * S);
        pairs[b].xp = malloc(sizeof(float) * S * S);
        for (int i = 0; i < S * S; i++)
            pairs[b].xq[i] = pairs[b].xp[i] = (float)rng_uniform(&r);
        batch[b] = &pairs[b];
    }
    double best = 0;
    for (int rep = -1; rep < reps; rep++) {
        double t0 = trainlog_now();
        for (int s = 0; s < (rep < 0 ? 1 : steps); s++) {
            eg_stats st;
            if (eg_trainer_step(t, batch, B, 1e-4, &r, &st))
                die_err(1);
        }
        double rate = B * steps / (trainlog_now() - t0);
        if (rep >= 0 && rate > best)
            best = rate;
    }
    printf("pairs_per_s %.3f\n", best);
    for (int b = 0; b < B; b++)
        free(pairs[b].xq), free(pairs[b].xp);
    free(pairs);
    free(batch);
    eg_trainer_free(t);
    return 0;
}
