"""Models Genesis's transformations (libcommon/pretrain/genesis.h) against
NumPy, given what the C code drew.

    genesis_ref.py DIR

DIR (written by test_egmethods) holds curves.safetensors: curve.in (V)
and, for each k, curve.K.pts (x1, y1, x2, y2), curve.K.reverse,
curve.K.out: the intensity curve alone; and case_CC.safetensors, a
transformation each: img, x, y (H, W) a slice, its transformed input and
its target; src (H, W) int32: the flipped slice's pixel each pixel holds
after the shuffling; windows (10000, 4) int32 y, x, h, w when it shuffled;
meta: nflip, axes[3], shuffle, nonlinear, reverse, pts[4], paint (0, 1 in,
2 out), nbox, boxes[5][4] (y, x, h, w).

The curve is evaluated as the authors' utils.py does it (scipy's comb in the
Bernstein polynomials, np.linspace, np.sort, np.interp): max |diff| <= 1e-6.
A transformation is replayed: y is img flipped along the drawn axes
(exactly); the shuffled image s = y[src], where src must be a pixel of the
last window that covers the pixel (the pixel itself when none does) and no
two pixels whose last window is the same may come from the same pixel (so
each window's pixels are a permutation of its unshuffled ones); the curve
applied to s gives x exactly where the painting left the image (float32
rounding: <= 1e-6), and painted pixels are in [0, 1). In-painting boxes
(h in [H/6, H/3], 3 pixels from the border) hold every changed pixel;
out-painting keeps the union of its boxes. The draws themselves must lie
in their ranges (window sides 1..H/10, box sides as genesis.h says).
Exit status 1 on any failure.
"""
import glob
import json
import os
import struct
import sys

import numpy as np
from scipy.special import comb

TOL = 1e-6
failed = []


def load(path):
    dt = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        hdr = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out


def bezier(points, n):
    """utils.py's bezier_curve."""
    xp = np.array([p[0] for p in points])
    yp = np.array([p[1] for p in points])
    t = np.linspace(0.0, 1.0, n)
    poly = np.array([comb(len(points) - 1, i) * (t ** (len(points) - 1 - i)) * (1 - t) ** i
                     for i in range(len(points))])
    return np.dot(xp, poly), np.dot(yp, poly)


def curve(v, pts, reverse):
    """utils.py's nonlinear_transformation after its draws."""
    xs, ys = bezier([[0, 0], [pts[0], pts[1]], [pts[2], pts[3]], [1, 1]], 100000)
    if reverse:
        xs = np.sort(xs)
    else:
        xs, ys = np.sort(xs), np.sort(ys)
    return np.interp(v.astype(np.float64), xs, ys).astype(np.float32)


def check(cond, what):
    if not cond:
        failed.append(what)
    return cond


