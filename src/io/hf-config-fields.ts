/**
 * The field-level machinery of `hf-config.ts`: the error class, the keys known to be harmless
 * or accepted at one value only, and `FieldReader`, which reads typed fields from a parsed
 * `config.json` and, at the end, refuses every key that nothing used.
 */

/** The model types sextant reads configs for. */
export type ModelType = 'gpt2' | 'llama' | 'vit';

/** A config file that sextant cannot use as it is; names the file and the field. */
export class HfConfigError extends Error {
  override name = 'HfConfigError';
  readonly file: string;
  readonly field: string | undefined;

  constructor(file: string, message: string, field?: string) {
    super(`config ${file}:${field === undefined ? '' : ` field '${field}':`} ${message}`);
    this.file = file;
    this.field = field;
  }
}

/** The activation a config asks for, as sextant computes it. */
export type Activation = 'gelu_tanh' | 'gelu' | 'relu' | 'silu';

/** Hugging Face activation names and what they compute. */
export const ACTIVATIONS: Readonly<Record<string, Activation>> = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu: 'gelu',
  relu: 'relu',
  silu: 'silu',
  swish: 'silu',
};

export interface TokenIds {
  readonly bosTokenId: number | null;
  /** One or more end-of-sequence ids (LLaMA 3 lists several). */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
}

/** Keys that never change what sextant computes, for every model type. */
const COMMON_HARMLESS = [
  // bookkeeping
  'architectures',
  'torch_dtype',
  'dtype',
  'transformers_version',
  '_name_or_path',
  'model_type',
  '_commit_hash',
  '_attn_implementation',
  'tokenizer_class',
  'prefix',
  'finetuning_task',
  'problem_type',
  'return_dict',
  'output_hidden_states',
  'output_attentions',
  'torchscript',
  'use_bfloat16',
  'tf_legacy_loss',
  'use_cache',
  'task_specific_params',
  'initializer_range',
  // token ids (kept in TokenIds for the language models)
  'bos_token_id',
  'eos_token_id',
  'pad_token_id',
  'sep_token_id',
  'decoder_start_token_id',
  // generation defaults: sextant's generate takes its own options
  'max_length',
  'min_length',
  'do_sample',
  'early_stopping',
  'num_beams',
  'num_beam_groups',
  'diversity_penalty',
  'temperature',
  'top_k',
  'top_p',
  'typical_p',
  'repetition_penalty',
  'length_penalty',
  'no_repeat_ngram_size',
  'encoder_no_repeat_ngram_size',
  'bad_words_ids',
  'num_return_sequences',
  'output_scores',
  'return_dict_in_generate',
  'forced_bos_token_id',
  'forced_eos_token_id',
  'remove_invalid_values',
  'exponential_decay_length_penalty',
  'suppress_tokens',
  'begin_suppress_tokens',
  // feed-forward chunking computes the same values in pieces
  'chunk_size_feed_forward',
];

/** Per model type: harmless keys beyond the common ones. */
export const HARMLESS_KEYS: Readonly<Record<ModelType, ReadonlySet<string>>> = {
  // n_ctx: legacy duplicate of n_positions; summary_*: the multiple-choice head of
  // GPT2DoubleHeadsModel; reorder_and_upcast_attn: float32 accumulation, which sextant always
  // does; id2label / label2id / num_labels: sequence-classification heads sextant does not build.
  gpt2: new Set([
    ...COMMON_HARMLESS,
    'n_ctx',
    'summary_type',
    'summary_use_proj',
    'summary_activation',
    'summary_proj_to_labels',
    'summary_first_dropout',
    'reorder_and_upcast_attn',
    'id2label',
    'label2id',
    'num_labels',
    'is_decoder',
  ]),
  llama: new Set([...COMMON_HARMLESS, 'id2label', 'label2id', 'num_labels', 'is_decoder']),
  // encoder_stride: the masked-image-modeling decoder of ViTForMaskedImageModeling.
  vit: new Set([...COMMON_HARMLESS, 'encoder_stride', 'label2id', 'num_labels']),
};

/** Keys accepted only at these values (JSON-compared), the only ones sextant implements. */
export const ONLY_VALUES: Readonly<Record<string, readonly unknown[]>> = {
  is_encoder_decoder: [false],
  add_cross_attention: [false],
  cross_attention_hidden_size: [null],
  tie_encoder_decoder: [false],
  pruned_heads: [{}],
  scale_attn_by_inverse_layer_idx: [false],
  // LLaMA's tensor-parallel pretraining emulation: sextant computes the unsplit layers.
  pretraining_tp: [1],
  pooler_act: ['tanh'],
  is_decoder: [false],
};

