/**
 * Optimiser tests, run on every available backend: single steps computed by hand, two-step Adam and
 * AdamW against the published update formulas evaluated in float64 here, state dicts that continue
 * a run identically, and gradient clipping against a hand-computed norm.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { availableBackends, setBackend } from '../src/backends/index.js';
import { Adam, AdamW, clipGradNorm, type Optimizer, SGD } from '../src/optim/index.js';
import type { GroupHypers } from '../src/optim/optimizer.js';
import { readFlops } from '../src/tensor/flops.js';
import { Tensor } from '../src/tensor/tensor.js';

type Float = 'float32' | 'float64';

function param(values: number[], dtype: Float = 'float64', name?: string): Tensor {
  const data = dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values);
  const t = new Tensor(data, [values.length], { requiresGrad: true });
  t.name = name;
  return t;
}

function setGrad(p: Tensor, values: number[]): void {
  p.grad = new Tensor(
    p.dtype === 'float32' ? Float32Array.from(values) : Float64Array.from(values),
    [values.length],
  );
}

/** Asserts |got - want| <= tol * max(1, |want|) element by element. */
function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: number,
  what = '',
): void {
  assert.equal(got.length, want.length, `${what} length`);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    assert.ok(
      err <= tol * Math.max(1, Math.abs(want[i])),
      `${what}[${i}]: got ${got[i]}, want ${want[i]} (error ${err}, tolerance ${tol})`,
    );
  }
}

/**
 * The Adam / AdamW update as published (Kingma and Ba, Algorithm 1; Loshchilov and Hutter,
 * Algorithm 2 with the learning rate multiplying the decay, as PyTorch), in float64.
 */
function adamReference(
  p0: number[],
  grads: number[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; decoupled: boolean },
): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((grad, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      let g = grad[i];
      if (o.decoupled) p[i] = p[i] - o.lr * o.wd * p[i];
      else g = g + o.wd * p[i];
      m[i] = o.b1 * m[i] + (1 - o.b1) * g;
      v[i] = o.b2 * v[i] + (1 - o.b2) * g * g;
      const mHat = m[i] / (1 - o.b1 ** t);
      const vHat = v[i] / (1 - o.b2 ** t);
      p[i] = p[i] - (o.lr * mHat) / (Math.sqrt(vHat) + o.eps);
    }
  });
  return p;
}

