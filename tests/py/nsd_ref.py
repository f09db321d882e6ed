"""An independent normalised surface Dice for test_nsd: surfaces by
scipy.ndimage.binary_erosion (the 6-connected cross, outside = background),
nearest surface points by a k-d tree over their coordinates in mm
(scipy.spatial.cKDTree), not by a distance transform as lrcpipe does.

  nsd_ref.py TOLS REF PRED [TOLS REF PRED ...]
      TOLS is a comma-separated list of tolerances in mm; one JSON line per
      tolerance of each triple: {label: nsd} for the labels in either map
"""
import json
import sys

import nibabel as nib
import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree


def surface_points(mask, spacing):
    s = mask & ~ndimage.binary_erosion(mask)
    return np.argwhere(s) * spacing


def nsd(a, b, spacing, tols):
    pa, pb = surface_points(a, spacing), surface_points(b, spacing)
    if len(pa) == 0 and len(pb) == 0:
        return [None for _ in tols]
    if len(pa) == 0 or len(pb) == 0:
        return [0.0 for _ in tols]
    d_ab = cKDTree(pb).query(pa)[0]
    d_ba = cKDTree(pa).query(pb)[0]
    return [float(((d_ab <= t).sum() + (d_ba <= t).sum()) / (len(pa) + len(pb))) for t in tols]


def main():
    args = sys.argv[1:]
    for k in range(0, len(args) - 2, 3):
        tols = [float(t) for t in args[k].split(",")]
        ra, rb = nib.load(args[k + 1]), nib.load(args[k + 2])
        a, b = np.asarray(ra.dataobj), np.asarray(rb.dataobj)
        spacing = np.sqrt((ra.affine[:3, :3] ** 2).sum(axis=0))
        out = [{} for _ in tols]
        for c in sorted(set(np.unique(a)) | set(np.unique(b))):
            if c == 0:
                continue
            for o, x in zip(out, nsd(a == c, b == c, spacing, tols)):
                o[str(int(c))] = x
        for o in out:
            print(json.dumps(o))


if __name__ == "__main__":
    main()
