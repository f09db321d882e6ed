#include "ct/body.h"

#include <stddef.h>

int64_t body_components(int32_t *lab, int64_t ny, int64_t nx, int32_t *stack, int64_t box[4], int32_t *id)
{
    int64_t n = ny * nx, best = 0;
    int32_t next = 0;
    for (int64_t s = 0; s < n; s++) {
        int64_t top = 0, count = 0, y0, x0, y1, x1;
        if (lab[s] != -1)
            continue;
        next++;
        lab[s] = next;
        stack[top++] = (int32_t)s;
        y0 = y1 = s / nx;
        x0 = x1 = s % nx;
        while (top) {
            int64_t p = stack[--top], y = p / nx, x = p % nx;
            count++;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (x > 0 && lab[p - 1] == -1) lab[p - 1] = next, stack[top++] = (int32_t)(p - 1);
            if (x < nx - 1 && lab[p + 1] == -1) lab[p + 1] = next, stack[top++] = (int32_t)(p + 1);
            if (y > 0 && lab[p - nx] == -1) lab[p - nx] = next, stack[top++] = (int32_t)(p - nx);
            if (y < ny - 1 && lab[p + nx] == -1) lab[p + nx] = next, stack[top++] = (int32_t)(p + nx);
        }
        if (count > best) {
            best = count;
            box[0] = y0, box[1] = x0, box[2] = y1, box[3] = x1;
            if (id)
                *id = next;
        }
    }
    return best;
}

int64_t body_find(int64_t box[4], const float *img, int64_t ny, int64_t nx, float thr, int32_t *work)
{
    int64_t n = ny * nx;
    for (int64_t i = 0; i < n; i++)
        work[i] = img[i] > thr ? -1 : 0; /* -1: foreground not yet labelled */
    return body_components(work, ny, nx, work + n, box, NULL);
}
