// Shared helpers for the native kernels: element types, JS number semantics, small math.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstddef>
#include <cstring>
#include <limits>

// Small helpers that must be inlined into the per-ISA copies of the kernels (an out-of-line call
// would run the baseline version and block vectorisation).
#if defined(__GNUC__)
#define SX_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define SX_ALWAYS_INLINE inline
#endif

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

// exp for float without branches or calls, so loops over it vectorise (libm's expf is scalar).
// Range reduction x = n ln2 + r with |r| <= ln2 / 2 (ln2 split in two for exactness), then a
// degree-6 polynomial for e^r; within 2 ulp of expf. Overflow gives inf, NaN stays NaN; results
// below FLT_MIN flush to 0 (expf would give a denormal, at most 1.2e-38 away).
SX_ALWAYS_INLINE float fast_expf(float x) {
  const float kLog2e = 1.44269504088896341f;
  const float kShift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float kLn2Hi = 0.693359375f, kLn2Lo = -2.12194440e-4f;
  // Clamping to [-126 ln2, max float log] keeps the scaled exponent field in [1, 254].
  float xc = x < -87.33654f ? -87.33654f : x;
  xc = xc > 88.72283f ? 88.72283f : xc;
  const float t = xc * kLog2e + kShift;
  const float n = t - kShift;
  const float r = (xc - n * kLn2Hi) - n * kLn2Lo;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = (p * r) * r + r + 1.0f;
  std::int32_t ti, pi;
  std::memcpy(&ti, &t, 4);
  std::memcpy(&pi, &p, 4);
  // n = ti - bits(kShift); scaling by 2^n is an add to the exponent field (at n = 128, r < 0 so
  // p < 1 and the field stays finite; at n = -126, r >= 0 so p >= 1 and it stays normal).
  pi += (ti - 0x4B400000) << 23;
  float y;
  std::memcpy(&y, &pi, 4);
  y = x > 88.72283f ? std::numeric_limits<float>::infinity() : y;  // next float overflows
  y = x < -87.33654f ? 0.0f : y;
  return x != x ? x : y;
}

// tanh for float, branch-free: an odd polynomial below |x| = 0.625 (where 1 - 2 / (e^2x + 1)
// would cancel), the exp form above; within a few ulp of tanhf. NaN stays NaN.
SX_ALWAYS_INLINE float fast_tanhf(float x) {
  const float ax = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  float big = 1.0f - 2.0f / (fast_expf(2.0f * ax) + 1.0f);
  big = x < 0.0f ? -big : big;
  return ax > 0.625f ? big : small;
}

// exp and tanh in the element type: the vectorisable float versions, libm for double.
SX_ALWAYS_INLINE float exp_t(float x) { return fast_expf(x); }
SX_ALWAYS_INLINE double exp_t(double x) { return std::exp(x); }
SX_ALWAYS_INLINE float tanh_t(float x) { return fast_tanhf(x); }
SX_ALWAYS_INLINE double tanh_t(double x) { return std::tanh(x); }

}  // namespace sx
