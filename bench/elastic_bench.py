#!/usr/bin/python3
"""elastic-aug against the SciPy recipe of Simard's elastic transform, in the
same run, on the same real slices: prints milliseconds per slice and ratios.

usage: elastic_bench.py ELASTIC_AUG SLICES [EPOCHS]

The recipe (what most Python pipelines do per slice): uniform noise in
[-1, 1) for each axis, scipy.ndimage.gaussian_filter(sigma, mode='reflect'),
times alpha, added to the pixel grid, then map_coordinates(order=1) for the
image and map_coordinates(order=0) for the region map, both mode='reflect',
and np.bincount for the regions that survive. It runs in-process on arrays
already in memory; elastic-aug is timed as a whole process, frame decoding
and encoding and start-up included, over EPOCHS passes of the file.
"""
import os
import resource
import subprocess
import sys
import time

import numpy as np
from scipy.ndimage import gaussian_filter, map_coordinates

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from elastic_ref import read_frames  # noqa: E402

ALPHA, SIGMA, REPS = 34.0, 4.0, 3


def recipe(img, reg, rng):
    Y, X = img.shape
    dy = gaussian_filter(rng.uniform(-1, 1, (Y, X)), SIGMA, mode="reflect") * ALPHA
    dx = gaussian_filter(rng.uniform(-1, 1, (Y, X)), SIGMA, mode="reflect") * ALPHA
    y, x = np.meshgrid(np.arange(Y), np.arange(X), indexing="ij")
    c = np.array([y + dy, x + dx])
    img_p = map_coordinates(img, c, order=1, mode="reflect")
    reg_p = map_coordinates(reg, c, order=0, mode="reflect")
    K = int(reg.max()) + 1
    keep = (np.bincount(reg[reg >= 0], minlength=K) >= 16) & (np.bincount(reg_p[reg_p >= 0], minlength=K) >= 16)
    return img_p, reg_p, keep


def best(fn):
    ts = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    aug, slices = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    recs = read_frames(slices)
    n = len(recs)
    shape = recs[0]["tensors"]["image"].shape
    rng = np.random.default_rng(0)
    c0 = time.process_time()
    t_ref = best(lambda: [recipe(r["tensors"]["image"], r["tensors"]["regions"], rng) for r in recs]) / n
    cpu_ref = (time.process_time() - c0) / (REPS * n)

    same = ["--rotate", "0", "--scale", "0", "--brightness", "0", "--contrast", "0", "--gamma", "0", "--noise", "0"]

    def run(threads, extra):
        env = dict(os.environ)
        cmd = [aug, "--seed", "1", "--threads", str(threads), "--alpha", str(ALPHA), "--sigma", str(SIGMA),
               "--epochs", str(epochs), "-i", slices] + extra
        # stdout to the null device, not "-o /dev/null" (older stream code renamed a file over it)
        c0 = children_cpu()
        wall = best(lambda: subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)) / (n * epochs)
        return wall, (children_cpu() - c0) / (REPS * n * epochs)

    print("slices: %d real slices of %dx%d (%s), alpha %g, sigma %g; best of %d runs each" %
          (n, shape[0], shape[1], os.path.basename(slices), ALPHA, SIGMA, REPS))
    print("scipy recipe (gaussian_filter x2, map_coordinates order 1 + 0, bincount): %.2f ms/slice (CPU %.2f)" %
          (t_ref * 1e3, cpu_ref * 1e3))
    rows = [("elastic-aug, the same work, 1 thread", run(1, same)),
            ("elastic-aug, the same work, 2 threads", run(2, same)),
            ("elastic-aug, defaults (+ affine, intensity jitter), 2 threads", run(2, []))]
    for name, (t, cpu) in rows:
        print("%-62s %7.2f ms/slice  %5.1fx the recipe's speed  (CPU %.2f ms/slice, %.1fx)" %
              (name, t * 1e3, t_ref / t, cpu * 1e3, cpu_ref / cpu))
    print("(elastic-aug times include process start-up and frame I/O, %d records per run; CPU is the mean over"
          " the runs, user + system of all threads, less sensitive to a loaded machine than the wall clock)" %
          (n * epochs))


if __name__ == "__main__":
    main()
