// Node-API bindings for the neural-network and optimiser kernels (see addon.cc for the rest).
#include "args.h"
#include "kernels.h"

namespace sx {
namespace {

// Float arrays at the given argument positions, all of the first one's type.
template <int N>
struct Floats {
  Arr v[N];
  Floats(const Args& a, const int (&idx)[N], const char* const (&names)[N], int nullable = 0) {
    for (int k = 0; k < N; ++k) {
      const bool canBeNull = (nullable >> k) & 1;
      v[k] = canBeNull ? a.floats_or_null(idx[k], names[k]) : a.floats(idx[k], names[k]);
      if (k > 0) a.same(v[k], v[0], idx[k], names[k]);
    }
  }
  const Arr& operator[](int k) const { return v[k]; }
};

napi_value k_softmax(Args& a) {  // (x, rows, cols, log, out)
  const Floats<2> f(a, {0, 4}, {"x", "out"});
  const i64 rows = a.integer(1, "rows"), cols = a.integer(2, "cols");
  const bool log = a.boolean(3, "log");
  const i64 n = mul(a, {rows, cols});
  a.need(f[0], n, 0, "x");
  a.need(f[1], n, 4, "out");
  SX_FLOAT(f[0].dt, softmax<T>(f[0].as<T>(), rows, cols, log, f[1].as<T>()));
  return nullptr;
}

napi_value k_softmax_backward(Args& a) {  // (y, dy, rows, cols, log, dx)
  const Floats<3> f(a, {0, 1, 5}, {"y", "dy", "dx"});
  const i64 rows = a.integer(2, "rows"), cols = a.integer(3, "cols");
  const bool log = a.boolean(4, "log");
  const i64 n = mul(a, {rows, cols});
  for (int k = 0; k < 3; ++k) a.need(f[k], n, k == 2 ? 5 : k, "array");
  SX_FLOAT(f[0].dt, softmax_backward<T>(f[0].as<T>(), f[1].as<T>(), rows, cols, log,
                                        f[2].as<T>()));
  return nullptr;
}

// (logits, targets, rows, V, ignoreIndex, smoothing, losses, lse)
napi_value k_cross_entropy(Args& a) {
  const Floats<3> f(a, {0, 6, 7}, {"logits", "losses", "lse"});
  const Arr t = a.ints(1, "targets");
  const i64 rows = a.integer(2, "rows"), V = a.integer(3, "V");
  const i64 ignore = a.integer(4, "ignoreIndex", INT32_MIN);
  const double eps = a.number(5, "smoothing");
  a.need(f[0], mul(a, {rows, V}), 0, "logits");
  a.need(t, rows, 1, "targets");
  a.need(f[1], rows, 6, "losses");
  a.need(f[2], rows, 7, "lse");
  i64 bad = -1;
  SX_FLOAT(f[0].dt, bad = cross_entropy<T>(f[0].as<T>(), t.as<i32>(), rows, V, ignore, eps,
                                           f[1].as<T>(), f[2].as<T>()));
  return number(a.env, double(bad));
}

// (logits, targets, lse, rows, V, ignoreIndex, smoothing, rowScale, dlogits)
napi_value k_cross_entropy_backward(Args& a) {
  const Floats<4> f(a, {0, 2, 7, 8}, {"logits", "lse", "rowScale", "dlogits"});
  const Arr t = a.ints(1, "targets");
  const i64 rows = a.integer(3, "rows"), V = a.integer(4, "V");
  const i64 ignore = a.integer(5, "ignoreIndex", INT32_MIN);
  const double eps = a.number(6, "smoothing");
  const i64 n = mul(a, {rows, V});
  a.need(f[0], n, 0, "logits");
  a.need(t, rows, 1, "targets");
  a.need(f[1], rows, 2, "lse");
  a.need(f[2], rows, 7, "rowScale");
  a.need(f[3], n, 8, "dlogits");
  const i32* tg = t.as<i32>();
  for (i64 r = 0; r < rows; ++r)  // an unchecked target would index outside the row
    if (tg[r] != ignore && (tg[r] < 0 || tg[r] >= V))
      a.fail(true, 1, "targets", "holds " + std::to_string(tg[r]) + " at row " +
                                     std::to_string(r) + ", outside [0, V)");
  SX_FLOAT(f[0].dt, cross_entropy_backward<T>(f[0].as<T>(), tg, f[1].as<T>(), rows, V, ignore,
                                              eps, f[2].as<T>(), f[3].as<T>()));
  return nullptr;
}

// (x, gamma|null, beta|null, rows, C, eps, y, mean, rstd)
napi_value k_layer_norm(Args& a) {
  const Floats<6> f(a, {0, 1, 2, 6, 7, 8}, {"x", "gamma", "beta", "y", "mean", "rstd"}, 0b110);
  const i64 rows = a.integer(3, "rows"), C = a.integer(4, "C");
  const double eps = a.number(5, "eps");
  const i64 n = mul(a, {rows, C});
  a.need(f[0], n, 0, "x");
  a.need(f[1], C, 1, "gamma");
  a.need(f[2], C, 2, "beta");
  a.need(f[3], n, 6, "y");
  a.need(f[4], rows, 7, "mean");
  a.need(f[5], rows, 8, "rstd");
  SX_FLOAT(f[0].dt, layer_norm<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), rows, C, eps,
                                  f[3].as<T>(), f[4].as<T>(), f[5].as<T>()));
  return nullptr;
}

