"""An independent reader of TensorBoard event files (TFRecord framing with
masked CRC-32C, tensorflow.Event / Summary protocol buffers), written from
the formats' specifications with struct alone: a bitwise CRC-32C (not the
table lrcpipe uses) and a generic protobuf wire-format walker.

  tfevents_read.py dump DIR            one JSON line per event
  tfevents_read.py compare DIR LOG     every record of the JSON Lines LOG
      with a "step" must be one event at that step whose scalars are the
      record's numbers (float32), tagged by key, "key/name", "key/i"; exit 1
      with the first difference
"""
import glob
import json
import math
import os
import struct
import sys


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283  # the check value of CRC-32C


def varint(buf, i):
    shift = v = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        if not b & 0x80:
            return v, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def fields(buf):
    """(field number, wire type, value) of one message"""
    i = 0
    while i < len(buf):
        key, i = varint(buf, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = varint(buf, i)
        elif w == 1:
            v = buf[i:i + 8]
            i += 8
        elif w == 2:
            n, i = varint(buf, i)
            v = buf[i:i + n]
            i += n
        elif w == 5:
            v = buf[i:i + 4]
            i += 4
        else:
            raise ValueError("wire type %d" % w)
        if i > len(buf):
            raise ValueError("field runs past the message")
        yield f, w, v


def records(path):
    with open(path, "rb") as fh:
        data = fh.read()
    i = 0
    while i < len(data):
        if i + 12 > len(data):
            raise ValueError("%s: truncated header at %d" % (path, i))
        (n,) = struct.unpack_from("<Q", data, i)
        (hc,) = struct.unpack_from("<I", data, i + 8)
        if hc != masked(data[i:i + 8]):
            raise ValueError("%s: length CRC mismatch at %d" % (path, i))
        body = data[i + 12:i + 12 + n]
        (dc,) = struct.unpack_from("<I", data, i + 12 + n)
        if dc != masked(body):
            raise ValueError("%s: data CRC mismatch at %d" % (path, i))
        yield body
        i += 16 + n


def event(body):
    ev = {"step": 0, "scalars": {}}
    for f, w, v in fields(body):
        if f == 1 and w == 1:
            ev["wall_time"] = struct.unpack("<d", v)[0]
        elif f == 2 and w == 0:
            ev["step"] = v - (1 << 64) if v >= 1 << 63 else v
        elif f == 3 and w == 2:
            ev["file_version"] = v.decode()
        elif f == 5 and w == 2:
            for sf, sw, sv in fields(v):
                if sf != 1 or sw != 2:
                    continue
                tag, val = None, None
                for vf, vw, vv in fields(sv):
                    if vf == 1 and vw == 2:
                        tag = vv.decode()
                    elif vf == 2 and vw == 5:
                        val = struct.unpack("<f", vv)[0]
                ev["scalars"][tag] = val
    return ev


def events(d):
    files = sorted(glob.glob(os.path.join(d, "*tfevents*")))
    if not files:
        raise SystemExit("no event file in %s" % d)
    out = []
    for p in files:
        evs = [event(b) for b in records(p)]
        if not evs or evs[0].get("file_version") != "brain.Event:2":
            raise SystemExit("%s: does not start with file_version brain.Event:2" % p)
        out += evs[1:]
    return out


def flat(prefix, v, out):
    if isinstance(v, bool):
        return
    if isinstance(v, (int, float)):
        out[prefix] = v
    elif isinstance(v, dict):
        for k, x in v.items():
            flat(prefix + "/" + k if prefix else k, x, out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            flat("%s/%d" % (prefix, i), x, out)


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def compare(d, log):
    evs = events(d)
    want = []
    with open(log) as fh:
        for line in fh:
            rec = json.loads(line)
            if not isinstance(rec.get("step"), int):
                continue
            s = {}
            flat("", {k: v for k, v in rec.items() if k != "step"}, s)
            want.append((rec["step"], s))
    if len(evs) != len(want):
        raise SystemExit("%d events, %d log records with a step" % (len(evs), len(want)))
    for ev, (step, s) in zip(evs, want):
        if ev["step"] != step:
            raise SystemExit("event at step %d, log record at step %d" % (ev["step"], step))
        if set(ev["scalars"]) != set(s):
            raise SystemExit("step %d: tags %s, log keys %s" % (step, sorted(ev["scalars"]), sorted(s)))
        for k, v in s.items():
            got = ev["scalars"][k]
            if not (got == f32(v) or (math.isnan(got) and math.isnan(v))):
                raise SystemExit("step %d: %s = %r, log %r" % (step, k, got, v))
        if not (1e9 < ev["wall_time"] < 1e10):
            raise SystemExit("step %d: wall_time %r" % (step, ev["wall_time"]))
    tags = sorted({k for _, s in want for k in s})
    print("%d events, tags %s" % (len(evs), " ".join(tags)))


if __name__ == "__main__":
    try:
        if sys.argv[1] == "dump":
            for e in events(sys.argv[2]):
                print(json.dumps(e))
        else:
            compare(sys.argv[2], sys.argv[3])
    except (ValueError, IndexError, struct.error) as e:
        raise SystemExit("tfevents_read: %s" % e)
