"""PyTorch twin of seg-finetune's network (libcommon/models/segnet.h) and loss
(libcommon/finetune/segloss.h), built on tests/py/torch_models.py.

A seg-finetune checkpoint loads into SegNet.from_checkpoint as it is
(load_state_dict(strict=True) on the tensors without the "optim." prefix).

    segnet_torch.py check CKPT X.npy OUT.npy [CKPT X.npy OUT.npy ...]

writes the logits (N, C, H, W) of the network in CKPT, in evaluation mode
(batch norm with its running statistics), for the input X (N, 1, H, W).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import ResDec, ResNet, UNet, load_safetensors  # noqa: E402

ARCHS = {"global+local": ("g", "l"), "global+global": ("g", "g"), "global": ("g",), "local": ("l",)}


def resdec_config_for(enc):
    """resnet.h's resdec_config_for: skips from the encoder, U-Net widths, D = 64."""
    r = ResNet(enc)
    return {"skip_ch": r.stage_ch, "dec_widths": [16, 32, 64, 128], "out_ch": 64, "norm": enc["norm"],
            "groups": enc["groups"], "bn_momentum": enc["bn_momentum"], "eps": enc["eps"]}


class SegNet(nn.Module):
    def __init__(self, arch, classes, enc_cfgs, dec_cfgs, unet_cfg):
        super().__init__()
        self.kinds = ARCHS[arch]
        ch, gi = 0, 0
        for k in self.kinds:
            if k == "g":
                sfx = "" if gi == 0 else "2"
                setattr(self, "eg" + sfx, ResNet(enc_cfgs[gi]))
                setattr(self, "dg" + sfx, ResDec(dec_cfgs[gi]))
                ch += dec_cfgs[gi]["out_ch"]
                gi += 1
            else:
                self.unet = UNet(unet_cfg)
                ch += unet_cfg["out_ch"]
        self.head = nn.Conv2d(ch, classes, 1)

    @staticmethod
    def from_checkpoint(path):
        t, m = load_safetensors(path)
        cfg = lambda k: json.loads(m[k]) if k in m else None
        net = SegNet(m["arch"], cfg("head.config")["classes"], [cfg("eg.config"), cfg("eg2.config")],
                     [cfg("dg.config"), cfg("dg2.config")], cfg("unet.config"))
        net.load_state_dict({k: v for k, v in t.items() if not k.startswith("optim.")}, strict=True)
        return net

    def forward(self, x):
        feats, gi = [], 0
        for k in self.kinds:
            if k == "g":
                sfx = "" if gi == 0 else "2"
                stages, _ = getattr(self, "eg" + sfx)(x)
                feats.append(getattr(self, "dg" + sfx)(stages[:4], stages[4]))
                gi += 1
            else:
                feats.append(self.unet(x))
        return self.head(torch.cat(feats, 1))


def seg_loss(z, y, smooth=1.0, ce_weight=0.0):
    """segloss.h: per-batch soft Dice over classes 1..C-1 (+ ce_weight x mean CE)."""
    C = z.shape[1]
    p = torch.softmax(z, dim=1)
    onehot = F.one_hot(y, C).permute(0, 3, 1, 2).to(z.dtype)
    dims = (0, 2, 3)
    dice = (2 * (p * onehot).sum(dims) + smooth) / (p.sum(dims) + onehot.sum(dims) + smooth)
    loss = 1 - dice[1:].mean()
    if ce_weight:
        loss = loss + ce_weight * F.cross_entropy(z, y)
    return loss


def main():
    a = sys.argv[1:]
    if not a or a[0] != "check":
        sys.exit(__doc__)
    torch.set_num_threads(1)
    for i in range(1, len(a), 3):
        net = SegNet.from_checkpoint(a[i]).eval()
        x = torch.from_numpy(np.load(a[i + 1]))
        with torch.no_grad():
            np.save(a[i + 2], net(x).numpy())


if __name__ == "__main__":
    main()
