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

# The comparison program lands with the Fashion-MNIST work; until then the smallest example runs.
program=minimal
[ -f examples/fashion_mnist_compare.cpp ] && program=fashion_mnist_compare
say "Build $program"
cmake --build "$dir" -j "$(nproc)" --target "$program"

say "Run $program $*"
exec "$dir/examples/$program" "$@"
