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


def data_records(path):
    """Each data record of the frame file at path, as a function from a
    tensor's name to its array."""
    with open(path, "rb") as fh:
        for r in msgpack.Unpacker(fh, raw=False, max_buffer_size=1 << 30):
            if r.get("type") == "data":
                t = r["tensors"]
                yield lambda n, t=t: np.frombuffer(t[n]["data"], dtype=t[n]["type"]).reshape(t[n]["shape"])


def load(path):
    fs, ls = [], []
    for g in data_records(path):
        f = g("features")
        fs.append(f.reshape(f.shape[0], -1).T)
        ls.append(g("label").reshape(-1))
    return np.concatenate(fs).astype(np.float32), np.concatenate(ls).astype(np.int64)


def fit_and_score(xtr, ytr, test, iters=300):
    """The probe on per-pixel features xtr (n, D) and labels ytr (n), scored
    on test, an iterable of (features, labels) chunks (all pixels pooled):
    "dice MEAN o1 ... o7"."""
    torch.manual_seed(0)
    torch.set_num_threads(2)
    org = np.flatnonzero(ytr > 0)
    bg = np.flatnonzero(ytr == 0)
    bg = np.random.default_rng(0).choice(bg, min(len(bg), 10 * len(org)), replace=False)
    keep = np.sort(np.concatenate([org, bg]))
    xtr, ytr = xtr[keep], ytr[keep]
    mu, sd = xtr.mean(0), xtr.std(0) + 1e-6
    xtr, ytr = torch.tensor((xtr - mu) / sd), torch.tensor(ytr)
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
    inter, npred, nlab = np.zeros(C), np.zeros(C), np.zeros(C)
    with torch.no_grad():
        for xte, yte in test:
            pred = lin(torch.tensor((xte - mu) / sd)).argmax(1).numpy()
            for c in range(1, C):
                a, b = pred == c, yte == c
                inter[c] += (a & b).sum()
                npred[c] += a.sum()
                nlab[c] += b.sum()
    d = [2 * inter[c] / (npred[c] + nlab[c]) if npred[c] + nlab[c] else float("nan") for c in range(1, C)]
    return "dice %.4f " % np.nanmean(d) + " ".join("%.3f" % v for v in d)


def main():
    iters = int(sys.argv[3]) if len(sys.argv) > 3 else 300
    xtr, ytr = load(sys.argv[1])
    print(fit_and_score(xtr, ytr, [load(sys.argv[2])], iters))


if __name__ == "__main__":
    main()
