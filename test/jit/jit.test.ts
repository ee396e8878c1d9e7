import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AluOp,
  AtomicOp,
  type Instruction,
  JmpOp,
  Mode,
  InsnClass,
  Size,
  alu64Imm,
  alu64Reg,
  atomic,
  callHelper,
  callLocal,
  exit,
  insn,
  ja,
  jmpImm,
  lddw,
  ldx,
  mov64Imm,
  mov64Reg,
  st,
  stx,
} from '../../src/isa/index.ts';
import { HelperRegistry, standardHelpers } from '../../src/vm/helper-registry.ts';
import { Vm } from '../../src/vm/vm.ts';
import { type LoadedProgram, type RunOptions, instructionBound } from '../../src/vm/program.ts';
import { loadJit } from '../../src/vm/jit/index.ts';
import { ByteWriter } from '../../src/vm/jit/wasm.ts';

/**
 * Runs `insns` in the interpreter and the JIT and requires the same outcome
 * (r0 and instruction count, or the error message); returns it. Each engine
 * gets its own VM from `make`, set up identically (the interpreter's VM
 * also gets the JIT's control block), so addresses in messages coincide.
 */
function same(insns: Instruction[], options: RunOptions = {}, make: () => Vm = () => new Vm()): string {
  const jit = loadJit(make(), insns);
  const reference = make();
  loadJit(reference, insns);
  const interpreted = reference.load(insns);
  const outcome = (p: LoadedProgram): string => {
    try {
      const r = p.run({ ...options, mem: options.mem?.slice() });
      return `r0=${r.r0} insns=${r.instructions} tail=${r.tailCalls}`;
    } catch (err) {
      return `${(err as Error).name}: ${(err as Error).message}`;
    }
  };
  const actual = outcome(jit);
  const expected = outcome(interpreted);
  assert.equal(actual, expected);
  return expected;
}

test('LEB128 encodings', () => {
  const enc = (f: (w: ByteWriter) => void): number[] => {
    const w = new ByteWriter();
    f(w);
    return [...w.view()];
  };
  assert.deepEqual(enc((w) => w.u32(624485)), [0xe5, 0x8e, 0x26]);
  assert.deepEqual(enc((w) => w.s32(-123456)), [0xc0, 0xbb, 0x78]);
  assert.deepEqual(enc((w) => w.s32(63)), [0x3f]);
  assert.deepEqual(enc((w) => w.s32(64)), [0xc0, 0x00]);
  assert.deepEqual(enc((w) => w.s64(-(2n ** 63n))), [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x7f]);
  assert.deepEqual(enc((w) => w.s64(2n ** 40n)), [0x80, 0x80, 0x80, 0x80, 0x80, 0x20]);
});

test('an irreducible CFG compiles through the dispatch fallback and runs correctly', () => {
  // Two entries into the loop {A, B}: entry -> A, entry -> B, A -> B, B -> A.
  const insns = [
    mov64Imm(0, 0),
    mov64Imm(2, 5),
    jmpImm(JmpOp.JEQ, 1, 0, 3), // -> B
    alu64Imm(AluOp.ADD, 0, 1), // A
    alu64Imm(AluOp.SUB, 2, 1),
    jmpImm(JmpOp.JEQ, 2, 0, 4), // -> exit
    alu64Imm(AluOp.MUL, 0, 10), // B
    alu64Imm(AluOp.SUB, 2, 1),
    jmpImm(JmpOp.JNE, 2, 0, -6), // -> A
    exit(),
    exit(),
  ];
  assert.equal(loadJit(new Vm(), insns).stats.dispatchFunctions, 1);
  assert.equal(same(insns, { r1: 0 }), 'r0=110 insns=19 tail=0');
  assert.equal(same(insns, { r1: 1 }), 'r0=111 insns=19 tail=0');
});

