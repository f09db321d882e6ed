#!/usr/bin/python3
"""openkbp — rebuild lrcpipe's CT data from OpenKBP's sparse CSV files.

The bundled sample (data/sample/) and the experiment's data (--data DIR of
pipelines/experiment: ct/, ct_partial/, ct_pretrain/) are head-and-neck CT
of OpenKBP (GitHub ababier/open-kbp, MIT licence; cite Babier et al.,
Medical Physics 48:5549-5561, 2021), converted to NIfTI. This tool makes the
same files from the repository itself:

  tools/openkbp.py fetch DIR           download the repository archive at the
                                       commit the data came from into DIR
                                       (several hundred MB, about 2 GB of
                                       CSV unpacked; only when you run it)
  tools/openkbp.py convert SRC OUT [--set sample|data] [--cases FILE]
                                       convert the patients of SRC (the
                                       unpacked repository, or its
                                       provided-data folder) into OUT
  tools/openkbp.py all DIR [--set ...] fetch into DIR/src, convert to DIR

--set data (default) writes OUT/ct, OUT/ct_partial and OUT/ct_pretrain with
their manifest.csv and labels.json, the layout pipelines/experiment --data
reads; --set sample writes the nine volumes of data/sample/ and its
manifests. Which patient becomes which file is tools/openkbp-cases.csv
(folder,file,source_path); --cases takes another such table.

The conversion (as data/sample/README.md and the shared data's README
describe it): each CSV lists index,value pairs, the index a C-order linear
index into the (128, 128, 128) grid whose axes run anterior->posterior,
right->left and superior->inferior; voxel_dimensions.csv gives the spacing
of those axes in mm. CT = clip(value, 0, 4095) - 1024 HU (int16), unlisted
voxels -1024; each organ CSV lists the voxels of one mask, and where masks
overlap the higher label value wins (uint8). The volumes are stored RAS+
(axis 0 towards the patient's right, 1 anterior, 2 superior): the three
axes reversed, spacing (right-left, anterior-posterior, superior-inferior)
on the diagonal, qform = sform (code 1), units mm, the first voxel at
-127 x spacing on every axis (the reoriented image of an origin at 0).
That is the labelled folders (ct, ct_partial, the sample's subjNN). The
pre-training pool (ct_pretrain, the sample's preNNN) was converted without
the reorientation, and this tool reproduces it: OpenKBP's array as it is,
on a diagonal affine of its spacings with the origin at 0, so that its x
and y are OpenKBP's anterior->posterior and right->left axes and its z
runs superior->inferior (the axial slices are still [:, :, k], transposed
and mirrored in plane against the labelled volumes).

Needs Python 3 with NumPy and nibabel (Debian: python3-numpy
python3-nibabel; `sh tools/deps.sh data` installs them).
"""
import argparse
import csv
import json
import os
import shutil
import sys
import tarfile
import urllib.request

import numpy as np

COMMIT = "ce625e62f3b04203f22bd9d1634f3e8fb0245e46"
URL = "https://codeload.github.com/ababier/open-kbp/tar.gz/" + COMMIT
N = 128
ORGANS = ["Brainstem", "SpinalCord", "RightParotid", "LeftParotid", "Esophagus", "Larynx", "Mandible"]
HERE = os.path.dirname(os.path.abspath(__file__))
PROG = "openkbp"


def die(msg):
    sys.stderr.write("%s: %s\n" % (PROG, msg))
    sys.exit(1)


def read_sparse(path):
    """index,value rows after a header; a mask has empty values"""
    idx, val = [], []
    with open(path, newline="") as f:
        rows = csv.reader(f)
        head = next(rows, None)
        if head is None:
            return np.zeros(0, np.int64), np.zeros(0)
        for ln, row in enumerate(rows, 2):
            if not row:
                continue
            if len(row) != 2:
                die("%s:%d: %d fields, want index,value" % (path, ln, len(row)))
            try:
                i = int(float(row[0]))
                v = float(row[1]) if row[1] != "" else 1.0
            except ValueError:
                die("%s:%d: not a number" % (path, ln))
            if not 0 <= i < N ** 3:
                die("%s:%d: index %d outside the %d^3 grid" % (path, ln, i, N))
            idx.append(i)
            val.append(v)
    return np.array(idx, np.int64), np.array(val, np.float64)


def to_ras(a):
    """(AP, RL, SI) array -> RAS+ (x towards right, y anterior, z superior)"""
    return np.ascontiguousarray(a[::-1, ::-1, ::-1].transpose(1, 0, 2))


def convert_patient(pat, labelled, origin_zero):
    import nibabel as nib

    vd = os.path.join(pat, "voxel_dimensions.csv")
    if not os.path.exists(vd):
        die("%s: no voxel_dimensions.csv" % pat)
    sp = np.loadtxt(vd).astype(np.float64).ravel()
    if sp.shape != (3,) or not np.all(sp > 0):
        die("%s: want three positive spacings" % vd)
    ct = np.zeros(N ** 3, np.float64)
    ctp = os.path.join(pat, "ct.csv")
    if not os.path.exists(ctp):
        die("%s: no ct.csv" % pat)
    i, v = read_sparse(ctp)
    ct[i] = v
    ct = (np.clip(ct, 0, 4095) - 1024).astype(np.int16).reshape(N, N, N)
    seg = None
    if labelled:
        seg = np.zeros(N ** 3, np.uint8)
        for value, organ in enumerate(ORGANS, 1):  # higher values written last win
            p = os.path.join(pat, organ + ".csv")
            if os.path.exists(p):
                i, _ = read_sparse(p)
                seg[i] = value
        seg = seg.reshape(N, N, N)
    if origin_zero:
        # the pre-training pool as the shared data has it: OpenKBP's array
        # unchanged (axes anterior->posterior, right->left,
        # superior->inferior stored as x, y, z) on a diagonal affine
        aff = np.diag([sp[0], sp[1], sp[2], 1.0])
        ras = lambda a: a  # noqa: E731
    else:
        # RAS+: x the right-left axis (OpenKBP's second), y the
        # anterior-posterior one (its first), z its third, each reversed
        sx, sy, sz = sp[1], sp[0], sp[2]
        aff = np.diag([sx, sy, sz, 1.0])
        aff[:3, 3] = [-(N - 1) * sx, -(N - 1) * sy, -(N - 1) * sz]
        ras = to_ras
    out = []
    for arr, dt in ((ct, np.int16), (seg, np.uint8)):
        if arr is None:
            out.append(None)
            continue
        img = nib.Nifti1Image(ras(arr).astype(dt), aff)
        img.set_qform(aff, code=1)
        img.set_sform(aff, code=1)
        img.header.set_xyzt_units("mm")
        out.append(img)
    return out, sp


