#include "pretrain/pairfeed.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "nn/dist.h"

int pairfeed_open(pairfeed *pf, const char *spec, int64_t epochs, int batch, int shuffle, uint64_t seed,
                  uint64_t stream, int regions)
{
    memset(pf, 0, sizeof *pf);
    pf->epochs = epochs;
    pf->regions = regions;
    pf->H = pf->W = -1;
    pf->cap = batch;
    pf->zmq = stream_is_zmq(spec);
    if (!(pf->batch = calloc((size_t)batch, sizeof *pf->batch)))
        return err_set("out of memory");
    if (!(pf->in = stream_in_open(spec)) || shufbuf_init(&pf->sb, shuffle, seed, stream))
        return -1;
    return 0;
}

void pairfeed_shard(pairfeed *pf, int rank, int size)
{
    if (pf->zmq && size > 1) {
        pf->share = 1;
        stream_in_share(pf->in);
        return;
    }
    pf->shard_rank = rank;
    pf->shard_size = size;
}

int pairfeed_share_check(pairfeed *pf)
{
    const int64_t end = stream_in_end_count(pf->in);
    double v[3] = {(double)stream_in_count(pf->in), end >= 0 ? (double)end : 0, end >= 0};
    if (!pf->share)
        return 0;
    if (dist_sum_f64(v, 3))
        return -1;
    if (v[2] == 0)
        return err_set("%s: the producer stopped without its end record after %.0f records reached the ranks (a "
                       "truncated stream)", stream_in_name(pf->in), v[0]);
    if (v[2] != 1 || v[0] != v[1])
        return err_set("%s: the ranks received %.0f records, the producer's end record counts %.0f (records lost)",
                       stream_in_name(pf->in), v[0], v[1] / v[2]);
    return 0;
}

static int in_shard(const pairfeed *pf, const frame *f)
{
    const int64_t key = f->seq >= 0 ? f->seq : pf->pos;
    return pf->shard_size <= 1 || key % pf->shard_size == pf->shard_rank;
}

/* The next record of this shard across epochs: 1, 0 at the end, -1. */
static int next_frame(pairfeed *pf, frame *f)
{
    while (!pf->ended) {
        int r = stream_in_next(pf->in, f);
        if (r > 0) {
            int mine = in_shard(pf, f);
            pf->pos++;
            if (mine)
                return 1;
            frame_free(f);
            continue;
        }
        if (r < 0)
            return err_prefix("%s", stream_in_name(pf->in));
        if (++pf->epoch >= pf->epochs) {
            pf->ended = 1;
            break;
        }
        pf->pos = 0;
        if (stream_in_rewind(pf->in)) {
            pf->rewind_failed = 1;
            return -1;
        }
        log_info("epoch %lld", (long long)pf->epoch + 1);
    }
    return 0;
}

/* The next usable pair, checked, in *out (NULL at the end). 0 or -1. */
static int next_pair(pairfeed *pf, lrc_pair **out)
{
    frame f;
    int r;
    *out = NULL;
    while ((r = next_frame(pf, &f)) > 0) {
        lrc_pair *p = lrc_pair_from_frame(&f, pf->regions);
        long long seq = (long long)f.seq;
        int h, w;
        frame_free(&f);
        if (!p)
            return err_prefix("record seq %lld", seq);
        h = p->H, w = p->W;
        if (pf->H < 0 && (h % 16 || w % 16)) {
            lrc_pair_free(p);
            return err_set("record seq %lld: images of %dx%d pixels; the networks need sides that are multiples of 16 "
                           "(slice-extract --size)",
                           seq, h, w);
        }
        if (pf->H >= 0 && (h != pf->H || w != pf->W)) {
            lrc_pair_free(p);
            return err_set("record seq %lld: images of %dx%d pixels, earlier records are %dx%d (one size per run)",
                           seq, h, w, pf->H, pf->W);
        }
        pf->H = h, pf->W = w;
        if (pf->regions && p->nreg < 2) {
            pf->skipped++;
            log_info("record seq %lld: %d region(s) in both views, skipped", (long long)p->seq, p->nreg);
            lrc_pair_free(p);
            continue;
        }
        *out = p;
        return 0;
    }
    return r;
}

static void free_batch(pairfeed *pf)
{
    for (int i = 0; i < pf->nb; i++)
        lrc_pair_free(pf->batch[i]);
    pf->nb = 0;
}

int pairfeed_next(pairfeed *pf, lrc_pair ***batch)
{
    free_batch(pf);
    *batch = pf->batch;
    for (;;) {
        lrc_pair *p = NULL;
        if (!pf->draining) {
            lrc_pair *in;
            if (next_pair(pf, &in))
                return -1;
            if (in)
                p = shufbuf_put(&pf->sb, in);
            else
                pf->draining = 1;
            if (!p && !pf->draining)
                continue;
        }
        if (pf->draining && !(p = shufbuf_drain(&pf->sb)) && !pf->nb)
            return 0;
        if (p)
            pf->batch[pf->nb++] = p;
        if (pf->nb == pf->cap || (!p && pf->nb))
            return pf->nb;
    }
}

void pairfeed_close(pairfeed *pf)
{
    free_batch(pf);
    for (lrc_pair *p; (p = shufbuf_drain(&pf->sb));)
        lrc_pair_free(p);
    shufbuf_free(&pf->sb);
    if (pf->in)
        stream_in_close(pf->in);
    free(pf->batch);
    memset(pf, 0, sizeof *pf);
}
