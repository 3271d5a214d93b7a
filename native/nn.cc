// Row-wise neural-network kernels: layer/RMS norm, LSTM cell, RoPE (softmax and cross-entropy
// are in simd_kernels.inc).
// Row statistics are accumulated in double (as the JS reference does); rows are split across
// threads, and the column sums of the norm backward passes use a fixed row grouping, so results
// never depend on the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "cpu.h"
#include "kernels.h"
#include "threadpool.h"

namespace sx {
namespace {

template <typename F>
void for_rows(i64 rows, i64 cols, const F& fn) {
  parallel_for(rows, ceil_div(kRowsWork, cols + 1), [&](i64 r0, i64 r1) {
    for (i64 r = r0; r < r1; ++r) fn(r);
  });
}

// sum over rows r of f(r, c) for every column c, added into out[c] (out may be null: no-op).
// Rows are cut into a number of groups that depends only on the shape; groups are summed in
// parallel and then combined in order.
template <typename T, typename F>
void column_sums(i64 rows, i64 C, T* out, const F& f) {
  if (!out || rows <= 0 || C <= 0) return;
  i64 groups = rows * C / (1 << 15);
  groups = groups < 1 ? 1 : (groups > 16 ? 16 : groups);
  if (groups > rows) groups = rows;
  std::vector<double> part(groups * C, 0.0);
  parallel_for(groups, 1, [&](i64 g0, i64 g1) {
    for (i64 g = g0; g < g1; ++g) {
      double* acc = part.data() + g * C;
      const i64 r0 = rows * g / groups, r1 = rows * (g + 1) / groups;
      for (i64 r = r0; r < r1; ++r) f(r, acc);
    }
  });
  for (i64 c = 0; c < C; ++c) {
    double s = 0;
    for (i64 g = 0; g < groups; ++g) s += part[g * C + c];
    out[c] = static_cast<T>(out[c] + s);
  }
}

#define SX_KERNELS_FILE "norm_kernels.inc"
#include "per_isa.inc"
#undef SX_KERNELS_FILE

}  // namespace

template <typename T>
void layer_norm(const T* x, const T* gamma, const T* beta, i64 rows, i64 C, double eps, T* y,
                T* mean, T* rstd) {
  SX_DISPATCH(layer_norm_impl<T>(x, gamma, beta, rows, C, eps, y, mean, rstd))
}

template <typename T>
void layer_norm_backward(const T* x, const T* gamma, const T* mean, const T* rstd, const T* dy,
                         i64 rows, i64 C, T* dx, T* dgamma, T* dbeta) {
  SX_DISPATCH(layer_norm_backward_impl<T>(x, gamma, mean, rstd, dy, rows, C, dx, dgamma, dbeta))
}

template <typename T>
void rms_norm(const T* x, const T* gamma, i64 rows, i64 C, double eps, T* y, T* rstd) {
  SX_DISPATCH(rms_norm_impl<T>(x, gamma, rows, C, eps, y, rstd))
}

template <typename T>
void rms_norm_backward(const T* x, const T* gamma, const T* rstd, const T* dy, i64 rows, i64 C,
                       T* dx, T* dgamma) {
  SX_DISPATCH(rms_norm_backward_impl<T>(x, gamma, rstd, dy, rows, C, dx, dgamma))
}

template <typename T>
inline T sigm(T x) {
  // Branch-free (exp(-|x|) cannot overflow) so the gate loops vectorise.
  const T e = exp_t(-std::fabs(x));
  const T inv = T(1) / (T(1) + e);
  return x >= T(0) ? inv : e * inv;
}

template <typename T>
void lstm_cell(const T* gates, const T* cPrev, i64 B, i64 H, T* h, T* c, T* act) {
  for_rows(B, 8 * H, [&](i64 b) {
    const T* g = gates + b * 4 * H;
    T* a = act + b * 4 * H;
    for (i64 j = 0; j < H; ++j) {
      const T ig = sigm(g[j]), fg = sigm(g[H + j]), gg = tanh_t(g[2 * H + j]),
              og = sigm(g[3 * H + j]);
      a[j] = ig;
      a[H + j] = fg;
      a[2 * H + j] = gg;
      a[3 * H + j] = og;
      const T cn = fg * cPrev[b * H + j] + ig * gg;
      c[b * H + j] = cn;
      h[b * H + j] = og * tanh_t(cn);
    }
  });
}

template <typename T>
void lstm_cell_backward(const T* act, const T* cPrev, const T* c, const T* dh, const T* dc, i64 B,
                        i64 H, T* dgates, T* dcPrev) {
  for_rows(B, 8 * H, [&](i64 b) {
    const T* a = act + b * 4 * H;
    T* dg = dgates + b * 4 * H;
    for (i64 j = 0; j < H; ++j) {
      const i64 k = b * H + j;
      const T ig = a[j], fg = a[H + j], gg = a[2 * H + j], og = a[3 * H + j];
      const T tc = tanh_t(c[k]);
      const T dct = dc[k] + dh[k] * og * (T(1) - tc * tc);
      dg[j] = dct * gg * ig * (T(1) - ig);
      dg[H + j] = dct * cPrev[k] * fg * (T(1) - fg);
      dg[2 * H + j] = dct * ig * (T(1) - gg * gg);
      dg[3 * H + j] = dh[k] * tc * og * (T(1) - og);
      dcPrev[k] = dct * fg;
    }
  });
}

template <typename T>
void rope(const T* x, const T* cos, const T* sin, i64 B, i64 H, i64 T_, i64 D, bool perBatch,
          bool inverse, T* out) {
  const i64 half = D / 2;
  for_rows(B * H * T_, D, [&](i64 row) {
    const i64 t = row % T_, b = row / (H * T_);
    const i64 a = ((perBatch ? b * T_ : 0) + t) * half;
    const T* cr = cos + a;
    const T* sr = sin + a;
    const T* xr = x + row * D;
    T* o = out + row * D;  // may alias x: each pair is read before it is written
    for (i64 d = 0; d < half; ++d) {
      const T x1 = xr[d], x2 = xr[d + half];
      const T s = inverse ? -sr[d] : sr[d];
      o[d] = x1 * cr[d] - x2 * s;
      o[d + half] = x2 * cr[d] + x1 * s;
    }
  });
}

#define SX_INSTANCES(T)                                                                        \
  template void layer_norm<T>(const T*, const T*, const T*, i64, i64, double, T*, T*, T*);     \
  template void layer_norm_backward<T>(const T*, const T*, const T*, const T*, const T*, i64,  \
                                       i64, T*, T*, T*);                                       \
  template void rms_norm<T>(const T*, const T*, i64, i64, double, T*, T*);                     \
  template void rms_norm_backward<T>(const T*, const T*, const T*, const T*, i64, i64, T*,     \
                                     T*);                                                      \
  template void lstm_cell<T>(const T*, const T*, i64, i64, T*, T*, T*);                        \
  template void lstm_cell_backward<T>(const T*, const T*, const T*, const T*, const T*, i64,   \
                                      i64, T*, T*);                                            \
  template void rope<T>(const T*, const T*, const T*, i64, i64, i64, i64, bool, bool, T*);

SX_INSTANCES(float)
SX_INSTANCES(double)

}  // namespace sx