test('nested loops and if/else shapes stay structured', () => {
  // for (i = 3; i; i--) for (j = 4; j; j--) r0 += (j & 1) ? i : j
  const insns = [
    mov64Imm(0, 0),
    mov64Imm(6, 3),
    mov64Imm(7, 4),
    mov64Reg(8, 7),
    alu64Imm(AluOp.AND, 8, 1),
    jmpImm(JmpOp.JEQ, 8, 0, 2),
    alu64Reg(AluOp.ADD, 0, 6),
    ja(1),
    alu64Reg(AluOp.ADD, 0, 7),
    alu64Imm(AluOp.SUB, 7, 1),
    jmpImm(JmpOp.JNE, 7, 0, -8),
    alu64Imm(AluOp.SUB, 6, 1),
    jmpImm(JmpOp.JNE, 6, 0, -11),
    exit(),
  ];
  const jit = loadJit(new Vm(), insns);
  assert.equal(jit.stats.dispatchFunctions, 0);
  assert.equal(same(insns, {}), `r0=${3 * (2 + 4) + (3 + 2 + 1) * 2} insns=${jit.run().instructions} tail=0`);
});

test('memory faults match the interpreter: NULL, out of the buffer, beyond 32 bits, read-only, stack below the frame', () => {
  const mem = new Uint8Array(16);
  assert.match(same([mov64Imm(1, 0), ldx(Size.W, 0, 1, 0), exit()]), /MemoryAccessError: instruction 1: invalid read of 4 bytes at 0x0/);
  assert.match(same([ldx(Size.DW, 0, 1, 12), exit()], { mem }), /instruction 0: invalid read of 8 bytes/);
  assert.match(same([...lddw(2, 1n << 32n), alu64Reg(AluOp.ADD, 1, 2), st(Size.B, 1, 0, 1), exit()], { mem }), /instruction 3: invalid write of 1 byte at 0x1/);
  assert.match(same([st(Size.B, 1, 0, 1), exit()], { mem, memWritable: false }), /is read-only/);
  // Below the running frame (r10 - 513) through a derived pointer and directly.
  assert.match(same([mov64Reg(2, 10), alu64Imm(AluOp.ADD, 2, -513), ldx(Size.B, 0, 2, 0), exit()]), /instruction 2: invalid read/);
  assert.match(same([ldx(Size.B, 0, 10, -513), exit()]), /instruction 0: invalid read/);
  // Reads and writes inside the buffer work after a fault-free slow path.
  assert.equal(same([st(Size.DW, 1, 8, -2), ldx(Size.DW, 0, 1, 8), exit()], { mem }), 'r0=18446744073709551614 insns=3 tail=0');
});

test('a callee may read its caller frame but not its own returned frame', () => {
  // main: r1 = r10 - 8, *(u64 *)(r10 - 8) = 7; call f; f reads *(r1) = 7 and returns it.
  const callee = [ldx(Size.DW, 0, 1, 0), exit()];
  const main = [st(Size.DW, 10, -8, 7), mov64Reg(1, 10), alu64Imm(AluOp.ADD, 1, -8), callLocal(1), exit()];
  assert.equal(same([...main, ...callee]), 'r0=7 insns=7 tail=0');
  // f returns its own r10; main then reads below its frame: a fault.
  const leak = [mov64Reg(0, 10), exit()];
  const main2 = [callLocal(3), alu64Imm(AluOp.ADD, 0, -8), ldx(Size.DW, 0, 0, 0), exit()];
  assert.match(same([...main2, ...leak]), /StackAccessError: instruction 2: invalid read of 8 bytes at r10-8 in frame 0 \('program'\): the frame is 0 bytes/);
});

test('call depth: 8 frames run, a 9th is CallDepthError', () => {
  // f(n): if n == 0 return 0; return f(n - 1) + 1
  const f = (start: number): Instruction[] => [
    jmpImm(JmpOp.JNE, 1, 0, 2),
    mov64Imm(0, 0),
    exit(),
    alu64Imm(AluOp.SUB, 1, 1),
    callLocal(start - (start + 4) - 1),
    alu64Imm(AluOp.ADD, 0, 1),
    exit(),
  ];
  const program = (n: number): Instruction[] => [mov64Imm(1, n), callLocal(1), exit(), ...f(3)];
  assert.match(same(program(6)), /^r0=6 /);
  assert.match(same(program(7)), /CallDepthError: instruction 7: the call stack of 9 frames is too deep/);
});

