// Run-time dispatch for the exp-heavy kernels of simd_kernels.inc, compiled for baseline
// x86-64, AVX2+FMA and AVX-512 (cpu.h picks one per process).
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "cpu.h"
#include "kernels.h"
#include "threadpool.h"

namespace sx {
namespace {

#define SX_KERNELS_FILE "simd_kernels.inc"
#include "per_isa.inc"
#undef SX_KERNELS_FILE

}  // namespace

template <typename T>
void unary(int op, const T* x, T* out, i64 n) {
  SX_DISPATCH(unary_impl<T>(op, x, out, n))
}

template <typename T>
void unary_backward(int op, const T* x, const T* y, const T* dy, T* dx, i64 n) {
  SX_DISPATCH(unary_backward_impl<T>(op, x, y, dy, dx, n))
}

template <typename T>
void softmax(const T* x, i64 rows, i64 cols, bool log, T* out) {
  SX_DISPATCH(softmax_impl<T>(x, rows, cols, log, out))
}

template <typename T>
void softmax_backward(const T* y, const T* dy, i64 rows, i64 cols, bool log, T* dx) {
  SX_DISPATCH(softmax_backward_impl<T>(y, dy, rows, cols, log, dx))
}

template <typename T>
i64 cross_entropy(const T* logits, const i32* targets, i64 rows, i64 V, i64 ignoreIndex,
                  double smoothing, T* losses, T* lse) {
  for (i64 r = 0; r < rows; ++r) {
    const i64 t = targets[r];
    if (t != ignoreIndex && (t < 0 || t >= V)) return r;
  }
  [&]() {
    SX_DISPATCH(cross_entropy_impl<T>(logits, targets, rows, V, ignoreIndex, smoothing, losses,
                                      lse))
  }();
  return -1;
}

template <typename T>
void cross_entropy_backward(const T* logits, const i32* targets, const T* lse, i64 rows, i64 V,
                            i64 ignoreIndex, double smoothing, const T* rowScale, T* dlogits) {
  SX_DISPATCH(cross_entropy_backward_impl<T>(logits, targets, lse, rows, V, ignoreIndex, smoothing,
                                             rowScale, dlogits))
}

#define SX_INSTANCES(T)                                                                       \
  template void unary<T>(int, const T*, T*, i64);                                             \
  template void unary_backward<T>(int, const T*, const T*, const T*, T*, i64);                \
  template void softmax<T>(const T*, i64, i64, bool, T*);                                     \
  template void softmax_backward<T>(const T*, const T*, i64, i64, bool, T*);                  \
  template i64 cross_entropy<T>(const T*, const i32*, i64, i64, i64, double, T*, T*);         \
  template void cross_entropy_backward<T>(const T*, const i32*, const T*, i64, i64, i64,      \
                                          double, const T*, T*);

SX_INSTANCES(float)
SX_INSTANCES(double)

}  // namespace sx
