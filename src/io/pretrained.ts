/**
 * Hugging Face model folders in and out: `loadPretrained(dir)` reads `config.json` and the
 * weights (`model.safetensors`, or shards listed in `model.safetensors.index.json`) of a GPT-2,
 * LLaMA or ViT folder into the matching model, dispatching on `model_type`; `savePretrained`
 * writes `config.json` and `model.safetensors` (or shards) under the tensor names, shapes and
 * config keys transformers uses, so `from_pretrained` loads what sextant saves.
 *
 * Loading checks the whole checkpoint against the model before reading any tensor data: missing,
 * unexpected and mis-shaped tensors are listed at once, naming the file. Tensors are then read
 * one at a time straight into the model's parameters, so loading needs memory for the model
 * plus one tensor.
 *
 * `keepHalf` (LLaMA): projection matrices stored in F16 or BF16 stay in 16 bits in memory and are
 * widened as each layer runs (`nn/half-linear.ts`), so a model whose float32 weights exceed memory
 * still runs. LIMITATION: the token embedding, the norms and the biases are widened to float32
 * at load (a few percent of a LLaMA's weights); GPT-2 and ViT have no keepHalf.
 *
 * This file is where the models layer meets the io layer (safetensors, `config.json`).
 */
import fs from 'node:fs';
import path from 'node:path';
import { GPT2 } from '../models/gpt2.js';
import { Llama, llamaStateKey } from '../models/llama.js';
import { ViT, vitStateKey } from '../models/vit.js';
import type { HalfWeight } from '../nn/half-linear.js';
import { Linear } from '../nn/layers.js';
import { type Module, StateDictError } from '../nn/module.js';
import type { FloatDType } from '../tensor/dtype.js';
import { fmtShape, NotSupportedError } from '../tensor/errors.js';
import { sameShape } from '../tensor/shape.js';
import { Tensor } from '../tensor/tensor.js';
import {
  atomicWrite,
  bf16ToF32,
  f16ToF32,
  type Gpt2Config,
  type HalfTensor,
  HalfTensorStore,
  type HfConfig,
  hfConfigJson,
  type LlamaConfig,
  openSafetensors,
  readHfConfig,
  type SaveEntry,
  SHARD_INDEX_NAME,
  SINGLE_FILE_NAME,
  saveSafetensors,
  saveSafetensorsSharded,
  type TensorSource,
  type VitConfig,
} from './index.js';

/** The models a Hugging Face folder loads into. */
export type PretrainedModel = GPT2 | Llama | ViT;

export interface LoadPretrainedOptions {
  /** The model's float dtype; default 'float32'. */
  dtype?: FloatDType;
  /**
   * LLaMA only: keep F16 / BF16 projection weights in 16 bits, widened on use (float32 models
   * only). Tensors stored in F32 load as float32 either way. Default false.
   */
  keepHalf?: boolean;
}

/** The config each model was loaded with, for `savePretrained` (GPT-2 keeps only a subset). */
const loadedConfigs = new WeakMap<Module, HfConfig>();

/**
 * Loads a Hugging Face model folder: `config.json` decides the model (`model_type` gpt2, llama or
 * vit), the weights fill it. The model is returned in evaluation mode.
 *
 * @example
 * const model = loadPretrained('models/llama-tiny');
 * if (model instanceof Llama) generate(model, [[1, 2, 3]], { maxNewTokens: 8 });
 */
export function loadPretrained(dir: string, options: LoadPretrainedOptions = {}): PretrainedModel {
  const config = readHfConfig(dir);
  switch (config.modelType) {
    case 'gpt2':
      return loadGPT2(dir, options, config);
    case 'llama':
      return loadLlama(dir, options, config);
    case 'vit':
      return loadViT(dir, options, config);
  }
}

function expectType<T extends HfConfig>(dir: string, config: HfConfig, type: T['modelType']): T {
  if (config.modelType !== type) {
    throw new NotSupportedError(
      `${path.join(dir, 'config.json')}: model_type is "${config.modelType}", expected ` +
        `"${type}" (use loadPretrained to dispatch on model_type)`,
    );
  }
  return config as T;
}

function refuseKeepHalf(dir: string, options: LoadPretrainedOptions, model: string): void {
  if (options.keepHalf) {
    throw new NotSupportedError(
      `${dir}: keepHalf is supported for LLaMA only, not ${model}; load it without keepHalf`,
    );
  }
}

