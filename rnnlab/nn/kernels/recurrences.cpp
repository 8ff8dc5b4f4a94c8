// Recurrences of rnnlab's cells, every step of a sequence in one call, forward and backward through time
// (CPU, float32 and float64): the LSTM, the layer-normalised LSTM and GRU, the peephole LSTM, JANET and the
// orthogonal RNN's modReLU recurrence, each step one matrix product (the kernels' own in float32 with AVX-512 where
// the weight fits in cache, else ATen's, or oneDNN's with a packed weight) and one pass over the batch for every
// element-wise part of the step; the IndRNN, whose recurrence is element-wise, in passes over the batch alone.  The
// passes split the batch's rows over torch's threads (built with OpenMP: without it, at::parallel_for runs on one).
// The equations are in rnnlab/nn/fused.py.  Shapes: T steps, B batch, H hidden features, LSTM gate order i, f, g, o.

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/library.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>
#include <vector>

// A loop to vectorise (a pragma that may stand inside the type-dispatching macro's argument).
#define SIMD _Pragma("omp simd")

namespace {

using at::Tensor;

// Whether v is NaN, read from its bits: the build's fast math lets the compiler assume no NaN in comparisons,
// and a relu that turned NaN into 0 would hide a diverged model (torch's relu passes NaN on).
template <typename T> inline bool is_nan(T v) {
  if constexpr (sizeof(T) == 4) {
    std::uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return (bits & 0x7fffffffu) > 0x7f800000u;
  } else {
    std::uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return (bits & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
  }
}

template <typename T> inline T sigmoid(T a) { return T(1) / (T(1) + std::exp(-a)); }
template <typename T> inline T tanh_(T a) { return T(2) / (T(1) + std::exp(T(-2) * a)) - T(1); }

// body(b) for every row b in [lo, hi), the rows split over torch's intra-op threads where each share holds at
// least kRowWork units (each row H units; fewer, and a thread's start costs more than its share); on this thread
// alone inside a parallel region (a block of a sequence, whose thread runs all its rows).
constexpr int64_t kRowWork = 1024;
inline int64_t rows_per_share(int64_t H) { return std::max<int64_t>(1, kRowWork / std::max<int64_t>(H, 1)); }
template <typename Body> void over_rows_of(int64_t lo, int64_t hi, int64_t H, const Body& body) {
  at::parallel_for(lo, hi, rows_per_share(H), [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) body(b);
  });
}

// body(b) for every row b of a batch of B, split as over_rows_of splits them.
template <typename Body> void over_rows(int64_t B, int64_t H, const Body& body) { over_rows_of(0, B, H, body); }

// The number of fixed shares over_shares splits B rows of H units into: one per thread, fewer where a share would
// hold under kRowWork units.
inline int64_t row_shares(int64_t B, int64_t H) {
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), B / rows_per_share(H)));
}

// body(b, share) for every row b, the rows in `shares` fixed contiguous shares run on torch's threads: a pass can
// keep running sums of its own per share (in cache, where per-row sums would stream through memory), added up once
// at the end in an order that does not depend on which thread ran which share.
template <typename Body> void over_shares(int64_t B, int64_t shares, const Body& body) {
  at::parallel_for(0, shares, 1, [&](int64_t begin, int64_t end) {
    for (int64_t share = begin; share < end; ++share)
      for (int64_t b = share * B / shares; b < (share + 1) * B / shares; ++b) body(b, share);
  });
}

// ------------------------------------------------------------------------------------------ a step's product
// Each step multiplies the same weight w (out, in) by a few rows of state, h w^T with h (B, in): a product too small
// for a library to split well over threads (about 95 us a step at B=32, in=256, out=1024 on two cores, MKL's or
// oneDNN's) and paid T times.  In float32 where the CPU has AVX-512 and w fits in a core's cache, w^T is laid out
// once per sequence in panels of 32 columns, and each thread multiplies its block of rows into whole panels, its
// 8 x 32 results in registers over the whole sum (about 65 us a step there); elsewhere the library's product.

constexpr int64_t kPanel = 32;                       // columns of a panel: two 16-float registers
constexpr int64_t kCachedWeight = int64_t(1) << 20;  // bytes of w that a core's cache keeps from step to step
constexpr int64_t kBlockWork = int64_t(1) << 16;     // multiply-adds below which a block of rows is not worth a thread
constexpr int64_t kPanelRows = 64;  // rows times steps below which laying out the panels costs more than it saves

// A step's weight w (out, in), prepared once per sequence of `rows` rows times steps: as given (or oneDNN's packed
// form of it, packed: true), and, where the panel product serves, w^T in panels: (ceil(out / 32), in, 32), zero past
// out.
struct StepWeight {
  Tensor w, panels;
  bool packed;
  StepWeight(const Tensor& weight, bool packed_, int64_t rows) : w(weight), packed(packed_) {
#if defined(__AVX512F__)
    if (!packed && w.scalar_type() == at::kFloat && w.numel() * int64_t(sizeof(float)) <= kCachedWeight &&
        rows >= kPanelRows) {
      const int64_t out = w.size(0), in = w.size(1), count = (out + kPanel - 1) / kPanel;
      Tensor padded = at::zeros({in, count * kPanel}, w.options());
      padded.narrow(1, 0, out).copy_(w.t());
      panels = padded.view({in, count, kPanel}).permute({1, 0, 2}).contiguous();
    }
#endif
  }
};

// How many blocks of rows, one per thread, a product of `work` multiply-adds splits into: as many as leave each
// block at least kBlockWork; 1 inside a parallel region.
inline int64_t thread_blocks(int64_t work) {
  if (at::in_parallel_region()) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), work / kBlockWork));
}

#if defined(__AVX512F__)
// c (R x cols) = [x +] a (R x K) p for R rows and one panel p (K x 32) of which the first cols <= 32 columns count:
// the R x 32 sums stay in registers while k runs (each k one load of the panel's row, one broadcast per row).
template <int R>
inline void panel_rows(int64_t K, const float* a, int64_t lda, const float* p, const float* x, int64_t ldx, float* c,
                       int64_t ldc, int64_t cols) {
  __m512 low[R], high[R];
  for (int r = 0; r < R; ++r) low[r] = high[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const __m512 p_low = _mm512_loadu_ps(p + k * kPanel), p_high = _mm512_loadu_ps(p + k * kPanel + 16);
    for (int r = 0; r < R; ++r) {
      const __m512 v = _mm512_set1_ps(a[r * lda + k]);
      low[r] = _mm512_fmadd_ps(v, p_low, low[r]);
      high[r] = _mm512_fmadd_ps(v, p_high, high[r]);
    }
  }
  const __mmask16 m_low = cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
  const __mmask16 m_high = cols >= 32 ? __mmask16(0xFFFF) : cols > 16 ? __mmask16((1u << (cols - 16)) - 1) : 0;
  for (int r = 0; r < R; ++r) {
    if (x) {
      low[r] = _mm512_add_ps(low[r], _mm512_maskz_loadu_ps(m_low, x + r * ldx));
      high[r] = _mm512_add_ps(high[r], _mm512_maskz_loadu_ps(m_high, x + r * ldx + 16));
    }
    _mm512_mask_storeu_ps(c + r * ldc, m_low, low[r]);
    _mm512_mask_storeu_ps(c + r * ldc + 16, m_high, high[r]);
  }
}

// c (M x N) = [x +] a (M x K) w^T, w^T in panels; every row's sum over k in order, as one thread runs it.
void panel_product(int64_t M, int64_t K, int64_t N, const float* a, int64_t lda, const float* panels, const float* x,
                   int64_t ldx, float* c, int64_t ldc) {
  for (int64_t o = 0; o < N; o += kPanel) {
    const int64_t cols = std::min(kPanel, N - o);
    const float* p = panels + o * K;  // panel o / 32: K rows of 32
    for (int64_t m = 0; m < M; m += 8) {
      const float *am = a + m * lda, *xm = x ? x + m * ldx + o : nullptr;
      float* cm = c + m * ldc + o;
      switch (std::min<int64_t>(8, M - m)) {
        case 8: panel_rows<8>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        case 7: panel_rows<7>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        case 6: panel_rows<6>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        case 5: panel_rows<5>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        case 4: panel_rows<4>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        case 3: panel_rows<3>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        case 2: panel_rows<2>(K, am, lda, p, xm, ldx, cm, ldc, cols); break;
        default: panel_rows<1>(K, am, lda, p, xm, ldx, cm, ldc, cols);
      }
    }
  }
}

// c (M x N) = [x +] a (M x K) w^T through the panels, the rows in blocks over torch's threads (each block's share
// of the work at least kBlockWork multiply-adds; on this thread alone inside a parallel region).
void panel_product_rows(int64_t M, int64_t K, int64_t N, const float* a, int64_t lda, const float* panels,
                        const float* x, int64_t ldx, float* c, int64_t ldc) {
  const int64_t blocks = thread_blocks(M * K * N);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) {
      const int64_t lo = k * M / blocks, hi = (k + 1) * M / blocks;
      panel_product(hi - lo, K, N, a + lo * lda, lda, panels, x ? x + lo * ldx : nullptr, ldx, c + lo * ldc, ldc);
    }
  });
}

