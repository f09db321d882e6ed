"""The global pre-training methods of libcommon/pretrain/egtrainer.h in
PyTorch: their parts loaded from an lrcpipe checkpoint, and one step's loss.
Used by tests/py/eg_ref.py (gradients against lrcpipe's) and
bench/global_ref.py (the step's speed).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import MLP, Projector, ResDec, ResNet, load_safetensors  # noqa: E402


def load_parts(path):
    """{prefix: module} of every model in an egtrainer checkpoint ("" is Eg),
    in training mode, and the metadata."""
    tensors, meta = load_safetensors(path)
    prefixes = sorted((k[: -len("model")] for k in meta if k.endswith("model")), key=len, reverse=True)
    kinds = {"resnet": ResNet, "resdec": ResDec, "projector": Projector, "mlp": MLP}
    parts = {p: kinds[meta[p + "model"]](json.loads(meta[p + "config"])) for p in prefixes}
    sds = {p: {} for p in prefixes}
    for k, v in tensors.items():
        if k.startswith("optim") or k.startswith("densecl."):
            continue
        p = next(p for p in prefixes if k.startswith(p))
        sds[p][k[len(p):]] = v
    for p, m in parts.items():
        m.load_state_dict(sds[p], strict=True)
        m.train(True)
    return parts, meta


def partner_cos(p, z):
    """cos(p_i, z_(i + B) mod 2B) for the 2B rows: each view against the other's."""
    B = p.shape[0] // 2
    return (F.normalize(p, dim=1) * F.normalize(z, dim=1).roll(B, 0)).sum(1)


def norm_std(z):
    """The collapse indicator: std over the batch of the L2-normalised rows, mean over channels."""
    return F.normalize(z, dim=1).std(0).mean()


def relloc_geom(patch, gap, jitter, H, W):
    """relloc.h's geometry: (patch, gap, jitter), -1 = the default for H x W."""
    S = min(H, W)
    P = patch if patch >= 0 else 16 * (S // 64)
    G = gap if gap >= 0 else P // 2
    room = (S - 3 * P - 2 * G) // 2
    J = jitter if jitter >= 0 else max(0, min(int(round(7 * P / 96)), room))
    return P, G, J


def infonce(q, k, queue, tau):
    """MoCo's InfoNCE of normalised q, k (N, D) against queue (K, D): the loss
    (mean over N) and the top-1 hits."""
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = q @ queue.t()
    logits = torch.cat([l_pos, l_neg], 1) / tau
    loss = F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long))
    return loss, (l_pos[:, 0] > l_neg.max(1)[0]).double().sum()


def densecl_enc(parts, pre, x):
    """DenseCL's encoder ("" the query's, "key" the key's) on x (n, 1, H, W): the global projection (n, D), the
    dense projections (n, D, S^2) by 1x1 convolutions (the dense head's Linear
    weights as Conv2d kernels) and Eg's last map (n, C4, S^2)."""
    stages, pooled = parts[pre + "." if pre else ""](x)
    z = parts[pre + "_head." if pre else "head."](pooled)
    dh = parts[pre + "_dense_head." if pre else "dense_head."]
    f = stages[-1]
    h = F.relu(F.conv2d(f, dh.fc1.weight[:, :, None, None], dh.fc1.bias))
    d = F.conv2d(h, dh.fc2.weight[:, :, None, None], dh.fc2.bias)
    return z, d.flatten(2), f.flatten(2)


