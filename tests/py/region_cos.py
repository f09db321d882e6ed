#!/usr/bin/python3
"""Region-level agreement of the two views' features, for lrc-train's tests.

Usage: region_cos.py FRAMES
  FRAMES: pair frames after `lrc-train --embed`: features, features_p
  [D, Y, X], regions, regions_p [Y, X].
For every pair, the mean feature of each region present in both views (all
its pixels), L2-normalised: q_k from features/regions, p_k from
features_p/regions_p. Prints the average cosine of the same region in the two
views (q_k . p_k), of different regions across the views (q_k . p_j, j != k),
and the fraction of regions whose nearest region in the other view (by
cosine) is itself:
  same 0.93 diff 0.41 top1 0.62 pairs 40
"""
import sys

import msgpack
import numpy as np


def arr(t):
    return np.frombuffer(t["data"], dtype=t["type"]).reshape(t["shape"])


def means(f, r):
    D = f.shape[0]
    K = int(r.max()) + 1
    flat = f.reshape(D, -1)
    lab = r.reshape(-1)
    m = np.zeros((K, D))
    c = np.bincount(lab[lab >= 0], minlength=K)
    for d in range(D):
        m[:, d] = np.bincount(lab[lab >= 0], weights=flat[d][lab >= 0], minlength=K)
    return m / np.maximum(c, 1)[:, None], c


def main():
    same, diff, top1, n = [], [], [], 0
    with open(sys.argv[1], "rb") as fh:
        for rec in msgpack.Unpacker(fh, raw=False, max_buffer_size=1 << 30):
            if rec.get("type") != "data":
                continue
            t = rec["tensors"]
            rq, rp = arr(t["regions"]), arr(t["regions_p"])
            K = int(max(rq.max(), rp.max())) + 1
            mq, cq = means(arr(t["features"]).astype(np.float64), np.where(rq >= 0, rq, -1))
            mp, cp = means(arr(t["features_p"]).astype(np.float64), np.where(rp >= 0, rp, -1))
            mq = np.pad(mq, ((0, K - len(mq)), (0, 0)))
            mp = np.pad(mp, ((0, K - len(mp)), (0, 0)))
            cq = np.pad(cq, (0, K - len(cq)))
            cp = np.pad(cp, (0, K - len(cp)))
            keep = (cq > 0) & (cp > 0)
            if keep.sum() < 2:
                continue
            q = mq[keep] / np.maximum(np.linalg.norm(mq[keep], axis=1, keepdims=True), 1e-12)
            p = mp[keep] / np.maximum(np.linalg.norm(mp[keep], axis=1, keepdims=True), 1e-12)
            s = q @ p.T
            k = s.shape[0]
            same.append(np.trace(s) / k)
            diff.append((s.sum() - np.trace(s)) / (k * k - k))
            top1.append((s.argmax(axis=1) == np.arange(k)).mean())
            n += 1
    print("same %.4f diff %.4f top1 %.4f pairs %d" % (np.mean(same), np.mean(diff), np.mean(top1), n))


if __name__ == "__main__":
    main()
