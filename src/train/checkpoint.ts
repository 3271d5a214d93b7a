/**
 * Training checkpoints on disk: one folder per saved step, written so that a crash at any moment
 * (SIGKILL included) leaves every earlier checkpoint whole.
 *
 *     checkpoints/step-00000120/
 *       model.safetensors      the model's state dict under its checkpoint names (HF names for
 *                              GPT-2), so the weights load elsewhere as they are
 *       optimizer.safetensors  the optimiser's tensors: `optim.state.{i}.{field}` (`expAvg`,
 *                              `expAvgSq`, `momentumBuffer`), i the parameter's position
 *       trainer.json           step, seed, random stream states, data position, the optimiser's
 *                              non-tensor state (groups, per-parameter step counts), counters
 *       ...                    extra files the caller adds (the run's config, the tokenizer)
 *
 * How it stays whole: everything is written into a hidden temporary folder beside the others
 * (`.tmp-step-00000120-<pid>-<random>`), each file synced, then the folder is renamed to its
 * final name in one step. A folder named `step-*` is therefore always complete. Old checkpoints
 * are renamed to a hidden `.trash-*` name before they are deleted, so a kill during a deletion
 * never leaves a partial `step-*` folder either. Hidden leftovers are removed the next time a
 * checkpoint is written there.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../io/safetensors-read.js';
import { saveSafetensors } from '../io/safetensors-write.js';
import type { HyperValue, OptimizerStateDict, ParamState } from '../optim/optimizer.js';
import { Tensor } from '../tensor/tensor.js';
import type { RandomState } from './random-streams.js';

/** A JSON value (what a data position may be). */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** The checkpoint format's name and version, written into every trainer.json. */
export const CHECKPOINT_FORMAT = 'sextant-trainer-checkpoint';
export const CHECKPOINT_VERSION = 1;

export const MODEL_FILE = 'model.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const TRAINER_FILE = 'trainer.json';

/** What trainer.json holds. */
export interface TrainerState {
  format: typeof CHECKPOINT_FORMAT;
  version: typeof CHECKPOINT_VERSION;
  /** Optimiser updates done when the checkpoint was taken. */
  step: number;
  /** The run's total updates. */
  totalSteps: number;
  seed: number;
  /** Every random stream's state, by label. */
  random: RandomState;
  /** Where the data stream stands (the task's own format). */
  data: JsonValue;
  /** The optimiser's state without its tensors (those are in optimizer.safetensors). */
  optimizer: {
    paramGroups: (Record<string, HyperValue> & { params: number[] })[];
    /** Per-parameter numbers (Adam's `step`), by position. */
    scalars: Record<string, Record<string, number>>;
  };
  /** Cumulative counters carried across resumes. */
  counters: {
    /** FLOPs of training (forward, backward, optimiser), counted by the engine. */
    flops: number;
    /** Items trained on (tokens for language models, samples otherwise). */
    items: number;
    /** Seconds spent in training steps. */
    trainSeconds: number;
  };
  /** When it was written, ISO 8601. */
  savedAt: string;
}

/** A checkpoint read back. */
export interface Checkpoint {
  /** Its folder. */
  dir: string;
  trainer: TrainerState;
  /** The model's state dict, loaded. */
  model: Map<string, Tensor>;
  /** The optimiser's state dict, tensors and numbers joined again. */
  optimizer: OptimizerStateDict;
}

/** A problem with a checkpoint on disk; the message names the folder and the file. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** The folder name of the checkpoint of `step`: `step-00000120` (sorts by step). */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

const NAME_PATTERN = /^step-(\d{8,})$/;

/** The checkpoints in `dir`, oldest first, as `{step, dir}`. Missing folder: none. */
export function listCheckpoints(dir: string): { step: number; dir: string }[] {
  if (!fs.existsSync(dir)) return [];
  const found: { step: number; dir: string }[] = [];
  for (const name of fs.readdirSync(dir)) {
    const m = NAME_PATTERN.exec(name);
    if (m !== null) found.push({ step: Number(m[1]), dir: path.join(dir, name) });
  }
  return found.sort((a, b) => a.step - b.step);
}

/** The newest checkpoint folder in `dir`, or null when there is none. */
export function latestCheckpoint(dir: string): { step: number; dir: string } | null {
  const all = listCheckpoints(dir);
  return all.length > 0 ? (all[all.length - 1] as { step: number; dir: string }) : null;
}

/** Splits an optimiser state dict into named tensors and the numbers that go to JSON. */
function splitOptimizerState(dict: OptimizerStateDict): {
  tensors: Map<string, Tensor>;
  scalars: Record<string, Record<string, number>>;
} {
  const tensors = new Map<string, Tensor>();
  const scalars: Record<string, Record<string, number>> = {};
  for (const [i, state] of Object.entries(dict.state)) {
    for (const [field, value] of Object.entries(state)) {
      if (value instanceof Tensor) {
        tensors.set(`optim.state.${i}.${field}`, value);
      } else {
        scalars[i] ??= {};
        (scalars[i] as Record<string, number>)[field] = value;
      }
    }
  }
  return { tensors, scalars };
}

/** Writes `text` to `file` and syncs it (the folder is renamed only after this). */
function writeSynced(file: string, text: string): void {
  const fd = fs.openSync(file, 'wx');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function syncFolder(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Some file systems cannot sync a folder; the rename has happened all the same.
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/** Removes hidden leftovers of interrupted writes and deletions in `dir`. */
function removeLeftovers(dir: string): void {
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith('.tmp-step-') || name.startsWith('.trash-')) {
      fs.rmSync(path.join(dir, name), { recursive: true, force: true });
    }
  }
}

