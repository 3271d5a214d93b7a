// Reductions over the middle axis of [outer, n, inner], sum of squares, and index kernels.
// Each output element is produced by one thread in a fixed order, so results are identical for
// any thread count.
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels.h"
#include "threadpool.h"

namespace sx {
namespace {

constexpr i64 kInnerBlock = 256;  // columns reduced together when inner > 1

// Sum of a contiguous run in double with four partial sums (breaks the add dependency chain).
template <typename T>
inline double row_sum(const T* x, i64 n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  i64 i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; ++i) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}

// NaN-propagating max/min of a contiguous run; an empty run gives -inf (max) / +inf (min).
template <bool IsMax, typename T>
inline T row_extreme(const T* x, i64 n) {
  T m = IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  bool nan = false;
  for (i64 i = 0; i < n; ++i) {
    const T v = x[i];
    nan |= v != v;
    m = IsMax ? (v > m ? v : m) : (v < m ? v : m);
  }
  return nan ? std::numeric_limits<T>::quiet_NaN() : m;
}

template <typename T>
void reduce_sum(const T* x, i64 outer, i64 n, i64 inner, T* out) {
  if (inner == 1) {
    parallel_for(outer, ceil_div(kRowsWork, n + 1), [&](i64 o0, i64 o1) {
      for (i64 o = o0; o < o1; ++o) out[o] = static_cast<T>(row_sum(x + o * n, n));
    });
    return;
  }
  // Few outer slices (a bias gradient: one) still split over the threads, by narrower column
  // blocks; each column is summed in the same order whatever the block width.
  i64 width = kInnerBlock;
  if (outer * ceil_div(inner, width) < pool_threads()) {
    width = ceil_div(ceil_div(inner, pool_threads()), 16) * 16;
    if (width > kInnerBlock) width = kInnerBlock;
  }
  const i64 blocks = ceil_div(inner, width);
  parallel_for(outer * blocks, ceil_div(kRowsWork, n * width + 1), [&](i64 u0, i64 u1) {
    double acc[kInnerBlock];
    for (i64 u = u0; u < u1; ++u) {
      const i64 o = u / blocks, i0 = (u % blocks) * width;
      const i64 w = inner - i0 < width ? inner - i0 : width;
      for (i64 i = 0; i < w; ++i) acc[i] = 0;
      const T* base = x + o * n * inner + i0;
      for (i64 j = 0; j < n; ++j) {
        const T* r = base + j * inner;
        for (i64 i = 0; i < w; ++i) acc[i] += r[i];
      }
      T* dst = out + o * inner + i0;
      for (i64 i = 0; i < w; ++i) dst[i] = static_cast<T>(acc[i]);
    }
  });
}

template <bool IsMax, typename T>
void reduce_extreme(const T* x, i64 outer, i64 n, i64 inner, T* out) {
  if (inner == 1) {
    parallel_for(outer, ceil_div(kRowsWork, n + 1), [&](i64 o0, i64 o1) {
      for (i64 o = o0; o < o1; ++o) out[o] = row_extreme<IsMax>(x + o * n, n);
    });
    return;
  }
  const T init = IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  const i64 blocks = ceil_div(inner, kInnerBlock);
  parallel_for(outer * blocks, ceil_div(kRowsWork, n * kInnerBlock + 1), [&](i64 u0, i64 u1) {
    for (i64 u = u0; u < u1; ++u) {
      const i64 o = u / blocks, i0 = (u % blocks) * kInnerBlock;
      const i64 w = inner - i0 < kInnerBlock ? inner - i0 : kInnerBlock;
      T* dst = out + o * inner + i0;
      for (i64 i = 0; i < w; ++i) dst[i] = init;
      const T* base = x + o * n * inner + i0;
      // NaN wins: once dst holds NaN, neither comparison replaces it.
      for (i64 j = 0; j < n; ++j) {
        const T* r = base + j * inner;
        for (i64 i = 0; i < w; ++i) {
          const T v = r[i], m = dst[i];
          dst[i] = (v != v || (IsMax ? v > m : v < m)) && m == m ? v : m;
        }
      }
    }
  });
}

}  // namespace

template <typename T>
void reduce(int op, const T* x, i64 outer, i64 n, i64 inner, T* out) {
  if (op == kSum) return reduce_sum(x, outer, n, inner, out);
  if (op == kMax) return reduce_extreme<true>(x, outer, n, inner, out);
  return reduce_extreme<false>(x, outer, n, inner, out);
}

template <typename T>
void arg_reduce(bool isMin, const T* x, i64 outer, i64 n, i64 inner, i32* out) {
  // Ties keep the first index; the first NaN wins and is never displaced.
  const i64 total = outer * inner;
  parallel_for(total, ceil_div(kRowsWork, n + 1), [&](i64 u0, i64 u1) {
    for (i64 u = u0; u < u1; ++u) {
      const i64 o = u / inner, i = u % inner;
      const T* col = x + o * n * inner + i;
      i64 best = 0;
      if (n > 0) {
        T bv = col[0];
        if (bv == bv) {
          for (i64 j = 1; j < n; ++j) {
            const T v = col[j * inner];
            if (v != v) {
              best = j;
              break;
            }
            if (isMin ? v < bv : v > bv) {
              bv = v;
              best = j;
            }
          }
        }
      }
      out[u] = static_cast<i32>(best);
    }
  });
}

