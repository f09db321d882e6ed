/*
 * global_step — pairs per second of a global pre-training method's step
 * (egtrainer.h: rotation, relloc, byol, simsiam: forward, loss, backward,
 * SGD, and BYOL's moving average; mae: masking, the ViT on the kept
 * patches, the decoder, norm_pix_loss, backward, AdamW), for
 * bench/global.sh and bench/mae.sh; bench/global_ref.py and
 * bench/mae_torch.py are the same steps in PyTorch.
 *
 * Usage: global_step METHOD BATCH SIZE STEPS REPS [THREADS]
 *        global_step mae BATCH SIZE STEPS REPS THREADS VIT PATCH DEC_DEPTH DEC_WIDTH
 * The default configuration (Eg ResNet-18 x 0.25, the method's default
 * heads; for mae the ViT preset, patch size and decoder given), random
 * SIZE x SIZE images (for mae the two views the same image). Prints
 * "pairs_per_s X" (best of REPS runs of STEPS steps, after one warm-up step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "core/clock.h"
#include "core/err.h"
#include "nn/nn.h"
#include "pretrain/egtrainer.h"

int main(int argc, char **argv)
{
    err_init(argv[0]);
    const int mae = argc > 1 && !strcmp(argv[1], "mae");
    if (argc < (mae ? 11 : 6)) {
        fprintf(stderr, "usage: %s METHOD BATCH SIZE STEPS REPS [THREADS]\n"
                "       %s mae BATCH SIZE STEPS REPS THREADS VIT PATCH DEC_DEPTH DEC_WIDTH\n", argv[0], argv[0]);
        return 2;
    }
    const char *method = argv[1];
    int B = atoi(argv[2]), S = atoi(argv[3]), steps = atoi(argv[4]), reps = atoi(argv[5]);
    if (argc > 6)
        nn_set_threads(atoi(argv[6]));
    eg_config c;
    eg_config_default(&c);
    if (mae) {
        if (vit_config_preset(&c.vit, argv[7]))
            die_err(2);
        c.vit.patch = atoi(argv[8]);
        c.dec_depth = atoi(argv[9]), c.dec_width = atoi(argv[10]);
    }
    eg_trainer *t = eg_trainer_create(method, &c, 0);
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
            pairs[b].xq[i] = (float)rng_uniform(&r), pairs[b].xp[i] = mae ? pairs[b].xq[i] : (float)rng_uniform(&r);
        batch[b] = &pairs[b];
    }
    double best = 0;
    for (int rep = -1; rep < reps; rep++) {
        double t0 = clock_now();
        for (int s = 0; s < (rep < 0 ? 1 : steps); s++) {
            eg_stats st;
            if (eg_trainer_step(t, batch, B, mae ? 1e-4 : 0.01, &r, &st))
                die_err(1);
        }
        double rate = B * steps / (clock_now() - t0);
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
