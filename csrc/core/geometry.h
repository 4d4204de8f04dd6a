// Geometry of the windowed ops, validated by csrc/ops before any kernel sees it; the same struct
// reaches the CPU kernels (csrc/cpu) and the CUDA kernels (csrc/cuda), which take it by value.
// Index arithmetic over it: csrc/math/window.h.
#pragma once
#include <cstdint>

namespace pb {

// One conv2d call (NCHW): x (N, C, H, W); weight (O, C/groups, KH, KW); y (N, O, OH, OW) with
// OH = (H + 2*ph - dh*(KH-1) - 1) / sh + 1 (likewise OW).
struct ConvGeom {
  int64_t N, C, H, W;
  int64_t O, KH, KW;
  int64_t OH, OW;
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t groups;
};

// One 2-D pooling call over `planes` = N*C input planes of H x W: window KH x KW, stride,
// zero-or-more padding (<= kernel/2), no dilation, floor mode: OH = (H + 2*ph - KH) / sh + 1.
struct PoolGeom {
  int64_t planes, H, W, OH, OW;
  int64_t KH, KW, sh, sw, ph, pw;
};

}  // namespace pb