// [x +] h w^T through the panels.
Tensor panel_product(const Tensor& h, const Tensor* x, const StepWeight& w) {
  const Tensor a = h.contiguous(), xc = x ? x->contiguous() : Tensor();
  const int64_t B = a.size(0), K = a.size(1), N = w.w.size(0);
  Tensor c = at::empty({B, N}, a.options());
  panel_product_rows(B, K, N, a.data_ptr<float>(), K, w.panels.data_ptr<float>(), x ? xc.data_ptr<float>() : nullptr,
                     N, c.data_ptr<float>(), N);
  return c;
}
#endif

// x + h w^T.
Tensor product(const Tensor& h, const Tensor& x, const StepWeight& w) {
#if defined(__AVX512F__)
  if (w.panels.defined()) return panel_product(h, &x, w);
#endif
  if (!w.packed) return at::addmm(x, h, w.w.t());
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "binary")
                       .typed<Tensor(const Tensor&, const Tensor&, const Tensor&, const std::optional<Tensor>&,
                                     std::string_view)>();
  return op.call(h, x, w.w, std::nullopt, "add");
}

// h w^T.
Tensor product_of(const Tensor& h, const StepWeight& w) {
#if defined(__AVX512F__)
  if (w.panels.defined()) return panel_product(h, nullptr, w);
#endif
  if (!w.packed) return at::mm(h, w.w.t());
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("mkldnn::_linear_pointwise", "")
                       .typed<Tensor(const Tensor&, const Tensor&, const std::optional<Tensor>&, std::string_view,
                                     c10::List<std::optional<c10::Scalar>>, std::optional<std::string_view>)>();
  return op.call(h, w.w, std::nullopt, "none", c10::List<std::optional<c10::Scalar>>(), std::nullopt);
}

// c (n x out, leading dimension ldc) = [x (ldx) +] a (n x in, lda) w^T for n rows: product() on raw rows.
template <typename T>
void product_rows(int64_t n, const T* a, int64_t lda, const StepWeight& w, const T* x, int64_t ldx, T* c,
                  int64_t ldc) {
  const int64_t in = w.w.size(1), out = w.w.size(0);
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<T, float>) {
    if (w.panels.defined()) return panel_product_rows(n, in, out, a, lda, w.panels.data_ptr<float>(), x, ldx, c, ldc);
  }
#endif
  const auto options = w.w.options().dtype(c10::CppTypeToScalarType<T>::value).layout(at::kStrided);
  const Tensor rows = at::from_blob(const_cast<T*>(a), {n, in}, {lda, 1}, options);
  Tensor result = at::from_blob(c, {n, out}, {ldc, 1}, options);
  result.copy_(x ? product(rows, at::from_blob(const_cast<T*>(x), {n, out}, {ldx, 1}, options), w) : product_of(rows, w));
}

// How many blocks of rows a whole sequence splits into, each block's every step (its product and its passes) run
// by one thread alone, the blocks side by side with no hand-over between threads from step to step (the rows of a
// batch never meet in a recurrence): one per thread where the products run in panels and each block's product
// holds at least kBlockWork multiply-adds; else 1, and each step's product and passes split over the threads.
inline int64_t sequence_blocks(int64_t B, const StepWeight& w) {
  return w.panels.defined() ? thread_blocks(B * w.w.numel()) : 1;
}

// body(lo, hi, block) for each of `blocks` contiguous blocks of B rows, on torch's threads; where 1, called as it is
// (at::parallel_for would mark it as inside a parallel region, and its passes would then run on one thread).
template <typename Body> void over_row_blocks(int64_t B, int64_t blocks, const Body& body) {
  if (blocks == 1) return body(int64_t(0), B, int64_t(0));
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t k = begin; k < end; ++k) body(k * B / blocks, (k + 1) * B / blocks, k);
  });
}

// Zoneout's weights of the new values at step t: a (B, H) row of a (T', B, H) tensor whose first stride is 0
// when one weight serves every step; nullptr when off.
template <typename T> const T* keep_at(const std::optional<Tensor>& keep, int64_t t) {
  return keep ? keep->data_ptr<T>() + t * keep->stride(0) : nullptr;
}

// How many shares a pass that sums parameters' gradients keeps its sums in: one per block of a sequence run in
// blocks, else over_shares's.
inline int64_t gradient_shares(int64_t B, int64_t H, int64_t blocks) {
  return blocks > 1 ? blocks : row_shares(B, H);
}

// row(b, share) for every row of a sequence's block [lo, hi): in a sequence run in blocks, the block is one share,
// on its own thread; run whole (one block, lo = 0, hi = B), the rows in over_shares's shares over the threads.
template <typename Row>
void over_block_rows(int64_t lo, int64_t hi, int64_t block, int64_t blocks, int64_t shares, const Row& row) {
  if (blocks == 1) return over_shares(hi, shares, row);
  for (int64_t b = lo; b < hi; ++b) row(b, block);
}

// ----------------------------------------------------------------------------------------------------- LSTM
// One step from pre (B, 4H): h_t and c_t into h_out, c_out; with Save, per unit what the backward needs:
// [f, o (1 - u^2), g i (1 - i), c_{t-1} f (1 - f), i (1 - g^2), u o (1 - o)], each (B, H) in a (B, 6H) row.
// With Zoneout, each new state is lerp(previous, new, keep).  (Template flags, not null checks in the loop: a
// vectorised loop would read an absent pointer with masked loads, each one a slow microcode assist.)
template <typename T, bool Save, bool Zoneout>
void lstm_step(int64_t B, int64_t H, const T* pre, const T* h_prev, const T* c_prev, const T* keep_h,
               const T* keep_c, T* h_out, T* c_out, T* saved) {
  over_rows(B, H, [&](int64_t b) {
    const T* a = pre + b * 4 * H;
    const int64_t r = b * H;
    T* s = Save ? saved + b * 6 * H : nullptr;
SIMD
    for (int64_t j = 0; j < H; ++j) {
      const T i = sigmoid(a[j]), f = sigmoid(a[H + j]), g = tanh_(a[2 * H + j]), o = sigmoid(a[3 * H + j]);
      const T cp = c_prev[r + j];
      const T c = f * cp + i * g;
      const T u = tanh_(c);
      const T h = o * u;
      if constexpr (Save) {
        s[j] = f;
        s[H + j] = o * (T(1) - u * u);
        s[2 * H + j] = g * i * (T(1) - i);
        s[3 * H + j] = cp * f * (T(1) - f);
        s[4 * H + j] = i * (T(1) - g * g);
        s[5 * H + j] = u * o * (T(1) - o);
      }
      if constexpr (Zoneout) {
        h_out[r + j] = h_prev[r + j] + keep_h[r + j] * (h - h_prev[r + j]);
        c_out[r + j] = cp + keep_c[r + j] * (c - cp);
      } else {
        h_out[r + j] = h;
        c_out[r + j] = c;
      }
    }
  });
}

template <typename T, bool Save>
void lstm_step(int64_t B, int64_t H, const T* pre, const T* h_prev, const T* c_prev, const T* keep_h,
               const T* keep_c, T* h_out, T* c_out, T* saved) {
  if (keep_h)
    lstm_step<T, Save, true>(B, H, pre, h_prev, c_prev, keep_h, keep_c, h_out, c_out, saved);
  else
    lstm_step<T, Save, false>(B, H, pre, h_prev, c_prev, keep_h, keep_c, h_out, c_out, saved);
}

// One step back: dpre (B, 4H), dc_{t-1} and the part of dh_{t-1} that does not pass through W (B, H) from the
// total derivatives gh, gc (B, H) by h_t and c_t, the forward's saved (B, 6H), and gh_prev, gc_prev: the loss's
// partial derivatives by h_{t-1} and c_{t-1}.  With zoneout, (1 - keep) of each state's gradient passes straight
// back.
template <typename T, bool Zoneout>
void lstm_step_back(int64_t B, int64_t H, const T* gh, const T* gc, const T* saved, const T* keep_h, const T* keep_c,
                    const T* gh_prev, const T* gc_prev, T* dpre, T* carried_h, T* previous_c) {
  over_rows(B, H, [&](int64_t b) {
    const T* s = saved + b * 6 * H;
    T* d = dpre + b * 4 * H;
    const int64_t r = b * H;
SIMD
    for (int64_t j = 0; j < H; ++j) {
      const T ghn = Zoneout ? gh[r + j] * keep_h[r + j] : gh[r + j];
      const T gcn = Zoneout ? gc[r + j] * keep_c[r + j] : gc[r + j];
      const T dc = gcn + ghn * s[H + j];
      d[j] = s[2 * H + j] * dc;
      d[H + j] = s[3 * H + j] * dc;
      d[2 * H + j] = s[4 * H + j] * dc;
      d[3 * H + j] = s[5 * H + j] * ghn;
      previous_c[r + j] = gc_prev[r + j] + dc * s[j] + (Zoneout ? gc[r + j] * (T(1) - keep_c[r + j]) : T(0));
      carried_h[r + j] = gh_prev[r + j] + (Zoneout ? gh[r + j] * (T(1) - keep_h[r + j]) : T(0));
    }
  });
}

