import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type Instruction, exit, insn, lddw } from '../../src/isa/index.ts';
import { ProgramType } from '../../src/uapi/enums.ts';
import { Vm } from '../../src/vm/index.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

// Differential tests against Linux: random straight-line programs with
// forward branches over every ALU and JMP/JMP32 opcode, and random mixes of
// stack loads (plain and sign-extending), stores, atomics and
// load-acquire/store-release, of bpf-to-bpf calls, and of legacy packet
// loads, run by the kernel (XDP or tc, BPF_PROG_TEST_RUN) and by the
// interpreter. Test-run returns the low
// 32 bits of r0, so the program folds r0's halves together before exiting.
// The generator stays inside what the verifier accepts: every register is
// initialised, shift immediates are in range, no division by immediate 0,
// no writes to r10.

const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0];
const JMP_OPS = [0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0xa0, 0xb0, 0xc0, 0xd0];
const EDGE_IMMS = [0, 1, -1, 2, 7, 31, 32, 63, 0x7fffffff, -0x80000000, 0x12345678, -0x3b9aca00];

function randomProgram(rand: (n: number) => number): Instruction[] {
  const out: Instruction[] = [];
  const edge64 = [0n, 1n, 0xffffffffffffffffn, 0x8000000000000000n, 0x7fffffffffffffffn, 0xffffffffn, 0x80000000n, 0x100000000n];
  for (let r = 0; r <= 9; r++) {
    const v = rand(3) === 0 ? edge64[rand(edge64.length)]! : (BigInt(rand(1 << 30)) << 34n) ^ (BigInt(rand(1 << 30)) << 10n) ^ BigInt(rand(1 << 30));
    out.push(...lddw(r, v));
  }
  const body = 24 + rand(16);
  for (let i = 0; i < body; i++) {
    const left = body - i; // instructions still to emit before the fold
    const dst = rand(10);
    const src = rand(10);
    const imm = rand(2) === 0 ? EDGE_IMMS[rand(EDGE_IMMS.length)]! : (rand(1 << 30) << 2) ^ rand(4);
    if (rand(5) === 0 && left > 1) {
      const cls = rand(2) === 0 ? 0x05 : 0x06;
      const op = JMP_OPS[rand(JMP_OPS.length)]!;
      const offset = rand(Math.min(left - 1, 6));
      out.push(rand(2) === 0 ? insn(cls | op, dst, 0, offset, imm) : insn(cls | op | 0x08, dst, src, offset, 0));
      continue;
    }
    const cls = rand(2) === 0 ? 0x07 : 0x04;
    const op = ALU_OPS[rand(ALU_OPS.length)]!;
    const width = cls === 0x07 ? 64 : 32;
    if (op === 0x80) {
      out.push(insn(cls | op, dst));
    } else if (op === 0xd0) {
      const kind = rand(3); // le, be, bswap
      const bits = [16, 32, 64][rand(3)]!;
      out.push(kind === 2 ? insn(0xd7, dst, 0, 0, bits) : insn(0x04 | op | (kind === 1 ? 0x08 : 0), dst, 0, 0, bits));
    } else if (op === 0xb0 && rand(3) === 0) {
      const sizes = cls === 0x07 ? [8, 16, 32] : [8, 16];
      out.push(insn(cls | op | 0x08, dst, src, sizes[rand(sizes.length)]!)); // movsx
    } else if (rand(2) === 0) {
      let k = imm;
      if (op === 0x60 || op === 0x70 || op === 0xc0) k = rand(width);
      if ((op === 0x30 || op === 0x90) && k === 0) k = 3;
      const signed = (op === 0x30 || op === 0x90) && rand(2) === 0 ? 1 : 0;
      out.push(insn(cls | op, dst, 0, signed, k));
    } else {
      const signed = (op === 0x30 || op === 0x90) && rand(2) === 0 ? 1 : 0;
      out.push(insn(cls | op | 0x08, dst, src, signed));
    }
  }
  // r0 ^= r0 >> 32, so the 32-bit retval depends on all 64 bits.
  out.push(insn(0xbf, 1, 0), insn(0x77, 1, 0, 0, 32), insn(0xaf, 0, 1), exit());
  return out;
}

const SIZES = [
  [0x10, 1],
  [0x08, 2],
  [0x00, 4],
  [0x18, 8],
] as const;
const ATOMICS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1];

