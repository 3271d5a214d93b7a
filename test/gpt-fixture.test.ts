/**
 * A two-layer GPT-2 written with sextant's ops, checked against PyTorch: the logits, the mean
 * cross-entropy loss, the gradient of every weight and every weight after one AdamW step must
 * match `fixtures/gpt-tiny/fixture.json`, which `fixtures/gpt-tiny/make_fixture.py` computed with
 * an independent torch.nn implementation (unfused attention, torch's own AdamW). Both the float32
 * and the float64 runs of the fixture are checked, on each backend.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary, H heads, D head size (C = H * D).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, type TestContext, test } from 'node:test';
import {
  add,
  arange,
  crossEntropy,
  embedding,
  type FloatDType,
  gelu,
  layerNorm,
  matmul,
  permute,
  reshape,
  scaledDotProductAttention,
  split,
  type Tensor,
  tensor,
} from '../src/index.js';
import { AdamW } from '../src/optim/index.js';
import { assertClose, describeEachBackend } from './helpers.js';

// ---- The fixture: arrays are {dtype, shape, base64 of little-endian bytes}, row-major.

interface EncodedArray {
  dtype: 'float32' | 'float64' | 'int32';
  shape: number[];
  base64: string;
}

interface FixtureVariant {
  /** Parameter names in torch's `named_parameters()` order (Hugging Face's GPT-2 names). */
  names: string[];
  weights: Record<string, EncodedArray>;
  logits: EncodedArray;
  loss: number;
  grads: Record<string, EncodedArray>;
  after_adamw: Record<string, EncodedArray>;
}

interface Fixture {
  torch_version: string;
  config: {
    vocab_size: number;
    block_size: number;
    n_layer: number;
    n_head: number;
    n_embd: number;
    layer_norm_eps: number;
    ignore_index: number;
    adamw: { lr: number; betas: [number, number]; eps: number; weight_decay: number };
  };
  idx: EncodedArray;
  targets: EncodedArray;
  variants: Record<FloatDType, FixtureVariant>;
}

// dist/test/ at run time, so the repository root is two levels up.
const fixturePath = new URL('../../fixtures/gpt-tiny/fixture.json', import.meta.url);
const fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as Fixture;
const cfg = fixture.config;

/** The values of an encoded array, read with an explicit byte order (not the host's). */
function decodeValues(a: EncodedArray): Float32Array | Float64Array | Int32Array {
  const bytes = Buffer.from(a.base64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = a.dtype === 'float64' ? 8 : 4;
  const n = bytes.byteLength / width;
  const expected = a.shape.reduce((p, d) => p * d, 1);
  if (n !== expected) {
    throw new Error(`fixture: array of shape [${a.shape}] holds ${n} values, expected ${expected}`);
  }
  if (a.dtype === 'float64') {
    return Float64Array.from({ length: n }, (_, i) => view.getFloat64(8 * i, true));
  }
  if (a.dtype === 'float32') {
    return Float32Array.from({ length: n }, (_, i) => view.getFloat32(4 * i, true));
  }
  return Int32Array.from({ length: n }, (_, i) => view.getInt32(4 * i, true));
}

function decode(a: EncodedArray, requiresGrad = false): Tensor {
  return tensor(decodeValues(a), { shape: a.shape, dtype: a.dtype, requiresGrad });
}

// ---- The model, functionally: weights by Hugging Face name; Conv1D weights are [in, out].

type Weights = Record<string, Tensor>;

/**
 * Hugging Face's Conv1D, GPT-2's dense layer: weight `[in, out]`, so `x @ W + b` (`linear`
 * expects PyTorch's `[out, in]`). `x` `[..., in]` gives `[..., out]`.
 */
function conv1d(w: Weights, name: string, x: Tensor): Tensor {
  return add(matmul(x, w[`${name}.weight`]), w[`${name}.bias`]);
}

/** Fused q, k, v projection, causal attention over H heads, output projection. */
function causalSelfAttention(w: Weights, prefix: string, x: Tensor): Tensor {
  const [B, T, C] = x.shape;
  const H = cfg.n_head;
  const D = C / H;
  const qkv = conv1d(w, `${prefix}.c_attn`, x); // [B, T, 3C]
  const heads = split(qkv, C, -1).map(
    (part) => permute(reshape(part, [B, T, H, D]), [0, 2, 1, 3]), // [B, H, T, D]
  );
  const [q, k, v] = heads; // 3 x [B, H, T, D]
  const { out } = scaledDotProductAttention(q, k, v, { causal: true }); // [B, H, T, D]
  const y = reshape(permute(out, [0, 2, 1, 3]), [B, T, C]); // [B, T, C]
  return conv1d(w, `${prefix}.c_proj`, y); // [B, T, C]
}

/** GPT-2's MLP: widen to 4C, tanh-approximated GELU, project back to C. */
function mlp(w: Weights, prefix: string, x: Tensor): Tensor {
  const hidden = conv1d(w, `${prefix}.c_fc`, x); // [B, T, 4C]
  const activated = gelu(hidden, 'tanh'); // [B, T, 4C]
  return conv1d(w, `${prefix}.c_proj`, activated); // [B, T, C]
}

/** Token ids `[B, T]` to next-token logits `[B, T, V]`; the LM head is tied to `wte`. */
function gptLogits(w: Weights, idx: Tensor): Tensor {
  const [, T] = idx.shape;
  const eps = cfg.layer_norm_eps;
  // Layer norm by module name; the result has its input's shape.
  const ln = (x: Tensor, name: string) => layerNorm(x, w[`${name}.weight`], w[`${name}.bias`], eps);
  const positions = arange(T, undefined, 1, { dtype: 'int32' }); // [T]
  const tokenEmbeddings = embedding(w['wte.weight'], idx); // [B, T, C]
  const positionEmbeddings = embedding(w['wpe.weight'], positions); // [T, C]
  let residualStream = add(tokenEmbeddings, positionEmbeddings); // [B, T, C]
  for (let i = 0; i < cfg.n_layer; i++) {
    // Pre-LN blocks: each sub-layer reads a normalised copy and adds its output to the stream.
    const attnIn = ln(residualStream, `h.${i}.ln_1`); // [B, T, C]
    const attended = causalSelfAttention(w, `h.${i}.attn`, attnIn); // [B, T, C]
    residualStream = add(residualStream, attended); // [B, T, C]
    const mlpIn = ln(residualStream, `h.${i}.ln_2`); // [B, T, C]
    const transformed = mlp(w, `h.${i}.mlp`, mlpIn); // [B, T, C]
    residualStream = add(residualStream, transformed); // [B, T, C]
  }
  const final = ln(residualStream, 'ln_f'); // [B, T, C]
  return matmul(final, w['wte.weight'], { transB: true }); // [B, T, V]
}

interface Run {
  params: Tensor[];
  weights: Weights;
  logits: Tensor;
  loss: Tensor;
}

/** Loads a variant's initial weights as fresh leaves and runs forward and backward. */
function forwardBackward(variant: FixtureVariant): Run {
  const weights: Weights = {};
  for (const name of variant.names) weights[name] = decode(variant.weights[name], true);
  const idx = decode(fixture.idx); // [B, T]
  const targets = decode(fixture.targets); // [B, T]
  const logits = gptLogits(weights, idx); // [B, T, V]
  const loss = crossEntropy(logits, targets, { ignoreIndex: cfg.ignore_index }); // []
  loss.backward();
  return { params: variant.names.map((n) => weights[n]), weights, logits, loss };
}

function newAdamW(params: Tensor[]): AdamW {
  const { lr, betas, eps, weight_decay } = cfg.adamw;
  return new AdamW(params, { lr, betas: [betas[0], betas[1]], eps, weightDecay: weight_decay });
}

function maxAbsError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  return worst;
}

