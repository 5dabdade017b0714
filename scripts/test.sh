#!/usr/bin/env bash
# The README's test command (and CI's, through .ci/run): installs what is missing, then builds
# and tests tinydl in every configuration that matters and prints one total at the end.
#
#   bash scripts/test.sh              all configurations
#   bash scripts/test.sh native asan  only these
#
# Configurations (build trees under build/test-<name>):
#   asan    GCC, Debug, -march=native -fsanitize=address,undefined, halting on the first error
#   native  GCC, Release, -march=native (AVX-512 here); also builds and runs the examples (the
#           Fashion-MNIST --quick run included), builds the benchmarks and runs the consumer
#           checks (install + find_package + pkg-config, add_subdirectory)
#   The other configurations leave the examples out: they are the heaviest files to compile
#   and what they run is covered by the unit tests there; this keeps a clean run near 10 min.
#   avx2    Clang, Release, -mavx2 -mfma: the AVX2 kernels on an AVX-512 machine
#   plain   Clang, Release, no -march: the portable x86-64 (SSE2) code paths
# Then scripts/check_packages.sh checks that every file the builds used comes from a package the
# install step brings, and scripts/check_format.sh that every C++ file is as clang-format writes
# it, and scripts/fuzz.sh runs each fuzzer for 20 s (each counts as one test in the total).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

install_missing_packages || exit 1

jobs=$(nproc)
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(asan native avx2 plain)

# configure_args <name>: sets the array `args` to the cmake arguments of one configuration.
configure_args() {
  args=(-DTINYDL_WERROR=ON)
  case "$1" in
    asan) args+=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Debug -DTINYDL_BUILD_BENCH=OFF
                 -DTINYDL_BUILD_EXAMPLES=OFF -DTINYDL_CONSUMER_TESTS=OFF
                 "-DCMAKE_CXX_FLAGS=-march=native"
                 "-DCMAKE_CXX_FLAGS_DEBUG=-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all") ;;
    native) args+=(-DCMAKE_CXX_COMPILER=g++ -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-march=native) ;;
    avx2) args+=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_FLAGS=-mavx2 -mfma"
                 -DTINYDL_NATIVE=OFF -DTINYDL_BUILD_EXAMPLES=OFF -DTINYDL_BUILD_BENCH=OFF -DTINYDL_CONSUMER_TESTS=OFF) ;;
    plain) args+=(-DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release
                  -DTINYDL_NATIVE=OFF -DTINYDL_BUILD_EXAMPLES=OFF -DTINYDL_BUILD_BENCH=OFF -DTINYDL_CONSUMER_TESTS=OFF) ;;
    *) echo "unknown configuration '$1' (asan, native, avx2, plain)" >&2; return 1 ;;
  esac
}

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
total_passed=0 total_failed=0 failed_configs=()
start=$SECONDS
for name in "${configs[@]}"; do
  dir=build/test-$name
  configure_args "$name" || exit 2
  say "[$name] configure: cmake ${args[*]}"
  mkdir -p build
  if ! cmake -S . -B "$dir" "${args[@]}" >"$dir.configure.log" 2>&1; then
    cat "$dir.configure.log"; failed_configs+=("$name (configure)"); continue
  fi
  say "[$name] build ($jobs jobs)"
  if ! cmake --build "$dir" -j "$jobs"; then failed_configs+=("$name (build)"); continue; fi
  say "[$name] test"
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure 2>&1 | tee "$dir.ctest.log"
  status=${PIPESTATUS[0]}
  summary=$(grep -E 'tests passed, [0-9]+ tests failed out of' "$dir.ctest.log" | tail -n 1)
  if [[ $summary =~ ([0-9]+)\ tests\ failed\ out\ of\ ([0-9]+) ]]; then
    total_failed=$((total_failed + BASH_REMATCH[1]))
    total_passed=$((total_passed + BASH_REMATCH[2] - BASH_REMATCH[1]))
  fi
  [ "$status" -eq 0 ] || failed_configs+=("$name (tests)")
done

# Every file the builds used must come from a package the install step brings (see the script).
built=()
for name in "${configs[@]}"; do [ -f "build/test-$name/CMakeCache.txt" ] && built+=("build/test-$name"); done
if [ ${#built[@]} -gt 0 ]; then
  say "Package check: every file the builds used comes from TINYDL_PACKAGES"
  if bash scripts/check_packages.sh "${built[@]}"; then
    total_passed=$((total_passed + 1))
  else
    total_failed=$((total_failed + 1)); failed_configs+=("packages")
  fi
fi

say "Format check: clang-format --dry-run --Werror on every C++ file"
if bash scripts/check_format.sh; then
  total_passed=$((total_passed + 1))
else
  total_failed=$((total_failed + 1)); failed_configs+=("format")
fi

say "Fuzz: each libFuzzer harness of tests/fuzz/ for 20 s (ASan + UBSan)"
if bash scripts/fuzz.sh 20; then
  total_passed=$((total_passed + 1))
else
  total_failed=$((total_failed + 1)); failed_configs+=("fuzz")
fi

say "Finished ${configs[*]} in $((SECONDS - start)) s"
[ ${#failed_configs[@]} -eq 0 ] || echo "FAILED: ${failed_configs[*]}"
echo "tests: $total_passed passed, $total_failed failed"
[ ${#failed_configs[@]} -eq 0 ]