// x (T, B, 4H) projected inputs, h0 and c0 (B, H), weight (4H, H) or its packed form, mask (B, H) or none,
// keep_h and keep_c (T', B, H) or none -> [hs (T, B, H), cs (T, B, H), saved_0, ..., saved_{T-1} (B, 6H)].
std::vector<Tensor> lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& weight,
                                 bool packed, const std::optional<Tensor>& mask,
                                 const std::optional<Tensor>& keep_h, const std::optional<Tensor>& keep_c,
                                 bool keep) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1);
  const StepWeight sw(weight, packed, T * B);
  Tensor hs = at::empty({T, B, H}, h0.options()), cs = at::empty({T, B, H}, c0.options());
  std::vector<Tensor> out{hs, cs};
  for (int64_t t = 0; keep && t < T; ++t) out.push_back(at::empty({B, 6 * H}, x.options()));
  const Tensor h_first = h0.contiguous(), c_first = c0.contiguous(), xc = x.contiguous();
  const Tensor mask_c = mask ? mask->contiguous() : Tensor();
  Tensor pres = at::empty({B, 4 * H}, x.options()), masked = at::empty({B, H}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "lstm_forward", [&] {
    const scalar_t *xp = xc.data_ptr<scalar_t>(), *h0p = h_first.data_ptr<scalar_t>(), *c0p = c_first.data_ptr<scalar_t>();
    const scalar_t* mp = mask ? mask_c.data_ptr<scalar_t>() : nullptr;
    scalar_t *hp = hs.data_ptr<scalar_t>(), *cp = cs.data_ptr<scalar_t>(), *pre = pres.data_ptr<scalar_t>();
    scalar_t* masked_p = masked.data_ptr<scalar_t>();
    over_row_blocks(B, sequence_blocks(B, sw), [&](int64_t lo, int64_t hi, int64_t) {
      const int64_t n = hi - lo;
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* h_prev = (t > 0 ? hp + (t - 1) * B * H : h0p) + lo * H;
        const scalar_t* c_prev = (t > 0 ? cp + (t - 1) * B * H : c0p) + lo * H;
        const scalar_t* into_w = h_prev;  // h_{t-1}, times the dropout mask where there is one
        if (mp) {
          scalar_t* m = masked_p + lo * H;
SIMD
          for (int64_t k = 0; k < n * H; ++k) m[k] = h_prev[k] * mp[lo * H + k];
          into_w = m;
        }
        product_rows<scalar_t>(n, into_w, H, sw, xp + (t * B + lo) * 4 * H, 4 * H, pre + lo * 4 * H, 4 * H);
        const scalar_t *kh = keep_at<scalar_t>(keep_h, t), *kc = keep_at<scalar_t>(keep_c, t);
        if (kh) kh += lo * H, kc += lo * H;
        scalar_t *h_t = hp + (t * B + lo) * H, *c_t = cp + (t * B + lo) * H;
        if (keep)
          lstm_step<scalar_t, true>(n, H, pre + lo * 4 * H, h_prev, c_prev, kh, kc, h_t, c_t,
                                    out[2 + t].data_ptr<scalar_t>() + lo * 6 * H);
        else
          lstm_step<scalar_t, false>(n, H, pre + lo * 4 * H, h_prev, c_prev, kh, kc, h_t, c_t, nullptr);
      }
    });
  });
  return out;
}

// grad_hs, grad_cs (T, B, H) the loss's partial derivatives, weight (4H, H) transposed or packed as
// (H, 4H), saved: the forward's -> [dpre (T, B, 4H), dh_0 (B, H), dc_0 (B, H)].
std::vector<Tensor> lstm_backward(const Tensor& grad_hs, const Tensor& grad_cs, const Tensor& weight_t,
                                  bool packed, at::TensorList saved, const std::optional<Tensor>& mask,
                                  const std::optional<Tensor>& keep_h, const std::optional<Tensor>& keep_c) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  const StepWeight sw(weight_t, packed, T * B);
  const Tensor gh_in = grad_hs.contiguous(), gc_in = grad_cs.contiguous();
  const Tensor mask_c = mask ? mask->contiguous() : Tensor();
  Tensor grad_pre = at::empty({T, B, 4 * H}, grad_hs.options());
  // dh_t and dc_t, the total derivatives, in turns: step t reads one of each pair and writes the other
  Tensor grad_h[2] = {gh_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  Tensor grad_c[2] = {gc_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  Tensor zero = at::zeros({B, H}, grad_hs.options()), carried = at::empty({B, H}, grad_hs.options());
  Tensor through_w = at::empty({B, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "lstm_backward", [&] {
    const scalar_t *gh_p = gh_in.data_ptr<scalar_t>(), *gc_p = gc_in.data_ptr<scalar_t>();
    const scalar_t *zero_p = zero.data_ptr<scalar_t>(), *mp = mask ? mask_c.data_ptr<scalar_t>() : nullptr;
    scalar_t *dpre_p = grad_pre.data_ptr<scalar_t>(), *carried_p = carried.data_ptr<scalar_t>();
    scalar_t* through_p = through_w.data_ptr<scalar_t>();
    scalar_t* dh_turns[2] = {grad_h[0].data_ptr<scalar_t>(), grad_h[1].data_ptr<scalar_t>()};
    scalar_t* dc_turns[2] = {grad_c[0].data_ptr<scalar_t>(), grad_c[1].data_ptr<scalar_t>()};
    over_row_blocks(B, sequence_blocks(B, sw), [&](int64_t lo, int64_t hi, int64_t) {
      const int64_t n = hi - lo, r = lo * H;
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t turn = (T - 1 - t) % 2;  // which of each pair holds dh_t, dc_t
        const scalar_t* s = saved[t].data_ptr<scalar_t>() + lo * 6 * H;
        const scalar_t *kh = keep_at<scalar_t>(keep_h, t), *kc = keep_at<scalar_t>(keep_c, t);
        if (kh) kh += r, kc += r;
        const scalar_t* gh_prev = (t > 0 ? gh_p + (t - 1) * B * H : zero_p) + r;
        const scalar_t* gc_prev = (t > 0 ? gc_p + (t - 1) * B * H : zero_p) + r;
        scalar_t *dpre = dpre_p + (t * B + lo) * 4 * H, *ch = carried_p + r, *pc = dc_turns[1 - turn] + r;
        const scalar_t *gh = dh_turns[turn] + r, *gc = dc_turns[turn] + r;
        if (kh)
          lstm_step_back<scalar_t, true>(n, H, gh, gc, s, kh, kc, gh_prev, gc_prev, dpre, ch, pc);
        else
          lstm_step_back<scalar_t, false>(n, H, gh, gc, s, kh, kc, gh_prev, gc_prev, dpre, ch, pc);
        // dh_{t-1} = carried + dpre W (times the dropout mask where h_{t-1} entered W through it)
        scalar_t* dh = dh_turns[1 - turn] + r;
        if (mp) {
          product_rows<scalar_t>(n, dpre, 4 * H, sw, nullptr, 0, through_p + r, H);
SIMD
          for (int64_t k = 0; k < n * H; ++k) dh[k] = ch[k] + through_p[r + k] * mp[r + k];
        } else {
          product_rows<scalar_t>(n, dpre, 4 * H, sw, ch, H, dh, H);
        }
      }
    });
  });
  const int64_t last = T % 2;  // the turn that holds dh_0, dc_0
  return {grad_pre, grad_h[last], grad_c[last]};
}

// ---------------------------------------------------------------------------------------- layer-norm LSTM
// Normalise the n-row v into out: (v - mean) / sqrt(var + eps); returns 1 / sqrt(var + eps), and the mean in *mean.
template <typename T> T normalise(const T* v, T* out, int64_t n, double eps, T* mean_out = nullptr) {
  T mean = 0;
#pragma omp simd reduction(+ : mean)
  for (int64_t j = 0; j < n; ++j) mean += v[j];
  mean /= T(n);
  T var = 0;
#pragma omp simd reduction(+ : var)
  for (int64_t j = 0; j < n; ++j) var += (v[j] - mean) * (v[j] - mean);
  const T rstd = T(1) / std::sqrt(var / T(n) + T(eps));
SIMD
  for (int64_t j = 0; j < n; ++j) out[j] = (v[j] - mean) * rstd;
  if (mean_out) *mean_out = mean;
  return rstd;
}

// d v from d v_hat through the normalisation of one n-row: rstd (dv_hat - mean(dv_hat) - v_hat mean(dv_hat v_hat)).
template <typename T> void normalise_backward(const T* v_hat, T* dv_hat, int64_t n, T rstd) {
  T sum = 0, dot = 0;
#pragma omp simd reduction(+ : sum, dot)
  for (int64_t j = 0; j < n; ++j) {
    sum += dv_hat[j];
    dot += dv_hat[j] * v_hat[j];
  }
  sum /= T(n);
  dot /= T(n);
SIMD
  for (int64_t j = 0; j < n; ++j) dv_hat[j] = rstd * (dv_hat[j] - sum - v_hat[j] * dot);
}

// Saved per step and row (B rows of 8H + 16, rows 64-byte aligned): [i, f, g, o (4H), r_hat (4H), rstd_r, mean_c,
// rstd_c, mean_x, rstd_x, unused to the row's end]; the backward pass recomputes c_hat from c_t, u = tanh(gamma_c
// c_hat + beta_c) and x_hat from the raw input, reading less than it would recompute.
constexpr int64_t kLnSaved = 8;

// x (T, B, 4H): W_ih x, not yet normalised; h0, c0 (B, H); weight (4H, H) or packed; gamma_ih, gamma_hh (4H);
// bias (4H): b + beta_ih + beta_hh; gamma_c, beta_c (H) -> [hs, cs (T, B, H), saved_0, ..., saved_{T-1} (B, 8H + 16)],
// pre_t = gamma_ih x_hat_t + gamma_hh r_hat_t + bias with r_t = h_{t-1} W^T.
std::vector<Tensor> ln_lstm_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& weight,
                                    bool packed, const Tensor& gamma_ih, const Tensor& gamma_hh, const Tensor& bias,
                                    const Tensor& gamma_c, const Tensor& beta_c, double eps_ih, double eps_hh,
                                    double eps_c, bool keep) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1), W = kLnSaved * H + 16;
  const StepWeight sw(weight, packed, T * B);
  Tensor hs = at::empty({T, B, H}, h0.options()), cs = at::empty({T, B, H}, c0.options());
  std::vector<Tensor> out{hs, cs};
  for (int64_t t = 0; keep && t < T; ++t) out.push_back(at::empty({B, W}, x.options()));
  const Tensor h_first = h0.contiguous(), c_first = c0.contiguous(), xc = x.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ln_lstm_forward", [&] {
    const scalar_t *gi = gamma_ih.data_ptr<scalar_t>(), *gh = gamma_hh.data_ptr<scalar_t>();
    const scalar_t *bias_p = bias.data_ptr<scalar_t>();
    const scalar_t *gc = gamma_c.data_ptr<scalar_t>(), *bc = beta_c.data_ptr<scalar_t>();
    Tensor scratch = at::empty({B, W}, x.options()), rows = at::empty({B, 4 * H}, x.options()),
           recs = at::empty({B, 4 * H}, x.options());
    scalar_t *row_p = rows.data_ptr<scalar_t>(), *r = recs.data_ptr<scalar_t>();
    const scalar_t *xp = xc.data_ptr<scalar_t>(), *h0p = h_first.data_ptr<scalar_t>(), *c0p = c_first.data_ptr<scalar_t>();
    scalar_t *hp = hs.data_ptr<scalar_t>(), *cp_all = cs.data_ptr<scalar_t>();
    over_row_blocks(B, sequence_blocks(B, sw), [&](int64_t lo, int64_t hi, int64_t) {
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* h_prev = t > 0 ? hp + (t - 1) * B * H : h0p;
        const scalar_t* cp = t > 0 ? cp_all + (t - 1) * B * H : c0p;
        product_rows<scalar_t>(hi - lo, h_prev + lo * H, H, sw, nullptr, 0, r + lo * 4 * H, 4 * H);  // h W^T
        const scalar_t* xt = xp + t * B * 4 * H;
        scalar_t *ho = hp + t * B * H, *co = cp_all + t * B * H;
        scalar_t* sv = (keep ? out[2 + t] : scratch).data_ptr<scalar_t>();
        over_rows_of(lo, hi, H, [&](int64_t b) {
          scalar_t* s = sv + b * W;
          scalar_t *gates = s, *r_hat = s + 4 * H, *x_hat = row_p + b * 4 * H, *cb = co + b * H;
          scalar_t mean_x;
          const scalar_t rstd_r = normalise(r + b * 4 * H, r_hat, 4 * H, eps_hh);
          const scalar_t rstd_x = normalise(xt + b * 4 * H, x_hat, 4 * H, eps_ih, &mean_x);
SIMD
          for (int64_t j = 0; j < 4 * H; ++j) {
            const scalar_t k = (j >= 2 * H && j < 3 * H) ? scalar_t(2) : scalar_t(1);  // tanh(a) = 2 sigmoid(2a) - 1
            gates[j] = k * sigmoid(k * (gi[j] * x_hat[j] + gh[j] * r_hat[j] + bias_p[j])) - (k - scalar_t(1));
          }
SIMD
          for (int64_t j = 0; j < H; ++j) cb[j] = gates[H + j] * cp[b * H + j] + gates[j] * gates[2 * H + j];
          scalar_t mean_c;
          scalar_t* c_hat = x_hat;  // x_hat is spent
          const scalar_t rstd_c = normalise(cb, c_hat, H, eps_c, &mean_c);
SIMD
          for (int64_t j = 0; j < H; ++j) ho[b * H + j] = gates[3 * H + j] * tanh_(gc[j] * c_hat[j] + bc[j]);
          s[kLnSaved * H] = rstd_r;
          s[kLnSaved * H + 1] = mean_c;
          s[kLnSaved * H + 2] = rstd_c;
          s[kLnSaved * H + 3] = mean_x;
          s[kLnSaved * H + 4] = rstd_x;
        });
      }
    });
  });
  return out;
}

