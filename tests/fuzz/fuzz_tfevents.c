/* libFuzzer target: TensorBoard event records (nn/tfevents.h) round trip.
 * The input is turned into a step, a wall time and scalars (tags of any
 * bytes but NUL, any float bits); the encoded TFRecord is checked by a
 * decoder written here from the formats (length, both masked CRC-32Cs,
 * protobuf fields), which must give back exactly what went in. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nn/tfevents.h"

static uint64_t rd(const uint8_t **p, const uint8_t *end, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes && *p < end; i++)
        v |= (uint64_t)*(*p)++ << (8 * i);
    return v;
}

static uint64_t varint(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int s = 0; *p < end && s < 70; s += 7) {
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80))
            return v;
    }
    abort(); /* a varint we wrote ran out */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    int64_t step = (int64_t)rd(&p, end, 8);
    uint64_t wb = rd(&p, end, 8);
    double wall;
    int n = p < end ? *p++ % 9 : 0;
    char tags[8][64];
    const char *tp[8];
    float vals[8];
    unsigned char *rec;
    size_t len;
    memcpy(&wall, &wb, sizeof wall);
    for (int i = 0; i < n; i++) {
        size_t l = p < end ? *p++ % 63 : 0, k = 0;
        uint32_t fb = (uint32_t)rd(&p, end, 4);
        for (; k < l && p < end; k++)
            tags[i][k] = *p ? (char)*p : 'x', p++;
        tags[i][k] = '\0';
        tp[i] = tags[i];
        memcpy(&vals[i], &fb, sizeof fb);
    }
    if (tfevents_encode(&rec, &len, wall, step, NULL, n, tp, vals))
        abort();
    {
        const uint8_t *q = rec, *e = rec + len, *body;
        uint64_t blen = rd(&q, e, 8);
        int got = 0, have_step = 0;
        if (len < 16 || blen != len - 16 || (uint32_t)rd(&q, e, 4) != tfevents_masked_crc(rec, 8))
            abort();
        body = q;
        if (tfevents_masked_crc(body, blen) != (uint32_t)(rec[len - 4] | rec[len - 3] << 8 |
                                                          rec[len - 2] << 16 | (uint32_t)rec[len - 1] << 24))
            abort();
        e = body + blen;
        while (q < e) {
            uint64_t key = varint(&q, e);
            if (key == 0x09) {
                uint64_t w = rd(&q, e, 8);
                if (w != wb)
                    abort();
            } else if (key == 0x10) {
                if ((int64_t)varint(&q, e) != step)
                    abort();
                have_step = 1;
            } else if (key == 0x2a) {
                uint64_t sl = varint(&q, e); /* the length first: q moves */
                const uint8_t *se = q + sl;
                while (q < se) {
                    const uint8_t *ve;
                    uint64_t vl;
                    if (varint(&q, se) != 0x0a)
                        abort();
                    vl = varint(&q, se);
                    ve = q + vl;
                    if (varint(&q, ve) != 0x0a)
                        abort();
                    {
                        uint64_t tl = varint(&q, ve);
                        if (got >= n || tl != strlen(tags[got]) || memcmp(q, tags[got], tl))
                            abort();
                        q += tl;
                    }
                    if (varint(&q, ve) != 0x15 || (uint32_t)rd(&q, ve, 4) != *(uint32_t *)&vals[got])
                        abort();
                    if (q != ve)
                        abort();
                    got++;
                }
            } else {
                abort();
            }
        }
        if (got != n || have_step != (step != 0))
            abort();
    }
    free(rec);
    return 0;
}
