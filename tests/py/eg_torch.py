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
from torch_models import MLP, Projector, ResNet, load_safetensors  # noqa: E402


def load_parts(path):
    """{prefix: module} of every model in an egtrainer checkpoint ("" is Eg),
    in training mode, and the metadata."""
    tensors, meta = load_safetensors(path)
    prefixes = sorted((k[: -len("model")] for k in meta if k.endswith("model")), key=len, reverse=True)
    kinds = {"resnet": ResNet, "projector": Projector, "mlp": MLP}
    parts = {p: kinds[meta[p + "model"]](json.loads(meta[p + "config"])) for p in prefixes}
    sds = {p: {} for p in prefixes}
    for k, v in tensors.items():
        if k.startswith("optim"):
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


def step_loss(method, parts, xq, xp, pos=None, P=None):
    """(loss, metric, samples the metric counts) of one step on xq, xp (B, H, W).
    relloc: pos (B, 5) = label, centre y, x, neighbour y, x; P the patch side."""
    B = xq.shape[0]
    eg = parts[""]
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
