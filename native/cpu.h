// Run-time instruction-set choice for the kernels compiled more than once (GEMM micro-kernel,
// exp-heavy row and elementwise kernels). The addon itself targets baseline x86-64.
#pragma once

namespace sx {

enum class Isa { generic, avx2, avx512 };

// The widest set this CPU and OS support, decided once. SEXTANT_ISA=generic|avx2 caps it, so
// the narrower code paths can be tested on a machine that has the wider ones.
Isa cpu_isa();
const char* isa_name(Isa isa);

}  // namespace sx

// Compiles the code between SX_TARGET_BEGIN(...) and SX_TARGET_END for another instruction set
// (GCC only; elsewhere only the generic versions exist and cpu_isa() says so).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SX_MULTI_ISA 1
#define SX_PRAGMA(x) _Pragma(#x)
#define SX_TARGET_BEGIN(features) SX_PRAGMA(GCC push_options) SX_PRAGMA(GCC target(features))
#define SX_TARGET_END SX_PRAGMA(GCC pop_options)
#endif

// Inside a function returning the call's result: runs the copy of CALL compiled for this CPU's
// instruction set, from the enclosing file's isa_avx512 / isa_avx2 / isa_generic namespaces.
#ifdef SX_MULTI_ISA
#define SX_DISPATCH(CALL)                      \
  switch (::sx::cpu_isa()) {                   \
    case ::sx::Isa::avx512: return isa_avx512::CALL; \
    case ::sx::Isa::avx2: return isa_avx2::CALL;     \
    default: return isa_generic::CALL;         \
  }
#else
#define SX_DISPATCH(CALL) return isa_generic::CALL;
#endif
