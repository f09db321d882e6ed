"""PyTorch twins of lrcpipe's models (libcommon/models/unet.h, resnet.h, mlp.h).

The modules have exactly the tensor names of the C models' checkpoints, so
`model.load_state_dict(load_safetensors(path)[0], strict=True)` takes a file
written by ckpt.h as it is. Used by the tests (tests/py/torch_ref.py) and the
benchmark (bench/engine_torch.py).
"""
import json
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

_DT = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32,
       "I16": np.int16, "I8": np.int8, "U8": np.uint8}


def load_safetensors(path):
    """(tensors, metadata) of a safetensors file, parsed in a few lines."""
    with open(path, "rb") as f:
        b = f.read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    meta = h.pop("__metadata__", {})
    out = {}
    for k, v in h.items():
        s, e = v["data_offsets"]
        a = np.frombuffer(b[8 + n + s:8 + n + e], dtype=_DT[v["dtype"]]).reshape(v["shape"])
        out[k] = torch.from_numpy(a.copy())
    return out, meta


def save_safetensors(path, tensors):
    hdr, off, blobs = {}, 0, []
    for k, t in tensors.items():
        a = np.ascontiguousarray(t.detach().cpu().numpy().astype(np.float32))
        hdr[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(hdr).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def _norm(kind, c, groups, momentum, eps):
    if kind == "group":
        return nn.GroupNorm(groups, c, eps=eps)
    return nn.BatchNorm2d(c, eps=eps, momentum=momentum)


class CBR(nn.Module):
    """Two conv3x3 + norm + ReLU, named conv1/bn1/conv2/bn2 (gn for group norm)."""

    def __init__(self, cin, cout, cfg):
        super().__init__()
        n = "gn" if cfg["norm"] == "group" else "bn"
        self.n = n
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        setattr(self, n + "1", _norm(cfg["norm"], cout, cfg["groups"], cfg["bn_momentum"], cfg["eps"]))
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        setattr(self, n + "2", _norm(cfg["norm"], cout, cfg["groups"], cfg["bn_momentum"], cfg["eps"]))

    def forward(self, x):
        x = F.relu(getattr(self, self.n + "1")(self.conv1(x)))
        return F.relu(getattr(self, self.n + "2")(self.conv2(x)))


class DecLevel(CBR):
    def __init__(self, below, skip, w, cfg):
        super().__init__(skip + w, w, cfg)
        self.up = nn.ConvTranspose2d(below, w, 2, 2)

    def forward(self, below, skip):
        return super().forward(torch.cat([skip, self.up(below)], 1))


class Decoder(nn.Module):
    """dec4..dec1 + head: the U-Net decoder of unet.h, also resnet.h's Dg."""

    def __init__(self, skip_ch, bottom_ch, widths, out_ch, cfg):
        super().__init__()
        for k in range(3, -1, -1):
            below = bottom_ch if k == 3 else widths[k + 1]
            setattr(self, "dec%d" % (k + 1), DecLevel(below, skip_ch[k], widths[k], cfg))
        self.head = nn.Conv2d(widths[0], out_ch, 1)

    def forward(self, skips, bottom):
        h = bottom
        for k in range(3, -1, -1):
            h = getattr(self, "dec%d" % (k + 1))(h, skips[k])
        return self.head(h)


class UNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        w = cfg["widths"]
        ins = [cfg["in_ch"]] + w[:4]
        for l in range(4):
            setattr(self, "enc%d" % (l + 1), CBR(ins[l], w[l], cfg))
        self.mid = CBR(w[3], w[4], cfg)
        dec = Decoder(w[:4], w[4], w[:4], cfg["out_ch"], cfg)
        for k in range(1, 5):  # flat names: dec1.*, head.*
            setattr(self, "dec%d" % k, getattr(dec, "dec%d" % k))
        self.head = dec.head

    def forward(self, x):
        skips, h = [], x
        for l in range(4):
            h = getattr(self, "enc%d" % (l + 1))(h if l == 0 else F.max_pool2d(h, 2))
            skips.append(h)
        h = self.mid(F.max_pool2d(h, 2))
        for k in range(3, -1, -1):
            h = getattr(self, "dec%d" % (k + 1))(h, skips[k])
        return self.head(h)


class Block(nn.Module):
    """torchvision's BasicBlock / Bottleneck; stride s, a shortcut convolution
    where the stride or the width changes."""

    def __init__(self, cin, w, s, bottleneck, cfg):
        super().__init__()
        n = "gn" if cfg["norm"] == "group" else "bn"
        mk = lambda c: _norm(cfg["norm"], c, cfg["groups"], cfg["bn_momentum"], cfg["eps"])
        self.n, self.bottleneck = n, bottleneck
        if bottleneck:
            cout = 4 * w
            self.conv1 = nn.Conv2d(cin, w, 1, bias=False)
            self.conv2 = nn.Conv2d(w, w, 3, stride=s, padding=1, bias=False)
            self.conv3 = nn.Conv2d(w, cout, 1, bias=False)
            for i, c in ((1, w), (2, w), (3, cout)):
                setattr(self, n + str(i), mk(c))
        else:
            cout = w
            self.conv1 = nn.Conv2d(cin, w, 3, stride=s, padding=1, bias=False)
            self.conv2 = nn.Conv2d(w, w, 3, padding=1, bias=False)
            for i in (1, 2):
                setattr(self, n + str(i), mk(w))
        ds = s != 1 or cin != cout
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=s, bias=False), mk(cout)) if ds else None

    def forward(self, x):
        nm = lambda i: getattr(self, self.n + str(i))
        h = F.relu(nm(1)(self.conv1(x)))
        if self.bottleneck:
            h = F.relu(nm(2)(self.conv2(h)))
            h = nm(3)(self.conv3(h))
        else:
            h = nm(2)(self.conv2(h))
        sc = self.downsample(x) if self.downsample is not None else x
        return F.relu(h + sc)


