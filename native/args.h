// Argument unpacking for the bindings, on raw Node-API calls: node-addon-api's CallbackInfo heap-
// allocates for more than six arguments, and the engine calls kernels at a high rate. Every
// check throws ArgError, which the entry wrapper turns into a JS TypeError / RangeError, so the
// kernels only ever see arrays that cover the elements they touch.
#pragma once

#include <node_api.h>

#include <cmath>
#include <cstdint>
#include <new>
#include <initializer_list>
#include <string>

#include "common.h"
#include "kernels.h"

namespace sx {

struct ArgError {
  bool range;  // RangeError (sizes) rather than TypeError (types)
  std::string message;
};

enum class DT { f32, f64, i32 };

inline const char* dt_name(DT d) {
  return d == DT::f32 ? "Float32Array" : d == DT::f64 ? "Float64Array" : "Int32Array";
}

struct Arr {
  DT dt = DT::f32;
  void* data = nullptr;  // null for an allowed null argument
  i64 len = 0;
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

constexpr int kMaxArgs = 16;

struct Args {
  napi_env env;
  const char* fn;
  napi_value argv[kMaxArgs];
  size_t argc = kMaxArgs;

  [[noreturn]] void fail(bool range, int i, const char* name, const std::string& what) const {
    throw ArgError{range, std::string("sextant_native.") + fn + ": argument " +
                              std::to_string(i) + " (" + name + ") " + what};
  }

  bool is_null(int i) const {
    napi_valuetype t;
    napi_typeof(env, argv[i], &t);
    return t == napi_null || t == napi_undefined;
  }

  Arr array(int i, const char* name, bool allowInt = true, bool allowNull = false) const {
    Arr a;
    if (allowNull && is_null(i)) return a;
    napi_typedarray_type t = napi_int8_array;
    size_t len = 0;
    // Fails (napi_invalid_arg) for anything that is not a typed array: one call, not two.
    const bool ok = napi_get_typedarray_info(env, argv[i], &t, &len, &a.data, nullptr, nullptr) ==
                    napi_ok;
    if (ok && t == napi_float32_array) a.dt = DT::f32;
    else if (ok && t == napi_float64_array) a.dt = DT::f64;
    else if (ok && t == napi_int32_array && allowInt) a.dt = DT::i32;
    else
      fail(false, i, name,
           allowInt ? "must be a Float32Array, Float64Array or Int32Array"
                    : "must be a Float32Array or Float64Array");
    a.len = static_cast<i64>(len);
    return a;
  }
  Arr floats(int i, const char* name) const { return array(i, name, false); }
  Arr floats_or_null(int i, const char* name) const { return array(i, name, false, true); }
  Arr ints(int i, const char* name, bool allowNull = false) const {
    Arr a = array(i, name, true, allowNull);
    if (a.data && a.dt != DT::i32) fail(false, i, name, "must be an Int32Array");
    return a;
  }

  double number(int i, const char* name) const {
    double v;
    if (napi_get_value_double(env, argv[i], &v) != napi_ok)
      fail(false, i, name, "must be a number");
    return v;
  }
  // A whole number in [lo, 2^53].
  i64 integer(int i, const char* name, i64 lo = 0) const {
    const double v = number(i, name);
    if (!(v == std::trunc(v)) || v < double(lo) || v > 9007199254740992.0)
      fail(true, i, name, "must be an integer >= " + std::to_string(lo));
    return static_cast<i64>(v);
  }
  bool boolean(int i, const char* name) const {
    bool v;
    if (napi_get_value_bool(env, argv[i], &v) != napi_ok) fail(false, i, name, "must be a boolean");
    return v;
  }

  // Same element type as the reference array (all arrays of one call share a type).
  void same(const Arr& a, const Arr& ref, int i, const char* name) const {
    if (a.data && a.dt != ref.dt)
      fail(false, i, name, std::string("must be a ") + dt_name(ref.dt) + " like the other arrays");
  }
  void need(const Arr& a, i64 n, int i, const char* name) const {
    if (a.data && a.len < n)
      fail(true, i, name,
           "has " + std::to_string(a.len) + " elements, needs " + std::to_string(n));
  }
  // Every element offset in [lo, hi] must lie inside the array (nothing to check when empty).
  void covers(const Arr& a, bool touched, i64 lo, i64 hi, int i, const char* name) const {
    if (touched && (lo < 0 || hi >= a.len))
      fail(true, i, name,
           "is indexed at [" + std::to_string(lo) + ", " + std::to_string(hi) +
               "] but has " + std::to_string(a.len) + " elements");
  }
};

// Checked product of element counts (shapes come from JS and could be absurd).
inline i64 mul(const Args& a, std::initializer_list<i64> xs) {
  i64 p = 1;
  for (i64 x : xs)
    if (__builtin_mul_overflow(p, x, &p))
      throw ArgError{true, std::string(a.fn) + ": size overflow"};
  return p;
}

// Element-type dispatch: runs the statement with T bound to the array's element type.
#define SX_FLOAT(dt, ...)       \
  if ((dt) == DT::f32) {        \
    using T = float;            \
    __VA_ARGS__;                \
  } else {                      \
    using T = double;           \
    __VA_ARGS__;                \
  }
#define SX_ANY(dt, ...)                 \
  if ((dt) == DT::f32) {                \
    using T = float;                    \
    __VA_ARGS__;                        \
  } else if ((dt) == DT::f64) {         \
    using T = double;                   \
    __VA_ARGS__;                        \
  } else {                              \
    using T = i32;                      \
    __VA_ARGS__;                        \
  }

inline napi_value number(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

// Raw Node-API entry: unpacks up to kMaxArgs arguments and turns ArgError into a JS error.
template <napi_value (*F)(Args&)>
inline napi_value entry(napi_env env, napi_callback_info info, const char* name) {
  Args a;
  a.env = env;
  a.fn = name;
  napi_get_cb_info(env, info, &a.argc, a.argv, nullptr, nullptr);  // pads with undefined
  try {
    return F(a);
  } catch (const ArgError& e) {
    if (e.range) napi_throw_range_error(env, nullptr, e.message.c_str());
    else napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const std::bad_alloc&) {
    napi_throw_error(env, nullptr, (std::string(name) + ": out of memory").c_str());
  }
  return nullptr;
}

inline void define(napi_env env, napi_value exports, const char* name, napi_callback cb) {
  napi_value fn;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, nullptr, &fn);
  napi_set_named_property(env, exports, name, fn);
}

#define SX_DEFINE(NAME, FN)                                                          \
  define(env, exports, NAME, [](napi_env e, napi_callback_info i) -> napi_value { \
    return entry<FN>(e, i, NAME);                                                   \
  })

}  // namespace sx
