"""Seed corpus for fuzz_ckpt: real checkpoints written by lrcpipe's own filters
(lrc-train --init for lrc and moco, one-step seg-finetunes on data/sample;
those above run.sh's -max_len only as variants), in
the small configurations fuzz_ckpt.c builds its trainers with, and variants of
each made by rewriting the real header: shapes clamped to 2, no padding (data
not 8-aligned), one tensor dropped, dtypes changed, metadata removed.

    /usr/bin/python3 seed_ckpt.py ROOT OUTDIR
"""
import json
import os
import struct
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    subprocess.run(cmd, shell=True, check=True, **kw)


def real(root, tmp):
    b = os.path.join(root, "bin")
    s = os.path.join(root, "data", "sample")
    lrc, moco, seg, seggl = (os.path.join(tmp, n) for n in ("lrc.st", "moco.st", "seg.st", "seggl.st"))
    run(f"{b}/lrc-train -q --method lrc --init --widths 1,2,2,2,2 --dim 2 -c {lrc}")
    run(f"{b}/lrc-train -q --method moco --init --width 0.01 --queue 2 --embed-dim 1 -c {moco}")
    slices = os.path.join(tmp, "slices")
    run(f"{b}/ct-resample -q {s}/subj03_ct.nii.gz --label {s}/subj03_seg.nii.gz "
        f"--labels-json {s}/labels.json -s 10,8,8 | {b}/slice-extract -q --size 32,32 --every 4 "
        f"> {slices} 2>/dev/null")
    tune = f"{b}/seg-finetune -q --steps 1 --batch 2 --val-every 0 --threads 1 < {slices}"
    run(f"{tune} -c {seg} --arch local --local {lrc}")
    run(f"{tune} -c {seggl} --global {moco} --local {lrc}")  # 5 MB: its random Dg
    return [lrc, moco, seg, seggl]


def load(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def dump(header, data, pad=True):
    h = json.dumps(header).encode()
    if pad:
        h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


MAX_LEN = 131072  # run.sh's -max_len for fuzz_ckpt
SIZES = {"F32": 4, "F64": 8, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1}


def rebuild(header, data, shape=lambda s: s, dtype=lambda d: d, keep=lambda k: True):
    """Re-lay the data for new shapes/dtypes (bytes from the original, cycled)."""
    out, buf, off = {}, b"", 0
    for k, v in header.items():
        if k == "__metadata__":
            out[k] = v
            continue
        if not keep(k):
            continue
        b0, b1 = v["data_offsets"]
        src = data[b0:b1] or b"\0"
        sh, dt = shape(v["shape"]), dtype(v["dtype"])
        n = SIZES[dt]
        for d in sh:
            n *= d
        chunk = (src * (n // len(src) + 1))[:n]
        out[k] = {"dtype": dt, "shape": sh, "data_offsets": [off, off + n]}
        buf += chunk
        off += n
    return out, buf


def main():
    root, outdir = sys.argv[1], sys.argv[2]
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for path in real(root, tmp):
            name = os.path.basename(path).split(".")[0]
            raw = open(path, "rb").read()
            if len(raw) <= MAX_LEN:
                open(os.path.join(outdir, name), "wb").write(raw)
            h, d = load(path)
            names = [k for k in h if k != "__metadata__"]
            variants = {
                "small": rebuild(h, d, shape=lambda s: [min(x, 2) for x in s]),
                "drop": rebuild(h, d, keep=lambda k: k != names[len(names) // 2]),
                "f64": rebuild(h, d, dtype=lambda t: "F64" if t == "F32" else t),
                "i32": rebuild(h, d, dtype=lambda t: "I32" if t == "I64" else t,
                               shape=lambda s: [min(x, 1) for x in s]),
                "nometa": rebuild({k: v for k, v in h.items() if k != "__metadata__"}, d,
                                  shape=lambda s: [min(x, 3) for x in s]),
            }
            for tag, (hh, dd) in variants.items():
                if len(dd) <= MAX_LEN:
                    open(os.path.join(outdir, f"{name}_{tag}"), "wb").write(dump(hh, dd))
            hh, dd = variants["small"]
            open(os.path.join(outdir, f"{name}_nopad"), "wb").write(dump(hh, dd, pad=False))
    # a minimal file: one U8 tensor, empty metadata
    open(os.path.join(outdir, "tiny"), "wb").write(
        dump({"__metadata__": {}, "x": {"dtype": "U8", "shape": [3], "data_offsets": [0, 3]}},
             b"abc"))


if __name__ == "__main__":
    main()
