#!/usr/bin/python3
"""Reference checks for elastic-aug (tests/test_elastic.c drives them).

  slices OUT [--size N] --ct CT [--seg SEG] --z Z1,Z2,.. [--ct CT2 ...]
      real axial slices of NIfTI CTs (HU window [-1000, 1000] -> [0, 1]),
      optionally zoomed to N x N (order 1; labels order 0), with
      skimage.segmentation.felzenszwalb regions (the air around the body
      becomes -1), written as slice frames (image f4, regions i4, label u1,
      meta K), as fz-superpixel writes them.
  check PAIRS SLICES FIELDS [--tol T] [--min-pixels N] [--labels]
      every pair against scipy.ndimage.map_coordinates(mode='reflect') on
      its field: image_p (order 1, with the record's intensity jitter
      re-applied when its noise is 0), regions and regions_p (order 0, then
      the pruning and renumbering recomputed here), label_p (order 0);
      Kq == Kp == meta K and a one-to-one correspondence of regions.
  blur IN.npy OUT.npy SIGMA [--tol T]
      OUT against scipy.ndimage.gaussian_filter(IN, SIGMA, mode='reflect').
  field SLICES OUT
      a hand-made field file for SLICES with hard coordinates: far outside
      the grid, on integers and half-integers, tiny negatives, -0.5, n-0.5.

Prints the largest differences; exits 1 on a failed check.
"""
import sys

import msgpack
import numpy as np
from scipy import ndimage as ndi

DT = {"<f4": np.float32, "<f8": np.float64, "|u1": np.uint8, "<u1": np.uint8, "|i1": np.int8,
      "<i2": np.int16, "<i4": np.int32, "<i8": np.int64}


def k(x):
    return x.decode() if isinstance(x, bytes) else x


def read_frames(path):
    """Data records of a stream as dicts: id, seq, z, meta, tensors (numpy)."""
    out = []
    with open(path, "rb") as f:
        for rec in msgpack.Unpacker(f, raw=False, strict_map_key=False):
            rec = {k(a): b for a, b in rec.items()}
            if rec.get("type") != "data":
                continue
            ts = {}
            for name, arr in rec.get("tensors", {}).items():
                arr = {k(a): b for a, b in arr.items()}
                ts[k(name)] = np.frombuffer(arr["data"], dtype=DT[k(arr["type"])]).reshape(arr["shape"]).copy()
            rec["tensors"] = ts
            rec["meta"] = {k(a): b for a, b in (rec.get("meta") or {}).items()}
            out.append(rec)
    return out


def arr(a):
    a = np.ascontiguousarray(a)
    return {"nd": True, "type": a.dtype.str, "kind": b"", "shape": list(a.shape), "data": a.tobytes()}


def write_frames(path, recs):
    with open(path, "wb") as f:
        for i, r in enumerate(recs):
            f.write(msgpack.packb({"v": 1, "type": "data", "id": r.get("id", "x"), "seq": i, "z": r.get("z", -1),
                                   "meta": r.get("meta", {}),
                                   "tensors": {n: arr(t) for n, t in r["tensors"].items()}}, use_bin_type=True))
        f.write(msgpack.packb({"v": 1, "type": "end", "count": len(recs)}, use_bin_type=True))


def cmd_slices(argv):
    out, groups, size = argv[0], [], 0
    for key, val in zip(argv[1::2], argv[2::2]):  # each --ct starts a group; --seg, --z belong to it
        if key == "--ct":
            groups.append({"--ct": val})
        elif key == "--size":
            size = int(val)
        else:
            groups[-1][key] = val
    recs = []
    for g in groups:
        recs += volume_slices(g, size)
    write_frames(out, recs)
    print("%d slices, K %s" % (len(recs), [r["meta"]["K"] for r in recs]))
    return 0


