"""The transformer layers of lrcpipe (nn.h, tblock.h) in PyTorch, written
from the layers' definitions (torch.nn.functional), on the inputs, weights
and output weights R the C test used: the output and the gradients of
sum(out * R) compared with lrcpipe's.

    vit_ref.py KIND FILE [KIND FILE]...

KIND: ln, gelu, attn, patch, block, vit, maedec, vitpup, pos. FILE holds in.NAME, grad.NAME,
out, R and the shapes as metadata "cfg" (JSON). Prints the largest
differences, relative to the largest magnitude of torch's tensor; exit
status 1 when one is above 1e-4 (pos: 1e-6, both in float from the same
double values).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import load_safetensors  # noqa: E402

torch.set_num_threads(1)
TOL = 1e-4


def attention(x, qw, qb, pw, pb, nh):
    """timm's Attention: qkv linear, heads, softmax(q k^T / sqrt(hs)) v, proj."""
    B, T, C = x.shape
    hs = C // nh
    qkv = F.linear(x, qw, qb).reshape(B, T, 3, nh, hs).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]
    att = (q @ k.transpose(-2, -1) * hs ** -0.5).softmax(dim=-1)
    return F.linear((att @ v).transpose(1, 2).reshape(B, T, C), pw, pb)


def block(x, p, nh, eps=1e-6):
    """The pre-norm block: x + attn(LN1 x); x + fc2(GELU(fc1(LN2 x)))."""
    C = x.shape[-1]
    x = x + attention(F.layer_norm(x, (C,), p["norm1.weight"], p["norm1.bias"], eps),
                      p["attn.qkv.weight"], p["attn.qkv.bias"], p["attn.proj.weight"], p["attn.proj.bias"], nh)
    h = F.layer_norm(x, (C,), p["norm2.weight"], p["norm2.bias"], eps)
    return x + F.linear(F.gelu(F.linear(h, p["mlp.fc1.weight"], p["mlp.fc1.bias"])), p["mlp.fc2.weight"],
                        p["mlp.fc2.bias"])


