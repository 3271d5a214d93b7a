// GEMM dispatch: OpenBLAS (SEXTANT_HAVE_OPENBLAS) or the built-in kernel of gemm_kernel.inc,
// compiled once per instruction set (baseline x86-64, AVX2+FMA, AVX-512) and chosen at run time.
#include "gemm.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "cpu.h"
#include "threadpool.h"

#ifdef SEXTANT_HAVE_OPENBLAS
#include <cblas.h>
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace sx {
namespace {

// Tile sizes: 2 vectors wide, MR rows, so MR * 2 accumulators plus the operands fit in the
// register file (16 registers for SSE2/AVX2, 32 for AVX-512).
namespace isa_generic {
#define SX_VBYTES 16
#define SX_MR 6
#include "gemm_kernel.inc"
#undef SX_VBYTES
#undef SX_MR
}  // namespace isa_generic

#ifdef SX_MULTI_ISA
#define SX_HAVE_AVX2_KERNEL 1  // and the AVX-512 one
SX_TARGET_BEGIN("avx2,fma")
namespace isa_avx2 {
#define SX_VBYTES 32
#define SX_MR 6
#include "gemm_kernel.inc"
#undef SX_VBYTES
#undef SX_MR
}  // namespace isa_avx2
SX_TARGET_END
SX_TARGET_BEGIN("avx512f,avx2,fma")
namespace isa_avx512 {
#define SX_VBYTES 64
#define SX_MR 14
#include "gemm_kernel.inc"
#undef SX_VBYTES
#undef SX_MR
}  // namespace isa_avx512
SX_TARGET_END
#endif

Isa isa() { return cpu_isa(); }  // SEXTANT_ISA=generic|avx2 caps it (cpu.h)

// Per-thread packing buffers, large enough for every instruction set's blocking.
template <typename T>
struct Scratch {
  T* a = nullptr;
  T* b = nullptr;
  Scratch() {
    i64 as = isa_generic::Blocking<T>::A_SIZE, bs = isa_generic::Blocking<T>::B_SIZE;
#ifdef SX_HAVE_AVX2_KERNEL
    const i64 sizes[2][2] = {{isa_avx2::Blocking<T>::A_SIZE, isa_avx2::Blocking<T>::B_SIZE},
                             {isa_avx512::Blocking<T>::A_SIZE, isa_avx512::Blocking<T>::B_SIZE}};
    for (const auto& s : sizes) {
      if (s[0] > as) as = s[0];
      if (s[1] > bs) bs = s[1];
    }
#endif
    a = static_cast<T*>(std::aligned_alloc(64, ceil_div(as * sizeof(T), 64) * 64));
    b = static_cast<T*>(std::aligned_alloc(64, ceil_div(bs * sizeof(T), 64) * 64));
    if (!a || !b) throw std::bad_alloc();
  }
  ~Scratch() {
    std::free(a);
    std::free(b);
  }
};

template <typename T>
Scratch<T>& scratch() {
  thread_local Scratch<T> s;
  return s;
}

void blocked(bool ta, bool tb, i64 M, i64 N, i64 K, const float* A, i64 lda, const float* B,
             i64 ldb, float* C, i64 ldc, bool acc) {
  Scratch<float>& s = scratch<float>();
#ifdef SX_HAVE_AVX2_KERNEL
  if (isa() == Isa::avx512)
    return isa_avx512::gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, s.a, s.b);
  if (isa() == Isa::avx2)
    return isa_avx2::gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, s.a, s.b);
#endif
  isa_generic::gemm_f32(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, s.a, s.b);
}

void blocked(bool ta, bool tb, i64 M, i64 N, i64 K, const double* A, i64 lda, const double* B,
             i64 ldb, double* C, i64 ldc, bool acc) {
  Scratch<double>& s = scratch<double>();
#ifdef SX_HAVE_AVX2_KERNEL
  if (isa() == Isa::avx512)
    return isa_avx512::gemm_f64(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, s.a, s.b);
  if (isa() == Isa::avx2)
    return isa_avx2::gemm_f64(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, s.a, s.b);
#endif
  isa_generic::gemm_f64(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc, s.a, s.b);
}

