"""PyTorch's test-set inference throughput (batch 256, eval mode) and latency (batch 1, median of
2,000 single images) for the four study models, the baseline beside bench_train's
inference/<model> and latency/<model> figures. Uses the model definitions of the shared
PyTorch anchor (../shared/anchors/torch_fmnist.py, or the folder given by TORCH_ANCHOR_DIR; the
ResNet's from bench/torch_resnet.py) on
10,000 random 28x28 images; median of 5 passes.

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2 \
        /usr/bin/python3 bench/torch_inference.py --threads 2
"""
import argparse
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("TORCH_ANCHOR_DIR", os.path.join(here, "..", "..", "shared", "anchors")))
import torch  # noqa: E402
from torch_fmnist import make_model as make_anchor_model  # noqa: E402
from torch_resnet import make_resnet  # noqa: E402


def make_model(name):
    return make_resnet() if name == "resnet" else make_anchor_model(name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--passes", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(10000, 1, 28, 28)
    for name in ["mlp", "basic_cnn", "deeper_cnn", "resnet"]:
        model = make_model(name).eval()
        times = []
        with torch.no_grad():
            for _ in range(args.passes + 1):
                start = time.perf_counter()
                for i in range(0, x.shape[0], 256):
                    model(x[i:i + 256])
                times.append(time.perf_counter() - start)
        seconds = statistics.median(times[1:])  # the first pass warms up
        single = []
        with torch.no_grad():
            for i in range(2200):
                image = x[i:i + 1]
                start = time.perf_counter()
                model(image)
                if i >= 200:
                    single.append(time.perf_counter() - start)
        print(f"{name}: {x.shape[0] / seconds:,.0f} images/s ({args.threads} threads, batch 256); "
              f"batch 1: {statistics.median(single) * 1e6:.1f} us", flush=True)


if __name__ == "__main__":
    main()
