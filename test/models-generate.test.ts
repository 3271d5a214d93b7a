/**
 * Generation: with a KV cache it gives the tokens it gives without one (greedy, and sampled with
 * the same seed); a batch of prompts of different lengths gives what each prompt gives alone;
 * stop tokens end a row; the limits are checked before any work. Run on two models: the GPT-2
 * fixture (learned positions, per-row position ids when padded) and a rotary, grouped-query
 * configurable transformer (per-row rotary tables).
 *
 * Dimension legend: P prompts, T time, V vocabulary.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { Generator, noGrad, slice, type Tensor, tensor } from '../src/index.js';
import { type Gpt2Config, readHfConfig, SafetensorsFile } from '../src/io/index.js';
import {
  type CausalLM,
  ConfigurableTransformer,
  GPT2,
  generate,
  type TransformerLM,
} from '../src/models/index.js';
import { assertClose, describeEachBackend } from './helpers.js';

const dir = new URL('../../fixtures/models/gpt2-tiny/', import.meta.url).pathname;

function gpt2(): GPT2 {
  const config = readHfConfig(dir);
  assert.equal(config.modelType, 'gpt2');
  const model = new GPT2(config as Gpt2Config);
  const st = SafetensorsFile.open(join(dir, 'model.safetensors'));
  model.loadStateDict(new Map(st.names().map((n) => [n, st.read(n)])));
  st.close();
  return model.eval();
}

function rotary(): ConfigurableTransformer {
  const config = {
    vocabSize: 50,
    contextLength: 32,
    dModel: 16,
    nLayers: 2,
    nHeads: 4,
    nKvHeads: 2,
  };
  return new ConfigurableTransformer(config, { rng: new Generator(4), std: 0.3 }).eval();
}

const MODELS: [string, () => CausalLM][] = [
  ['GPT-2 fixture', gpt2],
  ['rotary GQA transformer', rotary],
];

const PROMPTS = [[3, 14, 15, 9, 2, 6], [5], [35, 8, 9]];

describeEachBackend('generate', () => {
  for (const [label, make] of MODELS) {
    describe(label, () => {
      test('greedy: cached equals uncached, for a batch of prompts of different lengths', () => {
        const model = make();
        const cached = generate(model, PROMPTS, { maxNewTokens: 8 });
        const uncached = generate(model, PROMPTS, { maxNewTokens: 8, useCache: false });
        assert.deepEqual(cached, uncached);
        assert.deepEqual(
          cached.tokens.map((t) => t.length),
          [8, 8, 8],
        );
        assert.deepEqual(cached.sequences[1].slice(0, 1), PROMPTS[1]);
      });

      test('sampled with the same seed: cached equals uncached; the seed decides', () => {
        const model = make();
        const sample = (seed: number, useCache: boolean) =>
          generate(model, PROMPTS, {
            maxNewTokens: 8,
            useCache,
            sample: { rng: new Generator(seed), temperature: 1.5, topK: 30, topP: 0.95 },
          }).tokens;
        const a = sample(11, true);
        assert.deepEqual(sample(11, false), a);
        assert.deepEqual(sample(11, true), a);
        assert.notDeepEqual(sample(12, true), a);
      });

      test('a batch of prompts of different lengths equals each prompt alone', () => {
        const model = make();
        const batch = generate(model, PROMPTS, { maxNewTokens: 6 });
        PROMPTS.forEach((prompt, b) => {
          const alone = generate(model, [prompt], { maxNewTokens: 6 });
          assert.deepEqual(batch.tokens[b], alone.tokens[0], `prompt ${b}`);
        });
        // And the logits: the padded batch's row 1 against prompt 1 run alone.
        const padded = tensor([[0, 0, 35, 8, 9]], { dtype: 'int32' });
        const positions = tensor([[0, 0, 0, 1, 2]], { dtype: 'int32' });
        const keyMask = tensor([[0, 0, 1, 1, 1]], { dtype: 'int32' });
        const inBatch = noGrad(() => model.call(padded, { positions, keyMask })); // [1, 5, V]
        const prompt = tensor([[35, 8, 9]], { dtype: 'int32' }); // [1, 3]
        const alone = noGrad(() => model.call(prompt)); // [1, 3, V]
        assertClose(slice(inBatch, 1, 2, 5).data, alone.data, { atol: 1e-5, rtol: 1e-5 }, 'logits');
      });

      test('the cache is used: after the prompt each step feeds one token', () => {
        const model = make() as TransformerLM;
        const lengths: number[] = [];
        const remove = model.hook_embed.registerForwardHook((_m, _i, out: Tensor) => {
          lengths.push(out.shape[1]);
          return undefined;
        });
        generate(model, PROMPTS, { maxNewTokens: 4 });
        remove();
        assert.deepEqual(lengths, [6, 1, 1, 1]);
      });
    });
  }

  test('stop tokens end their row (kept in its output); the others go on', () => {
    const model = gpt2();
    const free = generate(model, PROMPTS, { maxNewTokens: 5 });
    const stop = free.tokens[0][1];
    const stopped = generate(model, PROMPTS, { maxNewTokens: 5, stopTokens: [stop] });
    stopped.tokens.forEach((tokens, b) => {
      const at = free.tokens[b].indexOf(stop);
      const expected = at >= 0 ? free.tokens[b].slice(0, at + 1) : free.tokens[b];
      assert.deepEqual(tokens, expected, `row ${b}`);
      assert.equal(stopped.finishReasons[b], at >= 0 ? 'stop' : 'length');
    });
    assert.equal(stopped.finishReasons[0], 'stop');
  });
});

describe('generate: limits and modes', () => {
  test('too many positions for a learned table is an error before any work', () => {
    const model = gpt2();
    assert.throws(
      () => generate(model, PROMPTS, { maxNewTokens: 12 }),
      /the longest prompt \(6 tokens\) plus 12 new tokens needs 17 positions; the model has 16/,
    );
    assert.equal(generate(model, PROMPTS, { maxNewTokens: 11 }).tokens[0].length, 11);
  });

  test('bad prompts are errors naming the prompt', () => {
    const model = rotary();
    assert.throws(() => generate(model, [[1], []], { maxNewTokens: 1 }), /prompt 1 is empty/);
    assert.throws(() => generate(model, [[1, -2]], { maxNewTokens: 1 }), /prompt 0 has id -2/);
  });

  test("the model runs in eval mode and gets each module's mode back", () => {
    const model = rotary().train();
    model.blocks.at(1).eval();
    generate(model, [[1, 2]], { maxNewTokens: 2 });
    assert.equal(model.training, true);
    assert.equal(model.blocks.at(0).training, true);
    assert.equal(model.blocks.at(1).training, false);
  });
});