def sincos_2d(D, gh, gw):
    """MAE's get_2d_sincos_pos_embed (util/pos_embed.py), for a gh x gw grid."""
    def one_d(d, pos):
        omega = np.arange(d // 2, dtype=np.float64) / (d / 2.0)
        omega = 1.0 / 10000 ** omega
        out = np.einsum("m,d->md", pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)
    grid = np.meshgrid(np.arange(gw, dtype=np.float32), np.arange(gh, dtype=np.float32))
    return np.concatenate([one_d(D // 2, grid[0]), one_d(D // 2, grid[1])], axis=1)


def sub(p, prefix):
    return {k[len(prefix):]: v for k, v in p.items() if k.startswith(prefix)}


def vit(img, p, cfg):
    """models_mae.py's forward_encoder with the kept patches given (cfg keep, K)."""
    B, K = img.shape[0], cfg["K"]
    x = F.conv2d(img, p["patch_embed.proj.weight"], p["patch_embed.proj.bias"], stride=cfg["P"])
    gh, gw = x.shape[2], x.shape[3]
    D = x.shape[1]
    pos = torch.from_numpy(sincos_2d(D, gh, gw)).float()
    x = x.flatten(2).transpose(1, 2) + pos[None]
    keep = torch.tensor(cfg["keep"]).reshape(B, K)
    x = torch.gather(x, 1, keep[:, :, None].expand(-1, -1, D))
    x = torch.cat([p["cls_token"].expand(B, -1, -1), x], dim=1)
    for i in range(cfg["depth"]):
        x = block(x, sub(p, "blocks.%d." % i), cfg["NH"])
    return F.layer_norm(x, (D,), p["norm.weight"], p["norm.bias"], 1e-6)


def maedec(lat, p, cfg):
    """models_mae.py's forward_decoder: ids_restore from the kept patches."""
    B, K = lat.shape[0], cfg["K"]
    gh, gw = cfg["H"] // cfg["P"], cfg["W"] // cfg["P"]
    L = gh * gw
    keep = torch.tensor(cfg["keep"]).reshape(B, K)
    # ids_shuffle: the kept patches first, then the others; ids_restore its inverse
    shuffle = torch.stack([torch.cat([k, torch.tensor([l for l in range(L) if l not in k.tolist()])]) for k in keep])
    restore = torch.argsort(shuffle, dim=1)
    x = F.linear(lat, p["decoder_embed.weight"], p["decoder_embed.bias"])
    Dd = x.shape[2]
    mask = p["mask_token"].repeat(B, L + 1 - x.shape[1], 1)
    x_ = torch.cat([x[:, 1:, :], mask], dim=1)
    x_ = torch.gather(x_, 1, restore[:, :, None].expand(-1, -1, Dd))
    x = torch.cat([x[:, :1, :], x_], dim=1)
    pos = torch.cat([torch.zeros(1, Dd), torch.from_numpy(sincos_2d(Dd, gh, gw)).float()])
    x = x + pos[None]
    for i in range(cfg["depth"]):
        x = block(x, sub(p, "decoder_blocks.%d." % i), cfg["NH"])
    x = F.layer_norm(x, (Dd,), p["decoder_norm.weight"], p["decoder_norm.bias"], 1e-6)
    return F.linear(x, p["decoder_pred.weight"], p["decoder_pred.bias"])[:, 1:, :]


def vitpup(tok, p, cfg):
    """SETR-PUP as vitpup.h builds it: patch tokens to a map, conv3x3 + batch
    norm (batch statistics) + ReLU, then per stage 2x bilinear and the same."""
    B, _, D = tok.shape
    gh, gw = cfg["H"] // cfg["P"], cfg["W"] // cfg["P"]
    x = tok[:, 1:, :].transpose(1, 2).reshape(B, D, gh, gw)
    for s in range(len(cfg["widths"])):
        if s:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        x = F.conv2d(x, p["stages.%d.conv.weight" % s], padding=1)
        x = F.relu(F.batch_norm(x, None, None, p["stages.%d.bn.weight" % s], p["stages.%d.bn.bias" % s],
                                training=True, eps=1e-5))
    return x


def rel(a, b):
    return (a.double() - b.double()).abs().max().item() / max(b.double().abs().max().item(), 1e-12)


def main(kind, path):
    t, meta = load_safetensors(path)
    cfg = json.loads(meta["cfg"])
    if kind == "pos":
        ref = torch.from_numpy(sincos_2d(cfg["D"], cfg["GH"], cfg["GW"])).float()
        e = rel(t["out"], ref)
        print("pos: max rel diff %.1e" % e)
        return e <= 1e-6
    ins = {k[3:]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("in.")}
    if kind == "ln":
        out = F.layer_norm(ins["x"], (cfg["C"],), ins["weight"], ins["bias"], 1e-6)
    elif kind == "gelu":
        out = F.gelu(ins["x"])
    elif kind == "attn":
        out = attention(ins["x"], ins["qkv.weight"], ins["qkv.bias"], ins["proj.weight"], ins["proj.bias"],
                        cfg["NH"])
    elif kind == "patch":
        out = F.conv2d(ins["img"], ins["weight"], ins["bias"], stride=cfg["P"]).flatten(2).transpose(1, 2)
    elif kind == "block":
        out = block(ins["x"], ins, cfg["NH"])
    elif kind == "vit":
        out = vit(ins["img"], ins, cfg)
    elif kind == "maedec":
        out = maedec(ins["lat"], ins, cfg)
    elif kind == "vitpup":
        out = vitpup(ins["tok"], ins, cfg)
    else:
        raise SystemExit("unknown kind " + kind)
    (out * t["R"]).sum().backward()
    ok = True
    e = rel(t["out"], out.detach())
    print("%s: out max rel diff %.1e" % (kind, e))
    ok &= e <= TOL
    for name, x in ins.items():
        if x.grad is None or (kind == "vit" and name == "img"):
            continue
        e = rel(t["grad." + name], x.grad)
        print("%s: grad %-20s max rel diff %.1e" % (kind, name, e))
        ok &= e <= TOL
    return ok


if __name__ == "__main__":
    args = sys.argv[1:]
    ok = all([main(args[i], args[i + 1]) for i in range(0, len(args), 2)])
    print("vit_ref.py: %d cases, %s" % (len(args) // 2, "all within tolerance" if ok else "FAILED"))
    sys.exit(0 if ok else 1)
