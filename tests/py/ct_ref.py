#!/usr/bin/python3
"""Independent references for ct-resample and slice-extract (tests/test_ct.c).

Usage: ct_ref.py CMD ARGS [+ CMD ARGS]...

Subcommands (each prints what it compared and the largest difference, and
exits 1 when a check fails):

  resample IMAGE LABEL|- FRAMES ID D,H,W [STEP [fov]]
      nibabel as_closest_canonical + scipy.ndimage.map_coordinates (order 1
      for the image, order 0 for the label) on x_in = j * s_out / s_in,
      n_out = floor((n - 1) * s_in / s_out) + 1, against the record ID of
      FRAMES, on every STEP-th output plane (default 1: all) and the last.
      With fov: the field-of-view grid, n_out = round(n * s_in / s_out),
      x_in = j * r + (r - 1) / 2, mode='nearest'. Image within 1e-3 HU, label identical, affine within 1e-6.
  reorient IN OUT CODES [DEG]
      write IN with its voxel axes permuted/flipped to the nibabel axis
      codes CODES (e.g. PIL), optionally rotated by DEG degrees about z
      (an oblique affine).
  formats IN OUT_NIFTI2 OUT_SCALED
      IN written again as NIfTI-2, and as uint16 with scl_inter -1024.
  same FRAMES_A FRAMES_B
      the same records (z, tensors bitwise equal, affines within 1e-4 mm).
  slices VOLFRAMES SLICEFRAMES LO,HI H,W THR MINBODY MODE
      recompute slice-extract with numpy/scipy (MODE crop or resize; resize
      via skimage.transform.resize) and compare every slice.
  labels A.nii.gz B.nii.gz
      two label maps identical (voxels and grid).
  bad SAMPLE_DIR OUT_DIR
      write the bad inputs of the error tests into OUT_DIR.
"""
import sys

import msgpack
import nibabel as nib
import numpy as np
import scipy.ndimage as ndi


def read_frames(path):
    out = []
    with open(path, "rb") as f:
        unp = msgpack.Unpacker(f, raw=False, max_buffer_size=2**31 - 1, read_size=1 << 26)
        for rec in unp:
            if rec.get("type") != "data":
                continue
            ts = {}
            for name, a in rec.get("tensors", {}).items():
                ts[name] = np.frombuffer(a["data"], dtype=np.dtype(a["type"])).reshape(a["shape"])
            rec["tensors"] = ts
            out.append(rec)
    return out


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def canonical_zyx(path):
    img = nib.as_closest_canonical(nib.load(path))
    data = np.asarray(img.get_fdata(dtype=np.float64))
    return data.transpose(2, 1, 0), img.affine


def map_grid(vol, ratios, shape, order, planes, offs=(0.0, 0.0, 0.0), mode="constant"):
    """map_coordinates on the grid x_in = j * r + off, for the output planes listed."""
    out = np.empty((len(planes),) + tuple(shape[1:]), dtype=np.float64)
    cy = np.arange(shape[1]) * ratios[1] + offs[1]
    cx = np.arange(shape[2]) * ratios[2] + offs[2]
    yy, xx = np.meshgrid(cy, cx, indexing="ij")
    for i, k in enumerate(planes):
        zz = np.full_like(yy, k * ratios[0] + offs[0])
        out[i] = ndi.map_coordinates(vol, [zz, yy, xx], order=order, mode=mode, cval=0.0)
    return out