interface Tol {
  atol: number;
  rtol: number;
}

/**
 * Two-sided tolerances, `|sextant - torch| <= atol + rtol * |torch|` elementwise.
 *
 * float32: the unit roundoff is 6e-8. PyTorch's own float32 run differs from its float64 run by at
 * most 5e-7 in the logits (|logit| <= 1.8), 1e-7 in any gradient (|grad| <= 0.37) and 7e-8 in any
 * stepped weight; sextant sums in other orders, so an error of the same size is expected and
 * the bounds leave about ten times that. The loss (2.83) is held to 3.8e-6, about 16 float32
 * ulps: one mean over 15 rows, enough room for summation order yet tight enough to see a
 * perturbation of 1e-3 in a single weight. The gradient bound, 1e-6 + 1e-4 relative, is under 1e-5
 * of the largest gradients and 10% of the smallest that are not zero in exact arithmetic, so a
 * wrong term in any backward (GELU form, LN statistics, a missing residual path) still fails.
 * AdamW's first step moves each weight by about lr * sign(grad) = 1e-2, so 1e-6 on the stepped
 * weights catches a wrong lr, decay or bias correction by orders of magnitude. (The betas cancel
 * out of a first step, m_hat = g and v_hat = g^2, so this fixture cannot test them.)
 *
 * float64: the unit roundoff is 1e-16; the forward and backward pass through ~30 ops, so 1e-10
 * leaves a wide margin over accumulated roundoff while any modelling difference shows at 1e-4.
 */
const TOLERANCES: Record<FloatDType, Record<'logits' | 'loss' | 'grads' | 'adamw', Tol>> = {
  float32: {
    logits: { atol: 1e-5, rtol: 1e-4 },
    loss: { atol: 1e-6, rtol: 1e-6 },
    grads: { atol: 1e-6, rtol: 1e-4 },
    adamw: { atol: 1e-6, rtol: 1e-5 },
  },
  float64: {
    logits: { atol: 1e-10, rtol: 1e-10 },
    loss: { atol: 1e-12, rtol: 1e-12 },
    grads: { atol: 1e-10, rtol: 1e-10 },
    adamw: { atol: 1e-10, rtol: 1e-10 },
  },
};

