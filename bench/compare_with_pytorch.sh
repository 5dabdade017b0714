#!/usr/bin/env bash
# tinydl's bench_train beside its peers, alternating for ROUNDS rounds (the machine is noisy:
# compare medians of ratios from one sitting). Writes everything under OUT:
#   tinydl-<round>.txt   bench_train: fma_peak, train_step, inference (batch 256), latency
#                        (batch 1), user_parallel_region (3 repetitions)
#   torch-<round>.txt    torch_fmnist.py --mode probe (150 timed training steps -> seconds per
#                        epoch) per model at 2 threads (torch_resnet.py for the ResNet), and
#                        torch_inference.py (batch 256 and 1)
#   ort-<round>.txt      ONNX Runtime (npm onnxruntime-node, CPU) on the same models exported from
#                        PyTorch (onnx/export_study_models.py, onnx/ort_inference.cjs)
#
#   bash bench/compare_with_pytorch.sh [OUT]        (ROUNDS=2, TORCH_ANCHOR_DIR=../shared/anchors)
#
# Installs what it needs and is missing: TINYDL_BENCH_PACKAGES (PyTorch) and npm from Debian, and
# onnxruntime-node (ORT_VERSION, default 1.30.0) into build/ort with ONNXRUNTIME_NODE_INSTALL=skip:
# its CPU binaries are in the package; the install script would download GPU binaries, which fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
out=${1:-runs/perf-$(date +%Y%m%d-%H%M%S)}
rounds=${ROUNDS:-2}
anchor=${TORCH_ANCHOR_DIR:-../shared/anchors}
mkdir -p "$out"

install_missing_packages "${TINYDL_BENCH_PACKAGES[@]}"
command -v npm >/dev/null || install_missing_packages npm  # (a node install of its own brings one)
source bench/onnx/install_ort.sh
install_onnxruntime_node build/ort
TORCH_ANCHOR_DIR=$anchor /usr/bin/python3 bench/onnx/export_study_models.py "$out/onnx" >/dev/null

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DTINYDL_BUILD_BENCH=ON >/dev/null
cmake --build build/release -j "$(nproc)" --target bench_train >/dev/null

# Debian's OpenBLAS 0.3.21 does not recognise these VMs' CPUs and falls back to its SSE3 kernel:
# name the widest kernel the CPU runs (SkylakeX's AVX-512 code dies with SIGILL on an AVX2 CPU).
if grep -q -w avx512f /proc/cpuinfo; then
  coretype=SkylakeX
elif grep -q -w avx2 /proc/cpuinfo; then
  coretype=Haswell
else
  coretype=Prescott
fi
echo "OPENBLAS_CORETYPE=$coretype for PyTorch" | tee "$out/environment.txt"
torch_env=(env OPENBLAS_CORETYPE=$coretype OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2)
for round in $(seq 1 "$rounds"); do
  echo "round $round: tinydl"
  build/release/bench/bench_train --benchmark_filter='fma_peak|train_step|inference|latency|user_parallel_region' \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true >"$out/tinydl-$round.txt" 2>&1
  echo "round $round: PyTorch"
  : >"$out/torch-$round.txt"
  for model in mlp basic_cnn deeper_cnn; do
    "${torch_env[@]}" /usr/bin/python3 "$anchor/torch_fmnist.py" --model "$model" --mode probe --batches 150 \
      --threads 2 --jsonl "$out/torch.jsonl" >>"$out/torch-$round.txt" 2>&1
  done
  TORCH_ANCHOR_DIR=$anchor "${torch_env[@]}" /usr/bin/python3 bench/torch_resnet.py --mode probe --batches 150 \
    --threads 2 --jsonl "$out/torch.jsonl" >>"$out/torch-$round.txt" 2>&1
  TORCH_ANCHOR_DIR=$anchor "${torch_env[@]}" /usr/bin/python3 bench/torch_inference.py --threads 2 \
    >>"$out/torch-$round.txt" 2>&1
  echo "round $round: ONNX Runtime"
  node bench/onnx/ort_inference.cjs --models "$out/onnx" --ort build/ort --threads 2 >"$out/ort-$round.txt" 2>&1
done
grep -h -E "median|probe|images/s|onnxruntime" "$out"/*.txt
