#!/usr/bin/python3
"""Reference side of tests/test_fz.c: scikit-image's felzenszwalb on the same
float values fz-superpixel sees.

  fz_ref.py slices OUT.fr VOLUME.nii.gz:Z:LO:HI ...
      slice frames (image [Y,X] float32 = clip((HU-LO)/(HI-LO), 0, 1) of the
      axial slice Z, as [Y,X] with x fastest) written as an lrcpipe stream
  fz_ref.py compare IN.fr OUT.fr --scale K --sigma S --min-size N
                    [--body T] [--min-pixels N] [--ari MIN] [+ OUT2.fr OPTIONS ...]
      run skimage.segmentation.felzenszwalb(image, K, S, N) on every input
      slice and compare it with the `regions` of fz-superpixel's output, pixel
      for pixel; with --body/--min-pixels apply the same post-processing with
      scipy.ndimage (largest 4-connected component above T, holes filled).
      With --ari, a slice passes when the adjusted Rand index is >= MIN
      (equality is still reported). One line per slice; exit 1 on a failure.
      Several outputs of the same input, each with its options, follow '+'.

Only numpy, scipy, scikit-image, nibabel and msgpack (Debian 12).
"""
import sys
import time

import msgpack
import numpy as np

DT = {"<f4": np.float32, "<f8": np.float64, "|u1": np.uint8, "<u1": np.uint8, "|i1": np.int8,
      "<i2": np.int16, "<i4": np.int32, "<i8": np.int64}


def k(m, name):
    """msgpack-numpy writes bin keys, lrcpipe str keys: accept both."""
    if name in m:
        return m[name]
    return m.get(name.encode())


def arr_from(m):
    t = k(m, "type")
    t = t.decode() if isinstance(t, bytes) else t
    return np.frombuffer(k(m, "data"), dtype=DT[t]).reshape(k(m, "shape"))


def arr_to(a):
    a = np.ascontiguousarray(a)
    return {"nd": True, "type": a.dtype.str, "kind": b"", "shape": list(a.shape), "data": a.tobytes()}


def read_stream(path):
    out = []
    with open(path, "rb") as f:
        for rec in msgpack.Unpacker(f, raw=False, strict_map_key=False, max_buffer_size=1 << 31):
            if rec.get("type") == "data":
                out.append(rec)
    return out


def cmd_slices(out, specs):
    import nibabel as nib
    recs = [{"v": 1, "type": "start", "producer": "fz_ref.py", "version": "1", "params": {}}]
    cache = {}
    for n, spec in enumerate(specs):
        path, z, lo, hi = spec.rsplit(":", 3)
        z, lo, hi = int(z), float(lo), float(hi)
        if path not in cache:
            cache[path] = np.asanyarray(nib.load(path).dataobj)
        vol = cache[path]
        sl = np.ascontiguousarray(vol[:, :, z].T).astype(np.float32)
        img = np.clip((sl - np.float32(lo)) / np.float32(hi - lo), 0, 1).astype(np.float32)
        vid = path.rsplit("/", 1)[-1].split(".")[0]
        recs.append({"v": 1, "type": "data", "id": vid, "seq": n, "z": z, "meta": {"window": [lo, hi]},
                     "tensors": {"image": arr_to(img)}})
    recs.append({"v": 1, "type": "end", "count": len(specs)})
    with open(out, "wb") as f:
        for r in recs:
            f.write(msgpack.packb(r, use_bin_type=True))


def ari(a, b):
    a = np.unique(a.ravel(), return_inverse=True)[1]
    b = np.unique(b.ravel(), return_inverse=True)[1]
    n = a.size
    pair = a.astype(np.int64) * (b.max() + 1) + b
    nij = np.unique(pair, return_counts=True)[1].astype(np.float64)
    ai = np.bincount(a).astype(np.float64)
    bj = np.bincount(b).astype(np.float64)
    c2 = lambda x: x * (x - 1) / 2
    sij, sa, sb, sn = c2(nij).sum(), c2(ai).sum(), c2(bj).sum(), c2(float(n))
    exp = sa * sb / sn if sn else 0.0
    mx = (sa + sb) / 2
    return 1.0 if mx == exp else (sij - exp) / (mx - exp)


