/**
 * The configurable transformer: its config is validated field by field and frozen; every
 * combination of the swappable parts (position encoding, norm and its placement, activation,
 * tied or untied embeddings) runs forward and backward; gradients of whole models match finite
 * differences in float64; state dicts round-trip and a mismatched one is reported in full.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { crossEntropy, Generator, noGrad, randint, type Tensor, tensor } from '../src/index.js';
import {
  ConfigError,
  ConfigurableTransformer,
  resolveTransformerConfig,
  type TransformerConfig,
} from '../src/models/index.js';
import { StateDictError } from '../src/nn/module.js';
import { describeEachBackend, gradcheck } from './helpers.js';

const TINY = { vocabSize: 7, contextLength: 8, dModel: 8, nLayers: 2, nHeads: 2 } as const;

function ids(B: number, T: number, seed: number, V: number = TINY.vocabSize): Tensor {
  return randint([B, T], 0, V, new Generator(seed)); // int32 [B, T]
}

function rejects(config: unknown, field: string, message: RegExp): void {
  assert.throws(
    () => resolveTransformerConfig(config as TransformerConfig),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.field, field);
      assert.match(e.message, message);
      return true;
    },
  );
}

describe('TransformerConfig', () => {
  test('defaults are the modern choices; the resolved config is frozen', () => {
    const c = resolveTransformerConfig({ ...TINY });
    assert.equal(c.position, 'rotary');
    assert.equal(c.norm, 'rmsnorm');
    assert.equal(c.placement, 'pre');
    assert.equal(c.activation, 'swiglu');
    assert.equal(c.tiedEmbeddings, true);
    assert.equal(c.finalNorm, true);
    assert.equal(c.dMlp, 32);
    assert.equal(c.nKvHeads, 2);
    assert.ok(Object.isFrozen(c));
    assert.throws(() => {
      (c as { dModel: number }).dModel = 16;
    }, TypeError);
    assert.equal(resolveTransformerConfig({ ...TINY, placement: 'post' }).finalNorm, false);
  });

  test('errors name the field, what it must be and what came', () => {
    rejects(
      { ...TINY, nHeads: 3 },
      'nHeads',
      /TransformerConfig\.nHeads: must be a divisor of dModel \(8\), got 3/,
    );
    rejects({ ...TINY, nHead: 2 }, 'nHead', /unknown field 'nHead'/);
    rejects(
      { ...TINY, activation: 'swish' },
      'activation',
      /one of "relu", "gelu", "swiglu", got "swish"/,
    );
    rejects({ ...TINY, dropout: 1 }, 'dropout', /in \[0, 1\), got 1/);
    rejects({ ...TINY, nKvHeads: 3 }, 'nKvHeads', /a divisor of nHeads \(2\), got 3/);
    rejects({ ...TINY, dModel: 0 }, 'dModel', /positive integer, got 0/);
    rejects({ ...TINY, dModel: 6, nHeads: 2 }, 'nHeads', /even head size for rotary/);
    rejects({ ...TINY, position: 'alibi' }, 'position', /got "alibi"/);
  });
});

const POSITIONS = ['sinusoidal', 'learned', 'rotary'] as const;
const NORMS = ['layernorm', 'rmsnorm'] as const;
const PLACEMENTS = ['pre', 'post'] as const;
const ACTIVATIONS = ['relu', 'gelu', 'swiglu'] as const;

describeEachBackend('ConfigurableTransformer', () => {
  test('every combination of parts runs forward and backward; every parameter gets a grad', () => {
    const x = ids(2, 5, 1);
    const targets = ids(2, 5, 2);
    let combos = 0;
    for (const position of POSITIONS) {
      for (const norm of NORMS) {
        for (const placement of PLACEMENTS) {
          for (const activation of ACTIVATIONS) {
            for (const tiedEmbeddings of [true, false]) {
              const config = { ...TINY, position, norm, placement, activation, tiedEmbeddings };
              const model = new ConfigurableTransformer(config, { rng: new Generator(combos) });
              const logits = model.call(x); // [B, T, V]
              assert.deepEqual(logits.shape, [2, 5, 7]);
              const loss = crossEntropy(logits, targets);
              assert.ok(Number.isFinite(loss.item()), JSON.stringify(config));
              loss.backward();
              for (const [name, p] of model.namedParameters()) {
                assert.ok(p.grad, `${name} got no gradient in ${JSON.stringify(config)}`);
              }
              combos++;
            }
          }
        }
      }
    }
    assert.equal(combos, 72);
  });

  for (const config of [
    { position: 'rotary', norm: 'rmsnorm', placement: 'pre', activation: 'swiglu', nKvHeads: 1 },
    {
      position: 'sinusoidal',
      norm: 'layernorm',
      placement: 'post',
      activation: 'gelu',
      tiedEmbeddings: false,
      bias: true,
      scaleEmbeddings: true,
    },
    { position: 'learned', norm: 'layernorm', placement: 'pre', activation: 'relu', bias: true },
  ] as const) {
    test(`float64 gradients match finite differences: ${JSON.stringify(config)}`, () => {
      const model = new ConfigurableTransformer(
        { ...TINY, vocabSize: 5, dMlp: 8, dtype: 'float64', ...config },
        { rng: new Generator(5), std: 0.4 },
      );
      const x = ids(2, 3, 3, 5);
      // Biases and gains start at 0 and 1; move them so no gradient term is hidden by symmetry.
      const rng = new Generator(8);
      for (const p of model.parameters()) {
        if (p.rank === 1) for (let i = 0; i < p.size; i++) p.data[i] += 0.3 * rng.normal();
      }
      gradcheck(() => model.call(x), model.parameters(), { atol: 1e-8, rtol: 1e-6 });
    });
  }

  test('dropout: seeded in training mode, off in eval mode', () => {
    const config = { ...TINY, dropout: 0.5 };
    const run = (seed: number, train: boolean) => {
      const model = new ConfigurableTransformer(config, {
        rng: new Generator(1),
        dropoutRng: new Generator(seed),
      });
      model.train(train);
      return [...noGrad(() => model.call(ids(1, 4, 0))).data];
    };
    assert.deepEqual(run(7, true), run(7, true));
    assert.notDeepEqual(run(7, true), run(8, true));
    assert.deepEqual(run(7, false), run(8, false));
  });
});

describe('ConfigurableTransformer checkpoints', () => {
  test('parameter counts: total, embedding, non-embedding', () => {
    const tied = new ConfigurableTransformer({ ...TINY });
    const C = 8;
    const perBlock = 2 * C + 3 * C * C + C * C + 3 * C * 4 * C;
    assert.deepEqual(tied.parameterCounts(), {
      total: 7 * C + 2 * perBlock + C,
      embedding: 7 * C,
      nonEmbedding: 2 * perBlock + C,
    });
    const untied = new ConfigurableTransformer({
      ...TINY,
      position: 'learned',
      tiedEmbeddings: false,
    });
    const counts = untied.parameterCounts();
    assert.equal(counts.embedding, 7 * C + 8 * C + 7 * C);
    assert.equal(counts.nonEmbedding, 2 * perBlock + C);
    assert.equal(untied.numNonEmbeddingParameters(), counts.nonEmbedding);
  });

  test('state dict -> fresh model: identical outputs', () => {
    const config = { ...TINY, position: 'learned', tiedEmbeddings: false } as const;
    const a = new ConfigurableTransformer(config, { rng: new Generator(3) });
    const b = new ConfigurableTransformer(config);
    b.loadStateDict(a.stateDict());
    const x = ids(2, 6, 4);
    assert.deepEqual([...noGrad(() => b.call(x)).data], [...noGrad(() => a.call(x)).data]);
    assert.ok(a.stateDict().has('blocks.1.attn.qkv.weight'));
  });

  test('loading a checkpoint of another shape lists every problem at once', () => {
    const small = new ConfigurableTransformer({ ...TINY, nLayers: 1, activation: 'gelu' });
    const big = new ConfigurableTransformer({ ...TINY, dMlp: 16 });
    assert.throws(
      () => big.loadStateDict(small.stateDict()),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        assert.match(
          e.message,
          /'blocks\.0\.mlp\.up\.weight': shape \[32, 8\], expected \[16, 8\]/,
        );
        assert.match(
          e.message,
          /missing keys: blocks\.0\.mlp\.gate\.weight, blocks\.1\.ln1\.weight/,
        );
        assert.doesNotMatch(e.message, /unexpected keys/);
        return true;
      },
    );
  });

  test('positions beyond the context length are an error naming the limit', () => {
    const model = new ConfigurableTransformer({ ...TINY, position: 'learned' });
    assert.throws(() => model.call(ids(1, 9, 0)), /position 8 is outside the model's 8 positions/);
    assert.throws(
      () => model.call(ids(1, 2, 0), { positions: tensor([[0, 1, 2]], { dtype: 'int32' }) }),
      /positions must be int32 \[2\] or \[1, 2\]/,
    );
  });
});