class ResNet(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        width = cfg["width"]
        wf = lambda base: max(1, int(round(base * width)))
        bott = cfg["depth"] == 50
        layout = [2, 2, 2, 2] if cfg["depth"] == 18 else [3, 4, 6, 3]
        c0 = wf(64)
        self.tv = cfg.get("stem", "3x3") == "torchvision"  # conv1 7x7/2 + max pool 3x3/2, layer1 at stride 1
        if self.tv:
            self.conv1 = nn.Conv2d(cfg["in_ch"], c0, 7, stride=2, padding=3, bias=False)
        else:
            self.conv1 = nn.Conv2d(cfg["in_ch"], c0, 3, padding=1, bias=False)
        n = "gn" if cfg["norm"] == "group" else "bn"
        self.n = n
        setattr(self, n + "1", _norm(cfg["norm"], c0, cfg["groups"], cfg["bn_momentum"], cfg["eps"]))
        cin = c0
        self.stage_ch = [c0]
        for s in range(4):
            w = wf(64 << s)
            blocks = []
            for b in range(layout[s]):
                blocks.append(Block(cin, w, (1 if self.tv and s == 0 else 2) if b == 0 else 1, bott, cfg))
                cin = 4 * w if bott else w
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
            self.stage_ch.append(cin)

    def forward(self, x):
        h = F.relu(getattr(self, self.n + "1")(self.conv1(x)))
        stages = [h]
        if self.tv:
            h = F.max_pool2d(h, 3, 2, 1)
        for s in range(4):
            h = getattr(self, "layer%d" % (s + 1))(h)
            stages.append(h)
        return stages, h.mean(dim=(2, 3))


class ResDec(Decoder):
    def __init__(self, cfg):
        super().__init__(cfg["skip_ch"][:4], cfg["skip_ch"][4], cfg["dec_widths"], cfg["out_ch"], cfg)
        self.upsample = cfg.get("upsample", 1)

    def forward(self, skips, bottom):
        f = super().forward(skips, bottom)
        if self.upsample == 2:
            f = F.interpolate(f, scale_factor=2, mode="bilinear", align_corners=False)
        return f


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.fc1 = nn.Linear(cfg["in"], cfg["hidden"])
        self.fc2 = nn.Linear(cfg["hidden"], cfg["out"])

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class Projector(nn.Module):
    """projector.h: Linear (+ BatchNorm1d) (+ ReLU) layers, fc{i}/bn{i} (fc/bn for one layer)."""

    def __init__(self, cfg):
        super().__init__()
        d, self.cfg = cfg["dims"], cfg
        self.n = len(d) - 1
        for i in range(self.n):
            s = "" if self.n == 1 else str(i + 1)
            setattr(self, "fc" + s, nn.Linear(d[i], d[i + 1], bias=bool(cfg["bias"][i])))
            if cfg["bn"][i]:
                setattr(self, "bn" + s, nn.BatchNorm1d(d[i + 1], eps=cfg["eps"], momentum=cfg["bn_momentum"],
                                                       affine=cfg["bn"][i] == 1))

    def forward(self, x):
        for i in range(self.n):
            s = "" if self.n == 1 else str(i + 1)
            x = getattr(self, "fc" + s)(x)
            if self.cfg["bn"][i]:
                x = getattr(self, "bn" + s)(x)
            if self.cfg["relu"][i]:
                x = F.relu(x)
        return x