def cmd_resample(image, label, frames, vid, spacing, step="1", grid="corner"):
    s_out = [float(v) for v in spacing.split(",")]
    recs = [r for r in read_frames(frames) if r.get("id") == vid]
    if len(recs) != 1:
        fail("%d records with id %s in %s" % (len(recs), vid, frames))
    rec = recs[0]
    vol, aff = canonical_zyx(image)
    zooms_xyz = np.sqrt((aff[:3, :3] ** 2).sum(0))
    s_in = zooms_xyz[::-1]
    ratios = [s_out[d] / s_in[d] for d in range(3)]
    if grid == "fov":
        # n_out = round(n * s_in / s_out), x_in = j * r + (r - 1) / 2, edges clamped
        shape = tuple(max(1, int(np.floor(vol.shape[d] / ratios[d] + 0.5))) for d in range(3))
        offs = [(ratios[d] - 1) / 2 for d in range(3)]
        mode = "nearest"
    else:
        shape = tuple(int(np.floor((vol.shape[d] - 1) * s_in[d] / s_out[d])) + 1 for d in range(3))
        offs, mode = [0.0, 0.0, 0.0], "constant"
    got = rec["tensors"]["image"]
    if got.shape != shape:
        fail("image shape %s, reference %s" % (got.shape, shape))
    # Every step-th output plane, and always the last one (the edge of the grid).
    planes = sorted(set(range(0, shape[0], int(step))) | {shape[0] - 1})
    ref = map_grid(vol, ratios, shape, 1, planes, offs, mode)
    diff = np.abs(got[planes].astype(np.float64) - ref).max()
    print("%s: image %s, %d planes: max |diff| = %.3g HU (tolerance 1e-3)" % (vid, shape, len(planes), diff))
    if not diff <= 1e-3:
        fail("image differs from scipy by %g HU" % diff)
    D = np.diag([ratios[2], ratios[1], ratios[0], 1.0])
    D[:3, 3] = offs[::-1]
    raff = aff @ D
    gaff = np.array(rec["meta"]["affine"]).reshape(4, 4)
    adiff = np.abs(gaff - raff).max()
    print("%s: affine max |diff| = %.3g" % (vid, adiff))
    if not adiff <= 1e-6:
        fail("affine differs from nibabel's canonical affine scaled: %s vs %s" % (gaff, raff))
    if list(rec["meta"]["spacing"]) != s_out:
        fail("meta spacing %s" % rec["meta"]["spacing"])
    if label != "-":
        lvol, laff = canonical_zyx(label)
        lref = map_grid(lvol, ratios, shape, 0, planes, offs, mode).astype(np.uint8)
        lgot = rec["tensors"]["label"][planes]
        if lgot.dtype != np.uint8:
            fail("label dtype %s" % lgot.dtype)
        nd = int((lgot != lref).sum())
        print("%s: label %s voxels differing = %d (want 0), values %s" % (vid, shape, nd, np.unique(lgot)))
        if nd:
            fail("label differs from scipy order=0 in %d voxels" % nd)


