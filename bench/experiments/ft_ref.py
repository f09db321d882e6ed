"""PyTorch reference of lrcpipe's fine-tuning recipe, run beside seg-finetune
on the same slice frames and case lists, to show that lrcpipe's random-init
Dice is what a plain PyTorch implementation of the same recipe reaches.

The recipe (seg-finetune's defaults, written here independently):
  network   U-Net 16-32-64-128-256, D = 64 feature channels, batch norm, and a
            1x1 convolution to the C classes (tests/py/torch_models.py UNet,
            the same module lrcpipe's checkpoints load into);
  loss      cross-entropy over all C classes (background included, mean over
            pixels) + 1 - soft Dice averaged over the organs 1..C-1, with the
            Dice's sums over the batch and the pixels (smooth 1e-5);
  optimiser Adam, lr 1e-3, weight decay 1e-4 (L2 in the gradient); the
            rate constant, or with --schedule cosine 1e-3 (1 + cos(pi t/T)) / 2
            at step t = 0..T-1 (seg-finetune --schedule cosine);
  data      every slice of the --cases volumes, batch 8, a fresh random
            permutation each epoch, each slice moved by whole pixels in
            [-shift, shift] in y and x (image filled with 0, label with 0);
  selection 3-D Dice on the --val-cases volumes every --val-every steps
            (organs absent from both reference and prediction excluded), the
            best network kept; evaluation mode (running batch-norm
            statistics) for validation and test.
Test: per-volume, per-organ 3-D Dice of the best network on --test-cases,
written as dice-eval --tsv writes it (DIR/dice.tsv), and the training log
as JSON lines (DIR/train.jsonl).

    ft_ref.py --frames F --cases TRAIN --val-cases VAL --test-cases TEST -o DIR
              [--steps 2500] [--seed 1] [--shift 4] [--batch 8] [--val-every 250]
              [--threads 1] [--smooth 1e-5] [--schedule const|cosine]
"""
import argparse
import json
import math
import os
import sys
import time

import msgpack
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "py"))
from torch_models import UNet  # noqa: E402


def read_ids(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def load(path, ids):
    """{id: (images (n, H, W) float32, labels (n, H, W) int64)} in z order, and class names."""
    want, vols, classes = set(ids), {}, None
    with open(path, "rb") as f:
        for r in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 31):
            if r.get("type") != "data" or r.get("id") not in want:
                continue
            t = r["tensors"]
            img = np.frombuffer(t["image"]["data"], t["image"]["type"]).reshape(t["image"]["shape"])
            lab = np.frombuffer(t["label"]["data"], t["label"]["type"]).reshape(t["label"]["shape"])
            vols.setdefault(r["id"], []).append((r["z"], img.astype(np.float32), lab.astype(np.int64)))
            classes = classes or (r.get("meta") or {}).get("classes")
    out = {}
    for i in ids:
        if i not in vols:
            sys.exit(f"ft_ref.py: volume {i} has no slices in {path}")
        s = sorted(vols[i], key=lambda v: v[0])
        out[i] = (np.stack([v[1] for v in s]), np.stack([v[2] for v in s]))
    return out, classes


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.unet = UNet({"in_ch": 1, "widths": [16, 32, 64, 128, 256], "out_ch": 64, "norm": "batch",
                          "groups": 8, "bn_momentum": 0.1, "eps": 1e-5})
        self.head = nn.Conv2d(64, classes, 1)

    def forward(self, x):
        return self.head(self.unet(x))


def loss_fn(z, y, C, smooth=1e-5):
    p = torch.softmax(z, 1)
    oh = F.one_hot(y, C).permute(0, 3, 1, 2).to(z.dtype)
    dims = (0, 2, 3)
    dice = (2 * (p * oh).sum(dims) + smooth) / (p.sum(dims) + oh.sum(dims) + smooth)
    return F.cross_entropy(z, y) + 1 - dice[1:].mean()


def shifted(img, lab, dy, dx):
    H, W = img.shape
    x = np.zeros_like(img)
    y = np.zeros_like(lab)
    ys, yd = (dy, 0) if dy >= 0 else (0, -dy)
    xs, xd = (dx, 0) if dx >= 0 else (0, -dx)
    h, w = H - abs(dy), W - abs(dx)
    if h > 0 and w > 0:
        x[yd:yd + h, xd:xd + w] = img[ys:ys + h, xs:xs + w]
        y[yd:yd + h, xd:xd + w] = lab[ys:ys + h, xs:xs + w]
    return x, y


