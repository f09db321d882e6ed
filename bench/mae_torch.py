#!/usr/bin/python3
"""An MAE step in PyTorch, for bench/mae.sh: the reference lrcpipe's
eg_trainer_step with --method mae (libcommon/pretrain/mae.h) is measured
against.

Usage: mae_torch.py CHECKPOINT BATCH SIZE STEPS REPS [THREADS]

CHECKPOINT is `lrc-train --method mae --init`'s: the same ViT and decoder.
One step, as models_mae.py and main_pretrain.py: random_masking (noise
argsort, 75 %), the encoder on the kept patches, the decoder with mask
tokens restored, norm_pix_loss, backward, AdamW (betas 0.9, 0.95, weight
decay 0.05). Prints the best pairs/s of REPS runs of STEPS steps (after
one warm-up step) as "pairs_per_s X".
"""
import json
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from torch_models import load_safetensors  # noqa: E402
from vit_ref import block, sincos_2d, sub  # noqa: E402
from mae_ref import forward_loss  # noqa: E402


def main():
    ckpt = sys.argv[1]
    B, S, steps, reps = (int(v) for v in sys.argv[2:6])
    torch.set_num_threads(int(sys.argv[6]) if len(sys.argv) > 6 else 2)
    tensors, meta = load_safetensors(ckpt)
    ec, dc = json.loads(meta["config"]), json.loads(meta["decoder.config"])
    ratio = json.loads(meta["mae"])["mask_ratio"]
    p = {k: v.clone().requires_grad_(True) for k, v in tensors.items() if not k.startswith("optim")}
    dp = sub(p, "decoder.")
    opt = torch.optim.AdamW(list(p.values()), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05)
    P, D, Dd = ec["patch"], ec["width"], dc["width"]
    gh = S // P
    L = gh * gh
    K = int(L * (1 - ratio))
    pos = torch.from_numpy(sincos_2d(D, gh, gh)).float()[None]
    dpos = torch.cat([torch.zeros(1, Dd), torch.from_numpy(sincos_2d(Dd, gh, gh)).float()])[None]
    imgs = torch.rand(B, 1, S, S, generator=torch.Generator().manual_seed(0))

    def step():
        x = F.conv2d(imgs, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=P)
        x = x.flatten(2).transpose(1, 2) + pos
        ids_shuffle = torch.argsort(torch.rand(B, L), dim=1)
        ids_restore = torch.argsort(ids_shuffle, dim=1)
        keep = ids_shuffle[:, :K]
        x = torch.gather(x, 1, keep[:, :, None].expand(-1, -1, D))
        x = torch.cat([p["cls_token"].expand(B, -1, -1), x], dim=1)
        for i in range(ec["depth"]):
            x = block(x, sub(p, "blocks.%d." % i), ec["heads"])
        x = F.layer_norm(x, (D,), p["norm.weight"], p["norm.bias"], 1e-6)
        x = F.linear(x, dp["decoder_embed.weight"], dp["decoder_embed.bias"])
        x_ = torch.cat([x[:, 1:, :], dp["mask_token"].repeat(B, L - K, 1)], dim=1)
        x_ = torch.gather(x_, 1, ids_restore[:, :, None].expand(-1, -1, Dd))
        x = torch.cat([x[:, :1, :], x_], dim=1) + dpos
        for i in range(dc["depth"]):
            x = block(x, sub(dp, "decoder_blocks.%d." % i), dc["heads"])
        x = F.layer_norm(x, (Dd,), dp["decoder_norm.weight"], dp["decoder_norm.bias"], 1e-6)
        pred = F.linear(x, dp["decoder_pred.weight"], dp["decoder_pred.bias"])[:, 1:, :]
        mask = torch.ones(B, L)
        mask.scatter_(1, keep, 0.0)
        loss, _ = forward_loss(imgs, pred, mask, P)
        opt.zero_grad()
        loss.backward()
        opt.step()

    best = 0
    for rep in range(-1, reps):
        t0 = time.perf_counter()
        for _ in range(1 if rep < 0 else steps):
            step()
        rate = B * steps / (time.perf_counter() - t0)
        if rep >= 0:
            best = max(best, rate)
    print("pairs_per_s %.3f" % best)


if __name__ == "__main__":
    main()