test('instruction budget: the same instruction index and count as the interpreter', () => {
  const loop = [mov64Imm(0, 0), alu64Imm(AluOp.ADD, 0, 1), ...lddw(2, 5n), ja(-4)];
  for (const budget of [1, 2, 3, 4, 5, 6, 7, 100]) {
    assert.match(same(loop, { budget }), /BudgetExceededError/);
  }
  assert.equal(same([mov64Imm(0, 1), exit()], { budget: 2 }), 'r0=1 insns=2 tail=0');
});

test('falling off the end is the interpreter error', () => {
  assert.equal(same([mov64Imm(0, 1), jmpImm(JmpOp.JEQ, 0, 2, -2), mov64Imm(0, 2)]), 'VmRuntimeError: instruction 3: execution fell off the end of the program (no exit)');
});

test('r10 may be overwritten (it is then a plain callee-saved register)', () => {
  const mem = new Uint8Array(8);
  assert.match(same([mov64Reg(10, 1), st(Size.W, 10, 4, 99), ldx(Size.W, 0, 10, 4), exit()], { mem }), /^r0=99 /);
});

test('LD_ABS / LD_IND: big-endian loads, out of bounds returns 0, no packet is an error', () => {
  let start = 0;
  const vm = (): Vm => {
    const made = new Vm();
    start = made.memory.allocateRegion(6, 'packet', 'packet').start;
    made.memory.u8.set([0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc], start);
    return made;
  };
  const packet = { start: (vm(), start) };
  const ldAbs = (size: number, imm: number): Instruction => insn(InsnClass.LD | Mode.ABS | size, 0, 0, 0, imm);
  const ldInd = (size: number, src: number, imm: number): Instruction => insn(InsnClass.LD | Mode.IND | size, 0, src, 0, imm);
  const p = { packet: { start: packet.start, length: 6 } };
  assert.match(same([ldAbs(Size.W, 1), exit()], p, vm), /^r0=878082202 /);
  assert.match(same([ldAbs(Size.H, 4), exit()], p, vm), /^r0=39612 /);
  assert.match(same([mov64Imm(3, 2), ldInd(Size.B, 3, 3), exit()], p, vm), /^r0=188 /);
  assert.match(same([ldAbs(Size.W, 3), mov64Imm(0, 5), exit()], p, vm), /^r0=0 insns=1 /);
  assert.match(same([mov64Imm(3, -8), ldInd(Size.B, 3, 3), exit()], p, vm), /^r0=0 /);
  assert.match(same([ldAbs(Size.B, 0), exit()], {}, vm), /needs packet data/);
});

test('atomics on the stack: every operation and fetch form', () => {
  const ops = [AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR, AtomicOp.XCHG, AtomicOp.CMPXCHG];
  for (const size of [Size.W, Size.DW]) {
    for (const base of ops) {
      for (const fetch of base === AtomicOp.XCHG || base === AtomicOp.CMPXCHG ? [0] : [0, AtomicOp.FETCH]) {
        const insns = [
          ...lddw(1, 0x1234_5678_9abc_def0n),
          stx(Size.DW, 10, -8, 1),
          ...lddw(2, 0x0fed_cba9_8765_4321n),
          ...lddw(0, 0x9abc_def0n),
          atomic(size, base | fetch, 10, -8, 2),
          ldx(Size.DW, 3, 10, -8),
          alu64Reg(AluOp.XOR, 0, 3),
          alu64Reg(AluOp.XOR, 0, 2),
          exit(),
        ];
        same(insns);
      }
    }
  }
});

