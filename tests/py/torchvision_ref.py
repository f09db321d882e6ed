"""An untrained torchvision ResNet as seg-finetune --global takes ImageNet
weights: saved with torch.save, converted by tools/pth2safetensors.py, and
its forward on a grey input (the slice repeated on the three channels) for
the C test to compare with (tests/test_torchvision.c).

    torchvision_ref.py DIR ARCH:H:W ...

for each ARCH (resnet18, resnet34, resnet50) writes DIR/ARCH.safetensors (the converted state dict, batch-norm running
statistics and affine parameters drawn at random so that evaluation mode
says something), DIR/ARCH_x.safetensors (x (2, 1, H, W)), and
DIR/ARCH_eval.safetensors, DIR/ARCH_train.safetensors: stage0 (ReLU after
bn1, before the max pool), stage1..4 (layer1..4) and pooled, in evaluation
and in training mode, computed in float64 (written as float32). With ARCH resnet18 it also writes DIR/broken.safetensors,
the same file without layer3.1 (a layout no torchvision ResNet has).
"""
import os
import sys

import torch
import torchvision

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.path.insert(0, os.path.join(here, "..", "..", "tools"))
from pth2safetensors import convert  # noqa: E402
from torch_models import load_safetensors, save_safetensors  # noqa: E402


def stages(m, x):
    x = x.repeat(1, 3, 1, 1)
    h = m.relu(m.bn1(m.conv1(x)))
    out = {"stage0": h}
    h = m.maxpool(h)
    for s in range(1, 5):
        h = getattr(m, "layer%d" % s)(h)
        out["stage%d" % s] = h
    out["pooled"] = torch.flatten(m.avgpool(h), 1)
    return out


def make(d, arch, H, W):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    m = getattr(torchvision.models, arch)(weights=None)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                n = mod.num_features
                mod.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                mod.running_var.copy_(0.5 + torch.rand(n, generator=g))
                mod.weight.copy_(0.5 + torch.rand(n, generator=g))
                mod.bias.copy_(0.1 * torch.randn(n, generator=g))
    pth = os.path.join(d, arch + ".pth")
    torch.save(m.state_dict(), pth)
    st = os.path.join(d, arch + ".safetensors")
    convert(pth, st)
    x = torch.rand(2, 1, H, W, generator=g)
    save_safetensors(os.path.join(d, arch + "_x.safetensors"), {"x": x})
    # the references in float64: in training mode the deep stages of a ResNet-50
    # normalise by the statistics of a few values per channel, where float32
    # itself (PyTorch's as lrcpipe's) is off by 1e-4
    m64 = m.double()
    with torch.no_grad():
        m64.eval()
        save_safetensors(os.path.join(d, arch + "_eval.safetensors"), stages(m64, x.double()))
        m64.train()
        save_safetensors(os.path.join(d, arch + "_train.safetensors"), stages(m64, x.double()))
    if arch == "resnet18":
        tensors, _ = load_safetensors(st)
        sd = {k: v for k, v in tensors.items() if not k.startswith("layer3.1.")}
        torch.save(sd, os.path.join(d, "broken.pth"))
        convert(os.path.join(d, "broken.pth"), os.path.join(d, "broken.safetensors"))
    os.remove(pth)


def main():
    for spec in sys.argv[2:]:
        arch, H, W = spec.split(":")
        make(sys.argv[1], arch, int(H), int(W))


if __name__ == "__main__":
    main()
