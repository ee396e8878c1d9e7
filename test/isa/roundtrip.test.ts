import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AtomicOp,
  DecodeError,
  type DisasmOptions,
  type Instruction,
  assemble,
  disassemble,
  formatInstruction,
  insn,
  instructionProblem,
  isLddw,
} from '../../src/isa/index.ts';
import { seededRandom } from '../support/random.ts';

const IMMS = [0, 1, -1, 5, 8, 16, 32, 64, 0x10000, 0x7fffffff, -0x80000000, 0x12345678, -0x1234,
  AtomicOp.ADD | AtomicOp.FETCH, AtomicOp.OR, AtomicOp.OR | AtomicOp.FETCH, AtomicOp.AND, AtomicOp.AND | AtomicOp.FETCH,
  AtomicOp.XOR, AtomicOp.XOR | AtomicOp.FETCH, AtomicOp.XCHG, AtomicOp.CMPXCHG, AtomicOp.LOAD_ACQ, AtomicOp.STORE_REL];
const OFFSETS = [0, 1, -1, 8, 16, 32, 0x7fff, -0x8000];
const REGS = [0, 1, 10];
const SELECTORS = [0, 1, 2, 3, 4, 5, 6, 10];
const SECOND_SLOT_IMMS = [0, -1, -0x80000000, 0x7fffffff];

/**
 * Every valid instruction built from edge field values: each opcode byte with
 * dst/src/offset/imm drawn from the lists above (src also 0-6, the lddw and
 * call selectors), kept when instructionProblem accepts it.
 */
function allValidInstructions(): Instruction[][] {
  const out: Instruction[][] = [];
  for (let opcode = 0; opcode < 256; opcode++) {
    for (const dst of REGS) {
      for (const src of SELECTORS) {
        for (const offset of OFFSETS) {
          for (const imm of IMMS) {
            const i = insn(opcode, dst, src, offset, imm);
            if (isLddw(i)) {
              for (const high of SECOND_SLOT_IMMS) {
                const second = insn(0, 0, 0, 0, high);
                if (instructionProblem(i, second) === undefined) out.push([i, second]);
              }
            } else if (instructionProblem(i, undefined) === undefined) {
              out.push([i]);
            }
          }
        }
      }
    }
  }
  return out;
}

function checkRoundTrip(program: Instruction[], options: DisasmOptions): void {
  const text = disassemble(program, options);
  let back: Instruction[];
  try {
    back = assemble(text);
  } catch (err) {
    const line = (err as { line?: number }).line ?? 0;
    assert.fail(`${String(err)}\n  text: ${text.split('\n')[line - 1]}`);
  }
  assert.equal(back.length, program.length);
  for (let n = 0; n < program.length; n++) {
    if (JSON.stringify(back[n]) !== JSON.stringify(program[n])) {
      assert.deepEqual(back[n], program[n], `slot ${n}: ${formatInstruction(program, isLddw(program[n - 1] ?? insn(0)) ? n - 1 : n, options)}`);
    }
  }
}

const valid = allValidInstructions();

test('the enumeration covers every instruction kind', () => {
  const opcodes = new Set(valid.map((g) => g[0]!.opcode));
  // One opcode of every family: ALU/ALU64 K and X, NEG, MOV(SX), END, SDIV/SMOD, lddw, ABS/IND, LDX(S), ST, STX, atomics, jumps, calls, may_goto.
  for (const op of [0x07, 0x0f, 0x04, 0x0c, 0x87, 0x84, 0xbf, 0xbc, 0xb7, 0xb4, 0xd4, 0xdc, 0xd7, 0x3c, 0x97, 0xcc,
    0x18, 0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x61, 0x69, 0x71, 0x79, 0x81, 0x89, 0x91, 0x62, 0x6a, 0x72, 0x7a,
    0x63, 0x6b, 0x73, 0x7b, 0xc3, 0xdb, 0xd3, 0xcb, 0x05, 0x06, 0x15, 0x1d, 0x16, 0x1e, 0x45, 0x4e, 0xd5, 0xde,
    0x85, 0x8d, 0x95, 0xe5]) {
    assert.ok(opcodes.has(op), `opcode ${op.toString(16)} missing from the enumeration`);
  }
  const kinds = new Set(valid.map((g) => `${g[0]!.opcode}/${g[0]!.opcode === 0x18 || g[0]!.opcode === 0x85 ? g[0]!.src : ''}/${g[0]!.opcode >= 0xc3 && (g[0]!.opcode & 7) === 3 ? g[0]!.imm : ''}`));
  for (const src of [0, 1, 2, 3, 4, 5, 6]) assert.ok(kinds.has(`24/${src}/`), `lddw src ${src}`);
  for (const src of [0, 1, 2]) assert.ok(kinds.has(`133/${src}/`), `call src ${src}`);
  for (const imm of [0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1, 0x100, 0x110]) {
    assert.ok(kinds.has(`219//${imm}`), `atomic imm ${imm.toString(16)}`);
  }
  assert.ok(valid.some((g) => g[0]!.opcode === 0xbf && g[0]!.offset === 1), 'addr_space_cast');
  assert.ok(valid.length > 30000, `${valid.length} instructions`);
});

for (const style of ['llvm', 'kernel'] as const) {
  test(`assemble(disassemble(x)) reproduces every enumerated valid instruction (${style} style)`, () => {
    checkRoundTrip(valid.flat(), { style });
  });
}