template <typename T>
double sum_squares(const T* x, i64 n) {
  // Fixed blocks, combined in order: the same answer for every thread count.
  constexpr i64 kBlock = 1 << 16;
  const i64 blocks = ceil_div(n, kBlock);
  if (blocks <= 1) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    i64 i = 0;
    for (; i + 4 <= n; i += 4) {
      s0 += double(x[i]) * x[i];
      s1 += double(x[i + 1]) * x[i + 1];
      s2 += double(x[i + 2]) * x[i + 2];
      s3 += double(x[i + 3]) * x[i + 3];
    }
    for (; i < n; ++i) s0 += double(x[i]) * x[i];
    return (s0 + s1) + (s2 + s3);
  }
  std::vector<double> part(blocks);
  parallel_for(blocks, 1, [&](i64 b0, i64 b1) {
    for (i64 b = b0; b < b1; ++b) {
      const i64 e = (b + 1) * kBlock < n ? (b + 1) * kBlock : n;
      part[b] = sum_squares(x + b * kBlock, e - b * kBlock);
    }
  });
  double s = 0;
  for (double p : part) s += p;
  return s;
}

template <typename T>
i64 index_select(const T* x, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* out) {
  for (i64 j = 0; j < m; ++j)
    if (index[j] < 0 || index[j] >= n) return j;
  parallel_for(outer * m, ceil_div(kElementwiseGrain, inner), [&](i64 u0, i64 u1) {
    for (i64 u = u0; u < u1; ++u) {
      const i64 o = u / m, j = u % m;
      std::memcpy(out + u * inner, x + (o * n + index[j]) * inner, sizeof(T) * inner);
    }
  });
  return -1;
}

// Work units for the scatter kernels: (outer, column block) pairs. Each unit visits the rows in
// order, so repeated indices accumulate deterministically and no two threads share an output.
template <typename F>
void for_column_units(i64 outer, i64 inner, i64 rowsPerUnit, const F& fn) {
  const i64 colBlock = inner <= 64 ? inner : 64;
  const i64 blocks = ceil_div(inner, colBlock);
  parallel_for(outer * blocks, ceil_div(kElementwiseGrain, rowsPerUnit * colBlock + 1),
               [&](i64 u0, i64 u1) {
                 for (i64 u = u0; u < u1; ++u) {
                   const i64 o = u / blocks, i0 = (u % blocks) * colBlock;
                   const i64 i1 = i0 + colBlock < inner ? i0 + colBlock : inner;
                   fn(o, i0, i1);
                 }
               });
}

template <typename T>
void index_add(const T* dy, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* dx) {
  if (inner <= 0) return;
  for_column_units(outer, inner, m, [&](i64 o, i64 i0, i64 i1) {
    for (i64 j = 0; j < m; ++j) {
      const T* src = dy + (o * m + j) * inner;
      T* dst = dx + (o * n + index[j]) * inner;
      for (i64 i = i0; i < i1; ++i) dst[i] += src[i];
    }
  });
}

template <typename T>
i64 gather(const T* x, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* out) {
  const i64 total = outer * m * inner;
  for (i64 p = 0; p < total; ++p)
    if (index[p] < 0 || index[p] >= n) return p;
  parallel_for(total, kElementwiseGrain, [&](i64 p0, i64 p1) {
    for (i64 p = p0; p < p1; ++p) {
      const i64 i = p % inner, o = p / (m * inner);
      out[p] = x[(o * n + index[p]) * inner + i];
    }
  });
  return -1;
}

template <typename T>
void scatter_add(const T* dy, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* dx) {
  if (inner <= 0) return;
  for_column_units(outer, inner, m, [&](i64 o, i64 i0, i64 i1) {
    for (i64 j = 0; j < m; ++j) {
      const i64 row = (o * m + j) * inner;
      for (i64 i = i0; i < i1; ++i) dx[(o * n + index[row + i]) * inner + i] += dy[row + i];
    }
  });
}

#define SX_FLOAT_INSTANCES(T)                                                     \
  template void reduce<T>(int, const T*, i64, i64, i64, T*);                      \
  template double sum_squares<T>(const T*, i64);                                  \
  template void index_add<T>(const T*, i64, i64, i64, const i32*, i64, T*);       \
  template void scatter_add<T>(const T*, i64, i64, i64, const i32*, i64, T*);
#define SX_ANY_INSTANCES(T)                                                       \
  template void arg_reduce<T>(bool, const T*, i64, i64, i64, i32*);               \
  template i64 index_select<T>(const T*, i64, i64, i64, const i32*, i64, T*);     \
  template i64 gather<T>(const T*, i64, i64, i64, const i32*, i64, T*);

SX_FLOAT_INSTANCES(float)
SX_FLOAT_INSTANCES(double)
SX_ANY_INSTANCES(float)
SX_ANY_INSTANCES(double)
SX_ANY_INSTANCES(i32)

}  // namespace sx
