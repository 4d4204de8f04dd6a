#include "ops/loss.h"

#include <cmath>
#include <limits>

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/loss.h"
#include "cuda/ops.h"

namespace pb::ops {

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

// ---- the implementations ----
// Kernel signatures (csrc/cpu/loss.h): forward returns the sum of the terms, backward takes the
// scale grad / count; the CUDA entries (csrc/cuda/ops.h) likewise.
template <class T> using CeForwardCpu = double(const T* logits, const int64_t* labels, int64_t N, int64_t C);
template <class T> using CeBackwardCpu = void(T* dx, const T* logits, const int64_t* labels, int64_t N, int64_t C, T scale);
template <class T> using PairForwardCpu = double(const T* x, const T* t, int64_t n);
template <class T> using PairBackwardCpu = void(T* dx, const T* x, const T* t, int64_t n, T scale);
template <class T> using HuberForwardCpu = double(const T* x, const T* t, int64_t n, T delta);
template <class T> using HuberBackwardCpu = void(T* dx, const T* x, const T* t, int64_t n, T delta, T scale);
using CeForwardCuda = double(const Tensor& logits, const Tensor& labels);
using CeBackwardCuda = void(const Tensor& dx, const Tensor& logits, const Tensor& labels, double scale);
using PointForwardCuda = double(cuda::Loss loss, const Tensor& input, const Tensor& target, double delta);
using PointBackwardCuda = void(cuda::Loss loss, const Tensor& dx, const Tensor& input, const Tensor& target,
                               double delta, double scale);

constexpr const char* kNaive =
    "plain loops, one thread; CUDA: a warp per row (cross-entropy) or a thread per element, sums in a fixed order";
constexpr const char* kVec = "threads over fixed chunks, loops the compiler vectorizes";

const OpImpl<CpuKernel<CeForwardCpu>, CeForwardCuda> kCrossEntropyForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(cross_entropy_forward_naive), PB_CUDA_ENTRY(cross_entropy_forward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(cross_entropy_forward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<CeBackwardCpu>, CeBackwardCuda> kCrossEntropyBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(cross_entropy_backward_naive), PB_CUDA_ENTRY(cross_entropy_backward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(cross_entropy_backward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<PairForwardCpu>, PointForwardCuda> kMseForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(mse_forward_naive), PB_CUDA_ENTRY(pointwise_loss_forward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(mse_forward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<PairBackwardCpu>, PointBackwardCuda> kMseBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(mse_backward_naive), PB_CUDA_ENTRY(pointwise_loss_backward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(mse_backward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<HuberForwardCpu>, PointForwardCuda> kHuberForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(huber_forward_naive), PB_CUDA_ENTRY(pointwise_loss_forward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(huber_forward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<HuberBackwardCpu>, PointBackwardCuda> kHuberBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(huber_backward_naive), PB_CUDA_ENTRY(pointwise_loss_backward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(huber_backward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<PairForwardCpu>, PointForwardCuda> kBceForward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(bce_with_logits_forward_naive), PB_CUDA_ENTRY(pointwise_loss_forward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(bce_with_logits_forward_vec), nullptr, kDefaultCpu},
};
const OpImpl<CpuKernel<PairBackwardCpu>, PointBackwardCuda> kBceBackward[] = {
    {"naive", kNaive, PB_CPU_KERNEL(bce_with_logits_backward_naive), PB_CUDA_ENTRY(pointwise_loss_backward), kDefaultCuda},
    {"vec", kVec, PB_CPU_KERNEL(bce_with_logits_backward_vec), nullptr, kDefaultCpu},
};
PB_REGISTER_OP("cross_entropy_forward", kCrossEntropyForward);
PB_REGISTER_OP("cross_entropy_backward", kCrossEntropyBackward);
PB_REGISTER_OP("mse_forward", kMseForward);
PB_REGISTER_OP("mse_backward", kMseBackward);
PB_REGISTER_OP("huber_forward", kHuberForward);
PB_REGISTER_OP("huber_backward", kHuberBackward);
PB_REGISTER_OP("bce_with_logits_forward", kBceForward);
PB_REGISTER_OP("bce_with_logits_backward", kBceBackward);

}  // namespace

// ---- cross-entropy ----
double cross_entropy_forward(const Tensor& logits, const Tensor& labels, const std::string& impl) {
  const char* op = "cross_entropy_forward";
  check_cross_entropy(op, logits, labels);
  const int64_t N = logits.shape[0], C = logits.shape[1];
  const bool cuda = logits.device == Device::cuda;
  const auto& e = pick(kCrossEntropyForward, op, impl, cuda, logits.dtype);
  if (N == 0) return kEmptyMean;
  if (cuda) return e.cuda(logits, labels) / double(N);
  double sum = 0;
  PB_DISPATCH_FLOAT(logits.dtype, T, sum = e.cpu.call<T>(logits.ptr<T>(), labels.ptr<int64_t>(), N, C));
  return sum / double(N);
}

void cross_entropy_backward(const Tensor& dx, const Tensor& logits, const Tensor& labels, double grad,
                            const std::string& impl) {
  const char* op = "cross_entropy_backward";
  check_cross_entropy(op, logits, labels);
  check_output(op, "out", dx, logits.dtype, logits.shape_vec(), {&logits, &labels});
  const int64_t N = logits.shape[0], C = logits.shape[1];
  const bool cuda = on_cuda(op, {{"logits", &logits}, {"labels", &labels}, {"out", &dx}});
  const auto& e = pick(kCrossEntropyBackward, op, impl, cuda, logits.dtype);
  if (N == 0) return;  // an empty gradient
  if (cuda) return e.cuda(dx, logits, labels, grad / double(N));
  PB_DISPATCH_FLOAT(logits.dtype, T, {
    e.cpu.call<T>(dx.ptr<T>(), logits.ptr<T>(), labels.ptr<int64_t>(), N, C, T(grad / double(N)));
  });
}

// ---- element-wise losses ----
// The forward of mse / huber / bce_with_logits: the mean of the terms (delta: huber only).
template <class Table, class... Param>
double pair_forward(const Table& table, cuda::Loss loss, const char* op, const Tensor& input, const Tensor& target,
                    double delta, const std::string& impl, Param... param) {
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}});
  const auto& e = pick(table, op, impl, cuda, input.dtype);
  if (input.numel == 0) return kEmptyMean;
  if (cuda) return e.cuda(loss, input, target, delta) / double(input.numel);
  double sum = 0;
  PB_DISPATCH_FLOAT(input.dtype, T, sum = e.cpu.template call<T>(input.ptr<T>(), target.ptr<T>(), input.numel, T(param)...));
  return sum / double(input.numel);
}

// The backward: dx = d(mean)/d(input) * grad.
template <class Table, class... Param>
void pair_backward(const Table& table, cuda::Loss loss, const char* op, const Tensor& dx, const Tensor& input,
                   const Tensor& target, double delta, double grad, const std::string& impl, Param... param) {
  check_output(op, "out", dx, input.dtype, input.shape_vec(), {&input, &target});
  const bool cuda = on_cuda(op, {{"input", &input}, {"target", &target}, {"out", &dx}});
  const auto& e = pick(table, op, impl, cuda, input.dtype);
  if (input.numel == 0) return;  // an empty gradient
  const double scale = grad / double(input.numel);
  if (cuda) return e.cuda(loss, dx, input, target, delta, scale);
  PB_DISPATCH_FLOAT(input.dtype, T, {
    e.cpu.template call<T>(dx.ptr<T>(), input.ptr<T>(), target.ptr<T>(), input.numel, T(param)..., T(scale));
  });
}

double mse_forward(const Tensor& input, const Tensor& target, const std::string& impl) {
  const char* op = "mse_forward";
  check_pair(op, input, target);
  return pair_forward(kMseForward, cuda::Loss::mse, op, input, target, 0.0, impl);
}

void mse_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double grad, const std::string& impl) {
  const char* op = "mse_backward";
  check_pair(op, input, target);
  pair_backward(kMseBackward, cuda::Loss::mse, op, dx, input, target, 0.0, grad, impl);
}

double huber_forward(const Tensor& input, const Tensor& target, double delta, const std::string& impl) {
  const char* op = "huber_forward";
  check_pair(op, input, target);
  check_delta(op, delta);
  return pair_forward(kHuberForward, cuda::Loss::huber, op, input, target, delta, impl, delta);
}

void huber_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double delta, double grad,
                    const std::string& impl) {
  const char* op = "huber_backward";
  check_pair(op, input, target);
  check_delta(op, delta);
  pair_backward(kHuberBackward, cuda::Loss::huber, op, dx, input, target, delta, grad, impl, delta);
}

double bce_with_logits_forward(const Tensor& input, const Tensor& target, const std::string& impl) {
  const char* op = "bce_with_logits_forward";
  check_pair(op, input, target);
  return pair_forward(kBceForward, cuda::Loss::bce_with_logits, op, input, target, 0.0, impl);
}

void bce_with_logits_backward(const Tensor& dx, const Tensor& input, const Tensor& target, double grad,
                              const std::string& impl) {
  const char* op = "bce_with_logits_backward";
  check_pair(op, input, target);
  pair_backward(kBceBackward, cuda::Loss::bce_with_logits, op, dx, input, target, 0.0, grad, impl);
}

}  // namespace pb::ops