test('helpers: arguments, r0, errors, pointers and exitProgram behave as in the interpreter', () => {
  const helpers = new HelperRegistry(standardHelpers);
  const vm = (): Vm => new Vm({ helpers });
  helpers.register(1001, (call) => call.argU64(1) * 3n + call.argU64(5));
  helpers.register(1002, () => {
    throw new Error('boom');
  });
  helpers.register(1003, (call) => call.exitProgram(call.argI64(1)));
  helpers.register(1005, (call) => call.bytes(1, 4, true).fill(0xab).length);
  assert.match(same([...lddw(1, 1n << 40n), mov64Imm(5, 7), callHelper(1001), exit()], {}, vm), new RegExp(`^r0=${3n * (1n << 40n) + 7n} `));
  assert.match(same([callHelper(1002), exit()], {}, vm), /HelperError: instruction 0: helper 1002 failed: boom/);
  // exitProgram from a subprogram ends the whole program.
  assert.equal(same([callLocal(2), mov64Imm(0, 1), exit(), mov64Imm(1, 42), callHelper(1003), mov64Imm(0, 9), exit()], {}, vm), 'r0=42 insns=3 tail=0');
  // A helper writing through a stack pointer, then a pointer outside every region.
  assert.match(same([mov64Reg(1, 10), alu64Imm(AluOp.ADD, 1, -4), callHelper(1005), ldx(Size.W, 0, 10, -4), exit()], {}, vm), /^r0=2880154539 /);
  assert.match(same([mov64Imm(1, 64), callHelper(1005), exit()], {}, vm), /MemoryAccessError: instruction 1/);
});

test('tail calls: 33 at most, the frame is reset, the result is the last program', () => {
  const helpers = new HelperRegistry(standardHelpers);
  const vm = new Vm({ helpers });
  let target: LoadedProgram | undefined;
  helpers.register(1004, (call) => (call.tailCall(target!) ? 0 : -1));
  // *(r10-8) is 0 on entry (frame reset); count calls in a buffer.
  const insns = [
    ldx(Size.DW, 0, 10, -8),
    st(Size.DW, 10, -8, 1),
    ldx(Size.W, 2, 1, 0),
    alu64Imm(AluOp.ADD, 2, 1),
    stx(Size.W, 1, 0, 2),
    callHelper(1004),
    alu64Imm(AluOp.ADD, 0, 1000),
    exit(),
  ];
  const prologue = [mov64Imm(6, 0)];
  const outcomes: string[] = [];
  for (const jit of [false, true]) {
    const mem = new Uint8Array(4);
    const first = jit ? loadJit(vm, [...prologue, ...insns]) : vm.load([...prologue, ...insns]);
    target = jit ? loadJit(vm, insns) : vm.load(insns);
    // The context (r1) carries over to the tail-called program.
    const r = first.run({ mem });
    outcomes.push(`r0=${BigInt.asIntN(64, r.r0)} tail=${r.tailCalls} count=${mem[0]} insns=${r.instructions}`);
  }
  assert.equal(outcomes[1], outcomes[0]);
  assert.match(outcomes[0]!, /r0=999 tail=33 count=34/);
});

