/**
 * sextant's models: the shared transformer engine and the configurable transformer, GPT-2, LLaMA,
 * the Vision Transformer, the LSTM language model, the LSTM forecaster, the MLP, generation,
 * activation caching, and Hugging Face folders in and out.
 */
export { type CausalLM, type GenerateOptions, type GenerateResult, generate } from './generate.js';
export {
  GPT2,
  GPT2_SMALL,
  type GPT2Config,
  type GPT2Options,
  gpt2CheckpointName,
  gpt2Spec,
} from './gpt2.js';
export {
  Llama,
  type LlamaConfig,
  type LlamaOptions,
  llamaCheckpointName,
  llamaRotary,
  llamaSpec,
  llamaStateKey,
  resolveLlamaConfig,
} from './llama.js';
export {
  LSTMForecaster,
  type LSTMForecasterConfig,
  type ResolvedLSTMForecasterConfig,
  resolveLSTMForecasterConfig,
} from './lstm-forecaster.js';
export {
  detachState,
  type LSTMConfig,
  type LSTMInit,
  LSTMLayer,
  LSTMLM,
  type LSTMState,
  type ResolvedLSTMConfig,
  resolveLSTMConfig,
} from './lstm-lm.js';
export {
  DenseLayer,
  MLP,
  type MLPConfig,
  type ResolvedMLPConfig,
  resolveMLPConfig,
} from './mlp.js';
export {
  HookNameError,
  type RunWithCacheResult,
  runWithCache,
  summariseHookNames,
} from './run-with-cache.js';
export {
  ConfigError,
  ConfigurableTransformer,
  type LMForwardOptions,
  type ParameterCounts,
  type PositionKind,
  type ResolvedTransformerConfig,
  resolveTransformerConfig,
  type TransformerConfig,
  type TransformerInit,
  TransformerLM,
  type TransformerSpec,
  transformerSpec,
} from './transformer.js';
export {
  PatchEmbedding,
  resolveVitConfig,
  ViT,
  type ViTEncoding,
  type ViTOptions,
  type VitConfig,
  vitCheckpointName,
  vitStateKey,
} from './vit.js';