/** Deletes a checkpoint folder: renamed to a hidden name first, so it never looks whole. */
function removeCheckpoint(dir: string): void {
  const trash = path.join(
    path.dirname(dir),
    `.trash-${path.basename(dir)}-${randomBytes(4).toString('hex')}`,
  );
  fs.renameSync(dir, trash);
  fs.rmSync(trash, { recursive: true, force: true });
}

export interface WriteCheckpointInput {
  /** The folder holding all checkpoints (created if missing). */
  dir: string;
  trainer: Omit<TrainerState, 'format' | 'version' | 'savedAt' | 'optimizer'>;
  /** The model's state dict (`module.stateDict()`). */
  model: Map<string, Tensor>;
  optimizer: OptimizerStateDict;
  /** Extra text files by name (the run's config, a tokenizer). */
  extraFiles?: Readonly<Record<string, string>>;
  /** Checkpoints to keep, the new one included (older ones are deleted); default: all. */
  keep?: number;
}

/**
 * Writes a checkpoint atomically (see the file comment) and returns its folder. A checkpoint of
 * the same step already there is replaced (after the new one is complete).
 */
export function writeCheckpoint(input: WriteCheckpointInput): string {
  const { dir } = input;
  fs.mkdirSync(dir, { recursive: true });
  removeLeftovers(dir);
  const name = checkpointName(input.trainer.step);
  const final = path.join(dir, name);
  const tmp = path.join(dir, `.tmp-${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const { tensors, scalars } = splitOptimizerState(input.optimizer);
  const state: TrainerState = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    ...input.trainer,
    optimizer: { paramGroups: input.optimizer.paramGroups, scalars },
    savedAt: new Date().toISOString(),
  };
  fs.mkdirSync(tmp);
  try {
    // saveSafetensors syncs each file before its own rename inside the temporary folder.
    saveSafetensors(path.join(tmp, MODEL_FILE), input.model, { metadata: { format: 'pt' } });
    saveSafetensors(path.join(tmp, OPTIMIZER_FILE), tensors);
    for (const [file, text] of Object.entries(input.extraFiles ?? {})) {
      if (file.includes('/') || file.includes('\\') || file.startsWith('.')) {
        throw new CheckpointError(`writeCheckpoint: extra file name '${file}' is not a plain name`);
      }
      writeSynced(path.join(tmp, file), text);
    }
    // trainer.json last: a folder with it has everything else.
    writeSynced(path.join(tmp, TRAINER_FILE), `${JSON.stringify(state, null, 2)}\n`);
    syncFolder(tmp);
    if (fs.existsSync(final)) removeCheckpoint(final);
    fs.renameSync(tmp, final);
    syncFolder(dir);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  if (input.keep !== undefined && input.keep >= 1) {
    const all = listCheckpoints(dir);
    for (const old of all.slice(0, Math.max(0, all.length - input.keep))) {
      removeCheckpoint(old.dir);
    }
  }
  return final;
}

function readJson(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${file}: cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

/** Reads trainer.json of the checkpoint in `dir`, checking its format. */
export function readTrainerState(dir: string): TrainerState {
  const file = path.join(dir, TRAINER_FILE);
  if (!fs.existsSync(file)) {
    throw new CheckpointError(
      `${dir}: not a checkpoint folder (no ${TRAINER_FILE}); checkpoints look like ` +
        `<run>/checkpoints/${checkpointName(100)}`,
    );
  }
  const state = readJson(file) as Partial<TrainerState> | null;
  if (state === null || typeof state !== 'object' || state.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${file}: field 'format' must be '${CHECKPOINT_FORMAT}'`);
  }
  if (state.version !== CHECKPOINT_VERSION) {
    throw new CheckpointError(
      `${file}: field 'version' is ${String(state.version)}; this sextant reads version ` +
        `${CHECKPOINT_VERSION}`,
    );
  }
  for (const field of ['step', 'totalSteps', 'seed'] as const) {
    if (!Number.isInteger(state[field]) || (state[field] as number) < 0) {
      throw new CheckpointError(
        `${file}: field '${field}' must be an integer >= 0, got ${JSON.stringify(state[field])}`,
      );
    }
  }
  return state as TrainerState;
}

/** Reads every tensor of a safetensors file into a map. */
export function readTensors(file: string): Map<string, Tensor> {
  const f = SafetensorsFile.open(file);
  try {
    return new Map(f.names().map((name) => [name, f.read(name)]));
  } finally {
    f.close();
  }
}

/** Reads the checkpoint in `dir`: trainer state, model tensors and the optimiser state dict. */
export function readCheckpoint(dir: string): Checkpoint {
  const trainer = readTrainerState(dir);
  const model = readTensors(path.join(dir, MODEL_FILE));
  const optimTensors = readTensors(path.join(dir, OPTIMIZER_FILE));
  const state: Record<number, ParamState> = {};
  for (const [i, numbers] of Object.entries(trainer.optimizer.scalars)) {
    state[Number(i)] = { ...numbers };
  }
  for (const [name, t] of optimTensors) {
    const m = /^optim\.state\.(\d+)\.(\w+)$/.exec(name);
    if (m === null) {
      throw new CheckpointError(
        `${path.join(dir, OPTIMIZER_FILE)}: tensor '${name}' is not named ` +
          'optim.state.{i}.{field}',
      );
    }
    const i = Number(m[1]);
    state[i] ??= {};
    (state[i] as ParamState)[m[2] as string] = t;
  }
  return { dir, trainer, model, optimizer: { state, paramGroups: trainer.optimizer.paramGroups } };
}