// (x, gamma|null, mean, rstd, dy, rows, C, dx, dgamma|null, dbeta|null)
napi_value k_layer_norm_backward(Args& a) {
  const Floats<8> f(a, {0, 1, 2, 3, 4, 7, 8, 9},
                    {"x", "gamma", "mean", "rstd", "dy", "dx", "dgamma", "dbeta"}, 0b11000010);
  const i64 rows = a.integer(5, "rows"), C = a.integer(6, "C");
  const i64 n = mul(a, {rows, C});
  a.need(f[0], n, 0, "x");
  a.need(f[1], C, 1, "gamma");
  a.need(f[2], rows, 2, "mean");
  a.need(f[3], rows, 3, "rstd");
  a.need(f[4], n, 4, "dy");
  a.need(f[5], n, 7, "dx");
  a.need(f[6], C, 8, "dgamma");
  a.need(f[7], C, 9, "dbeta");
  SX_FLOAT(f[0].dt, layer_norm_backward<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), f[3].as<T>(),
                                           f[4].as<T>(), rows, C, f[5].as<T>(), f[6].as<T>(),
                                           f[7].as<T>()));
  return nullptr;
}

napi_value k_rms_norm(Args& a) {  // (x, gamma|null, rows, C, eps, y, rstd)
  const Floats<4> f(a, {0, 1, 5, 6}, {"x", "gamma", "y", "rstd"}, 0b10);
  const i64 rows = a.integer(2, "rows"), C = a.integer(3, "C");
  const double eps = a.number(4, "eps");
  const i64 n = mul(a, {rows, C});
  a.need(f[0], n, 0, "x");
  a.need(f[1], C, 1, "gamma");
  a.need(f[2], n, 5, "y");
  a.need(f[3], rows, 6, "rstd");
  SX_FLOAT(f[0].dt, rms_norm<T>(f[0].as<T>(), f[1].as<T>(), rows, C, eps, f[2].as<T>(),
                                f[3].as<T>()));
  return nullptr;
}

