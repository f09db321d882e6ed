#!/usr/bin/python3
"""Read and write lrcpipe streams with nothing but msgpack and numpy.

    interop.py write PATH   write a stream (start, 2 data records, end); the
                            second record's arrays use bytes keys, as
                            msgpack-numpy writes them
    interop.py read PATH    read a stream written by frame-cat from the one
                            above and check every record and tensor
"""
import sys

import msgpack
import numpy as np


def array(a, bin_keys=False):
    d = {"nd": True, "type": a.dtype.str, "kind": b"", "shape": list(a.shape), "data": a.tobytes()}
    return {k.encode(): v for k, v in d.items()} if bin_keys else d


def expected():
    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    lab = (np.arange(12) % 3).astype(np.uint8).reshape(3, 4)
    return img, lab


def write(path):
    img, lab = expected()
    with open(path, "wb") as f:
        f.write(msgpack.packb({"v": 1, "type": "start", "producer": "interop.py", "version": "1",
                               "params": {"language": "python"}}))
        f.write(msgpack.packb({"v": 1, "type": "data", "id": "py0", "seq": 0, "z": 5,
                               "meta": {"spacing": [1.0, 1.0]},
                               "tensors": {"image": array(img), "label": array(lab)}}))
        f.write(msgpack.packb({"v": 1, "type": "data", "id": "py1", "seq": 1, "z": 6, "meta": {},
                               "tensors": {"image": array(img * 2, True), "label": array(lab, True)}}))
        f.write(msgpack.packb({"v": 1, "type": "end", "count": 2}))


def read(path):
    img, lab = expected()
    with open(path, "rb") as f:
        recs = list(msgpack.Unpacker(f, raw=False))
    types = [r["type"] for r in recs]
    assert types == ["start", "data", "data", "end"], types
    assert recs[0]["producer"] == "interop.py", recs[0]
    assert recs[-1]["count"] == 2
    for i, scale in ((1, 1), (2, 2)):
        t = recs[i]["tensors"]
        for name, want in (("image", img * scale), ("label", lab)):
            a = t[name]
            got = np.frombuffer(a["data"], dtype=np.dtype(a["type"])).reshape(a["shape"])
            assert got.dtype == want.dtype, (name, got.dtype)
            assert np.array_equal(got, want), (name, got)
    assert recs[1]["id"] == "py0" and recs[1]["z"] == 5 and recs[2]["seq"] == 1
    assert recs[1]["meta"]["spacing"] == [1.0, 1.0]


if __name__ == "__main__":
    {"write": write, "read": read}[sys.argv[1]](sys.argv[2])
