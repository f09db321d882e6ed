"""Check lrcpipe's models against PyTorch with the same weights.

    torch_ref.py unet DIR     U-Net forward + backward (tests/test_models.c)
    torch_ref.py resnet DIR   Eg + Dg + MLP head forward + backward
    torch_ref.py optim DIR    optimiser updates on fixed gradients

DIR holds what the C test wrote: model.safetensors (the weights before the
forward, written by ckpt.h) and out.safetensors (input, upstream gradient and
the C results). Prints the largest differences; exit status 1 when one is
above its tolerance.

Forward values: max |C - torch| <= 1e-4 of the tensor's largest magnitude.
Gradients: ||C - torch|| <= 1e-2 ||torch|| (L2, per tensor). Why L2 and
looser: a ReLU input within float rounding of 0 (one in ~10^6 activations)
may fall on the other side of the kink in one engine; that element's
gradient then differs by its whole contribution (a few % of a bias
gradient's largest element). Real backward errors are O(1). The largest
elementwise differences are printed too; without such a flip they are ~1e-5.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import MLP, ResDec, ResNet, UNet, load_safetensors  # noqa: E402

FWD_TOL = 1e-4
GRAD_TOL = 1e-2
torch.set_num_threads(1)
failed = []


def cmp(name, c, t, tol, l2=False):
    t = t.detach().to(torch.float64)
    c = c.to(torch.float64).reshape(t.shape)
    scale = t.abs().max().item()
    err = (c - t).abs().max().item()
    rel = err / (scale + 1e-12)
    if l2:
        ok = (c - t).norm().item() <= tol * (t.norm().item() + 1e-12)
    else:
        ok = rel <= tol
    if not ok:
        failed.append(name)
    return rel, ok, err, scale


def report(kind, results, tol):
    worst = max(results, key=lambda r: r[1][0]) if results else None
    if worst:
        name, (rel, ok, err, scale) = worst
        print("%-10s %3d tensors, worst %-34s max |diff| %.3g of max %.3g = %.3g (tol %g%s)"
              % (kind, len(results), name, err, scale, rel, tol, " in L2" if tol == GRAD_TOL else ""))
    for name, r in results:
        if not r[1]:
            print("  FAIL %s: %.3g" % (name, r[0]))


def model_of(meta, prefix):
    kind, cfg = meta[prefix + "model"], json.loads(meta[prefix + "config"])
    m = {"unet": UNet, "resnet": ResNet, "resdec": ResDec, "mlp": MLP}[kind](cfg)
    return m


def load_model(path, prefix, meta, tensors):
    m = model_of(meta, prefix)
    sd = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    m.load_state_dict(sd, strict=True)
    return m


def compare_params(m, out, prefix, label):
    grads, bufs = [], []
    for n, p in m.named_parameters():
        grads.append((prefix + n, cmp(prefix + n, out["grad." + prefix + n], p.grad, GRAD_TOL, True)))
    for n, b in m.named_buffers():
        if n.endswith("num_batches_tracked"):
            if int(out["after." + prefix + n].item()) != int(b.item()):
                failed.append(n)
            continue
        bufs.append((prefix + n, cmp(prefix + n, out["after." + prefix + n], b, FWD_TOL)))
    report(label + " grads", grads, GRAD_TOL)
    if bufs:
        report(label + " bufs", bufs, FWD_TOL)


def run_unet(d):
    tensors, meta = load_safetensors(os.path.join(d, "model.safetensors"))
    out, ometa = load_safetensors(os.path.join(d, "out.safetensors"))
    m = load_model(d, "", meta, tensors)
    m.train(ometa.get("training", "1") == "1")
    x = out["x"].clone().requires_grad_(True)
    f = m(x)
    f.backward(out["dfeat"])
    report("features", [("features", cmp("features", out["feat"], f, FWD_TOL))], FWD_TOL)
    report("dx", [("dx", cmp("dx", out["dx"], x.grad, GRAD_TOL, True))], GRAD_TOL)
    compare_params(m, out, "", "unet")


def run_resnet(d):
    tensors, meta = load_safetensors(os.path.join(d, "model.safetensors"))
    out, _ = load_safetensors(os.path.join(d, "out.safetensors"))
    eg = load_model(d, "eg.", meta, tensors)
    dg = load_model(d, "dg.", meta, tensors)
    head = load_model(d, "head.", meta, tensors)
    x = out["x"].clone().requires_grad_(True)
    stages, pooled = eg(x)
    feat = dg(stages[:4], stages[4])
    z = head(pooled)
    (feat * out["dfeat"]).sum().backward(retain_graph=True)
    (z * out["dz"]).sum().backward()
    res = [("stage%d" % s, cmp("stage%d" % s, out["stage%d" % s], stages[s], FWD_TOL)) for s in range(5)]
    res.append(("pooled", cmp("pooled", out["pooled"], pooled, FWD_TOL)))
    res.append(("feat", cmp("feat", out["feat"], feat, FWD_TOL)))
    res.append(("z", cmp("z", out["z"], z, FWD_TOL)))
    report("forward", res, FWD_TOL)
    report("dx", [("dx", cmp("dx", out["dx"], x.grad, GRAD_TOL, True))], GRAD_TOL)
    compare_params(eg, out, "eg.", "Eg")
    compare_params(dg, out, "dg.", "Dg")
    compare_params(head, out, "head.", "head")


def run_optim(d):
    """Optimiser updates on fixed gradients: params p0, gradients g1..gK,
    the C results final.<opt>; torch.optim in float64 on the same."""
    out, meta = load_safetensors(os.path.join(d, "optim.safetensors"))
    steps = int(meta["steps"])
    for opt in ("sgd", "sgd_nesterov", "adam", "adamw"):
        p = torch.nn.Parameter(out["p0"].to(torch.float64).clone())
        lr = float(meta["lr_" + opt])
        if opt.startswith("sgd"):
            o = torch.optim.SGD([p], lr=lr, momentum=0.9, weight_decay=1e-4, nesterov=opt.endswith("nesterov"))
        elif opt == "adam":
            o = torch.optim.Adam([p], lr=lr, weight_decay=1e-4)
        else:
            o = torch.optim.AdamW([p], lr=lr, weight_decay=1e-4)
        for k in range(steps):
            p.grad = out["g%d" % (k + 1)].to(torch.float64)
            o.step()
        moved = (p.detach() - out["p0"].to(torch.float64)).abs().max().item()
        err = (out["final." + opt].to(torch.float64) - p.detach()).abs().max().item()
        rel = err / moved
        print("%-13s x%d: max |C - torch float64| %.3g of the distance moved %.3g = %.3g (tol 5e-5)"
              % (opt, steps, err, moved, rel))
        if rel > 5e-5:
            failed.append(opt)


if __name__ == "__main__":
    mode, d = sys.argv[1], sys.argv[2]
    {"unet": run_unet, "resnet": run_resnet, "optim": run_optim}[mode](d)
    if failed:
        print("FAILED: " + ", ".join(failed[:10]))
        sys.exit(1)
    print("all within tolerance")
