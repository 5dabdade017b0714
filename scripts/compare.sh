#!/usr/bin/env bash
# The README's first command: installs what is missing, builds tinydl's examples in Release
# (-O3 -march=native) and runs the main job, the Fashion-MNIST comparison of three models.
# Arguments are passed to the comparison program (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

install_missing_packages

dir=build/release
say "Configure a Release build in $dir"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DTINYDL_BUILD_TESTS=OFF -DTINYDL_BUILD_BENCH=OFF >/dev/null

say "Build fashion_mnist_compare and predict"
cmake --build "$dir" -j "$(nproc)" --target fashion_mnist_compare predict

say "Run fashion_mnist_compare $*"
exec "$dir/examples/fashion_mnist_compare" "$@"
