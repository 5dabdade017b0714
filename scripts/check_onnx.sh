#!/usr/bin/env bash
# tinydl's ONNX exports checked by two real clients (issue 17): test_model "[onnx]" writes every
# study model (and one with the other exportable layers) with a batch of inputs and tinydl's
# logits; python3-onnx's checker (full check: shapes inferred) must accept each file, and ONNX
# Runtime (npm onnxruntime-node, CPU) must give the same logits to 1e-5.
#
#   bash scripts/check_onnx.sh [OUT]        (default build/onnx/models)
#
# Installs what it needs and is missing: python3-onnx from Debian, onnxruntime-node into build/ort.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
out=${1:-build/onnx/models}
install_missing_packages python3-onnx
command -v npm >/dev/null || install_missing_packages npm
source bench/onnx/install_ort.sh
install_onnxruntime_node build/ort

cmake -S . -B build/onnx -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/onnx -j "$(nproc)" --target test_model >/dev/null
rm -rf "$out" && mkdir -p "$out"
TINYDL_ONNX_DIR=$out build/onnx/tests/test_model "[onnx]"
say "python3-onnx's checker"
/usr/bin/python3 - "$out" <<'PY'
import glob, sys
import onnx
for path in sorted(glob.glob(sys.argv[1] + "/*.onnx")):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    print(f"{path}: valid (onnx {onnx.__version__}, IR {model.ir_version}, opset {model.opset_import[0].version}, "
          f"{len(model.graph.node)} nodes)")
PY
say "ONNX Runtime against tinydl's logits"
node bench/onnx/check_logits.cjs --models "$out" --ort build/ort
