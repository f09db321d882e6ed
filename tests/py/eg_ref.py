"""The global pre-training methods of egtrainer.h in PyTorch, on the batch
and the weights the C test used: loss, metric, gradients and batch-norm
buffers compared with lrcpipe's.

    eg_ref.py METHOD DIR

DIR holds model.safetensors (the trainer's checkpoint before the step) and
out.safetensors (the batch xq, xp (B, H, W), relloc's patch positions
`pos` (B, 5: label, centre y, x, neighbour y, x) and patch size `patch`,
DenseCL's key order `perm` (B; its queues are in model.safetensors) and
the keys `keys`, `keys2` (B, D) its queues receive (max |diff| <= 1e-5),
Models Genesis's transformed inputs `gx` and targets `gy` (B, H, W),
and the C results: loss, metric, grad.PREFIXNAME of every trained tensor,
after.PREFIXNAME of every buffer after the forward). Prints the largest
differences; exit status 1 when one is above its tolerance.

Loss and metric: relative difference <= 1e-5 (accuracy: exact, or one
sample off when two logits are within float rounding). Gradients: L2 norm of
the difference <= 1e-3 of the L2 norm of torch's gradient, per tensor (a
ReLU input within rounding of zero can flip its single element either way;
the norm over a tensor is not at the mercy of one element), or of 1e-3 of
the part's largest gradient norm when that is larger (a gradient that is 0
in exact arithmetic is rounding noise on both sides). Buffers:
max |diff| <= 1e-4 of the largest magnitude (at least 1e-3).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from eg_torch import load_parts, step_loss  # noqa: E402
from torch_models import load_safetensors  # noqa: E402

torch.set_num_threads(1)
GRAD_TOL, BUF_TOL, LOSS_TOL = 1e-3, 1e-4, 1e-5
failed = []


def run(method, d):
    parts, meta = load_parts(os.path.join(d, "model.safetensors"))
    out, ometa = load_safetensors(os.path.join(d, "out.safetensors"))
    pos, P = (out["pos"].long(), int(out["patch"].item())) if "pos" in out else (None, None)
    extra = None
    if method == "densecl":
        mt, _ = load_safetensors(os.path.join(d, "model.safetensors"))
        extra = (json.loads(meta["densecl"]), mt["densecl.queue"], mt["densecl.queue2"], out["perm"].long())
    elif method == "genesis":
        extra = (out["gx"], out["gy"])
    loss, metric, n = step_loss(method, parts, out["xq"], out["xp"], pos, P, extra)
    loss.backward()
    cl, cm = out["loss"].double().item(), out["metric"].double().item()
    el = abs(cl - loss.item()) / max(abs(loss.item()), 1e-12)
    em = abs(cm - metric.item())
    print("%s: loss C %.8f torch %.8f (rel %.1e); metric C %.6f torch %.6f" % (method, cl, loss.item(), el, cm,
                                                                              metric.item()))
    if el > LOSS_TOL:
        failed.append("loss")
    if method == "densecl":
        from eg_torch import densecl_loss
        for name, k in zip(("keys", "keys2"), densecl_loss.keys):
            e = (out[name].double() - k.double()).abs().max().item()
            print("  %s (what the queues receive): max |diff| %.1e" % (name, e))
            if e > 1e-5:
                failed.append(name)
    if method in ("rotation", "relloc", "densecl"):
        if em > 1.0 / n + 1e-9:
            failed.append("metric")
    elif em > LOSS_TOL * max(abs(metric.item()), 1e-3):
        failed.append("metric")
    worst_g, worst_b, ng, nb = (0, ""), (0, ""), 0, 0
    for prefix, m in parts.items():
        # a tensor whose gradient is 0 in exact arithmetic (a bias before a batch norm
        # in training mode) holds rounding noise: its norm is measured against 1e-3 of
        # the part's largest gradient norm instead
        floor = 1e-3 * max([p.grad.double().norm().item() for p in m.parameters() if p.grad is not None] + [0])
        for name, prm in m.named_parameters():
            key = "grad." + prefix + name
            if key not in out:
                if prm.grad is not None and prm.grad.abs().max() > 0:
                    failed.append(key + " (absent in C)")
                continue
            g = prm.grad if prm.grad is not None else torch.zeros_like(prm)
            rel = (out[key].double() - g.double()).norm().item() / max(g.double().norm().item(), floor, 1e-30)
            ng += 1
            worst_g = max(worst_g, (rel, prefix + name))
            if rel > GRAD_TOL:
                failed.append(key)
        for name, buf in m.named_buffers():
            key = "after." + prefix + name
            if name.endswith("num_batches_tracked"):
                if int(out[key].item()) != int(buf.item()):
                    failed.append(key)
                continue
            # floor 1e-3: a batch norm after a batch norm without affine (SimSiam's predictor
            # reads a zero-mean z) has running means of pure rounding noise
            rel = (out[key].double() - buf.double()).abs().max().item() / max(buf.double().abs().max().item(), 1e-3)
            nb += 1
            worst_b = max(worst_b, (rel, prefix + name))
            if rel > BUF_TOL:
                failed.append(key)
    print("  gradients: %d tensors, worst %s |diff|/|g| %.2e (tol %g); buffers: %d, worst %s %.2e (tol %g)"
          % (ng, worst_g[1], worst_g[0], GRAD_TOL, nb, worst_b[1], worst_b[0], BUF_TOL))


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
    if failed:
        print("FAILED: " + ", ".join(failed[:10]))
        sys.exit(1)
    print("all within tolerance")
