/* libFuzzer target: the safetensors checkpoint reader (ckpt.h) through a file,
 * and the loaders the filters call on it: lrc-train --resume (lrc and moco
 * trainers of the seed configurations, see seed_ckpt.py), lrc-train --embed
 * and seg-finetune --local/--global (unet/resnet from the file's config),
 * seg-finetune --predict (segnet). Every tensor view is read through its
 * dtype, so a view that is out of bounds or misaligned is reported. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "models/resnet.h"
#include "models/segnet.h"
#include "models/unet.h"
#include "nn/ckpt.h"
#include "pretrain/lrctrainer.h"
#include "pretrain/mocotrainer.h"

static lrc_trainer *lrc;
static moco_trainer *moco;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    lrc_trainer_config lc;
    moco_trainer_config mc;
    static const int widths[5] = {1, 2, 2, 2, 2};
    (void)argc, (void)argv;
    /* lrc-train --method lrc --init --widths 1,2,2,2,2 --dim 2 */
    lrc_trainer_config_default(&lc);
    memcpy(lc.net.widths, widths, sizeof widths);
    lc.net.out_ch = 2;
    /* lrc-train --method moco --init --width 0.01 --queue 2 --embed-dim 1 */
    moco_trainer_config_default(&mc);
    mc.enc.width = 0.01f;
    mc.queue = 2;
    mc.dim = 1;
    if (!(lrc = lrc_trainer_create(&lc, 0)) || !(moco = moco_trainer_create(&mc, 0)))
        abort();
    return 0;
}

/* Read every element through its type; returns a checksum. */
static double touch(const tensor *t)
{
    double s = 0;
    int64_t n = tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        switch (t->dtype) {
        case DT_F32: s += ((const float *)t->data)[i]; break;
        case DT_F64: s += ((const double *)t->data)[i]; break;
        case DT_I64: s += (double)((const int64_t *)t->data)[i]; break;
        case DT_I32: s += ((const int32_t *)t->data)[i]; break;
        case DT_I16: s += ((const int16_t *)t->data)[i]; break;
        case DT_I8: s += ((const int8_t *)t->data)[i]; break;
        case DT_U8: s += ((const uint8_t *)t->data)[i]; break;
        default: abort();
        }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *keys[] = {"format", "format_version", "step", "model", "config",
                                 "method", "arch", "head.config", "optim.optimizer"};
    char path[64];
    volatile double sink = 0;
    ckpt *c;
    int fd = memfd_create("ckpt", 0);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    if ((c = ckpt_open(path))) {
        tensor v;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
            const char *s = ckpt_meta(c, keys[k]);
            if (s)
                sink += (double)strlen(s);
        }
        sink += (double)ckpt_step(c);
        for (int i = 0; i < ckpt_ntensors(c); i++) {
            const char *nm = ckpt_tensor_name(c, i);
            if (!nm || ckpt_get_tensor(c, nm, &v))
                abort();
            sink += touch(&v);
        }
        if (ckpt_tensor_name(c, -1) || ckpt_tensor_name(c, ckpt_ntensors(c)))
            abort();
        lrc_trainer_load(lrc, c);
        moco_trainer_load(moco, c);
        unet *u = unet_ckpt_load(c, "");
        unet_free(u);
        u = unet_ckpt_load(c, "unet.");
        unet_free(u);
        resnet *r = resnet_ckpt_load(c, "");
        resnet_free(r);
        segnet *s = segnet_ckpt_load(c);
        segnet_free(s);
        ckpt_close(c);
    }
    close(fd);
    return 0;
}
