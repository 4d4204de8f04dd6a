// The GEMM core shared by linear and conv2d: C = alpha * op(A) op(B) + beta * C (+ bias).
// Three variants, plainest first (measurements: docs/kernels/gemm.md):
//   naive   -- triple loop, one thread: the reading copy.
//   blocked -- i-k-j order in cache tiles so a row of op(B) streams and the compiler
//              vectorizes the j loop; rows split across threads. No packing, no intrinsics.
//   packed  -- BLIS: op(B) packed into NR-column slivers (KC x NC panel), op(A) into MR-row
//              slivers (MC x KC block), an explicit SIMD register-tile micro-kernel
//              (csrc/cpu/gemm_kernel.h), C split between threads in sliver units. The default.
#include "cpu/gemm.h"

#include <omp.h>

#include <cstdlib>
#include <new>

#include "core/parallel.h"
#include "cpu/gemm_kernel.h"

namespace pb::cpu::PB_ISA_NS {

// ---------------------------------------------------------------------------------------------
// naive: the reading copy. Accumulates in T.
template <class T>
void gemm_naive(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb, bool trans_b,
                int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      T acc = 0;
      for (int64_t k = 0; k < K; ++k)
        acc += (trans_a ? A[k * lda + i] : A[i * lda + k]) * (trans_b ? B[j * ldb + k] : B[k * ldb + j]);
      C[i * ldc + j] = beta == T(0) ? alpha * acc : alpha * acc + beta * C[i * ldc + j];
    }
}

