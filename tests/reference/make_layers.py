#!/usr/bin/env python3
"""Writes PyTorch reference files for the layers added after tests/golden was made (that folder is
a byte-identical copy of the team's shared one): forward and backward of nn.AvgPool2d and
nn.AdaptiveAvgPool2d(1) + flatten, and of tinydl's Residual block (bench/torch_resnet.py has its
PyTorch form) in double, in the format of tests/golden (see its README); and the study's ResNet
as a whole model (resnet_model); nn.CrossEntropyLoss with class weights; and the losses with
sample weights (MSELoss, BCEWithLogitsLoss with pos_weight, CrossEntropyLoss).
Run with Debian's python3-torch from the repository root:

    /usr/bin/python3 tests/reference/make_layers.py tests/reference
"""
import json
import os
import struct
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench"))
from torch_resnet import Residual  # noqa: E402  tinydl's Residual block in PyTorch


def save(path, tensors, metadata):
    """A safetensors file: 8-byte little-endian header length, JSON header, raw data."""
    header, blobs, offset = {"__metadata__": {k: str(v) for k, v in metadata.items()}}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        data = t.numpy().tobytes()
        header[name] = {"dtype": {torch.float64: "F64", torch.float32: "F32"}[t.dtype],
                        "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def case(out_dir, name, module, shape, seed, metadata, flatten=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    y = module(x)
    if flatten:
        y = y.flatten(1)
    dy = torch.randn(*y.shape, generator=g, dtype=torch.float64)
    y.backward(dy)
    metadata = dict(metadata, producer=f"PyTorch {torch.__version__}", seed=seed)
    save(f"{out_dir}/{name}.safetensors", {"x": x, "y": y, "dy": dy, "dx": x.grad}, metadata)


out = sys.argv[1] if len(sys.argv) > 1 else "tests/reference"
case(out, "avgpool2", torch.nn.AvgPool2d(2), (2, 3, 7, 6), 1,
     {"layer": "AvgPool2d", "kernel": 2, "stride": 2, "padding": 0, "count_include_pad": True})
case(out, "avgpool3_stride2_pad1", torch.nn.AvgPool2d(3, 2, 1), (2, 2, 9, 8), 2,
     {"layer": "AvgPool2d", "kernel": 3, "stride": 2, "padding": 1, "count_include_pad": True})
case(out, "avgpool3_stride2_pad1_exclude", torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False), (2, 2, 9, 8), 3,
     {"layer": "AvgPool2d", "kernel": 3, "stride": 2, "padding": 1, "count_include_pad": False})
case(out, "global_avgpool", torch.nn.AdaptiveAvgPool2d(1), (3, 4, 5, 7), 4,
     {"layer": "AdaptiveAvgPool2d(1) + flatten"}, flatten=True)



def block_case(out_dir, name, module, shape, seed, metadata):
    """Forward and backward of a block in training mode, in double: x, y, dy, dx, every parameter
    and buffer after the step (running statistics move) under its state_dict name, and the gradient
    of each trainable parameter as "d" + name."""
    g = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():  # weights drawn from the seed, BatchNorm's affine away from (1, 0)
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) * 0.5)
    params = {k: v.detach().clone() for k, v in module.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    x = torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)
    module.train()
    y = module(x)
    dy = torch.randn(*y.shape, generator=g, dtype=torch.float64)
    y.backward(dy)
    tensors = {"x": x, "y": y, "dy": dy, "dx": x.grad}
    tensors.update({"param." + k: v for k, v in params.items()})
    tensors.update({"after." + k: v.detach().clone() for k, v in module.state_dict().items()
                    if "running" in k})
    tensors.update({"d" + k: p.grad for k, p in module.named_parameters()})
    metadata = dict(metadata, producer=f"PyTorch {torch.__version__}", seed=seed)
    save(f"{out_dir}/{name}.safetensors", tensors, metadata)


