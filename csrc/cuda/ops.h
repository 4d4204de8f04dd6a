// Host entry points of the CUDA kernels (csrc/cuda/*.cu), one group per op family: the CUDA
// column of the op tables in csrc/ops (core/op_table.h), run after validation and on_cuda()
// (which set the device and stream). They take the validated Tensor views (device pointers) and
// launch asynchronously on the caller's stream, except where a value must come back to the host
// (loss values, label checks). Only linked in a CUDA build (PB_CUDA_ENTRY, PB_CUDA_ONLY).
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "core/geometry.h"    // ConvGeom, PoolGeom
#include "math/activation.h"  // Act
#include "math/optim.h"

namespace pb::cuda {

// Where an op has several CUDA implementations, one entry per implementation, by name: the
// tables point at e.g. copy<Variant::memcpy> (instantiated in the .cu for the names it offers).
enum class Variant { naive, vec4, warp, memcpy, tf32, tiled, igemm };

using math::Act;

// ---- copy (csrc/cuda/copy.cu): y = x ----
// naive, memcpy.
template <Variant V> void copy(const Tensor& y, const Tensor& x);
// out = value (rounded to out's float dtype); no launch for an empty out.
void fill(const char* op, const Tensor& out, double value);

// ---- activations (csrc/cuda/activation.cu): naive, vec4; softmax: naive, warp ----
// a: negative_slope / alpha / beta; b: threshold (softplus).
template <Variant V> void act_forward(Act act, double a, double b, const Tensor& y, const Tensor& x);
template <Variant V>
void act_backward(Act act, double a, double b, const Tensor& dx, const Tensor& dy, const Tensor& x);
template <Variant V> void softmax_forward(bool log, const Tensor& y, const Tensor& x);
template <Variant V> void softmax_backward(bool log, const Tensor& dx, const Tensor& dy, const Tensor& y);

// ---- losses (csrc/cuda/loss.cu): forward returns the sum of the terms (the op divides) ----
// ValueError (same message as the CPU check) for a label outside [0, C); copies one int back.
void check_labels_range(const char* op, const Tensor& labels, int64_t C);
double cross_entropy_forward(const Tensor& logits, const Tensor& labels);
void cross_entropy_backward(const Tensor& dx, const Tensor& logits, const Tensor& labels, double scale);
enum class Loss { mse, huber, bce_with_logits };
double pointwise_loss_forward(Loss loss, const Tensor& input, const Tensor& target, double delta);
void pointwise_loss_backward(Loss loss, const Tensor& dx, const Tensor& input, const Tensor& target, double delta,
                             double scale);

// ---- optimizers (csrc/cuda/optim.cu); absent states are Tensors with present = false ----
void sgd_step(const Tensor& param, const Tensor& momentum_buf, const Tensor& grad, const math::SgdConfig& cfg);
void adagrad_step(const Tensor& param, const Tensor& state_sum, const Tensor& grad, const math::AdagradConfig& cfg);
void rmsprop_step(const Tensor& param, const Tensor& square_avg, const Tensor& momentum_buf, const Tensor& grad_avg,
                  const Tensor& grad, const math::RmspropConfig& cfg);
void adam_step(const Tensor& param, const Tensor& exp_avg, const Tensor& exp_avg_sq, const Tensor& grad,
               const math::AdamConfig& cfg);

// ---- dropout (csrc/cuda/dropout.cu): the mask is the CPU's, bit for bit ----
// training=false copies x to y.
// naive, vec4.
template <Variant V>
void dropout_forward(const Tensor& y, const Tensor& x, double p, uint64_t seed, uint64_t offset, bool training);

// ---- GEMM and linear (csrc/cuda/linear.cu): naive, tf32, tiled ----
// c (M, N) = alpha op(a) op(b) + beta c; row-major, lda / ldb the row lengths of a / b as stored.
template <Variant V>
void gemm(const Tensor& c, const Tensor& a, const Tensor& b, bool trans_a, bool trans_b, int64_t M, int64_t N,
          int64_t K, double alpha, double beta);
template <Variant V> void linear_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias);
template <Variant V>
void linear_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight);

// ---- pooling (csrc/cuda/pool.cu); the geometry: core/geometry.h ----
void max_pool2d_forward(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolGeom& g);
// Returns the number of indices outside [0, H*W) (the op raises ValueError; out is then invalid).
int64_t max_pool2d_backward(const Tensor& dx, const Tensor& dy, const Tensor& indices, const PoolGeom& g);
void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeom& g, bool count_include_pad);
void avg_pool2d_backward(const Tensor& dx, const Tensor& dy, const PoolGeom& g, bool count_include_pad);
// naive, warp.
template <Variant V> void global_avg_pool2d_forward(const Tensor& y, const Tensor& x);
void global_avg_pool2d_backward(const Tensor& dx, const Tensor& dy);

// ---- batch norm (csrc/cuda/batchnorm.cu): everything per channel stays on the device ----
void batch_norm_forward(const Tensor& y, const Tensor& save_mean, const Tensor& save_invstd, const Tensor& x,
                        const Tensor& weight, const Tensor& bias, const Tensor& running_mean, const Tensor& running_var,
                        bool training, double momentum, double eps);
void batch_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy,
                         const Tensor& x, const Tensor& weight, const Tensor& save_mean, const Tensor& save_invstd,
                         bool training);

// ---- conv2d (csrc/cuda/conv2d.cu): naive, igemm; the geometry: core/geometry.h ----
template <Variant V>
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias, const ConvGeom& g);
// dx and dbias skipped when not present.
template <Variant V>
void conv2d_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& dy, const Tensor& x,
                     const Tensor& weight, const ConvGeom& g);

}  // namespace pb::cuda