// grad_hs, grad_cs (T, B, H); cs (T, B, H), c0 (B, H) and x (T, B, 4H), the raw input, from the forward;
// weight_t (H, 4H) or packed; gamma_ih, gamma_hh (4H), gamma_c and beta_c (H); grad_r (T, B, 4H), a buffer
// written with dr, the gradient of h_{t-1} W^T (the caller's, reused from call to call: a fresh buffer this large
// faults in fresh pages) -> [dx (T, B, 4H), dh_0, dc_0 (B, H), dgamma_ih, dgamma_hh, dbias (4H), dgamma_c,
// dbeta_c (H)].
std::vector<Tensor> ln_lstm_backward(const Tensor& grad_hs, const Tensor& grad_cs, const Tensor& cs, const Tensor& c0,
                                     const Tensor& x, const Tensor& weight_t, bool packed, at::TensorList saved,
                                     const Tensor& gamma_ih, const Tensor& gamma_hh, const Tensor& gamma_c,
                                     const Tensor& beta_c, const Tensor& grad_r) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2), W = kLnSaved * H + 16;
  const StepWeight sw(weight_t, packed, T * B);
  const Tensor gh_in = grad_hs.contiguous(), gc_in = grad_cs.contiguous(), csc = cs.contiguous(), c0c = c0.contiguous();
  const Tensor xc = x.contiguous();
  Tensor grad_x = at::empty({T, B, 4 * H}, grad_hs.options());
  // dh_t and dc_t, the total derivatives, in turns: step t reads one of each pair and writes the other
  Tensor grad_h[2] = {gh_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  Tensor grad_c[2] = {gc_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  // the affine parameters' gradients, summed per share of the rows (a block of a sequence is one share), the shares
  // summed once at the end
  const int64_t blocks = sequence_blocks(B, sw), shares = gradient_shares(B, H, blocks);
  Tensor dgi = at::zeros({shares, 4 * H}, grad_hs.options()), dgh = at::zeros({shares, 4 * H}, grad_hs.options());
  Tensor dbias = at::zeros({shares, 4 * H}, grad_hs.options());
  Tensor dgc = at::zeros({shares, H}, grad_hs.options()), dbc = at::zeros({shares, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "ln_lstm_backward", [&] {
    const scalar_t *gam_i = gamma_ih.data_ptr<scalar_t>(), *gam_h = gamma_hh.data_ptr<scalar_t>();
    const scalar_t *gam_c = gamma_c.data_ptr<scalar_t>(), *bet_c = beta_c.data_ptr<scalar_t>();
    // per row: dn, then dc from h_t; c_hat and u recomputed from c_t; dpre
    Tensor dn_rows = at::empty({B, H}, grad_hs.options()), c_hats = at::empty({B, H}, grad_hs.options()),
           us = at::empty({B, H}, grad_hs.options()), dpres = at::empty({B, 4 * H}, grad_hs.options());
    scalar_t *c_hat_p = c_hats.data_ptr<scalar_t>(), *u_p = us.data_ptr<scalar_t>();
    scalar_t* dpre_p = dpres.data_ptr<scalar_t>();
    scalar_t *dgc_p = dgc.data_ptr<scalar_t>(), *dbc_p = dbc.data_ptr<scalar_t>(), *dn_p = dn_rows.data_ptr<scalar_t>();
    scalar_t *dgi_p = dgi.data_ptr<scalar_t>(), *dgh_p = dgh.data_ptr<scalar_t>(), *db_p = dbias.data_ptr<scalar_t>();
    const scalar_t *gh_p = gh_in.data_ptr<scalar_t>(), *gc_p = gc_in.data_ptr<scalar_t>();
    const scalar_t *cs_p = csc.data_ptr<scalar_t>(), *c0_p = c0c.data_ptr<scalar_t>(), *x_p = xc.data_ptr<scalar_t>();
    scalar_t *dx_p = grad_x.data_ptr<scalar_t>(), *dr_p = grad_r.data_ptr<scalar_t>();
    scalar_t* dh_turns[2] = {grad_h[0].data_ptr<scalar_t>(), grad_h[1].data_ptr<scalar_t>()};
    scalar_t* dc_turns[2] = {grad_c[0].data_ptr<scalar_t>(), grad_c[1].data_ptr<scalar_t>()};
    over_row_blocks(B, blocks, [&](int64_t lo, int64_t hi, int64_t block) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t turn = (T - 1 - t) % 2;  // which of each pair holds dh_t, dc_t
        const scalar_t* cp = t > 0 ? cs_p + (t - 1) * B * H : c0_p;
        const scalar_t *cc = cs_p + t * B * H, *xt = x_p + t * B * 4 * H;
        const scalar_t *gh = dh_turns[turn], *gc = dc_turns[turn];
        const scalar_t* gc_prev = t > 0 ? gc_p + (t - 1) * B * H : nullptr;
        scalar_t* pc = dc_turns[1 - turn];
        scalar_t *dx = dx_p + t * B * 4 * H, *dr = dr_p + t * B * 4 * H;
        const scalar_t* sv = saved[t].data_ptr<scalar_t>();
        const auto row = [&](int64_t b, int64_t share) {
          const scalar_t* s = sv + b * W;
          const scalar_t *i = s, *f = s + H, *g = s + 2 * H, *o = s + 3 * H, *r_hat = s + 4 * H;
          const scalar_t rstd_r = s[kLnSaved * H], mean_c = s[kLnSaved * H + 1], rstd_c = s[kLnSaved * H + 2];
          const scalar_t mean_x = s[kLnSaved * H + 3], rstd_x = s[kLnSaved * H + 4];
          const int64_t r = b * H;
          const scalar_t* c = cc + r;
          scalar_t *c_hat = c_hat_p + r, *u = u_p + r;
SIMD
          for (int64_t j = 0; j < H; ++j) {
            c_hat[j] = (c[j] - mean_c) * rstd_c;
            u[j] = tanh_(gam_c[j] * c_hat[j] + bet_c[j]);
          }
          scalar_t *dpre = dpre_p + b * 4 * H, *dxb = dx + b * 4 * H, *drb = dr + b * 4 * H;
          scalar_t *dgcb = dgc_p + share * H, *dbcb = dbc_p + share * H;
          // h = o tanh(n), n = gamma_c c_hat + beta_c: dn, then dc_hat = dn gamma_c into dn
          scalar_t* dn = dn_p + r;
SIMD
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t d = gh[r + j] * o[j] * (scalar_t(1) - u[j] * u[j]);
            dgcb[j] += d * c_hat[j];
            dbcb[j] += d;
            dn[j] = d * gam_c[j];
          }
          normalise_backward(c_hat, dn, H, rstd_c);  // dn now holds dc from h_t
SIMD
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t dc = gc[r + j] + dn[j];
            dpre[j] = dc * g[j] * i[j] * (scalar_t(1) - i[j]);
            dpre[H + j] = dc * cp[r + j] * f[j] * (scalar_t(1) - f[j]);
            dpre[2 * H + j] = dc * i[j] * (scalar_t(1) - g[j] * g[j]);
            dpre[3 * H + j] = gh[r + j] * u[j] * o[j] * (scalar_t(1) - o[j]);
            pc[r + j] = (gc_prev ? gc_prev[r + j] : scalar_t(0)) + dc * f[j];
          }
          // dr = LN_hh'(dpre) and dx = LN_ih'(dpre): their sums ride along with the affine parameters' gradients,
          // then one pass writes both
          const scalar_t* xb = xt + b * 4 * H;
          scalar_t *dgib = dgi_p + share * 4 * H, *dghb = dgh_p + share * 4 * H, *dbb = db_p + share * 4 * H;
          scalar_t sum_r = 0, dot_r = 0, sum_x = 0, dot_x = 0;
          _Pragma("omp simd reduction(+ : sum_r, dot_r, sum_x, dot_x)")
          for (int64_t j = 0; j < 4 * H; ++j) {
            const scalar_t d = dpre[j], x_hat = (xb[j] - mean_x) * rstd_x;
            dgib[j] += d * x_hat;
            dghb[j] += d * r_hat[j];
            dbb[j] += d;
            const scalar_t e_r = d * gam_h[j], e_x = d * gam_i[j];
            sum_r += e_r;
            dot_r += e_r * r_hat[j];
            sum_x += e_x;
            dot_x += e_x * x_hat;
          }
          const scalar_t n = scalar_t(4 * H);
          sum_r /= n;
          dot_r /= n;
          sum_x /= n;
          dot_x /= n;
SIMD
          for (int64_t j = 0; j < 4 * H; ++j) {
            const scalar_t d = dpre[j], x_hat = (xb[j] - mean_x) * rstd_x;
            drb[j] = rstd_r * (d * gam_h[j] - sum_r - r_hat[j] * dot_r);
            dxb[j] = rstd_x * (d * gam_i[j] - sum_x - x_hat * dot_x);
          }
        };
        over_block_rows(lo, hi, block, blocks, shares, row);
        // dh_{t-1} = dL/dh_{t-1} + dr W
        const scalar_t* partial = t > 0 ? gh_p + (t - 1) * B * H + lo * H : nullptr;
        product_rows<scalar_t>(hi - lo, dr + lo * 4 * H, 4 * H, sw, partial, H, dh_turns[1 - turn] + lo * H, H);
      }
    });
  });
  const int64_t last = T % 2;  // the turn that holds dh_0, dc_0
  return {grad_x, grad_h[last], grad_c[last], dgi.sum(0), dgh.sum(0), dbias.sum(0), dgc.sum(0), dbc.sum(0)};
}

