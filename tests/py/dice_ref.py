#!/usr/bin/python3
"""NumPy/SciPy reference for dice-eval, and the perturbed predictions its
tests and benchmark score.

  dice_ref.py score [--surface] [--no-crop] [--ignore FILE] REF PRED [REF PRED ...]
      Print JSON {id: {label: {"dice", "hd95", "assd"}}} for the label
      values present in either map (null where undefined, "inf" as a string
      where one map lacks the organ), computed the way MONAI does:
      Dice 2|A&B|/(|A|+|B|); surface = mask ^ binary_erosion(mask) (scipy's
      default 6-connected cross, outside = background); distances by
      scipy.ndimage.distance_transform_edt(~surface, sampling=spacing) on the
      array in nibabel's (x, y, z) order; HD95 = max of the two directed
      np.percentile(d, 95); ASSD = mean of the two directed sets concatenated.
      With crop (default, as MONAI's get_mask_edges(crop=True)) the work is
      done inside the bounding box of A|B; --no-crop works on the whole grid.

  dice_ref.py perturb OUTDIR SEED [--only V,V...] SEG [SEG ...]
      For each label map write OUTDIR/{ref,shift,erode,dilate,flip}/ID_seg.nii.gz:
      a copy, shifted by a few voxels, each organ eroded or dilated (3x3x3),
      and ~1% of the voxels near the organs set to a random label
      0..max label. --only makes only the variants named (and ref).
"""
import json
import os
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage


def load(path):
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    spacing = np.sqrt((img.affine[:3, :3] ** 2).sum(axis=0))  # (dx, dy, dz)
    return data, spacing


def file_id(path):
    b = os.path.basename(path)
    for ext in (".nii.gz", ".nii"):
        if b.endswith(ext):
            b = b[: -len(ext)]
    if b.endswith("_seg"):
        b = b[:-4]
    return b


def surface_metrics(a, b, spacing, crop=True):
    if crop:
        u = a | b
        sl = ndimage.find_objects(u.astype(np.uint8))[0]
        a, b = a[sl], b[sl]
    sa = a ^ ndimage.binary_erosion(a)
    sb = b ^ ndimage.binary_erosion(b)
    d_ba = ndimage.distance_transform_edt(~sa, sampling=spacing)[sb]
    d_ab = ndimage.distance_transform_edt(~sb, sampling=spacing)[sa]
    hd95 = max(np.percentile(d_ba, 95), np.percentile(d_ab, 95))
    assd = np.concatenate([d_ba, d_ab]).mean()
    return float(hd95), float(assd)


def score(ref, pred, spacing, surface, crop, ignore=()):
    out = {}
    labels = sorted(set(np.unique(ref).tolist()) | set(np.unique(pred).tolist()))
    for c in labels:
        if c == 0 or c in ignore:
            continue
        a, b = ref == c, pred == c
        na, nb = int(a.sum()), int(b.sum())
        e = {"dice": 2.0 * int((a & b).sum()) / (na + nb)}
        if surface:
            if na and nb:
                e["hd95"], e["assd"] = surface_metrics(a, b, spacing, crop)
            else:
                e["hd95"] = e["assd"] = "inf"
        out[str(c)] = e
    return out


def perturb(outdir, seed, segs, only=None):
    rng = np.random.default_rng(seed)
    ball = ndimage.generate_binary_structure(3, 3)
    for path in segs:
        img = nib.load(path)
        d = np.asarray(img.dataobj).astype(np.uint8)
        i = file_id(path)
        want = lambda v: only is None or v in only
        variants = {"ref": d}
        if want("shift"):
            variants["shift"] = np.roll(d, (2, -1, 1), axis=(0, 1, 2))
        if want("erode") or want("dilate"):
            ero = np.zeros_like(d)
            dil = np.zeros_like(d)
            for c in range(1, int(d.max()) + 1):
                m = d == c
                if not m.any():
                    continue
                ero[ndimage.binary_erosion(m, ball)] = c
                dil[ndimage.binary_dilation(m, ball) & (dil == 0)] = c
            variants["erode"], variants["dilate"] = ero, dil
        # the flips always draw from rng, so that --only does not change them
        flip = d.copy()
        near = ndimage.binary_dilation(d > 0, ball, iterations=2)
        idx = np.flatnonzero(near)
        pick = rng.choice(idx, size=max(1, idx.size // 100), replace=False)
        flip.flat[pick] = rng.integers(0, int(d.max()) + 1, size=pick.size)
        if want("flip"):
            variants["flip"] = flip
        for k, v in variants.items():
            os.makedirs(os.path.join(outdir, k), exist_ok=True)
            nib.save(nib.Nifti1Image(v, img.affine, img.header), os.path.join(outdir, k, f"{i}_seg.nii.gz"))


def main(argv):
    if argv[0] == "perturb":
        segs, only = argv[3:], None
        if segs and segs[0] == "--only":
            only, segs = set(segs[1].split(",")), segs[2:]
        perturb(argv[1], int(argv[2]), segs, only)
        return 0
    if argv[0] != "score":
        print("usage: dice_ref.py score|perturb ...", file=sys.stderr)
        return 2
    args = argv[1:]
    surface = crop_off = False
    ignore = {}
    while args and args[0].startswith("--"):
        a = args.pop(0)
        if a == "--surface":
            surface = True
        elif a == "--no-crop":
            crop_off = True
        elif a == "--ignore":
            for line in open(args.pop(0)):
                f = line.split()
                if f:
                    ignore.setdefault(f[0], set()).update(int(x) for x in f[1].split(","))
    res = {}
    for r, p in zip(args[0::2], args[1::2]):
        ref, sp = load(r)
        pred, _ = load(p)
        i = file_id(r)
        res[i] = score(ref, pred, sp, surface, not crop_off, ignore.get(i, ()))
    json.dump(res, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
