#!/usr/bin/env python3
"""Writes PyTorch reference files for the layers added after tests/golden was made (that folder is
a byte-identical copy of the team's shared one): forward and backward of nn.AvgPool2d and
nn.AdaptiveAvgPool2d(1) + flatten in double, in the format of tests/golden (see its README).
Run with Debian's python3-torch from the repository root:

    /usr/bin/python3 tests/reference/make_layers.py tests/reference
"""
import json
import struct
import sys

import torch


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