// ---------------------------------------------------------------------------------------------- peephole LSTM
// x (T, B, 4H): W_ih x_t + both biases; h0, c0 (B, H); weight (4H, H) or packed; w_ci, w_cf, w_co (H) the
// peepholes -> [hs, cs (T, B, H), saved_0, ..., saved_{T-1} (B, 5H): i, f, g, o, u = tanh(c_t)], with pre = x_t +
// h_{t-1} W^T: i = sigmoid(pre_i + w_ci c_{t-1}), f = sigmoid(pre_f + w_cf c_{t-1}), g = tanh(pre_g),
// c_t = f c_{t-1} + i g, o = sigmoid(pre_o + w_co c_t), h_t = o tanh(c_t).
std::vector<Tensor> peephole_forward(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& weight,
                                     bool packed, const Tensor& w_ci, const Tensor& w_cf, const Tensor& w_co,
                                     bool keep) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1);
  const StepWeight sw(weight, packed, T * B);
  Tensor hs = at::empty({T, B, H}, h0.options()), cs = at::empty({T, B, H}, c0.options());
  std::vector<Tensor> out{hs, cs};
  for (int64_t t = 0; keep && t < T; ++t) out.push_back(at::empty({B, 5 * H}, x.options()));
  const Tensor h_first = h0.contiguous(), c_first = c0.contiguous(), xc = x.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "peephole_forward", [&] {
    const scalar_t *pi = w_ci.data_ptr<scalar_t>(), *pf = w_cf.data_ptr<scalar_t>(), *po = w_co.data_ptr<scalar_t>();
    Tensor scratch = at::empty({B, 5 * H}, x.options()), pres = at::empty({B, 4 * H}, x.options());
    const scalar_t *xp = xc.data_ptr<scalar_t>(), *h0p = h_first.data_ptr<scalar_t>(), *c0p = c_first.data_ptr<scalar_t>();
    scalar_t *hp = hs.data_ptr<scalar_t>(), *cp_all = cs.data_ptr<scalar_t>(), *a = pres.data_ptr<scalar_t>();
    over_row_blocks(B, sequence_blocks(B, sw), [&](int64_t lo, int64_t hi, int64_t) {
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* h_prev = t > 0 ? hp + (t - 1) * B * H : h0p;
        const scalar_t* cp = t > 0 ? cp_all + (t - 1) * B * H : c0p;
        product_rows<scalar_t>(hi - lo, h_prev + lo * H, H, sw, xp + (t * B + lo) * 4 * H, 4 * H, a + lo * 4 * H,
                               4 * H);
        scalar_t *ho = hp + t * B * H, *co = cp_all + t * B * H;
        scalar_t* sv = (keep ? out[2 + t] : scratch).data_ptr<scalar_t>();
        over_rows_of(lo, hi, H, [&](int64_t b) {
          const scalar_t* ab = a + b * 4 * H;
          scalar_t* s = sv + b * 5 * H;
          const int64_t r = b * H;
SIMD
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t i = sigmoid(ab[j] + pi[j] * cp[r + j]), f = sigmoid(ab[H + j] + pf[j] * cp[r + j]);
            const scalar_t g = tanh_(ab[2 * H + j]);
            const scalar_t cn = f * cp[r + j] + i * g;
            const scalar_t o = sigmoid(ab[3 * H + j] + po[j] * cn), u = tanh_(cn);
            s[j] = i;
            s[H + j] = f;
            s[2 * H + j] = g;
            s[3 * H + j] = o;
            s[4 * H + j] = u;
            co[r + j] = cn;
            ho[r + j] = o * u;
          }
        });
      }
    });
  });
  return out;
}