def predict(net, img, batch=8):
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(img), batch):
            out.append(net(torch.from_numpy(img[i:i + batch, None])).argmax(1).numpy())
    net.train()
    return np.concatenate(out)


def dice3d(ref, pred, C):
    """[(status, dice)] for organs 1..C-1, as dice-eval counts them."""
    res = []
    for c in range(1, C):
        r, p = ref == c, pred == c
        nr, np_ = int(r.sum()), int(p.sum())
        if not nr and not np_:
            res.append(("absent", float("nan")))
        elif not np_:
            res.append(("missed", 0.0))
        elif not nr:
            res.append(("spurious", 0.0))
        else:
            res.append(("ok", 2.0 * int((r & p).sum()) / (nr + np_)))
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", required=True)
    ap.add_argument("--cases", required=True)
    ap.add_argument("--val-cases", required=True)
    ap.add_argument("--test-cases", required=True)
    ap.add_argument("-o", dest="out", required=True)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shift", type=int, default=4)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--val-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smooth", type=float, default=1e-5)
    ap.add_argument("--schedule", choices=("const", "cosine"), default="const")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tr_ids, va_ids, te_ids = read_ids(a.cases), read_ids(a.val_cases), read_ids(a.test_cases)
    data, classes = load(a.frames, tr_ids + va_ids + te_ids)
    C = len(classes) if classes else int(max(v[1].max() for v in data.values())) + 1
    names = classes or [str(c) for c in range(C)]
    X = np.concatenate([data[i][0] for i in tr_ids])
    Y = np.concatenate([data[i][1] for i in tr_ids])
    net = Net(C)
    base_lr = 1e-3
    opt = torch.optim.Adam(net.parameters(), lr=base_lr, weight_decay=1e-4)
    log = open(os.path.join(a.out, "train.jsonl"), "w")
    best, best_step, best_state = -1.0, 0, None
    perm, pos, t0 = rng.permutation(len(X)), 0, time.time()
    for step in range(1, a.steps + 1):
        xb, yb = [], []
        for _ in range(a.batch):
            if pos == len(perm):
                perm, pos = rng.permutation(len(X)), 0
            i = perm[pos]
            pos += 1
            dy, dx = rng.integers(-a.shift, a.shift + 1, 2) if a.shift else (0, 0)
            x, y = shifted(X[i], Y[i], int(dy), int(dx))
            xb.append(x)
            yb.append(y)
        if a.schedule == "cosine":
            for group in opt.param_groups:
                group["lr"] = base_lr * (1 + math.cos(math.pi * (step - 1) / a.steps)) / 2
        z = net(torch.from_numpy(np.stack(xb)[:, None]))
        loss = loss_fn(z, torch.from_numpy(np.stack(yb)), C, a.smooth)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            log.write(json.dumps({"step": step, "loss": loss.item(), "lr": opt.param_groups[0]["lr"],
                                  "time": time.time() - t0}) + "\n")
        if step % a.val_every == 0 or step == a.steps:
            scores = [d for i in va_ids for s, d in dice3d(data[i][1], predict(net, data[i][0]), C)
                      if s != "absent"]
            v = float(np.mean(scores)) if scores else float("nan")
            if v > best:
                best, best_step = v, step
                best_state = {k: t.clone() for k, t in net.state_dict().items()}
            log.write(json.dumps({"step": step, "val_dice": v, "best_dice": best, "best_step": best_step,
                                  "time": time.time() - t0}) + "\n")
            log.flush()
    net.load_state_dict(best_state)
    with open(os.path.join(a.out, "dice.tsv"), "w") as f:
        f.write("id\torgan\tlabel\tstatus\tdice\n")
        for i in te_ids:
            for c, (s, d) in enumerate(dice3d(data[i][1], predict(net, data[i][0]), C), 1):
                f.write(f"{i}\t{names[c]}\t{c}\t{s}\t{'nan' if s == 'absent' else f'{d:.4f}'}\n")
    log.write(json.dumps({"done": True, "best_step": best_step, "best_dice": best, "time": time.time() - t0}) + "\n")


if __name__ == "__main__":
    main()
