#pragma once
#include <cstdint>

#include "core/geometry.h"  // ConvGeom
#include "core/isa.h"

namespace pb::cpu {

// The shapes the `winograd` and `direct` rows handle (their kernels run `fast` on the others, so
// csrc/ops refuses those by name); `fast` takes them where they pay.
inline bool winograd_handles(const ConvGeom& g) {
  return g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.groups == 1 &&
         g.ph <= 2 && g.pw <= 2;
}
inline bool direct_handles(const ConvGeom& g) {
  return g.C == 1 && g.groups == 1 && g.KH == 3 && g.KW == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1;
}

}  // namespace pb::cpu

// Forward: y (N, O, OH, OW) = conv(x (N, C, H, W), w (O, C/groups, KH, KW)) + b (O,) (b may be null).
// Backward: from dy (N, O, OH, OW), x and w: dx (N, C, H, W) (skipped when null), dw (O, C/groups,
// KH, KW), db (O,) (skipped when null). Outputs are overwritten, never accumulated into.
//   naive     direct loops, one thread: the reading copy.
//   im2col    per sample (threads over the batch): unfold x into columns, one GEMM per group.
//   winograd  Winograd F(2x2,3x3) wherever it applies (winograd_handles; conv2d_winograd.cpp).
//   direct    one input channel, 3x3, stride 1, dilation 1, groups 1 (a first layer): direct
//             kernels (forward; dW/db when no dx is asked for), float with AVX-512.
//             Both run `fast` on other shapes, ISAs, dtypes: the op table refuses those by name.
//   fast      picks per shape: `direct` where it applies;
//             1x1/stride 1/no padding -> GEMM straight on x (no im2col);
//             depthwise (C/groups == 1) -> direct kernel; where Winograd applies and both
//             channel counts are >= 16 -> Winograd; else im2col.
// dW and db are reduced in an order fixed by the shape: bitwise the same for any thread count.
PB_CPU_DECLARE(
  template <class T> void conv2d_forward_naive(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
  template <class T> void conv2d_forward_im2col(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
  template <class T> void conv2d_forward_winograd(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
  template <class T> void conv2d_forward_fast(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
  template <class T> void conv2d_backward_naive(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);
  template <class T> void conv2d_backward_im2col(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);
  template <class T> void conv2d_backward_winograd(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);
  template <class T> void conv2d_forward_direct(T* y, const T* x, const T* w, const T* b, const ConvGeom& g);
  template <class T> void conv2d_backward_direct(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);
  template <class T> void conv2d_backward_fast(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const ConvGeom& g);
)
