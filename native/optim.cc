// Optimiser steps, elementwise over a parameter tensor. The arithmetic is done in double, as in
// the JS reference, and rounded once on store (these kernels are memory-bound anyway).
#include <cmath>

#include "kernels.h"
#include "threadpool.h"

namespace sx {

template <typename T>
void adam_step(T* param, const T* grad, T* m, T* v, i64 n, const AdamHyper& h) {
  const double b1 = h.beta1, b2 = h.beta2;
  const double bc1 = 1.0 - std::pow(b1, h.step);
  const double bc2 = 1.0 - std::pow(b2, h.step);
  const double stepSize = h.lr / bc1;
  const double rbc2 = 1.0 / std::sqrt(bc2);
  const double wd = h.weightDecay;
  const double decay = h.decoupled ? 1.0 - h.lr * wd : 1.0;  // AdamW: p -= lr * wd * p first
  const double l2 = h.decoupled ? 0.0 : wd;                  // Adam: g += wd * p
  parallel_for(n, kElementwiseGrain / 2, [&](i64 i0, i64 i1) {
    for (i64 i = i0; i < i1; ++i) {
      double p = param[i];
      const double g = double(grad[i]) + l2 * p;
      p *= decay;
      const double mi = b1 * m[i] + (1.0 - b1) * g;
      const double vi = b2 * v[i] + (1.0 - b2) * g * g;
      m[i] = static_cast<T>(mi);
      v[i] = static_cast<T>(vi);
      param[i] = static_cast<T>(p - stepSize * mi / (std::sqrt(vi) * rbc2 + h.eps));
    }
  });
}

template <typename T>
void sgd_step(T* param, const T* grad, T* buf, i64 n, const SgdHyper& h) {
  const double mom = h.momentum, damp = 1.0 - h.dampening, wd = h.weightDecay, lr = h.lr;
  parallel_for(n, kElementwiseGrain / 2, [&](i64 i0, i64 i1) {
    if (mom == 0) {
      for (i64 i = i0; i < i1; ++i) {
        const double p = param[i];
        param[i] = static_cast<T>(p - lr * (double(grad[i]) + wd * p));
      }
      return;
    }
    for (i64 i = i0; i < i1; ++i) {
      const double p = param[i];
      const double g = double(grad[i]) + wd * p;
      const double b = h.firstStep ? g : mom * buf[i] + damp * g;
      buf[i] = static_cast<T>(b);
      const double step = h.nesterov ? g + mom * b : b;
      param[i] = static_cast<T>(p - lr * step);
    }
  });
}

template void adam_step<float>(float*, const float*, float*, float*, i64, const AdamHyper&);
template void adam_step<double>(double*, const double*, double*, double*, i64, const AdamHyper&);
template void sgd_step<float>(float*, const float*, float*, i64, const SgdHyper&);
template void sgd_step<double>(double*, const double*, double*, i64, const SgdHyper&);

}  // namespace sx
