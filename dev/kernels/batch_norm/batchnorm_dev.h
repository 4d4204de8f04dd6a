// batch_norm_backward "pipe" of the dev build (batchnorm_dev.cpp); arguments as
// batch_norm_backward_l3 (cpu/batchnorm.h), work: bn_l3_work_size(N, C, S, sizeof(T)) doubles.
#pragma once
#include <cstdint>

#include "core/isa.h"

PB_CPU_DECLARE(
  template <class T> void batch_norm_backward_pipe(T* dx, double* sum_dy, double* sum_dyxc, const T* dy, const T* x, const double* mean, const double* invstd, const double* weight, int64_t N, int64_t C, int64_t S, bool training, double* work);
)