/** GPT-2 causal-mask buffers of older checkpoints (no learned values). */
const GPT2_MASK_BUFFER = /^h\.\d+\.attn\.(bias|masked_bias)$/;

/** Loads a GPT-2 folder (the names `GPT2.loadStateDict` accepts: see there). */
export function loadGPT2(
  dir: string,
  options: LoadPretrainedOptions = {},
  config: HfConfig = readHfConfig(dir),
): GPT2 {
  refuseKeepHalf(dir, options, 'gpt2');
  const c = expectType<Gpt2Config>(dir, config, 'gpt2');
  const model = new GPT2(c, { dtype: options.dtype });
  const key = (name: string): string | null => {
    const bare = name.startsWith('transformer.') ? name.slice('transformer.'.length) : name;
    if (GPT2_MASK_BUFFER.test(bare)) return null;
    if (bare === 'lm_head.weight' && c.tieWordEmbeddings) return null;
    return bare;
  };
  withSource(dir, (source) => loadWeights(model, source, key));
  loadedConfigs.set(model, c);
  return model.eval();
}

/**
 * Loads a LLaMA folder. With `keepHalf`, F16 / BF16 projection weights stay in 16 bits (see the
 * file comment).
 */
export function loadLlama(
  dir: string,
  options: LoadPretrainedOptions = {},
  config: HfConfig = readHfConfig(dir),
): Llama {
  const c = expectType<LlamaConfig>(dir, config, 'llama');
  if (options.keepHalf && options.dtype === 'float64') {
    throw new NotSupportedError(
      `${dir}: keepHalf widens 16-bit weights to float32; it cannot build a float64 model`,
    );
  }
  const model = new Llama(c, { dtype: options.dtype });
  const key = (name: string) => llamaStateKey(name, c.tieWordEmbeddings);
  withSource(dir, (source) => {
    let keep: ((name: string) => boolean) | undefined;
    if (options.keepHalf) {
      const projections = new Set<string>();
      for (const [p, m] of model.namedModules()) {
        if (m instanceof Linear) projections.add(model.checkpointName(`${p}.weight`));
      }
      keep = (name) => {
        const dtype = source.info(name).dtype;
        return projections.has(name) && (dtype === 'F16' || dtype === 'BF16');
      };
    }
    const store = loadWeights(model, source, key, keep);
    if (store.names().length > 0) {
      model.attachHalfWeights(new Map(store.names().map((n) => [n, halfWeight(store.get(n))])));
    }
  });
  loadedConfigs.set(model, c);
  return model.eval();
}

/**
 * Loads a ViT folder: `ViTForImageClassification` (with `classifier.*`) or `ViTModel`; the
 * classifier and the pooler are built when the checkpoint has them.
 */
export function loadViT(
  dir: string,
  options: LoadPretrainedOptions = {},
  config: HfConfig = readHfConfig(dir),
): ViT {
  refuseKeepHalf(dir, options, 'vit');
  const c = expectType<VitConfig>(dir, config, 'vit');
  return withSource(dir, (source) => {
    const classifier = source.has('classifier.weight');
    const pooler = source.has('vit.pooler.dense.weight') || source.has('pooler.dense.weight');
    const model = new ViT(c, { classifier, pooler, dtype: options.dtype });
    loadWeights(model, source, (name) => vitStateKey(name, model.prefix));
    loadedConfigs.set(model, c);
    return model.eval();
  });
}

function withSource<T>(dir: string, use: (source: TensorSource) => T): T {
  const source = openSafetensors(dir);
  try {
    return use(source);
  } finally {
    source.close();
  }
}

/** An io half tensor as `nn/half-linear.ts` uses it. */
function halfWeight(half: HalfTensor): HalfWeight {
  const widen = half.dtype === 'F16' ? f16ToF32 : bf16ToF32;
  return {
    dtype: half.dtype,
    shape: half.shape,
    data: half.data,
    byteLength: half.data.byteLength,
    widenInto: (out) => widen(half.data, out),
  };
}

/**
 * Checks every tensor of `source` against `model.stateDict()` (after `key`, which maps a
 * checkpoint name to a state-dict key or null to skip it) and throws a `StateDictError` listing
 * every mis-shaped, missing and unexpected tensor; then reads each tensor into its parameter,
 * except those `keep` selects, which are returned as 16-bit tensors in a store.
 */
