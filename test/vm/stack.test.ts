import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/index.ts';
import { KernelProgram } from '../../src/kernel/program.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { BudgetExceededError, CallDepthError, ProgramLoadError, StackAccessError, StackLimitError, Vm, loadVmCollection } from '../../src/vm/index.ts';
import { collectionFromInstructions } from '../../src/object/index.ts';
import { VerifierError } from '../../src/verifier/index.ts';
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
  // A stack pointer stored through r1 and loaded back (the VM's escape test, with r1 the context here): refused at load.
  assert.equal(loads('r2 = r10\nr2 += -16\n*(u64 *)(r1 + 0) = r2\nr3 = *(u64 *)(r1 + 0)\nr3 += -400\nr4 = 7\n*(u64 *)(r3 + 0) = r4\nr0 = 0\nexit'), false);
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

type Load = (p: ReturnType<typeof assemble>, options?: { frames?: Map<number, number> }) => { run(options?: { mem?: Uint8Array }): { r0: bigint } };
const engines = (vm: Vm): [string, Load][] => [
  ['interpreter', (p, options) => vm.load(p, options)],
  ['jit', (p, options) => loadJit(vm, p, options)],
];

test('a frame reaches exactly its own size: a stack pointer kept in memory and loaded back cannot go past it (verify: false faults, naming the frame and offset)', () => {
  // The frame is 16 bytes (r10 - 16 is its deepest pointer); the pointer is stored in input memory, loaded back and moved 400 bytes down.
  const escape = assemble(`
    r2 = r10
    r2 += -16
    *(u64 *)(r1 + 0) = r2
    r3 = *(u64 *)(r1 + 0)
    r3 += -400
    r4 = 7
    *(u64 *)(r3 + 0) = r4
    r0 = 0
    exit`);
  const vm = new Vm();
  for (const [engine, load] of engines(vm)) {
    assert.throws(
      () => load(escape).run({ mem: new Uint8Array(8) }),
      (e: unknown) => e instanceof StackAccessError && e.offset === -416 && e.frame.frame === 0 && e.frame.bytes === 16 && /instruction 6: invalid write of 8 bytes at r10-416 in frame 0 \('program'\): the frame is 16 bytes \(r10-16\.\.r10\)/.test(e.message),
      engine,
    );
  }
});

test('a stack pointer spilled to the stack and filled back is followed: its frame is sized from it, and the kernel accepts the same program', () => {
  const spilled = `
    r2 = r10
    r2 += -8
    *(u64 *)(r10 - 16) = r2
    r3 = *(u64 *)(r10 - 16)
    r3 += -400
    r4 = 7
    *(u64 *)(r3 + 0) = r4
    r0 = *(u64 *)(r3 + 0)
    exit`;
  const vm = new Vm();
  for (const [engine, load] of engines(vm)) assert.equal(load(assemble(spilled)).run().r0, 7n, engine);
  if (skipWithoutKernel() === false) {
    const program = KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: assemble(spilled), name: 'spill' });
    program.close();
  }
});

/** main spills a pointer to its r10 - 8 and hands the callee the slot; the callee loads it and writes 296 bytes further down, in main's frame (the verifier counts 304 bytes for main). */
const throughCaller = `
    r2 = r10
    r2 += -8
    *(u64 *)(r10 - 16) = r2
    r1 = r10
    r1 += -16
    call f
    exit
  f:
    r3 = *(u64 *)(r1 + 0)
    r3 += -296
    r4 = 7
    *(u64 *)(r3 + 0) = r4
    r0 = *(u64 *)(r3 + 0)
    exit`;

test('frames as the verifier sizes them: a callee writing its caller\'s frame through a pointer the loader cannot follow runs verified, and faults naming the frame unverified', () => {
  for (const jit of [false, true]) {
    const engine = jit ? 'jit' : 'interpreter';
    const verified = loadVmCollection(collectionFromInstructions({ name: 'chain', section: 'socket', instructions: assemble(throughCaller) }), { jit });
    try {
      assert.equal(verified.program('chain').run({ data: new Uint8Array(64) }).retval, 7, engine);
    } finally {
      verified.close();
    }
    const unverified = loadVmCollection(collectionFromInstructions({ name: 'chain', section: 'socket', instructions: assemble(throughCaller) }), { jit, verify: false });
    try {
      assert.throws(
        () => unverified.program('chain').run({ data: new Uint8Array(64) }),
        (e: unknown) => e instanceof StackAccessError && e.frame.frame === 1 && e.offset === -288 && /invalid write of 8 bytes at r10-288 in frame 1 \('chain'\): the frame is 0 bytes/.test(e.message),
        engine,
      );
    } finally {
      unverified.close();
    }
  }
});

test('the kernel accepts the write into the caller\'s frame (its verifier sizes the caller at 304 bytes)', { skip: skipWithoutKernel() }, () => {
  const program = KernelProgram.load({ type: ProgramType.SOCKET_FILTER, instructions: assemble(throughCaller), name: 'chain' });
  try {
    assert.equal(program.run({ data: new Uint8Array(64) }).retval, 7);
  } finally {
    program.close();
  }
});

/** bpf_loop from a frame of `caller` bytes with a callback of `callback` bytes; r0 is what bpf_loop returned. */
const loopChain = (caller: number, callback: number): string => `
    r1 = 1
    *(u64 *)(r10 - ${caller}) = r1
    r1 = 2
    r2 = func(pc+5) ll
    r3 = 0
    r4 = 0
    call bpf_loop
    exit
    r1 = 3
    *(u64 *)(r10 - ${callback}) = r1
    r0 = 0
    exit`;

