#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace pb::ops {
// Outputs first, then inputs, then parameters; `impl` "" picks the default (fastest).
// Element-wise activations (any shape). `name` is one of relu, leaky_relu, elu, gelu, sigmoid,
// tanh, silu, softplus; parameters by name: negative_slope (leaky_relu), alpha (elu),
// approximate ("none" | "tanh", gelu), beta and threshold (softplus); others ignore them.
struct ActArgs {
  double negative_slope = 0.01;
  double alpha = 1.0;
  std::string approximate = "none";
  double beta = 1.0;
  double threshold = 20.0;
};
void activation_forward(const std::string& name, const Tensor& y, const Tensor& x, const ActArgs& args,
                        const std::string& impl);
void activation_backward(const std::string& name, const Tensor& dx, const Tensor& dy, const Tensor& x,
                         const ActArgs& args, const std::string& impl);
// The names in the activation table with (or without) parameters besides x, in table order: those
// without are bound alike, so a new one needs no binding of its own.
std::vector<std::string> activation_names(bool with_params);
// The Python docstrings of <name>_forward / <name>_backward: the formula and how it differs from PyTorch.
struct ActivationDoc {
  const char* forward;
  const char* backward;
};
const ActivationDoc& activation_doc(const std::string& name);

// softmax / log_softmax over the last axis (x of any ndim >= 1); backward takes the forward output y.
void softmax_forward(const Tensor& y, const Tensor& x, bool log, const std::string& impl);
void softmax_backward(const Tensor& dx, const Tensor& dy, const Tensor& y, bool log, const std::string& impl);

// Test hook: y = the vectorized float fastmath function `fn` ("exp", "expm1", "log", "log1p",
// "tanh", "erf", "log1p_01") applied to x (float32, 1-D); impl "vec": the scalar code as the
// vec / stream impls run it, "simd" or "": as the simd impls run it (fm::V16 on AVX-512).
void fastmath_eval(const Tensor& y, const Tensor& x, const std::string& fn, const std::string& impl);
}  // namespace pb::ops
