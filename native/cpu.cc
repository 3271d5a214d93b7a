// Instruction-set detection (see cpu.h).
#include "cpu.h"

#include <cstdlib>
#include <cstring>

namespace sx {
namespace {

Isa detect() {
  Isa best = Isa::generic;
#ifdef SX_MULTI_ISA
  // __builtin_cpu_supports also checks that the OS saves the wider registers.
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::avx2;
  if (best == Isa::avx2 && __builtin_cpu_supports("avx512f")) best = Isa::avx512;
#endif
  const char* cap = std::getenv("SEXTANT_ISA");
  if (cap && std::strcmp(cap, "generic") == 0) best = Isa::generic;
  if (cap && std::strcmp(cap, "avx2") == 0 && best == Isa::avx512) best = Isa::avx2;
  return best;
}

}  // namespace

Isa cpu_isa() {
  static const Isa chosen = detect();
  return chosen;
}

const char* isa_name(Isa isa) {
  return isa == Isa::avx512 ? "avx512" : isa == Isa::avx2 ? "avx2" : "generic";
}

}  // namespace sx
