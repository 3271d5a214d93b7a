// Matrix multiplication: OpenBLAS when the build found it, otherwise a built-in blocked GEMM.
#pragma once

#include "common.h"

namespace sx {

// C[M,N] = op(A) op(B) (+ C when accumulate), row-major. op(A) is M x K, stored K x M (leading
// dimension lda) when transA; op(B) is K x N, stored N x K when transB. Multithreaded through
// the pool (or OpenBLAS's own threads) unless called from inside a pool job.
template <typename T>
void gemm(bool transA, bool transB, i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B, i64 ldb,
          T* C, i64 ldc, bool accumulate);

// Always the built-in kernel on the calling thread: for callers that already parallelise over
// independent products (batched matmul, attention) and must not start nested threads.
template <typename T>
void gemm_serial(bool transA, bool transB, i64 M, i64 N, i64 K, const T* A, i64 lda, const T* B,
                 i64 ldb, T* C, i64 ldc, bool accumulate);

// Batched product as in the kernel table's MatmulArgs; offsets index a and b per batch.
template <typename T>
void matmul(const T* a, const T* b, T* out, i64 batch, i64 M, i64 N, i64 K, bool transA,
            bool transB, const i32* aOffsets, const i32* bOffsets, bool accumulate);

const char* blas_name();  // "openblas" or "builtin"
void blas_set_threads(int n);
// Which built-in micro-kernel runs on this CPU: "avx512", "avx2" or "generic" (for diagnostics).
const char* gemm_isa();

}  // namespace sx