// Register-tile rows and columns of the kernel in use: parallel splits fall on tile boundaries.
template <typename T>
void tile(i64* mr, i64* nr) {
#ifdef SX_HAVE_AVX2_KERNEL
  if (isa() == Isa::avx512) {
    *mr = isa_avx512::Tile<T>::MR;
    *nr = isa_avx512::Tile<T>::NR;
    return;
  }
  if (isa() == Isa::avx2) {
    *mr = isa_avx2::Tile<T>::MR;
    *nr = isa_avx2::Tile<T>::NR;
    return;
  }
#endif
  *mr = isa_generic::Tile<T>::MR;
  *nr = isa_generic::Tile<T>::NR;
}

// Products this small are dominated by packing and dispatch costs: plain loops win. Rows of
// op(B) are contiguous unless transB, so the untransposed case streams whole rows of C.
constexpr i64 kSmallGemm = 16 * 16 * 16;

template <typename T>
void small_gemm(bool ta, bool tb, i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B, i64 ldb,
                T* C, i64 ldc, bool acc) {
  for (i64 i = 0; i < M; ++i) {
    T* c = C + i * ldc;
    if (!tb) {
      if (!acc)
        for (i64 j = 0; j < N; ++j) c[j] = T(0);
      for (i64 p = 0; p < K; ++p) {
        const T a = ta ? A[p * lda + i] : A[i * lda + p];
        const T* b = B + p * ldb;
        for (i64 j = 0; j < N; ++j) c[j] += a * b[j];
      }
    } else {
      for (i64 j = 0; j < N; ++j) {
        const T* b = B + j * ldb;
        T s = T(0);
        for (i64 p = 0; p < K; ++p) s += (ta ? A[p * lda + i] : A[i * lda + p]) * b[p];
        c[j] = acc ? c[j] + s : s;
      }
    }
  }
}

template <typename T>
void zero_or_keep(i64 M, i64 N, T* C, i64 ldc, bool accumulate) {
  if (accumulate) return;  // K == 0: the product is empty, C + 0 = C
  for (i64 i = 0; i < M; ++i) std::memset(C + i * ldc, 0, sizeof(T) * N);
}

// Below this many multiply-adds a product runs on one thread.
constexpr i64 kGemmParallelWork = 48 * 48 * 48;

template <typename T>
void builtin_parallel(bool ta, bool tb, i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B,
                      i64 ldb, T* C, i64 ldc, bool acc) {
  const i64 work = M * N * K;
  const int threads = pool_threads();
  if (work < kGemmParallelWork || threads == 1 || pool_in_job()) {
    blocked(ta, tb, M, N, K, A, lda, B, ldb, C, ldc, acc);
    return;
  }
  // Split C into row blocks (or column blocks when it is short and wide); each block keeps the
  // full K loop, so every element is summed in the same order whatever the thread count.
  i64 mr, nr;
  tile<T>(&mr, &nr);
  if (M >= N || M >= 64) {
    const i64 unit = mr;
    const i64 units = ceil_div(M, unit);
    parallel_for(units, 1, [&](i64 u0, i64 u1) {
      const i64 i0 = u0 * unit, i1 = u1 * unit < M ? u1 * unit : M;
      const T* a = ta ? A + i0 : A + i0 * lda;
      blocked(ta, tb, i1 - i0, N, K, a, lda, B, ldb, C + i0 * ldc, ldc, acc);
    });
  } else {
    const i64 unit = nr;
    const i64 units = ceil_div(N, unit);
    parallel_for(units, 1, [&](i64 u0, i64 u1) {
      const i64 j0 = u0 * unit, j1 = u1 * unit < N ? u1 * unit : N;
      const T* b = tb ? B + j0 * ldb : B + j0;
      blocked(ta, tb, M, j1 - j0, K, A, lda, b, ldb, C + j0, ldc, acc);
    });
  }
}

