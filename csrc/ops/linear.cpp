#include "ops/linear.h"

#include "ops/copy.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "core/op_table.h"
#include "cpu/gemm.h"
#include "cpu/linear.h"
#include "cuda/ops.h"

namespace pb::ops {

namespace {

// ---- the implementations (kernels: csrc/cpu/gemm.h, linear.h; CUDA entries: csrc/cuda/ops.h) ----
template <class T>
using GemmCpu = void(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb, bool trans_b,
                     int64_t M, int64_t N, int64_t K, T alpha, T beta);
template <class T>
using LinearForwardCpu = void(T* y, const T* x, const T* weight, const T* bias, int64_t n, int64_t in, int64_t out);
template <class T>
using LinearBackwardCpu = void(T* dx, T* dweight, T* dbias, const T* dy, const T* x, const T* weight, int64_t n,
                               int64_t in, int64_t out);
using GemmCuda = void(const Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, int64_t M,
                      int64_t N, int64_t K, double alpha, double beta);
using LinearForwardCuda = void(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias);
using LinearBackwardCuda = void(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                                const Tensor& x, const Tensor& weight);

using cuda::Variant;
constexpr const char* kTf32 =
    "CUDA, opt-in, float32: tensor cores with TF32 inputs (results change at the 1e-3 level)";
constexpr const char* kTiled = "CUDA: 64x64 shared-memory tiles, a 4x4 register block per thread";

const OpImpl<CpuKernel<GemmCpu>, GemmCuda> kGemm[] = {
    {"naive", "triple loop, one thread (the reading copy); CUDA: a thread per output element",
     PB_CPU_KERNEL(gemm_naive), PB_CUDA_ENTRY(gemm<Variant::naive>)},
    {"blocked", "cache-tiled loops, no packing", PB_CPU_KERNEL(gemm_blocked), nullptr},
    {"packed", "packed panels and a SIMD register-block core, threaded", PB_CPU_KERNEL(gemm), nullptr, kDefaultCpu},
    {"tf32", kTf32, {}, PB_CUDA_ENTRY(gemm<Variant::tf32>), 0, kF32Only},
    {"tiled", kTiled, {}, PB_CUDA_ENTRY(gemm<Variant::tiled>), kDefaultCuda},
};
const OpImpl<CpuKernel<LinearForwardCpu>, LinearForwardCuda> kLinearForward[] = {
    {"naive", "plain loops, one thread; CUDA: a thread per output element", PB_CPU_KERNEL(linear_forward_naive),
     PB_CUDA_ENTRY(linear_forward<Variant::naive>)},
    {"gemm", "the packed gemm with the bias fused", PB_CPU_KERNEL(linear_forward_gemm), nullptr},
    {"smallm", "batches <= 128 computed transposed with the weight read in place; larger ones as gemm",
     PB_CPU_KERNEL(linear_forward_smallm), nullptr, kDefaultCpu},
    {"tf32", kTf32, {}, PB_CUDA_ENTRY(linear_forward<Variant::tf32>), 0, kF32Only},
    {"tiled", kTiled, {}, PB_CUDA_ENTRY(linear_forward<Variant::tiled>), kDefaultCuda},
};
const OpImpl<CpuKernel<LinearBackwardCpu>, LinearBackwardCuda> kLinearBackward[] = {
    {"naive", "plain loops, one thread; CUDA: a thread per output element", PB_CPU_KERNEL(linear_backward_naive),
     PB_CUDA_ENTRY(linear_backward<Variant::naive>)},
    {"gemm", "dx and dW as packed gemms", PB_CPU_KERNEL(linear_backward_gemm), nullptr},
    {"smallm", "dx of batches <= 128 through the transposed path of smallm, dW as gemm",
     PB_CPU_KERNEL(linear_backward_smallm), nullptr, kDefaultCpu},
    {"tf32", kTf32, {}, PB_CUDA_ENTRY(linear_backward<Variant::tf32>), 0, kF32Only},
    {"tiled", kTiled, {}, PB_CUDA_ENTRY(linear_backward<Variant::tiled>), kDefaultCuda},
};
PB_REGISTER_OP("gemm", kGemm);
PB_REGISTER_OP("linear_forward", kLinearForward);
PB_REGISTER_OP("linear_backward", kLinearBackward);

}  // namespace

Shape gemm_out_shape(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  const char* op = "gemm";
  check_input(op, "a", a, {2}, Empty::any);
  check_input(op, "b", b, {2}, Empty::any);
  check_dtype(op, "b", b, a.dtype);
  const int64_t M = trans_a ? a.shape[1] : a.shape[0], K = trans_a ? a.shape[0] : a.shape[1];
  const int64_t Kb = trans_b ? b.shape[1] : b.shape[0], N = trans_b ? b.shape[0] : b.shape[1];
  if (Kb != K)
    value_error(op, "b", std::string("shape ") + (trans_b ? "(*, " : "(") + std::to_string(K) + (trans_b ? ")" : ", *)") +
                             " (op(b) needs K = " + std::to_string(K) + " rows to match op(a))",
                "shape " + shape_str(b));
  checked_mul(op, "a", checked_mul(op, "a", M, N), K);
  return {M, N};
}

void gemm(const Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, double alpha, double beta,
          const std::string& impl) {
  const char* op = "gemm";
  const Shape s = gemm_out_shape(a, b, trans_a, trans_b);
  if (!c.present && beta != 0.0) value_error(op, "out", "an array when beta != 0 (beta scales out)", "None");
  check_output(op, "out", c, a.dtype, s, {&a, &b});
  const int64_t M = s[0], N = s[1], K = trans_a ? a.shape[0] : a.shape[1];
  const int64_t lda = a.shape[1], ldb = b.shape[1];
  const bool cuda = on_cuda(op, {{"a", &a}, {"b", &b}, {"out", &c}});
  const auto& e = pick(kGemm, op, impl, cuda, a.dtype);
  if (M == 0 || N == 0) return;  // an empty result
  if (cuda) return e.cuda(c, a, b, trans_a, trans_b, M, N, K, alpha, beta);  // K == 0 handled there
  PB_DISPATCH_FLOAT(a.dtype, T, {
    const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    if (K == 0) {  // an empty sum: out = beta * out, zeros for beta == 0 (alpha unused), as torch.addmm
      T* pc = c.ptr<T>();
      for (int64_t i = 0; i < M * N; ++i) pc[i] = be == T(0) ? T(0) : be * pc[i];
      return;
    }
    e.cpu.call<T>(c.ptr<T>(), N, a.ptr<T>(), lda, trans_a, b.ptr<T>(), ldb, trans_b, M, N, K, al, be);
  });
}

Shape linear_forward_out_shape(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear_forward";
  check_input(op, "x", x, {2}, Empty::batch);
  check_input(op, "weight", weight, {2});
  check_dtype(op, "weight", weight, x.dtype);
  check_shape(op, "weight", weight, {-1, x.shape[1]});
  if (bias.present) {
    check_input(op, "bias", bias, {1});
    check_dtype(op, "bias", bias, x.dtype);
    check_shape(op, "bias", bias, {weight.shape[0]});
  }
  checked_mul(op, "x", checked_mul(op, "x", x.shape[0], x.shape[1]), weight.shape[0]);
  return {x.shape[0], weight.shape[0]};
}

void linear_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                    const std::string& impl) {
  const char* op = "linear_forward";
  const Shape s = linear_forward_out_shape(x, weight, bias);
  check_output(op, "out", y, x.dtype, s, {&x, &weight, &bias});
  const int64_t n = x.shape[0], in = x.shape[1], out = weight.shape[0];
  const bool cuda = on_cuda(op, {{"x", &x}, {"weight", &weight}, {"bias", &bias}, {"out", &y}});
  const auto& e = pick(kLinearForward, op, impl, cuda, x.dtype);
  if (n == 0) return;  // an empty batch: an empty result
  if (cuda) return e.cuda(y, x, weight, bias);
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const T* b = bias.present ? bias.ptr<T>() : nullptr;
    e.cpu.call<T>(y.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), b, n, in, out);
  });
}

