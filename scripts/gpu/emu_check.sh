#!/usr/bin/env bash
# The GPU checks on a machine WITHOUT a GPU: every kernel through the CPU emulator (native/emu/cuda_emu.h), then
# the Java CUDA backend's @Tag("gpu") tests against a fake libcuda.so.1 that runs those kernels on the CPU
# (native/emu/fake_libcuda.cpp). It proves indexing, masking, split-K, argument packing and cache layouts; it
# says nothing about speed, races between real threads or tensor cores: scripts/gpu/run_all.sh does that on a GPU.
# Needs g++ and the CUDA headers' nvcc toolchain only for the fatbin the jar carries (the fake checks its magic).
# Usage: scripts/gpu/emu_check.sh [--native-only]      (about 8 minutes on 2 cores, most of it CudaCliTest)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=target/cuda-build
cmake -S cmake -B "$build" -DSAC_FATBIN="$PWD/target/classes/io/sac4j/cuda/sac4j_kernels.fatbin" >/dev/null
cmake --build "$build" --target check_kernels_emu fake_libcuda
echo "== kernels on the CPU emulator (quick sizes)"
"$build/check_kernels_emu" --quick
[[ "${1:-}" == "--native-only" ]] && exit 0
echo "== Java CUDA backend on the fake driver (@Tag gpu tests, emulator sizes)"
LD_LIBRARY_PATH="$PWD/$build/fake${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
  mvn -B -q -o test -Dgroups=gpu -Dtest='io.sac4j.forward.cuda.*Test,io.sac4j.cli.CudaCliTest' -Dsurefire.failIfNoSpecifiedTests=false
grep -h "Tests run" target/surefire-reports/io.sac4j.{forward.cuda.Cuda{Kernels,Llama},cli.CudaCli}Test.txt
