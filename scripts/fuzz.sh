#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan), writes their seed corpora
# with tests/fuzz/make_corpus.cpp, and runs each for SECONDS (default 20; the test command runs
# this with 20, long runs use e.g. 1800). A crash, leak, timeout or out-of-memory fails the run;
# libFuzzer then leaves the input as build/fuzz/<harness>-crash-* to reproduce with
# `build/fuzz/<harness> FILE`.
#
#   bash scripts/fuzz.sh [SECONDS] [HARNESS...]     harnesses: idx safetensors model_load
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
shift || true
harnesses=("$@")
[ ${#harnesses[@]} -gt 0 ] || harnesses=(idx safetensors model_load)
out=build/fuzz
mkdir -p "$out"

flags=(-std=c++17 -g -O1 -Wall -Wextra -Wpedantic -Werror -Iinclude -Itests/fuzz)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
# Each harness and the corpus generator compile in parallel; a failed build fails the run.
pids=()
for h in "${harnesses[@]}"; do
  clang++ "${flags[@]}" "${sanitize[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$h.cpp" -o "$out/fuzz_$h" -lz &
  pids+=($!)
done
clang++ "${flags[@]}" tests/fuzz/make_corpus.cpp -o "$out/make_corpus" -lz &
pids+=($!)
for pid in "${pids[@]}"; do wait "$pid" || { echo "fuzz: a harness did not build" >&2; exit 1; }; done

rm -rf "$out/seeds"
"$out/make_corpus" "$out/seeds" || exit 1
declare -A max_len=([idx]=4096 [safetensors]=16384 [model_load]=16384)
declare -A seeds=([idx]=idx [safetensors]=safetensors [model_load]=model)
status=0
for h in "${harnesses[@]}"; do
  work="$out/corpus/$h"
  mkdir -p "$work"
  echo "==> fuzz_$h for $seconds s"
  # New inputs go to the first directory (kept between runs); the seeds are read from the second.
  if (cd "$out" && "./fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="${max_len[$h]}" -print_final_stats=1 -artifact_prefix="$h-" \
        "corpus/$h" "seeds/${seeds[$h]}") >"$out/$h.log" 2>&1; then
    grep -E '^#[0-9]+[[:space:]]+DONE|^Done|stat::number_of_executed_units|stat::peak_rss_mb' "$out/$h.log" | tr '\n' ' '
    echo
    echo "fuzz_$h: no crash, leak, timeout or out-of-memory ($(ls "$work" | wc -l) inputs in its corpus)"
  else
    tail -n 40 "$out/$h.log"
    echo "fuzz_$h FAILED: see $out/$h.log and the $h-* artifact in $out" >&2
    status=1
  fi
done
exit $status