test('helperNames: false prints numeric helper ids that still round trip', () => {
  const program = valid.filter((g) => g[0]!.opcode === 0x85).flat();
  assert.match(formatInstruction([insn(0x85, 0, 0, 0, 1)], 0, { helperNames: false }), /^call 0x1$/);
  checkRoundTrip(program, { helperNames: false });
});

test('randomized round trip over valid instructions', () => {
  const random = seededRandom(0x9e3779b9);
  const next = (): number => Math.floor(random() * 2 ** 32);
  const program: Instruction[] = [];
  let tried = 0;
  while (program.length < 30000) {
    tried++;
    const i = insn(next() & 0xff, next() % 11, next() % 11, (next() & 1) !== 0 ? next() : [0, 1, 8, 16, 32][next() % 5]!, (next() & 1) !== 0 ? next() : IMMS[next() % IMMS.length]!);
    if (isLddw(i)) {
      const second = insn(0, 0, 0, 0, (next() & 1) !== 0 ? next() : 0);
      i.src = next() % 7;
      i.offset = 0;
      if (instructionProblem(i, second) === undefined) program.push(i, second);
    } else if (instructionProblem(i, undefined) === undefined) {
      program.push(i);
    }
  }
  assert.ok(tried > program.length);
  for (const style of ['llvm', 'kernel'] as const) checkRoundTrip(program, { style });
});

test('formatInstruction outside the program is a DecodeError naming the slot', () => {
  const program = assemble('r0 = 0\nexit');
  for (const index of [2, -1, 0.5]) {
    assert.throws(() => formatInstruction(program, index), (err: unknown) => err instanceof DecodeError && err.index === index && /program has 2/.test(err.message));
  }
});

test('invalid slots print as .insn and still round trip', () => {
  const program = [insn(0xf7, 1, 2, 3, 4), insn(0x07, 1, 3, 0, 5), insn(0x18, 1, 0, 0, 1), insn(0x07, 0, 0, 0, 1), insn(0x18, 1)];
  const text = disassemble(program);
  assert.match(text, /^ {3}0: \.insn 0xf7, 1, 2, 3, 4 {2}\/\/ unknown opcode f7$/m);
  assert.match(text, /BPF_ALU64 uses reserved fields/);
  assert.match(text, /missing second slot/);
  assert.deepEqual(assemble(text), program);
});

test('disassembly text matches the llvm and kernel spellings', () => {
  const cases: ReadonlyArray<readonly [Instruction[], string, string]> = [
    [[insn(0x61, 1, 6, 12)], 'r1 = *(u32 *)(r6 + 0xc)', 'r1 = *(u32 *)(r6 +12)'],
    [[insn(0x07, 2, 0, 0, -4)], 'r2 += -0x4', 'r2 += -4'],
    [[insn(0x15, 0, 0, 67, 0)], 'if r0 == 0x0 goto +0x43', 'if r0 == 0x0 goto pc+67'],
    [[insn(0x16, 1, 0, -1, -1)], 'if w1 == -0x1 goto -0x1', 'if w1 == 0xffffffff goto pc-1'],
    [[insn(0x85, 0, 0, 0, 1)], 'call bpf_map_lookup_elem', 'call bpf_map_lookup_elem#1'],
    [[insn(0x85, 0, 1, 0, -1)], 'call -0x1', 'call pc-1'],
    [[insn(0x85, 0, 2, 0, 99)], 'call kernel-function#99', 'call kernel-function#99'],
    [[insn(0xc3, 0, 3, 0, 0xa0)], 'lock *(u32 *)(r0 + 0x0) ^= w3', 'lock *(u32 *)(r0 +0) ^= r3'],
    [[insn(0xdb, 0, 2, 0, 0x41)], 'r2 = atomic_fetch_or((u64 *)(r0 + 0x0), r2)', 'r2 = atomic64_fetch_or((u64 *)(r0 +0), r2)'],
    [[insn(0xc3, 3, 4, 0, 0xf1)], 'w0 = cmpxchg32_32(r3 + 0x0, w0, w4)', 'r0 = atomic_cmpxchg((u32 *)(r3 +0), r0, r4)'],
    [[insn(0xbf, 5, 5, 32)], 'r5 = (s32)r5', 'r5 = (s32)r5'],
    [[insn(0xd7, 3, 0, 0, 16)], 'r3 = bswap16 r3', 'r3 = bswap16 r3'],
    [[insn(0x18, 1, 0, 0, -1), insn(0, 0, 0, 0, -1)], 'r1 = -0x1 ll', 'r1 = 0xffffffffffffffff'],
    [[insn(0x18, 1, 2, 0, 5), insn(0, 0, 0, 0, 8)], 'r1 = map_value(5)+8 ll', 'r1 = map[id:5][0]+8'],
    [[insn(0x30, 0, 0, 0, 5)], 'r0 = *(u8 *)skb[0x5]', 'r0 = *(u8 *)skb[5]'],
    [[insn(0x48, 0, 1, 0, 0)], 'r0 = *(u16 *)skb[r1]', 'r0 = *(u16 *)skb[r1 + 0]'],
  ];
  for (const [program, llvm, kernel] of cases) {
    assert.equal(formatInstruction(program, 0), llvm);
    assert.equal(formatInstruction(program, 0, { style: 'kernel' }), kernel);
  }
  assert.equal(disassemble([insn(0xb7, 0, 0, 0, 0), insn(0x95)], { style: 'kernel' }), '   0: (b7) r0 = 0\n   1: (95) exit\n');
  assert.equal(disassemble([insn(0x18, 1), insn(0), insn(0x95)]), '   0: r1 = 0x0 ll\n   2: exit\n');
});
