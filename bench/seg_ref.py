#!/usr/bin/python3
"""The fine-tuning step in PyTorch, for bench/finetune.sh: the reference
seg-finetune's step (libcommon/finetune/segtrain.c) is measured against.

Usage: seg_ref.py ARCH BATCH SIZE STEPS REPS [CLASSES]

The same step as segtrain_step: the network of segnet.h (tests/py/
segnet_torch.py: Eg = ResNet-18 at width 0.25 + Dg, beside the U-Net
16-32-64-128-256 with D = 64, a 1x1 head), per-batch soft Dice loss over
the organ classes, backward, Adam (beta1 0.9, weight decay 1e-4), on random
slices and labels. Prints the best steps/s of REPS runs of STEPS steps
(after two warm-up steps), as "steps_per_s X".

Run it as PyTorch is at its best on this machine (bench/finetune.sh does):
OPENBLAS_NUM_THREADS=1, jemalloc preloaded, torch.set_num_threads(2).
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from segnet_torch import SegNet, resdec_config_for, seg_loss  # noqa: E402


def main():
    arch, B, S, steps, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    C = int(sys.argv[6]) if len(sys.argv) > 6 else 8
    torch.set_num_threads(2)
    torch.manual_seed(1)
    enc = {"in_ch": 1, "depth": 18, "width": 0.25, "norm": "batch", "groups": 8, "bn_momentum": 0.1, "eps": 1e-5}
    unet = {"in_ch": 1, "widths": [16, 32, 64, 128, 256], "out_ch": 64, "norm": "batch", "groups": 8,
            "bn_momentum": 0.1, "eps": 1e-5}
    dec = resdec_config_for(enc)
    net = SegNet(arch, C, [enc, enc], [dec, dec], unet).train()
    opt = torch.optim.Adam(net.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4)
    x = torch.rand(B, 1, S, S)
    y = torch.randint(0, C, (B, S, S))

    def step():
        opt.zero_grad(set_to_none=False)
        loss = seg_loss(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(2):
        step()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, (time.perf_counter() - t0) / steps)
    print("steps_per_s %.4f" % (1 / best))


if __name__ == "__main__":
    main()