test('a callback\'s frame counts in its caller\'s chain at run time (bpf_loop): past 512 bytes together it fails when it runs, on both engines; the verifier refuses it at load as the kernel does', () => {
  for (const jit of [false, true]) {
    const engine = jit ? 'jit' : 'interpreter';
    const load = (caller: number, callback: number, verify: boolean) => loadVmCollection(collectionFromInstructions({ name: 'loop', section: 'socket', instructions: assemble(loopChain(caller, callback)) }), { jit, verify });
    const fits = load(256, 256, false);
    try {
      assert.equal(fits.program('loop').run({ data: new Uint8Array(64) }).retval, 2, `${engine}: 256 + 256 bytes fit`);
    } finally {
      fits.close();
    }
    const over = load(400, 200, false);
    try {
      assert.throws(
        () => over.program('loop').run({ data: new Uint8Array(64) }),
        (e: unknown) => e instanceof StackLimitError && e.frames === 2 && e.bytes === 608 && /combined stack size of 2 calls is 608\. Too large/.test(e.message),
        engine,
      );
    } finally {
      over.close();
    }
    assert.throws(() => load(400, 200, true), (e: unknown) => e instanceof VerifierError && /combined stack size of 2 calls is 608/.test(e.message), `${engine}: verified`);
  }
});

test('a callback\'s frames count toward the 8-frame limit of its caller\'s chain', () => {
  // main calls f1..f6 (7 frames), f6 runs a bpf_loop callback (8th) that calls g (9th): refused.
  const calls = Array.from({ length: 6 }, (_, k) => `f${k}:\n    call f${k + 1}\n    exit`).join('\n  ');
  const source = `
    call f0
    exit
  ${calls}
  f6:
    r1 = 1
    r2 = func(pc+5) ll
    r3 = 0
    r4 = 0
    call bpf_loop
    exit
    call g
    r0 = 0
    exit
  g:
    r0 = 0
    exit`;
  for (const jit of [false, true]) {
    const collection = loadVmCollection(collectionFromInstructions({ name: 'deep', section: 'socket', instructions: assemble(source) }), { jit, verify: false });
    try {
      assert.throws(() => collection.program('deep').run({ data: new Uint8Array(64) }), (e: unknown) => e instanceof CallDepthError && e.frames === 9, jit ? 'jit' : 'interpreter');
    } finally {
      collection.close();
    }
  }
});

test('callbacks run on their caller\'s instruction budget: a bpf_loop of 2^23 iterations, nested in another, ends at the budget on both engines', () => {
  // loop(2^23, outer); outer: loop(2^23, inner); inner: a few instructions. Each callback run used to get a fresh budget.
  const loop = 'r1 = 8388608\nr2 = func(pc+5) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nexit\n';
  const source = `${loop}${loop}r0 = 0\nexit`;
  for (const jit of [false, true]) {
    const engine = jit ? 'jit' : 'interpreter';
    const collection = loadVmCollection(collectionFromInstructions({ name: 'loops', section: 'socket', instructions: assemble(source) }), { jit, verify: false, vm: new Vm({ budget: 100_000 }) });
    try {
      const program = collection.program('loops');
      assert.throws(() => program.run({ data: new Uint8Array(64) }), (e: unknown) => e instanceof BudgetExceededError && e.budget === 100_000 && /instruction budget of 100000 exhausted/.test(e.message), engine);
      // A loop within the budget counts its callbacks' instructions: 8 of the caller, 2 per callback run (the inner callback's r0 = 0; exit).
      const small = (budget: number): number => {
        const loaded = loadVmCollection(collectionFromInstructions({ name: 'small', section: 'socket', instructions: assemble('r1 = 100\nr2 = func(pc+5) ll\nr3 = 0\nr4 = 0\ncall bpf_loop\nexit\nr0 = 0\nexit') }), { jit, verify: false, vm: new Vm({ budget }) });
        try {
          return loaded.program('small').run({ data: new Uint8Array(64) }).retval;
        } finally {
          loaded.close();
        }
      };
      assert.equal(small(206), 100, `${engine}: 6 + 200 instructions fit in 206`);
      assert.throws(() => small(205), BudgetExceededError, `${engine}: not in 205`);
    } finally {
      collection.close();
    }
  }
});

test('a run zeroes only the stack its program can reach, and no byte an earlier run of another program wrote shows through it', () => {
  // Fills every byte of its 512-byte call chain (main's and f's frames) with 0xff, through a callee's frame too.
  const dirty = `
    r1 = -1
    ${Array.from({ length: 32 }, (_, k) => `*(u64 *)(r10 - ${8 * (k + 1)}) = r1`).join('\n')}
    call f
    r0 = 0
    exit
  f:
    r1 = -1
    ${Array.from({ length: 32 }, (_, k) => `*(u64 *)(r10 - ${8 * (k + 1)}) = r1`).join('\n')}
    r0 = 0
    exit`;
  // Reads its whole 64-byte frame without writing it, and a program whose frame is deeper still: r0 = OR of all.
  const reader = (bytes: number): string => `
    r0 = 0
    ${Array.from({ length: bytes / 8 }, (_, k) => `r1 = *(u64 *)(r10 - ${8 * (k + 1)})\nr0 |= r1`).join('\n')}
    exit`;
  const vm = new Vm();
  for (const load of [(p: ReturnType<typeof assemble>) => vm.load(p), (p: ReturnType<typeof assemble>) => loadJit(vm, p)]) {
    const writer = load(assemble(dirty));
    for (const bytes of [64, 256, 512]) {
      const read = load(assemble(reader(bytes)));
      assert.equal(writer.run().r0, 0n);
      assert.equal(read.run().r0, 0n, `${bytes}-byte frame after a run that left 0xff in 512 bytes (${read.engine})`);
      // A session's next run zeroes its frame too: what the previous run of the same program left is gone.
      assert.equal(read.run().r0, 0n);
    }
  }
});
