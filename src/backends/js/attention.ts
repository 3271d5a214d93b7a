/** Reference scaled dot-product attention, forward and backward, one query row at a time. */
import type { AttentionArgs, AttentionBackwardArgs, AttentionView } from '../kernels.js';

function at(v: AttentionView, b: number, h: number, t: number): number {
  return v.offset + b * v.strideB + h * v.strideH + t * v.strideT;
}

/** Whether query `t` of batch `b` may attend to key `s`. */
function visible(args: AttentionArgs, b: number, t: number, s: number): boolean {
  if (args.causal && s > t + args.S - args.T) return false;
  return args.keyMask === null || args.keyMask[b * args.S + s] !== 0;
}

export function attention(args: AttentionArgs): void {
  const { q, k, v, out, probs, B, H, Hkv, T, S, D, scale } = args;
  const group = H / Hkv;
  const scores = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const qo = at(q, b, h, t);
        let max = -Infinity;
        for (let s = 0; s < S; s++) {
          if (!visible(args, b, t, s)) continue;
          const ko = at(k, b, hk, s);
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q.data[qo + d] * k.data[ko + d];
          scores[s] = dot * scale;
          max = Math.max(max, scores[s]);
        }
        let sum = 0;
        for (let s = 0; s < S; s++) {
          scores[s] = visible(args, b, t, s) ? Math.exp(scores[s] - max) : 0;
          sum += scores[s];
        }
        const po = ((b * H + h) * T + t) * S;
        const oo = at(out, b, h, t);
        for (let d = 0; d < D; d++) out.data[oo + d] = 0;
        for (let s = 0; s < S; s++) {
          const p = sum > 0 ? scores[s] / sum : 0;
          probs[po + s] = p;
          if (p === 0) continue;
          const vo = at(v, b, hk, s);
          for (let d = 0; d < D; d++) out.data[oo + d] += p * v.data[vo + d];
        }
      }
    }
  }
}

function zero(view: AttentionView, B: number, H: number, T: number, D: number): void {
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const o = at(view, b, h, t);
        for (let d = 0; d < D; d++) view.data[o + d] = 0;
      }
    }
  }
}

export function attentionBackward(args: AttentionBackwardArgs): void {
  const { q, k, v, probs, dout, dq, dk, dv, B, H, Hkv, T, S, D, scale } = args;
  const group = H / Hkv;
  zero(dq, B, H, T, D);
  zero(dk, B, Hkv, S, D);
  zero(dv, B, Hkv, S, D);
  const dp = new Float64Array(S);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const hk = Math.floor(h / group);
      for (let t = 0; t < T; t++) {
        const po = ((b * H + h) * T + t) * S;
        const go = at(dout, b, h, t);
        // dP = dOut . V, then the softmax backward: dScore = P * (dP - sum(P * dP)).
        let dot = 0;
        for (let s = 0; s < S; s++) {
          const vo = at(v, b, hk, s);
          let acc = 0;
          for (let d = 0; d < D; d++) acc += dout.data[go + d] * v.data[vo + d];
          dp[s] = acc;
          dot += probs[po + s] * acc;
        }
        const qo = at(q, b, h, t);
        const dqo = at(dq, b, h, t);
        for (let s = 0; s < S; s++) {
          const p = probs[po + s];
          if (p === 0) continue;
          const ds = p * (dp[s] - dot) * scale;
          const ko = at(k, b, hk, s);
          const dko = at(dk, b, hk, s);
          const dvo = at(dv, b, hk, s);
          for (let d = 0; d < D; d++) {
            dq.data[dqo + d] += ds * k.data[ko + d];
            dk.data[dko + d] += ds * q.data[qo + d];
            dv.data[dvo + d] += p * dout.data[go + d];
          }
        }
      }
    }
  }
}
