#include "finetune/segsetup.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "nn/dist.h"

static int same_json(char *a, char *b)
{
    int same = a && b && !strcmp(a, b);
    free(a);
    free(b);
    return same;
}

/* With a pre-trained part, the options that describe a random one must not
 * ask for another configuration than the checkpoint's. */
static int check_parts(const segsetup *o, const segnet *net)
{
    for (int b = 0; b < segnet_nbranch(net); b++) {
        const int local = segnet_branch_kind(net, b) == 'l';
        const char *path = local ? o->local : b ? o->global2 : o->global;
        const char *flag = local ? "--local" : b ? "--global2" : "--global";
        if (!path)
            continue;
        if (local && o->have_unet_opts &&
            !same_json(unet_config_json(&o->net.local), unet_config_json(unet_get_config(segnet_unet(net)))))
            return err_set("%s %s: its U-Net's configuration differs from --widths/--dim/--norm (leave them out "
                           "to take the checkpoint's)",
                           flag, path);
        if (!local && o->have_enc_opts && !segnet_encoder(net, b))
            return err_set("%s %s: holds a ViT; --depth/--width/--norm describe a ResNet (leave them out)", flag,
                           path);
        if (!local && o->have_enc_opts &&
            !same_json(resnet_config_json(&o->net.enc), resnet_config_json(resnet_get_config(segnet_encoder(net, b)))))
            return err_set("%s %s: its encoder's configuration differs from --depth/--width/--norm (leave them out "
                           "to take the checkpoint's)",
                           flag, path);
    }
    return 0;
}

static segtrain *resume(const segsetup *o, segsetup_state *st)
{
    ckpt *c = ckpt_open(o->resume);
    segtrain *t = NULL;
    const char *p;
    if (!c || !(t = segtrain_ckpt_load(c, &o->opt, &o->loss))) {
        err_prefix("--resume");
        goto fail;
    }
    segnet *net = segtrain_net(t);
    if (o->have_arch && segnet_get_arch(net) != o->net.arch) {
        err_set("--resume: %s holds a %s network, --arch asks for %s", o->resume,
                segnet_arch_name(segnet_get_arch(net)), segnet_arch_name(o->net.arch));
        goto fail;
    }
    if (segnet_classes(net) != o->classes) {
        err_set("--resume: %s has %d classes, the slices %d", o->resume, segnet_classes(net), o->classes);
        goto fail;
    }
    st->step = ckpt_step(c);
    if ((p = ckpt_meta(c, "best_dice")))
        st->best_dice = strtod(p, NULL);
    if ((p = ckpt_meta(c, "best_step")))
        st->best_step = strtoll(p, NULL, 10);
    if ((p = ckpt_meta(c, "train_slices")) && strtoll(p, NULL, 10) != o->train_slices)
        log_warn("--resume: %s was trained on %s slices, this input gives %lld: the order of the batches "
                 "is not the interrupted run's",
                 o->resume, p, (long long)o->train_slices);
    if ((p = ckpt_meta(c, "seed")) && strtoll(p, NULL, 10) != o->seed)
        log_warn("--resume: %s was trained with --seed %s, this run has %lld", o->resume, p, (long long)o->seed);
    ckpt_close(c);
    log_info("resumed from %s at step %lld", o->resume, (long long)st->step);
    return t;
fail:
    segtrain_free(t);
    ckpt_close(c);
    return NULL;
}

static segtrain *setup(const segsetup *o, segsetup_state *st)
{
    const char *paths[3] = {o->global, o->global2, o->local}, *flags[3] = {"--global", "--global2", "--local"};
    ckpt *pre[3] = {NULL, NULL, NULL};
    segnet_config cfg = o->net;
    segnet *net = NULL;
    segtrain *t = NULL;
    *st = (segsetup_state){0, NAN, 0};
    if (o->resume)
        return resume(o, st);
    for (int k = 0; k < 3; k++)
        if (paths[k] && !(pre[k] = ckpt_open(paths[k]))) {
            err_prefix("%s", flags[k]);
            goto out;
        }
    segnet_init init = {{pre[0], pre[1]}, pre[2]};
    cfg.classes = o->classes;
    if (!(net = segnet_create(&cfg, &init, (uint64_t)o->seed))) {
        char msg[1024];
        const char *flag = "";
        /* name the flag whose file the message is about */
        for (int k = 0; k < 3 && !*flag; k++)
            if (paths[k] && strstr(err_get(), paths[k]))
                flag = k == 0 ? "--global " : k == 1 ? "--global2 " : "--local ";
        snprintf(msg, sizeof msg, "%s", err_get());
        err_set("%s%s", flag, msg);
        goto out;
    }
    if ((t = segtrain_create(net, &o->opt, &o->loss)) && check_parts(o, segtrain_net(t))) {
        segtrain_free(t);
        t = NULL;
    }
out:
    for (int k = 0; k < 3; k++)
        ckpt_close(pre[k]);
    return t;
}

segtrain *segsetup_trainer(const segsetup *o, segsetup_state *st)
{
    segtrain *t = setup(o, st);
    /* under MPI every rank starts from rank 0's parameters (nn/dist.h) */
    for (int i = 0; t && i < segnet_nparts(segtrain_net(t)); i++) {
        const char *prefix;
        if (dist_bcast_params(segnet_part(segtrain_net(t), i, &prefix))) {
            segtrain_free(t);
            t = NULL;
        }
    }
    return t;
}