def densecl_loss(parts, xq, xp, cfg, queue, queue2, perm):
    """DenseCL's loss as WXinlong/DenseCL's densecl.py computes it, with
    MoCo's shuffle-BN as lrcpipe runs it: the keys' sub-batches in the order
    perm, the queries' in order. The keys for queue and queue2 (B, D) are
    left in densecl_loss.keys."""
    B, tau, lam = xq.shape[0], cfg["tau"], cfg["dense_weight"]
    G = cfg["bn_splits"] if cfg["bn_splits"] > 1 and B % cfg["bn_splits"] == 0 else 1
    n = B // G
    ks = [None] * B
    with torch.no_grad():
        for g in range(G):
            idx = perm[g * n : (g + 1) * n]
            z, d, f = densecl_enc(parts, "key", xp[idx][:, None])
            for i, b in enumerate(idx.tolist()):
                # queue2's key: the mean of the raw dense projections, normalised
                ks[b] = (F.normalize(z[i], dim=0), F.normalize(d[i], dim=0), F.normalize(f[i], dim=0),
                         F.normalize(d[i].mean(1), dim=0))
    loss, hits = 0, 0
    for g in range(G):
        sl = slice(g * n, (g + 1) * n)
        k = torch.stack([ks[b][0] for b in range(B)][sl])
        k_grid = torch.stack([ks[b][1] for b in range(B)][sl])
        k_b = torch.stack([ks[b][2] for b in range(B)][sl])
        z, d, f = densecl_enc(parts, "", xq[sl][:, None])
        q, q_grid, q_b = F.normalize(z, dim=1), F.normalize(d, dim=1), F.normalize(f, dim=1)
        lg, h = infonce(q, k, queue, tau)
        sim = torch.matmul(q_b.permute(0, 2, 1), k_b)  # n, S^2 (q), S^2 (k)
        ind = sim.max(dim=2)[1]
        indexed = torch.gather(k_grid, 2, ind.unsqueeze(1).expand(-1, k_grid.size(1), -1))
        rows_q = q_grid.permute(0, 2, 1).reshape(-1, q_grid.size(1))
        rows_k = indexed.permute(0, 2, 1).reshape(-1, q_grid.size(1))
        ld, _ = infonce(rows_q, rows_k, queue2, tau)
        loss = loss + ((1 - lam) * lg + lam * ld) * n / B
        hits += h
    densecl_loss.keys = (torch.stack([ks[b][0] for b in range(B)]), torch.stack([ks[b][3] for b in range(B)]))
    return loss, hits / B


def genesis_loss(parts, x, y):
    """Models Genesis's restoration loss, as the authors' UNet3D and
    Genesis_Chest_CT.py compute it (a sigmoid output, nn.MSELoss), on the
    transformed inputs x and targets y (B, H, W): Dg on Eg's stages, the
    head's Linear(64, 1) as a 1x1 convolution. The metric: x's own MSE."""
    stages, _ = parts[""](x[:, None])
    f = parts["dg."](stages[:4], stages[4])
    h = parts["head."]
    p = torch.sigmoid(F.conv2d(f, h.fc.weight[:, :, None, None], h.fc.bias))
    return F.mse_loss(p, y[:, None]), F.mse_loss(x.double(), y.double())


def step_loss(method, parts, xq, xp, pos=None, P=None, extra=None):
    """(loss, metric, samples the metric counts) of one step on xq, xp (B, H, W).
    relloc: pos (B, 5) = label, centre y, x, neighbour y, x; P the patch side.
    densecl: extra = (settings, queue, queue2, perm). genesis: extra = (the
    transformed inputs, the targets) (B, H, W)."""
    B = xq.shape[0]
    eg = parts[""]
    if method == "densecl":
        loss, acc = densecl_loss(parts, xq, xp, *extra)
        return loss, acc, B
    if method == "genesis":
        loss, m = genesis_loss(parts, *extra)
        return loss, m, 1
    if method == "rotation":
        x = torch.stack([torch.rot90(xq[b], k, dims=(0, 1)) for b in range(B) for k in range(4)])[:, None]
        logits = parts["head."](eg(x)[1])
        labels = torch.arange(4).repeat(B)
    elif method == "relloc":
        crop = lambda b, y, x: xq[b, y : y + P, x : x + P]
        cen = torch.stack([crop(b, pos[b, 1], pos[b, 2]) for b in range(B)])
        nei = torch.stack([crop(b, pos[b, 3], pos[b, 4]) for b in range(B)])
        pooled = eg(torch.cat([cen, nei])[:, None])[1]
        logits = parts["head."](torch.cat([pooled[:B], pooled[B:]], 1))
        labels = pos[:, 0]
    elif method in ("byol", "simsiam"):
        x = torch.cat([xq, xp])[:, None]
        if method == "byol":
            with torch.no_grad():
                zt = parts["target_proj."](parts["target."](x)[1])
        z = parts["proj."](eg(x)[1])
        p = parts["pred."](z)
        if method == "byol":
            loss = (2 - 2 * partner_cos(p, zt)).sum() / B
        else:
            loss = -partner_cos(p, z.detach()).mean()
        return loss, norm_std(z.detach()), 1
    else:
        raise ValueError("unknown method " + method)
    loss = F.cross_entropy(logits, labels)
    return loss, (logits.argmax(1) == labels).double().mean(), logits.shape[0]