test('inlined map lookups (array, hash, LRU hash) match the helper, including misses and key faults', async () => {
  const { ArrayMap } = await import('../../src/maps/array.ts');
  const { HashMap } = await import('../../src/maps/hash.ts');
  const { vmMapByHandle } = await import('../../src/maps/base.ts');
  const { MapType } = await import('../../src/uapi/enums.ts');
  const helpers = new HelperRegistry(standardHelpers);
  if (!standardHelpers.helper(1)) {
    helpers.register(1, (call) => {
      const map = vmMapByHandle(call.memory, call.argU32(1));
      return map === undefined ? 0 : map.lookupElem(call.pointer(2, map.keySize, false), 0);
    });
  }
  const key = (n: number, size: number): Uint8Array => Uint8Array.from({ length: size }, (_, k) => (n * 37 + k * 11) & 0xff);
  // Each VM gets the same maps at the same addresses, filled the same way.
  const setup = (): { vm: Vm; maps: (InstanceType<typeof ArrayMap> | InstanceType<typeof HashMap>)[] } => {
    const vm = new Vm({ helpers });
    const maps = [
      new ArrayMap(vm.memory, { type: MapType.ARRAY, keySize: 4, valueSize: 12, maxEntries: 10 }),
      ...[1, 3, 4, 7, 12, 13, 20, 25].map((keySize) => new HashMap(vm.memory, { type: MapType.HASH, keySize, valueSize: 8, maxEntries: 16 })),
      new HashMap(vm.memory, { type: MapType.LRU_HASH, keySize: 6, valueSize: 8, maxEntries: 16 }),
    ];
    for (const [m, map] of maps.entries()) {
      for (let n = 0; n < 12; n += 2) {
        if (map instanceof ArrayMap) {
          if (n < 10) map.update(Uint8Array.of(n, 0, 0, 0), new Uint8Array(12).fill(n + 1));
        } else map.update(key(n, map.keySize), new Uint8Array(8).fill(n + m));
      }
    }
    return { vm, maps };
  };
  const { vm, maps } = setup();
  const make = (): Vm => setup().vm;
  for (const map of maps) {
    const keySize = map.keySize;
    for (let n = 0; n < 12; n++) {
      // Key on the stack, lookup, r0 = value word (or 12345 on a miss).
      const keyBytes = map instanceof ArrayMap ? Uint8Array.of(n, 0, 0, 0) : key(n, keySize);
      const stores = [...keyBytes].map((b, k) => st(Size.B, 10, -32 + k, b));
      const insns = [
        ...stores,
        ...lddw(1, map.handle),
        mov64Reg(2, 10),
        alu64Imm(AluOp.ADD, 2, -32),
        callHelper(1),
        jmpImm(JmpOp.JEQ, 0, 0, 2),
        ldx(Size.DW, 0, 0, 0),
        exit(),
        mov64Imm(0, 12345),
        exit(),
      ];
      same(insns, {}, make);
      const jit = loadJit(vm, insns);
      const plain = loadJit(vm, insns, { inlineMaps: false });
      assert.equal(jit.run().r0, plain.run().r0);
    }
    // A key pointer outside every region faults at the call, as the helper does.
    assert.match(same([...lddw(1, map.handle), mov64Imm(2, 8), callHelper(1), exit()], {}, make), /MemoryAccessError: instruction 3: invalid read/);
  }
});

test('a budget that ends inside a block after a faulting access reports the fault, as the interpreter', () => {
  const mem = new Uint8Array(8);
  // One block: two moves, a faulting load at 2, more moves, exit.
  const insns = [mov64Imm(0, 1), mov64Imm(2, 0), ldx(Size.W, 3, 2, 0), mov64Imm(0, 2), mov64Imm(0, 3), exit()];
  for (let budget = 1; budget <= 7; budget++) same(insns, { budget, mem });
  assert.match(same(insns, { budget: 2, mem }), /BudgetExceededError: instruction 2/);
  assert.match(same(insns, { budget: 5, mem }), /MemoryAccessError: instruction 2/);
  // A helper call inside the block, then the budget ends: the helper ran (its trace shows it).
  const helpers = new HelperRegistry(standardHelpers);
  const calls: number[] = [];
  helpers.register(1006, (call) => {
    calls.push(call.pc);
    return 7;
  });
  const withHelper = [mov64Imm(1, 1), callHelper(1006), alu64Imm(AluOp.ADD, 0, 1), mov64Imm(2, 3), exit()];
  for (let budget = 1; budget <= 6; budget++) {
    calls.length = 0;
    const outcome = same(withHelper, { budget }, () => new Vm({ helpers }));
    assert.deepEqual(calls, budget >= 2 ? [1, 1] : [], `budget ${budget}: ${outcome}`);
  }
});

test('deep and large programs: a 6 000-deep chain of conditionals compiles both ways; a module the engine refuses is a JitCompileError', async () => {
  const { JitCompileError } = await import('../../src/vm/jit/index.ts');
  const chain = (n: number): Instruction[] => {
    const p: Instruction[] = [mov64Imm(0, 0)];
    for (let k = 0; k < n; k++) p.push(jmpImm(JmpOp.JEQ, 1, k & 7, 1), alu64Imm(AluOp.ADD, 0, 1));
    return [...p, exit()];
  };
  const p = chain(6_000);
  const vm = new Vm();
  const expected = vm.load(p).run({ r1: 3 });
  for (const controlFlow of ['structured', 'dispatch'] as const) {
    const r = loadJit(vm, p, { controlFlow }).run({ r1: 3 });
    assert.deepEqual([r.r0, r.instructions], [expected.r0, expected.instructions]);
  }
  assert.throws(() => loadJit(vm, chain(100_000), { controlFlow: 'dispatch' }), JitCompileError);
});

