#include "ops/linear.h"

#include "ops/copy.h"

#include "core/check.h"
#include "core/device.h"
#include "core/dispatch.h"
#include "cpu/gemm.h"
#include "cpu/linear.h"
#include "cuda/ops.h"

namespace pb::ops {

PB_REGISTER_IMPLS("gemm", "naive", "blocked", "packed");
// smallm: batches <= 128 computed transposed with the weight read in place (cpu/linear.cpp); larger
// batches take the gemm path.
PB_REGISTER_IMPLS("linear_forward", "naive", "gemm", "smallm");
// smallm: dx of batches <= 128 through the same transposed path (dW as gemm).
PB_REGISTER_IMPLS("linear_backward", "naive", "gemm", "smallm");

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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (M == 0 || N == 0) return;  // an empty result
  if (cuda) {
    PB_CUDA_ONLY(cuda::gemm(v, c, a, b, trans_a, trans_b, M, N, K, alpha, beta));  // K == 0 handled there
    return;
  }
  PB_DISPATCH_FLOAT(a.dtype, T, {
    const T al = static_cast<T>(alpha), be = static_cast<T>(beta);
    if (K == 0) {  // an empty sum: out = beta * out, zeros for beta == 0 (alpha unused), as torch.addmm
      T* pc = c.ptr<T>();
      for (int64_t i = 0; i < M * N; ++i) pc[i] = be == T(0) ? T(0) : be * pc[i];
      return;
    }
    if (v == 0)
      PB_CPU_CALL(gemm_naive<T>, c.ptr<T>(), N, a.ptr<T>(), lda, trans_a, b.ptr<T>(), ldb, trans_b, M, N, K, al, be);
    else if (v == 1)
      PB_CPU_CALL(gemm_blocked<T>, c.ptr<T>(), N, a.ptr<T>(), lda, trans_a, b.ptr<T>(), ldb, trans_b, M, N, K, al, be);
    else
      PB_CPU_CALL(gemm<T>, c.ptr<T>(), N, a.ptr<T>(), lda, trans_a, b.ptr<T>(), ldb, trans_b, M, N, K, al, be);
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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (n == 0) return;  // an empty batch: an empty result
  if (cuda) {
    PB_CUDA_ONLY(cuda::linear_forward(v, y, x, weight, bias));
    return;
  }
  PB_DISPATCH_FLOAT(x.dtype, T, {
    const T* b = bias.present ? bias.ptr<T>() : nullptr;
    if (v == 0) PB_CPU_CALL(linear_forward_naive<T>, y.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), b, n, in, out);
    else if (v == 1) PB_CPU_CALL(linear_forward_gemm<T>, y.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), b, n, in, out);
    else PB_CPU_CALL(linear_forward_smallm<T>, y.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), b, n, in, out);
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
  const int v = cuda ? resolve_cuda_impl(op, impl) : resolve_impl(op, impl);
  if (n == 0) {  // an empty batch: dx empty, dW and db sums over no rows (zeros, as PyTorch)
    fill(op, dweight, 0.0);
    if (bias) fill(op, dbias, 0.0);
    return;
  }
  if (cuda) {
    PB_CUDA_ONLY(cuda::linear_backward(v, dx, dweight, dbias, dy, x, weight));
    return;
  }
  PB_DISPATCH_FLOAT(dy.dtype, T, {
    T* pdx = compute_dx ? dx.ptr<T>() : nullptr;
    T* pdb = bias ? dbias.ptr<T>() : nullptr;
    if (v == 0)
      PB_CPU_CALL(linear_backward_naive<T>, pdx, dweight.ptr<T>(), pdb, dy.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), n, in,
                  out);
    else if (v == 1)
      PB_CPU_CALL(linear_backward_gemm<T>, pdx, dweight.ptr<T>(), pdb, dy.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), n, in,
                  out);
    else
      PB_CPU_CALL(linear_backward_smallm<T>, pdx, dweight.ptr<T>(), pdb, dy.ptr<T>(), x.ptr<T>(), weight.ptr<T>(), n,
                  in, out);
  });
}

}  // namespace pb::ops