// grad_hs, grad_cs (T, B, H) the loss's partial derivatives; cs, c0 from the forward; weight_t (H, 4H) or packed;
// saved: the forward's; w_ci, w_cf, w_co (H) -> [dpre (T, B, 4H), dh_0, dc_0 (B, H), dw_ci, dw_cf, dw_co (H)]:
// with dh_t, dc_t the total derivatives, dpre_o = dh_t u o (1 - o), dc = dc_t + dh_t o (1 - u^2) + dpre_o w_co,
// dpre_i = dc g i (1 - i), dpre_f = dc c_{t-1} f (1 - f), dpre_g = dc i (1 - g^2),
// dc_{t-1} = dL/dc_{t-1} + dc f + dpre_i w_ci + dpre_f w_cf, dh_{t-1} = dL/dh_{t-1} + dpre W.
std::vector<Tensor> peephole_backward(const Tensor& grad_hs, const Tensor& grad_cs, const Tensor& cs, const Tensor& c0,
                                      const Tensor& weight_t, bool packed, at::TensorList saved, const Tensor& w_ci,
                                      const Tensor& w_cf, const Tensor& w_co) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  const StepWeight sw(weight_t, packed, T * B);
  const Tensor gh_in = grad_hs.contiguous(), gc_in = grad_cs.contiguous(), csc = cs.contiguous(), c0c = c0.contiguous();
  Tensor grad_pre = at::empty({T, B, 4 * H}, grad_hs.options());
  // dh_t and dc_t, the total derivatives, in turns: step t reads one of each pair and writes the other
  Tensor grad_h[2] = {gh_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  Tensor grad_c[2] = {gc_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  // the peepholes' gradients, summed per share of the rows (a block of a sequence is one share)
  const int64_t blocks = sequence_blocks(B, sw), shares = gradient_shares(B, H, blocks);
  Tensor dci = at::zeros({shares, H}, grad_hs.options()), dcf = at::zeros({shares, H}, grad_hs.options()),
         dco = at::zeros({shares, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "peephole_backward", [&] {
    const scalar_t *pi = w_ci.data_ptr<scalar_t>(), *pf = w_cf.data_ptr<scalar_t>(), *po = w_co.data_ptr<scalar_t>();
    scalar_t *dci_p = dci.data_ptr<scalar_t>(), *dcf_p = dcf.data_ptr<scalar_t>(), *dco_p = dco.data_ptr<scalar_t>();
    const scalar_t *gh_p = gh_in.data_ptr<scalar_t>(), *gc_p = gc_in.data_ptr<scalar_t>();
    const scalar_t *cs_p = csc.data_ptr<scalar_t>(), *c0_p = c0c.data_ptr<scalar_t>();
    scalar_t* dpre_p = grad_pre.data_ptr<scalar_t>();
    scalar_t* dh_turns[2] = {grad_h[0].data_ptr<scalar_t>(), grad_h[1].data_ptr<scalar_t>()};
    scalar_t* dc_turns[2] = {grad_c[0].data_ptr<scalar_t>(), grad_c[1].data_ptr<scalar_t>()};
    over_row_blocks(B, blocks, [&](int64_t lo, int64_t hi, int64_t block) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t turn = (T - 1 - t) % 2;  // which of each pair holds dh_t, dc_t
        const scalar_t* cp = t > 0 ? cs_p + (t - 1) * B * H : c0_p;
        const scalar_t *cn = cs_p + t * B * H, *sv = saved[t].data_ptr<scalar_t>();
        const scalar_t *gh = dh_turns[turn], *gc = dc_turns[turn];
        const scalar_t* gc_prev = t > 0 ? gc_p + (t - 1) * B * H : nullptr;
        scalar_t *pc = dc_turns[1 - turn], *dpre = dpre_p + t * B * 4 * H;
        const auto row = [&](int64_t b, int64_t share) {
          const scalar_t *s = sv + b * 5 * H, *i = s, *f = s + H, *g = s + 2 * H, *o = s + 3 * H, *u = s + 4 * H;
          scalar_t* d = dpre + b * 4 * H;
          scalar_t *gci = dci_p + share * H, *gcf = dcf_p + share * H, *gco = dco_p + share * H;
          const int64_t r = b * H;
SIMD
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t d_o = gh[r + j] * u[j] * o[j] * (scalar_t(1) - o[j]);
            const scalar_t dc = gc[r + j] + gh[r + j] * o[j] * (scalar_t(1) - u[j] * u[j]) + d_o * po[j];
            const scalar_t d_i = dc * g[j] * i[j] * (scalar_t(1) - i[j]);
            const scalar_t d_f = dc * cp[r + j] * f[j] * (scalar_t(1) - f[j]);
            d[j] = d_i;
            d[H + j] = d_f;
            d[2 * H + j] = dc * i[j] * (scalar_t(1) - g[j] * g[j]);
            d[3 * H + j] = d_o;
            pc[r + j] = (gc_prev ? gc_prev[r + j] : scalar_t(0)) + dc * f[j] + d_i * pi[j] + d_f * pf[j];
            gci[j] += d_i * cp[r + j];
            gcf[j] += d_f * cp[r + j];
            gco[j] += d_o * cn[r + j];
          }
        };
        over_block_rows(lo, hi, block, blocks, shares, row);
        // dh_{t-1} = dL/dh_{t-1} + dpre W
        const scalar_t* partial = t > 0 ? gh_p + (t - 1) * B * H + lo * H : nullptr;
        product_rows<scalar_t>(hi - lo, dpre + lo * 4 * H, 4 * H, sw, partial, H, dh_turns[1 - turn] + lo * H, H);
      }
    });
  });
  const int64_t last = T % 2;  // the turn that holds dh_0, dc_0
  return {grad_pre, grad_h[last], grad_c[last], dci.sum(0), dcf.sum(0), dco.sum(0)};
}

// ----------------------------------------------------------------------------------------- layer-norm GRU
// Saved per step and row (B rows of 7H + 16): [r, z, n, u_n (H each), q_hat (3H): the normalised recurrent product,
// its 1 / sqrt(var + eps), unused to the row's end].
constexpr int64_t kLnGruSaved = 7;

// x (T, B, 3H): LN_ih(W_ih x_t) + b; h0 (B, H); weight (3H, H) or packed; gamma, beta (3H): LN_hh's ->
// [hs (T, B, H), saved_0, ..., saved_{T-1} (B, 7H + 16)], with u = gamma q_hat + beta, q = h_{t-1} W^T:
// r = sigmoid(x_r + u_r), z = sigmoid(x_z + u_z), n = tanh(x_n + r u_n), h_t = (1 - z) n + z h_{t-1}.
std::vector<Tensor> ln_gru_forward(const Tensor& x, const Tensor& h0, const Tensor& weight, bool packed,
                                   const Tensor& gamma, const Tensor& beta, double eps, bool keep) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1), W = kLnGruSaved * H + 16;
  const StepWeight sw(weight, packed, T * B);
  Tensor hs = at::empty({T, B, H}, h0.options());
  std::vector<Tensor> out{hs};
  for (int64_t t = 0; keep && t < T; ++t) out.push_back(at::empty({B, W}, x.options()));
  const Tensor h_first = h0.contiguous(), xc = x.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "ln_gru_forward", [&] {
    const scalar_t *gm = gamma.data_ptr<scalar_t>(), *bt = beta.data_ptr<scalar_t>();
    Tensor scratch = at::empty({B, W}, x.options()), recs = at::empty({B, 3 * H}, x.options());
    const scalar_t *xp = xc.data_ptr<scalar_t>(), *h0p = h_first.data_ptr<scalar_t>();
    scalar_t *hs_p = hs.data_ptr<scalar_t>(), *q = recs.data_ptr<scalar_t>();
    over_row_blocks(B, sequence_blocks(B, sw), [&](int64_t lo, int64_t hi, int64_t) {
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* hp = t > 0 ? hs_p + (t - 1) * B * H : h0p;
        product_rows<scalar_t>(hi - lo, hp + lo * H, H, sw, nullptr, 0, q + lo * 3 * H, 3 * H);  // h W^T
        const scalar_t* xt = xp + t * B * 3 * H;
        scalar_t *ho = hs_p + t * B * H, *sv = (keep ? out[1 + t] : scratch).data_ptr<scalar_t>();
        over_rows_of(lo, hi, H, [&](int64_t b) {
          scalar_t* s = sv + b * W;
          scalar_t *q_hat = s + 4 * H;
          const scalar_t* a = xt + b * 3 * H;
          s[kLnGruSaved * H] = normalise(q + b * 3 * H, q_hat, 3 * H, eps);
          const int64_t row = b * H;
SIMD
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t r = sigmoid(a[j] + gm[j] * q_hat[j] + bt[j]);
            const scalar_t z = sigmoid(a[H + j] + gm[H + j] * q_hat[H + j] + bt[H + j]);
            const scalar_t u_n = gm[2 * H + j] * q_hat[2 * H + j] + bt[2 * H + j];
            const scalar_t n = tanh_(a[2 * H + j] + r * u_n);
            s[j] = r;
            s[H + j] = z;
            s[2 * H + j] = n;
            s[3 * H + j] = u_n;
            ho[row + j] = n + z * (hp[row + j] - n);
          }
        });
      }
    });
  });
  return out;
}

