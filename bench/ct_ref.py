#!/usr/bin/python3
"""bench/ct.sh helper: the benchmark volume and the scipy reference.

  ct_ref.py make DATA_DIR SAMPLE_DIR OUT.nii.gz
      a 512x512x100 int16 CT volume: the real 512x512x20 slices of
      ct_other/ts02 (0.977 x 0.977 x 2 mm) repeated five times along z; without
      the shared data, the bundled subj03 zoomed to that size (order 1).
  ct_ref.py scipy IN.nii.gz D,H,W REPS C_OUT.npy
      scipy.ndimage.affine_transform with the diagonal matrix r = s_out/s_in
      (input coordinate j * r, exactly map_coordinates on that grid, the
      fastest scipy path for it), order 1, float32 output; best of REPS
      runs. Compares with the C result and prints seconds and max |diff|.
"""
import os
import sys
import time
import warnings

import nibabel as nib
import numpy as np
import scipy.ndimage as ndi


def make(data, sample, out):
    src = os.path.join(data, "ct_other", "ts02_ct.nii.gz")
    if os.path.exists(src):
        img = nib.load(src)
        d = np.asarray(img.dataobj)
        vol = np.concatenate([d] * 5, axis=2)
        aff = img.affine
        what = "ts02 x5 along z"
    else:
        img = nib.load(os.path.join(sample, "subj03_ct.nii.gz"))
        d = np.asarray(img.dataobj).astype(np.float32)
        vol = ndi.zoom(d, (512 / 128, 512 / 128, 100 / 128), order=1).round().astype(np.int16)
        aff = img.affine @ np.diag([128 / 512, 128 / 512, 128 / 100, 1])
        what = "subj03 zoomed"
    nib.save(nib.Nifti1Image(vol, aff), out)
    print("volume %s: %s, spacing %s mm" % (what, vol.shape, np.round(np.sqrt((aff[:3, :3] ** 2).sum(0)), 3)))


def scipy_ref(path, spacing, reps, c_out):
    # A 1-D matrix means a diagonal one (SciPy >= 0.18 warns that this changed long ago).
    warnings.filterwarnings("ignore", message=".*1-D array supplied for the matrix.*")
    img = nib.as_closest_canonical(nib.load(path))
    vol = np.ascontiguousarray(img.get_fdata(dtype=np.float32).transpose(2, 1, 0))
    s_in = np.sqrt((img.affine[:3, :3] ** 2).sum(0))[::-1]
    s_out = [float(v) for v in spacing.split(",")]
    r = np.array([s_out[d] / s_in[d] for d in range(3)])
    shape = tuple(int(np.floor((vol.shape[d] - 1) / r[d])) + 1 for d in range(3))
    best = 1e30
    for _ in range(int(reps)):
        t0 = time.perf_counter()
        out = ndi.affine_transform(vol, r, output_shape=shape, order=1, output=np.float32)
        best = min(best, time.perf_counter() - t0)
    c = np.load(c_out)
    if c.shape != out.shape:
        print("FAIL: shapes %s (C) vs %s (scipy)" % (c.shape, out.shape))
        sys.exit(1)
    diff = float(np.abs(c.astype(np.float64) - out).max())
    print("seconds=%.6f maxdiff=%.3g" % (best, diff))
    if not diff <= 1e-3:
        print("FAIL: outputs differ by %g HU" % diff)
        sys.exit(1)


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(*sys.argv[2:])
    else:
        scipy_ref(*sys.argv[2:])