def load_cases(path, which):
    with open(path, newline="") as f:
        rows = [r for r in csv.DictReader(f)]
    for r in rows:
        if set(("set", "folder", "file", "source_path")) - set(r):
            die("%s: want columns set,folder,file,source_path" % path)
    return [r for r in rows if r["set"] == which]


def find_root(src):
    for cand in (src, os.path.join(src, "provided-data")):
        if os.path.isdir(os.path.join(cand, "train-pats")):
            return os.path.dirname(os.path.abspath(cand)) if cand.endswith("provided-data") else src
    # an unpacked archive: open-kbp-COMMIT/provided-data
    for d in sorted(os.listdir(src)) if os.path.isdir(src) else []:
        if os.path.isdir(os.path.join(src, d, "provided-data")):
            return os.path.join(src, d)
    die("%s: no provided-data/train-pats in it (give the unpacked repository)" % src)


def convert(src, out, which, cases_path):
    import nibabel as nib  # noqa: F401  (fail early when absent)

    root = find_root(src)
    cases = load_cases(cases_path, which)
    if not cases:
        die("%s: no cases for set '%s'" % (cases_path, which))
    labels = {"0": "background"}
    labels.update({str(k): o for k, o in enumerate(ORGANS, 1)})
    manifests = {}
    for r in cases:
        folder = os.path.join(out, r["folder"]) if r["folder"] != "." else out
        os.makedirs(folder, exist_ok=True)
        pat = os.path.join(root, r["source_path"])
        if not os.path.isdir(pat):
            die("%s: missing in %s" % (r["source_path"], root))
        pretrain = r["file"].startswith("pre")
        (ct, seg), sp = convert_patient(pat, not pretrain, pretrain)
        ct.to_filename(os.path.join(folder, r["file"] + "_ct.nii.gz"))
        if seg is not None:
            seg.to_filename(os.path.join(folder, r["file"] + "_seg.nii.gz"))
        manifests.setdefault(folder, []).append((r, seg is not None))
        sys.stderr.write("%s: %s -> %s/%s\n" % (PROG, r["source_path"], r["folder"], r["file"]))
    for folder, rows in manifests.items():
        with open(os.path.join(folder, "labels.json"), "w") as f:
            json.dump(labels, f, indent=1)
        if which == "sample":
            continue
        with open(os.path.join(folder, "manifest.csv"), "w") as f:
            f.write("file,source_repo,source_path\n")
            for r, _ in rows:
                f.write("%s,ababier/open-kbp,%s\n" % (r["file"], r["source_path"]))
    if which == "sample":
        with open(os.path.join(out, "manifest.csv"), "w") as f, open(os.path.join(out, "pretrain.csv"), "w") as g:
            f.write("id,image,label\n")
            g.write("id,image,label\n")
            for r, lab in manifests.get(out, []):
                if lab:
                    f.write("%s,%s_ct.nii.gz,%s_seg.nii.gz\n" % (r["file"], r["file"], r["file"]))
                else:
                    g.write("%s,%s_ct.nii.gz,\n" % (r["file"], r["file"]))


def fetch(dest):
    os.makedirs(dest, exist_ok=True)
    tgz = os.path.join(dest, "open-kbp-%s.tar.gz" % COMMIT[:8])
    if not os.path.exists(tgz):
        sys.stderr.write("%s: downloading %s\n" % (PROG, URL))
        tmp = tgz + ".part"
        try:
            with urllib.request.urlopen(URL, timeout=60) as r, open(tmp, "wb") as f:
                shutil.copyfileobj(r, f, 1 << 20)
        except OSError as e:
            die("download failed: %s (%s)" % (URL, e))
        os.replace(tmp, tgz)
    with tarfile.open(tgz) as t:
        members = [m for m in t.getmembers()
                   if "/provided-data/" in m.name and (m.isfile() or m.isdir())
                   and not m.name.startswith("/") and ".." not in m.name.split("/")]
        t.extractall(dest, members)
    return dest


def main():
    ap = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("dir")
    for name in ("convert", "all"):
        c = sub.add_parser(name)
        if name == "convert":
            c.add_argument("src")
            c.add_argument("out")
        else:
            c.add_argument("dir")
        c.add_argument("--set", default="data", help="data, sample, or another set of the cases table")
        c.add_argument("--cases", default=os.path.join(HERE, "openkbp-cases.csv"))
    a = ap.parse_args()
    if a.cmd == "fetch":
        fetch(a.dir)
    elif a.cmd == "convert":
        convert(a.src, a.out, a.set, a.cases)
    else:
        fetch(os.path.join(a.dir, "src"))
        convert(os.path.join(a.dir, "src"), a.dir, a.set, a.cases)


if __name__ == "__main__":
    main()
