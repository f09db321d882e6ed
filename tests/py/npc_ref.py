#!/usr/bin/python3
"""Reference values for tests/test_npcompat.c, written as .npy into DIR.

  npc_ref.py DIR

  exp_x.npy, exp_y.npy        arguments and np.exp of them (float64)
  kern_sigmas.npy             sigmas; kern_<i>.npy scipy's _gaussian_kernel1d
  gauss_<i>_in.npy / _out.npy gaussian_filter(in, (sy, sx), mode='reflect'),
                              gauss_<i>_sigma.npy = [sy, sx]
  sort_<i>_v.npy / _idx.npy   np.argsort(v) (int64)
"""
import sys

import numpy as np
from scipy import ndimage as ndi
from scipy.ndimage._filters import _gaussian_kernel1d


def main(d):
    rng = np.random.default_rng(20261125)
    x = np.concatenate([rng.uniform(-40, 0, 20000), rng.uniform(-700, 700, 5000), rng.uniform(-1e-6, 1e-6, 200),
                        (-0.5 / np.linspace(0.13, 20, 200)[:, None] ** 2 * np.arange(0, 30)[None, :] ** 2).ravel(),
                        [0.0, -0.0, 1.0, -1.0, 1e-300]])
    np.save(d + "/exp_x.npy", x)
    np.save(d + "/exp_y.npy", np.exp(x))

    sigmas = np.array([0.1, 0.3, 0.5, 0.7, 0.8, 1.0, 1.2, 1.5, 2.0, 3.3, 5.0, 10.0, 33.3])
    np.save(d + "/kern_sigmas.npy", sigmas)
    for i, s in enumerate(sigmas):
        np.save(d + "/kern_%d.npy" % i, _gaussian_kernel1d(float(s), 0, int(4.0 * s + 0.5)))

    shapes = [(1, 1), (2, 3), (5, 7), (3, 40), (64, 48), (17, 128)]
    sig = [(0.8, 0.8), (2.0, 2.0), (0.5, 1.5), (0.0, 1.0), (1.0, 0.0), (3.0, 3.0)]
    n = 0
    for sh in shapes:
        for sy, sx in sig:
            a = rng.random(sh)
            np.save(d + "/gauss_%d_in.npy" % n, a)
            np.save(d + "/gauss_%d_sigma.npy" % n, np.array([sy, sx]))
            np.save(d + "/gauss_%d_out.npy" % n, ndi.gaussian_filter(a, (sy, sx), mode="reflect", truncate=4.0))
            n += 1

    vs = [rng.random(1), rng.random(17), rng.random(1000), np.round(rng.random(5000) * 10) / 10,
          rng.integers(0, 3, 20000).astype(float), np.sort(np.round(rng.random(3000) * 50)),
          np.sort(np.round(rng.random(3000) * 50))[::-1].copy(), np.zeros(777),
          np.abs(np.diff(np.round(rng.random(100001) * 255) / 255))]
    for i, v in enumerate(vs):
        np.save(d + "/sort_%d_v.npy" % i, v)
        np.save(d + "/sort_%d_idx.npy" % i, np.argsort(v))
    print(n, len(vs))


if __name__ == "__main__":
    main(sys.argv[1])
