import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assemble } from '../../src/isa/index.ts';
import { type ExecutionStep, Vm, VmOptionError, VmProgram } from '../../src/vm/index.ts';
import { ProgramType } from '../../src/uapi/index.ts';

// A bpf-to-bpf call, a loop and a stack store: the hook sees every instruction with the registers before it.
const PROGRAM = assemble(`
  r6 = 0
  r1 = 3
loop:
  r6 += r1
  r1 -= 1
  if r1 != 0 goto loop
  *(u64 *)(r10 - 8) = r6
  r1 = r6
  call double
  exit
double:
  r0 = r1
  r0 <<= 1
  exit`);

interface Seen {
  pc: number;
  depth: number;
  executed: number;
  r0: bigint;
  r6: bigint;
}

const record = (seen: Seen[]) => (s: ExecutionStep) => seen.push({ pc: s.pc, depth: s.depth, executed: s.executed, r0: s.register(0), r6: s.register(6) });

test('onStep sees every instruction, in order, with the registers and call depth before it', () => {
  const prog = new Vm().load(PROGRAM);
  const plain = prog.run();
  const seen: Seen[] = [];
  const traced = prog.run({ onStep: record(seen) });
  assert.equal(traced.r0, 12n);
  assert.equal(traced.r0, plain.r0);
  assert.equal(traced.instructions, plain.instructions);
  assert.equal(seen.length, plain.instructions);
  assert.deepEqual(seen.map((s) => s.executed), seen.map((_, i) => i));
  assert.deepEqual(seen.map((s) => s.pc), [0, 1, 2, 3, 4, 2, 3, 4, 2, 3, 4, 5, 6, 7, 9, 10, 11, 8]);
  assert.deepEqual(seen.filter((s) => s.depth === 1).map((s) => s.pc), [9, 10, 11]);
  assert.equal(seen.find((s) => s.pc === 5)!.r6, 6n);
  assert.equal(seen.at(-1)!.r0, 12n);
  // The hook is per run: the next run without it is untraced.
  const after: Seen[] = [];
  prog.run({ onStep: record(after) });
  after.length = 0;
  prog.run();
  assert.equal(after.length, 0);
});

test('onStep honours the budget, repeats and stack contents; the JIT refuses it', () => {
  const vm = new Vm();
  const prog = vm.load(PROGRAM);
  const repeated: Seen[] = [];
  prog.runRepeated({ onStep: record(repeated) }, 2);
  assert.equal(repeated.length, 36);
  assert.equal(repeated[18]!.executed, 0);
  assert.throws(() => prog.run({ budget: 5, onStep: () => {} }), /budget/);
  let stored = 0n;
  prog.run({
    onStep: (s) => {
      if (s.pc === 6) stored = s.memory.view.getBigUint64(Number(s.register(10)) - 8, true);
    },
  });
  assert.equal(stored, 6n);
  const xdp = new VmProgram(ProgramType.XDP, assemble('r0 = 2\nexit'), { jit: true });
  assert.throws(() => xdp.run({ data: new Uint8Array(64), onStep: () => {} }), VmOptionError);
  const interpreted = new VmProgram(ProgramType.XDP, assemble('r0 = 2\nexit'));
  const pcs: number[] = [];
  assert.equal(interpreted.run({ data: new Uint8Array(64), onStep: (s) => pcs.push(s.pc) }).retval, 2);
  assert.deepEqual(pcs, [0, 1]);
});
