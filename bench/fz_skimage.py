#!/usr/bin/python3
"""skimage's side of bench/fz.sh.

  fz_skimage.py time FRAMES SCALE SIGMA MIN_SIZE REPS
      compute time of skimage.segmentation.felzenszwalb in-process (the
      thread's CPU time, time.thread_time), per slice the best of REPS calls,
      summed: "slices N best_sum_s S"
  fz_skimage.py pipe SCALE SIGMA MIN_SIZE < FRAMES > FRAMES
      the whole-process equivalent of fz-superpixel: read frames, add
      `regions` and meta K, write frames (for throughput)
"""
import sys
import time

import msgpack
import numpy as np

sys.path.insert(0, __file__.rsplit("/", 2)[0] + "/tests/py")
import fz_ref  # noqa: E402  (frame <-> numpy helpers)


def main():
    from skimage.segmentation import felzenszwalb
    if sys.argv[1] == "time":
        path, scale, sigma, min_size, reps = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
        total, n = 0.0, 0
        for rec in fz_ref.read_stream(path):
            img = fz_ref.arr_from(rec["tensors"]["image"])
            best = 1e30
            for _ in range(reps):
                t0 = time.thread_time()
                felzenszwalb(img, scale=scale, sigma=sigma, min_size=min_size)
                best = min(best, time.thread_time() - t0)
            total += best
            n += 1
        print("slices %d best_sum_s %.6f" % (n, total))
        return 0
    scale, sigma, min_size = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    out = sys.stdout.buffer
    for rec in msgpack.Unpacker(sys.stdin.buffer, raw=False, strict_map_key=False, max_buffer_size=1 << 31):
        if rec.get("type") == "data":
            img = fz_ref.arr_from(rec["tensors"]["image"])
            lab = felzenszwalb(img, scale=scale, sigma=sigma, min_size=min_size).astype(np.int32)
            rec["tensors"]["regions"] = fz_ref.arr_to(lab)
            rec.setdefault("meta", {})["K"] = int(lab.max()) + 1
        out.write(msgpack.packb(rec, use_bin_type=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