for (const backend of availableBackends()) {
  describe(`optimisers on the ${backend} backend`, () => {
    beforeEach(() => {
      setBackend(backend);
    });

    test('SGD without momentum: p - lr * g', () => {
      const p = param([1, 2, -3]);
      const opt = new SGD([p], { lr: 0.1 });
      setGrad(p, [0.5, -1, 0]);
      opt.step();
      assertClose(p.data, [0.95, 2.1, -3], 1e-15);
    });

    test('SGD weight decay adds wd * p to the gradient', () => {
      const p = param([2]);
      const opt = new SGD([p], { lr: 0.1, weightDecay: 0.1 });
      setGrad(p, [1]);
      opt.step();
      // g = 1 + 0.1 * 2 = 1.2; p = 2 - 0.1 * 1.2
      assertClose(p.data, [1.88], 1e-15);
    });

    test('SGD momentum: the first step sets the buffer, the second decays into it', () => {
      const p = param([1]);
      const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
      setGrad(p, [1]);
      opt.step();
      assertClose(p.data, [0.9], 1e-15, 'step 1'); // buf = 1
      setGrad(p, [2]);
      opt.step();
      assertClose(p.data, [0.61], 1e-15, 'step 2'); // buf = 0.9 * 1 + 2 = 2.9; p = 0.9 - 0.29
    });

    test('SGD dampening scales the new gradient after the first step', () => {
      const p = param([1]);
      const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5 });
      setGrad(p, [1]);
      opt.step();
      setGrad(p, [2]);
      opt.step();
      // buf = 1, then 0.9 * 1 + 0.5 * 2 = 1.9; p = 1 - 0.1 - 0.19
      assertClose(p.data, [0.71], 1e-15);
    });

    test('SGD Nesterov steps along g + momentum * buf', () => {
      const p = param([1, 1], 'float32');
      const opt = new SGD([p], { lr: 0.1, momentum: 0.9, nesterov: true });
      setGrad(p, [1, -1]);
      opt.step();
      // buf = 1; g' = 1 + 0.9 = 1.9; p = 1 - 0.19
      assertClose(p.data, [0.81, 1.19], 1e-6, 'step 1');
      setGrad(p, [2, -2]);
      opt.step();
      // buf = 0.9 + 2 = 2.9; g' = 2 + 0.9 * 2.9 = 4.61; p = 0.81 - 0.461
      assertClose(p.data, [0.349, 1.651], 1e-6, 'step 2');
    });

    test('Adam vs AdamW, first step by hand: the decay enters differently', () => {
      const a = param([1]);
      const w = param([1]);
      const adam = new Adam([a], { lr: 0.1, weightDecay: 0.1 });
      const adamw = new AdamW([w], { lr: 0.1, weightDecay: 0.1 });
      setGrad(a, [0.5]);
      setGrad(w, [0.5]);
      adam.step();
      adamw.step();
      // Adam: g = 0.5 + 0.1 * 1 = 0.6; at step 1 mHat = g and sqrt(vHat) = |g|, so
      // p = 1 - 0.1 * 0.6 / (0.6 + 1e-8).
      assertClose(a.data, [1 - (0.1 * 0.6) / (0.6 + 1e-8)], 1e-15, 'Adam');
      assert.ok(Math.abs(a.data[0] - 0.9) < 1e-8);
      // AdamW: p = 1 - 0.1 * 0.1 * 1 = 0.99; then 0.99 - 0.1 * 0.5 / (0.5 + 1e-8)
      assertClose(w.data, [0.99 - (0.1 * 0.5) / (0.5 + 1e-8)], 1e-15, 'AdamW');
      assert.ok(Math.abs(w.data[0] - 0.89) < 1e-8);
    });

    for (const dtype of ['float64', 'float32'] as const) {
      for (const decoupled of [false, true]) {
        const kind = decoupled ? 'AdamW' : 'Adam';
        test(`${kind} two steps with bias correction match the formulas (${dtype})`, () => {
          const p0 = [1, -2, 0.5, 3];
          const grads = [
            [0.5, -1, 0, 2],
            [-1, 0.25, 0.1, 2],
          ];
          const o = { lr: 0.01, b1: 0.8, b2: 0.99, eps: 1e-6, wd: 0.05, decoupled };
          const p = param(p0, dtype);
          const hypers = { lr: o.lr, betas: [o.b1, o.b2] as [number, number], eps: o.eps };
          const opt = decoupled
            ? new AdamW([p], { ...hypers, weightDecay: o.wd })
            : new Adam([p], { ...hypers, weightDecay: o.wd });
          for (const g of grads) {
            setGrad(p, g);
            opt.step();
          }
          const want = adamReference(p0, grads, o);
          // float64 agrees to rounding; float32 stores p, m and v rounded to 24 bits each step.
          assertClose(p.data, want, dtype === 'float64' ? 1e-14 : 2e-6, kind);
          // Adam moves each element by at most about lr per step, and these two steps move all.
          p.data.forEach((x, i) => {
            const moved = Math.abs(x - p0[i]);
            assert.ok(moved > 1e-4 && moved < 2.5 * o.lr, `element ${i} moved ${moved}`);
          });
        });
      }
    }

    test('FLOPs of a step count under the optimizer phase', () => {
      const p = param([1, 2, 3]);
      const opt = new Adam([p]);
      setGrad(p, [1, 1, 1]);
      const before = readFlops();
      opt.step();
      const after = readFlops();
      assert.equal(after.optimizer - before.optimizer, 13 * 3);
      assert.equal(after.forward, before.forward);
      assert.equal(after.backward, before.backward);
    });

    test('setLr and group.lr change later steps; zeroGrad clears; no grad, no update', () => {
      const p = param([1]);
      const q = param([5]);
      const opt = new SGD([p, q], { lr: 0.1 });
      setGrad(p, [1]);
      opt.step();
      opt.setLr(0.5);
      opt.step();
      assertClose(p.data, [0.4], 1e-15, 'after setLr'); // 1 - 0.1 - 0.5
      opt.paramGroups[0].lr = 0.25;
      opt.step();
      assertClose(p.data, [0.15], 1e-15, 'after group.lr');
      assert.equal(q.data[0], 5);
      opt.zeroGrad();
      assert.equal(p.grad, null);
      opt.step();
      assertClose(p.data, [0.15], 1e-15, 'no gradient, no step');
    });

    test('parameter groups take their own hyperparameters over the defaults', () => {
      const p = param([1]);
      const q = param([1]);
      const opt = new SGD([{ params: [p] }, { params: [q], lr: 1 }], { lr: 0.1 });
      setGrad(p, [1]);
      setGrad(q, [1]);
      opt.step();
      assertClose([p.data[0], q.data[0]], [0.9, 0], 1e-15);
    });

    const makers: [string, (ps: Tensor[]) => Optimizer<GroupHypers>][] = [
      ['SGD', (ps) => new SGD(ps, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 })],
      ['Adam', (ps) => new Adam(ps, { lr: 0.05, weightDecay: 0.01 })],
      ['AdamW', (ps) => new AdamW(ps, { lr: 0.05 })],
    ];
    for (const [kind, make] of makers) {
      test(`${kind}: a state dict saved after step 1 continues the run identically`, () => {
        const grads = [
          [0.3, -0.7, 1.1],
          [-0.2, 0.5, 0.9],
          [1.0, 0.1, -0.4],
        ];
        const straight = param([1, 2, 3], 'float32');
        const opt = make([straight]);
        setGrad(straight, grads[0]);
        opt.step();
        const saved = opt.stateDict();
        const savedParam = straight.clone();
        for (const g of grads.slice(1)) {
          setGrad(straight, g);
          opt.step();
        }
        const resumed = new Tensor(savedParam.data.slice(), [3], { requiresGrad: true });
        const opt2 = make([resumed]);
        opt2.loadStateDict(saved);
        for (const g of grads.slice(1)) {
          setGrad(resumed, g);
          opt2.step();
        }
        assert.deepEqual(Array.from(resumed.data), Array.from(straight.data));
        assert.notDeepEqual(Array.from(resumed.data), Array.from(savedParam.data));
      });
    }

    test('a loaded state dict restores hyperparameters; later steps leave it alone', () => {
      const p = param([1, 2]);
      const opt = new Adam([p], { lr: 0.5 });
      setGrad(p, [1, 1]);
      opt.step();
      const saved = opt.stateDict();
      const m = (saved.state[0].expAvg as Tensor).data.slice();
      assert.equal(saved.state[0].step, 1);
      assertClose(m, [0.1, 0.1], 1e-15, 'm after one step');
      opt.step();
      assert.deepEqual((saved.state[0].expAvg as Tensor).data, m);
      const other = new Adam([param([0, 0])], { lr: 0.001 });
      other.loadStateDict(saved);
      assert.equal(other.paramGroups[0].lr, 0.5);
      assert.equal(other.stateDict().state[0].step, 1);
    });

    test('loadStateDict names the parameter, the field and both shapes on mismatch', () => {
      const saved = new Adam([param([1]), param([1, 2])]);
      for (const p of saved.parameters()) setGrad(p, Array.from(p.data));
      saved.step();
      const dict = saved.stateDict();
      const target = new Adam([param([1]), param([1, 2, 3], 'float64', 'h.weight')]);
      assert.throws(
        () => target.loadStateDict(dict),
        new RegExp(
          "Adam\\.loadStateDict: parameter 1 \\('h\\.weight' float64\\[3\\]\\): " +
            "state field 'expAvg' has float64\\[2\\], expected float64\\[3\\]",
        ),
      );
      assert.equal(target.stateDict().state[0], undefined, 'nothing was loaded');
      assert.throws(
        () => new Adam([param([1])]).loadStateDict(dict),
        /group 0 has 2 parameters in the state dict, 1 here/,
      );
      assert.throws(
        () => new SGD([param([1]), param([1, 2])], { momentum: 0.9 }).loadStateDict(dict),
        /SGD\.loadStateDict: group 0 field 'momentum': expected a value like 0.9, got undefined/,
      );
    });

    test('constructors reject bad parameters and hyperparameters with the value', () => {
      const ip = new Tensor(new Int32Array(2), [2]);
      assert.throws(() => new SGD([ip]), /SGD: parameter 0 \(int32\[2\]\) is int32/);
      const p = param([1]);
      assert.throws(() => new SGD([p, p]), /appears twice \(positions 0 and 1\)/);
      assert.throws(
        () => new SGD([p], { nesterov: true }),
        /nesterov needs momentum > 0 and dampening 0, got momentum=0/,
      );
      assert.throws(
        () => new Adam([p], { betas: [0.9, 1] }),
        /Adam: group 0 field 'betas' must be two numbers in \[0, 1\), got \[0.9,1\]/,
      );
      assert.throws(() => new AdamW([p], { lr: -1 }), /AdamW: group 0 field 'lr' must be .*got -1/);
      assert.throws(() => new SGD([]), /SGD: got an empty parameter list/);
    });

    test('step refuses a gradient of the wrong shape, naming both', () => {
      const p = param([1, 2], 'float32', 'w');
      const opt = new SGD([p]);
      p.grad = new Tensor(new Float32Array(3), [3]);
      assert.throws(
        () => opt.step(),
        new RegExp(
          "SGD\\.step: parameter 0 \\('w' float32\\[2\\]\\) has gradient float32\\[3\\]; " +
            'expected float32\\[2\\]',
        ),
      );
    });

    test('clipGradNorm returns the norm and scales by maxNorm / (total + 1e-6)', () => {
      const a = param([3, 4], 'float32');
      const b = param([12]);
      const c = param([7]); // no gradient: skipped
      setGrad(a, [3, 4]);
      setGrad(b, [12]);
      const total = clipGradNorm([a, b, c, b], 6.5);
      assertClose([total], [13], 1e-15, 'total'); // sqrt(9 + 16 + 144)
      const scale = 6.5 / (13 + 1e-6);
      assertClose(a.grad?.data ?? [], [3 * scale, 4 * scale], 1e-7, 'a.grad');
      assertClose(b.grad?.data ?? [], [12 * scale], 1e-15, 'b.grad');
      assert.equal(c.grad, null);
      const again = clipGradNorm([a, b], 100);
      assertClose([again], [6.5], 1e-6, 'second total');
      assertClose(b.grad?.data ?? [], [12 * scale], 1e-15, 'below the limit: unchanged');
    });

    test('clipGradNorm with the infinity norm and its errors', () => {
      const a = param([0, 0]);
      setGrad(a, [-3, 2]);
      assert.equal(clipGradNorm([a], 1, Number.POSITIVE_INFINITY), 3);
      assertClose(a.grad?.data ?? [], [-3 / (3 + 1e-6), 2 / (3 + 1e-6)], 1e-15);
      assert.throws(() => clipGradNorm([a], 0), /clipGradNorm: maxNorm must be .*got 0/);
      assert.throws(() => clipGradNorm([a], 1, 1), /normType 1 is not supported yet/);
      setGrad(a, [Number.NaN, 1]);
      assert.throws(
        () => clipGradNorm([a], 1, 2, { errorIfNonfinite: true }),
        /the total norm of the gradients is NaN/,
      );
    });
  });
}