/**
 * Whether element `i` of weight `name` is in the key bias (`c_attn.bias[C:2C]`). Its gradient is
 * zero in exact arithmetic: adding one vector to every key adds the same number to all of a
 * query's scores, which softmax ignores. Both implementations therefore get roundoff noise there
 * (|grad| ~1e-9 in float32, ~1e-17 in float64), and AdamW's first step, lr * g / (|g| + eps)
 * with eps = 1e-8, amplifies the noise by lr / eps = 1e6: in float32 into a move anywhere in
 * [-lr, lr]. Those elements are held instead to the bound that the gradient check implies.
 */
function isKeyBias(name: string, i: number): boolean {
  const C = cfg.n_embd;
  return name.endsWith('.attn.c_attn.bias') && i >= C && i < 2 * C;
}

/** Checks stepped weights; key-bias elements only against the bound on their move. */
function checkStepped(
  name: string,
  actual: ArrayLike<number>,
  variant: FixtureVariant,
  dtype: FloatDType,
): number {
  const expected = decodeValues(variant.after_adamw[name]);
  const before = decodeValues(variant.weights[name]);
  const torchGrad = decodeValues(variant.grads[name]);
  const { lr, eps, weight_decay } = cfg.adamw;
  const tol = TOLERANCES[dtype].adamw;
  const kept: number[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (!isKeyBias(name, i)) {
      kept.push(i);
      continue;
    }
    // The gradient test holds |g| to |g_torch| + atol; the first step moves a weight past its
    // decay by lr * |g| / (|g| + eps), which is below lr * min(1, |g| / eps).
    const gradBound = Math.abs(torchGrad[i]) + TOLERANCES[dtype].grads.atol;
    const bound = lr * Math.min(1, gradBound / eps) * (1 + 1e-6);
    const move = Math.abs(actual[i] - before[i] * (1 - lr * weight_decay));
    assert.ok(move <= bound, `${name}[${i}] (key bias) moved ${move} past decay, bound ${bound}`);
  }
  const a = kept.map((i) => actual[i]);
  const e = kept.map((i) => expected[i]);
  assertClose(a, e, tol, `${name} after one AdamW step`);
  return maxAbsError(a, e);
}

/** Reports the largest error seen, so a run shows how much room each tolerance leaves. */
function report(t: TestContext, what: string, err: number, tol: Tol): void {
  t.diagnostic(
    `${what}: max abs error ${err.toExponential(2)} (atol ${tol.atol}, rtol ${tol.rtol})`,
  );
}

describeEachBackend('GPT-2 against a PyTorch fixture', (backend) => {
  for (const dtype of ['float32', 'float64'] as const) {
    describe(`${dtype} (torch ${fixture.torch_version})`, () => {
      const variant = fixture.variants[dtype];
      const tol = TOLERANCES[dtype];

      test('logits [B, T, V] match PyTorch', (t) => {
        const { logits } = forwardBackward(variant);
        const expected = decodeValues(variant.logits);
        assert.deepEqual([...logits.shape], variant.logits.shape);
        assert.equal(logits.dtype, dtype);
        assertClose(logits.data, expected, tol.logits, `logits [${backend}]`);
        report(t, 'logits', maxAbsError(logits.data, expected), tol.logits);
      });

      test('mean cross-entropy, skipping the ignore-index target, matches PyTorch', (t) => {
        const { loss } = forwardBackward(variant);
        assertClose([loss.item()], [variant.loss], tol.loss, `loss [${backend}]`);
        report(t, 'loss', Math.abs(loss.item() - variant.loss), tol.loss);
      });

      test('the gradient of every weight matches PyTorch', (t) => {
        const { weights } = forwardBackward(variant);
        let worst = 0;
        for (const name of variant.names) {
          const grad = weights[name].grad;
          assert.ok(grad, `${name} received no gradient`);
          const expected = decodeValues(variant.grads[name]);
          assertClose(grad.data, expected, tol.grads, `gradient of ${name} [${backend}]`);
          worst = Math.max(worst, maxAbsError(grad.data, expected));
        }
        report(t, 'gradients', worst, tol.grads);
      });

      test('every weight after one AdamW step on our gradients matches PyTorch', (t) => {
        const { params } = forwardBackward(variant);
        newAdamW(params).step();
        let worst = 0;
        variant.names.forEach((name, k) => {
          worst = Math.max(worst, checkStepped(name, params[k].data, variant, dtype));
        });
        report(t, 'stepped weights', worst, tol.adamw);
      });

      test("one AdamW step on PyTorch's own gradients matches torch.optim.AdamW", (t) => {
        // Isolates the optimiser: with identical gradients even the key bias must agree.
        const params = variant.names.map((name) => {
          const p = decode(variant.weights[name], true);
          p.grad = decode(variant.grads[name]);
          return p;
        });
        newAdamW(params).step();
        let worst = 0;
        variant.names.forEach((name, k) => {
          const expected = decodeValues(variant.after_adamw[name]);
          assertClose(params[k].data, expected, tol.adamw, `${name} after AdamW [${backend}]`);
          worst = Math.max(worst, maxAbsError(params[k].data, expected));
        });
        report(t, 'AdamW alone', worst, tol.adamw);
      });
    });
  }
});
