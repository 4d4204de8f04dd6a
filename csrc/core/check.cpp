#include "core/check.h"

#include <cmath>
#include <sstream>

namespace pb {

std::string shape_str(const Shape& s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  if (s.size() == 1) o << ",";
  o << ")";
  return o.str();
}

static std::string ndims_str(std::initializer_list<int> ndims) {
  std::string s;
  size_t i = 0;
  for (int d : ndims) {
    s += (i == 0 ? "" : (i + 1 == ndims.size() ? " or " : ", ")) + std::to_string(d);
    ++i;
  }
  return s + "-D";
}

static const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

void check_input(const char* op, const char* arg, const Tensor& t, std::initializer_list<int> ndims, Empty empty) {
  if (!t.present) value_error(op, arg, "an array", "None");
  if (t.dtype != DType::f32 && t.dtype != DType::f64)
    type_error(op, arg, "float32 or float64", t.dtype_str);
  bool ok = false;
  for (int d : ndims) ok = ok || d == t.ndim;
  if (!ok) value_error(op, arg, ndims_str(ndims) + " array", std::to_string(t.ndim) + "-D array of shape " + shape_str(t));
  if (t.numel == 0 && empty != Empty::any) {
    bool allowed = empty == Empty::batch && t.ndim > 0;
    for (int d = 1; allowed && d < t.ndim; ++d) allowed = t.shape[d] > 0;
    if (!allowed)
      value_error(op, arg, empty == Empty::batch ? "a nonzero size in every dimension but the batch (dim 0)" : "a non-empty array",
                  "shape " + shape_str(t));
  }
  if (!t.contiguous)
    value_error(op, arg, "a C-contiguous array (pass numpy.ascontiguousarray(...))", "a strided view");
  if (t.device != Device::cpu && t.device != Device::cuda) value_error(op, arg, "cpu or cuda", device_name(t.device));
}

void check_dtype(const char* op, const char* arg, const Tensor& t, DType expected) {
  if (t.dtype != expected)
    type_error(op, arg, std::string(dtype_name(expected)) + " (the dtype of the other inputs)", t.dtype_str);
}

void check_shape(const char* op, const char* arg, const Tensor& t, const Shape& expected) {
  bool ok = t.ndim == static_cast<int>(expected.size());
  for (int d = 0; ok && d < t.ndim; ++d) ok = expected[d] < 0 || expected[d] == t.shape[d];
  if (!ok) {
    std::string e = "(";
    for (size_t i = 0; i < expected.size(); ++i)
      e += (i ? ", " : "") + (expected[i] < 0 ? std::string("*") : std::to_string(expected[i]));
    e += expected.size() == 1 ? ",)" : ")";
    value_error(op, arg, "shape " + e, "shape " + shape_str(t));
  }
}

void check_labels(const char* op, const char* arg, const Tensor& t, const Shape& expected) {
  if (!t.present) value_error(op, arg, "an array", "None");
  if (t.dtype != DType::i64) type_error(op, arg, "int64 labels", t.dtype_str);
  check_shape(op, arg, t, expected);
  if (!t.contiguous) value_error(op, arg, "a C-contiguous array", "a strided view");
}

bool overlaps(const Tensor& a, const Tensor& b) {
  if (!a.present || !b.present || a.nbytes() == 0 || b.nbytes() == 0) return false;
  auto a0 = reinterpret_cast<uintptr_t>(a.data), b0 = reinterpret_cast<uintptr_t>(b.data);
  return a0 < b0 + static_cast<uintptr_t>(b.nbytes()) && b0 < a0 + static_cast<uintptr_t>(a.nbytes());
}

void check_output(const char* op, const char* arg, const Tensor& t, DType dtype, const Shape& shape,
                  std::initializer_list<const Tensor*> inputs) {
  if (!t.present) value_error(op, arg, "an array", "None");
  if (t.dtype != dtype) type_error(op, arg, dtype_name(dtype), t.dtype_str);
  check_shape(op, arg, t, shape);
  if (!t.contiguous)
    value_error(op, arg, "a C-contiguous output (results would be lost in a copy)", "a strided view");
  if (!t.writable) value_error(op, arg, "a writable array", "a read-only array");
  for (const Tensor* in : inputs)
    if (in && overlaps(t, *in)) value_error(op, arg, "memory not shared with any input", "an array overlapping an input");
}

void check_disjoint(const char* op, const char* arg, const Tensor& a, const Tensor& b) {
  if (overlaps(a, b)) value_error(op, arg, "memory not shared with the other outputs", "an overlapping array");
}

void check_positive(const char* op, const char* arg, int64_t v) {
  if (v <= 0) value_error(op, arg, "a positive integer", std::to_string(v));
}
void check_nonnegative(const char* op, const char* arg, int64_t v) {
  if (v < 0) value_error(op, arg, "a non-negative integer", std::to_string(v));
}
std::string num_str(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}
void check_range(const char* op, const char* arg, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi)) value_error(op, arg, "a value in [" + num_str(lo) + ", " + num_str(hi) + "]", num_str(v));
}
void check_finite_nonneg(const char* op, const char* arg, double v) {
  if (!(std::isfinite(v) && v >= 0)) value_error(op, arg, "a finite value >= 0", num_str(v));
}

int64_t checked_mul(const char* op, const char* arg, int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) value_error(op, arg, "sizes whose product fits in 64 bits", "an overflowing product");
  return r;
}
int64_t checked_numel(const char* op, const char* arg, const Shape& s) {
  int64_t n = 1;
  for (int64_t e : s) n = checked_mul(op, arg, n, e);
  return n;
}

}  // namespace pb