function loadWeights(
  model: Module,
  source: TensorSource,
  key: (name: string) => string | null,
  keep?: (name: string) => boolean,
): HalfTensorStore {
  const own = model.stateDict();
  const found = new Map<string, string>(); // state-dict key -> checkpoint name
  const problems: string[] = [];
  const unexpected: string[] = [];
  for (const name of source.names()) {
    const k = key(name);
    if (k === null) continue;
    const target = own.get(k);
    if (target === undefined) {
      unexpected.push(name);
      continue;
    }
    const earlier = found.get(k);
    if (earlier !== undefined) {
      problems.push(`'${k}': given twice, as '${earlier}' and '${name}'`);
      continue;
    }
    found.set(k, name);
    const info = source.info(name);
    if (!sameShape(info.shape, target.shape)) {
      problems.push(`'${name}': shape ${fmtShape(info.shape)}, expected ${fmtShape(target.shape)}`);
    } else if (!(info.dtype.startsWith('F') || info.dtype === 'BF16')) {
      problems.push(`'${name}': dtype ${info.dtype}, expected a float dtype (F32, F16, BF16)`);
    }
  }
  const missing = [...own.keys()].filter((k) => !found.has(k));
  if (missing.length > 0) problems.push(`missing tensors: ${missing.join(', ')}`);
  if (unexpected.length > 0) problems.push(`unexpected tensors: ${unexpected.join(', ')}`);
  if (problems.length > 0) {
    throw new StateDictError(
      `${source.path}: the checkpoint does not fit ${model.constructor.name}:\n  ` +
        problems.join('\n  '),
    );
  }
  const halfNames = keep ? [...found.values()].filter(keep) : [];
  const store = HalfTensorStore.load(source, halfNames);
  for (const [k, name] of found) {
    if (store.has(name)) continue;
    const target = own.get(k) as Tensor;
    target.data.set(source.read(name, { dtype: target.dtype }).data);
  }
  return store;
}

// ---- Saving

export interface SavePretrainedOptions {
  /**
   * The stored float dtype; default F32 for float32 models, F64 for float64 ones. A model loaded
   * with keepHalf writes its 16-bit weights as they are, and its other tensors in this dtype
   * (default F32); asking for another dtype than the one its weights are kept in is an error.
   */
  dtype?: 'F32' | 'F16' | 'BF16' | 'F64';
  /** Shard the weights into files of at most this many bytes of tensor data, with an index. */
  maxShardBytes?: number;
  /** The config to write; default the one the model was loaded or built with. */
  config?: HfConfig;
}

const TORCH_DTYPES = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', F64: 'float64' };

const GPT2_ACTIVATION_NAMES = {
  gelu_tanh: 'gelu_new',
  gelu: 'gelu',
  relu: 'relu',
  silu: 'silu',
} as const;

/** The HF config of a GPT-2 built without one: its fields, token ids at GPT-2's 50256. */
function gpt2HfConfig(model: GPT2): Gpt2Config {
  const c = model.config;
  return {
    modelType: 'gpt2',
    vocabSize: c.vocabSize,
    nPositions: c.nPositions,
    nEmbd: c.nEmbd,
    nLayer: c.nLayer,
    nHead: c.nHead,
    nInner: c.nInner ?? 4 * c.nEmbd,
    activationFunction: GPT2_ACTIVATION_NAMES[c.activation],
    activation: c.activation,
    layerNormEpsilon: c.layerNormEpsilon,
    tieWordEmbeddings: c.tieWordEmbeddings,
    scaleAttnWeights: c.scaleAttnWeights,
    residPdrop: c.residPdrop,
    embdPdrop: c.embdPdrop,
    attnPdrop: c.attnPdrop,
    initializerRange: c.initializerRange,
    bosTokenId: 50256,
    eosTokenIds: [50256],
    padTokenId: null,
  };
}

function configOf(model: PretrainedModel): HfConfig {
  if (model instanceof GPT2) return loadedConfigs.get(model) ?? gpt2HfConfig(model);
  return model.config;
}

type FloatStoreType = 'F32' | 'F16' | 'BF16' | 'F64';

/** What goes into the safetensors file(s). */
interface Weights {
  entries: Map<string, SaveEntry>;
  /** The stored dtype of the float tensors (16-bit entries are written as they are). */
  dtype: FloatStoreType;
  /** The `torch_dtype` of config.json: the dtype of the bulk of the weights. */
  torchDtype: FloatStoreType;
}

