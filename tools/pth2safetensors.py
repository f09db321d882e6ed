#!/usr/bin/python3
"""Convert a PyTorch checkpoint (.pth, .pt: a state dict, or a dict holding
one under "state_dict" or "model") to a safetensors file, for
`seg-finetune --global` (a torchvision ResNet-18, 34 or 50, e.g. the
ImageNet weights torchvision downloads as resnet50-0676ba61.pth).

Usage: pth2safetensors.py IN.pth OUT.safetensors

Tensors keep their names (a leading "module." of DataParallel is dropped)
and dtypes (float32 stays F32, num_batches_tracked int64 stays I64; float16
and float64 become F32). Needs PyTorch only (Debian's python3-torch).
"""
import json
import struct
import sys

import torch

DT = {torch.float32: ("F32", torch.float32), torch.float16: ("F32", torch.float32),
      torch.float64: ("F32", torch.float32), torch.bfloat16: ("F32", torch.float32),
      torch.int64: ("I64", torch.int64), torch.int32: ("I32", torch.int32), torch.uint8: ("U8", torch.uint8)}


def convert(src, dst):
    """src (.pth) to dst (safetensors); the number of tensors written."""
    obj = torch.load(src, map_location="cpu")
    for key in ("state_dict", "model"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(torch.is_tensor(v) for v in obj.values()):
        sys.exit("pth2safetensors.py: %s holds no state dict of tensors" % src)
    header, blobs, off = {}, [], 0
    for name, t in obj.items():
        if name.startswith("module."):
            name = name[len("module."):]
        if t.dtype not in DT:
            sys.exit("pth2safetensors.py: %s has dtype %s" % (name, t.dtype))
        st, dt = DT[t.dtype]
        b = t.detach().to(dt).contiguous().numpy().tobytes()
        header[name] = {"dtype": st, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    return len(header)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: pth2safetensors.py IN.pth OUT.safetensors")
    try:
        n = convert(sys.argv[1], sys.argv[2])
    except (OSError, RuntimeError, ValueError, EOFError) as e:
        sys.exit("pth2safetensors.py: %s" % e)
    print("%s: %d tensors" % (sys.argv[2], n))


if __name__ == "__main__":
    main()
