#!/usr/bin/env bash
# tinydl's bench_train beside the PyTorch baseline, alternating for ROUNDS rounds (the machine is
# noisy: compare medians of ratios from one sitting). Writes everything under OUT:
#   tinydl-<round>.txt   bench_train: train_step, inference, user_parallel_region (3 repetitions)
#   torch-<round>.txt    torch_fmnist.py --mode probe (150 timed training steps -> seconds per
#                        epoch) per model at 2 threads, and torch_inference.py (batch 256)
#
#   bash bench/compare_with_pytorch.sh [OUT]        (ROUNDS=2, TORCH_ANCHOR_DIR=../shared/anchors)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/perf-$(date +%Y%m%d-%H%M%S)}
rounds=${ROUNDS:-2}
anchor=${TORCH_ANCHOR_DIR:-../shared/anchors}
mkdir -p "$out"

cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DTINYDL_BUILD_BENCH=ON >/dev/null
cmake --build build/release -j "$(nproc)" --target bench_train >/dev/null

torch_env=(env OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2)
for round in $(seq 1 "$rounds"); do
  echo "round $round: tinydl"
  build/release/bench/bench_train --benchmark_filter='fma_peak|train_step|inference|user_parallel_region' \
    --benchmark_repetitions=3 --benchmark_report_aggregates_only=true >"$out/tinydl-$round.txt" 2>&1
  echo "round $round: PyTorch"
  : >"$out/torch-$round.txt"
  for model in mlp basic_cnn deeper_cnn; do
    "${torch_env[@]}" /usr/bin/python3 "$anchor/torch_fmnist.py" --model "$model" --mode probe --batches 150 \
      --threads 2 --jsonl "$out/torch.jsonl" >>"$out/torch-$round.txt" 2>&1
  done
  TORCH_ANCHOR_DIR=$anchor "${torch_env[@]}" /usr/bin/python3 bench/torch_inference.py --threads 2 \
    >>"$out/torch-$round.txt" 2>&1
done
grep -h -E "median|probe|images/s" "$out"/*.txt