def post(reg, img, body, min_pixels):
    from scipy import ndimage as ndi
    reg = reg.astype(np.int64).copy()
    if body is not None:
        above = img.astype(np.float64) > body
        lab, n = ndi.label(above)  # 4-connected in 2-D
        if n:
            sizes = np.bincount(lab.ravel())
            sizes[0] = 0
            mask = ndi.binary_fill_holes(lab == sizes.argmax())  # background 4-connected
        else:
            mask = np.zeros_like(above)
        reg[~mask] = -1
    if min_pixels:
        ids, cnt = np.unique(reg[reg >= 0], return_counts=True)
        small = ids[cnt < min_pixels]
        reg[np.isin(reg, small)] = -1
    flat = reg.ravel()
    keep = flat >= 0
    ids, first = np.unique(flat[keep], return_index=True)
    order = np.argsort(first)  # raster order of each id's first pixel
    newid = np.empty(len(ids), np.int64)
    newid[order] = np.arange(len(ids))
    out = np.full(flat.shape, -1, np.int64)
    out[keep] = newid[np.searchsorted(ids, flat[keep])]
    return out.reshape(reg.shape), len(ids)


def cmd_compare(inp, rest):
    groups, cur = [], []
    for a in rest:
        if a == "+":
            groups.append(cur)
            cur = []
        else:
            cur.append(a)
    groups.append(cur)
    return max(compare_one(inp, g[0], g[1:]) for g in groups)


def compare_one(inp, outp, args):
    from skimage.segmentation import felzenszwalb
    opts = {"--scale": 1.0, "--sigma": 0.8, "--min-size": 20, "--body": None, "--min-pixels": 0, "--ari": None}
    it = iter(args)
    for a in it:
        opts[a] = float(next(it))
    ins, outs = read_stream(inp), read_stream(outp)
    if len(ins) != len(outs):
        print("record count differs: %d in, %d out" % (len(ins), len(outs)))
        return 1
    fails = 0
    for r_in, r_out in zip(ins, outs):
        img = arr_from(r_in["tensors"]["image"])
        mine = arr_from(r_out["tensors"]["regions"])
        t0 = time.perf_counter()
        ref = felzenszwalb(img, scale=opts["--scale"], sigma=opts["--sigma"], min_size=int(opts["--min-size"]))
        dt = time.perf_counter() - t0
        K = int(ref.max()) + 1
        if opts["--body"] is not None or opts["--min-pixels"]:
            ref, K = post(ref, img, opts["--body"], int(opts["--min-pixels"]))
        meta_k = r_out.get("meta", {}).get("K")
        ndiff = int((mine != ref).sum())
        line = "seq %s %s z=%s %dx%d scale=%g sigma=%g min_size=%d: K=%d (meta %s), %d of %d pixels differ, skimage %.0f ms" % (
            r_out.get("seq"), r_out.get("id"), r_out.get("z"), img.shape[0], img.shape[1], opts["--scale"],
            opts["--sigma"], opts["--min-size"], K, meta_k, ndiff, mine.size, dt * 1e3)
        ok = ndiff == 0
        if opts["--ari"] is not None:
            a = ari(mine, ref)
            line += ", ARI %.6f" % a
            ok = a >= opts["--ari"]
        if meta_k != int(mine.max()) + 1 or meta_k != len(np.unique(mine[mine >= 0])):
            line += ", meta K disagrees with the regions"
            ok = False
        if r_out["tensors"]["regions"]["type"] != "<i4":
            line += ", regions dtype is not <i4"
            ok = False
        print(("ok   " if ok else "FAIL ") + line)
        fails += not ok
    return 1 if fails else 0


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "slices":
        return cmd_slices(sys.argv[2], sys.argv[3:]) or 0
    if len(sys.argv) >= 4 and sys.argv[1] == "compare":
        return cmd_compare(sys.argv[2], sys.argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
