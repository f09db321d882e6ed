"""Check lrcpipe's models against PyTorch with the same weights.

    torch_ref.py pick KIND:DIR:N:H:W ...
        choose the input x (N, 1, H, W) of each check: of 12 random
        candidates, the one whose ReLU inputs and max-pool windows are
        farthest from a kink; writes DIR/x.safetensors with x and upstream
        gradients dfeat (N, 64, H, W) and dz (N, 16). KIND: unet or resnet.
    torch_ref.py check MODE:DIR ...
        unet    U-Net forward + backward (tests/test_models.c)
        resnet  Eg + Dg + MLP head forward + backward
        optim   optimiser updates on fixed gradients

DIR holds what the C test wrote: model.safetensors (the weights before the
forward, written by ckpt.h) and out.safetensors (input, upstream gradient and
the C results). Prints the largest differences; exit status 1 when one is
above its tolerance.

Forward values: max |C - torch| <= 1e-4 of the tensor's largest magnitude.
Gradients: max |C - torch| <= 1e-3 of the tensor's largest magnitude.
Why the input is picked: a ReLU input within float rounding of 0 (about one
in 10^6 activations) may fall on the other side of the kink in either
engine, and then that element's gradient differs by its whole contribution
(several % of a bias gradient), which says nothing about either engine. So
the check runs on an input whose every ReLU input is farthest from 0 and
whose every max-pool window has the clearest winner, measured in PyTorch.
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import MLP, ResDec, ResNet, UNet, load_safetensors  # noqa: E402

FWD_TOL = 1e-4
GRAD_TOL = 1e-3
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
        print("%-10s %3d tensors, worst %-34s max |diff| %.3g of max %.3g = %.3g (tol %g)"
              % (kind, len(results), name, err, scale, rel, tol))
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
        grads.append((prefix + n, cmp(prefix + n, out["grad." + prefix + n], p.grad, GRAD_TOL)))
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
    report("dx", [("dx", cmp("dx", out["dx"], x.grad, GRAD_TOL))], GRAD_TOL)
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
    report("dx", [("dx", cmp("dx", out["dx"], x.grad, GRAD_TOL))], GRAD_TOL)
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


def kink_margin(forward):
    """Smallest |ReLU input| and smallest top-2 gap of a max-pool window, each
    relative to the std of its tensor, over one forward."""
    import torch.nn.functional as F
    margins = []
    relu, pool = F.relu, F.max_pool2d

    def relu_spy(x, *a, **k):
        margins.append((x.abs().min() / (x.std() + 1e-12)).item())
        return relu(x, *a, **k)

    def pool_spy(x, k, *a, **kw):
        n, c, h, w = x.shape
        if k == 2:
            u = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h // 2, w // 2, 4)
        else:  # the torchvision stem's 3x3 / 2, padding 1 (padding never wins)
            p = F.pad(x, (1, 1, 1, 1), value=float("-inf"))
            u = p.unfold(2, 3, 2).unfold(3, 3, 2).reshape(n, c, (h - 1) // 2 + 1, (w - 1) // 2 + 1, 9)
        s = u.sort(dim=-1, descending=True).values
        gap = s[..., 0] - s[..., 1]
        # ties among ReLU zeros are harmless: the gradient dies at the ReLU either way
        gap = torch.where(s[..., 0] > 0, gap, torch.full_like(gap, float("inf")))
        margins.append((gap.min() / (x.std() + 1e-12)).item())
        return pool(x, k, *a, **kw)

    F.relu, F.max_pool2d = relu_spy, pool_spy
    try:
        with torch.no_grad():
            forward()
    finally:
        F.relu, F.max_pool2d = relu, pool
    return min(margins)


def run_pick(d, kind, n, c, h, w, dd=64):
    from torch_models import save_safetensors
    tensors, meta = load_safetensors(os.path.join(d, "model.safetensors"))
    if kind == "unet":
        m = load_model(d, "", meta, tensors)
        m.train(True)
        fwd = lambda x: m(x)
    else:
        eg, dg, head = (load_model(d, p, meta, tensors) for p in ("eg.", "dg.", "head."))

        def fwd(x):
            st, pooled = eg(x)
            return dg(st[:4], st[4]), head(pooled)
    best = (-1, None)
    for seed in range(12):
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, c, h, w, generator=g)
        mg = kink_margin(lambda: fwd(x))
        if mg > best[0]:
            best = (mg, x)
    g = torch.Generator().manual_seed(1000)
    out = {"x": best[1], "dfeat": torch.randn(n, dd, h, w, generator=g),
           "dz": torch.randn(n, 16, generator=g)}
    save_safetensors(os.path.join(d, "x.safetensors"), out)
    print("picked the input whose ReLU inputs and pool windows are farthest from a kink: "
          "margin %.2g std" % best[0])


if __name__ == "__main__":
    # torch_ref.py pick KIND:DIR:N:H:W ...   |   torch_ref.py check MODE:DIR ...
    what = sys.argv[1]
    for spec in sys.argv[2:]:
        f = spec.split(":")
        if what == "pick":
            print("%s: " % os.path.basename(f[1]), end="")
            run_pick(f[1], f[0], int(f[2]), 1, int(f[3]), int(f[4]))
        else:
            print("== %s" % open(os.path.join(f[1], "title")).read().strip())
            {"unet": run_unet, "resnet": run_resnet, "optim": run_optim}[f[0]](f[1])
    if failed:
        print("FAILED: " + ", ".join(failed[:10]))
        sys.exit(1)
    print("all within tolerance" if what == "check" else "inputs picked")
