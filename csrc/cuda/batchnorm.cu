// CUDA BatchNorm (PyTorch semantics, formulas from math/batchnorm.h, as the CPU). x, y, dy, dx:
// (N, C, S) C-contiguous with S = H*W (4-D) or 1 (2-D); per-channel vectors (C,).
// No floating-point atomics: each channel's sums are split into P pieces (P depends on N*S only),
// a block sums a piece (per thread, then warp butterflies and warp 0, fixed order) into
// partial[c*P + p], and one thread per channel adds its P partials in order. Statistics are
// two-pass (mean, then the sum of squared deviations), in double.
#include "cuda/common.cuh"
#include "cuda/ops.h"
#include "math/batchnorm.h"

namespace pb::cuda {

// One implementation ("naive" in csrc/ops/batchnorm.cpp's tables): the scheme above (two passes
// for the statistics, one for the gradient sums).

namespace {

constexpr int kBlock = 256;
constexpr int64_t kPiece = 16 * kBlock;  // values per piece (16 per thread)
constexpr int64_t kMaxPieces = 256;

int64_t pieces_of(int64_t m) {
  const int64_t p = (m + kPiece - 1) / kPiece;
  return p < 1 ? 1 : (p > kMaxPieces ? kMaxPieces : p);
}

enum class Sum { x, sq_dev, grad };

// Block (c, p) = (blockIdx.x / P, blockIdx.x % P) sums piece p of channel c:
//   x:      a = x                          (for the mean)
//   sq_dev: a = (x - mean[c])^2            (for the biased variance)
//   grad:   a = dy, b = dy * (x - mean[c]) (backward)
template <class T>
__global__ void __launch_bounds__(kBlock) channel_partials(double* pa, double* pb, const T* x, const T* dy,
                                                           const double* mean, int64_t N, int64_t C, int64_t S,
                                                           int64_t P, Sum what) {
  __shared__ double sh[32];
  const int64_t c = blockIdx.x / P, p = blockIdx.x % P, m = N * S;
  const int64_t per = (m + P - 1) / P, lo = p * per, hi = lo + per < m ? lo + per : m;
  const double mu = mean ? mean[c] : 0.0;
  double a = 0, b = 0;
  // (n, s) of value j = n*S + s, advanced without a 64-bit division per value (that spilled).
  const int64_t j0 = lo + threadIdx.x, dn = blockDim.x / S, ds = blockDim.x % S;
  int64_t n = j0 / S, s = j0 % S;
  for (int64_t j = j0; j < hi; j += blockDim.x) {
    const int64_t i = (n * C + c) * S + s;
    const double xv = static_cast<double>(x[i]);
    if (what == Sum::x) {
      a += xv;
    } else if (what == Sum::sq_dev) {
      const double d = xv - mu;
      a += d * d;
    } else {
      const double g = static_cast<double>(dy[i]);
      a += g;
      b += g * (xv - mu);
    }
    n += dn;
    s += ds;
    if (s >= S) {
      s -= S;
      ++n;
    }
  }
  a = block_sum(a, sh);
  if (what == Sum::grad) b = block_sum(b, sh);
  if (threadIdx.x == 0) {
    pa[c * P + p] = a;
    if (what == Sum::grad) pb[c * P + p] = b;
  }
}

// out[c] = sum over p of part[c*P + p] / div (fixed order), a thread per channel.
__global__ void combine(double* out, const double* part, int64_t C, int64_t P, double div) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double s = 0;
  for (int64_t p = 0; p < P; ++p) s += part[c * P + p];
  out[c] = s / div;
}

// Per channel: mean, var (training: batch, also updating running_*; eval: running_*) ->
// save_mean, save_invstd (T) and the double scale / shift the apply pass uses.
template <class T>
__global__ void finalize_forward(double* mean, double* scale, double* shift, T* save_mean, T* save_invstd,
                                 const double* var, T* running_mean, T* running_var, const T* weight, const T* bias,
                                 int64_t C, bool training, double m, double momentum, double eps) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  double mu, v;
  if (training) {
    mu = mean[c];
    v = var[c];
    if (running_mean) {
      running_mean[c] = static_cast<T>(math::bn_running_update(running_mean[c], mu, momentum));
      running_var[c] = static_cast<T>(math::bn_running_update(running_var[c], math::bn_unbiased(v, m), momentum));
    }
  } else {
    mu = static_cast<double>(running_mean[c]);
    v = static_cast<double>(running_var[c]);
    mean[c] = mu;
  }
  const double invstd = math::bn_invstd(v, eps);
  scale[c] = invstd * (weight ? static_cast<double>(weight[c]) : 1.0);
  shift[c] = bias ? static_cast<double>(bias[c]) : 0.0;
  save_mean[c] = static_cast<T>(mu);
  save_invstd[c] = static_cast<T>(invstd);
}

template <class T>
__global__ void apply(T* y, const T* x, const double* mean, const double* scale, const double* shift, int64_t n,
                      int64_t C, int64_t S) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / S) % C;
    y[i] = math::bn_apply(x[i], mean[c], scale[c], shift[c]);
  }
}

// mean_d: (C,) the saved mean in double; coefficients for the input gradient; dweight / dbias.
template <class T>
__global__ void finalize_backward(math::BnGradCoef* k, double* mean_d, T* dweight, T* dbias, const double* sum_dy,
                                  const double* sum_dyxc, const T* weight, const T* save_invstd, int64_t C, double m,
                                  bool training) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= C) return;
  const double invstd = static_cast<double>(save_invstd[c]);
  const double w = weight ? static_cast<double>(weight[c]) : 1.0;
  const double sdy = sum_dy ? sum_dy[c] : 0.0, sdx = sum_dyxc ? sum_dyxc[c] : 0.0;
  k[c] = math::bn_grad_coef(w, invstd, sdy, sdx, m, training);
  if (dweight) {
    dweight[c] = static_cast<T>(sdx * invstd);
    dbias[c] = static_cast<T>(sdy);
  }
  (void)mean_d;
}

