// Scaled dot-product attention with causal / key-padding masks and grouped key-value heads; the
// kernels are in attention_kernels.inc, compiled once per instruction set.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace sx {
namespace {

#define SX_KERNELS_FILE "attention_kernels.inc"
#include "per_isa.inc"
#undef SX_KERNELS_FILE

}  // namespace

template <typename T>
void attention(const AttnShape& s, const T* q, AttnView qv, const T* k, AttnView kv, const T* v,
               AttnView vv, T* out, AttnView ov, T* probs, const i32* keyMask) {
  SX_DISPATCH(attention_impl<T>(s, q, qv, k, kv, v, vv, out, ov, probs, keyMask))
}

template <typename T>
void attention_backward(const AttnShape& s, const T* q, AttnView qv, const T* k, AttnView kv,
                        const T* v, AttnView vv, const T* probs, const T* dout, AttnView dov,
                        T* dq, AttnView dqv, T* dk, AttnView dkv, T* dv, AttnView dvv) {
  SX_DISPATCH(attention_backward_impl<T>(s, q, qv, k, kv, v, vv, probs, dout, dov, dq, dqv, dk,
                                         dkv, dv, dvv))
}

template void attention<float>(const AttnShape&, const float*, AttnView, const float*, AttnView,
                               const float*, AttnView, float*, AttnView, float*, const i32*);
template void attention<double>(const AttnShape&, const double*, AttnView, const double*,
                                AttnView, const double*, AttnView, double*, AttnView, double*,
                                const i32*);
template void attention_backward<float>(const AttnShape&, const float*, AttnView, const float*,
                                        AttnView, const float*, AttnView, const float*,
                                        const float*, AttnView, float*, AttnView, float*,
                                        AttnView, float*, AttnView);
template void attention_backward<double>(const AttnShape&, const double*, AttnView, const double*,
                                         AttnView, const double*, AttnView, const double*,
                                         const double*, AttnView, double*, AttnView, double*,
                                         AttnView, double*, AttnView);

}  // namespace sx
