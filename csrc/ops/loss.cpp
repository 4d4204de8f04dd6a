#include "ops/loss.h"

#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/loss.h"
#include "cuda/ops.h"

namespace pb::ops {

PB_REGISTER_IMPLS("cross_entropy_forward", "naive", "vec");
PB_REGISTER_IMPLS("cross_entropy_backward", "naive", "vec");
PB_REGISTER_IMPLS("mse_forward", "naive", "vec");
PB_REGISTER_IMPLS("mse_backward", "naive", "vec");
PB_REGISTER_IMPLS("huber_forward", "naive", "vec");
PB_REGISTER_IMPLS("huber_backward", "naive", "vec");
PB_REGISTER_IMPLS("bce_with_logits_forward", "naive", "vec");
PB_REGISTER_IMPLS("bce_with_logits_backward", "naive", "vec");

namespace {

// logits (N, C) float; labels (N,) int64 with every value in [0, C), checked before any kernel runs.
void check_cross_entropy(const char* op, const Tensor& logits, const Tensor& labels) {
  check_input(op, "logits", logits, {2}, Empty::batch);
  check_labels(op, "labels", labels, {logits.shape[0]});
  const int64_t N = logits.shape[0], C = logits.shape[1];
  if (on_cuda(op, {{"logits", &logits}, {"labels", &labels}})) {  // labels live on the device
    if (N > 0) PB_CUDA_ONLY(cuda::check_labels_range(op, labels, C));
    return;
  }
  const int64_t* y = labels.ptr<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    if (y[i] < 0 || y[i] >= C)
      value_error(op, "labels", "class indices in [0, " + std::to_string(C) + ")",
                  std::to_string(y[i]) + " at position " + std::to_string(i));
}

// input and target: float, same dtype and shape, C-contiguous (empty allowed: the mean is NaN).
void check_pair(const char* op, const Tensor& input, const Tensor& target) {
  check_input(op, "input", input, kAnyNdim, Empty::any);
  check_input(op, "target", target, kAnyNdim, Empty::any);
  check_dtype(op, "target", target, input.dtype);
  check_shape(op, "target", target, input.shape_vec());
}

void check_delta(const char* op, double delta) {
  if (!(std::isfinite(delta) && delta > 0)) value_error(op, "delta", "a finite value > 0", num_str(delta));
}

// The mean over no terms, as PyTorch's reduction='mean' on an empty input (0 / 0).
constexpr double kEmptyMean = std::numeric_limits<double>::quiet_NaN();

}  // namespace

// ---- cross-entropy ----
double cross_entropy_forward(const Tensor& logits, const Tensor& labels, const std::string& impl) {
  const char* op = "cross_entropy_forward";
  check_cross_entropy(op, logits, labels);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  const bool cuda = logits.device == Device::cuda;
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (N == 0) return kEmptyMean;
  if (cuda) PB_CUDA_ONLY(return cuda::cross_entropy_forward(v, logits, labels) / double(N));
  double sum = 0;
  PB_DISPATCH_FLOAT(logits.dtype, T, {
    if (v == 0) sum = PB_CPU_CALL(cross_entropy_forward_naive<T>, logits.ptr<T>(), labels.ptr<int64_t>(), N, C);
    else sum = PB_CPU_CALL(cross_entropy_forward_vec<T>, logits.ptr<T>(), labels.ptr<int64_t>(), N, C);
  });
  return sum / double(N);
}

void cross_entropy_backward(const Tensor& dx, const Tensor& logits, const Tensor& labels, double grad,
                            const std::string& impl) {
  const char* op = "cross_entropy_backward";
  check_cross_entropy(op, logits, labels);
  check_output(op, "out", dx, logits.dtype, logits.shape_vec(), {&logits, &labels});
  const int64_t N = logits.shape[0], C = logits.shape[1];
  const bool cuda = on_cuda(op, {{"logits", &logits}, {"labels", &labels}, {"out", &dx}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (N == 0) return;  // an empty gradient
  if (cuda) {
    PB_CUDA_ONLY(cuda::cross_entropy_backward(v, dx, logits, labels, grad / double(N)));
    return;
  }
  PB_DISPATCH_FLOAT(logits.dtype, T, {
    const T scale = T(grad / double(N));
    if (v == 0) PB_CPU_CALL(cross_entropy_backward_naive<T>, dx.ptr<T>(), logits.ptr<T>(), labels.ptr<int64_t>(), N, C, scale);
    else PB_CPU_CALL(cross_entropy_backward_vec<T>, dx.ptr<T>(), logits.ptr<T>(), labels.ptr<int64_t>(), N, C, scale);
  });
}

// ---- element-wise losses ----
double mse_forward(const Tensor& input, const Tensor& target, const std::string& impl) {
  const char* op = "mse_forward";
  check_pair(op, input, target);
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (input.numel == 0) return kEmptyMean;
  if (cuda)
    PB_CUDA_ONLY(return cuda::pointwise_loss_forward(v, cuda::Loss::mse, input, target, 0.0) / double(input.numel));
  double sum = 0;
  PB_DISPATCH_FLOAT(input.dtype, T, {
    if (v == 0) sum = PB_CPU_CALL(mse_forward_naive<T>, input.ptr<T>(), target.ptr<T>(), input.numel);
    else sum = PB_CPU_CALL(mse_forward_vec<T>, input.ptr<T>(), target.ptr<T>(), input.numel);
  });
  return sum / double(input.numel);
}

void mse_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double grad, const std::string& impl) {
  const char* op = "mse_backward";
  check_pair(op, input, target);
  check_output(op, "out", dx, input.dtype, input.shape_vec(), {&input, &target});
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}, {"out", &dx}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (input.numel == 0) return;  // an empty gradient
  if (cuda) {
    PB_CUDA_ONLY(cuda::pointwise_loss_backward(v, cuda::Loss::mse, dx, input, target, 0.0, grad / double(input.numel)));
    return;
  }
  PB_DISPATCH_FLOAT(input.dtype, T, {
    const T scale = T(grad / double(input.numel));
    if (v == 0) PB_CPU_CALL(mse_backward_naive<T>, dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, scale);
    else PB_CPU_CALL(mse_backward_vec<T>, dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, scale);
  });
}

double huber_forward(const Tensor& input, const Tensor& target, double delta, const std::string& impl) {
  const char* op = "huber_forward";
  check_pair(op, input, target);
  check_delta(op, delta);
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (input.numel == 0) return kEmptyMean;
  if (cuda)
    PB_CUDA_ONLY(return cuda::pointwise_loss_forward(v, cuda::Loss::huber, input, target, delta) / double(input.numel));
  double sum = 0;
  PB_DISPATCH_FLOAT(input.dtype, T, {
    if (v == 0) sum = PB_CPU_CALL(huber_forward_naive<T>, input.ptr<T>(), target.ptr<T>(), input.numel, T(delta));
    else sum = PB_CPU_CALL(huber_forward_vec<T>, input.ptr<T>(), target.ptr<T>(), input.numel, T(delta));
  });
  return sum / double(input.numel);
}

void huber_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double delta, double grad,
                    const std::string& impl) {
  const char* op = "huber_backward";
  check_pair(op, input, target);
  check_delta(op, delta);
  check_output(op, "out", dx, input.dtype, input.shape_vec(), {&input, &target});
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}, {"out", &dx}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (input.numel == 0) return;  // an empty gradient
  if (cuda) {
    PB_CUDA_ONLY(cuda::pointwise_loss_backward(v, cuda::Loss::huber, dx, input, target, delta, grad / double(input.numel)));
    return;
  }
  PB_DISPATCH_FLOAT(input.dtype, T, {
    const T scale = T(grad / double(input.numel));
    if (v == 0) PB_CPU_CALL(huber_backward_naive<T>, dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, T(delta), scale);
    else PB_CPU_CALL(huber_backward_vec<T>, dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, T(delta), scale);
  });
}