template <class T> __global__ void to_double(double* out, const T* in, int64_t C) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c < C) out[c] = static_cast<double>(in[c]);
}

template <class T>
__global__ void grad_input(T* dx, const T* dy, const T* x, const double* mean, const math::BnGradCoef* k, int64_t n,
                           int64_t C, int64_t S) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = (i / S) % C;
    dx[i] = math::bn_grad_input(dy[i], x[i], mean[c], k[c]);
  }
}

template <class T> const T* cptr(const Tensor& t) { return t.present ? t.ptr<T>() : nullptr; }
template <class T> T* mptr(const Tensor& t) { return t.present ? t.ptr<T>() : nullptr; }
unsigned cgrid(int64_t C) { return static_cast<unsigned>((C + 127) / 128); }

}  // namespace

void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                        const Tensor& weight, const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                        bool training, double momentum, double eps) {
  const char* op = "batch_norm_forward";
  const int64_t N = x.shape[0], C = x.shape[1], S = x.ndim == 4 ? x.shape[2] * x.shape[3] : 1, m = N * S;
  const int64_t P = pieces_of(m);
  if (C * P > (int64_t(1) << 31) - 1) value_error(op, "x", "at most 2**31 - 1 channel pieces on CUDA", std::to_string(C * P));
  Scratch work(op, (4 * C + C * P) * sizeof(double));
  double *mean = work.as<double>(), *var = mean + C, *scale = var + C, *shift = scale + C, *part = shift + C;
  PB_DISPATCH_FLOAT(x.dtype, T, {
    if (training) {
      channel_partials<T><<<static_cast<unsigned>(C * P), kBlock, 0, stream()>>>(part, nullptr, x.ptr<T>(), nullptr,
                                                                                  nullptr, N, C, S, P, Sum::x);
      check_launch(op);
      combine<<<cgrid(C), 128, 0, stream()>>>(mean, part, C, P, double(m));
      check_launch(op);
      channel_partials<T><<<static_cast<unsigned>(C * P), kBlock, 0, stream()>>>(part, nullptr, x.ptr<T>(), nullptr,
                                                                                  mean, N, C, S, P, Sum::sq_dev);
      check_launch(op);
      combine<<<cgrid(C), 128, 0, stream()>>>(var, part, C, P, double(m));
      check_launch(op);
    }
    finalize_forward<T><<<cgrid(C), 128, 0, stream()>>>(mean, scale, shift, save_mean.ptr<T>(), save_invstd.ptr<T>(),
                                                         var, mptr<T>(running_mean), mptr<T>(running_var),
                                                         cptr<T>(weight), cptr<T>(bias), C, training, double(m),
                                                         momentum, eps);
    check_launch(op);
    if (x.numel == 0) return;  // eval on an empty batch: save_mean / save_invstd only, no empty grid
    apply<T><<<grid_for(x.numel, kBlock), kBlock, 0, stream()>>>(y.ptr<T>(), x.ptr<T>(), mean, scale, shift, x.numel,
                                                                 C, S);
    check_launch(op);
  });
}

void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                         const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         bool training) {
  const char* op = "batch_norm_backward";
  const int64_t N = x.shape[0], C = x.shape[1], S = x.ndim == 4 ? x.shape[2] * x.shape[3] : 1, m = N * S;
  const int64_t P = pieces_of(m);
  if (C * P > (int64_t(1) << 31) - 1) value_error(op, "x", "at most 2**31 - 1 channel pieces on CUDA", std::to_string(C * P));
  const size_t kbytes = static_cast<size_t>(C) * sizeof(math::BnGradCoef);
  Scratch work(op, (3 * C + 2 * C * P) * sizeof(double) + kbytes);
  double *mean = work.as<double>(), *sum_dy = mean + C, *sum_dyxc = sum_dy + C, *pa = sum_dyxc + C, *pb = pa + C * P;
  auto* k = reinterpret_cast<math::BnGradCoef*>(pb + C * P);
  const bool sums = training || weight.present;
  PB_DISPATCH_FLOAT(x.dtype, T, {
    to_double<T><<<cgrid(C), 128, 0, stream()>>>(mean, save_mean.ptr<T>(), C);
    check_launch(op);
    if (sums) {
      channel_partials<T><<<static_cast<unsigned>(C * P), kBlock, 0, stream()>>>(pa, pb, x.ptr<T>(), dy.ptr<T>(), mean,
                                                                                  N, C, S, P, Sum::grad);
      check_launch(op);
      combine<<<cgrid(C), 128, 0, stream()>>>(sum_dy, pa, C, P, 1.0);
      combine<<<cgrid(C), 128, 0, stream()>>>(sum_dyxc, pb, C, P, 1.0);
      check_launch(op);
    }
    finalize_backward<T><<<cgrid(C), 128, 0, stream()>>>(k, mean, weight.present ? dweight.ptr<T>() : nullptr,
                                                          weight.present ? dbias.ptr<T>() : nullptr,
                                                          sums ? sum_dy : nullptr, sums ? sum_dyxc : nullptr,
                                                          cptr<T>(weight), save_invstd.ptr<T>(), C, double(m), training);
    check_launch(op);
    grad_input<T><<<grid_for(x.numel, kBlock), kBlock, 0, stream()>>>(dx.ptr<T>(), dy.ptr<T>(), x.ptr<T>(), mean, k,
                                                                      x.numel, C, S);
    check_launch(op);
  });
}

}  // namespace pb::cuda
