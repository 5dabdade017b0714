#!/usr/bin/python3
"""Load models saved by tinydl into PyTorch and check that PyTorch computes the same logits.

    /usr/bin/python3 scripts/load_in_pytorch.py DIR

DIR holds, per model NAME in (mlp, basic_cnn, deeper_cnn, resnet), NAME.safetensors (written by
tinydl's Sequential::save) and NAME.expected.safetensors (an input batch "x" and tinydl's eval-mode
"logits" for it). Each model is built as torch.nn.Sequential exactly as in DESIGN.md, its
state_dict loaded with strict=True (every key, shape and dtype must fit), and run in eval mode.
Exits non-zero if anything does not match. Needs only Debian's python3-torch: the safetensors
files are parsed here (8-byte length, JSON header, raw little-endian data).
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32, "U8": torch.uint8}


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = bytearray(data[8 + n + begin:8 + n + end])
        t = torch.frombuffer(raw, dtype=DTYPES[entry["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[entry["dtype"]])
        tensors[name] = t.reshape(entry["shape"]).clone()
    return tensors, metadata


def make_model(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if name == "basic_cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    if name == "deeper_cnn":
        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]
        return nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2), nn.Dropout(0.25),
                             *block(32, 64), *block(64, 64), nn.MaxPool2d(2), nn.Dropout(0.25),
                             nn.Flatten(), nn.Linear(3136, 256), nn.BatchNorm1d(256), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(256, 10))
    if name == "resnet":  # tinydl's Residual blocks as a PyTorch module: bench/torch_resnet.py
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
        from torch_resnet import make_resnet
        return make_resnet()
    raise ValueError(name)


def main():
    directory = sys.argv[1]
    checked = 0
    for name in ("mlp", "basic_cnn", "deeper_cnn", "resnet"):
        path = os.path.join(directory, name + ".safetensors")
        if not os.path.exists(path):
            continue
        state, metadata = load_safetensors(path)
        expected, _ = load_safetensors(os.path.join(directory, name + ".expected.safetensors"))
        model = make_model(name)
        model.load_state_dict(state, strict=True)
        model.eval()
        with torch.no_grad():
            logits = model(expected["x"])
        error = (logits - expected["logits"]).abs().max().item() / expected["logits"].abs().max().item()
        print(f"{name}: {len(state)} tensors loaded with strict=True ({metadata.get('format')}), "
              f"logits relative error {error:.2e}")
        if error > 1e-4:
            print(f"{name}: PyTorch's logits differ from tinydl's", file=sys.stderr)
            return 1
        checked += 1
    if checked != 4:
        print(f"expected 4 models in {directory}, found {checked}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
