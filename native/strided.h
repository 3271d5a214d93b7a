// Iteration over strided views (copy, binary, compare, where). Dimensions of size 1 are dropped
// and neighbours that are contiguous in every operand are merged, so the common cases (dense
// operands, a broadcast scalar or row) become one long inner loop.
#pragma once

#include "common.h"
#include "kernels.h"
#include "threadpool.h"

namespace sx {

template <int NOps>
struct StridedPlan {
  int rank = 0;  // after coalescing; >= 1 unless total == 0
  i64 total = 0;
  i64 shape[kMaxRank];
  i64 stride[NOps][kMaxRank];
  i64 offset[NOps];
};

// strides[k] == nullptr: operand k is dense row-major over `shape`.
template <int NOps>
void make_plan(StridedPlan<NOps>& p, const i32* shape, int rank, const i32* const* strides,
               const i64* offsets) {
  i64 dense = 1;
  i64 total = 1;
  i64 tmpStride[NOps][kMaxRank];
  for (int d = rank - 1; d >= 0; --d) {
    for (int k = 0; k < NOps; ++k) tmpStride[k][d] = strides[k] ? strides[k][d] : dense;
    dense *= shape[d];
    total *= shape[d];
  }
  for (int k = 0; k < NOps; ++k) p.offset[k] = offsets[k];
  p.total = total;
  p.rank = 0;
  if (total == 0) return;
  // Walk from the innermost dimension outwards, merging into the current outermost kept dim.
  i64 sh[kMaxRank], st[NOps][kMaxRank];
  int r = 0;
  for (int d = rank - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (r > 0) {
      bool merge = true;
      for (int k = 0; k < NOps; ++k)
        if (tmpStride[k][d] != st[k][r - 1] * sh[r - 1]) merge = false;
      if (merge) {
        sh[r - 1] *= shape[d];
        continue;
      }
    }
    sh[r] = shape[d];
    for (int k = 0; k < NOps; ++k) st[k][r] = tmpStride[k][d];
    ++r;
  }
  if (r == 0) {  // a single element
    sh[0] = 1;
    for (int k = 0; k < NOps; ++k) st[k][0] = 1;
    r = 1;
  }
  p.rank = r;
  for (int d = 0; d < r; ++d) {  // back to outermost-first order
    p.shape[d] = sh[r - 1 - d];
    for (int k = 0; k < NOps; ++k) p.stride[k][d] = st[k][r - 1 - d];
  }
}

// Calls row(off, n, inner) for runs along the innermost dimension: off[k] is operand k's element
// offset at the run start, inner[k] its stride along the run. Parallel over the flat index.
template <int NOps, typename Row>
void run_plan(const StridedPlan<NOps>& p, i64 grain, const Row& row) {
  if (p.total == 0) return;
  const int r = p.rank;
  const i64 L = p.shape[r - 1];
  i64 inner[NOps];
  for (int k = 0; k < NOps; ++k) inner[k] = p.stride[k][r - 1];
  parallel_for(p.total, grain, [&](i64 e0, i64 e1) {
    i64 idx[kMaxRank];
    i64 rowIndex = e0 / L;
    i64 col = e0 % L;
    i64 base[NOps];
    for (int k = 0; k < NOps; ++k) base[k] = p.offset[k];
    for (int d = r - 2; d >= 0; --d) {
      idx[d] = rowIndex % p.shape[d];
      rowIndex /= p.shape[d];
      for (int k = 0; k < NOps; ++k) base[k] += idx[d] * p.stride[k][d];
    }
    i64 e = e0;
    while (e < e1) {
      const i64 n = (L - col < e1 - e) ? L - col : e1 - e;
      i64 off[NOps];
      for (int k = 0; k < NOps; ++k) off[k] = base[k] + col * inner[k];
      row(off, n, inner);
      e += n;
      col = 0;
      for (int d = r - 2; d >= 0; --d) {  // odometer step to the next row
        for (int k = 0; k < NOps; ++k) base[k] += p.stride[k][d];
        if (++idx[d] < p.shape[d]) break;
        for (int k = 0; k < NOps; ++k) base[k] -= p.shape[d] * p.stride[k][d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace sx
