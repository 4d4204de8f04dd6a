#pragma once
#include <cstdint>

#include "core/isa.h"

// The machine's float32 FMA throughput, the ceiling every compute-bound kernel sits under
// (`pybench info --calibrate` stores it beside our GEMM peak). Register-only: each thread runs
// kChains independent accumulator chains acc = acc * m + c for `iters` rounds, no memory traffic,
// enough chains to cover the FMA latency on every pipe (AVX-512: 16 zmm chains, AVX2: 12 ymm,
// baseline SSE2: 8 xmm chains of mul + add, since x86-64 without v3 has no FMA instruction).
// Runs one parallel region on max_threads() threads (one thread inside a parallel region).
// Outputs: seconds[0] = wall time of the slowest thread (from its own clock, fork excluded),
// flops[0] = total floating-point operations of all threads (an FMA lane counts 2),
// sink[0] = the sum of every final accumulator (a result the compiler cannot drop; finite).
PB_CPU_DECLARE(
  void fma_probe(double* seconds, double* flops, float* sink, int64_t iters);
  int fma_probe_lanes();  // float32 lanes per vector of this build (16, 8 or 4)
)