// (x, gamma|null, rstd, dy, rows, C, dx, dgamma|null)
napi_value k_rms_norm_backward(Args& a) {
  const Floats<6> f(a, {0, 1, 2, 3, 6, 7}, {"x", "gamma", "rstd", "dy", "dx", "dgamma"},
                    0b100010);
  const i64 rows = a.integer(4, "rows"), C = a.integer(5, "C");
  const i64 n = mul(a, {rows, C});
  a.need(f[0], n, 0, "x");
  a.need(f[1], C, 1, "gamma");
  a.need(f[2], rows, 2, "rstd");
  a.need(f[3], n, 3, "dy");
  a.need(f[4], n, 6, "dx");
  a.need(f[5], C, 7, "dgamma");
  SX_FLOAT(f[0].dt, rms_norm_backward<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), f[3].as<T>(),
                                         rows, C, f[4].as<T>(), f[5].as<T>()));
  return nullptr;
}

// ---- attention: shapes, offsets and strides travel in one Float64Array `meta`:
// [0..15] q, k, v, out views (offset, strideB, strideH, strideT), [16..23] B, H, Hkv, T, S, D,
// scale, causal, [24..39] dout, dq, dk, dv views (backward only).
AttnView attn_view(const Args& a, const double* meta, int slot, const Arr& data, int argi,
                   const char* name, const AttnShape& s, i64 heads) {
  AttnView v{i64(meta[slot]), i64(meta[slot + 1]), i64(meta[slot + 2]), i64(meta[slot + 3])};
  const i64 len = (slot == 4 || slot == 8 || slot >= 32) ? s.S : s.T;  // k, v, dk, dv span keys
  if (s.B == 0 || heads == 0 || len == 0 || s.D == 0) return v;
  i64 lo = v.offset, hi = v.offset + s.D - 1;
  const i64 dims[3] = {s.B, heads, len}, strides[3] = {v.strideB, v.strideH, v.strideT};
  for (int d = 0; d < 3; ++d) (strides[d] < 0 ? lo : hi) += (dims[d] - 1) * strides[d];
  a.covers(data, true, lo, hi, argi, name);
  return v;
}

AttnShape attn_shape(const Args& a, const Arr& meta, bool backward) {
  a.need(meta, backward ? 40 : 24, 0, "meta");
  const double* m = meta.as<double>();
  for (int i = 0; i < (backward ? 40 : 24); ++i)
    if (i != 22 && (!(m[i] == std::trunc(m[i])) || std::fabs(m[i]) > 9007199254740992.0))
      a.fail(true, 0, "meta", "holds a non-integer size or stride at " + std::to_string(i));
  AttnShape s{i64(m[16]), i64(m[17]), i64(m[18]), i64(m[19]), i64(m[20]), i64(m[21]), m[22],
              m[23] != 0};
  if (s.B < 0 || s.H < 0 || s.T < 0 || s.S < 0 || s.D < 0 || s.Hkv <= 0 || s.H % s.Hkv != 0)
    a.fail(true, 0, "meta", "has invalid sizes (need H % Hkv == 0, Hkv > 0)");
  return s;
}

// (meta, q, k, v, out, probs, keyMask|null)
napi_value k_attention(Args& a) {
  const Arr meta = a.floats(0, "meta");
  if (meta.dt != DT::f64) a.fail(false, 0, "meta", "must be a Float64Array");
  const AttnShape s = attn_shape(a, meta, false);
  const Floats<5> f(a, {1, 2, 3, 4, 5}, {"q.data", "k.data", "v.data", "out.data", "probs"});
  const Arr mask = a.ints(6, "keyMask", true);
  const double* m = meta.as<double>();
  const AttnView qv = attn_view(a, m, 0, f[0], 1, "q.data", s, s.H);
  const AttnView kv = attn_view(a, m, 4, f[1], 2, "k.data", s, s.Hkv);
  const AttnView vv = attn_view(a, m, 8, f[2], 3, "v.data", s, s.Hkv);
  const AttnView ov = attn_view(a, m, 12, f[3], 4, "out.data", s, s.H);
  a.need(f[4], mul(a, {s.B, s.H, s.T, s.S}), 5, "probs");
  a.need(mask, mul(a, {s.B, s.S}), 6, "keyMask");
  SX_FLOAT(f[0].dt, attention<T>(s, f[0].as<T>(), qv, f[1].as<T>(), kv, f[2].as<T>(), vv,
                                 f[3].as<T>(), ov, f[4].as<T>(), mask.as<i32>()));
  return nullptr;
}