def case(t, c):
    g = lambda n: t[n]
    img, x, y, src, m = g("img"), g("x"), g("y"), g("src"), g("meta")
    H, W = img.shape
    nflip, axes, shuf, nonlin, rev = int(m[0]), m[1:4].astype(int), int(m[4]), int(m[5]), int(m[6])
    pts, paint, nbox = m[7:11], int(m[11]), int(m[12])
    boxes = m[13:13 + 4 * nbox].reshape(nbox, 4).astype(int)
    tag = "case %d" % c
    # flips
    want_y = img.copy()
    for a in axes[:nflip]:
        want_y = np.flip(want_y, axis=a)
    check(nflip <= 3 and np.array_equal(want_y, y), tag + ": y is not img flipped as drawn")
    # shuffling
    idx = np.arange(H * W).reshape(H, W)
    if shuf:
        win = t["windows"]
        check(win.shape == (10000, 4), tag + ": not 10000 windows")
        ok = ((win[:, 2] >= 1) & (win[:, 2] <= H // 10) & (win[:, 3] >= 1) & (win[:, 3] <= W // 10) &
              (win[:, 0] >= 0) & (win[:, 0] + win[:, 2] <= H) & (win[:, 1] >= 0) & (win[:, 1] + win[:, 3] <= W))
        check(ok.all(), tag + ": a window out of its range")
        last = -np.ones((H, W), dtype=int)
        for k, (wy, wx, wh, ww) in enumerate(win):
            last[wy:wy + wh, wx:wx + ww] = k
        sy, sx = src // W, src % W
        wy, wx, wh, ww = (win[last, i] for i in range(4))
        inside = (sy >= wy) & (sy < wy + wh) & (sx >= wx) & (sx < wx + ww)
        check(np.all(np.where(last < 0, src == idx, inside)), tag + ": a pixel from outside its last window")
        key = last.astype(np.int64) * H * W + src
        covered = key[last >= 0]
        check(len(np.unique(covered)) == len(covered), tag + ": a window's pixel used twice")
    else:
        check(np.array_equal(src, idx), tag + ": src moved without shuffling")
    s = y.reshape(-1)[src]
    # the curve
    want_x = curve(s, pts, rev) if nonlin else s
    # painting
    mask = np.zeros((H, W), dtype=bool)  # in: the filled boxes; out: the kept boxes
    for by, bx, bh, bw in boxes:
        if paint == 1:
            r = bh >= H // 6 and bh <= H // 3 and bw >= W // 6 and bw <= W // 3
        else:
            r = H - bh >= 3 * H // 7 and H - bh <= 4 * H // 7 and W - bw >= 3 * W // 7 and W - bw <= 4 * W // 7
        check(r and by >= 3 and by + bh <= H - 3 and bx >= 3 and bx + bw <= W - 3, tag + ": a box out of range")
        mask[by:by + bh, bx:bx + bw] = True
    if paint == 0:
        check(nbox == 0, tag + ": boxes without painting")
        kept = np.ones((H, W), dtype=bool)
    elif paint == 1:
        check(nbox <= 5, tag + ": more than 5 in-painting boxes")
        kept = ~mask
    else:
        check(1 <= nbox <= 5, tag + ": out-painting keeps 1 to 5 boxes")
        kept = mask
    err = np.abs(x[kept] - want_x[kept]).max() if kept.any() else 0
    check(err <= TOL, tag + ": the unpainted pixels differ from the replay by %.2e" % err)
    fill = x[~kept]
    check(fill.size == 0 or (fill.min() >= 0 and fill.max() < 1), tag + ": a painted value outside [0, 1)")
    if paint and fill.size > 16:
        # uniform fills: not the replayed image, spread over [0, 1)
        check(np.mean(fill != want_x[~kept]) > 0.99 and 0.35 < fill.mean() < 0.65, tag + ": fills not uniform")
    print("%s: %dx%d, %d flips, shuffle %d, curve %d%s, paint %d (%d boxes, %d pixels): max |diff| %.1e"
          % (tag, H, W, nflip, shuf, nonlin, " reversed" if rev else "", paint, nbox, (~kept).sum(), err))


def main(d):
    t = load(os.path.join(d, "curves.safetensors"))
    v = t["curve.in"]
    k = 0
    while "curve.%d.pts" % k in t:
        want = curve(v, t["curve.%d.pts" % k], int(t["curve.%d.reverse" % k][0]))
        e = np.abs(t["curve.%d.out" % k] - want).max()
        print("curve %d: max |diff| %.1e" % (k, e))
        check(e <= TOL, "curve %d: max |diff| %.2e" % (k, e))
        k += 1
    check(k > 0, "no curves")
    files = sorted(glob.glob(os.path.join(d, "case_*.safetensors")))
    for c, f in enumerate(files):
        case(load(f), c)
    check(len(files) > 0, "no cases")


if __name__ == "__main__":
    main(sys.argv[1])
    if failed:
        print("FAILED: " + "; ".join(failed[:10]))
        sys.exit(1)
    print("all within tolerance")