void linear_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, bool bias, bool compute_dx, const std::string& impl) {
  const char* op = "linear_backward";
  check_input(op, "dy", dy, {2}, Empty::batch);
  check_input(op, "x", x, {2}, Empty::batch);
  check_input(op, "weight", weight, {2});
  check_dtype(op, "x", x, dy.dtype);
  check_dtype(op, "weight", weight, dy.dtype);
  check_shape(op, "x", x, {dy.shape[0], -1});
  check_shape(op, "weight", weight, {dy.shape[1], x.shape[1]});
  const int64_t n = x.shape[0], in = x.shape[1], out = weight.shape[0];
  checked_mul(op, "x", checked_mul(op, "x", n, in), out);
  if (compute_dx) {
    check_output(op, "dx", dx, dy.dtype, {n, in}, {&dy, &x, &weight});
  } else if (dx.present) {
    value_error(op, "dx", "None when compute_dx=False", "an array");
  }
  check_output(op, "dweight", dweight, dy.dtype, {out, in}, {&dy, &x, &weight});
  if (bias) {
    check_output(op, "dbias", dbias, dy.dtype, {out}, {&dy, &x, &weight});
    check_disjoint(op, "dbias", dbias, dweight);
  } else if (dbias.present) {
    value_error(op, "dbias", "None when bias=False", "an array");
  }
  if (compute_dx) {
    check_disjoint(op, "dweight", dweight, dx);
    if (bias) check_disjoint(op, "dbias", dbias, dx);
  }
  const bool cuda =
      on_cuda(op, {{"dy", &dy}, {"x", &x}, {"weight", &weight}, {"dx", &dx}, {"dweight", &dweight}, {"dbias", &dbias}});
  const auto& e = pick(kLinearBackward, op, impl, cuda, x.dtype);
  if (n == 0) {  // an empty batch: dx empty, dW and db sums over no rows (zeros, as PyTorch)
    fill(op, dweight, 0.0);
    if (bias) fill(op, dbias, 0.0);
    return;
  }
  if (cuda) return e.cuda(dx, dweight, dbias, dy, x, weight);
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    T* pdx = compute_dx ? dx.ptr<T>() : nullptr;
    T* pdb = bias ? dbias.ptr<T>() : nullptr;
    e.cpu.call<T>(pdx, dweight.ptr<T>(), pdb, dy.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), n, in, out);
  });
}

}  // namespace pb::ops
