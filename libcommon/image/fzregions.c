#include "image/fzregions.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ct/body.h"

/* The 4-neighbours of p in an H x W grid; returns how many. */
static int neighbours(int32_t p, int64_t H, int64_t W, int32_t nb[4])
{
    int64_t r = p / W, c = p % W;
    int k = 0;
    if (r > 0)
        nb[k++] = p - (int32_t)W;
    if (r + 1 < H)
        nb[k++] = p + (int32_t)W;
    if (c > 0)
        nb[k++] = p - 1;
    if (c + 1 < W)
        nb[k++] = p + 1;
    return k;
}

int64_t fz_body_mask(uint8_t *mask, const double *img, int64_t H, int64_t W, double thr)
{
    int64_t n = H * W, best, count = 0, box[4];
    int32_t best_id = 0;
    int32_t *comp = malloc((size_t)(n > 0 ? n : 1) * sizeof *comp);   /* component id, 0 none */
    int32_t *stack = malloc((size_t)(n > 0 ? n : 1) * sizeof *stack);
    if (!comp || !stack) {
        free(comp);
        free(stack);
        return err_set("out of memory");
    }
    /* Components of the pixels above thr and the largest (ct/body.h's rule). */
    for (int64_t i = 0; i < n; i++)
        comp[i] = img[i] > thr ? -1 : 0;
    best = body_components(comp, H, W, stack, box, &best_id);
    /* Background: everything else, flooded from the border; the body is
     * what it does not reach. */
    {
        int64_t top = 0;
        for (int64_t i = 0; i < n; i++)
            mask[i] = best > 0;
        for (int64_t i = 0; i < n && best > 0; i++) {
            int64_t r = i / W, c = i % W;
            if ((r == 0 || r == H - 1 || c == 0 || c == W - 1) && comp[i] != best_id) {
                mask[i] = 0;
                stack[top++] = (int32_t)i;
            }
        }
        while (top > 0) {
            int32_t p = stack[--top], nb[4];
            int k = neighbours(p, H, W, nb);
            for (int j = 0; j < k; j++)
                if (mask[nb[j]] && comp[nb[j]] != best_id) {
                    mask[nb[j]] = 0;
                    stack[top++] = nb[j];
                }
        }
    }
    for (int64_t i = 0; i < n; i++)
        count += mask[i];
    free(comp);
    free(stack);
    return count;
}

int64_t fz_regions_finish(int32_t *reg, const uint8_t *mask, int64_t n, int64_t min_pixels)
{
    int64_t *cnt = calloc((size_t)(n > 0 ? n : 1), sizeof *cnt);
    int32_t *map;
    int64_t K = 0;
    if (!cnt)
        return err_set("out of memory");
    map = (int32_t *)cnt; /* reused below: n int32 fit in n int64 */
    for (int64_t i = 0; i < n; i++) {
        if (mask && !mask[i])
            reg[i] = -1;
        if (reg[i] >= 0)
            cnt[reg[i]]++;
    }
    for (int64_t i = 0; i < n; i++)
        if (reg[i] >= 0 && cnt[reg[i]] < min_pixels)
            reg[i] = -1;
    /* cnt is no longer needed: map old id -> new id, -2 = unseen. */
    for (int64_t i = 0; i < n; i++)
        map[i] = -2;
    for (int64_t i = 0; i < n; i++) {
        int32_t id = reg[i];
        if (id < 0)
            continue;
        if (map[id] == -2)
            map[id] = (int32_t)K++;
        reg[i] = map[id];
    }
    free(cnt);
    return K;
}
