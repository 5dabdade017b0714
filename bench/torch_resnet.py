#!/usr/bin/python3
"""The study's fourth model, tinydl's zoo::resnet, in PyTorch: its baseline beside the shared anchor
(../shared/anchors/torch_fmnist.py, or the folder given by TORCH_ANCHOR_DIR), whose data split,
training loop and evaluation it reuses. Debian's python3-torch (PyTorch 1.13), /usr/bin/python3:

  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 /usr/bin/python3 bench/torch_resnet.py --mode full
      the study's budget: Adam 1e-3, batch 64, up to 30 epochs, early stopping on the validation
      loss (patience 3), best weights restored, then test loss and accuracy
  ... --mode probe --batches 150     time N training steps (seconds per epoch estimated from them)
  ... --mode check FILE              load a tinydl-saved resnet (best.safetensors of the study) with
                                     load_state_dict(strict=True) and evaluate it on the test set

`Residual` keeps the body's layers as children "0", "1", ... and the shortcut as "shortcut.0", ...,
so the state_dict has tinydl's names ("3.0.weight", "7.shortcut.1.running_var") and layouts.
Results are appended as one JSON object per run to --jsonl.
"""
import argparse
import copy
import json
import os
import statistics
import struct
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("TORCH_ANCHOR_DIR", os.path.join(here, "..", "..", "shared", "anchors")))
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402


class Residual(nn.Module):
    """y = body(x) + shortcut(x), the shortcut the identity when it has no layers (tinydl's Residual)."""

    def __init__(self, body, shortcut=()):
        super().__init__()
        for i, layer in enumerate(body):
            self.add_module(str(i), layer)
        self.body_size = len(body)
        self.shortcut = nn.Sequential(*shortcut) if shortcut else None

    def forward(self, x):
        y = x
        for i in range(self.body_size):
            y = self._modules[str(i)](y)
        return y + (self.shortcut(x) if self.shortcut is not None else x)


class GlobalAveragePooling2d(nn.Module):
    """(N, C, H, W) -> (N, C), the mean over each map: tinydl's GlobalAveragePooling2D, one layer
    (AdaptiveAvgPool2d + Flatten would be two, and shift the Dense layer's index in the names)."""

    def forward(self, x):
        return x.mean((2, 3))


def resnet_block(cin, cout, stride):
    """[Conv 3x3 -> BatchNorm -> ReLU -> Conv 3x3 -> BatchNorm] + (x, or Conv 1x1 stride 2 -> BatchNorm)."""
    body = [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
            nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)]
    shortcut = [nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)] if stride != 1 else []
    return Residual(body, shortcut)


def make_resnet(classes=10):
    """zoo::resnet: Conv 16 -> BN -> ReLU, three stages of two blocks (16, 32, 64 channels), each block
    followed by a ReLU, global average pooling, Dense 10."""
    layers = [nn.Conv2d(1, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()]
    cin = 16
    for stage, cout in enumerate([16, 32, 64]):
        for block in range(2):
            layers += [resnet_block(cin, cout, 2 if stage > 0 and block == 0 else 1), nn.ReLU()]
            cin = cout
    layers += [GlobalAveragePooling2d(), nn.Linear(64, classes)]
    return nn.Sequential(*layers)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(body[begin:end], dtype=dtypes[info["dtype"]]).copy()
                                     .reshape(info["shape"]))
    return out


def main():
    import torch_fmnist as anchor
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--mode", default="full", choices=["full", "probe", "check"])
    ap.add_argument("--file", help="check mode: a tinydl resnet file (best.safetensors)")
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batches", type=int, default=150)
    ap.add_argument("--jsonl", default="torch_resnet_runs.jsonl")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    bs = 64
    Xtr, Ytr, Xva, Yva, Xte, Yte = anchor.load_data()
    model = make_resnet()
    crit, crit_sum = nn.CrossEntropyLoss(), nn.CrossEntropyLoss(reduction="sum")
    res = dict(model="resnet", mode=args.mode, threads=torch.get_num_threads(), seed=args.seed,
               torch=torch.__version__, params=sum(p.numel() for p in model.parameters()))
    if args.mode == "check":
        saved = read_safetensors(args.file)
        saved = {k: v.reshape(()) if k.endswith("num_batches_tracked") else v for k, v in saved.items()}
        model.load_state_dict(saved, strict=True)  # every name and shape, nothing missing or extra
        test_loss, test_acc, _ = anchor.evaluate(model, crit_sum, Xte, Yte)
        res.update(file=args.file, test_loss=test_loss, test_acc=test_acc)
        print(f"[resnet] {args.file}: loaded strictly, test loss {test_loss:.4f} accuracy {test_acc:.4f}")
    elif args.mode == "probe":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        perm = torch.randperm(Xtr.shape[0])
        model.train()

        def step(b):
            idx = perm[(b * bs) % 53952:(b * bs) % 53952 + bs]
            opt.zero_grad(set_to_none=True)
            crit(model(Xtr[idx]), Ytr[idx]).backward()
            opt.step()

        for b in range(10):
            step(b)
        t0 = time.perf_counter()
        for b in range(10, 10 + args.batches):
            step(b)
        secs = time.perf_counter() - t0
        res.update(probe_batches=args.batches, probe_secs=secs, probe_est_epoch_s=secs / args.batches * 844)
        print(f"[resnet] probe {args.batches} steps: {secs:.2f}s, est epoch {res['probe_est_epoch_s']:.1f}s")
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        best_loss, best_state, best_epoch, bad, hist = float("inf"), None, -1, 0, []
        for ep in range(1, args.max_epochs + 1):
            tl, ta, tsec = anchor.train_epoch(model, opt, crit, Xtr, Ytr, bs, progress=False)
            vl, va, vsec = anchor.evaluate(model, crit_sum, Xva, Yva)
            hist.append(dict(epoch=ep, train_loss=tl, train_acc=ta, val_loss=vl, val_acc=va, epoch_s=tsec))
            improved = vl < best_loss
            if improved:
                best_loss, best_state, best_epoch, bad = vl, copy.deepcopy(model.state_dict()), ep, 0
            else:
                bad += 1
            print(f"[resnet] epoch {ep:2d}  train {tl:.4f}/{ta:.4f}  val {vl:.4f}/{va:.4f}  {tsec:.1f}s"
                  f"{' *' if improved else ''}", flush=True)
            if bad >= 3:
                break
        model.load_state_dict(best_state)
        test_loss, test_acc, _ = anchor.evaluate(model, crit_sum, Xte, Yte)
        res.update(epochs_run=len(hist), best_epoch=best_epoch, history=hist, test_loss=test_loss,
                   test_acc=test_acc, epoch_s_median=statistics.median(h["epoch_s"] for h in hist))
        print(f"[resnet] TEST acc {test_acc:.4f} loss {test_loss:.4f}, best epoch {best_epoch} of {len(hist)}, "
              f"median epoch {res['epoch_s_median']:.1f}s", flush=True)
    with open(args.jsonl, "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
