/**
 * The LSTM language model and the MLP: shapes and hook points, tied embeddings, carrying the
 * LSTM state across windows (truncated BPTT) equals one long run, gradients against finite
 * differences in float64, config errors naming the field.
 *
 * Dimension legend: B batch, T time, E embedding size, H hidden size, V vocabulary.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { concat, Generator, noGrad, randint, randn, slice, type Tensor } from '../src/index.js';
import {
  ConfigError,
  detachState,
  LSTMLM,
  MLP,
  resolveLSTMConfig,
  runWithCache,
} from '../src/models/index.js';
import { assertClose, describeEachBackend, gradcheck } from './helpers.js';

const F64 = { atol: 1e-12, rtol: 1e-10 };

describeEachBackend('LSTMLM', () => {
  test('shapes, per-layer hooks, state-dict names (untied)', () => {
    const model = new LSTMLM(
      { vocabSize: 11, dEmbed: 5, dHidden: 6, nLayers: 3 },
      { rng: new Generator(1) },
    );
    const ids = randint([2, 4], 0, 11, new Generator(2));
    const names = ['hook_embed', 'lstm.0.hook_out', 'lstm.2.hook_out'];
    const { output, cache } = noGrad(() => runWithCache(model, ids, names));
    assert.deepEqual(output.shape, [2, 4, 11]);
    assert.deepEqual(cache.get('hook_embed')?.shape, [2, 4, 5]);
    assert.deepEqual(cache.get('lstm.0.hook_out')?.shape, [2, 4, 6]);
    assert.deepEqual(
      [...model.stateDict().keys()],
      [
        'embed.weight',
        'lstm.0.weight_ih',
        'lstm.0.weight_hh',
        'lstm.0.bias_ih',
        'lstm.0.bias_hh',
        'lstm.1.weight_ih',
        'lstm.1.weight_hh',
        'lstm.1.bias_ih',
        'lstm.1.bias_hh',
        'lstm.2.weight_ih',
        'lstm.2.weight_hh',
        'lstm.2.bias_ih',
        'lstm.2.bias_hh',
        'head.weight',
        'head.bias',
      ],
    );
    assert.deepEqual(model.stateDict().get('lstm.1.weight_ih')?.shape, [24, 6]);
    const { total, embedding, nonEmbedding } = model.parameterCounts();
    assert.equal(embedding, 11 * 5 + 11 * 6);
    assert.equal(total - embedding, nonEmbedding);
  });

  test('tied: the head is the embedding (one tensor, counted once)', () => {
    const model = new LSTMLM(
      { vocabSize: 9, dHidden: 4, nLayers: 1, tiedEmbeddings: true },
      { rng: new Generator(3) },
    );
    assert.ok(!model.stateDict().has('head.weight'));
    const perLayer = 16 * 4 + 16 * 4 + 2 * 16;
    assert.equal(model.numParameters(), 9 * 4 + perLayer + 9);
    const ids = randint([1, 3], 0, 9, new Generator(0));
    model.call(ids).sum().backward();
    assert.ok(model.embed.weight.grad?.data.some((v) => v !== 0));
  });

  test('carrying the state across two windows equals one run over both', () => {
    const model = new LSTMLM(
      { vocabSize: 7, dHidden: 5, nLayers: 2, dtype: 'float64' },
      { rng: new Generator(4) },
    );
    const ids = randint([2, 6], 0, 7, new Generator(5));
    const whole = noGrad(() => model.call(ids)); // [2, 6, V]
    const first = noGrad(() => model.step(slice(ids, 1, 0, 2), null));
    const second = noGrad(() => model.step(slice(ids, 1, 2, 6), detachState(first.state)));
    const joined = concat([first.logits, second.logits], 1); // [2, 6, V]
    assertClose(joined.data, whole.data, F64, 'windows');
    assert.deepEqual(first.state.h[1].shape, [2, 5]);
  });

  test('float64 gradients of a 2-layer tied model match finite differences', () => {
    const model = new LSTMLM(
      { vocabSize: 5, dHidden: 3, nLayers: 2, tiedEmbeddings: true, dtype: 'float64' },
      { rng: new Generator(6) },
    );
    const ids = randint([2, 3], 0, 5, new Generator(7));
    gradcheck(() => model.call(ids), model.parameters(), { atol: 1e-8, rtol: 1e-6 });
  });
});

describe('LSTM config', () => {
  test('errors name the field', () => {
    assert.throws(
      () => resolveLSTMConfig({ vocabSize: 5, dHidden: 4, nLayers: 0 }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.field === 'nLayers' &&
        /positive integer, got 0/.test(e.message),
    );
    assert.throws(
      () =>
        resolveLSTMConfig({
          vocabSize: 5,
          dHidden: 4,
          nLayers: 1,
          dEmbed: 3,
          tiedEmbeddings: true,
        }),
      /tied embeddings need dEmbed = dHidden \(4\), got 3/,
    );
    assert.throws(
      () => resolveLSTMConfig({ vocabSize: 5, dHidden: 4, nLayers: 1, layers: 2 } as never),
      /unknown field 'layers'/,
    );
  });
});

describeEachBackend('MLP', () => {
  test('shapes and hooks; the last layer has no activation', () => {
    const model = new MLP({ sizes: [4, 8, 8, 3], activation: 'gelu' }, { rng: new Generator(1) });
    const x = randn([5, 4], new Generator(2));
    const names = [
      'layers.0.hook_pre',
      'layers.0.hook_post',
      'layers.2.hook_pre',
      'layers.2.hook_post',
    ];
    const { output, cache } = noGrad(() => runWithCache(model, x, names));
    assert.deepEqual(output.shape, [5, 3]);
    assert.deepEqual(cache.get('layers.0.hook_post')?.shape, [5, 8]);
    assert.equal(cache.get('layers.2.hook_post'), cache.get('layers.2.hook_pre'));
    assert.equal(cache.get('layers.2.hook_post'), output);
    const pre = cache.get('layers.0.hook_pre') as Tensor;
    const post = cache.get('layers.0.hook_post') as Tensor;
    assertClose(post.data, pre.gelu().data, { atol: 0, rtol: 0 }, 'gelu');
    assert.deepEqual(
      [...model.stateDict().keys()],
      [
        'layers.0.weight',
        'layers.0.bias',
        'layers.1.weight',
        'layers.1.bias',
        'layers.2.weight',
        'layers.2.bias',
      ],
    );
  });

  test('float64 gradients match finite differences (tanh)', () => {
    const model = new MLP(
      { sizes: [3, 4, 2], activation: 'tanh', dtype: 'float64' },
      { rng: new Generator(3) },
    );
    const x = randn([4, 3], new Generator(4), { dtype: 'float64', requiresGrad: true });
    gradcheck((input) => model.call(input), [x, ...model.parameters()]);
  });

  test('config errors name the field', () => {
    assert.throws(() => new MLP({ sizes: [3] }), /MLPConfig\.sizes: must be at least two/);
    assert.throws(
      () => new MLP({ sizes: [3, 2], activation: 'elu' as never }),
      (e: unknown) => e instanceof ConfigError && e.field === 'activation',
    );
  });
});
