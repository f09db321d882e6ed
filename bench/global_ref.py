#!/usr/bin/python3
"""A global pre-training method's step in PyTorch, for bench/global.sh: the
reference lrcpipe's eg_trainer_step (libcommon/pretrain/egtrainer.h) is
measured against.

Usage: global_ref.py METHOD CHECKPOINT BATCH SIZE STEPS REPS [THREADS]

CHECKPOINT is `lrc-train --method METHOD --init`'s: the same parts and
configuration as lrcpipe's step (tests/py/eg_torch.py loads them). One
step: the method's loss on BATCH random SIZE x SIZE pairs (relloc: patches
at random grid positions), backward, SGD (momentum 0.9, weight decay 1e-4;
SimSiam's predictor at its fixed rate), and BYOL's moving average of the
target. Prints the best pairs/s of REPS runs of STEPS steps (after one
warm-up step), as "pairs_per_s X", for the better of NCHW and channels-last,
and "layout NAME (both rates)".

Run it as PyTorch is at its best on this machine (bench/global.sh does):
OPENBLAS_NUM_THREADS=1, jemalloc preloaded with its decay off, THREADS
(default 2).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "py"))
from eg_torch import load_parts, relloc_geom, step_loss  # noqa: E402
from steprate import best_rate, report_layouts  # noqa: E402


def main():
    method, ckpt = sys.argv[1], sys.argv[2]
    B, S, steps, reps = (int(v) for v in sys.argv[3:7])
    threads = int(sys.argv[7]) if len(sys.argv) > 7 else 2
    torch.set_num_threads(threads)
    results = []
    for layout in ("nchw", "channels_last"):
        fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        parts, meta = load_parts(ckpt)
        for m in parts.values():
            m.to(memory_format=fmt)
        cfg = json.loads(meta[method])
        trained = [p for p in parts if not p.startswith("target")]
        opts = {p: torch.optim.SGD(parts[p].parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4) for p in trained}
        g = torch.Generator().manual_seed(0)
        xq, xp = torch.rand(B, S, S, generator=g), torch.rand(B, S, S, generator=g)
        P, G, J = relloc_geom(cfg["patch"], cfg["gap"], cfg["jitter"], S, S) if method == "relloc" else (0, 0, 0)

        def step():
            pos = None
            if method == "relloc":  # relloc.h's draw
                E, step_ = 3 * P + 2 * G, P + G
                pos = torch.zeros(B, 5, dtype=torch.long)
                for b in range(B):
                    oy, ox = (int(v) for v in torch.randint(J, S - E - J + 1, (2,), generator=g))
                    lab = int(torch.randint(0, 8, (1,), generator=g))
                    cy, cx = divmod(lab + (lab >= 4), 3)
                    jit = [int(v) for v in torch.randint(-J, J + 1, (4,), generator=g)]
                    pos[b] = torch.tensor([lab, oy + step_ + jit[0], ox + step_ + jit[1],
                                           oy + cy * step_ + jit[2], ox + cx * step_ + jit[3]])
            loss = step_loss(method, parts, xq, xp, pos, P)[0]
            for o in opts.values():
                o.zero_grad(set_to_none=False)
            loss.backward()
            for o in opts.values():
                o.step()
            if method == "byol":
                with torch.no_grad():
                    for t, s in (("target.", ""), ("target_proj.", "proj.")):
                        for pt, ps in zip(parts[t].parameters(), parts[s].parameters()):
                            pt.mul_(cfg["ema"]).add_(ps, alpha=1 - cfg["ema"])

        results.append((best_rate(step, B, steps, reps), layout))
    report_layouts(results)


if __name__ == "__main__":
    main()
