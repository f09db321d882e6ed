#include "pretrain/embed.h"

#include <string.h>

#include "core/err.h"
#include "nn/ckpt.h"

unet *embed_load(const char *path)
{
    ckpt *c = ckpt_open(path);
    const char *kind;
    unet *u;
    if (!c)
        return NULL;
    if (!ckpt_meta(c, "config") || !(kind = ckpt_meta(c, "model")) || strcmp(kind, "unet")) {
        ckpt_close(c);
        err_set("%s: holds no U-Net (an lrc-train --method lrc checkpoint is needed)", path);
        return NULL;
    }
    if (!(u = unet_ckpt_load(c, "")))
        err_prefix("%s", path);
    ckpt_close(c);
    if (u)
        unet_set_training(u, 0);
    return u;
}

/* features [D, Y, X] of tensor from as tensor to; nothing when f lacks from. */
static int add_features(unet *u, frame *f, const char *from, const char *to)
{
    const tensor *im = frame_tensor_get(f, from);
    char buf[64];
    tensor x, feat;
    if (!im)
        return 0;
    if (im->rank != 2)
        return err_set("'%s' has shape %s, expected [Y, X]", from, tensor_shape_str(im, buf, sizeof buf));
    if (im->shape[0] % 16 || im->shape[1] % 16 || im->shape[0] < 16 || im->shape[1] < 16 || im->shape[0] > 1 << 15 ||
        im->shape[1] > 1 << 15)
        return err_set("'%s' is %lldx%lld; the U-Net needs sides that are multiples of 16", from,
                       (long long)im->shape[0], (long long)im->shape[1]);
    if (tensor_convert(&x, im, DT_F32))
        return -1;
    const int H = (int)im->shape[0], W = (int)im->shape[1], D = unet_get_config(u)->out_ch;
    const float *y = unet_forward(u, x.data, 1, H, W); /* (1, D, H, W) */
    tensor_free(&x);
    if (!y || tensor_init3(&feat, DT_F32, D, H, W))
        return -1;
    memcpy(feat.data, y, tensor_nbytes(&feat));
    return frame_tensor_add(f, to, &feat);
}

int embed_frame(unet *u, frame *f)
{
    return add_features(u, f, "image", "features") || add_features(u, f, "image_p", "features_p") ? -1 : 0;
}

int embed_stream(unet *u, stream_in *in, stream_out *out, frame *f)
{
    int rc;
    while ((rc = stream_in_next(in, f)) > 0) {
        if (!frame_tensor_get(f, "image"))
            rc = err_set("record seq %lld: no 'image' tensor", (long long)f->seq);
        else if (embed_frame(u, f))
            rc = err_prefix("record seq %lld", (long long)f->seq);
        else
            f->seq = -1, rc = stream_out_write(out, f);
        frame_free(f);
        if (rc)
            return -1;
    }
    return rc;
}
