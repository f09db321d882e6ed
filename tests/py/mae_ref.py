"""One MAE step of lrc-train --method mae (libcommon/pretrain/mae.h) in
PyTorch: the encoder and decoder of models_mae.py (transcribed in
vit_ref.py) with the C test's weights, batch and masks, and MAE's
forward_loss with norm_pix_loss, written from models_mae.py. Compares the
loss, the metric (the loss of the kept patches) and every gradient.

    mae_ref.py DIR

DIR holds model.safetensors (the trainer's checkpoint before the step) and
out.safetensors (xq (B, H, W), keep (B, K) the kept patches in the
encoder's order, loss, metric, grad.PREFIXNAME of every trained tensor,
after.PREFIXNAME its value after the AdamW step at lr 1e-3).
Tolerances: loss and metric 1e-5 relative; each gradient's largest
difference 1e-4 of its largest magnitude; the weights after the step 1e-6
(absolute). Exit status 1 above them.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import load_safetensors  # noqa: E402
from vit_ref import maedec, rel, vit  # noqa: E402

torch.set_num_threads(1)


def patchify(imgs, p):
    """models_mae.py's patchify, for H x W grids: (N, L, p p C)."""
    N, C, H, W = imgs.shape
    h, w = H // p, W // p
    x = imgs.reshape(N, C, h, p, w, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(N, h * w, p * p * C)


def forward_loss(imgs, pred, mask, p):
    """models_mae.py's forward_loss with norm_pix_loss = True."""
    target = patchify(imgs, p)
    mean = target.mean(dim=-1, keepdim=True)
    var = target.var(dim=-1, keepdim=True)
    target = (target - mean) / (var + 1.0e-6) ** 0.5
    loss = ((pred - target) ** 2).mean(dim=-1)
    return (loss * mask).sum() / mask.sum(), (loss * (1 - mask)).sum() / (1 - mask).sum()


def main(d):
    params, meta = load_safetensors(os.path.join(d, "model.safetensors"))
    out, _ = load_safetensors(os.path.join(d, "out.safetensors"))
    ecfg, dcfg = json.loads(meta["config"]), json.loads(meta["decoder.config"])
    ratio = json.loads(meta["mae"])["mask_ratio"]
    p = {k: v.clone().requires_grad_(True) for k, v in params.items() if not k.startswith("optim")}
    imgs = out["xq"][:, None]
    B, _, H, W = imgs.shape
    P = ecfg["patch"]
    keep = out["keep"].long()
    L, K = (H // P) * (W // P), keep.shape[1]
    assert K == int(L * (1 - ratio)), (K, L, ratio)
    cfg = {"K": K, "P": P, "H": H, "W": W, "keep": keep.flatten().tolist()}
    lat = vit(imgs, p, dict(cfg, NH=ecfg["heads"], depth=ecfg["depth"]))
    dp = {k[len("decoder."):]: v for k, v in p.items() if k.startswith("decoder.")}
    pred = maedec(lat, dp, dict(cfg, NH=dcfg["heads"], depth=dcfg["depth"]))
    mask = torch.ones(B, L)
    mask.scatter_(1, keep, 0.0)
    loss, visible = forward_loss(imgs, pred, mask, P)
    loss.backward()
    ok = True
    for name, c, t in (("loss", out["loss"], loss), ("metric", out["metric"], visible)):
        e = abs(c.double().item() - t.item()) / abs(t.item())
        print("mae: %s C %.8f torch %.8f (rel %.1e)" % (name, c.double().item(), t.item(), e))
        ok &= e <= 1e-5
    worst = (0, "")
    for name, x in p.items():
        e = rel(out["grad." + name], x.grad)
        worst = max(worst, (e, name))
        ok &= e <= 1e-4
    print("mae: %d gradients, largest max rel diff %.1e (%s)" % (len(p), worst[0], worst[1]))
    # AdamW as main_pretrain.py sets it up (optim_factory.add_weight_decay: no
    # decay on 1-D tensors and biases), from the C gradients, so that rounding
    # noise in a gradient that is 0 in exact arithmetic cannot flip Adam's
    # first update: the optimiser alone is compared
    q = {k: v.clone().requires_grad_(True) for k, v in params.items() if not k.startswith("optim")}
    for k, v in q.items():
        v.grad = out["grad." + k].clone()
    decay = [v for k, v in q.items() if v.ndim > 1 and not k.endswith(".bias")]
    no_decay = [v for k, v in q.items() if v.ndim <= 1 or k.endswith(".bias")]
    opt = torch.optim.AdamW([{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": 0.05}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    opt.step()
    worst = (0, "")
    for k, v in q.items():
        e = (out["after." + k].double() - v.detach().double()).abs().max().item()
        worst = max(worst, (e, k))
        ok &= e <= 1e-6
    print("mae: AdamW step (%d tensors, %d exempt from decay): largest |diff| %.1e (%s)" % (len(q), len(no_decay),
                                                                                        worst[0], worst[1]))
    return ok


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1]) else 1)
