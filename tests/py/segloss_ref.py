"""PyTorch reference of seg-finetune's loss (libcommon/finetune/segloss.h).

    segloss_ref.py DIR SMOOTH CE_WEIGHT [DIR SMOOTH CE_WEIGHT ...]

(one interpreter for several cases: importing torch is the slow part) reads DIR/logits.npy (N, C, H, W) float32 and DIR/label.npy (N, H, W) uint8,
and writes DIR/ref_loss.npy [L, L_dice, L_ce] and DIR/ref_grad.npy (N, C, H, W),
both float64: the loss is computed in float64 with torch autograd from the
definition (softmax, per-batch soft Dice over classes 1..C-1 with smoothing
in numerator and denominator, mean cross-entropy), independently of the C code.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F


def one(d, smooth, ce_weight):
    z = torch.tensor(np.load(d + "/logits.npy").astype(np.float64), requires_grad=True)
    y = torch.tensor(np.load(d + "/label.npy").astype(np.int64))
    C = z.shape[1]
    p = torch.softmax(z, dim=1)
    onehot = F.one_hot(y, C).permute(0, 3, 1, 2).to(torch.float64)
    dims = (0, 2, 3)
    inter = (p * onehot).sum(dims)
    den = p.sum(dims) + onehot.sum(dims)
    dice = (2 * inter + smooth) / (den + smooth)
    l_dice = 1 - dice[1:].mean()
    l_ce = F.cross_entropy(z, y, reduction="mean")
    loss = l_dice + ce_weight * l_ce
    loss.backward()
    np.save(d + "/ref_loss.npy", np.array([loss.item(), l_dice.item(), l_ce.item()]))
    np.save(d + "/ref_grad.npy", z.grad.numpy())


if __name__ == "__main__":
    a = sys.argv[1:]
    for i in range(0, len(a), 3):
        one(a[i], float(a[i + 1]), float(a[i + 2]))
