#include "ops/activation.h"

#include "core/check.h"
#include "core/dispatch.h"
#include "cpu/activation.h"

namespace pb::ops {

PB_REGISTER_IMPLS("relu_forward", "naive", "vec");
PB_REGISTER_IMPLS("relu_backward", "naive", "vec");

void relu_forward(const Tensor& y, const Tensor& x, const std::string& impl) {
  const char* op = "relu_forward";
  check_input(op, "x", x, {1, 2, 3, 4, 5, 6, 7, 8});
  check_output(op, "out", y, x.dtype, x.shape_vec(), {&x});
  const int v = resolve_impl(op, impl);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (v == 0) PB_CPU_CALL(relu_forward_naive<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
    else PB_CPU_CALL(relu_forward_vec<T>, y.ptr<T>(), x.ptr<T>(), x.numel);
  });
}

void relu_backward(const Tensor& dx, const Tensor& dy, const Tensor& x, const std::string& impl) {
  const char* op = "relu_backward";
  check_input(op, "dy", dy, {1, 2, 3, 4, 5, 6, 7, 8});
  check_input(op, "x", x, {dy.ndim});
  check_dtype(op, "x", x, dy.dtype);
  check_shape(op, "x", x, dy.shape_vec());
  check_output(op, "out", dx, dy.dtype, dy.shape_vec(), {&dy, &x});
  const int v = resolve_impl(op, impl);
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    if (v == 0) PB_CPU_CALL(relu_backward_naive<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel);
    else PB_CPU_CALL(relu_backward_vec<T>, dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), dy.numel);
  });
}

}  // namespace pb::ops
