/*
 * kmeans — k-means clustering of float32 points x [N, D] into K clusters.
 *
 * Seeding is k-means++ (Arthur and Vassilvitskii, 2007) with rng.h seeded
 * by `seed`: the first centre is a uniformly drawn point, each next one a
 * point drawn with probability proportional to its squared distance to the
 * nearest centre chosen so far. Then Lloyd iterations: assign every point
 * to its nearest centre (ties to the lower index), move every centre to
 * the mean of its points, until no assignment changes or max_iter
 * iterations. A centre that loses all its points is moved to the point
 * farthest from its own centre. Sums and distances are in double, points in
 * a fixed order: the result is the same for the same input and seed, with
 * any number of threads.
 *
 * Not here: mini-batches, other initialisations, choosing K.
 */
#ifndef LRC_KMEANS_H
#define LRC_KMEANS_H

#include <stdint.h>

typedef struct {
    int iters;       /* Lloyd iterations run */
    int converged;   /* 1 if the last iteration changed no assignment */
    double inertia;  /* sum of squared distances to the assigned centres */
} kmeans_info;

/* assign[N] <- cluster of each point; centres[K, D] <- the centres (may be
 * NULL). 1 <= K <= N. Returns 0, or -1 with err_set(). */
int kmeans(int32_t *assign, float *centres, const float *x, int64_t n, int d, int k, int max_iter, uint64_t seed,
           kmeans_info *info);

#endif
