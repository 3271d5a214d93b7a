/**
 * The benchmark's reference models written with sextant's ops, in the fastest formulation the
 * engine offers today: one fused q/k/v projection, `linear` (transposed weight read in place),
 * the fused causal attention read straight from the packed projection (`packedSelfAttention`),
 * fused `layerNorm`, `gelu` and `crossEntropy`, and the `lstm` op (input projection of all time
 * steps in one GEMM). bench/peer.py holds the same models in PyTorch; parameter shapes and counts
 * agree one for one. bench/step.ts runs each step in a tensorScope, so memory is reused across
 * steps, as the trainer does.
 *
 * Dimension legend: B batch, T time, C channels, V vocabulary, H heads, D head size (C = H * D),
 * E embedding size, Hd LSTM hidden size.
 */
import {
  add,
  crossEntropy,
  embedding,
  type Generator,
  gelu,
  layerNorm,
  linear,
  lstm,
  ones,
  packedSelfAttention,
  randn,
  slice,
  type Tensor,
  zeros,
} from '../src/index.js';
import type { GptConfig, LstmConfig, ModelConfig } from './config.js';

/** What the step loop needs from a model: its parameters and the loss of one batch. */
export interface BenchModel {
  /** Every trainable tensor, each once (tied weights appear once). */
  readonly parameters: Tensor[];
  /** Mean next-token cross-entropy of token ids `idx` `[B, T]` against `targets` `[B, T]`. */
  loss(idx: Tensor, targets: Tensor): Tensor;
}

/** A dense layer in PyTorch's layout: weight `[out, in]`, bias `[out]`. */
interface Dense {
  weight: Tensor;
  bias: Tensor;
}

interface Norm {
  weight: Tensor;
  bias: Tensor;
}

/** Trainable parameters drawn from N(0, std^2), collected into `into`. */
function normal(shape: number[], std: number, rng: Generator, into: Tensor[]): Tensor {
  const t = randn(shape, rng, { std, requiresGrad: true });
  into.push(t);
  return t;
}

function dense(inF: number, outF: number, rng: Generator, into: Tensor[]): Dense {
  const weight = normal([outF, inF], 0.02, rng, into);
  const bias = zeros([outF], { requiresGrad: true });
  into.push(bias);
  return { weight, bias };
}

function norm(C: number, into: Tensor[]): Norm {
  const weight = ones([C], { requiresGrad: true });
  const bias = zeros([C], { requiresGrad: true });
  into.push(weight, bias);
  return { weight, bias };
}

// ---- GPT-2

interface GptBlock {
  ln1: Norm;
  /** q, k and v in one `[3C, C]` weight. */
  qkv: Dense;
  attnProj: Dense;
  ln2: Norm;
  fc: Dense;
  mlpProj: Dense;
}

/** Causal self-attention over H heads: one fused q/k/v projection, fused attention. */
function selfAttention(block: GptBlock, H: number, x: Tensor): Tensor {
  const qkv = linear(x, block.qkv.weight, block.qkv.bias); // [B, T, 3C]
  const y = packedSelfAttention(qkv, H, H, { causal: true }); // [B, T, C]
  return linear(y, block.attnProj.weight, block.attnProj.bias); // [B, T, C]
}

/** The MLP: widen to 4C, tanh GELU, project back. */
function mlp(block: GptBlock, x: Tensor): Tensor {
  const hidden = linear(x, block.fc.weight, block.fc.bias); // [B, T, 4C]
  const activated = gelu(hidden, 'tanh'); // [B, T, 4C]
  return linear(activated, block.mlpProj.weight, block.mlpProj.bias); // [B, T, C]
}

/** GPT-2 with pre-LN blocks, learned positions and the LM head tied to the token embedding. */
export function buildGpt(config: GptConfig, rng: Generator): BenchModel {
  const { vocab: V, width: C, heads: H, context, layers } = config;
  const parameters: Tensor[] = [];
  const wte = normal([V, C], 0.02, rng, parameters); // [V, C], also the LM head
  const wpe = normal([context, C], 0.01, rng, parameters); // [T, C]
  const blocks: GptBlock[] = Array.from({ length: layers }, () => ({
    ln1: norm(C, parameters),
    qkv: dense(C, 3 * C, rng, parameters),
    attnProj: dense(C, C, rng, parameters),
    ln2: norm(C, parameters),
    fc: dense(C, 4 * C, rng, parameters),
    mlpProj: dense(4 * C, C, rng, parameters),
  }));
  const lnF = norm(C, parameters);

  const loss = (idx: Tensor, targets: Tensor): Tensor => {
    const [, T] = idx.shape;
    const tokenEmbeddings = embedding(wte, idx); // [B, T, C]
    const positionEmbeddings = slice(wpe, 0, 0, T); // [T, C] (no copy when T is the context)
    let residualStream = add(tokenEmbeddings, positionEmbeddings); // [B, T, C]
    for (const block of blocks) {
      const attnIn = layerNorm(residualStream, block.ln1.weight, block.ln1.bias); // [B, T, C]
      residualStream = add(residualStream, selfAttention(block, H, attnIn)); // [B, T, C]
      const mlpIn = layerNorm(residualStream, block.ln2.weight, block.ln2.bias); // [B, T, C]
      residualStream = add(residualStream, mlp(block, mlpIn)); // [B, T, C]
    }
    const final = layerNorm(residualStream, lnF.weight, lnF.bias); // [B, T, C]
    const logits = linear(final, wte); // [B, T, V]
    return crossEntropy(logits, targets); // []
  };
  return { parameters, loss };
}

// ---- LSTM language model

interface LstmLayer {
  /** `[4Hd, in]` */
  weightIh: Tensor;
  /** `[4Hd, Hd]` */
  weightHh: Tensor;
  /** `[4Hd]` */
  biasIh: Tensor;
  /** `[4Hd]` */
  biasHh: Tensor;
}

/** Embedding, stacked LSTM layers (PyTorch's layout and gate order), linear head. */
export function buildLstm(config: LstmConfig, rng: Generator): BenchModel {
  const { vocab: V, embedding: E, hidden: Hd, layers } = config;
  const parameters: Tensor[] = [];
  const std = 1 / Math.sqrt(Hd);
  const table = normal([V, E], 1, rng, parameters); // [V, E]
  const stack: LstmLayer[] = Array.from({ length: layers }, (_, i) => ({
    weightIh: normal([4 * Hd, i === 0 ? E : Hd], std, rng, parameters),
    weightHh: normal([4 * Hd, Hd], std, rng, parameters),
    biasIh: normal([4 * Hd], std, rng, parameters),
    biasHh: normal([4 * Hd], std, rng, parameters),
  }));
  const head = dense(Hd, V, rng, parameters);

  const loss = (idx: Tensor, targets: Tensor): Tensor => {
    let x = embedding(table, idx); // [B, T, E]
    for (const layer of stack) x = lstm(x, layer).output; // [B, T, Hd]
    const logits = linear(x, head.weight, head.bias); // [B, T, V]
    return crossEntropy(logits, targets); // []
  };
  return { parameters, loss };
}

export function buildModel(config: ModelConfig, rng: Generator): BenchModel {
  return config.kind === 'gpt' ? buildGpt(config, rng) : buildLstm(config, rng);
}

/** Number of trainable scalars. */
export function parameterCount(model: BenchModel): number {
  return model.parameters.reduce((n, p) => n + p.size, 0);
}