// ---------------------------------------------------------------------------------------------
// blocked: adds cache tiling (16 rows x 256 columns of C accumulated in a local tile while k runs
// in steps of 256) and threads over row tiles; the inner j loop is what the compiler vectorizes.
template <class T>
void gemm_blocked(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb, bool trans_b,
                  int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  constexpr int64_t MB = 16, NB = 256, KB = 256;
  const int64_t row_tiles = (M + MB - 1) / MB;
  const int64_t grain = 2 * N * K < (1 << 22) ? row_tiles : 1;  // small problems: one thread
  parallel_for(row_tiles, grain, [&](int64_t t0, int64_t t1) {
    alignas(64) T acc[MB * NB];
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = t * MB, mb = M - i0 < MB ? M - i0 : MB;
      for (int64_t j0 = 0; j0 < N; j0 += NB) {
        const int64_t nb = N - j0 < NB ? N - j0 : NB;
        for (int64_t x = 0; x < MB * NB; ++x) acc[x] = T(0);
        for (int64_t k0 = 0; k0 < K; k0 += KB) {
          const int64_t k1 = K - k0 < KB ? K : k0 + KB;
          for (int64_t i = 0; i < mb; ++i) {
            T* __restrict ai = acc + i * NB;
            for (int64_t k = k0; k < k1; ++k) {
              const T a = trans_a ? A[k * lda + i0 + i] : A[(i0 + i) * lda + k];
              if (trans_b) {
                const T* bk = B + j0 * ldb + k;
                for (int64_t j = 0; j < nb; ++j) ai[j] += a * bk[j * ldb];
              } else {
                const T* __restrict bk = B + k * ldb + j0;
                for (int64_t j = 0; j < nb; ++j) ai[j] += a * bk[j];
              }
            }
          }
        }
        for (int64_t i = 0; i < mb; ++i) {
          T* ci = C + (i0 + i) * ldc + j0;
          const T* ai = acc + i * NB;
          if (beta == T(0))
            for (int64_t j = 0; j < nb; ++j) ci[j] = alpha * ai[j];
          else
            for (int64_t j = 0; j < nb; ++j) ci[j] = alpha * ai[j] + beta * ci[j];
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// packed: the fast path.

namespace gemm_detail {

// Cache blocking (elements, float; KC halves for double). KC: the k depth of a packed sliver;
// the KC x NR micro-panel of B is reused by every MR sliver of the MC x KC block of A (L2); the
// KC x NC panel of B lives in L2/L3. Sizes: docs/kernels/gemm.md. Overridable at compile time.
#ifndef PB_GEMM_KC
#define PB_GEMM_KC 384
#endif
#ifndef PB_GEMM_MC
#define PB_GEMM_MC 192
#endif
#ifndef PB_GEMM_NC
#define PB_GEMM_NC 2048
#endif
template <class T> constexpr int64_t kKC = PB_GEMM_KC * 4 / static_cast<int64_t>(sizeof(T));
template <class T> constexpr int64_t kMC = PB_GEMM_MC;
template <class T> constexpr int64_t kNC = PB_GEMM_NC;

PB_INLINE int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
PB_INLINE int64_t round_up(int64_t a, int64_t b) { return cdiv(a, b) * b; }
PB_INLINE int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Even split of `n` into blocks of at most `cap`, each a multiple of `unit` (except the last).
PB_INLINE int64_t block_size(int64_t n, int64_t cap, int64_t unit) {
  const int64_t nb = cdiv(n, cap);
  return round_up(cdiv(n, nb), unit);
}

template <class T>
struct Args {
  T* C;
  int64_t ldc;
  const T* A;
  int64_t lda;
  bool ta;
  const T* B;
  int64_t ldb;
  bool tb;
  int64_t M, N, K;
  T alpha, beta;
  const T* bias;
  bool bias_per_row;
  int64_t kc;  // k block: depends on K only, so every C element sums its products in one fixed order
};

// A per-calling-thread workspace for the packed panels, kept across calls: fresh pages cost
// ~1 us per 4 KiB on first touch here, so reallocating every call would dominate small GEMMs.
struct Workspace {
  void* p = nullptr;
  size_t bytes = 0;
  ~Workspace() { std::free(p); }
  void* get(size_t want) {
    if (want > bytes) {
      std::free(p);
      p = nullptr;
      bytes = 0;
      want = static_cast<size_t>(round_up(static_cast<int64_t>(want), 1 << 16));
      p = std::aligned_alloc(64, want);
      if (!p) throw std::bad_alloc();
      bytes = want;
    }
    return p;
  }
};
static thread_local Workspace tl_workspace;

// One thread's share: rows [i0, i1) x columns [j0, j1) of C, all of K, in the BLIS loop order
// jc (NC) -> pc (KC, pack B) -> ic (MC, pack A) -> jr (NR) -> ir (MR) -> micro-kernel.
template <class T>
static void gemm_part(const Args<T>& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1, T* apack, T* bpack) {
  constexpr int64_t MR = kMR<T>, NR = kNR<T>;
  const int64_t nc_blk = block_size(j1 - j0, kNC<T>, NR);
  const int64_t mc_blk = block_size(i1 - i0, kMC<T>, MR);
  for (int64_t jc = j0; jc < j1; jc += nc_blk) {
    const int64_t nc = min64(nc_blk, j1 - jc);
    for (int64_t pc = 0; pc < g.K; pc += g.kc) {
      const int64_t kc = min64(g.kc, g.K - pc);
      const bool first = pc == 0;
      const T beta = first ? g.beta : T(1);
      pack_b<T>(bpack, g.B, g.ldb, g.tb, jc, nc, pc, kc);
      for (int64_t ic = i0; ic < i1; ic += mc_blk) {
        const int64_t mc = min64(mc_blk, i1 - ic);
        pack_a<T>(apack, g.A, g.lda, g.ta, ic, mc, pc, kc);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = min64(NR, nc - jr);
          const T* bp = bpack + jr * kc;
          const T* bias_c = first && g.bias && !g.bias_per_row ? g.bias + jc + jr : nullptr;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = min64(MR, mc - ir);
            const T* ap = apack + ir * kc;
            const T* bias_r = first && g.bias && g.bias_per_row ? g.bias + ic + ir : nullptr;
            T* c = g.C + (ic + ir) * g.ldc + jc + jr;
            if (mr == MR && nr == NR)
              ukernel<T>(kc, ap, bp, c, g.ldc, g.alpha, beta, bias_c, bias_r);
            else
              edge_tile<T>(kc, ap, bp, c, g.ldc, mr, nr, g.alpha, beta, bias_c, bias_r);
          }
        }
      }
    }
  }
}

// C = beta * C (+ bias) when there is nothing to multiply (K == 0).
template <class T>
static void scale_only(const Args<T>& g) {
  for (int64_t i = 0; i < g.M; ++i)
    for (int64_t j = 0; j < g.N; ++j) {
      T v = g.beta == T(0) ? T(0) : g.beta * g.C[i * g.ldc + j];
      if (g.bias) v += g.bias_per_row ? g.bias[i] : g.bias[j];
      g.C[i * g.ldc + j] = v;
    }
}

// Threads and problems: each problem gets a share of the threads proportional to its work
// (at least one part, and no part under kMinPartWork multiply-adds), its C is cut into a tm x tn
// grid of blocks on sliver boundaries, and every block is an independent part run by one thread.
// Parts never share packed panels, so there are no barriers and no atomics.
constexpr int64_t kMinPartWork = int64_t(1) << 19;
constexpr int kMaxBatch = 8;

template <class T>
struct Plan {
  int64_t tm = 1, tn = 1;   // grid of parts
  int64_t first_part = 0;   // index of its first part in the batch
  int64_t ws_per_part = 0;  // elements: packed A block + packed B panel
  int64_t a_elems = 0;
};

template <class T>
static Plan<T> plan_problem(const Args<T>& g, int64_t threads) {
  constexpr int64_t MR = kMR<T>, NR = kNR<T>;
  const int64_t ms = cdiv(g.M, MR), ns = cdiv(g.N, NR);
  const int64_t work = g.M * g.N * g.K;  // no overflow: sizes are checked in csrc/ops
  int64_t nt = threads;
  if (nt > work / kMinPartWork) nt = work / kMinPartWork;
  if (nt < 1) nt = 1;
  // Among the grids with tm * tn = nt, pick the one whose largest block (padded to slivers) costs
  // least, counting the packing a split duplicates (a row split makes each part pack the same
  // op(B), a column split the same op(A)).
  Plan<T> pl;
  double best = -1;
  for (int64_t tm = 1; tm <= nt; ++tm) {
    if (nt % tm) continue;
    const int64_t tn = nt / tm;
    if (tm > ms || tn > ns) continue;
    const double rows = static_cast<double>(cdiv(ms, tm) * MR), cols = static_cast<double>(cdiv(ns, tn) * NR);
    const double cost = rows * cols * static_cast<double>(g.K) +
                        4.0 * (static_cast<double>(tm) * g.K * g.N + static_cast<double>(tn) * g.M * g.K) / nt;
    if (best < 0 || cost < best) best = cost, pl.tm = tm, pl.tn = tn;
  }
  const int64_t kc_max = min64(g.kc, g.K);
  const int64_t mc_cap = round_up(min64(kMC<T>, cdiv(ms, pl.tm) * MR), MR) + MR;
  const int64_t nc_cap = round_up(min64(kNC<T>, cdiv(ns, pl.tn) * NR), NR) + NR;
  pl.a_elems = round_up(mc_cap * kc_max, 64);
  pl.ws_per_part = pl.a_elems + round_up(nc_cap * kc_max, 64);
  return pl;
}

template <class T>
static void gemm_run(const Args<T>* probs, int count) {
  constexpr int64_t MR = kMR<T>, NR = kNR<T>;
  Args<T> live[kMaxBatch];
  int n = 0;
  double total = 0;
  for (int i = 0; i < count; ++i) {
    const Args<T>& g = probs[i];
    if (g.M <= 0 || g.N <= 0) continue;
    if (g.K <= 0) {
      scale_only(g);
      continue;
    }
    live[n++] = g;
    total += static_cast<double>(g.M) * g.N * g.K;
  }
  if (n == 0) return;

  // Called from inside a parallel region (e.g. per image of a conv): one thread, no fork.
  const int64_t nt = omp_in_parallel() ? 1 : max_threads();
  Plan<T> plan[kMaxBatch];
  int64_t parts = 0, ws_elems = 0;
  for (int i = 0; i < n; ++i) {
    const double w = static_cast<double>(live[i].M) * live[i].N * live[i].K;
    int64_t share = static_cast<int64_t>(static_cast<double>(nt) * w / total + 0.5);
    if (share < 1) share = 1;
    plan[i] = plan_problem(live[i], share);
    plan[i].first_part = parts;
    parts += plan[i].tm * plan[i].tn;
    ws_elems += plan[i].tm * plan[i].tn * plan[i].ws_per_part;
  }

  // Workspace for every part, allocated here: an exception cannot leave a parallel region.
  T* ws = static_cast<T*>(tl_workspace.get(static_cast<size_t>(ws_elems) * sizeof(T)));

  parallel_for(parts, 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      int i = 0;
      int64_t off = 0;
      while (i + 1 < n && p >= plan[i + 1].first_part) off += plan[i].tm * plan[i].tn * plan[i].ws_per_part, ++i;
      const Args<T>& g = live[i];
      const Plan<T>& pl = plan[i];
      const int64_t q = p - pl.first_part, pm = q / pl.tn, pn = q % pl.tn;
      const int64_t ms = cdiv(g.M, MR), ns = cdiv(g.N, NR);
      const int64_t i0 = min64(g.M, (ms * pm / pl.tm) * MR), i1 = min64(g.M, (ms * (pm + 1) / pl.tm) * MR);
      const int64_t j0 = min64(g.N, (ns * pn / pl.tn) * NR), j1 = min64(g.N, (ns * (pn + 1) / pl.tn) * NR);
      if (i0 >= i1 || j0 >= j1) continue;
      T* apack = ws + off + q * pl.ws_per_part;
      gemm_part<T>(g, i0, i1, j0, j1, apack, apack + pl.a_elems);
    }
  });
}

template <class T>
PB_INLINE Args<T> make_args(const GemmProblem<T>& p) {
  // The k block depends on K only, so an element's summation order never depends on threads.
  const int64_t kc = block_size(p.K > 0 ? p.K : 1, kKC<T>, 8);
  return Args<T>{p.C, p.ldc, p.A, p.lda, p.trans_a, p.B, p.ldb, p.trans_b, p.M, p.N, p.K,
                 p.alpha, p.beta, p.bias, p.bias_per_row, kc};
}

}  // namespace gemm_detail

template <class T>
void gemm_batch(const GemmProblem<T>* problems, int64_t count) {
  using namespace gemm_detail;
  for (int64_t b = 0; b < count; b += kMaxBatch) {
    Args<T> args[kMaxBatch];
    const int m = static_cast<int>(min64(kMaxBatch, count - b));
    for (int i = 0; i < m; ++i) args[i] = make_args(problems[b + i]);
    gemm_run(args, m);
  }
}

template <class T>
void gemm_bias(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb, bool trans_b,
               int64_t M, int64_t N, int64_t K, T alpha, T beta, const T* bias, bool bias_per_row) {
  const GemmProblem<T> p{C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, bias, bias_per_row};
  gemm_batch<T>(&p, 1);
}

template <class T>
void gemm(T* C, int64_t ldc, const T* A, int64_t lda, bool trans_a, const T* B, int64_t ldb, bool trans_b,
          int64_t M, int64_t N, int64_t K, T alpha, T beta) {
  gemm_bias<T>(C, ldc, A, lda, trans_a, B, ldb, trans_b, M, N, K, alpha, beta, nullptr, false);
}

#define PB_INSTANTIATE(T)                                                                                      \
  template void gemm_naive<T>(T*, int64_t, const T*, int64_t, bool, const T*, int64_t, bool, int64_t, int64_t, \
                              int64_t, T, T);                                                                  \
  template void gemm_blocked<T>(T*, int64_t, const T*, int64_t, bool, const T*, int64_t, bool, int64_t,        \
                                int64_t, int64_t, T, T);                                                       \
  template void gemm<T>(T*, int64_t, const T*, int64_t, bool, const T*, int64_t, bool, int64_t, int64_t,       \
                        int64_t, T, T);                                                                        \
  template void gemm_bias<T>(T*, int64_t, const T*, int64_t, bool, const T*, int64_t, bool, int64_t, int64_t,  \
                             int64_t, T, T, const T*, bool);                                                   \
  template void gemm_batch<T>(const GemmProblem<T>*, int64_t);
PB_INSTANTIATE(float)
PB_INSTANTIATE(double)
#undef PB_INSTANTIATE

}  // namespace pb::cpu::PB_ISA_NS