// grad_hs (T, B, H) the loss's partial derivatives; hs, h0 from the forward; weight_t (H, 3H) or packed; saved;
// gamma (3H); grad_q (T, B, 3H), a buffer written with dq, the gradient of h_{t-1} W^T (the caller's, reused) ->
// [dx (T, B, 3H), dh_0 (B, H), dgamma, dbeta (3H)]: with dh the total derivative, dn = dh (1 - z), dz = dh (h_{t-1}
// - n), da_n = dn (1 - n^2), da_r = da_n u_n r (1 - r), da_z = dz z (1 - z); dx = [da_r, da_z, da_n], du = [da_r,
// da_z, da_n r], dq = LN'(du), dh_{t-1} = dL/dh_{t-1} + dh z + dq W.
std::vector<Tensor> ln_gru_backward(const Tensor& grad_hs, const Tensor& hs, const Tensor& h0, const Tensor& weight_t,
                                    bool packed, at::TensorList saved, const Tensor& gamma, const Tensor& grad_q) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2), W = kLnGruSaved * H + 16;
  const StepWeight sw(weight_t, packed, T * B);
  const Tensor gh_in = grad_hs.contiguous(), hsc = hs.contiguous(), h0c = h0.contiguous();
  Tensor grad_x = at::empty({T, B, 3 * H}, grad_hs.options());
  // dh_t, the total derivative, in turns: step t reads one and writes the other
  Tensor grad_h[2] = {gh_in[T - 1].clone(), at::empty({B, H}, grad_hs.options())};
  Tensor carried = at::empty({B, H}, grad_hs.options());  // dh z + the loss's partial by h_{t-1}
  // LN_hh's affine gradients, summed per share of the rows (a block of a sequence is one share)
  const int64_t blocks = sequence_blocks(B, sw), shares = gradient_shares(B, H, blocks);
  Tensor dgamma = at::zeros({shares, 3 * H}, grad_hs.options()), dbeta = at::zeros({shares, 3 * H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "ln_gru_backward", [&] {
    const scalar_t* gm = gamma.data_ptr<scalar_t>();
    scalar_t *dg_p = dgamma.data_ptr<scalar_t>(), *db_p = dbeta.data_ptr<scalar_t>();
    const scalar_t *gh_p = gh_in.data_ptr<scalar_t>(), *hs_p = hsc.data_ptr<scalar_t>(), *h0_p = h0c.data_ptr<scalar_t>();
    scalar_t *dx_p = grad_x.data_ptr<scalar_t>(), *dq_p = grad_q.data_ptr<scalar_t>(), *cr = carried.data_ptr<scalar_t>();
    scalar_t* dh_turns[2] = {grad_h[0].data_ptr<scalar_t>(), grad_h[1].data_ptr<scalar_t>()};
    over_row_blocks(B, blocks, [&](int64_t lo, int64_t hi, int64_t block) {
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t turn = (T - 1 - t) % 2;  // which of the pair holds dh_t
        const scalar_t* hp = t > 0 ? hs_p + (t - 1) * B * H : h0_p;
        const scalar_t *gh = dh_turns[turn], *sv = saved[t].data_ptr<scalar_t>();
        const scalar_t* pp = t > 0 ? gh_p + (t - 1) * B * H : nullptr;
        scalar_t *dx = dx_p + t * B * 3 * H, *dq = dq_p + t * B * 3 * H;
        const auto row_of = [&](int64_t b, int64_t share) {
          const scalar_t *s = sv + b * W, *r = s, *z = s + H, *n = s + 2 * H, *u_n = s + 3 * H, *q_hat = s + 4 * H;
          const scalar_t rstd = s[kLnGruSaved * H];
          scalar_t *d = dx + b * 3 * H, *e = dq + b * 3 * H;  // e: du, then dq in place
          scalar_t *dgb = dg_p + share * 3 * H, *dbb = db_p + share * 3 * H;
          const int64_t row = b * H;
SIMD
          for (int64_t j = 0; j < H; ++j) {
            const scalar_t dh = gh[row + j];
            const scalar_t da_n = dh * (scalar_t(1) - z[j]) * (scalar_t(1) - n[j] * n[j]);
            const scalar_t da_r = da_n * u_n[j] * r[j] * (scalar_t(1) - r[j]);
            const scalar_t da_z = dh * (hp[row + j] - n[j]) * z[j] * (scalar_t(1) - z[j]);
            d[j] = da_r;
            d[H + j] = da_z;
            d[2 * H + j] = da_n;
            e[j] = da_r;
            e[H + j] = da_z;
            e[2 * H + j] = da_n * r[j];
            cr[row + j] = (pp ? pp[row + j] : scalar_t(0)) + dh * z[j];
          }
SIMD
          for (int64_t j = 0; j < 3 * H; ++j) {
            dgb[j] += e[j] * q_hat[j];
            dbb[j] += e[j];
            e[j] *= gm[j];
          }
          normalise_backward(q_hat, e, 3 * H, rstd);
        };
        over_block_rows(lo, hi, block, blocks, shares, row_of);
        // dh_{t-1} = carried + dq W
        product_rows<scalar_t>(hi - lo, dq + lo * 3 * H, 3 * H, sw, cr + lo * H, H, dh_turns[1 - turn] + lo * H, H);
      }
    });
  });
  return {grad_x, grad_h[T % 2], dgamma.sum(0), dbeta.sum(0)};
}

// ------------------------------------------------------------------------------------------------------ IndRNN
// x (T, B, H): W x_t + b; h0 (B, H); u (H) -> hs (T, B, H), h_t = relu(x_t + u h_{t-1}).
Tensor indrnn_forward(const Tensor& x, const Tensor& h0, const Tensor& u) {
  const int64_t T = x.size(0), B = x.size(1), H = x.size(2);
  Tensor xc = x.contiguous(), hs = at::empty({T, B, H}, x.options()), h0c = h0.contiguous(), uc = u.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "indrnn_forward", [&] {
    const scalar_t* w = uc.data_ptr<scalar_t>();
    const scalar_t* h = h0c.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      const scalar_t* xt = xc.data_ptr<scalar_t>() + t * B * H;
      scalar_t* out = hs.data_ptr<scalar_t>() + t * B * H;
      over_rows(B, H, [&](int64_t b) {
SIMD
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t a = xt[b * H + j] + w[j] * h[b * H + j];
          out[b * H + j] = a > scalar_t(0) || is_nan(a) ? a : scalar_t(0);
        }
      });
      h = out;
    }
  });
  return hs;
}

// grad_hs (T, B, H) the loss's partial derivatives, hs and h0 from the forward, u (H) -> [dx (T, B, H),
// dh_0 (B, H), du (H)]: back from t, g = dh_t [h_t > 0], dx_t = g, du += g h_{t-1}, dh_{t-1} += g u.
std::vector<Tensor> indrnn_backward(const Tensor& grad_hs, const Tensor& hs, const Tensor& h0, const Tensor& u) {
  const int64_t T = hs.size(0), B = hs.size(1), H = hs.size(2);
  Tensor gin = grad_hs.contiguous(), hsc = hs.contiguous(), h0c = h0.contiguous(), uc = u.contiguous();
  Tensor grad_x = at::empty({T, B, H}, hs.options()), grad_h = gin[T - 1].clone();
  Tensor grad_u = at::zeros({B, H}, hs.options());  // per row, summed once at the end
  Tensor zero = at::zeros({B, H}, hs.options());    // the loss's partial derivative by h_{-1}: none
  AT_DISPATCH_FLOATING_TYPES(hs.scalar_type(), "indrnn_backward", [&] {
    const scalar_t* w = uc.data_ptr<scalar_t>();
    scalar_t *gh = grad_h.data_ptr<scalar_t>(), *gu = grad_u.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const scalar_t* h = hsc.data_ptr<scalar_t>() + t * B * H;
      const scalar_t* h_prev = t > 0 ? h - B * H : h0c.data_ptr<scalar_t>();
      const scalar_t* partial = t > 0 ? gin.data_ptr<scalar_t>() + (t - 1) * B * H : zero.data_ptr<scalar_t>();
      scalar_t* dx = grad_x.data_ptr<scalar_t>() + t * B * H;
      over_rows(B, H, [&](int64_t b) {
        const int64_t r = b * H;
SIMD
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t g = h[r + j] > scalar_t(0) ? gh[r + j] : scalar_t(0);
          dx[r + j] = g;
          gu[r + j] += g * h_prev[r + j];
          gh[r + j] = partial[r + j] + g * w[j];
        }
      });
    }
  });
  return {grad_x, grad_h, grad_u.sum(0)};
}

// ------------------------------------------------------------------------------------------------------- JANET
// x (T, B, 2H): W x_t + b (rows s, then c~); h0 (B, H); weight (2H, H) or packed; beta -> [hs (T, B, H),
// saved_0, ..., saved_{T-1} (B, 3H): f = sigmoid(s), q = 1 - sigmoid(s - beta), g = tanh(c~)];
// h_t = f h_{t-1} + q g.
std::vector<Tensor> janet_forward(const Tensor& x, const Tensor& h0, const Tensor& weight, bool packed, double beta,
                                  bool keep) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1);
  const StepWeight sw(weight, packed, T * B);
  Tensor hs = at::empty({T, B, H}, h0.options());
  std::vector<Tensor> out{hs};
  Tensor h = h0.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "janet_forward", [&] {
    Tensor scratch = at::empty({B, 3 * H}, x.options());
    for (int64_t t = 0; t < T; ++t) {
      Tensor pre = product(h, x[t], sw).contiguous();
      Tensor saved = keep ? at::empty({B, 3 * H}, x.options()) : scratch;
      Tensor h_t = hs[t];
      const scalar_t *a = pre.data_ptr<scalar_t>(), *hp = h.data_ptr<scalar_t>();
      scalar_t *ho = h_t.data_ptr<scalar_t>(), *sv = saved.data_ptr<scalar_t>();
      over_rows(B, H, [&](int64_t b) {
        const scalar_t* ab = a + b * 2 * H;
        scalar_t* sb = sv + b * 3 * H;
SIMD
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t f = sigmoid(ab[j]), q = scalar_t(1) - sigmoid(ab[j] - scalar_t(beta)), g = tanh_(ab[H + j]);
          sb[j] = f;
          sb[H + j] = q;
          sb[2 * H + j] = g;
          ho[b * H + j] = f * hp[b * H + j] + q * g;
        }
      });
      if (keep) out.push_back(saved);
      h = h_t;
    }
  });
  return out;
}