def volume_slices(opts, size):
    import nibabel as nib
    from skimage.segmentation import felzenszwalb
    ct = np.asarray(nib.load(opts["--ct"]).dataobj).astype(np.float32)
    seg = np.asarray(nib.load(opts["--seg"]).dataobj).astype(np.uint8) if "--seg" in opts else None
    name = opts["--ct"].split("/")[-1].split("_")[0]
    recs = []
    for z in [int(v) for v in opts["--z"].split(",")]:
        img = np.clip((ct[:, :, z].T + 1000.0) / 2000.0, 0, 1).astype(np.float32)  # [Y, X]
        lab = seg[:, :, z].T.copy() if seg is not None else None
        if size and size != img.shape[0]:
            f = (size / img.shape[0], size / img.shape[1])
            img = ndi.zoom(img, f, order=1, mode="nearest").astype(np.float32)
            if lab is not None:
                lab = ndi.zoom(lab, f, order=0, mode="nearest")
        reg = felzenszwalb(img.astype(np.float64), scale=100, sigma=0.5, min_size=max(10, img.size // 2000))
        reg = reg.astype(np.int64)
        reg[img < 0.3] = -1  # air: no region
        used = np.unique(reg[reg >= 0])
        lut = np.full(reg.max() + 2, -1, np.int64)
        lut[used + 1] = np.arange(len(used))
        reg = lut[reg + 1].astype(np.int32)
        ts = {"image": img, "regions": reg}
        if lab is not None:
            ts["label"] = lab
        recs.append({"id": name, "z": z, "meta": {"K": int(len(used)), "note": "passes through"}, "tensors": ts})
    return recs


def prune(rq, rp, K, m):
    cq = np.bincount(rq[rq >= 0], minlength=K)
    cp = np.bincount(rp[rp >= 0], minlength=K)
    keep = (cq >= m) & (cp >= m) & (cq > 0) & (cp > 0)
    lut = np.full(K + 1, -1, np.int64)
    lut[1:][keep] = np.arange(keep.sum())
    return lut[rq + 1].astype(np.int32), lut[rp + 1].astype(np.int32), int(keep.sum())


def jitter(v, m):
    b, c, g = np.float32(m["brightness"]), np.float32(m["contrast"]), np.float32(m["gamma"])
    v = v.copy()
    if m["gamma"] != 1.0:
        pos = v > 0
        v[pos] = np.power(v[pos], g)
    if m["contrast"] != 1.0 or m["brightness"] != 0.0:
        v = c * v + b
    return v


def cmd_check(argv):
    pairs, slices, fields = read_frames(argv[0]), read_frames(argv[1]), read_frames(argv[2])
    opts = argv[3:]
    tol = float(opts[opts.index("--tol") + 1]) if "--tol" in opts else 1e-5
    m = int(opts[opts.index("--min-pixels") + 1]) if "--min-pixels" in opts else 16
    labels = "--labels" in opts
    bad = 0
    worst = 0.0
    jittered = 0
    if len(pairs) != len(fields):
        print("%d pairs but %d field records" % (len(pairs), len(fields)))
        return 1
    for i, (p, fr) in enumerate(zip(pairs, fields)):
        s = slices[fr["meta"]["index"]]
        field = fr["tensors"]["field"]
        t = p["tensors"]
        ref = ndi.map_coordinates(s["tensors"]["image"], field, order=1, mode="reflect")
        if fr["meta"].get("noise", 0) == 0:
            want = jitter(ref, fr["meta"])
            jittered += fr["meta"].get("contrast", 1) != 1 or fr["meta"].get("gamma", 1) != 1
            d = float(np.max(np.abs(want - t["image_p"]))) if want.size else 0.0
            worst = max(worst, d)
            if not d <= tol:
                print("pair %d: image_p differs from map_coordinates by %g (tolerance %g)" % (i, d, tol))
                bad += 1
        if not np.array_equal(t["image"], s["tensors"]["image"]):
            print("pair %d: image is not the input image" % i)
            bad += 1
        rq = s["tensors"]["regions"]
        rp = ndi.map_coordinates(rq, field, order=0, mode="reflect")
        K = int(s["meta"].get("K", rq.max() + 1))
        wq, wp, Kn = prune(rq, rp, K, m)
        if not (np.array_equal(wq, t["regions"]) and np.array_equal(wp, t["regions_p"])):
            print("pair %d: regions/regions_p differ from the reference (%d, %d pixels)" %
                  (i, int((wq != t["regions"]).sum()), int((wp != t["regions_p"]).sum())))
            bad += 1
        Kq = len(np.unique(t["regions"][t["regions"] >= 0]))
        Kp = len(np.unique(t["regions_p"][t["regions_p"] >= 0]))
        if not (p["meta"]["K"] == Kn == Kq == Kp) or (Kq and t["regions"].max() != Kq - 1) or \
                (Kp and t["regions_p"].max() != Kp - 1):
            print("pair %d: K meta %s, expected %d, Kq %d, Kp %d" % (i, p["meta"]["K"], Kn, Kq, Kp))
            bad += 1
        # One-to-one: each kept input region maps to one output id, the same in both views.
        sel = t["regions"] >= 0
        pairs_q = set(zip(rq[sel].tolist(), t["regions"][sel].tolist()))
        if len({a for a, _ in pairs_q}) != len(pairs_q) or len({b for _, b in pairs_q}) != len(pairs_q):
            print("pair %d: the renumbering is not one-to-one" % i)
            bad += 1
        if any(p["meta"].get(key) != val for key, val in s["meta"].items() if key != "K"):
            print("pair %d: meta did not pass through" % i)
            bad += 1
        if labels and "label" in s["tensors"]:
            lp = ndi.map_coordinates(s["tensors"]["label"], field, order=0, mode="reflect")
            if "label_p" not in t or not np.array_equal(lp, t["label_p"]):
                print("pair %d: label_p differs from map_coordinates(order=0)" % i)
                bad += 1
    print("%d pairs, largest |image_p - scipy| %.3g (tolerance %g), %d with contrast/gamma jitter, %d failed" %
          (len(pairs), worst, tol, jittered, bad))
    return 1 if bad else 0


def cmd_blur(argv):
    a, b, sigma = np.load(argv[0]), np.load(argv[1]), float(argv[2])
    tol = float(argv[argv.index("--tol") + 1]) if "--tol" in argv else 1e-6
    ref = ndi.gaussian_filter(a.astype(np.float64), sigma, mode="reflect", truncate=4.0)
    d = float(np.max(np.abs(ref - b)))
    print("blur sigma %g on %s: largest |C - scipy| %.3g (tolerance %g)" % (sigma, a.shape, d, tol))
    return 0 if d <= tol else 1


def cmd_field(argv):
    slices = read_frames(argv[0])
    rng = np.random.default_rng(7)
    recs = []
    for i, s in enumerate(slices):
        Y, X = s["tensors"]["image"].shape
        f = np.empty((2, Y, X), np.float32)
        for ax, n in ((0, Y), (1, X)):
            special = np.array([-1e-16, -1e-15, -2e-15, -0.5, -0.49999997, -1, -1.5, -2.5, n - 0.5, n - 1,
                                n - 1 + 1e-6, n, n + 0.5, 2 * n, 2 * n - 0.5, -2 * n, -2 * n - 0.5, 0, 0.5,
                                -3 * n - 0.25, 5 * n + 0.75, 1e4, -1e4], np.float64)
            c = rng.uniform(-3 * n, 4 * n, Y * X)
            c[: len(special)] = special
            c[len(special): len(special) + 400] = np.round(rng.uniform(-2 * n, 3 * n, 400) * 2) / 2
            f[ax] = c.reshape(Y, X)
        rng.shuffle(f[1].reshape(-1))
        recs.append({"id": s.get("id", "x"), "z": s.get("z", -1), "meta": {"index": i}, "tensors": {"field": f}})
    write_frames(argv[1], recs)
    return 0


def main():
    cmds = {"slices": cmd_slices, "check": cmd_check, "blur": cmd_blur, "field": cmd_field}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