/**
 * A keepHalf LLaMA writes its 16-bit weights as they are, without widening them all at once; its
 * other tensors (embedding, norms, biases) are written in F32 unless a 16-bit dtype is asked for,
 * so that saving never loses what loading read.
 */
function weightsOf(model: PretrainedModel, dir: string, wanted?: FloatStoreType): Weights {
  const floatDefault = model.parameters()[0]?.dtype === 'float64' ? 'F64' : 'F32';
  if (!(model instanceof Llama) || !model.halfWeights) {
    const dtype = wanted ?? floatDefault;
    return { entries: model.stateDict(), dtype, torchDtype: dtype };
  }
  const entries = new Map<string, SaveEntry>();
  const halfTypes = new Set<'F16' | 'BF16'>();
  for (const [name, entry] of model.checkpointEntries()) {
    if ('widenInto' in entry) {
      halfTypes.add(entry.dtype);
      entries.set(name, { dtype: entry.dtype, shape: entry.shape, data: entry.data });
    } else {
      entries.set(name, entry);
    }
  }
  const kept = [...halfTypes];
  if (wanted !== undefined && kept.some((t) => t !== wanted)) {
    throw new NotSupportedError(
      `savePretrained ${dir}: this model keeps weights in ${kept.join(' and ')} (keepHalf) and ` +
        `cannot store them as ${wanted} without widening them all at once; save as ` +
        `${kept.join(' or ')}, or load the model without keepHalf`,
    );
  }
  const torchDtype = kept.length === 1 ? kept[0] : 'F32';
  return { entries, dtype: wanted ?? 'F32', torchDtype };
}

const BYTES: Readonly<Record<FloatStoreType, number>> = { F64: 8, F32: 4, F16: 2, BF16: 2 };

/** Refuses to leave a checkpoint of the other form beside the new one (it would be read). */
function checkNoOtherForm(dir: string, sharded: boolean): void {
  const other = path.join(dir, sharded ? SINGLE_FILE_NAME : SHARD_INDEX_NAME);
  if (fs.existsSync(other)) {
    throw new NotSupportedError(
      `savePretrained ${dir}: the folder already holds ${path.basename(other)}, which would be ` +
        `loaded ${sharded ? 'instead of' : 'in preference to'} the new weights; save into an ` +
        'empty folder or remove it',
    );
  }
}

/**
 * Saves `model` as a Hugging Face folder: the weights (`model.safetensors`, or shards and
 * `model.safetensors.index.json` with `maxShardBytes`), each file written atomically, then
 * `config.json` (keys sorted, `architectures` and `torch_dtype` set to what was written).
 * Returns the files written.
 */
export function savePretrained(
  model: PretrainedModel,
  dir: string,
  options: SavePretrainedOptions = {},
): string[] {
  const config = options.config ?? configOf(model);
  if (config.modelType !== configOf(model).modelType) {
    throw new NotSupportedError(
      `savePretrained ${dir}: config.modelType "${config.modelType}" does not match the model ` +
        `(${model.constructor.name})`,
    );
  }
  const { entries, dtype, torchDtype } = weightsOf(model, dir, options.dtype);
  let bytes = 0;
  for (const e of entries.values()) {
    const n = e.shape.reduce((a, b) => a * b, 1);
    bytes += n * (e instanceof Tensor ? BYTES[dtype] : 2); // 16-bit entries stay 16-bit
  }
  const max = options.maxShardBytes;
  const sharded = max !== undefined && bytes > max && entries.size > 1;
  fs.mkdirSync(dir, { recursive: true });
  checkNoOtherForm(dir, sharded);
  const save = { metadata: { format: 'pt' }, dtype };
  let files: string[];
  if (max !== undefined) {
    files = saveSafetensorsSharded(dir, entries, { ...save, maxShardBytes: max });
  } else {
    saveSafetensors(path.join(dir, SINGLE_FILE_NAME), entries, save);
    files = [SINGLE_FILE_NAME];
  }
  const json = hfConfigJson(config);
  json.torch_dtype = TORCH_DTYPES[torchDtype];
  if (model instanceof ViT && !model.classifier) json.architectures = ['ViTModel'];
  const sorted = Object.fromEntries(Object.entries(json).sort(([a], [b]) => (a < b ? -1 : 1)));
  const text = `${JSON.stringify(sorted, null, 2)}\n`;
  atomicWrite(path.join(dir, 'config.json'), (fd) => fs.writeSync(fd, text));
  return [...files, 'config.json'];
}
