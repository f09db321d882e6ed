#!/usr/bin/python3
"""Pair frames for lrc-train's tests, from real CT slices (data/sample).

A stand-in for `ct-resample | slice-extract | fz-superpixel | elastic-aug`
so that lrc-train can be tested on its own: axial slices of the given NIfTI
volumes, cropped to SIZE x SIZE around the body, HU window [-160, 240] -> [0, 1],
scikit-image's felzenszwalb regions, and a Simard elastic warp (uniform
[-1, 1] displacements, Gaussian sigma, times alpha; order 1 for the image,
order 0 for the regions, mode reflect). Regions smaller than MINPIX pixels in
either view are set to -1 in both and the rest renumbered 0..K-1, so region
k of `regions` corresponds to region k of `regions_p`.

Usage: make_pairs.py OUT COUNT SIZE SEED VOLUME.nii.gz...
  writes COUNT pair frames (msgpack, lrcpipe format) to OUT ('-' = stdout),
  cycling over the volumes' slices that hold enough body.
Options via environment: ALPHA (px, default SIZE/16), SIGMA (px, default 4),
  SCALE (felzenszwalb scale, default 100), MINPIX (default 4),
  SLICES_ONLY=1 writes slice frames (image, regions) instead of pairs,
  LABELS=1 adds each volume's label map (VOLUME with _ct -> _seg) as
  `label` [Y, X] uint8 (LABELLED=1: only slices with an organ), ALL=1 writes every usable slice once, in volume
  order (COUNT is then ignored).
"""
import os
import sys

import msgpack
import nibabel as nib
import numpy as np
from scipy import ndimage
from skimage.segmentation import felzenszwalb


def arr(a):
    a = np.ascontiguousarray(a)
    return {"nd": True, "type": a.dtype.str, "kind": b"", "shape": list(a.shape), "data": a.tobytes()}


def slices(paths, size, labels=False):
    """SIZE x SIZE crops of the axial slices at native resolution, centred on
    the body (HU > -500), where the body has at least min(SIZE^2 / 5, 819)
    pixels (a fifth of a 64 x 64 crop: the 128^3 OpenKBP grids are ~4 mm).
    With labels, the same crop of VOLUME's _seg.nii.gz comes along (uint8)."""
    for path in paths:
        v = np.asarray(nib.load(path).dataobj).astype(np.float32)  # RAS+, axis 2 axial
        lab = np.asarray(nib.load(path.replace("_ct.nii", "_seg.nii")).dataobj).astype(np.uint8) if labels else None
        vid = os.path.basename(path).split("_")[0]
        for z in range(v.shape[2]):
            s = v[:, :, z].T[::-1]  # [Y, X], anterior at the top
            body = s > -500
            if body.sum() < min(0.2 * size * size, 819):
                continue
            cy, cx = [int(round(c)) for c in ndimage.center_of_mass(body)]
            y0 = min(max(cy - size // 2, 0), s.shape[0] - size)
            x0 = min(max(cx - size // 2, 0), s.shape[1] - size)
            s = s[y0 : y0 + size, x0 : x0 + size]
            l = lab[:, :, z].T[::-1][y0 : y0 + size, x0 : x0 + size].copy() if labels else None
            if labels and os.environ.get("LABELLED") == "1" and not l.any():
                continue
            yield vid, z, np.clip((s + 160.0) / 400.0, 0, 1).astype(np.float32), l


def renumber(rq, rp, minpix):
    K = int(max(rq.max(), rp.max())) + 1
    cq = np.bincount(rq[rq >= 0], minlength=K)
    cp = np.bincount(rp[rp >= 0], minlength=K)
    keep = (cq >= minpix) & (cp >= minpix)
    new = np.full(K, -1, np.int32)
    new[keep] = np.arange(keep.sum(), dtype=np.int32)
    oq = np.where(rq >= 0, new[np.maximum(rq, 0)], -1).astype(np.int32)
    op = np.where(rp >= 0, new[np.maximum(rp, 0)], -1).astype(np.int32)
    return oq, op, int(keep.sum())


def warp(img, reg, alpha, sigma, rng):
    H, W = img.shape
    dy = ndimage.gaussian_filter(rng.uniform(-1, 1, (H, W)), sigma, mode="constant") * alpha
    dx = ndimage.gaussian_filter(rng.uniform(-1, 1, (H, W)), sigma, mode="constant") * alpha
    # normalise so the largest displacement is about alpha / 4 px (mild warps)
    m = max(np.abs(dy).max(), np.abs(dx).max(), 1e-9)
    dy *= alpha / 4 / m
    dx *= alpha / 4 / m
    yy, xx = np.meshgrid(np.arange(H), np.arange(W), indexing="ij")
    c = [yy + dy, xx + dx]
    wi = ndimage.map_coordinates(img, c, order=1, mode="reflect").astype(np.float32)
    wr = ndimage.map_coordinates(reg, c, order=0, mode="reflect").astype(np.int32)
    return wi, wr


def main():
    out, count, size, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    paths = sys.argv[5:]
    alpha = float(os.environ.get("ALPHA", size / 16))
    sigma = float(os.environ.get("SIGMA", 4))
    scale = float(os.environ.get("SCALE", 100))
    minpix = int(os.environ.get("MINPIX", 4))
    slices_only = os.environ.get("SLICES_ONLY") == "1"
    labels = os.environ.get("LABELS") == "1"
    rng = np.random.default_rng(seed)
    pool = list(slices(paths, size, labels))
    if not pool:
        sys.exit("make_pairs.py: no slice with enough body")
    order = rng.permutation(len(pool))
    if os.environ.get("ALL") == "1":
        order, count = np.arange(len(pool)), len(pool)
    f = sys.stdout.buffer if out == "-" else open(out, "wb")
    pk = msgpack.Packer(use_bin_type=True)
    f.write(pk.pack({"v": 1, "type": "start", "producer": "make_pairs.py", "version": "test", "params": {}}))
    for i in range(count):
        vid, z, img, lab = pool[order[i % len(pool)]]
        reg = felzenszwalb(img.astype(np.float64), scale=scale, sigma=0.5, min_size=8).astype(np.int32)
        t = {}
        if slices_only:
            t = {"image": arr(img), "regions": arr(reg)}
            K = int(reg.max()) + 1
        else:
            img_p, reg_p = warp(img, reg, alpha, sigma, rng)
            rq, rp, K = renumber(reg, reg_p, minpix)
            t = {"image": arr(img), "regions": arr(rq), "image_p": arr(img_p), "regions_p": arr(rp)}
        if labels:
            t["label"] = arr(lab)
        f.write(pk.pack({"v": 1, "type": "data", "id": vid, "seq": i, "z": z, "meta": {"K": K}, "tensors": t}))
    f.write(pk.pack({"v": 1, "type": "end", "count": count}))
    f.flush()


if __name__ == "__main__":
    main()
