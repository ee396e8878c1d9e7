// VmProgram reuses one packet frame and context block from run to run
// (src/vm/runtime.ts RunWorkspace): each run must still see what a fresh
// BPF_PROG_TEST_RUN frame holds, and fault exactly past its own data_end.
import assert from 'node:assert/strict';
import test from 'node:test';
import { assemble } from '../../src/isa/asm.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { MemoryAccessError, VmMemory } from '../../src/vm/memory.ts';
import { VmProgram } from '../../src/vm/runtime.ts';

/** Moves data 32 bytes into the headroom; when the frame's first byte is 1, fills those 32 bytes with 0xff. */
const DIRTY_HEADROOM = assemble(`
    r6 = r1
    r2 = *(u32 *)(r1 + 0)
    r7 = *(u8 *)(r2 + 0)
    r1 = r6
    r2 = -32
    call 44
    r2 = *(u32 *)(r6 + 0)
    if r7 != 1 goto out
    r3 = -1
    *(u64 *)(r2 + 0) = r3
    *(u64 *)(r2 + 8) = r3
    *(u64 *)(r2 + 16) = r3
    *(u64 *)(r2 + 24) = r3
out:
    r0 = 2
    exit
`);

const frame = (length: number, first: number): Uint8Array => {
  const f = new Uint8Array(length).map((_, i) => (i * 13 + 5) & 0xff);
  f[0] = first;
  return f;
};

for (const jit of [false, true]) {
  test(`${jit ? 'JIT' : 'interpreter'}: headroom a run wrote into is zero again in the next run`, () => {
    const program = new VmProgram(ProgramType.XDP, DIRTY_HEADROOM, { jit });
    try {
      const dirty = program.run({ data: frame(100, 1) });
      assert.deepEqual(dirty.data!.subarray(0, 32), new Uint8Array(32).fill(0xff));
      for (const length of [100, 60, 1500]) {
        const input = frame(length, 0);
        const out = program.run({ data: input }).data!;
        assert.equal(out.length, length + 32);
        assert.deepEqual(out.subarray(0, 32), new Uint8Array(32), `${length}-byte frame: headroom reached by xdp_adjust_head is zeroed`);
        assert.deepEqual(out.subarray(32), input);
      }
    } finally {
      program.close();
    }
  });

  test(`${jit ? 'JIT' : 'interpreter'}: a shorter frame after a longer one faults past its own data_end`, () => {
    const program = new VmProgram(ProgramType.SCHED_CLS, assemble('r2 = *(u32 *)(r1 + 76)\nr0 = *(u8 *)(r2 + 80)\nexit'), { jit });
    try {
      const long = frame(100, 0);
      assert.equal(program.run({ data: long }).retval, long[80]);
      assert.throws(() => program.run({ data: frame(80, 0) }), MemoryAccessError);
      assert.equal(program.run({ data: long }).retval, long[80], 'the program runs again after a fault');
    } finally {
      program.close();
    }
  });
}

test('a run started from inside a run (trace callback) gets its own packet and context', () => {
  const source = assemble(`
    r2 = *(u32 *)(r1 + 0)
    r6 = *(u8 *)(r2 + 0)
    r1 = 0x0a6425
    *(u32 *)(r10 - 8) = r1
    r1 = r10
    r1 += -8
    r2 = 4
    r3 = r6
    call 6
    r0 = r6
    exit
  `);
  let inner: number | undefined;
  let nested = false;
  const program: VmProgram = new VmProgram(ProgramType.XDP, source, {
    onTrace: () => {
      if (nested) return;
      nested = true;
      inner = program.run({ data: frame(60, 7) }).retval;
    },
  });
  try {
    const outer = program.run({ data: frame(64, 3) });
    assert.equal(inner, 7);
    assert.equal(outer.retval, 3, 'the outer run kept its own packet');
    assert.deepEqual(outer.trace, ['3\n']);
  } finally {
    program.close();
  }
});

test('what one run kept for the next (run scope, environment, stack) carries nothing over: no region, redirect, trace line or stack byte', () => {
  const memory = new VmMemory();
  const outer = memory.enterRun();
  const left = memory.allocateRegion(16, 'context', 'left mapped');
  memory.leaveRun(outer);
  memory.enterRun();
  assert.equal(memory.inRunScope(left), false, 'a region an ended run left mapped belongs to no later run');
  memory.unmap(left);
  const cleanRun = memory.runScope;
  memory.leaveRun(undefined);
  memory.enterRun();
  assert.equal(memory.runScope, cleanRun, 'a run that left nothing mapped hands its scope on');
  memory.leaveRun(undefined);

  // Redirects to ifindex 3, prints and writes a stack slot when the frame's first byte is 1; returns the slot as it found it.
  const program = assemble(`
    r6 = *(u64 *)(r10 - 8)
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u8 *)(r2 + 0)
    if r3 != 1 goto out
    r1 = 0x7e
    *(u64 *)(r10 - 8) = r1
    *(u64 *)(r10 - 16) = r1
    r1 = r10
    r1 += -16
    r2 = 2
    call 6
    r1 = 3
    r2 = 0
    call 23
    exit
  out:
    r0 = r6
    exit
  `);
  const frame = (first: number): Uint8Array => Uint8Array.from({ length: 60 }, (_, i) => (i === 0 ? first : 0));
  for (const jit of [false, true]) {
    const vm = new VmProgram(ProgramType.XDP, program, { jit });
    try {
      const first = vm.run({ data: frame(1) });
      assert.deepEqual([first.redirect?.target, first.trace], [3, ['~']], `jit ${jit}`);
      const second = vm.run({ data: frame(0) });
      assert.deepEqual([second.retval, second.redirect, second.trace], [0, undefined, []], `jit ${jit}`);
    } finally {
      vm.close();
    }
  }
});
