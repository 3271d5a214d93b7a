/**
 * Hugging Face folders in and out (`io/pretrained.ts`): `loadPretrained` dispatching on
 * `model_type` for the GPT-2, LLaMA and ViT fixtures (see models-gpt2-fixture, models-llama and
 * models-vit tests for how they were made), sharded checkpoints, `savePretrained` followed by
 * loading giving identical outputs and the same config and tensor names as the HF files, weights
 * kept in 16 bits saved as they are, and the errors for folders that do not fit.
 *
 * Dimension legend: B batch, T time, V vocabulary, K labels.
 */
import assert from 'node:assert/strict';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { noGrad, type Tensor, zeros } from '../src/index.js';
import {
  type Gpt2Config,
  HfConfigError,
  loadGPT2,
  loadLlama,
  loadPretrained,
  loadViT,
  type PretrainedModel,
  readHfConfig,
  SafetensorsError,
  SafetensorsFile,
  SHARD_INDEX_NAME,
  savePretrained,
  saveSafetensors,
  saveSafetensorsSharded,
} from '../src/io/index.js';
import { GPT2, Llama, ViT } from '../src/models/index.js';
import { StateDictError } from '../src/nn/module.js';
import { NotSupportedError } from '../src/tensor/errors.js';
import { assertClose, describeEachBackend } from './helpers.js';

// dist/test/ at run time, so the repository root is two levels up.
const root = new URL('../../fixtures/models/', import.meta.url).pathname;
const FIXTURES = [
  'gpt2-tiny',
  'llama-tiny',
  'llama-tiny-linear',
  'llama-tiny-llama3',
  'vit-tiny',
  'vit-tiny-pooler',
] as const;

