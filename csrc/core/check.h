// Argument validation shared by every op entry in csrc/ops. Each check names the op and the
// argument, says what it expected and what it got, and throws TypeError (dtype) or
// std::invalid_argument (-> ValueError) before any kernel runs.
#pragma once
#include <initializer_list>
#include <string>

#include "core/tensor.h"

namespace pb {

// ndim lists for check_input: element-wise ops take any rank (0-D allowed where stated).
constexpr std::initializer_list<int> kAnyNdim = {1, 2, 3, 4, 5, 6, 7, 8};
constexpr std::initializer_list<int> kAnyNdimOrScalar = {0, 1, 2, 3, 4, 5, 6, 7, 8};

// A scalar parameter as it appears in messages ("0.5", "nan", "1e+10").
std::string num_str(double v);

// Which extents of an input may be 0. none: a non-empty array; batch: only dim 0 (N), as PyTorch's
// NCHW / (N, features) ops allow; any: any extent (element-wise ops: the result is empty too).
enum class Empty { none, batch, any };

// A float input: present, float32/float64, C-contiguous, of the given ndim (or any of `ndims` when
// given as a list), non-empty except where `empty` allows a zero extent.
void check_input(const char* op, const char* arg, const Tensor& t, std::initializer_list<int> ndims,
                 Empty empty = Empty::none);
// Same dtype as the first float input (mixing float32 and float64 is refused, not converted).
void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected);
// Exact shape; -1 in `expected` matches any extent.
void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected);
// An integer label array (int64), C-contiguous, of the given shape.
void check_labels(const char* op, const char* arg, const Tensor& t, const Shape& expected);
// An output (or in-place state) array: dtype, exact shape, C-contiguous, writable, and not
// overlapping any of `inputs` (aliasing would make the kernel read what it already wrote).
void check_output(const char* op, const char* arg, const Tensor& t, DType dtype, const Shape& shape,
                  std::initializer_list<const Tensor*> inputs);
// Two writable arrays that must not share memory (e.g. several outputs of one backward).
void check_disjoint(const char* op, const char* arg, const Tensor& a, const Tensor& b);
bool overlaps(const Tensor& a, const Tensor& b);

// Scalar parameters.
void check_positive(const char* op, const char* arg, int64_t v);       // > 0
void check_nonnegative(const char* op, const char* arg, int64_t v);    // >= 0
void check_range(const char* op, const char* arg, double v, double lo, double hi);  // lo <= v <= hi, not NaN
void check_finite_nonneg(const char* op, const char* arg, double v);   // finite and >= 0

// Product of extents with overflow detection (sizes are 64-bit and must stay so).
int64_t checked_numel(const char* op, const char* arg, const Shape& s);
int64_t checked_mul(const char* op, const char* arg, int64_t a, int64_t b);

}  // namespace pb
