/**
 * Module tests: dotted names and counts on a small tree shaped like a transformer's, state dicts,
 * and the three kinds of hooks, whose gradients are checked against values known by hand.
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import { availableBackends, noGrad, setBackend, type Tensor, tensor, zeros } from '../src/index.js';
import { Module, StateDictError } from '../src/nn/module.js';

/** `y = x @ W^T + b` written with elementwise ops, enough for names and counts. */
class Linear extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;
  readonly bias: Tensor;
  constructor(inFeatures: number, outFeatures: number) {
    super();
    this.weight = this.registerParameter('weight', zeros([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', zeros([outFeatures]));
  }
  forward(x: Tensor): Tensor {
    return x.matmul(this.weight.transpose()).add(this.bias);
  }
}

/** `y = x * w`, elementwise over `[C]`. */
class Scale extends Module<[Tensor], Tensor> {
  readonly weight: Tensor;
  constructor(values: number[]) {
    super();
    this.weight = this.registerParameter('weight', tensor(values, { dtype: 'float64' }));
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.weight);
  }
}

class Attn extends Module<[Tensor], Tensor> {
  readonly c_attn = this.registerModule('c_attn', new Linear(2, 3));
  forward(x: Tensor): Tensor {
    return this.c_attn.call(x);
  }
}

class Block extends Module<[Tensor], Tensor> {
  readonly attn = this.registerModule('attn', new Attn());
  readonly ln = this.registerModule('ln', new Scale([1, 1]));
  forward(x: Tensor): Tensor {
    return this.attn.call(this.ln.call(x));
  }
}

/** Holds numbered children, as `nn.ModuleList`. */
class Blocks extends Module<[], null> {
  constructor(blocks: Block[]) {
    super();
    blocks.forEach((b, i) => {
      this.registerModule(String(i), b);
    });
  }
  forward(): null {
    return null;
  }
}

class Net extends Module<[Tensor], Tensor> {
  readonly scale = this.registerParameter('scale', zeros([1]));
  readonly blocks = this.registerModule('blocks', new Blocks([new Block(), new Block()]));
  readonly mask = this.registerBuffer('mask', zeros([2, 2], { dtype: 'int32' }));
  forward(x: Tensor): Tensor {
    return x;
  }
}

function gradOf(t: Tensor): number[] {
  assert.ok(t.grad !== null, `${t.describe()} has no gradient`);
  return Array.from(t.grad.data);
}

const NET_PARAMETERS = [
  'scale',
  'blocks.0.attn.c_attn.weight',
  'blocks.0.attn.c_attn.bias',
  'blocks.0.ln.weight',
  'blocks.1.attn.c_attn.weight',
  'blocks.1.attn.c_attn.bias',
  'blocks.1.ln.weight',
];

describe('Module: names and counts', () => {
  test('a tree gives dotted names in registration order and the expected counts', () => {
    const net = new Net();
    assert.deepEqual(
      [...net.namedParameters()].map(([n]) => n),
      NET_PARAMETERS,
    );
    // 1 + 2 * (3 * 2 + 3 + 2)
    assert.equal(net.numParameters(), 23);
    assert.equal(net.parameters().length, 7);
    assert.deepEqual(
      [...net.namedBuffers()].map(([n]) => n),
      ['mask'],
    );
    assert.deepEqual(
      net.namedChildren().map(([n]) => n),
      ['blocks'],
    );
    assert.deepEqual(
      net.blocks.children().map((m) => m.constructor.name),
      ['Block', 'Block'],
    );
    assert.deepEqual(
      [...net.namedModules()].map(([n]) => n),
      ['', 'blocks', 'blocks.0', 'blocks.0.attn', 'blocks.0.attn.c_attn', 'blocks.0.ln'].concat([
        'blocks.1',
        'blocks.1.attn',
        'blocks.1.attn.c_attn',
        'blocks.1.ln',
      ]),
    );
  });

  test('parameters carry their full path as tensor.name and require gradients', () => {
    const net = new Net();
    for (const [name, p] of net.namedParameters()) {
      assert.equal(p.name, name);
      assert.equal(p.requiresGrad, true);
    }
    assert.equal(net.mask.requiresGrad, false);
  });

  test('a tied parameter is listed and counted once', () => {
    class Tied extends Module<[Tensor], Tensor> {
      readonly wte = this.registerModule('wte', new Scale([1, 2, 3]));
      readonly head = this.registerModule('head', new Scale([0]));
      constructor() {
        super();
        this.registerParameter('extra', this.wte.weight);
      }
      forward(x: Tensor): Tensor {
        return x;
      }
    }
    const m = new Tied();
    assert.deepEqual(
      [...m.namedParameters()].map(([n]) => n),
      ['extra', 'head.weight'],
    );
    assert.equal(m.numParameters(), 4);
    assert.deepEqual([...m.stateDict().keys()], ['extra', 'wte.weight', 'head.weight']);
  });

  test('train() and eval() reach every module', () => {
    const net = new Net().eval();
    assert.ok([...net.namedModules()].every(([, m]) => !m.training));
    net.train();
    assert.ok([...net.namedModules()].every(([, m]) => m.training));
  });

  test('names are checked', () => {
    const net = new Net();
    assert.throws(
      () => net.registerParameter('scale', zeros([1])),
      /Net\.registerParameter: name 'scale' is already used by a parameter/,
    );
    assert.throws(() => net.registerBuffer('a.b', zeros([1])), /without dots, got "a\.b"/);
    assert.throws(
      () => net.registerParameter('ids', zeros([1], { dtype: 'int32' })),
      /Net\.registerParameter\('ids'\): expected a float tensor, got int32\[1\]/,
    );
  });
});

describe('Module: state dicts', () => {
  test('a state dict round trip copies values into the same tensors', () => {
    const a = new Net();
    const b = new Net();
    a.blocks.children()[1].parameters()[0].data.set([1, 2, 3, 4, 5, 6]);
    const target = b.parameters()[4];
    const result = b.loadStateDict(a.stateDict());
    assert.deepEqual(result, { missingKeys: [], unexpectedKeys: [] });
    assert.equal(b.parameters()[4], target, 'the same tensor object');
    assert.deepEqual(Array.from(target.data), [1, 2, 3, 4, 5, 6]);
  });

  test('mismatches name every key at fault and change nothing', () => {
    const net = new Net();
    const state = new Net().stateDict();
    state.delete('scale');
    state.set('blocks.0.ln.weight', zeros([3], { dtype: 'float64' }));
    state.set('lm_head.weight', zeros([1]));
    const before = Array.from(net.blocks.children()[0].parameters()[0].data);
    assert.throws(
      () => net.loadStateDict(state),
      (e: Error) =>
        e instanceof StateDictError &&
        /'blocks\.0\.ln\.weight': shape \[3\], expected \[2\]/.test(e.message) &&
        /missing keys: scale/.test(e.message) &&
        /unexpected keys: lm_head\.weight/.test(e.message),
    );
    assert.deepEqual(Array.from(net.blocks.children()[0].parameters()[0].data), before);
    state.set('blocks.0.ln.weight', tensor([7, 8], { dtype: 'float64' }));
    const result = net.loadStateDict(state, { strict: false });
    assert.deepEqual(result, { missingKeys: ['scale'], unexpectedKeys: ['lm_head.weight'] });
    assert.deepEqual(Array.from((net.blocks.children()[0] as Block).ln.weight.data), [7, 8]);
  });
});

for (const backend of availableBackends()) {
  describe(`Module hooks on the ${backend} backend`, () => {
    beforeEach(() => {
      setBackend(backend);
    });

    test('a forward pre-hook can replace the inputs', () => {
      const m = new Scale([2, 3]);
      const remove = m.registerForwardPreHook((_mod, [x]) => [x.add(1)]);
      const y = m.call(tensor([1, 1], { dtype: 'float64' }));
      assert.deepEqual(Array.from(y.data), [4, 6]);
      remove();
      assert.deepEqual(Array.from(m.call(tensor([1, 1], { dtype: 'float64' })).data), [2, 3]);
    });

    test('a forward hook sees the inputs and the output and can replace the output', () => {
      const m = new Scale([2, 3]);
      const x = tensor([1, -1], { dtype: 'float64' });
      const seen: { input?: Tensor; output?: number[]; module?: unknown } = {};
      const remove = m.registerForwardHook((mod, inputs, output) => {
        seen.module = mod;
        seen.input = inputs[0];
        seen.output = Array.from(output.data);
        return output.mul(10);
      });
      const y = m.call(x);
      assert.equal(seen.module, m);
      assert.equal(seen.input, x);
      assert.deepEqual(seen.output, [2, -3]);
      assert.deepEqual(Array.from(y.data), [20, -30]);
      remove();
      assert.deepEqual(Array.from(m.call(x).data), [2, -3]);
    });

    test('a backward hook sees dL/dy and a replaced gradient changes the parameter grad', () => {
      const m = new Scale([2, 3, 4]);
      const x = tensor([1, 2, 3], { dtype: 'float64' });
      const c = tensor([5, -1, 0.5], { dtype: 'float64' });
      let seen: number[] = [];
      const remove = m.registerBackwardHook((mod, gradOutput) => {
        assert.equal(mod, m);
        seen = Array.from(gradOutput.data);
        return undefined;
      });
      // L = sum(c * (x * w)): dL/dy = c, dL/dw = c * x.
      m.call(x).mul(c).sum().backward();
      assert.deepEqual(seen, [5, -1, 0.5]);
      assert.deepEqual(gradOf(m.weight), [5, -2, 1.5]);
      remove();

      m.weight.grad = null;
      m.registerBackwardHook(() => tensor([1, 1, 1], { dtype: 'float64' }));
      m.call(x).mul(c).sum().backward();
      // With dL/dy replaced by ones, dL/dw = x.
      assert.deepEqual(gradOf(m.weight), [1, 2, 3]);
    });

    test('a backward hook removed after forward no longer runs; noGrad attaches nothing', () => {
      const m = new Scale([2]);
      let calls = 0;
      const remove = m.registerBackwardHook(() => {
        calls++;
        return undefined;
      });
      const y = m.call(tensor([1], { dtype: 'float64' }));
      remove();
      y.sum().backward();
      assert.equal(calls, 0);
      m.registerBackwardHook(() => {
        calls++;
        return undefined;
      });
      const z = noGrad(() => m.call(tensor([1], { dtype: 'float64' })));
      assert.equal(z.requiresGrad, false);
      assert.equal(calls, 0);
    });

    test('a backward hook returning the wrong shape is an error naming both shapes', () => {
      const m = new Scale([2, 3]);
      m.registerBackwardHook(() => zeros([3], { dtype: 'float64' }));
      const y = m.call(tensor([1, 1], { dtype: 'float64' }));
      assert.throws(
        () => y.sum().backward(),
        /Scale: backward hook returned .*\[3\], expected .*\[2\]/,
      );
    });
  });
}