const tmp = mkdtempSync(join(tmpdir(), 'sextant-pretrained-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
let folders = 0;
/** A fresh empty folder under the test's temporary folder. */
function fresh(label: string): string {
  const dir = join(tmp, `${label}-${folders++}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** The fixture's input: token ids, or pixels. */
function inputOf(fixture: string): Tensor {
  const st = SafetensorsFile.open(join(root, fixture, 'expected.safetensors'));
  try {
    return st.has('ids') ? st.read('ids') : st.read('pixels');
  } finally {
    st.close();
  }
}

function expectedOf(fixture: string, name: string): Tensor {
  const st = SafetensorsFile.open(join(root, fixture, 'expected.safetensors'));
  try {
    return st.read(name, { dtype: 'float64' });
  } finally {
    st.close();
  }
}

function run(model: PretrainedModel, input: Tensor): Tensor {
  return noGrad(() => model.call(input));
}

/** Tensor names and shapes of a folder's checkpoint (single file or shards). */
function layout(dir: string): [string, readonly number[], string][] {
  const files = existsSync(join(dir, SHARD_INDEX_NAME))
    ? Object.values(
        JSON.parse(readFileSync(join(dir, SHARD_INDEX_NAME), 'utf8')).weight_map as object,
      )
    : ['model.safetensors'];
  const out: [string, readonly number[], string][] = [];
  for (const file of new Set(files as string[])) {
    const st = SafetensorsFile.open(join(dir, file));
    for (const n of st.names()) out.push([n, st.info(n).shape, st.info(n).dtype]);
    st.close();
  }
  return out.sort(([a], [b]) => (a < b ? -1 : 1));
}

describeEachBackend('loadPretrained dispatches on model_type', () => {
  test('each fixture folder loads into its model and gives PyTorch outputs', () => {
    const classes = { gpt2: GPT2, llama: Llama, vit: ViT } as const;
    for (const fixture of FIXTURES) {
      const model = loadPretrained(join(root, fixture));
      const type = readHfConfig(join(root, fixture)).modelType;
      assert.ok(model instanceof classes[type], `${fixture} is a ${model.constructor.name}`);
      assert.equal(model.training, false, 'returned in evaluation mode');
      const out = run(model, inputOf(fixture));
      if (fixture === 'vit-tiny-pooler') continue; // the sequence; pooled is checked elsewhere
      const tol = { atol: 1e-5, rtol: 1e-4 };
      assertClose(out.data, expectedOf(fixture, 'logits').data, tol, `${fixture} logits`);
    }
  });
});

describe('savePretrained then loadPretrained', () => {
  test('identical outputs; same config, tensor names and shapes as the HF folder', () => {
    for (const fixture of FIXTURES) {
      const model = loadPretrained(join(root, fixture));
      const dir = fresh(fixture);
      const files = savePretrained(model, dir);
      assert.deepEqual(files, ['model.safetensors', 'config.json']);
      const reloaded = loadPretrained(dir);
      const input = inputOf(fixture);
      assert.deepEqual([...run(reloaded, input).data], [...run(model, input).data], fixture);
      // The config reads back to the same hyper-parameters (HF spellings may differ: the
      // linear rope scaling is written as {type, factor}).
      assert.deepEqual(readHfConfig(dir), readHfConfig(join(root, fixture)), fixture);
      assert.deepEqual(layout(dir), layout(join(root, fixture)), fixture);
      const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      const fixtureJson = JSON.parse(readFileSync(join(root, fixture, 'config.json'), 'utf8'));
      assert.deepEqual(json.architectures, fixtureJson.architectures, fixture);
      assert.equal(json.torch_dtype, 'float32');
      assert.deepEqual(Object.keys(json), Object.keys(json).sort(), 'keys sorted');
    }
  });

  test('sharded: savePretrained with maxShardBytes, and shards written by io, load alike', () => {
    const model = loadLlama(join(root, 'llama-tiny'));
    const ids = inputOf('llama-tiny');
    const dir = fresh('llama-sharded');
    const files = savePretrained(model, dir, { maxShardBytes: 8000 });
    assert.ok(files.length > 3, `${files.length} files`);
    assert.ok(files.includes(SHARD_INDEX_NAME));
    assert.ok(!existsSync(join(dir, 'model.safetensors')));
    const reloaded = loadPretrained(dir);
    assert.deepEqual([...run(reloaded, ids).data], [...run(model, ids).data]);

    // Shards made from the fixture file by the io layer, the config copied.
    const byIo = fresh('gpt2-sharded');
    const st = SafetensorsFile.open(join(root, 'gpt2-tiny', 'model.safetensors'));
    const tensors = new Map(st.names().map((n) => [n, st.read(n)]));
    st.close();
    saveSafetensorsSharded(byIo, tensors, { maxShardBytes: 30000 });
    copyFileSync(join(root, 'gpt2-tiny', 'config.json'), join(byIo, 'config.json'));
    const gpt2 = loadPretrained(byIo);
    const gptIds = inputOf('gpt2-tiny');
    const reference = loadPretrained(join(root, 'gpt2-tiny'));
    assert.deepEqual([...run(gpt2, gptIds).data], [...run(reference, gptIds).data]);
  });

  test('savePretrained refuses to leave a checkpoint of the other form beside the new one', () => {
    const model = loadLlama(join(root, 'llama-tiny'));
    const dir = fresh('llama-forms');
    savePretrained(model, dir, { maxShardBytes: 8000 });
    assert.throws(
      () => savePretrained(model, dir),
      (e: unknown) => e instanceof NotSupportedError && e.message.includes(SHARD_INDEX_NAME),
    );
    const single = fresh('llama-single');
    savePretrained(model, single);
    assert.throws(
      () => savePretrained(model, single, { maxShardBytes: 8000 }),
      /model\.safetensors/,
    );
  });

  test('a GPT-2 built in code saves a config HF reads; a ViTModel saves as ViTModel', () => {
    const source = loadGPT2(join(root, 'gpt2-tiny'));
    const built = new GPT2(source.config as unknown as Gpt2Config);
    built.loadStateDict(source.stateDict());
    const dir = fresh('gpt2-built');
    savePretrained(built.eval(), dir);
    const config = readHfConfig(dir) as Gpt2Config;
    assert.equal(config.activationFunction, 'gelu_new');
    assert.deepEqual(config.eosTokenIds, [50256]);
    const ids = inputOf('gpt2-tiny');
    assert.deepEqual([...run(loadPretrained(dir), ids).data], [...run(source, ids).data]);

    const vit = loadViT(join(root, 'vit-tiny-pooler'));
    const vitDir = fresh('vit-model');
    savePretrained(vit, vitDir);
    const json = JSON.parse(readFileSync(join(vitDir, 'config.json'), 'utf8'));
    assert.deepEqual(json.architectures, ['ViTModel']);
    const reloaded = loadViT(vitDir);
    assert.ok(reloaded.pooler && !reloaded.classifier);
    const pixels = inputOf('vit-tiny-pooler');
    const a = noGrad(() => reloaded.encode(pixels).pooled);
    const b = noGrad(() => vit.encode(pixels).pooled);
    assert.deepEqual([...(a?.data ?? [])], [...(b?.data ?? [1])]);
  });

  test('a keepHalf LLaMA saves its 16-bit weights as they are, and loads back the same', () => {
    const f16 = fresh('llama-f16');
    const st = SafetensorsFile.open(join(root, 'llama-tiny-llama3', 'model.safetensors'));
    const tensors = new Map(st.names().map((n) => [n, st.read(n)]));
    st.close();
    saveSafetensors(join(f16, 'model.safetensors'), tensors, { dtype: 'F16' });
    copyFileSync(join(root, 'llama-tiny-llama3', 'config.json'), join(f16, 'config.json'));
    const half = loadLlama(f16, { keepHalf: true });
    const dir = fresh('llama-f16-saved');
    savePretrained(half, dir);
    const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.equal(json.torch_dtype, 'float16');
    const before = SafetensorsFile.open(join(f16, 'model.safetensors'));
    const saved = SafetensorsFile.open(join(dir, 'model.safetensors'));
    try {
      assert.deepEqual(saved.names().sort(), before.names().sort());
      let kept = 0;
      for (const name of before.names()) {
        if (saved.info(name).dtype === 'F16') {
          // A projection kept in 16 bits: its bits, unchanged.
          assert.deepEqual([...saved.readRaw(name)], [...before.readRaw(name)], name);
          kept++;
        } else {
          // Embedding, norms and biases were widened at load: F32, the same values.
          assert.equal(saved.info(name).dtype, 'F32', name);
          assert.deepEqual([...saved.read(name).data], [...before.read(name).data], name);
        }
      }
      assert.equal(kept, 14, 'q, k, v, o, gate, up, down of both layers (the head is tied)');
    } finally {
      before.close();
      saved.close();
    }
    const ids = inputOf('llama-tiny-llama3');
    const reloaded = loadPretrained(dir, { keepHalf: true });
    assert.deepEqual([...run(reloaded, ids).data], [...run(half, ids).data]);
    // Asked for F16, the other tensors are narrowed too (exactly: they were F16 on disk).
    const allF16 = fresh('llama-all-f16');
    savePretrained(half, allF16, { dtype: 'F16' });
    const narrowed = SafetensorsFile.open(join(allF16, 'model.safetensors'));
    assert.ok(narrowed.names().every((n) => narrowed.info(n).dtype === 'F16'));
    narrowed.close();
    assert.deepEqual([...run(loadPretrained(allF16), ids).data], [...run(half, ids).data]);
    assert.throws(
      () => savePretrained(half, fresh('llama-bf16'), { dtype: 'BF16' }),
      (e: unknown) => e instanceof NotSupportedError && /keeps weights in F16/.test(e.message),
    );
  });
});

describe('folders that do not fit', () => {
  test('a misfit checkpoint lists mis-shaped, missing and unexpected tensors at once', () => {
    const st = SafetensorsFile.open(join(root, 'llama-tiny', 'model.safetensors'));
    const tensors = new Map<string, Tensor>(st.names().map((n) => [n, st.read(n)]));
    st.close();
    tensors.delete('model.layers.1.mlp.up_proj.weight');
    tensors.delete('model.norm.weight');
    tensors.set('model.layers.0.self_attn.k_proj.weight', zeros([16, 16])); // MHA, not GQA
    tensors.set('model.layers.2.input_layernorm.weight', zeros([16]));
    tensors.set('model.layers.0.mlp.gate_proj.weight', zeros([40, 16], { dtype: 'int32' }));
    // What older transformers versions saved: skipped, not unexpected.
    tensors.set('model.layers.0.self_attn.rotary_emb.inv_freq', zeros([2]));
    const dir = fresh('llama-misfit');
    saveSafetensors(join(dir, 'model.safetensors'), tensors);
    copyFileSync(join(root, 'llama-tiny', 'config.json'), join(dir, 'config.json'));
    assert.throws(
      () => loadPretrained(dir),
      (e: unknown) => {
        assert.ok(e instanceof StateDictError);
        const m = e.message;
        assert.ok(m.startsWith(`${join(dir, 'model.safetensors')}: the checkpoint does not fit`));
        assert.match(
          m,
          /'model\.layers\.0\.self_attn\.k_proj\.weight': shape \[16, 16\], expected \[8, 16\]/,
        );
        assert.match(m, /'model\.layers\.0\.mlp\.gate_proj\.weight': dtype I32/);
        assert.match(m, /missing tensors: model\.layers\.1\.mlp\.up_proj\.weight, model\.norm/);
        assert.match(m, /unexpected tensors: model\.layers\.2\.input_layernorm\.weight$/);
        return true;
      },
    );
  });

  test('config errors name the file and the key; a wrong model type names both', () => {
    const dir = fresh('llama-config');
    copyFileSync(join(root, 'llama-tiny', 'model.safetensors'), join(dir, 'model.safetensors'));
    const json = JSON.parse(readFileSync(join(root, 'llama-tiny', 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...json, rope_type_extra: 1 }));
    assert.throws(
      () => loadPretrained(dir),
      (e: unknown) =>
        e instanceof HfConfigError &&
        e.field === 'rope_type_extra' &&
        e.file === join(dir, 'config.json'),
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...json, model_type: 'mistral' }));
    assert.throws(() => loadPretrained(dir), /model_type "mistral" is not supported/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(json));
    assert.throws(
      () => loadGPT2(dir),
      /config\.json: model_type is "llama", expected "gpt2" \(use loadPretrained/,
    );
    assert.throws(
      () => loadPretrained(join(root, 'vit-tiny'), { keepHalf: true }),
      /keepHalf is supported for LLaMA only, not vit/,
    );
  });

  test('a folder without config.json or without weights: an error naming what is missing', () => {
    const empty = fresh('empty');
    assert.throws(
      () => loadPretrained(empty),
      (e: unknown) => e instanceof HfConfigError,
    );
    copyFileSync(join(root, 'vit-tiny', 'config.json'), join(empty, 'config.json'));
    assert.throws(
      () => loadPretrained(empty),
      (e: unknown) =>
        e instanceof SafetensorsError && /neither model\.safetensors\.index\.json/.test(e.message),
    );
  });
});