/** Loads, stores, sign-extending loads and atomics on a 64-byte stack area, mixed with ALU ops; the result folds in the area. */
function randomMemoryProgram(rand: (n: number) => number): Instruction[] {
  const out: Instruction[] = [];
  for (let r = 0; r <= 9; r++) out.push(...lddw(r, (BigInt(rand(1 << 30)) << 34n) ^ (BigInt(rand(1 << 30)) << 12n) ^ BigInt(rand(1 << 30))));
  for (let k = 1; k <= 8; k++) out.push(insn(0x7b, 10, k, -8 * k)); // *(u64 *)(r10 - 8k) = rk
  const body = 20 + rand(12);
  for (let i = 0; i < body; i++) {
    const [sizeBits, bytes] = SIZES[rand(4)]!;
    const offset = -bytes * (1 + rand(64 / bytes)); // naturally aligned, inside r10-64..r10
    const reg = rand(10);
    switch (rand(6)) {
      case 0:
        out.push(insn(0x61 | sizeBits, reg, 10, offset)); // ldx
        break;
      case 1:
        out.push(bytes === 8 ? insn(0x79, reg, 10, offset) : insn(0x81 | sizeBits, reg, 10, offset)); // ldxs
        break;
      case 2:
        out.push(insn(0x63 | sizeBits, 10, reg, offset)); // stx
        break;
      case 3:
        out.push(insn(0x62 | sizeBits, 10, 0, offset, rand(2) === 0 ? -1 : rand(1 << 30) - (1 << 29))); // st
        break;
      case 4: {
        if (bytes < 4) {
          out.push(rand(2) === 0 ? insn(0xc3 | sizeBits, reg, 10, offset, 0x100) : insn(0xc3 | sizeBits, 10, reg, offset, 0x110));
          break;
        }
        const op = ATOMICS[rand(ATOMICS.length)]!;
        out.push(insn(0xc3 | sizeBits, 10, op === 0xf1 ? 1 + rand(9) : reg, offset, op));
        break;
      }
      default:
        out.push(insn(rand(2) === 0 ? 0x0f : 0xaf, reg, rand(10))); // add / xor 64
    }
  }
  for (let k = 1; k <= 8; k++) out.push(insn(0x79, 1, 10, -8 * k), insn(0x27, 0, 0, 0, 31), insn(0xaf, 0, 1));
  out.push(insn(0xbf, 1, 0), insn(0x77, 1, 0, 0, 32), insn(0xaf, 0, 1), exit());
  return out;
}

/**
 * A main program and a subprogram, each with its own stack slots, calling
 * the subprogram a few times: r6-r9 must survive the calls (the callee
 * overwrites them), r0 carries the
 * result, each frame's stack stays its own, and the callee writes into the
 * caller's frame through a pointer argument. r1-r5 are reloaded after each
 * call (the verifier treats them as clobbered).
 */
function randomCallProgram(rand: (n: number) => number): Instruction[] {
  const constant = (): bigint => (BigInt(rand(1 << 30)) << 34n) ^ BigInt(rand(1 << 30));
  const alu = (regs: number): Instruction => {
    const ops = [0x0f, 0x1f, 0x2f, 0xaf, 0x4f, 0x5f];
    return insn(ops[rand(ops.length)]!, rand(regs), rand(regs));
  };
  const main: Instruction[] = [];
  for (let r = 0; r <= 9; r++) main.push(...lddw(r, constant()));
  main.push(insn(0x7b, 10, 6, -8), insn(0x7b, 10, 7, -16));
  const calls = 1 + rand(3);
  const callSites: number[] = [];
  for (let c = 0; c < calls; c++) {
    for (let i = 0; i < 4; i++) main.push(alu(10));
    main.push(insn(0xbf, 1, 10), insn(0x07, 1, 0, 0, -16)); // r1 = &caller's slot at r10-16
    callSites.push(main.length);
    main.push(insn(0x85, 0, 1, 0, 0)); // call local (target patched below)
    for (let r = 1; r <= 5; r++) main.push(...lddw(r, constant()));
    main.push(insn(0x0f, 6, 0), insn(0x79, 2, 10, -8), insn(0xaf, 7, 2), insn(0x79, 3, 10, -16), insn(0xaf, 8, 3));
  }
  main.push(insn(0x0f, 0, 6), insn(0xaf, 0, 7), insn(0x0f, 0, 8), insn(0xaf, 0, 9));
  main.push(insn(0xbf, 1, 0), insn(0x77, 1, 0, 0, 32), insn(0xaf, 0, 1), exit());
  // The subprogram: r1 = pointer into the caller's frame, r2-r5 unknown to it.
  // It also clobbers r6-r9, which the caller must get back.
  const sub: Instruction[] = [...lddw(0, constant()), ...lddw(2, constant()), ...lddw(3, constant())];
  for (let r = 6; r <= 9; r++) sub.push(...lddw(r, constant()));
  sub.push(insn(0x7b, 10, 2, -8), insn(0x7b, 10, 3, -16)); // its own frame
  const subRegs = [0, 2, 3, 6, 7, 8, 9];
  for (let i = 0; i < 5; i++) sub.push(insn([0x0f, 0x2f, 0xaf][rand(3)]!, subRegs[rand(subRegs.length)]!, subRegs[rand(subRegs.length)]!));
  sub.push(insn(0x79, 4, 10, -8), insn(0x0f, 0, 4), insn(0x79, 4, 1, 0), insn(0xaf, 0, 4), insn(0x7b, 1, 0, 0), exit());
  for (const at of callSites) main[at] = insn(0x85, 0, 1, 0, main.length - at - 1);
  return [...main, ...sub];
}

