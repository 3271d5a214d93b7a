/**
 * `HookPoint`: an identity module placed at each activation worth reading. Its name is its module
 * path (`blocks.3.hook_resid_post`, `blocks.3.attn.hook_q`), the way TransformerLens names them,
 * so a user can guess the name of any activation. A forward hook on it reads the activation or,
 * by returning a tensor, replaces it; a backward hook sees or replaces its gradient.
 *
 * Layers ask `active` before doing extra work for a hook (a layout change to the shape the hook
 * promises), so a model without hooks pays nothing for them.
 */

import type { Tensor } from '../tensor/tensor.js';
import type { BackwardHook, ForwardHook, ForwardPreHook } from './module.js';
import { Module } from './module.js';

/** The identity, `x` `[...]` to `x`, with hooks; see the file comment. */
export class HookPoint extends Module<[Tensor], Tensor> {
  private hookCount = 0;

  forward(x: Tensor): Tensor {
    return x;
  }

  /** Whether any hook is registered here (layers skip hook-only work otherwise). */
  get active(): boolean {
    return this.hookCount > 0;
  }

  /** Counts the hook until its remover runs (once, however often it is called). */
  private counted(remove: () => void): () => void {
    this.hookCount++;
    let removed = false;
    return () => {
      if (removed) return;
      removed = true;
      this.hookCount--;
      remove();
    };
  }

  override registerForwardPreHook(hook: ForwardPreHook<[Tensor]>): () => void {
    return this.counted(super.registerForwardPreHook(hook));
  }

  override registerForwardHook(hook: ForwardHook<[Tensor], Tensor>): () => void {
    return this.counted(super.registerForwardHook(hook));
  }

  override registerBackwardHook(hook: BackwardHook): () => void {
    return this.counted(super.registerBackwardHook(hook));
  }
}

/** Every hook point below `model`, by module path, in registration order. */
export function hookPoints(model: Module): Map<string, HookPoint> {
  const found = new Map<string, HookPoint>();
  for (const [path, m] of model.namedModules()) if (m instanceof HookPoint) found.set(path, m);
  return found;
}
