// Shared helpers for the native kernels: element types, JS number semantics, small math.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstddef>
#include <limits>

namespace sx {

using i64 = std::int64_t;
using i32 = std::int32_t;

// Below this many elements an elementwise kernel runs on the calling thread: waking the pool
// costs a few microseconds, more than the work itself.
constexpr i64 kElementwiseGrain = 32768;
// Rows-based kernels (softmax, norms, cross-entropy) parallelise once rows * cols exceeds this.
constexpr i64 kRowsWork = 32768;

// Integer conversion with JavaScript's ToInt32 semantics (NaN/inf -> 0, wrap modulo 2^32), so an
// Int32Array written here holds exactly what the JS reference would store.
inline i32 to_int32(double v) {
  if (!(v == v) || v == std::numeric_limits<double>::infinity() ||
      v == -std::numeric_limits<double>::infinity())
    return 0;
  double t = std::trunc(v);
  if (t >= -2147483648.0 && t <= 2147483647.0) return static_cast<i32>(t);
  double m = std::fmod(t, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return static_cast<i32>(static_cast<std::uint32_t>(m));
}

// Store a value computed in double into an element of type T with JS typed-array semantics.
template <typename T>
inline T store_as(double v) {
  return static_cast<T>(v);
}
template <>
inline i32 store_as<i32>(double v) {
  return to_int32(v);
}

template <typename T>
inline bool is_nan(T v) {
  return v != v;
}

// Arithmetic type for one element op: int32 math goes through double, like JS numbers do.
template <typename T>
struct Compute {
  using type = T;
};
template <>
struct Compute<i32> {
  using type = double;
};

inline i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

}  // namespace sx
