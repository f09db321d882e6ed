#!/usr/bin/python3
"""The LRC training step in PyTorch, for bench/lrc.sh: the reference lrcpipe's
lrc_trainer_step is measured against.

Usage: lrc_ref.py PAIRS.msgpack BATCH STEPS REPS [THREADS [WIDTHS D]]

The same step as libcommon/pretrain/lrctrainer.c: both views of BATCH pairs through
the U-Net of unet.h in one batch of 2*BATCH, N = 50 pixels drawn per region
and view (vectorised: pixels sorted by label; one gather for the batch), region means,
L2 normalisation, the local loss as printed in the paper (tau 0.1), backward,
Adam (beta1 0.9, weight decay 1e-4). Prints the best pairs/s of REPS runs of
STEPS steps (after one warm-up step), as "pairs_per_s X", for the better of
the two memory layouts (NCHW and channels-last; oneDNN prefers the latter),
and "layout NAME (both rates)".

Run it as PyTorch is at its best on this machine (bench/lrc.sh does):
OPENBLAS_NUM_THREADS=1, jemalloc preloaded with
MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1, THREADS (default 2).
"""
import sys

import msgpack
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from steprate import best_rate, report_layouts


def cbr(i, o):
    return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]


class UNet(nn.Module):
    """unet.h: 4 levels, widths w1..w5, skip first in each concatenation."""

    def __init__(self, w=(16, 32, 64, 128, 256), D=64):
        super().__init__()
        self.enc = nn.ModuleList()
        for lvl in range(5):
            i = 1 if lvl == 0 else w[lvl - 1]
            self.enc.append(nn.Sequential(*cbr(i, w[lvl]), *cbr(w[lvl], w[lvl])))
        self.up = nn.ModuleList([nn.ConvTranspose2d(w[l + 1], w[l], 2, 2) for l in range(4)])
        self.dec = nn.ModuleList([nn.Sequential(*cbr(2 * w[l], w[l]), *cbr(w[l], w[l])) for l in range(4)])
        self.head = nn.Conv2d(w[0], D, 1)

    def forward(self, x):
        skips = []
        for lvl in range(5):
            if lvl:
                x = F.max_pool2d(x, 2)
            x = self.enc[lvl](x)
            skips.append(x)
        for l in range(3, -1, -1):
            x = self.dec[l](torch.cat([skips[l], self.up[l](x)], 1))
        return self.head(x)


def read_pairs(path):
    def g(t):
        return np.frombuffer(t["data"], dtype=t["type"]).reshape(t["shape"])

    pairs = []
    with open(path, "rb") as f:
        for r in msgpack.Unpacker(f, raw=False, max_buffer_size=1 << 30):
            if r.get("type") != "data":
                continue
            t = r["tensors"]
            pairs.append(tuple(g(t[n]).copy() for n in ("image", "image_p", "regions", "regions_p")))
    return pairs


def sample(reg, N, gen):
    """[K, N] flat indices, N per label present in both maps (as lrcloss.c)."""
    rq, rp = reg
    K = int(max(rq.max(), rp.max())) + 1
    out = []
    for r in (rq, rp):
        flat = r.reshape(-1)
        valid = flat >= 0
        order = torch.argsort(torch.where(valid, flat, K), stable=True)
        counts = torch.bincount(flat[valid], minlength=K)
        out.append((order, counts))
    both = (out[0][1] > 0) & (out[1][1] > 0)
    idx = []
    for order, counts in out:
        offs = torch.cumsum(counts, 0) - counts
        c = counts[both]
        u = torch.rand(int(both.sum()), N, generator=gen)
        idx.append(order[offs[both][:, None] + (u * c[:, None]).long()])
    return idx


def lrc_loss_means(q, p, tau):
    """The printed local loss per region, on raw means q, p [K, D]."""
    q = F.normalize(q, dim=1)
    p = F.normalize(p, dim=1)
    logits = torch.cat([q @ q.T, q @ p.T], 1) / tau
    K = q.shape[0]
    return (torch.logsumexp(logits, 1) - logits[torch.arange(K), K + torch.arange(K)]).mean()


def batch_loss(f, samples, N, tau):
    """f [2B, D, H, W]; samples[b] = (iq, ip) [K_b, N]. ONE gather for the
    whole batch (f3[b, :, pixel]): per-view indexing (f[b][:, iq]) would make
    autograd build a zero gradient of all of f for every pair."""
    B2, D = f.shape[0], f.shape[1]
    B = B2 // 2
    f3 = f.reshape(B2, D, -1)
    img, pix, ks = [], [], []
    for b, (iq, ip) in enumerate(samples):
        K = iq.shape[0]
        ks.append(K)
        img += [torch.full((K * N,), b), torch.full((K * N,), B + b)]
        pix += [iq.reshape(-1), ip.reshape(-1)]
    means = f3[torch.cat(img), :, torch.cat(pix)].reshape(-1, N, D).mean(1)  # [2 sum K, D]
    loss, o = 0, 0
    for K in ks:
        loss = loss + lrc_loss_means(means[o : o + K], means[o + K : o + 2 * K], tau)
        o += 2 * K
    return loss / len(ks)


def main():
    path, B, steps, reps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
    widths = tuple(int(v) for v in sys.argv[6].split(",")) if len(sys.argv) > 6 else (16, 32, 64, 128, 256)
    D = int(sys.argv[7]) if len(sys.argv) > 7 else 64
    torch.set_num_threads(threads)
    pairs = read_pairs(path)
    regs = [(torch.from_numpy(p[2].astype(np.int64)), torch.from_numpy(p[3].astype(np.int64))) for p in pairs]
    imgs = [(torch.from_numpy(p[0]), torch.from_numpy(p[1])) for p in pairs]
    results = []
    # oneDNN is much faster on channels-last tensors on this CPU; "at its best"
    # means the better of the two layouts
    for layout in ("nchw", "channels_last"):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        net = UNet(widths, D)
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        net = net.to(memory_format=fmt)
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4)
        k = 0

        def step():
            nonlocal k
            sel = [(k + i) % len(pairs) for i in range(B)]
            k += B
            x = torch.stack([imgs[i][0] for i in sel] + [imgs[i][1] for i in sel])[:, None]
            f = net(x.contiguous(memory_format=fmt))
            loss = batch_loss(f, [sample(regs[i], 50, gen) for i in sel], 50, 0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            return loss.item()

        results.append((best_rate(step, B, steps, reps), layout))
    report_layouts(results)


if __name__ == "__main__":
    main()
