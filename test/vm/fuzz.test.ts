import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TsbpfError } from '../../src/errors.ts';
import type { Instruction } from '../../src/isa/index.ts';
import { HelperRegistry, Vm } from '../../src/vm/index.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

// Random programs must either run or fail with a TsbpfError: never a
// RangeError from a typed array, a hang, or a leaked region.

const OPCODES = [
  0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x44, 0x4c, 0x54, 0x5c, 0x64, 0x6c, 0x74, 0x7c, 0x84, 0x94, 0x9c, 0xa4, 0xac, 0xb4,
  0xbc, 0xc4, 0xcc, 0xd4, 0xdc, 0x07, 0x0f, 0x17, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x47, 0x4f, 0x57, 0x5f, 0x67, 0x6f, 0x77, 0x7f, 0x87,
  0x97, 0x9f, 0xa7, 0xaf, 0xb7, 0xbf, 0xc7, 0xcf, 0xd7, 0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89,
  0x91, 0x62, 0x6a, 0x72, 0x7a, 0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xcb, 0xd3, 0xdb, 0x05, 0x06, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x45,
  0x4d, 0x55, 0x5d, 0x65, 0x6d, 0x75, 0x7d, 0xa5, 0xad, 0xb5, 0xbd, 0xc5, 0xcd, 0xd5, 0xdd, 0x16, 0x1e, 0x26, 0x2e, 0x56, 0x66, 0xa6,
  0xc6, 0xd6, 0x85, 0x8d, 0x95, 0xe5,
];
const ATOMIC_IMMS = [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110];

test('random programs run or fail with a TsbpfError', () => {
  const seed = fuzzSeed(12345);
  const random = seededRandom(seed);
  const rand = (n: number): number => Math.floor(random() * n);
  const helpers = new HelperRegistry().register(1, (call) => call.arg(1)).register(2, (call) => call.bytes(1, 8, true).length);
  const vm = new Vm({ helpers, budget: 2000 });
  const regionsBefore = vm.memory.listRegions().length;
  const outcomes = new Map<string, number>();
  for (let n = 0; n < 3000; n++) {
    const length = 1 + rand(12);
    const program: Instruction[] = [];
    for (let i = 0; i < length; i++) {
      const opcode = OPCODES[rand(OPCODES.length)]!;
      const cls = opcode & 7;
      const isX = (opcode & 0x08) !== 0;
      const small = [0, 1, -1, 8, 16, 32, 64, 0x7fffffff, -0x80000000][rand(9)]!;
      const insn = { opcode, dst: rand(10), src: rand(11), offset: 0, imm: rand(2) === 0 ? small : rand(1 << 30) - (1 << 29) };
      // Mostly well-formed (the reserved-field rules), so that most programs get to run.
      if (cls === 4 || cls === 7) {
        if (isX) insn.imm = 0;
        else insn.src = 0;
        const op = opcode & 0xf0;
        if ((op === 0x30 || op === 0x90) && rand(2) === 0) insn.offset = 1;
        if (op === 0xb0 && isX) insn.offset = [0, 8, 16, cls === 7 ? 32 : 0][rand(4)]!;
        if (op === 0x80) insn.src = insn.imm = 0;
        if (op === 0xd0) insn.imm = [16, 32, 64][rand(3)]!;
      } else if (cls === 5 || cls === 6) {
        insn.offset = rand(length * 2 + 2) - length;
        if (isX) insn.imm = 0;
        else insn.src = 0;
        if (opcode === 0x05 || opcode === 0xe5) insn.dst = insn.src = insn.imm = 0;
        if (opcode === 0x06) [insn.dst, insn.src, insn.imm, insn.offset] = [0, 0, insn.offset, 0];
        if (opcode === 0x85) [insn.dst, insn.src, insn.imm] = rand(2) === 0 ? [0, 0, 1 + rand(2)] : [0, 1, insn.offset];
        if (opcode === 0x8d) [insn.src, insn.imm, insn.offset] = [0, 0, 0];
        if (opcode === 0x95) [insn.dst, insn.src, insn.imm, insn.offset] = [0, 0, 0, 0];
      } else if (opcode === 0x18) {
        insn.src = 0;
        program.push(insn, { opcode: 0, dst: 0, src: 0, offset: 0, imm: rand(3) - 1 });
        continue;
      } else if (cls === 0) {
        [insn.dst, insn.offset] = [0, 0];
        if ((opcode & 0xe0) === 0x20) insn.src = 0;
        insn.imm = rand(24) - 4;
      } else {
        insn.offset = [0, 1, 8, -8, -16, 504, -512, -520][rand(8)]!;
        if (cls === 1) insn.imm = 0;
        if (cls === 2) insn.src = 0;
        if (cls === 3) insn.imm = (opcode & 0xe0) === 0xc0 ? ATOMIC_IMMS[rand(ATOMIC_IMMS.length)]! : 0;
        // Base the access on the stack pointer or the input memory pointer.
        if (rand(2) === 0) {
          const base = rand(2) === 0 ? 10 : 1;
          if (cls === 1 || (cls === 3 && insn.imm === 0x100)) insn.src = base;
          else insn.dst = base;
        }
      }
      if (rand(20) === 0) insn.imm ^= 1 << rand(32);
      program.push(insn);
    }
    program.push({ opcode: 0x95, dst: 0, src: 0, offset: 0, imm: 0 });
    let outcome: string;
    try {
      const prog = vm.load(program);
      outcome = 'ran';
      prog.run({ mem: new Uint8Array(16), r3: 0x10000 + rand(0x100000), packet: { start: 0x10000, length: 0 } });
    } catch (err) {
      if (!(err instanceof TsbpfError)) throw new Error(`seed ${seed}, program ${n}: ${JSON.stringify(program)} threw ${String(err)}`, { cause: err });
      outcome = err.name;
    }
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  }
  assert.equal(vm.memory.listRegions().length, regionsBefore);
  // The generator reaches every kind of outcome.
  for (const kind of ['ran', 'ProgramLoadError', 'MemoryAccessError', 'BudgetExceededError']) {
    assert.ok((outcomes.get(kind) ?? 0) > 0, `no ${kind} in ${JSON.stringify(Object.fromEntries(outcomes))}`);
  }
});
