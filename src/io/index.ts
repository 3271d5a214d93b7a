/**
 * sextant's io layer: checkpoints in safetensors (single files and shards), Hugging Face
 * `config.json` for GPT-2, LLaMA and ViT, and tokenizers (character-level, GPT-2 byte-level BPE,
 * SentencePiece-style BPE from `tokenizer.json`).
 */

export {
  type Activation,
  type Gpt2Config,
  HARMLESS_KEYS,
  type HfConfig,
  HfConfigError,
  hfConfigJson,
  type LlamaConfig,
  type ModelType,
  ONLY_VALUES,
  parseHfConfig,
  type RopeScaling,
  readHfConfig,
  type TokenIds,
  type VitConfig,
  writeHfConfig,
} from './hf-config.js';
export {
  type LoadPretrainedOptions,
  loadGPT2,
  loadLlama,
  loadPretrained,
  loadViT,
  type PretrainedModel,
  type SavePretrainedOptions,
  savePretrained,
} from './pretrained.js';
export {
  bf16ToF32,
  DTYPE_SIZE,
  f16ToF32,
  type HalfDType,
  MAX_HEADER_BYTES,
  type ParsedHeader,
  type SafetensorsDType,
  SafetensorsError,
  type TensorInfo,
  toBf16Bits,
  toF16Bits,
} from './safetensors.js';
export {
  type HalfTensor,
  HalfTensorStore,
  type ReadOptions,
  SafetensorsFile,
  type TensorSource,
  widenHalf,
} from './safetensors-read.js';
export {
  openSafetensors,
  SafetensorsShards,
  SHARD_INDEX_NAME,
  SINGLE_FILE_NAME,
} from './safetensors-shards.js';
export {
  atomicWrite,
  type FloatWriteDType,
  type SaveEntry,
  type SaveOptions,
  type ShardOptions,
  saveSafetensors,
  saveSafetensorsSharded,
  type WriteDType,
} from './safetensors-write.js';
export * from './tokenizers/index.js';
