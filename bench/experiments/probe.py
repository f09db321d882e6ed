#!/usr/bin/python3
"""Linear probe of frozen U-Net features: how much organ information the
pre-trained features carry, a cheap proxy for what fine-tuning gains.

Usage: probe.py TRAIN.fr TEST.fr [ITERS]
  frames after `lrc-train --embed`, with `features` [D, Y, X] and `label`
  [Y, X] (0 background, 1..7 organs). A per-pixel linear classifier (a 1x1
  convolution) is trained on TRAIN's pixels (every organ pixel and as many
  as 10 times that of background, drawn with numpy seed 0; features standardised with
  TRAIN's per-channel mean and sd; class-balanced cross-entropy; Adam, full
  batch, ITERS steps, default 300; torch seed 0), then TEST is predicted and
  scored with the Dice of each organ over all TEST pixels (3D-like: all
  slices pooled). Prints one line: "dice MEAN o1 o2 ... o7".
"""
import sys

import msgpack
import numpy as np
import torch
import torch.nn.functional as F


def load(path):
    fs, ls = [], []
    with open(path, "rb") as fh:
        for r in msgpack.Unpacker(fh, raw=False, max_buffer_size=1 << 30):
            if r.get("type") != "data":
                continue
            t = r["tensors"]
            g = lambda n: np.frombuffer(t[n]["data"], dtype=t[n]["type"]).reshape(t[n]["shape"])
            f = g("features")
            fs.append(f.reshape(f.shape[0], -1).T)
            ls.append(g("label").reshape(-1))
    return np.concatenate(fs).astype(np.float32), np.concatenate(ls).astype(np.int64)


def fit_and_score(xtr, ytr, xte, yte, iters=300):
    """The probe on per-pixel features xtr (n, D) and labels ytr (n), scored
    on xte, yte: "dice MEAN o1 ... o7"."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    org = np.flatnonzero(ytr > 0)
    bg = np.flatnonzero(ytr == 0)
    bg = np.random.default_rng(0).choice(bg, min(len(bg), 10 * len(org)), replace=False)
    keep = np.sort(np.concatenate([org, bg]))
    xtr, ytr = xtr[keep], ytr[keep]
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, xte = torch.tensor((xtr - mu) / sd), torch.tensor((xte - mu) / sd)
    ytr, yte = torch.tensor(ytr), torch.tensor(yte)
    C = 8
    counts = torch.bincount(ytr, minlength=C).float()
    w = torch.where(counts > 0, counts.sum() / (C * counts.clamp(min=1)), torch.zeros(C))
    lin = torch.nn.Linear(xtr.shape[1], C)
    opt = torch.optim.Adam(lin.parameters(), lr=0.05)
    for _ in range(iters):
        opt.zero_grad()
        loss = F.cross_entropy(lin(xtr), ytr, weight=w)
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = lin(xte).argmax(1)
    d = []
    for c in range(1, C):
        a, b = pred == c, yte == c
        den = int(a.sum() + b.sum())
        d.append(2 * int((a & b).sum()) / den if den else float("nan"))
    return "dice %.4f " % np.nanmean(d) + " ".join("%.3f" % v for v in d)


def main():
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    xtr, ytr = load(sys.argv[1])
    xte, yte = load(sys.argv[2])
    print(fit_and_score(xtr, ytr, xte, yte, iters))


if __name__ == "__main__":
    main()