def cmd_reorient(src, dst, codes, deg=None):
    img = nib.load(src)
    data = np.asanyarray(img.dataobj)
    cur = nib.orientations.io_orientation(img.affine)
    tgt = nib.orientations.axcodes2ornt(tuple(codes))
    tr = nib.orientations.ornt_transform(cur, tgt)
    new = nib.orientations.apply_orientation(data, tr)
    aff = img.affine @ nib.orientations.inv_ornt_aff(tr, data.shape)
    if deg is not None:
        t = np.deg2rad(float(deg))
        rot = np.array([[np.cos(t), -np.sin(t), 0, 0], [np.sin(t), np.cos(t), 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
        aff = rot @ aff
    out = nib.Nifti1Image(np.ascontiguousarray(new), aff, header=img.header)
    out.set_sform(aff, 1)
    out.set_qform(aff, 1)
    nib.save(out, dst)
    print("wrote %s: %s %s" % (dst, nib.aff2axcodes(aff), new.shape))


def cmd_formats(src, out_n2, out_scaled):
    """The same CT as NIfTI-2, and as uint16 with scl_slope 1, scl_inter -1024."""
    img = nib.load(src)
    d = np.asarray(img.dataobj)
    n2 = nib.Nifti2Image(d, img.affine)
    n2.set_qform(img.affine, 1)
    nib.save(n2, out_n2)
    sc = nib.Nifti1Image((d.astype(np.int32) + 1024).astype(np.uint16), img.affine)
    sc.header.set_slope_inter(1.0, -1024.0)
    nib.save(sc, out_scaled)
    back = nib.load(out_scaled)
    assert back.header.get_data_dtype() == np.uint16 and np.array_equal(back.get_fdata(), d)
    print("wrote %s (NIfTI-2) and %s (uint16, scl_inter -1024)" % (out_n2, out_scaled))


def cmd_same(a, b):
    ra, rb = read_frames(a), read_frames(b)
    if len(ra) != len(rb) or not ra:
        fail("%d records vs %d" % (len(ra), len(rb)))
    worst = 0.0
    for x, y in zip(ra, rb):
        ta, tb = x["tensors"], y["tensors"]
        if x["z"] != y["z"] or sorted(ta) != sorted(tb):
            fail("record z=%s tensors %s vs z=%s %s" % (x["z"], sorted(ta), y["z"], sorted(tb)))
        for n in ta:
            if ta[n].shape != tb[n].shape or ta[n].dtype != tb[n].dtype or not np.array_equal(ta[n], tb[n]):
                fail("z=%s: tensor %s differs" % (x["z"], n))
        worst = max(worst, float(np.abs(np.array(x["meta"]["affine"]) - np.array(y["meta"]["affine"])).max()))
    print("%d records: tensors bitwise equal, affine max |diff| %.3g" % (len(ra), worst))
    if not worst <= 1e-4:
        fail("affines differ by %g" % worst)


def body_box(img2d, thr, minbody):
    lab, n = ndi.label(img2d > thr)
    if n == 0:
        return 0, None
    sizes = np.bincount(lab.ravel())[1:]
    k = int(np.argmax(sizes)) + 1
    ys, xs = np.nonzero(lab == k)
    return int(sizes[k - 1]), (ys.min(), xs.min(), ys.max(), xs.max())


def cmd_slices(volframes, sliceframes, window, size, thr, minbody, mode):
    from skimage.transform import resize

    lo, hi = [float(v) for v in window.split(",")]
    H, W = [int(v) for v in size.split(",")]
    thr, minbody = float(thr), int(minbody)
    vols = read_frames(volframes)
    slices = read_frames(sliceframes)
    worst = 0.0
    nchecked = 0
    for v in vols:
        img = v["tensors"]["image"].astype(np.float64)
        lab = v["tensors"].get("label")
        Z, Y, X = img.shape
        areas, bb = [], None
        for z in range(Z):
            a, b = body_box(img[z], thr, minbody)
            areas.append(a)
            if a >= minbody:
                bb = b if bb is None else (min(bb[0], b[0]), min(bb[1], b[1]), max(bb[2], b[2]), max(bb[3], b[3]))

        def start(n, h, b0, b1):
            if h >= n:
                return (n - h) // 2
            s = (b0 + b1 + 1 - h) // 2 if bb is not None else (n - h) // 2
            return min(max(s, 0), n - h)

        if mode == "crop":
            y0 = start(Y, H, bb[0] if bb else 0, bb[2] if bb else 0)
            x0 = start(X, W, bb[1] if bb else 0, bb[3] if bb else 0)
        mine = [s for s in slices if s["id"] == v["id"]]
        for s in mine:
            z = s["z"]
            if areas[z] != s["meta"]["body_area"]:
                fail("z=%d body area %d, scipy %d" % (z, s["meta"]["body_area"], areas[z]))
            if mode == "crop":
                if list(s["meta"]["box"]) != [y0, x0, H, W]:
                    fail("z=%d box %s, want %s" % (z, s["meta"]["box"], [y0, x0, H, W]))
                pad = np.zeros((Y + 2 * H, X + 2 * W))
                pad[H:H + Y, W:W + X] = np.clip((img[z] - lo) / (hi - lo), 0, 1)
                ref = pad[H + y0:H + y0 + H, W + x0:W + x0 + W]
                if lab is not None:
                    lp = np.zeros((Y + 2 * H, X + 2 * W), np.uint8)
                    lp[H:H + Y, W:W + X] = lab[z]
                    lref = lp[H + y0:H + y0 + H, W + x0:W + x0 + W]
            else:
                ref = np.clip((resize(img[z], (H, W), order=1, mode="edge", anti_aliasing=False,
                                      preserve_range=True) - lo) / (hi - lo), 0, 1)
                if lab is not None:
                    lref = resize(lab[z], (H, W), order=0, mode="edge", anti_aliasing=False,
                                  preserve_range=True).astype(np.uint8)
            got = s["tensors"]["image"]
            if got.shape != (H, W) or got.dtype != np.float32:
                fail("slice image %s %s" % (got.shape, got.dtype))
            worst = max(worst, float(np.abs(got - ref).max()))
            if lab is not None:
                nd = int((s["tensors"]["label"] != lref).sum())
                if nd:
                    fail("id %s z=%d: label differs in %d pixels" % (v["id"], z, nd))
            nchecked += 1
    print("%d slices checked, image max |diff| %.3g (tolerance 1e-5), labels identical" % (nchecked, worst))
    if not worst <= 1e-5:
        fail("image differs by %g" % worst)


def cmd_labels(a, b):
    ia, ib = nib.load(a), nib.load(b)
    da, db = np.asarray(ia.dataobj), np.asarray(ib.dataobj)
    if da.shape != db.shape:
        fail("shape %s vs %s" % (da.shape, db.shape))
    nd = int((da != db).sum())
    ad = np.abs(ia.affine - ib.affine).max()
    print("%s vs %s: %d voxels differ of %d, affine max |diff| %.3g" % (a, b, nd, da.size, ad))
    if nd or ad > 1e-4:
        fail("label maps differ")


def cmd_bad(sample, out):
    import gzip
    import os
    import struct

    src = os.path.join(sample, "subj03_ct.nii.gz")
    raw = open(src, "rb").read()
    gzip.open(os.path.join(out, "text.nii.gz"), "wb").write(b"id,image,label\nthis is not a NIfTI file\n" * 20)
    open(os.path.join(out, "trunc.nii.gz"), "wb").write(raw[: len(raw) // 2])
    bad = bytearray(raw)
    bad[len(bad) // 2] ^= 0xFF
    open(os.path.join(out, "corrupt.nii.gz"), "wb").write(bytes(bad))
    bad = bytearray(raw)
    bad[-8] ^= 0x01  # the CRC-32 of the gzip trailer
    open(os.path.join(out, "crc.nii.gz"), "wb").write(bytes(bad))
    nib.save(nib.Nifti1Image(np.zeros((16, 16), np.int16), np.eye(4)), os.path.join(out, "img2d.nii.gz"))
    nib.save(nib.Nifti1Image(np.zeros((8, 8, 8, 1, 2), np.int16), np.eye(4)), os.path.join(out, "img5d.nii.gz"))
    aff = np.diag([2.0, 0.0, 2.0, 1.0])
    im = nib.Nifti1Image(np.zeros((8, 8, 8), np.int16), None)
    im.set_sform(aff, 1)
    im.set_qform(None, 0)
    nib.save(im, os.path.join(out, "zero.nii"))
    im = nib.Nifti1Image(np.zeros((8, 8, 8), np.int16), np.eye(4))
    im.set_sform(None, 0)
    im.set_qform(np.eye(4), 1)
    nib.save(im, os.path.join(out, "neg.nii"))
    b = bytearray(open(os.path.join(out, "neg.nii"), "rb").read())
    b[84:88] = struct.pack("<f", -2.5)  # pixdim[2]
    open(os.path.join(out, "neg.nii"), "wb").write(bytes(b))
    seg = nib.load(os.path.join(sample, "subj03_seg.nii.gz"))
    d = np.asarray(seg.dataobj)
    nib.save(nib.Nifti1Image(d[:64, :64, :64], seg.affine), os.path.join(out, "seg_small.nii.gz"))
    shifted = seg.affine.copy()
    shifted[0, 3] += 10
    nib.save(nib.Nifti1Image(d, shifted), os.path.join(out, "seg_shift.nii.gz"))
    nib.save(nib.Nifti1Image(d.astype(np.float32) + 0.5, seg.affine), os.path.join(out, "seg_frac.nii.gz"))
    print("bad inputs written to", out)


if __name__ == "__main__":
    # Several commands in one run (the imports cost seconds): CMD ARGS + CMD ARGS ...
    cmds = {"resample": cmd_resample, "reorient": cmd_reorient, "same": cmd_same, "slices": cmd_slices,
            "labels": cmd_labels, "bad": cmd_bad, "formats": cmd_formats}
    words = sys.argv[1:]
    while words:
        n = words.index("+") if "+" in words else len(words)
        cmds[words[0]](*words[1:n])
        words = words[n + 1:]