// (meta, q, k, v, probs, dout, dq, dk, dv)
napi_value k_attention_backward(Args& a) {
  const Arr meta = a.floats(0, "meta");
  if (meta.dt != DT::f64) a.fail(false, 0, "meta", "must be a Float64Array");
  const AttnShape s = attn_shape(a, meta, true);
  const Floats<8> f(a, {1, 2, 3, 4, 5, 6, 7, 8},
                    {"q.data", "k.data", "v.data", "probs", "dout.data", "dq.data", "dk.data",
                     "dv.data"});
  const double* m = meta.as<double>();
  const AttnView qv = attn_view(a, m, 0, f[0], 1, "q.data", s, s.H);
  const AttnView kv = attn_view(a, m, 4, f[1], 2, "k.data", s, s.Hkv);
  const AttnView vv = attn_view(a, m, 8, f[2], 3, "v.data", s, s.Hkv);
  a.need(f[3], mul(a, {s.B, s.H, s.T, s.S}), 4, "probs");
  const AttnView dov = attn_view(a, m, 24, f[4], 5, "dout.data", s, s.H);
  const AttnView dqv = attn_view(a, m, 28, f[5], 6, "dq.data", s, s.H);
  const AttnView dkv = attn_view(a, m, 32, f[6], 7, "dk.data", s, s.Hkv);
  const AttnView dvv = attn_view(a, m, 36, f[7], 8, "dv.data", s, s.Hkv);
  SX_FLOAT(f[0].dt, attention_backward<T>(s, f[0].as<T>(), qv, f[1].as<T>(), kv, f[2].as<T>(),
                                          vv, f[3].as<T>(), f[4].as<T>(), dov, f[5].as<T>(), dqv,
                                          f[6].as<T>(), dkv, f[7].as<T>(), dvv));
  return nullptr;
}

napi_value k_lstm_cell(Args& a) {  // (gates, cPrev, B, H, h, c, act)
  const Floats<5> f(a, {0, 1, 4, 5, 6}, {"gates", "cPrev", "h", "c", "act"});
  const i64 B = a.integer(2, "B"), H = a.integer(3, "H");
  const i64 bh = mul(a, {B, H}), b4h = mul(a, {bh, 4});
  const i64 sizes[5] = {b4h, bh, bh, bh, b4h};
  const int idx[5] = {0, 1, 4, 5, 6};
  for (int k = 0; k < 5; ++k) a.need(f[k], sizes[k], idx[k], "array");
  SX_FLOAT(f[0].dt, lstm_cell<T>(f[0].as<T>(), f[1].as<T>(), B, H, f[2].as<T>(), f[3].as<T>(),
                                 f[4].as<T>()));
  return nullptr;
}

// (act, cPrev, c, dh, dc, B, H, dgates, dcPrev)
napi_value k_lstm_cell_backward(Args& a) {
  const Floats<7> f(a, {0, 1, 2, 3, 4, 7, 8}, {"act", "cPrev", "c", "dh", "dc", "dgates",
                                               "dcPrev"});
  const i64 B = a.integer(5, "B"), H = a.integer(6, "H");
  const i64 bh = mul(a, {B, H}), b4h = mul(a, {bh, 4});
  const i64 sizes[7] = {b4h, bh, bh, bh, bh, b4h, bh};
  const int idx[7] = {0, 1, 2, 3, 4, 7, 8};
  for (int k = 0; k < 7; ++k) a.need(f[k], sizes[k], idx[k], "array");
  SX_FLOAT(f[0].dt, lstm_cell_backward<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), f[3].as<T>(),
                                          f[4].as<T>(), B, H, f[5].as<T>(), f[6].as<T>()));
  return nullptr;
}

