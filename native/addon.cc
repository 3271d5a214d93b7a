// Node-API bindings: one positional function per kernel of src/backends/kernels.ts. The TS
// wrapper (src/backends/native/index.ts) maps the interface's names and objects onto these.
#include <napi.h>

#include <new>

#include "args.h"
#include "gemm.h"
#include "kernels.h"
#include "threadpool.h"

namespace sx {
namespace {

// ---- strided views: (data, offset, strides) at argument i, checked against `shape`
struct SView {
  Arr data;
  i64 offset;
  const i32* strides;
  template <typename T>
  View<T> view() const { return View<T>{data.as<T>(), offset, strides}; }
};

SView strided(const Args& a, int i, const char* name, const Arr& shape) {
  SView v;
  v.data = a.array(i, name);
  v.offset = a.integer(i + 1, "offset");
  const Arr st = a.ints(i + 2, "strides");
  const int rank = static_cast<int>(shape.len);
  a.need(st, rank, i + 2, "strides");
  v.strides = st.as<i32>();
  i64 lo = 0, hi = 0;
  const bool touched = view_extent(v.offset, v.strides, shape.as<i32>(), rank, &lo, &hi);
  a.covers(v.data, touched, lo, hi, i, name);
  return v;
}

Arr shape_arg(const Args& a, int i, i64* total) {
  const Arr s = a.ints(i, "shape");
  if (s.len > kMaxRank) a.fail(true, i, "shape", "has more than 32 dimensions");
  i64 n = 1;
  for (i64 d = 0; d < s.len; ++d) {
    if (s.as<i32>()[d] < 0) a.fail(true, i, "shape", "has a negative dimension");
    n = mul(a, {n, s.as<i32>()[d]});
  }
  *total = n;
  return s;
}

// ---- kernels
napi_value k_threads(Args& a) { return number(a.env, pool_threads()); }

napi_value k_set_threads(Args& a) {
  const int n = static_cast<int>(a.integer(0, "n", 1));
  pool_set_threads(n);
  blas_set_threads(n);
  return nullptr;
}

napi_value k_fill(Args& a) {
  const Arr out = a.array(0, "out");
  const double v = a.number(1, "value");
  SX_ANY(out.dt, fill<T>(out.as<T>(), out.len, v));
  return nullptr;
}

napi_value k_copy(Args& a) {
  i64 total;
  const Arr shape = shape_arg(a, 6, &total);
  const SView src = strided(a, 0, "src.data", shape);
  const SView dst = strided(a, 3, "dst.data", shape);
  a.same(dst.data, src.data, 3, "dst.data");
  copy_strided(src.data.dt == DT::f64 ? 8 : 4, src.data.data, src.offset, src.strides,
               dst.data.data, dst.offset, dst.strides, shape.as<i32>(),
               static_cast<int>(shape.len));
  return nullptr;
}

napi_value k_unary(Args& a) {
  const i64 op = a.integer(0, "op");
  if (op >= kUnaryCount) a.fail(true, 0, "op", "is not a unary op code");
  const Arr x = a.floats(1, "x"), out = a.floats(2, "out");
  a.same(out, x, 2, "out");
  a.need(x, out.len, 1, "x");
  SX_FLOAT(x.dt, unary<T>(int(op), x.as<T>(), out.as<T>(), out.len));
  return nullptr;
}

napi_value k_unary_backward(Args& a) {
  const i64 op = a.integer(0, "op");
  if (op >= kUnaryCount) a.fail(true, 0, "op", "is not a unary op code");
  const Arr x = a.floats(1, "x"), y = a.floats(2, "y"), dy = a.floats(3, "dy"),
            dx = a.floats(4, "dx");
  a.same(y, x, 2, "y");
  a.same(dy, x, 3, "dy");
  a.same(dx, x, 4, "dx");
  a.need(x, dx.len, 1, "x");
  a.need(y, dx.len, 2, "y");
  a.need(dy, dx.len, 3, "dy");
  SX_FLOAT(x.dt, unary_backward<T>(int(op), x.as<T>(), y.as<T>(), dy.as<T>(), dx.as<T>(), dx.len));
  return nullptr;
}

// (op, a.data, a.offset, a.strides, b.data, b.offset, b.strides, out, shape)
napi_value k_binary(Args& a) {
  const i64 op = a.integer(0, "op");
  if (op >= kBinaryCount) a.fail(true, 0, "op", "is not a binary op code");
  i64 total;
  const Arr shape = shape_arg(a, 8, &total);
  const SView x = strided(a, 1, "a.data", shape), y = strided(a, 4, "b.data", shape);
  const Arr out = a.array(7, "out");
  a.same(y.data, x.data, 4, "b.data");
  a.same(out, x.data, 7, "out");
  a.need(out, total, 7, "out");
  const int r = static_cast<int>(shape.len);
  SX_ANY(out.dt, binary<T>(int(op), x.view<T>(), y.view<T>(), out.as<T>(), shape.as<i32>(), r));
  return nullptr;
}

napi_value k_affine(Args& a) {
  const Arr x = a.floats(0, "x"), out = a.floats(3, "out");
  const double scale = a.number(1, "scale"), shift = a.number(2, "shift");
  a.same(out, x, 3, "out");
  a.need(x, out.len, 0, "x");
  SX_FLOAT(x.dt, affine<T>(x.as<T>(), scale, shift, out.as<T>(), out.len));
  return nullptr;
}

napi_value k_compare(Args& a) {
  const i64 op = a.integer(0, "op");
  if (op >= kCompareCount) a.fail(true, 0, "op", "is not a compare op code");
  i64 total;
  const Arr shape = shape_arg(a, 8, &total);
  const SView x = strided(a, 1, "a.data", shape), y = strided(a, 4, "b.data", shape);
  const Arr out = a.ints(7, "out");
  a.same(y.data, x.data, 4, "b.data");
  a.need(out, total, 7, "out");
  const int r = static_cast<int>(shape.len);
  SX_ANY(x.data.dt,
         compare<T>(int(op), x.view<T>(), y.view<T>(), out.as<i32>(), shape.as<i32>(), r));
  return nullptr;
}

// (cond.data, cond.offset, cond.strides, a..., b..., out, shape)
napi_value k_where(Args& a) {
  i64 total;
  const Arr shape = shape_arg(a, 10, &total);
  const SView c = strided(a, 0, "cond.data", shape);
  if (c.data.dt != DT::i32) a.fail(false, 0, "cond.data", "must be an Int32Array");
  const SView x = strided(a, 3, "a.data", shape), y = strided(a, 6, "b.data", shape);
  const Arr out = a.array(9, "out");
  a.same(y.data, x.data, 6, "b.data");
  a.same(out, x.data, 9, "out");
  a.need(out, total, 9, "out");
  const int r = static_cast<int>(shape.len);
  SX_ANY(out.dt,
         where<T>(c.view<i32>(), x.view<T>(), y.view<T>(), out.as<T>(), shape.as<i32>(), r));
  return nullptr;
}

napi_value k_reduce(Args& a) {
  const i64 op = a.integer(0, "op");
  if (op >= kReduceCount) a.fail(true, 0, "op", "is not a reduce op code");
  const Arr x = a.floats(1, "x");
  const i64 outer = a.integer(2, "outer"), n = a.integer(3, "n"), inner = a.integer(4, "inner");
  const Arr out = a.floats(5, "out");
  a.same(out, x, 5, "out");
  a.need(x, mul(a, {outer, n, inner}), 1, "x");
  a.need(out, mul(a, {outer, inner}), 5, "out");
  SX_FLOAT(x.dt, reduce<T>(int(op), x.as<T>(), outer, n, inner, out.as<T>()));
  return nullptr;
}

napi_value k_arg_reduce(Args& a) {
  const bool isMin = a.boolean(0, "isMin");
  const Arr x = a.array(1, "x");
  const i64 outer = a.integer(2, "outer"), n = a.integer(3, "n"), inner = a.integer(4, "inner");
  const Arr out = a.ints(5, "out");
  a.need(x, mul(a, {outer, n, inner}), 1, "x");
  a.need(out, mul(a, {outer, inner}), 5, "out");
  SX_ANY(x.dt, arg_reduce<T>(isMin, x.as<T>(), outer, n, inner, out.as<i32>()));
  return nullptr;
}

napi_value k_sum_squares(Args& a) {
  const Arr x = a.floats(0, "x");
  double s = 0;
  SX_FLOAT(x.dt, s = sum_squares<T>(x.as<T>(), x.len));
  return number(a.env, s);
}

// (x, outer, n, inner, index, [m,] out): shared by the four index kernels.
struct IndexArgs {
  Arr x, index, out;
  i64 outer, n, inner, m;
};

IndexArgs index_args(const Args& a, bool hasM, bool floatOnly) {
  IndexArgs r;
  r.x = floatOnly ? a.floats(0, "x") : a.array(0, "x");
  r.outer = a.integer(1, "outer");
  r.n = a.integer(2, "n");
  r.inner = a.integer(3, "inner");
  r.index = a.ints(4, "index");
  r.m = hasM ? a.integer(5, "m") : r.index.len;
  const int oi = hasM ? 6 : 5;
  r.out = floatOnly ? a.floats(oi, "out") : a.array(oi, "out");
  a.same(r.out, r.x, oi, "out");
  return r;
}

napi_value k_index_select(Args& a) {
  IndexArgs r = index_args(a, false, false);
  a.need(r.x, mul(a, {r.outer, r.n, r.inner}), 0, "x");
  a.need(r.out, mul(a, {r.outer, r.m, r.inner}), 5, "out");
  i64 bad = -1;
  SX_ANY(r.x.dt, bad = index_select<T>(r.x.as<T>(), r.outer, r.n, r.inner, r.index.as<i32>(),
                                       r.m, r.out.as<T>()));
  return number(a.env, double(bad));
}

napi_value k_index_add(Args& a) {  // (dy, outer, n, inner, index, dx)
  IndexArgs r = index_args(a, false, true);
  a.need(r.x, mul(a, {r.outer, r.m, r.inner}), 0, "dy");
  a.need(r.out, mul(a, {r.outer, r.n, r.inner}), 5, "dx");
  for (i64 j = 0; j < r.m; ++j)  // unchecked indices would write outside dx
    if (r.index.as<i32>()[j] < 0 || r.index.as<i32>()[j] >= r.n)
      a.fail(true, 4, "index", "holds " + std::to_string(r.index.as<i32>()[j]) + " at " +
                                   std::to_string(j) + ", outside [0, n)");
  SX_FLOAT(r.x.dt, index_add<T>(r.x.as<T>(), r.outer, r.n, r.inner, r.index.as<i32>(), r.m,
                                r.out.as<T>()));
  return nullptr;
}

napi_value k_gather(Args& a) {
  IndexArgs r = index_args(a, true, false);
  const i64 total = mul(a, {r.outer, r.m, r.inner});
  a.need(r.x, mul(a, {r.outer, r.n, r.inner}), 0, "x");
  a.need(r.index, total, 4, "index");
  a.need(r.out, total, 6, "out");
  i64 bad = -1;
  SX_ANY(r.x.dt, bad = gather<T>(r.x.as<T>(), r.outer, r.n, r.inner, r.index.as<i32>(), r.m,
                                 r.out.as<T>()));
  return number(a.env, double(bad));
}

napi_value k_scatter_add(Args& a) {  // (dy, outer, n, inner, index, m, dx)
  IndexArgs r = index_args(a, true, true);
  const i64 total = mul(a, {r.outer, r.m, r.inner});
  a.need(r.x, total, 0, "dy");
  a.need(r.index, total, 4, "index");
  a.need(r.out, mul(a, {r.outer, r.n, r.inner}), 6, "dx");
  for (i64 p = 0; p < total; ++p)
    if (r.index.as<i32>()[p] < 0 || r.index.as<i32>()[p] >= r.n)
      a.fail(true, 4, "index", "holds " + std::to_string(r.index.as<i32>()[p]) + " at " +
                                   std::to_string(p) + ", outside [0, n)");
  SX_FLOAT(r.x.dt, scatter_add<T>(r.x.as<T>(), r.outer, r.n, r.inner, r.index.as<i32>(), r.m,
                                  r.out.as<T>()));
  return nullptr;
}

// (a, b, out, batch, M, N, K, transA, transB, aOffsets, bOffsets, accumulate)
napi_value k_matmul(Args& a) {
  const Arr A = a.floats(0, "a"), B = a.floats(1, "b"), C = a.floats(2, "out");
  a.same(B, A, 1, "b");
  a.same(C, A, 2, "out");
  const i64 batch = a.integer(3, "batch"), M = a.integer(4, "M"), N = a.integer(5, "N"),
            K = a.integer(6, "K");
  const bool ta = a.boolean(7, "transA"), tb = a.boolean(8, "transB");
  const Arr ao = a.ints(9, "aOffsets"), bo = a.ints(10, "bOffsets");
  const bool acc = a.boolean(11, "accumulate");
  a.need(ao, batch, 9, "aOffsets");
  a.need(bo, batch, 10, "bOffsets");
  a.need(C, mul(a, {batch, M, N}), 2, "out");
  const i64 sa = mul(a, {M, K}), sb = mul(a, {K, N});
  for (i64 i = 0; i < batch; ++i) {
    const i64 oa = ao.as<i32>()[i], ob = bo.as<i32>()[i];
    a.covers(A, sa > 0, oa, oa + sa - 1, 0, "a");
    a.covers(B, sb > 0, ob, ob + sb - 1, 1, "b");
  }
  SX_FLOAT(A.dt, matmul<T>(A.as<T>(), B.as<T>(), C.as<T>(), batch, M, N, K, ta, tb,
                           ao.as<i32>(), bo.as<i32>(), acc));
  return nullptr;
}

}  // namespace

void register_nn(napi_env env, napi_value exports);  // addon_nn.cc

void register_core(napi_env env, napi_value exports) {
  SX_DEFINE("threads", k_threads);
  SX_DEFINE("setThreads", k_set_threads);
  SX_DEFINE("fill", k_fill);
  SX_DEFINE("copy", k_copy);
  SX_DEFINE("unary", k_unary);
  SX_DEFINE("unaryBackward", k_unary_backward);
  SX_DEFINE("binary", k_binary);
  SX_DEFINE("affine", k_affine);
  SX_DEFINE("compare", k_compare);
  SX_DEFINE("where", k_where);
  SX_DEFINE("reduce", k_reduce);
  SX_DEFINE("argReduce", k_arg_reduce);
  SX_DEFINE("sumSquares", k_sum_squares);
  SX_DEFINE("indexSelect", k_index_select);
  SX_DEFINE("indexAdd", k_index_add);
  SX_DEFINE("gather", k_gather);
  SX_DEFINE("scatterAdd", k_scatter_add);
  SX_DEFINE("matmul", k_matmul);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  register_core(env, exports);
  register_nn(env, exports);
  // The pool reads SEXTANT_THREADS when first used; OpenBLAS follows the same count.
  blas_set_threads(pool_threads());
  exports.Set("blas", Napi::String::New(env, blas_name()));
  exports.Set("isa", Napi::String::New(env, gemm_isa()));
  return exports;
}

}  // namespace sx

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return sx::Init(env, exports);
}

NODE_API_MODULE(sextant_native, InitModule)