// grad_hs (T, B, H); hs, h0 from the forward; weight_t (H, 2H) or packed; saved -> [dpre (T, B, 2H), dh_0]:
// ds = dh (h_{t-1} f (1 - f) - g q (1 - q)), dc~ = dh q (1 - g^2), dh_{t-1} += dh f + dpre W.
std::vector<Tensor> janet_backward(const Tensor& grad_hs, const Tensor& hs, const Tensor& h0, const Tensor& weight_t,
                                   bool packed, at::TensorList saved) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  const StepWeight sw(weight_t, packed, T * B);
  Tensor gin = grad_hs.contiguous(), hsc = hs.contiguous(), h0c = h0.contiguous();
  Tensor grad_pre = at::empty({T, B, 2 * H}, grad_hs.options()), grad_h = gin[T - 1].clone();
  Tensor zero = at::zeros({B, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "janet_backward", [&] {
    for (int64_t t = T - 1; t >= 0; --t) {
      const scalar_t *sv = saved[t].data_ptr<scalar_t>(), *gh = grad_h.data_ptr<scalar_t>();
      const scalar_t* hp = t > 0 ? hsc.data_ptr<scalar_t>() + (t - 1) * B * H : h0c.data_ptr<scalar_t>();
      const Tensor partial = t > 0 ? gin[t - 1] : zero;
      Tensor carried = at::empty({B, H}, grad_hs.options());  // dh f + the loss's partial by h_{t-1}
      const scalar_t* pp = partial.data_ptr<scalar_t>();
      scalar_t *d = grad_pre.data_ptr<scalar_t>() + t * B * 2 * H, *cr = carried.data_ptr<scalar_t>();
      over_rows(B, H, [&](int64_t b) {
        const scalar_t* sb = sv + b * 3 * H;
        const int64_t r = b * H;
SIMD
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t f = sb[j], q = sb[H + j], g = sb[2 * H + j], dh = gh[r + j];
          d[b * 2 * H + j] = dh * (hp[r + j] * f * (scalar_t(1) - f) - g * q * (scalar_t(1) - q));
          d[b * 2 * H + H + j] = dh * q * (scalar_t(1) - g * g);
          cr[r + j] = pp[r + j] + dh * f;
        }
      });
      grad_h = product(grad_pre[t], carried, sw);
    }
  });
  return {grad_pre, grad_h};
}

// ---------------------------------------------------------------------------------------- orthogonal (modReLU)
// x (T, B, H): W_ih x_t + b_ih; h0 (B, H); weight (H, H) or packed; bias (H) -> [hs, zs (T, B, H)]:
// z_t = x_t + h_{t-1} W^T, h_t = sign(z) relu(|z| + bias).
std::vector<Tensor> modrelu_forward(const Tensor& x, const Tensor& h0, const Tensor& weight, bool packed,
                                    const Tensor& bias) {
  const int64_t T = x.size(0), B = x.size(1), H = h0.size(1);
  const StepWeight sw(weight, packed, T * B);
  Tensor hs = at::empty({T, B, H}, h0.options()), zs = at::empty({T, B, H}, h0.options());
  Tensor h = h0.contiguous(), bc = bias.contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "modrelu_forward", [&] {
    const scalar_t* bb = bc.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      Tensor z = product(h, x[t], sw).contiguous();
      zs[t].copy_(z);
      Tensor h_t = hs[t];
      const scalar_t* zp = z.data_ptr<scalar_t>();
      scalar_t* ho = h_t.data_ptr<scalar_t>();
      over_rows(B, H, [&](int64_t b) {
SIMD
        for (int64_t j = 0; j < H; ++j) {
          const scalar_t v = zp[b * H + j], m = std::abs(v) + bb[j];
          const scalar_t sign = v > scalar_t(0) ? scalar_t(1) : (v < scalar_t(0) ? scalar_t(-1) : scalar_t(0));
          ho[b * H + j] = m > scalar_t(0) || is_nan(m) ? sign * m : scalar_t(0);
        }
      });
      h = h_t;
    }
  });
  return {hs, zs};
}

// grad_hs (T, B, H); zs from the forward; weight_t (H, H) or packed; bias (H) -> [dz (T, B, H), dh_0 (B, H),
// dbias (H)]: with a = [|z| + bias > 0], dz = dh a sign(z)^2, dbias = sum dh a sign(z), dh_{t-1} += dz W.
std::vector<Tensor> modrelu_backward(const Tensor& grad_hs, const Tensor& zs, const Tensor& weight_t, bool packed,
                                     const Tensor& bias) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  const StepWeight sw(weight_t, packed, T * B);
  Tensor gin = grad_hs.contiguous(), zc = zs.contiguous(), bc = bias.contiguous();
  Tensor grad_z = at::empty({T, B, H}, grad_hs.options()), grad_h = gin[T - 1].clone();
  Tensor grad_bias = at::zeros({B, H}, grad_hs.options());  // per row, summed once at the end
  Tensor zero = at::zeros({B, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "modrelu_backward", [&] {
    const scalar_t* bb = bc.data_ptr<scalar_t>();
    scalar_t* gb = grad_bias.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const scalar_t *z = zc.data_ptr<scalar_t>() + t * B * H, *gh = grad_h.data_ptr<scalar_t>();
      scalar_t* dz = grad_z.data_ptr<scalar_t>() + t * B * H;
      over_rows(B, H, [&](int64_t b) {
SIMD
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = b * H + j;
          const scalar_t sign = z[k] > scalar_t(0) ? scalar_t(1) : (z[k] < scalar_t(0) ? scalar_t(-1) : scalar_t(0));
          const scalar_t passed = std::abs(z[k]) + bb[j] > scalar_t(0) ? gh[k] * sign : scalar_t(0);
          dz[k] = passed * sign;
          gb[k] += passed;
        }
      });
      grad_h = product(grad_z[t], t > 0 ? gin[t - 1] : zero, sw);
    }
  });
  return {grad_z, grad_h, grad_bias.sum(0)};
}

// x (B, out) + h (B, in) weight^T, weight (out, in): a step's product as the kernels compute it (for tests).
Tensor step_product(const Tensor& h, const Tensor& x, const Tensor& weight) {
  return product(h, x, StepWeight(weight, false, kPanelRows));
}

}  // namespace

// Registered for every backend: a packed oneDNN weight (MkldnnCPU) arrives beside dense CPU tensors.
TORCH_LIBRARY(rnnlab_kernels, m) {
  m.def("lstm_forward(Tensor x, Tensor h0, Tensor c0, Tensor weight, bool packed, Tensor? mask, Tensor? keep_h, "
        "Tensor? keep_c, bool keep) -> Tensor[]",
        TORCH_FN(lstm_forward));
  m.def("lstm_backward(Tensor grad_hs, Tensor grad_cs, Tensor weight_t, bool packed, Tensor[] saved, Tensor? mask, "
        "Tensor? keep_h, Tensor? keep_c) -> Tensor[]",
        TORCH_FN(lstm_backward));
  m.def("ln_lstm_forward(Tensor x, Tensor h0, Tensor c0, Tensor weight, bool packed, Tensor gamma_ih, "
        "Tensor gamma_hh, Tensor bias, Tensor gamma_c, Tensor beta_c, float eps_ih, float eps_hh, float eps_c, "
        "bool keep) -> Tensor[]",
        TORCH_FN(ln_lstm_forward));
  m.def("ln_lstm_backward(Tensor grad_hs, Tensor grad_cs, Tensor cs, Tensor c0, Tensor x, Tensor weight_t, "
        "bool packed, Tensor[] saved, Tensor gamma_ih, Tensor gamma_hh, Tensor gamma_c, Tensor beta_c, "
        "Tensor(a!) grad_r) -> Tensor[]",
        TORCH_FN(ln_lstm_backward));
  m.def("peephole_forward(Tensor x, Tensor h0, Tensor c0, Tensor weight, bool packed, Tensor w_ci, Tensor w_cf, "
        "Tensor w_co, bool keep) -> Tensor[]",
        TORCH_FN(peephole_forward));
  m.def("peephole_backward(Tensor grad_hs, Tensor grad_cs, Tensor cs, Tensor c0, Tensor weight_t, bool packed, "
        "Tensor[] saved, Tensor w_ci, Tensor w_cf, Tensor w_co) -> Tensor[]",
        TORCH_FN(peephole_backward));
  m.def("ln_gru_forward(Tensor x, Tensor h0, Tensor weight, bool packed, Tensor gamma, Tensor beta, float eps, "
        "bool keep) -> Tensor[]",
        TORCH_FN(ln_gru_forward));
  m.def("ln_gru_backward(Tensor grad_hs, Tensor hs, Tensor h0, Tensor weight_t, bool packed, Tensor[] saved, "
        "Tensor gamma, Tensor(a!) grad_q) -> Tensor[]",
        TORCH_FN(ln_gru_backward));
  m.def("step_product(Tensor h, Tensor x, Tensor weight) -> Tensor", TORCH_FN(step_product));
  m.def("indrnn_forward(Tensor x, Tensor h0, Tensor u) -> Tensor", TORCH_FN(indrnn_forward));
  m.def("indrnn_backward(Tensor grad_hs, Tensor hs, Tensor h0, Tensor u) -> Tensor[]", TORCH_FN(indrnn_backward));
  m.def("janet_forward(Tensor x, Tensor h0, Tensor weight, bool packed, float beta, bool keep) -> Tensor[]",
        TORCH_FN(janet_forward));
  m.def("janet_backward(Tensor grad_hs, Tensor hs, Tensor h0, Tensor weight_t, bool packed, Tensor[] saved) "
        "-> Tensor[]",
        TORCH_FN(janet_backward));
  m.def("modrelu_forward(Tensor x, Tensor h0, Tensor weight, bool packed, Tensor bias) -> Tensor[]",
        TORCH_FN(modrelu_forward));
  m.def("modrelu_backward(Tensor grad_hs, Tensor zs, Tensor weight_t, bool packed, Tensor bias) -> Tensor[]",
        TORCH_FN(modrelu_backward));
}
