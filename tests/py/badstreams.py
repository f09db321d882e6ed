#!/usr/bin/python3
"""Write broken lrcpipe streams for the bad-input tests: badstreams.py DIR.

Each file holds a valid start and valid records before the broken one, so
the reader has to find the fault in the middle of a stream.
"""
import os
import sys

import msgpack
import numpy as np


def arr(a, **over):
    d = {"nd": True, "type": a.dtype.str, "kind": b"", "shape": list(a.shape), "data": a.tobytes()}
    d.update(over)
    return d


def rec(seq, tensors):
    return msgpack.packb({"v": 1, "type": "data", "id": "vol", "seq": seq, "z": seq, "meta": {},
                          "tensors": tensors})


START = msgpack.packb({"v": 1, "type": "start", "producer": "badstreams", "version": "1", "params": {}})
GOOD = [rec(i, {"image": arr(np.full((4, 4), i, np.float32))}) for i in range(3)]


def write(path, *parts):
    with open(path, "wb") as f:
        for p in parts:
            f.write(p)


def main(d):
    img = np.zeros((4, 4), np.float32)
    end = lambda n: msgpack.packb({"v": 1, "type": "end", "count": n})
    write(os.path.join(d, "good.frames"), START, *GOOD, end(3))
    write(os.path.join(d, "truncated.frames"), START, GOOD[0], GOOD[1], GOOD[2][:len(GOOD[2]) // 2])
    write(os.path.join(d, "count.frames"), START, GOOD[0], GOOD[1], end(3))
    write(os.path.join(d, "noend.frames"), START, *GOOD)
    write(os.path.join(d, "shape.frames"), START, GOOD[0], rec(1, {"image": arr(img, shape=[4, 5])}), end(2))
    write(os.path.join(d, "dtype.frames"), START, GOOD[0], rec(1, {"image": arr(img, type="<c8")}), end(2))
    write(os.path.join(d, "negdim.frames"), START, GOOD[0], rec(1, {"image": arr(img, shape=[-4, -4])}), end(2))
    write(os.path.join(d, "absurd.frames"), START, GOOD[0], rec(1, {"image": arr(img, shape=[1 << 62, 4])}), end(2))
    write(os.path.join(d, "version.frames"), msgpack.packb({"v": 7, "type": "data", "seq": 0}))
    rng = np.random.default_rng(1)
    write(os.path.join(d, "garbage.frames"), START, GOOD[0], rng.integers(0, 256, 5000, np.uint8).tobytes())
    # a record whose tensor claims 3 GiB and then the stream stops
    head = rec(0, {"image": arr(np.zeros((4, 4), np.float32))})
    claim = head[:head.index(b"data") + 4] + b"\xc6" + (3 << 30).to_bytes(4, "big")
    write(os.path.join(d, "claim.frames"), START, claim + b"\0" * 1000)
    big = rec(0, {"image": arr(np.zeros((64, 64), np.float32))})
    write(os.path.join(d, "big.frames"), START, big, end(1))


if __name__ == "__main__":
    main(sys.argv[1])
