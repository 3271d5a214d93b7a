// C++ kernel entry points behind the Node-API bindings (addon.cc). Semantics are those of the
// `Kernels` interface in src/backends/kernels.ts; arguments have already been validated, so
// every pointer covers the elements the kernel touches. T is float, double or (where the
// interface allows AnyArray) int32.
#pragma once

#include "common.h"

namespace sx {

constexpr int kMaxRank = 32;

// A strided operand (see `Strided` in kernels.ts); strides == nullptr means dense row-major.
template <typename T>
struct View {
  const T* data;
  i64 offset;
  const i32* strides;
};

// Op codes: indices into UNARY_OPS / BINARY_OPS / COMPARE_OPS of kernels.ts.
enum UnaryOp {
  kNeg, kExp, kLog, kSqrt, kRsqrt, kAbs, kTanh, kSigmoid, kRelu, kGelu, kGeluTanh, kSilu, kSquare,
  kUnaryCount
};
enum BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kMaximum, kMinimum, kBinaryCount };
enum CompareOp { kEq, kNe, kLt, kLe, kGt, kGe, kCompareCount };
enum ReduceOp { kSum, kMax, kMin, kReduceCount };

// Smallest and largest element offset a strided view reaches over `shape` (0..rank-1);
// false when the shape is empty (nothing is touched).
bool view_extent(i64 offset, const i32* strides, const i32* shape, int rank, i64* lo, i64* hi);

// ---- elementwise.cc
template <typename T>
void fill(T* out, i64 n, double value);
// Element-size generic: copies `shape` elements between two strided views of `bytes`-wide items.
void copy_strided(int bytes, const void* src, i64 srcOffset, const i32* srcStrides, void* dst,
                  i64 dstOffset, const i32* dstStrides, const i32* shape, int rank);
template <typename T>
void unary(int op, const T* x, T* out, i64 n);
template <typename T>
void unary_backward(int op, const T* x, const T* y, const T* dy, T* dx, i64 n);
template <typename T>
void binary(int op, View<T> a, View<T> b, T* out, const i32* shape, int rank);
template <typename T>
void affine(const T* x, double scale, double shift, T* out, i64 n);
template <typename T>
void compare(int op, View<T> a, View<T> b, i32* out, const i32* shape, int rank);
template <typename T>
void where(View<i32> cond, View<T> a, View<T> b, T* out, const i32* shape, int rank);

// ---- reduce.cc
template <typename T>
void reduce(int op, const T* x, i64 outer, i64 n, i64 inner, T* out);
template <typename T>
void arg_reduce(bool isMin, const T* x, i64 outer, i64 n, i64 inner, i32* out);
template <typename T>
double sum_squares(const T* x, i64 n);
template <typename T>
i64 index_select(const T* x, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* out);
template <typename T>
void index_add(const T* dy, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* dx);
template <typename T>
i64 gather(const T* x, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* out);
template <typename T>
void scatter_add(const T* dy, i64 outer, i64 n, i64 inner, const i32* index, i64 m, T* dx);

// ---- nn.cc
template <typename T>
void softmax(const T* x, i64 rows, i64 cols, bool log, T* out);
template <typename T>
void softmax_backward(const T* y, const T* dy, i64 rows, i64 cols, bool log, T* dx);
template <typename T>
i64 cross_entropy(const T* logits, const i32* targets, i64 rows, i64 V, i64 ignoreIndex,
                  double smoothing, T* losses, T* lse);
template <typename T>
void cross_entropy_backward(const T* logits, const i32* targets, const T* lse, i64 rows, i64 V,
                            i64 ignoreIndex, double smoothing, const T* rowScale, T* dlogits);
template <typename T>
void layer_norm(const T* x, const T* gamma, const T* beta, i64 rows, i64 C, double eps, T* y,
                T* mean, T* rstd);
template <typename T>
void layer_norm_backward(const T* x, const T* gamma, const T* mean, const T* rstd, const T* dy,
                         i64 rows, i64 C, T* dx, T* dgamma, T* dbeta);
template <typename T>
void rms_norm(const T* x, const T* gamma, i64 rows, i64 C, double eps, T* y, T* rstd);
template <typename T>
void rms_norm_backward(const T* x, const T* gamma, const T* rstd, const T* dy, i64 rows, i64 C,
                       T* dx, T* dgamma);
template <typename T>
void lstm_cell(const T* gates, const T* cPrev, i64 B, i64 H, T* h, T* c, T* act);
template <typename T>
void lstm_cell_backward(const T* act, const T* cPrev, const T* c, const T* dh, const T* dc, i64 B,
                        i64 H, T* dgates, T* dcPrev);
template <typename T>
void rope(const T* x, const T* cos, const T* sin, i64 B, i64 H, i64 T_, i64 D, bool perBatch,
          bool inverse, T* out);

// ---- attention.cc
struct AttnView {
  i64 offset, strideB, strideH, strideT;
};
struct AttnShape {
  i64 B, H, Hkv, T, S, D;
  double scale;
  bool causal;
};
template <typename T>
void attention(const AttnShape& s, const T* q, AttnView qv, const T* k, AttnView kv, const T* v,
               AttnView vv, T* out, AttnView ov, T* probs, const i32* keyMask);
template <typename T>
void attention_backward(const AttnShape& s, const T* q, AttnView qv, const T* k, AttnView kv,
                        const T* v, AttnView vv, const T* probs, const T* dout, AttnView dov,
                        T* dq, AttnView dqv, T* dk, AttnView dkv, T* dv, AttnView dvv);

// ---- optim.cc
struct AdamHyper {
  double lr, beta1, beta2, eps, weightDecay;
  bool decoupled;
  double step;
};
template <typename T>
void adam_step(T* param, const T* grad, T* m, T* v, i64 n, const AdamHyper& h);
struct SgdHyper {
  double lr, momentum, dampening, weightDecay;
  bool nesterov, firstStep;
};
template <typename T>
void sgd_step(T* param, const T* grad, T* buf, i64 n, const SgdHyper& h);

}  // namespace sx