// (x, cos, sin, B, H, T, D, perBatch, inverse, out)
napi_value k_rope(Args& a) {
  const Floats<4> f(a, {0, 1, 2, 9}, {"x", "cos", "sin", "out"});
  const i64 B = a.integer(3, "B"), H = a.integer(4, "H"), Tn = a.integer(5, "T"),
            D = a.integer(6, "D");
  const bool perBatch = a.boolean(7, "perBatch"), inverse = a.boolean(8, "inverse");
  if (D % 2 != 0) a.fail(true, 6, "D", "must be even");
  const i64 n = mul(a, {B, H, Tn, D});
  const i64 angles = mul(a, {perBatch ? B : 1, Tn, D / 2});
  a.need(f[0], n, 0, "x");
  a.need(f[1], angles, 1, "cos");
  a.need(f[2], angles, 2, "sin");
  a.need(f[3], n, 9, "out");
  SX_FLOAT(f[0].dt, rope<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), B, H, Tn, D, perBatch,
                            inverse, f[3].as<T>()));
  return nullptr;
}

// (param, grad, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step)
napi_value k_adam_step(Args& a) {
  const Floats<4> f(a, {0, 1, 2, 3}, {"param", "grad", "m", "v"});
  const AdamHyper h{a.number(4, "lr"),          a.number(5, "beta1"),
                    a.number(6, "beta2"),       a.number(7, "eps"),
                    a.number(8, "weightDecay"), a.boolean(9, "decoupled"),
                    double(a.integer(10, "step", 1))};
  const i64 n = f[0].len;
  for (int k = 1; k < 4; ++k) a.need(f[k], n, k, "array");
  SX_FLOAT(f[0].dt, adam_step<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), f[3].as<T>(), n, h));
  return nullptr;
}

// (param, grad, buf, lr, momentum, dampening, nesterov, weightDecay, firstStep)
napi_value k_sgd_step(Args& a) {
  const Floats<3> f(a, {0, 1, 2}, {"param", "grad", "buf"});
  const SgdHyper h{a.number(3, "lr"),          a.number(4, "momentum"),
                   a.number(5, "dampening"),   a.number(7, "weightDecay"),
                   a.boolean(6, "nesterov"),   a.boolean(8, "firstStep")};
  const i64 n = f[0].len;
  a.need(f[1], n, 1, "grad");
  if (h.momentum != 0) a.need(f[2], n, 2, "buf");
  SX_FLOAT(f[0].dt, sgd_step<T>(f[0].as<T>(), f[1].as<T>(), f[2].as<T>(), n, h));
  return nullptr;
}

}  // namespace

void register_nn(napi_env env, napi_value exports) {
  SX_DEFINE("softmax", k_softmax);
  SX_DEFINE("softmaxBackward", k_softmax_backward);
  SX_DEFINE("crossEntropy", k_cross_entropy);
  SX_DEFINE("crossEntropyBackward", k_cross_entropy_backward);
  SX_DEFINE("layerNorm", k_layer_norm);
  SX_DEFINE("layerNormBackward", k_layer_norm_backward);
  SX_DEFINE("rmsNorm", k_rms_norm);
  SX_DEFINE("rmsNormBackward", k_rms_norm_backward);
  SX_DEFINE("attention", k_attention);
  SX_DEFINE("attentionBackward", k_attention_backward);
  SX_DEFINE("lstmCell", k_lstm_cell);
  SX_DEFINE("lstmCellBackward", k_lstm_cell_backward);
  SX_DEFINE("rope", k_rope);
  SX_DEFINE("adamStep", k_adam_step);
  SX_DEFINE("sgdStep", k_sgd_step);
}

}  // namespace sx
