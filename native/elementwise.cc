// Elementwise kernels: fill, copy, binary, affine, compare, where (unary ops are in
// simd_kernels.inc). Each op is a small struct with a static `f`, and loops are templated on it
// so the compiler sees straight-line arithmetic it can vectorise (no per-element dispatch).
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "strided.h"
#include "threadpool.h"

namespace sx {

bool view_extent(i64 offset, const i32* strides, const i32* shape, int rank, i64* lo, i64* hi) {
  i64 a = offset, b = offset;
  for (int d = 0; d < rank; ++d) {
    if (shape[d] <= 0) return false;
    const i64 span = static_cast<i64>(shape[d] - 1) * (strides ? strides[d] : 0);
    if (span < 0) a += span; else b += span;
  }
  *lo = a;
  *hi = b;
  return true;
}

template <typename T>
void fill(T* out, i64 n, double value) {
  const T v = store_as<T>(value);
  parallel_for(n, kElementwiseGrain * 4, [&](i64 b, i64 e) {
    for (i64 i = b; i < e; ++i) out[i] = v;
  });
}

template <typename E>
void copy_typed(const E* src, i64 so, const i32* ss, E* dst, i64 dO, const i32* ds,
                const i32* shape, int rank) {
  StridedPlan<2> p;
  const i32* strides[2] = {ss, ds};
  const i64 offs[2] = {so, dO};
  make_plan(p, shape, rank, strides, offs);
  run_plan(p, kElementwiseGrain * 2, [&](const i64* off, i64 n, const i64* st) {
    const E* s = src + off[0];
    E* d = dst + off[1];
    if (st[0] == 1 && st[1] == 1) {
      std::memmove(d, s, sizeof(E) * n);
    } else if (st[0] == 0) {
      const E v = *s;
      for (i64 i = 0; i < n; ++i) d[i * st[1]] = v;
    } else {
      for (i64 i = 0; i < n; ++i) d[i * st[1]] = s[i * st[0]];
    }
  });
}

void copy_strided(int bytes, const void* src, i64 srcOffset, const i32* srcStrides, void* dst,
                  i64 dstOffset, const i32* dstStrides, const i32* shape, int rank) {
  if (bytes == 4)
    copy_typed(static_cast<const std::uint32_t*>(src), srcOffset, srcStrides,
               static_cast<std::uint32_t*>(dst), dstOffset, dstStrides, shape, rank);
  else
    copy_typed(static_cast<const std::uint64_t*>(src), srcOffset, srcStrides,
               static_cast<std::uint64_t*>(dst), dstOffset, dstStrides, shape, rank);
}

// ---- binary ops; int32 computes through double (JS number semantics) and wraps on store.
namespace b {
template <typename C>
inline C nan_of() { return std::numeric_limits<C>::quiet_NaN(); }
struct Add { template <typename C> static C f(C a, C b) { return a + b; } };
struct Sub { template <typename C> static C f(C a, C b) { return a - b; } };
struct Mul { template <typename C> static C f(C a, C b) { return a * b; } };
struct Div { template <typename C> static C f(C a, C b) { return a / b; } };
struct Pow { template <typename C> static C f(C a, C b) { return std::pow(a, b); } };
struct Maximum {
  template <typename C> static C f(C a, C b) {
    return (a != a || b != b) ? nan_of<C>() : (a > b ? a : b);
  }
};
struct Minimum {
  template <typename C> static C f(C a, C b) {
    return (a != a || b != b) ? nan_of<C>() : (a < b ? a : b);
  }
};
struct Eq { template <typename C> static bool f(C a, C b) { return a == b; } };
struct Ne { template <typename C> static bool f(C a, C b) { return a != b; } };
struct Lt { template <typename C> static bool f(C a, C b) { return a < b; } };
struct Le { template <typename C> static bool f(C a, C b) { return a <= b; } };
struct Gt { template <typename C> static bool f(C a, C b) { return a > b; } };
struct Ge { template <typename C> static bool f(C a, C b) { return a >= b; } };
}  // namespace b

template <typename Op, typename T>
void binary_loop(View<T> a, View<T> bv, T* out, const i32* shape, int rank) {
  using C = typename Compute<T>::type;
  StridedPlan<3> p;
  const i32* strides[3] = {a.strides, bv.strides, nullptr};
  const i64 offs[3] = {a.offset, bv.offset, 0};
  make_plan(p, shape, rank, strides, offs);
  run_plan(p, kElementwiseGrain, [&](const i64* off, i64 n, const i64* st) {
    const T* x = a.data + off[0];
    const T* y = bv.data + off[1];
    T* o = out + off[2];  // dense output: st[2] == 1
    if (st[0] == 1 && st[1] == 1) {
      for (i64 i = 0; i < n; ++i) o[i] = store_as<T>(Op::f(C(x[i]), C(y[i])));
    } else if (st[0] == 1 && st[1] == 0) {
      const C s = C(*y);
      for (i64 i = 0; i < n; ++i) o[i] = store_as<T>(Op::f(C(x[i]), s));
    } else if (st[0] == 0 && st[1] == 1) {
      const C s = C(*x);
      for (i64 i = 0; i < n; ++i) o[i] = store_as<T>(Op::f(s, C(y[i])));
    } else {
      for (i64 i = 0; i < n; ++i) o[i] = store_as<T>(Op::f(C(x[i * st[0]]), C(y[i * st[1]])));
    }
  });
}

template <typename T>
void binary(int op, View<T> a, View<T> bv, T* out, const i32* shape, int rank) {
  switch (op) {
    case kAdd: return binary_loop<b::Add>(a, bv, out, shape, rank);
    case kSub: return binary_loop<b::Sub>(a, bv, out, shape, rank);
    case kMul: return binary_loop<b::Mul>(a, bv, out, shape, rank);
    case kDiv: return binary_loop<b::Div>(a, bv, out, shape, rank);
    case kPow: return binary_loop<b::Pow>(a, bv, out, shape, rank);
    case kMaximum: return binary_loop<b::Maximum>(a, bv, out, shape, rank);
    case kMinimum: return binary_loop<b::Minimum>(a, bv, out, shape, rank);
    default: return;
  }
}

template <typename T>
void affine(const T* x, double scale, double shift, T* out, i64 n) {
  // In double, as the reference computes, so float32 results round once.
  parallel_for(n, kElementwiseGrain, [&](i64 b, i64 e) {
    for (i64 i = b; i < e; ++i) out[i] = static_cast<T>(static_cast<double>(x[i]) * scale + shift);
  });
}

template <typename Op, typename T>
void compare_loop(View<T> a, View<T> bv, i32* out, const i32* shape, int rank) {
  StridedPlan<3> p;
  const i32* strides[3] = {a.strides, bv.strides, nullptr};
  const i64 offs[3] = {a.offset, bv.offset, 0};
  make_plan(p, shape, rank, strides, offs);
  run_plan(p, kElementwiseGrain, [&](const i64* off, i64 n, const i64* st) {
    const T* x = a.data + off[0];
    const T* y = bv.data + off[1];
    i32* o = out + off[2];
    if (st[0] == 1 && st[1] == 1) {
      for (i64 i = 0; i < n; ++i) o[i] = Op::f(x[i], y[i]) ? 1 : 0;
    } else if (st[0] == 1 && st[1] == 0) {
      const T s = *y;
      for (i64 i = 0; i < n; ++i) o[i] = Op::f(x[i], s) ? 1 : 0;
    } else {
      for (i64 i = 0; i < n; ++i) o[i] = Op::f(x[i * st[0]], y[i * st[1]]) ? 1 : 0;
    }
  });
}

template <typename T>
void compare(int op, View<T> a, View<T> bv, i32* out, const i32* shape, int rank) {
  switch (op) {
    case kEq: return compare_loop<b::Eq>(a, bv, out, shape, rank);
    case kNe: return compare_loop<b::Ne>(a, bv, out, shape, rank);
    case kLt: return compare_loop<b::Lt>(a, bv, out, shape, rank);
    case kLe: return compare_loop<b::Le>(a, bv, out, shape, rank);
    case kGt: return compare_loop<b::Gt>(a, bv, out, shape, rank);
    case kGe: return compare_loop<b::Ge>(a, bv, out, shape, rank);
    default: return;
  }
}

template <typename T>
void where(View<i32> cond, View<T> a, View<T> bv, T* out, const i32* shape, int rank) {
  StridedPlan<4> p;
  const i32* strides[4] = {cond.strides, a.strides, bv.strides, nullptr};
  const i64 offs[4] = {cond.offset, a.offset, bv.offset, 0};
  make_plan(p, shape, rank, strides, offs);
  run_plan(p, kElementwiseGrain, [&](const i64* off, i64 n, const i64* st) {
    const i32* c = cond.data + off[0];
    const T* x = a.data + off[1];
    const T* y = bv.data + off[2];
    T* o = out + off[3];
    if (st[0] == 1 && st[1] == 1 && st[2] == 1) {
      for (i64 i = 0; i < n; ++i) o[i] = c[i] != 0 ? x[i] : y[i];
    } else {
      for (i64 i = 0; i < n; ++i) o[i] = c[i * st[0]] != 0 ? x[i * st[1]] : y[i * st[2]];
    }
  });
}

#define SX_FLOAT_INSTANCES(T) template void affine<T>(const T*, double, double, T*, i64);
#define SX_ANY_INSTANCES(T)                                                            \
  template void fill<T>(T*, i64, double);                                              \
  template void binary<T>(int, View<T>, View<T>, T*, const i32*, int);                 \
  template void compare<T>(int, View<T>, View<T>, i32*, const i32*, int);              \
  template void where<T>(View<i32>, View<T>, View<T>, T*, const i32*, int);

SX_FLOAT_INSTANCES(float)
SX_FLOAT_INSTANCES(double)
SX_ANY_INSTANCES(float)
SX_ANY_INSTANCES(double)
SX_ANY_INSTANCES(i32)

}  // namespace sx