/** Reads typed fields from the JSON object, recording which keys were used. */
export class FieldReader {
  private readonly used = new Set<string>();

  constructor(
    readonly file: string,
    private readonly json: Record<string, unknown>,
  ) {}

  has(key: string): boolean {
    return Object.hasOwn(this.json, key);
  }

  /** The value as it is (undefined when absent), marking the key as used. */
  raw(key: string): unknown {
    this.used.add(key);
    return this.has(key) ? this.json[key] : undefined;
  }

  error(field: string, message: string): HfConfigError {
    return new HfConfigError(this.file, message, field);
  }

  check(ok: boolean, field: string, message: string): void {
    if (!ok) throw this.error(field, message);
  }

  /** An integer; required unless a default is given. */
  int(key: string, opts: { default?: number; min?: number } = {}): number {
    const v = this.raw(key);
    if (v === undefined && opts.default !== undefined) return opts.default;
    if (v === undefined) throw this.error(key, 'is required but missing');
    const min = opts.min ?? Number.MIN_SAFE_INTEGER;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
      throw this.error(key, `expected an integer >= ${min}, got ${show(v)}`);
    }
    return v;
  }

  /** An integer, or null when the file has null or nothing (the transformers `None`). */
  intOrNull(key: string, min: number): number | null {
    const v = this.raw(key);
    if (v === undefined || v === null) return null;
    return this.int(key, { min });
  }

  num(key: string, opts: { default: number; positive?: boolean }): number {
    const v = this.raw(key);
    if (v === undefined) return opts.default;
    if (typeof v !== 'number' || !Number.isFinite(v) || (opts.positive && v <= 0)) {
      throw this.error(key, `expected a ${opts.positive ? 'positive ' : ''}number, got ${show(v)}`);
    }
    return v;
  }

  /** A probability (dropout rates). */
  prob(key: string, defaultValue: number): number {
    const v = this.num(key, { default: defaultValue });
    this.check(v >= 0 && v <= 1, key, `expected a probability in [0, 1], got ${v}`);
    return v;
  }

  bool(key: string, defaultValue: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return defaultValue;
    if (typeof v !== 'boolean') throw this.error(key, `expected true or false, got ${show(v)}`);
    return v;
  }

  str(key: string, defaultValue: string): string {
    const v = this.raw(key);
    if (v === undefined) return defaultValue;
    if (typeof v !== 'string') throw this.error(key, `expected a string, got ${show(v)}`);
    return v;
  }

  activation(key: string, name: string): Activation {
    const a = ACTIVATIONS[name];
    if (!Object.hasOwn(ACTIVATIONS, name)) {
      throw this.error(
        key,
        `${show(name)} is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`,
      );
    }
    return a;
  }

  /** bos / eos / pad ids: an integer or null; eos may also be a list. */
  tokenIds(defaults: { bos: number; eos: number }): TokenIds {
    const id = (key: string, fallback: number | null): number | null => {
      const v = this.raw(key);
      if (v === undefined) return fallback;
      if (v === null) return null;
      return this.int(key, { min: 0 });
    };
    const eos = this.raw('eos_token_id');
    let eosTokenIds: number[];
    if (Array.isArray(eos)) {
      for (const e of eos) {
        this.check(
          Number.isSafeInteger(e) && e >= 0,
          'eos_token_id',
          `expected token ids, got ${show(eos)}`,
        );
      }
      eosTokenIds = [...eos];
    } else {
      const one = id('eos_token_id', defaults.eos);
      eosTokenIds = one === null ? [] : [one];
    }
    return {
      bosTokenId: id('bos_token_id', defaults.bos),
      eosTokenIds,
      padTokenId: id('pad_token_id', null),
    };
  }

  /** Every key not used must be harmless, or at a value sextant implements. */
  finish(modelType: ModelType): void {
    for (const [key, value] of Object.entries(this.json)) {
      if (this.used.has(key) || HARMLESS_KEYS[modelType].has(key)) continue;
      const only = ONLY_VALUES[key];
      if (only !== undefined) {
        if (only.some((o) => JSON.stringify(o) === JSON.stringify(value))) continue;
        throw this.error(
          key,
          `${show(value)} is not supported for ${modelType} (sextant implements only ` +
            `${only.map(show).join(' or ')})`,
        );
      }
      throw this.error(
        key,
        `${show(value)}: unknown key for ${modelType}; sextant does not implement it and ` +
          'will not ignore it (remove it if it does not change the model)',
      );
    }
  }
}

export function show(v: unknown): string {
  const text = JSON.stringify(v);
  if (text === undefined) return String(v);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
