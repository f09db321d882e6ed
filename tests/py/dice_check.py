#!/usr/bin/python3
"""Compare dice-eval --json with dice_ref.py score output.

  dice_check.py EVAL.json REF.json TOL
Every (volume, label) of the reference must be in dice-eval's output with
the same status and values within TOL (absolute; Dice, mm). Prints the
largest differences; exit 1 on any mismatch.
"""
import json
import math
import sys

ev = json.load(open(sys.argv[1]))
ref = json.load(open(sys.argv[2]))
tol = float(sys.argv[3])
worst = {"dice": 0.0, "hd95": 0.0, "assd": 0.0}
bad = 0
n = 0
byid = {v["id"]: v for v in ev["volumes"]}
for vid, labels in ref.items():
    v = byid.get(vid)
    if v is None:
        print(f"missing volume {vid}")
        bad += 1
        continue
    bylabel = {e["label"]: e for e in v["organs"].values()}
    for lab, r in labels.items():
        e = bylabel.get(int(lab))
        if e is None:
            print(f"{vid} label {lab}: missing in dice-eval output")
            bad += 1
            continue
        for k, x in r.items():
            y = e.get(k)
            n += 1
            if x == "inf":
                if y is not None or e["status"] not in ("missed", "spurious"):
                    print(f"{vid} label {lab} {k}: want inf, got {y} ({e['status']})")
                    bad += 1
                continue
            if y is None:
                print(f"{vid} label {lab} {k}: want {x}, got null")
                bad += 1
                continue
            d = abs(x - y)
            worst[k] = max(worst[k], d)
            if d > tol:
                print(f"{vid} label {lab} {k}: reference {x!r}, dice-eval {y!r}, diff {d:.3g}")
                bad += 1
    extra = {e["label"] for e in v["organs"].values() if e["status"] not in ("absent", "ignored")} - {int(l) for l in labels}
    if extra:
        print(f"{vid}: dice-eval scores labels {sorted(extra)} the reference does not")
        bad += 1
print(f"compared {n} values; largest |difference|: dice {worst['dice']:.3g}, hd95 {worst['hd95']:.3g} mm, assd {worst['assd']:.3g} mm")
sys.exit(1 if bad else 0)