interface Differential {
  name: string;
  seed: number;
  count: number;
  generate: (rand: (n: number) => number) => Instruction[];
  /** Program type in the kernel (default XDP) and its test-run data (default 64 zero bytes). */
  type?: number;
  data?: Uint8Array;
  /** How the VM runs a program (default: no input). */
  runVm?: (vm: Vm, program: Instruction[]) => bigint;
}

/** Runs `count` generated programs in the VM and in the kernel, compares r0's low half, returns the distinct results. */
async function differential(d: Differential, vm = new Vm()): Promise<Set<number>> {
  const { KernelProgram } = await import('../../src/kernel/program.ts');
  const seed = fuzzSeed(d.seed);
  const random = seededRandom(seed);
  const rand = (n: number): number => Math.floor(random() * n);
  const data = d.data ?? new Uint8Array(64);
  const runVm = d.runVm ?? ((v: Vm, program: Instruction[]): bigint => v.load(program).run().r0);
  const seen = new Set<number>();
  for (let n = 0; n < d.count; n++) {
    const program = d.generate(rand);
    const expected = runVm(vm, program);
    const kernel = KernelProgram.load({ type: d.type ?? ProgramType.XDP, instructions: program, name: d.name });
    try {
      const { retval } = kernel.run({ data });
      assert.equal(retval >>> 0, Number(expected & 0xffffffffn), `seed ${seed}, program ${n}: ${JSON.stringify(program)}`);
      seen.add(retval);
    } finally {
      kernel.close();
    }
  }
  return seen;
}

// The generators must produce varied results, not a constant the two sides agree on trivially.

test('interpreter agrees with the Linux kernel on random ALU/JMP programs', { skip: skipWithoutKernel() }, async () => {
  const seen = await differential({ name: 'vm_diff', seed: 0xc0ffee, count: 300, generate: randomProgram });
  assert.ok(seen.size > 150, `only ${seen.size} distinct results`);
});

test('interpreter agrees with the Linux kernel on random stack loads, stores and atomics', { skip: skipWithoutKernel() }, async () => {
  const seen = await differential({ name: 'vm_diff_mem', seed: 0xbadc0de, count: 200, generate: randomMemoryProgram });
  assert.ok(seen.size > 150, `only ${seen.size} distinct results`);
});

test('interpreter agrees with the Linux kernel on random bpf-to-bpf calls', { skip: skipWithoutKernel() }, async () => {
  const seen = await differential({ name: 'vm_diff_call', seed: 0x5eed, count: 60, generate: randomCallProgram });
  assert.ok(seen.size > 50, `only ${seen.size} distinct results`);
});

test('interpreter agrees with the Linux kernel on LD_ABS / LD_IND, in and out of bounds', { skip: skipWithoutKernel() }, async () => {
  const random = seededRandom(fuzzSeed(0xab5));
  const packetBytes = Uint8Array.from({ length: 64 }, () => Math.floor(random() * 256));
  const vm = new Vm();
  const region = vm.memory.allocateRegion(packetBytes.length, 'packet', 'packet', false);
  vm.memory.u8.set(packetBytes, region.start);
  const generate = (rand: (n: number) => number): Instruction[] => {
    // r6 = ctx (the kernel's LD_ABS needs it); r7 accumulates; r8 is the LD_IND base.
    const base = rand(48);
    const program: Instruction[] = [insn(0xbf, 6, 1), insn(0xb7, 7, 0, 0, 1), insn(0xb7, 8, 0, 0, base)];
    const loads = 3 + rand(5);
    for (let i = 0; i < loads; i++) {
      const size = [0x00, 0x08, 0x10][rand(3)]!;
      // Mostly in bounds, sometimes past the end or negative.
      const offset = rand(12) === 0 ? [-4, -1, 61, 63, 64, 100][rand(6)]! : rand(60);
      program.push(rand(2) === 0 ? insn(0x20 | size, 0, 0, 0, offset) : insn(0x40 | size, 0, 8, 0, offset - base));
      program.push(insn(0x27, 7, 0, 0, 31), insn(0xaf, 7, 0));
    }
    program.push(insn(0xbf, 0, 7), insn(0xbf, 1, 0), insn(0x77, 1, 0, 0, 32), insn(0xaf, 0, 1), exit());
    return program;
  };
  const seen = await differential(
    {
      name: 'vm_diff_ldabs',
      seed: 0xab5 + 1,
      count: 60,
      generate,
      type: ProgramType.SCHED_CLS,
      data: packetBytes,
      runVm: (v, program) => v.load(program).run({ packet: { start: region.start, length: packetBytes.length } }).r0,
    },
    vm,
  );
  assert.ok(seen.has(0), 'some programs went out of bounds');
  assert.ok(seen.size > 25, `only ${seen.size} distinct results`);
});
