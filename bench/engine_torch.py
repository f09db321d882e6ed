"""PyTorch side of bench/engine.sh: training steps of the default U-Net.

    engine_torch.py BATCH SIZE STEPS REPS [THREADS [BUDGET]]

Builds the same U-Net as libcommon/models/unet.h (tests/py/torch_models.py), Adam
(lr 1e-3, weight decay 1e-4, the paper's optimiser for El + Dl), and times
full steps: forward, backward from a fixed upstream gradient (what a loss
would hand back), optimiser step, zero_grad. Prints one line:
    img_per_s=... maxrss_kb=...
(the best of up to REPS runs of STEPS steps, after 2 warm-up steps, within
BUDGET seconds (default 60) when the machine is slow). Run it as
bench/engine.sh does: OPENBLAS_NUM_THREADS=1, jemalloc preloaded with
MALLOC_CONF=dirty_decay_ms:-1,muzzy_decay_ms:-1.
"""
import os
import resource
import sys
import time

import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "py"))
from torch_models import UNet  # noqa: E402

batch, size, steps, reps = (int(a) for a in sys.argv[1:5])
threads = int(sys.argv[5]) if len(sys.argv) > 5 else 2
budget = float(sys.argv[6]) if len(sys.argv) > 6 else 60
torch.set_num_threads(threads)
torch.manual_seed(0)
cfg = {"in_ch": 1, "widths": [16, 32, 64, 128, 256], "out_ch": 64, "norm": "batch",
       "groups": 8, "bn_momentum": 0.1, "eps": 1e-5}
m = UNet(cfg).train()
opt = torch.optim.Adam(m.parameters(), lr=1e-3, weight_decay=1e-4)
x = torch.randn(batch, 1, size, size)
df = torch.randn(batch, 64, size, size) * 1e-3


def step():
    f = m(x)
    f.backward(df)
    opt.step()
    opt.zero_grad()


for _ in range(2):
    step()
best = 0.0
start = time.perf_counter()
for r in range(reps):
    if r >= 1 and time.perf_counter() - start > budget:
        break
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = time.perf_counter() - t0
    best = max(best, batch * steps / dt)
print("img_per_s=%.3f maxrss_kb=%d" % (best, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
