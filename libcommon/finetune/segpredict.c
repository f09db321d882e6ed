#include "finetune/segpredict.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

int segpredict_init(segpredict *p, segnet *net, stream_out *out, int B)
{
    memset(p, 0, sizeof *p);
    p->net = net;
    p->out = out;
    p->B = B;
    if (!(p->f = calloc((size_t)B, sizeof *p->f)))
        return err_set("out of memory");
    return 0;
}

int segpredict_flush(segpredict *p)
{
    if (!p->nf)
        return 0;
    const tensor *im = frame_tensor_get(&p->f[0], "image");
    const int H = (int)im->shape[0], W = (int)im->shape[1];
    const size_t px = (size_t)H * W;
    if ((size_t)p->nf * px > p->cap) {
        free(p->x);
        free(p->pred);
        p->cap = (size_t)p->nf * px;
        if (!(p->x = malloc(p->cap * sizeof(float))) || !(p->pred = malloc(p->cap)))
            return err_set("out of memory");
    }
    for (int k = 0; k < p->nf; k++) {
        const tensor *t = frame_tensor_get(&p->f[k], "image");
        for (size_t i = 0; i < px; i++) {
            double v = tensor_get(t, i);
            if (!isfinite(v))
                return err_set("record seq %lld: 'image' holds a NaN or infinite value", (long long)p->f[k].seq);
            p->x[k * px + i] = (float)v;
        }
    }
    if (segnet_predict(p->net, p->pred, p->x, p->nf, H, W))
        return -1;
    for (int k = 0; k < p->nf; k++) {
        tensor t;
        if (tensor_init2(&t, DT_U8, H, W))
            return -1;
        memcpy(t.data, p->pred + k * px, px);
        if (frame_tensor_add(&p->f[k], "pred", &t) || stream_out_write(p->out, &p->f[k]))
            return -1;
        frame_free(&p->f[k]);
    }
    p->nf = 0;
    return 0;
}

int segpredict_add(segpredict *p, frame *f)
{
    const tensor *im = frame_tensor_get(f, "image");
    char buf[64];
    long long seq = (long long)f->seq;
    int rc = 0;
    if (!im)
        rc = err_set("record seq %lld: no 'image' tensor", seq);
    else if (im->rank != 2)
        rc = err_set("record seq %lld: 'image' has shape %s, expected [Y, X] (slice frames: slice-extract)", seq,
                     tensor_shape_str(im, buf, sizeof buf));
    else if (im->shape[0] < 16 || im->shape[1] < 16 || im->shape[0] % 16 || im->shape[1] % 16 ||
             im->shape[0] > 8192 || im->shape[1] > 8192)
        rc = err_set("record seq %lld: a slice of %lldx%lld pixels; the network needs sides that are multiples "
                     "of 16 (slice-extract --size)",
                     seq, (long long)im->shape[0], (long long)im->shape[1]);
    if (rc) {
        frame_free(f);
        return -1;
    }
    if (p->nf) {
        const tensor *t0 = frame_tensor_get(&p->f[0], "image");
        if ((t0->shape[0] != im->shape[0] || t0->shape[1] != im->shape[1]) && segpredict_flush(p)) {
            frame_free(f);
            return -1;
        }
    }
    p->f[p->nf++] = *f;
    memset(f, 0, sizeof *f);
    return p->nf == p->B ? segpredict_flush(p) : 0;
}

void segpredict_free(segpredict *p)
{
    for (int k = 0; k < p->nf; k++)
        frame_free(&p->f[k]);
    free(p->f);
    free(p->x);
    free(p->pred);
    memset(p, 0, sizeof *p);
}

int segpredict_stream(segpredict *p, stream_in *in)
{
    frame f;
    int r;
    while ((r = stream_in_next(in, &f)) > 0)
        if (segpredict_add(p, &f))
            return -1;
    return r < 0 ? -1 : segpredict_flush(p);
}