#ifdef SEXTANT_HAVE_OPENBLAS
void blas_call(bool ta, bool tb, i64 M, i64 N, i64 K, const float* A, i64 lda, const float* B,
               i64 ldb, float* C, i64 ldc, bool acc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0f, A, lda, B, ldb, acc ? 1.0f : 0.0f, C, ldc);
}
void blas_call(bool ta, bool tb, i64 M, i64 N, i64 K, const double* A, i64 lda, const double* B,
               i64 ldb, double* C, i64 ldc, bool acc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0, A, lda, B, ldb, acc ? 1.0 : 0.0, C, ldc);
}
#endif

}  // namespace

template <typename T>
void gemm_serial(bool transA, bool transB, i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B,
                 i64 ldb, T* C, i64 ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return zero_or_keep(M, N, C, ldc, accumulate);
  if (M * N * K <= kSmallGemm)
    return small_gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
  blocked(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <typename T>
void gemm(bool transA, bool transB, i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B, i64 ldb,
          T* C, i64 ldc, bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) return zero_or_keep(M, N, C, ldc, accumulate);
  if (M * N * K <= kSmallGemm)
    return small_gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
#ifdef SEXTANT_HAVE_OPENBLAS
  // Inside a pool job OpenBLAS would start its own threads on top of ours. Skinny products (at
  // least 256 rows, and a short inner dimension or an output at most 256 wide over K <= 256) go
  // to the built-in kernel split over the pool: measured on a 2-core AVX-512 machine against
  // OpenBLAS 0.3.21, it is as fast on one thread and up to 1.8x faster on two for these shapes
  // (the projections of a small transformer), while OpenBLAS stays ahead on long K, on few-row
  // products and on small square ones.
  const bool skinny = M >= 256 && (K <= 64 || (N <= 256 && K <= 256));
  if (!pool_in_job() && !skinny) {
    blas_call(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
    return;
  }
#endif
  builtin_parallel(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate);
}

template <typename T>
void matmul(const T* a, const T* b, T* out, i64 batch, i64 M, i64 N, i64 K, bool transA,
            bool transB, const i32* aOffsets, const i32* bOffsets, bool accumulate) {
  const i64 lda = transA ? M : K, ldb = transB ? K : N;
  const i64 work = M * N * (K > 0 ? K : 1);
  if (batch > 1 && work < 128 * 128 * 128) {
    // Many small products: one thread per group of whole products beats splitting each one.
    const i64 grain = work >= kGemmParallelWork ? 1 : ceil_div(kGemmParallelWork, work);
    parallel_for(batch, grain, [&](i64 b0, i64 b1) {
      for (i64 i = b0; i < b1; ++i)
        gemm_serial(transA, transB, M, N, K, a + aOffsets[i], lda, b + bOffsets[i], ldb,
                    out + i * M * N, N, accumulate);
    });
    return;
  }
  for (i64 i = 0; i < batch; ++i)
    gemm(transA, transB, M, N, K, a + aOffsets[i], lda, b + bOffsets[i], ldb, out + i * M * N, N,
         accumulate);
}

const char* blas_name() {
#ifdef SEXTANT_HAVE_OPENBLAS
  return "openblas";
#else
  return "builtin";
#endif
}

void blas_set_threads(int n) {
#ifdef SEXTANT_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#else
  (void)n;
#endif
}

const char* gemm_isa() { return isa_name(isa()); }

template void gemm<float>(bool, bool, i64, i64, i64, const float*, i64, const float*, i64, float*,
                          i64, bool);
template void gemm<double>(bool, bool, i64, i64, i64, const double*, i64, const double*, i64,
                           double*, i64, bool);
template void gemm_serial<float>(bool, bool, i64, i64, i64, const float*, i64, const float*, i64,
                                 float*, i64, bool);
template void gemm_serial<double>(bool, bool, i64, i64, i64, const double*, i64, const double*,
                                  i64, double*, i64, bool);
template void matmul<float>(const float*, const float*, float*, i64, i64, i64, i64, bool, bool,
                            const i32*, const i32*, bool);
template void matmul<double>(const double*, const double*, double*, i64, i64, i64, i64, bool, bool,
                             const i32*, const i32*, bool);

}  // namespace sx