nn = torch.nn
# Conv 3x3 stride 2 (no bias: BatchNorm follows) -> BatchNorm -> ReLU -> Conv 3x3 -> BatchNorm, shortcut Conv 1x1 stride 2 (no bias)
# -> BatchNorm: the downsampling block of a ResNet.
block_case(out, "residual_projection",
           Residual([nn.Conv2d(3, 4, 3, 2, 1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                     nn.Conv2d(4, 4, 3, 1, 1, bias=False), nn.BatchNorm2d(4)],
                    [nn.Conv2d(3, 4, 1, 2, bias=False), nn.BatchNorm2d(4)]),
           (3, 3, 7, 6), 5, {"layer": "Residual(conv s2, bn, relu, conv, bn; shortcut conv1x1 s2, bn)"})
# An identity block whose body holds another identity block: nesting and the names "1.0.weight".
block_case(out, "residual_nested",
           Residual([nn.Conv2d(2, 2, 3, 1, 1), nn.ReLU(),
                     Residual([nn.Conv2d(2, 2, 3, 1, 1), nn.Tanh()]), nn.Conv2d(2, 2, 1)]),
           (2, 2, 5, 5), 6, {"layer": "Residual(conv, relu, Residual(conv, tanh), conv 1x1)"})


def resnet_model_case(out_dir, seed=7, batch=4):
    """zoo::resnet as a whole: weights drawn from the seed (stored as F32, the values both sides use),
    computed in double. One training-mode pass on `batch` random images with labels: logits, the
    mean cross-entropy, the gradients of a few parameters along the whole depth, the running
    statistics it leaves; then an evaluation pass of the same images."""
    from torch_resnet import make_resnet
    g = torch.Generator().manual_seed(seed)
    model = make_resnet()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_((torch.randn(p.shape, generator=g) * 0.3).float())
    model = model.double()
    params = {"param." + k: v.detach().float().clone() for k, v in model.state_dict().items()
              if not k.endswith("num_batches_tracked")}
    x = torch.rand(batch, 1, 28, 28, generator=g, dtype=torch.float64).float().double()
    labels = torch.tensor([3, 0, 9, 5][:batch])
    model.train()
    logits = model(x)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    named = dict(model.named_parameters())
    checked = ["0.weight", "1.weight", "3.0.weight", "7.shortcut.0.weight", "11.shortcut.1.bias", "13.3.weight",
               "16.weight", "16.bias"]
    tensors = {"x": x.float(), "labels": labels.double(), "train_logits": logits, "loss": loss.reshape(1)}
    tensors.update({"d" + k: named[k].grad for k in checked})
    tensors.update({"after." + k: v.clone() for k, v in model.state_dict().items()
                    if k in ("1.running_mean", "9.4.running_var", "11.shortcut.1.running_mean")})
    model.eval()
    with torch.no_grad():
        tensors["eval_logits"] = model(x)
    tensors = {k: v.float() for k, v in tensors.items()}
    tensors.update(params)
    save(f"{out_dir}/resnet_model.safetensors", tensors,
         {"model": "zoo::resnet (bench/torch_resnet.py make_resnet)", "producer": f"PyTorch {torch.__version__}",
          "seed": seed, "checked_gradients": ",".join(checked)})


def weighted_cross_entropy_case(out_dir, seed=8):
    """nn.CrossEntropyLoss(weight=w) (mean over the weights) on logits (9, 5) in double: the loss and
    dL/dlogits, with a zero weight and a repeated class among the labels."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(9, 5, generator=g, dtype=torch.float64, requires_grad=True) * 3
    logits.retain_grad()
    labels = torch.tensor([0, 3, 3, 1, 4, 2, 0, 4, 3])
    weights = torch.tensor([0.5, 2.0, 0.0, 1.25, 3.0], dtype=torch.float64)
    loss = torch.nn.functional.cross_entropy(logits, labels, weight=weights)
    loss.backward()
    save(f"{out_dir}/weighted_cross_entropy.safetensors",
         {"logits": logits, "labels": labels.double(), "weights": weights, "loss": loss.reshape(1),
          "dlogits": logits.grad},
         {"loss": "nn.CrossEntropyLoss(weight=weights), mean reduction", "producer": f"PyTorch {torch.__version__}",
          "seed": seed})


def sample_weighted_losses_case(out_dir, seed=9):
    """The losses with per-item (sample) weights s, on logits (7, 4) in double, the mean over the
    weights as (loss(reduction="none") * s).sum() / s.sum() is in PyTorch (an element-wise loss's
    items are their outputs' means): nn.MSELoss, nn.BCEWithLogitsLoss with and without pos_weight,
    and nn.CrossEntropyLoss with class weights too (the item's weight is s_b weight[y_b]). A zero
    sample weight, and logits up to +-30 where the naive log(sigmoid) loses all precision."""
    F = torch.nn.functional
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(7, 4, generator=g, dtype=torch.float64) * 4
    z[0, 0], z[1, 2] = 30.0, -30.0
    targets = torch.rand(7, 4, generator=g, dtype=torch.float64)
    targets[2] = torch.tensor([0.0, 1.0, 1.0, 0.0])
    labels = torch.tensor([1, 0, 3, 3, 2, 1, 0])
    s = torch.tensor([1.0, 0.5, 2.0, 0.0, 1.5, 3.0, 1.0], dtype=torch.float64)
    pos = torch.tensor([0.5, 2.0, 1.0, 4.0], dtype=torch.float64)
    class_w = torch.tensor([1.0, 2.0, 0.5, 3.0], dtype=torch.float64)
    cases = {
        "mse": lambda z: F.mse_loss(z, targets),
        "mse_weighted": lambda z: (F.mse_loss(z, targets, reduction="none").mean(1) * s).sum() / s.sum(),
        "bce": lambda z: F.binary_cross_entropy_with_logits(z, targets),
        "bce_pos": lambda z: F.binary_cross_entropy_with_logits(z, targets, pos_weight=pos),
        "bce_pos_weighted": lambda z: (F.binary_cross_entropy_with_logits(
            z, targets, pos_weight=pos, reduction="none").mean(1) * s).sum() / s.sum(),
        "ce_weighted": lambda z: (F.cross_entropy(z, labels, reduction="none") * s).sum() / s.sum(),
        "ce_class_sample_weighted": lambda z: (F.cross_entropy(z, labels, weight=class_w, reduction="none")
                                               * s).sum() / (s * class_w[labels]).sum(),
    }
    tensors = {"logits": z, "targets": targets, "labels": labels.double(), "sample_weights": s,
               "pos_weight": pos, "class_weights": class_w}
    for name, f in cases.items():
        x = z.clone().requires_grad_(True)
        loss = f(x)
        loss.backward()
        tensors[f"{name}_loss"] = loss.detach().reshape(1)
        tensors[f"{name}_grad"] = x.grad
    save(f"{out_dir}/sample_weighted_losses.safetensors", tensors,
         {"losses": ",".join(cases), "producer": f"PyTorch {torch.__version__}", "seed": seed})


resnet_model_case(out)
weighted_cross_entropy_case(out)
sample_weighted_losses_case(out)
