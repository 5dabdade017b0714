#!/usr/bin/env bash
# Proves a restructuring changed no numbers: builds scripts/lib/train_and_save.cpp against the
# headers of BASE (a commit) and of the working tree, trains the three study models for 2 epochs
# on a Fashion-MNIST subset with 1 and 2 threads, and compares the sha256 of every saved file.
#
#   bash scripts/same_weights.sh [BASE]     (default acc2ff7, the commit issue 14 measured)
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:-acc2ff7}
work=$(mktemp -d /tmp/tinydl-same-weights.XXXXXX)
trap 'git worktree remove --force "$work/base" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git worktree add --detach "$work/base" "$base" >/dev/null 2>&1
flags=(-std=c++17 -O2 -march=native -fopenmp -DNDEBUG)
for side in base head; do
  include=$([ "$side" = base ] && echo "$work/base/include" || echo "$(pwd)/include")
  g++ "${flags[@]}" -I"$include" scripts/lib/train_and_save.cpp -o "$work/$side.bin" -lz &
done
wait
status=0
for threads in 1 2; do
  for side in base head; do
    mkdir -p "$work/$side-$threads"
    echo "== $side ($([ "$side" = base ] && git rev-parse --short "$base" || echo "working tree")), $threads thread(s)"
    "$work/$side.bin" "$work/$side-$threads" "$threads"
    (cd "$work/$side-$threads" && sha256sum ./*) >"$work/$side-$threads.sha256"
  done
  if diff "$work/base-$threads.sha256" \
          "$work/head-$threads.sha256" >/dev/null; then
    echo "$threads thread(s): all $(wc -l <"$work/head-$threads.sha256") files bit-identical"
  else
    echo "$threads thread(s): files differ:"; diff "$work/base-$threads.sha256" "$work/head-$threads.sha256" || true
    status=1
  fi
done
cmp -s "$work/head-1.sha256" "$work/head-2.sha256" && echo "1 and 2 threads: identical files" ||
  { echo "1 and 2 threads give different files"; status=1; }
cat "$work/head-1.sha256"
exit $status
