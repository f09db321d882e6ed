#!/usr/bin/python3
"""Seed corpus for fuzz_nifti: small crops of real volumes as .nii and .nii.gz,
NIfTI-1 and NIfTI-2, of several dtypes. seed_nifti.py SAMPLE_DIR OUT_DIR"""
import gzip
import os
import sys

import nibabel as nib
import numpy as np

src, out = sys.argv[1], sys.argv[2]
ct = nib.load(os.path.join(src, "subj03_ct.nii.gz"))
seg = nib.load(os.path.join(src, "subj03_seg.nii.gz"))
a = np.asarray(ct.dataobj)[60:66, 60:66, 60:64]
s = np.asarray(seg.dataobj)[60:66, 60:66, 60:64]
for i, (arr, cls) in enumerate([(a, nib.Nifti1Image), (s, nib.Nifti1Image), (a.astype(np.float32), nib.Nifti2Image),
                                 (a.astype(np.uint16), nib.Nifti1Image)]):
    img = cls(arr, ct.affine)
    raw = img.to_bytes()
    with open(os.path.join(out, f"seed{i}.nii"), "wb") as f:
        f.write(raw)
    with open(os.path.join(out, f"seed{i}.nii.gz"), "wb") as f:
        f.write(gzip.compress(raw))
