// Scaled dot-product attention with causal / key-padding masks and grouped key-value heads.
// Per (batch, head) the work is four small GEMMs on the built-in serial kernel; the pool splits
// over heads: forward over (b, h), backward over (b, kv head) so that one thread owns each dk/dv
// slice and sums the query heads of its group in a fixed order.
#include <cmath>
#include <limits>
#include <vector>

#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace sx {
namespace {

inline i64 at(const AttnView& v, i64 b, i64 h) { return v.offset + b * v.strideB + h * v.strideH; }

// Last key query t may see under the causal rule (queries are the last T of S positions).
inline i64 causal_limit(const AttnShape& s, i64 t) { return s.causal ? t + (s.S - s.T) : s.S - 1; }

}  // namespace

template <typename T>
void attention(const AttnShape& s, const T* q, AttnView qv, const T* k, AttnView kv, const T* v,
               AttnView vv, T* out, AttnView ov, T* probs, const i32* keyMask) {
  const i64 group = s.H / s.Hkv;
  const i64 work = s.T * s.S * (s.D + 1);
  parallel_for(s.B * s.H, ceil_div(1 << 15, work + 1), [&](i64 u0, i64 u1) {
    for (i64 u = u0; u < u1; ++u) {
      const i64 b = u / s.H, h = u % s.H, hk = h / group;
      const T* qb = q + at(qv, b, h);
      const T* kb = k + at(kv, b, hk);
      const T* vb = v + at(vv, b, hk);
      T* ob = out + at(ov, b, h);
      T* P = probs + u * s.T * s.S;  // [T, S]
      // P = Q K^T, then masked, scaled softmax row by row.
      gemm_serial<T>(false, true, s.T, s.S, s.D, qb, qv.strideT, kb, kv.strideT, P, s.S, false);
      const i32* mask = keyMask ? keyMask + b * s.S : nullptr;
      for (i64 t = 0; t < s.T; ++t) {
        T* row = P + t * s.S;
        const i64 last = causal_limit(s, t);
        T m = -std::numeric_limits<T>::infinity();
        bool any = false;
        for (i64 j = 0; j < s.S; ++j) {
          const bool ok = j <= last && (!mask || mask[j] != 0);
          if (ok) {
            row[j] *= static_cast<T>(s.scale);
            m = row[j] > m || row[j] != row[j] ? row[j] : m;
            any = true;
          }
        }
        double sum = 0;
        for (i64 j = 0; j < s.S; ++j) {
          const bool ok = any && j <= last && (!mask || mask[j] != 0);
          const T e = ok ? exp_t(row[j] - m) : T(0);
          row[j] = e;
          sum += e;
        }
        if (any) {
          const T inv = static_cast<T>(1.0 / sum);
          for (i64 j = 0; j < s.S; ++j) row[j] *= inv;
        }
      }
      // out = P V; a query with no visible key gets an all-zero probability row, hence zero.
      gemm_serial<T>(false, false, s.T, s.D, s.S, P, s.S, vb, vv.strideT, ob, ov.strideT, false);
    }
  });
}

template <typename T>
void attention_backward(const AttnShape& s, const T* q, AttnView qv, const T* k, AttnView kv,
                        const T* v, AttnView vv, const T* probs, const T* dout, AttnView dov,
                        T* dq, AttnView dqv, T* dk, AttnView dkv, T* dv, AttnView dvv) {
  const i64 group = s.H / s.Hkv;
  const i64 work = group * s.T * s.S * (s.D + 1);
  parallel_for(s.B * s.Hkv, ceil_div(1 << 15, work + 1), [&](i64 u0, i64 u1) {
    std::vector<T> dS(static_cast<size_t>(s.T * s.S));  // [T, S] scratch for this thread
    for (i64 u = u0; u < u1; ++u) {
      const i64 b = u / s.Hkv, hk = u % s.Hkv;
      const T* kb = k + at(kv, b, hk);
      const T* vb = v + at(vv, b, hk);
      T* dkb = dk + at(dkv, b, hk);
      T* dvb = dv + at(dvv, b, hk);
      for (i64 g = 0; g < group; ++g) {
        const i64 h = hk * group + g;
        const bool acc = g > 0;  // first query head of the group overwrites dk/dv
        const T* qb = q + at(qv, b, h);
        const T* dob = dout + at(dov, b, h);
        const T* P = probs + (b * s.H + h) * s.T * s.S;
        T* dqb = dq + at(dqv, b, h);
        // dV (+)= P^T dO
        gemm_serial<T>(true, false, s.S, s.D, s.T, P, s.S, dob, dov.strideT, dvb, dvv.strideT,
                       acc);
        // dP = dO V^T, then dS = P * (dP - rowsum(P * dP)) * scale
        gemm_serial<T>(false, true, s.T, s.S, s.D, dob, dov.strideT, vb, vv.strideT, dS.data(),
                       s.S, false);
        for (i64 t = 0; t < s.T; ++t) {
          const T* pr = P + t * s.S;
          T* dr = dS.data() + t * s.S;
          double dot = 0;
          for (i64 j = 0; j < s.S; ++j) dot += double(pr[j]) * dr[j];
          const T d = static_cast<T>(dot);
          const T sc = static_cast<T>(s.scale);
          // Masked keys have P == 0; test it so a non-finite dP there cannot leak in as NaN.
          for (i64 j = 0; j < s.S; ++j) dr[j] = pr[j] != T(0) ? pr[j] * (dr[j] - d) * sc : T(0);
        }
        // dQ = dS K ; dK (+)= dS^T Q
        gemm_serial<T>(false, false, s.T, s.D, s.S, dS.data(), s.S, kb, kv.strideT, dqb,
                       dqv.strideT, false);
        gemm_serial<T>(true, false, s.S, s.D, s.T, dS.data(), s.S, qb, qv.strideT, dkb,
                       dkv.strideT, acc);
      }
    }
  });
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
