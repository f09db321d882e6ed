/* libFuzzer target: the frame decoder, the record scanner and seq peeking.
 * A record that decodes must re-encode and decode to the same record. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    frame f, g;
    frame_limits lim = {1 << 24, TENSOR_MAX_RANK, 64};
    size_t need;
    int64_t seq;
    frame_scan((const char *)data, size, lim.max_record, &need);
    frame_peek_seq((const char *)data, size, &seq);
    if (frame_decode((const char *)data, size, &lim, &f) == 0) {
        frame_buf b = {0};
        if (frame_encode(&f, &b))
            abort();
        if (frame_decode(b.data, b.len, &lim, &g))
            abort();
        if (g.type != f.type || g.ntensors != f.ntensors || (f.type == FRAME_DATA && (g.seq != f.seq || g.z != f.z)) ||
            (f.type == FRAME_END && g.count != f.count))
            abort();
        for (int i = 0; i < f.ntensors; i++) {
            const tensor *a = &f.tensors[i].t, *c = frame_tensor_get(&g, f.tensors[i].name);
            if (!c || !tensor_same_shape(a, c) || a->dtype != c->dtype ||
                memcmp(a->data, c->data, tensor_nbytes(a)))
                abort();
        }
        frame_free(&g);
        frame_buf_free(&b);
        frame_free(&f);
    }
    return 0;
}
