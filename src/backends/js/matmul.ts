/** Reference batched matrix product: the textbook triple loop, accumulated in double precision. */
import type { MatmulArgs } from '../kernels.js';

export function matmul(args: MatmulArgs): void {
  const { a, b, out, batch, M, N, K, transA, transB, aOffsets, bOffsets, accumulate } = args;
  // Element (i, k) of op(A) and (k, j) of op(B), whichever way each is stored.
  const aRow = transA ? 1 : K;
  const aCol = transA ? M : 1;
  const bRow = transB ? 1 : N;
  const bCol = transB ? K : 1;
  for (let p = 0; p < batch; p++) {
    const ao = aOffsets[p];
    const bo = bOffsets[p];
    const oo = p * M * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a[ao + i * aRow + k * aCol] * b[bo + k * bRow + j * bCol];
        out[oo + i * N + j] = accumulate ? out[oo + i * N + j] + s : s;
      }
    }
  }
}
