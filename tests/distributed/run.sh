#!/usr/bin/env bash
# The data-parallel tests (CTest runs one case per test): distributed_check under mpirun.
#
#   run.sh CASE PROGRAM WORKDIR
#
#   same-bits  one process alone, then mpirun -np 1, 2, 3: the saved files are byte-identical
#   dies       a process SIGKILLed mid-training ends the job, non-zero, within 60 s
#   throws     a process that throws mid-training ends the job with its message
#   mismatch   processes with different models fail at the start, each with the same clear error
#   example    examples/data_parallel alone and on 2 processes: the same checkpoint (exit 77,
#              skipped, without Fashion-MNIST)
set -uo pipefail
case_name=$1 program=$2 work=$3
mkdir -p "$work" && cd "$work" || exit 1
# As root (CI, containers) Open MPI needs these; oversubscribe: 3 processes on 2 cores. The
# sanitizer build: Open MPI's own allocations at MPI_Init are never freed (not ours).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0
export OMP_NUM_THREADS=1
mpirun() { command mpirun --oversubscribe --bind-to none "$@"; }
fail() { echo "FAILED: $*"; exit 1; }

case $case_name in
same-bits)
  "$program" train alone.safetensors || fail "the single-process run"
  for n in 1 2 3; do
    rm -f np$n.safetensors
    mpirun -np $n "$program" train np$n.safetensors || fail "mpirun -np $n"
    cmp alone.safetensors np$n.safetensors || fail "mpirun -np $n wrote other bytes than one process"
  done
  sha256sum alone.safetensors np*.safetensors
  ;;
dies | throws)
  mode=die && [ "$case_name" = throws ] && mode=throw
  start=$(date +%s)
  timeout 120 bash -c "$(declare -f mpirun); mpirun -np 2 '$program' $mode" >out.txt 2>&1
  status=$? seconds=$(($(date +%s) - start))
  cat out.txt
  [ $status -ne 0 ] || fail "the job ended with status 0"
  [ $status -ne 124 ] || fail "the job hung (killed by timeout after 120 s)"
  [ $seconds -le 60 ] || fail "the job took $seconds s to end"
  if [ "$mode" = throw ]; then
    grep -q "process 1 of 2: a failure on process 1 alone; ending all processes" out.txt ||
      fail "no message from the process that threw"
  else
    grep -Eqi "signal 9|killed" out.txt || fail "no message saying that a process was killed"
  fi
  echo "ended with status $status in $seconds s"
  ;;
mismatch)
  timeout 120 bash -c "$(declare -f mpirun); mpirun -np 2 '$program' mismatch" >out.txt 2>&1
  status=$?
  cat out.txt
  [ $status -ne 0 ] && [ $status -ne 124 ] || fail "status $status (0: no error; 124: hung)"
  for r in 0 1; do
    grep -q "distributed_check (process $r): data-parallel fit: process 1 has other initial weights" out.txt ||
      fail "process $r did not report the mismatch"
  done
  ;;
example)
  "$program" >alone.txt 2>&1
  status=$?
  cat alone.txt
  [ $status -ne 77 ] || exit 77
  [ $status -eq 0 ] || fail "alone: status $status"
  mv data_parallel.safetensors alone.safetensors
  mpirun -np 2 "$program" || fail "mpirun -np 2"
  cmp alone.safetensors data_parallel.safetensors || fail "2 processes wrote other bytes than one"
  sha256sum alone.safetensors data_parallel.safetensors
  ;;
*) fail "unknown case $case_name" ;;
esac
echo "passed: $case_name"
