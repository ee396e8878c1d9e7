import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/index.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { ProgramLoadError, StackLimitError, Vm } from '../../src/vm/index.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';

checkNoKernelLeaks();

/** main stores at r10-`main`, calls f, which stores at r10-`callee` (directly, or through a pointer r10 + constant) and calls g, which stores at r10-`last`. */
function chain(main: number, callee: number, last: number, throughPointer = false): string {
  const store = throughPointer ? `r2 = r10\nr2 += -${callee}\n*(u64 *)(r2 + 0) = r1` : `*(u64 *)(r10 - ${callee}) = r1`;
  return `
    r1 = 1
    *(u64 *)(r10 - ${main}) = r1
    call f
    r0 = 2
    exit
  f:
    r1 = 2
    ${store}
    call g
    exit
  g:
    r1 = 3
    *(u64 *)(r10 - ${last}) = r1
    r0 = 0
    exit`;
}

test('the stack of a call chain is 512 bytes for all its frames together, as in the kernel; both engines refuse more at load', () => {
  const vm = new Vm();
  const refused = (e: unknown): boolean => e instanceof ProgramLoadError && /combined stack size of (2|3) calls is \d+\. Too large/.test(e.message);
  for (const load of [(p: ReturnType<typeof assemble>) => vm.load(p), (p: ReturnType<typeof assemble>) => loadJit(vm, p)]) {
    assert.equal(load(assemble(chain(256, 128, 128))).run().r0, 2n, '256 + 128 + 128 bytes fit');
    assert.throws(() => load(assemble(chain(304, 208, 8))), refused, '304 + 208 + 16');
    assert.throws(() => load(assemble(chain(200, 200, 200))), refused, 'three frames of 200');
    assert.throws(() => load(assemble(chain(304, 208, 8, true))), refused, 'through a pointer r10 + constant');
    // The largest single frame is still 512 bytes.
    assert.equal(load(assemble('r1 = 1\n*(u64 *)(r10 - 512) = r1\nr0 = 2\nexit')).run().r0, 2n);
  }
});

test('the kernel refuses the same call chains', { skip: skipWithoutKernel() }, () => {
  const loads = (source: string): boolean => {
    try {
      KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: assemble(source), name: 'stack' }).close();
      return true;
    } catch {
      return false;
    }
  };
  assert.equal(loads(chain(256, 128, 128)), true);
  assert.equal(loads(chain(304, 208, 8)), false);
  assert.equal(loads(chain(200, 200, 200)), false);
});

test('recursion, which the load check cannot bound: a call taking the chain past 512 bytes fails when it runs, with the kernel\'s message, on both engines', () => {
  // f keeps 200 bytes (208, rounded as the kernel rounds frames) and calls itself until `depth` frames of it; r0 is that count.
  const recursive = (depth: number): string => `
    r1 = 0
    call f
    exit
  f:
    r6 = r1
    r6 += 1
    r1 = 7
    *(u64 *)(r10 - 200) = r1
    if r6 >= ${depth} goto done
    r1 = r6
    call f
    exit
  done:
    r0 = r6
    exit`;
  const vm = new Vm();
  for (const [engine, load] of [['interpreter', (p: ReturnType<typeof assemble>) => vm.load(p)], ['jit', (p: ReturnType<typeof assemble>) => loadJit(vm, p)]] as const) {
    assert.equal(load(assemble(recursive(2))).run().r0, 2n, `${engine}: two frames of f (416 bytes with the caller's) fit`);
    const deep = load(assemble(recursive(3)));
    assert.throws(() => deep.run(), (e: unknown) => e instanceof StackLimitError && e.frames === 4 && e.bytes === 624 && /combined stack size of 4 calls is 624\. Too large/.test(e.message), engine);
    // Each run of a session starts with the entry's frame alone.
    const session = load(assemble(recursive(2))).openSession({});
    for (let k = 0; k < 5; k++) assert.equal(session.run(), 2, `${engine}: session run ${k}`);
    session.close();
  }
});