test('a helper may run another program (nested run) in the middle of a run', () => {
  const helpers = new HelperRegistry(standardHelpers);
  let inner: LoadedProgram | undefined;
  helpers.register(1007, (call) => inner!.run({ r1: call.argU64(1), budget: 50 }).r0 + 1000n);
  // Outer: stack data, a loop calling the helper, then reads its stack back.
  const outer = [
    st(Size.DW, 10, -8, 5),
    mov64Imm(6, 3),
    mov64Imm(7, 0),
    mov64Reg(1, 6),
    callHelper(1007),
    alu64Reg(AluOp.ADD, 7, 0),
    alu64Imm(AluOp.SUB, 6, 1),
    jmpImm(JmpOp.JNE, 6, 0, -5),
    ldx(Size.DW, 0, 10, -8),
    alu64Reg(AluOp.ADD, 0, 7),
    exit(),
  ];
  // Inner: its own stack and a bpf-to-bpf call.
  const innerCode = [st(Size.DW, 10, -8, 11), callLocal(2), ldx(Size.DW, 1, 10, -8), exit(), alu64Imm(AluOp.MUL, 1, 7), mov64Reg(0, 1), exit()];
  const outcomes = [false, true].map((jit) => {
    const vm = new Vm({ helpers });
    inner = jit ? loadJit(vm, innerCode) : vm.load(innerCode);
    const r = (jit ? loadJit(vm, outer) : vm.load(outer)).run();
    return `r0=${r.r0} insns=${r.instructions}`;
  });
  assert.equal(outcomes[1], outcomes[0]);
  assert.equal(outcomes[0], `r0=${5 + (21 + 1000) + (14 + 1000) + (7 + 1000)} insns=${3 + 3 * 5 + 3}`);
});

test('repeated runs of a program with an instruction bound (no budget counted but in the last run) match the interpreter: memory carried over, the fault of a later run, a budget below the bound', () => {
  // Each run adds 1 to the u64 at mem[0] through a bpf-to-bpf call and returns it; the third run reads 64 KiB past the buffer.
  const insns: Instruction[] = [
    mov64Reg(6, 1),
    callLocal(7),
    ldx(Size.DW, 2, 6, 0),
    jmpImm(JmpOp.JLT, 2, 3, 3),
    mov64Reg(3, 6),
    alu64Imm(AluOp.ADD, 3, 0x10000),
    ldx(Size.B, 4, 3, 0),
    mov64Reg(0, 2),
    exit(),
    ldx(Size.DW, 2, 1, 0),
    alu64Imm(AluOp.ADD, 2, 1),
    stx(Size.DW, 1, 0, 2),
    exit(),
  ];
  // Every instruction once, and the callee's four again for the call.
  assert.equal(instructionBound(insns), 17);
  for (const checked of [true, false]) {
    const jit = loadJit(new Vm(), insns, { checked });
    // The interpreter's VM gets the same layout (a JIT's control block), so that addresses in messages coincide.
    const reference = new Vm();
    loadJit(reference, insns, { checked });
    const interpreted = reference.load(insns);
    const outcome = (p: LoadedProgram, repeat: number, budget?: number): string => {
      const mem = new Uint8Array(16);
      try {
        const r = p.runRepeated({ mem, budget }, repeat);
        return `r0=${r.r0} insns=${r.instructions} mem=${mem[0]}`;
      } catch (err) {
        return `${(err as Error).name}: ${(err as Error).message} mem=${mem[0]}`;
      }
    };
    assert.equal(outcome(jit, 2), 'r0=2 insns=10 mem=2');
    if (checked) {
      assert.equal(outcome(jit, 5), outcome(interpreted, 5));
      assert.match(outcome(jit, 5), /^MemoryAccessError: .* mem=3$/);
    }
    for (const budget of [17, 10, 9]) assert.equal(outcome(jit, 2, budget), outcome(interpreted, 2, budget));
    assert.match(outcome(jit, 2, 9), /^BudgetExceededError: .* mem=1$/);
  }
});