double bce_with_logits_forward(const Tensor& input, const Tensor& target, const std::string& impl) {
  const char* op = "bce_with_logits_forward";
  check_pair(op, input, target);
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (input.numel == 0) return kEmptyMean;
  if (cuda)
    PB_CUDA_ONLY(return cuda::pointwise_loss_forward(v, cuda::Loss::bce_with_logits, input, target, 0.0) / double(input.numel));
  double sum = 0;
  PB_DISPATCH_FLOAT(input.dtype, T, {
    if (v == 0) sum = PB_CPU_CALL(bce_with_logits_forward_naive<T>, input.ptr<T>(), target.ptr<T>(), input.numel);
    else sum = PB_CPU_CALL(bce_with_logits_forward_vec<T>, input.ptr<T>(), target.ptr<T>(), input.numel);
  });
  return sum / double(input.numel);
}

void bce_with_logits_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double grad,
                              const std::string& impl) {
  const char* op = "bce_with_logits_backward";
  check_pair(op, input, target);
  check_output(op, "out", dx, input.dtype, input.shape_vec(), {&input, &target});
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}, {"out", &dx}});
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (input.numel == 0) return;  // an empty gradient
  if (cuda) {
    PB_CUDA_ONLY(cuda::pointwise_loss_backward(v, cuda::Loss::bce_with_logits, dx, input, target, 0.0, grad / double(input.numel)));
    return;
  }
  PB_DISPATCH_FLOAT(input.dtype, T, {
    const T scale = T(grad / double(input.numel));
    if (v == 0) PB_CPU_CALL(bce_with_logits_backward_naive<T>, dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, scale);
    else PB_CPU_CALL(bce_with_logits_backward_vec<T>, dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, scale);
  });
}

}  // namespace pb::ops
