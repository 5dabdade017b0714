"""Exports the study models (the shared PyTorch anchor's three, bench/torch_resnet.py's ResNet) to ONNX (eval mode, batch axis
dynamic, opset 13), the files ONNX Runtime's baseline (ort_inference.mjs) times. The weights are
PyTorch's random initialisation: speed does not depend on them.

    /usr/bin/python3 bench/onnx/export_study_models.py OUT_DIR     (TORCH_ANCHOR_DIR: the anchor's folder)
"""
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("TORCH_ANCHOR_DIR", os.path.join(here, "..", "..", "..", "shared", "anchors")))
import torch  # noqa: E402
sys.path.insert(0, os.path.join(here, ".."))
from torch_fmnist import make_model  # noqa: E402
from torch_resnet import make_resnet  # noqa: E402


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_study_models.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    for name in ["mlp", "basic_cnn", "deeper_cnn", "resnet"]:
        model = (make_resnet() if name == "resnet" else make_model(name)).eval()
        path = os.path.join(out, name + ".onnx")
        torch.onnx.export(model, torch.zeros(1, 1, 28, 28), path, input_names=["images"], output_names=["logits"],
                          dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}}, opset_version=13)
        print(f"{name}: {path}")


if __name__ == "__main__":
    main()
