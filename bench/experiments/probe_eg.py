#!/usr/bin/python3
"""Linear probe of a frozen global encoder Eg (any lrc-train global method's
checkpoint, or seg-finetune --global's torchvision file): how much organ
information its features carry, as bench/experiments/probe.py measures it
for the U-Net.

Usage: probe_eg.py CKPT TRAIN.fr TEST.fr [ITERS]
  TRAIN, TEST: slice frames with `image` and `label` [Y, X]. Eg runs in
  evaluation mode (PyTorch twin, tests/py/torch_models.py, the checkpoint's
  weights) with its batch-norm statistics recomputed on TRAIN's slices
  (PROBE_BN=checkpoint keeps the checkpoint's: an untrained encoder's are
  then 0 and 1, which alone makes trained ones look better); its five stages are upsampled bilinearly to Y x X and
  concatenated (a hypercolumn per pixel: 16+16+32+64+128 = 256 values for
  ResNet-18 x 0.25), then probe.py's per-pixel linear classifier is fitted
  and scored. Prints "dice MEAN o1 ... o7".
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "py"))
sys.path.insert(0, here)
from probe import data_records, fit_and_score  # noqa: E402
from torch_models import ResNet, load_safetensors  # noqa: E402


def load_slices(path):
    xs, ls = [], []
    for g in data_records(path):
        xs.append(g("image").astype(np.float32))
        ls.append(g("label").reshape(-1))
    return np.stack(xs), np.concatenate(ls).astype(np.int64)


def load_eg(path):
    tensors, meta = load_safetensors(path)
    if meta.get("model") == "resnet":
        cfg = json.loads(meta["config"])
    else:  # a torchvision state dict (seg-finetune --global's ImageNet form)
        raise SystemExit("probe_eg.py: %s holds no lrcpipe ResNet" % path)
    eg = ResNet(cfg)
    sd = {k: v for k, v in tensors.items() if k in eg.state_dict()}
    eg.load_state_dict(sd, strict=True)
    return eg.eval()


def calibrate(eg, x):
    """Batch-norm running statistics recomputed on x (a cumulative average over
    batches of 32, no weight changes): the untrained encoder's are the initial
    0 and 1, a trained one's follow its last steps. With every encoder measured
    on the probe's own slices, the probe compares the weights alone."""
    for m in eg.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None
    eg.train()
    with torch.no_grad():
        for i in range(0, len(x), 32):
            eg(torch.from_numpy(x[i : i + 32])[:, None])
    eg.eval()


def features(eg, x, y, keep_all):
    """(features, labels) chunks of 32 slices; for training (keep_all 0) only
    the organ pixels and 10 times as many background ones (as the probe
    keeps), so that the hypercolumns of every pixel never sit in memory."""
    rng = np.random.default_rng(0)
    HW = x.shape[1] * x.shape[2]
    with torch.no_grad():
        for i in range(0, len(x), 32):
            xb = torch.from_numpy(x[i : i + 32])[:, None]
            yb = y[i * HW : (i + len(xb)) * HW]
            stages, _ = eg(xb)
            H, W = xb.shape[2:]
            f = torch.cat([F.interpolate(s, size=(H, W), mode="bilinear", align_corners=False) for s in stages], 1)
            f = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1]).numpy()
            if not keep_all:
                org, bg = np.flatnonzero(yb > 0), np.flatnonzero(yb == 0)
                sel = np.sort(np.concatenate([org, rng.choice(bg, min(len(bg), 10 * len(org)), replace=False)]))
                f, yb = f[sel], yb[sel]
            yield f, yb


def main():
    torch.set_num_threads(2)
    eg = load_eg(sys.argv[1])
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 300
    xtr, ytr = load_slices(sys.argv[2])
    xte, yte = load_slices(sys.argv[3])
    if os.environ.get("PROBE_BN", "calibrate") == "calibrate":
        calibrate(eg, xtr)
    tr = list(features(eg, xtr, ytr, 0))
    print(fit_and_score(np.concatenate([f for f, _ in tr]), np.concatenate([l for _, l in tr]),
                        features(eg, xte, yte, 1), iters))


if __name__ == "__main__":
    main()
