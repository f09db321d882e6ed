#!/usr/bin/python3
"""Direct PyTorch re-computation of lrcpipe's losses, for tests/test_lrcloss.c.

  lrc_ref.py lrc DIR TAU NORMALIZE EXCLUDE_SELF [DIR TAU NORMALIZE EXCLUDE_SELF]...
      for each DIR: reads DIR/fq.npy, fp.npy [D,H,W] f32, iq.npy, ip.npy [K,N] int32 (flat
      pixel indices), writes DIR/ref_loss.npy [1], ref_dfq.npy, ref_dfp.npy
      (float64): the local loss per region, as the paper prints it, and its
      gradient by autograd.
  lrc_ref.py moco DIR TAU
      reads DIR/q.npy, k.npy [B,C], queue.npy [Kq,C] f32; writes ref_loss.npy,
      ref_dq.npy: MoCo's InfoNCE (cross-entropy, positive at index 0) and its
      gradient with respect to q.

Everything runs in float64 on the float32 inputs, written as the formulas
read (no log-sum-exp rewriting), so it is independent of the C code's form.
"""
import sys

import numpy as np
import torch
import torch.nn.functional as F


def lrc(d, tau, normalize, exclude_self):
    fq = torch.tensor(np.load(d + "/fq.npy").astype(np.float64), requires_grad=True)
    fp = torch.tensor(np.load(d + "/fp.npy").astype(np.float64), requires_grad=True)
    iq = torch.tensor(np.load(d + "/iq.npy").astype(np.int64))
    ip = torch.tensor(np.load(d + "/ip.npy").astype(np.int64))
    D = fq.shape[0]
    K = iq.shape[0]
    q = fq.reshape(D, -1)[:, iq].mean(dim=2).T  # [K, D]
    p = fp.reshape(D, -1)[:, ip].mean(dim=2).T
    if normalize:
        q = F.normalize(q, dim=1)
        p = F.normalize(p, dim=1)
    a = torch.exp(q @ q.T / tau)
    b = torch.exp(q @ p.T / tau)
    if exclude_self:
        a = a * (1 - torch.eye(K, dtype=a.dtype))
    den = a.sum(dim=1) + b.sum(dim=1)
    loss = -torch.log(torch.diagonal(b) / den).sum() / K
    loss.backward()
    np.save(d + "/ref_loss.npy", np.array([loss.item()]))
    np.save(d + "/ref_dfq.npy", fq.grad.numpy())
    np.save(d + "/ref_dfp.npy", fp.grad.numpy())


def moco(d, tau):
    q = torch.tensor(np.load(d + "/q.npy").astype(np.float64), requires_grad=True)
    k = torch.tensor(np.load(d + "/k.npy").astype(np.float64))
    queue = torch.tensor(np.load(d + "/queue.npy").astype(np.float64))
    lpos = (q * k).sum(dim=1, keepdim=True)
    lneg = q @ queue.T
    logits = torch.cat([lpos, lneg], dim=1) / tau
    loss = F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
    loss.backward()
    np.save(d + "/ref_loss.npy", np.array([loss.item()]))
    np.save(d + "/ref_dq.npy", q.grad.numpy())


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "lrc":
        a = sys.argv[2:]
        for i in range(0, len(a), 4):
            lrc(a[i], float(a[i + 1]), int(a[i + 2]), int(a[i + 3]))
    elif sys.argv[1] == "moco":
        moco(sys.argv[2], float(sys.argv[3]))
    else:
        sys.exit("unknown mode " + sys.argv[1])
