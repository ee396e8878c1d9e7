import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AluOp, JmpOp } from '../../src/isa/opcodes.ts';
import {
  type Scalar,
  SCALAR_UNKNOWN,
  branchTaken,
  refineBranch,
  refineBranchSameRegister,
  scalarAlu,
  scalarAluFork,
  scalarBswap,
  scalarConst,
  scalarConstValue,
  scalarConstValue32,
  scalarContains,
  scalarFromRange,
  scalarIsUnknown,
  scalarMovSx,
  scalarNeg,
  scalarRangesToString,
  scalarSignExtend,
  scalarSync,
  scalarToString,
  scalarTruncate,
  scalarWithin,
  scalarZext32,
} from '../../src/verifier/scalar.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const U64 = (1n << 64n) - 1n;

test('print format: equal bounds merge, extremes are left out, var_off only when something is known', () => {
  assert.equal(scalarRangesToString(scalarFromRange(0n, 255n)), 'smin=smin32=0,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff)');
  assert.equal(scalarRangesToString(SCALAR_UNKNOWN), '');
  assert.equal(scalarToString(SCALAR_UNKNOWN), 'scalar()');
  assert.equal(scalarToString(scalarConst(7n)), '7');
  assert.equal(scalarToString(scalarConst(-1n)), '-1');
  assert.equal(scalarToString(scalarConst(0x8000n)), '0x8000');
  assert.equal(scalarToString(scalarConst(-0x8000n)), '-32768');
  assert.equal(scalarToString(scalarConst(-0x8001n)), '0xffffffffffff7fff');
  // Negative and positive bounds with the same bit pattern are not merged; hex 32-bit values are not sign-extended.
  const negative = scalarAlu(AluOp.OR, SCALAR_UNKNOWN, scalarConst(-9n), false);
  assert.equal(scalarRangesToString(negative), 'smin=smin32=-9,smax=smax32=-1,umin=0xfffffffffffffff7,umin32=0xfffffff7,var_off=(0xfffffffffffffff7; 0x8)');
  const low32 = scalarZext32(SCALAR_UNKNOWN);
  assert.equal(scalarRangesToString(low32), 'smin=0,smax=umax=0xffffffff,var_off=(0x0; 0xffffffff)');
  const shifted = scalarAlu(AluOp.LSH, SCALAR_UNKNOWN, scalarConst(32n), false);
  assert.equal(scalarRangesToString(shifted), 'smax=0x7fffffff00000000,umax=0xffffffff00000000,smin32=0,smax32=umax32=0,var_off=(0x0; 0xffffffff00000000)');
  const signed = scalarAlu(AluOp.ARSH, shifted, scalarConst(32n), false);
  assert.equal(scalarRangesToString(signed), 'smin=0xffffffff80000000,smax=0x7fffffff');
});

test('constants give the concrete result; operations the kernel does not track give unknown', () => {
  const a = scalarConst(0x1234_5678_9abc_def0n);
  const b = scalarConst(13n);
  assert.equal(scalarConstValue(scalarAlu(AluOp.ADD, a, b, false)), 0x1234_5678_9abc_defdn);
  assert.equal(scalarConstValue(scalarAlu(AluOp.ADD, a, b, true)), 0x9abc_defdn);
  assert.equal(scalarConstValue(scalarAlu(AluOp.MUL, a, b, false)), BigInt.asUintN(64, 0x1234_5678_9abc_def0n * 13n));
  assert.equal(scalarConstValue(scalarAlu(AluOp.RSH, a, scalarConst(60n), false)), 1n);
  assert.equal(scalarConstValue(scalarNeg(scalarConst(1n), false)), U64);
  assert.equal(scalarConstValue32(scalarAlu(AluOp.OR, SCALAR_UNKNOWN, scalarConst(0xffff_ffffn), false)), 0xffff_ffff);
  assert.equal(scalarConstValue(scalarAlu(AluOp.OR, SCALAR_UNKNOWN, scalarConst(0xffff_ffffn), false)), undefined);
  // The kernel does not track division or shifts by non-constant or too large amounts.
  assert.ok(scalarIsUnknown(scalarAlu(AluOp.DIV, a, b, false)));
  assert.ok(scalarIsUnknown(scalarAlu(AluOp.LSH, a, scalarConst(64n), false)));
  assert.ok(scalarIsUnknown(scalarAlu(AluOp.LSH, a, scalarConst(32n), true)));
  assert.ok(scalarIsUnknown(scalarAlu(AluOp.LSH, a, scalarFromRange(0n, 3n), false)));
});

test('branches: prediction and refinement of both outcomes', () => {
  const byte = scalarFromRange(0n, 255n);
  assert.equal(branchTaken(byte, scalarConst(256n), JmpOp.JLT, false), 1);
  assert.equal(branchTaken(byte, scalarConst(255n), JmpOp.JGT, false), 0);
  assert.equal(branchTaken(byte, scalarConst(10n), JmpOp.JGT, false), -1);
  assert.equal(branchTaken(scalarConst(0x1_0000_0005n), scalarConst(5n), JmpOp.JEQ, true), 1);
  assert.equal(branchTaken(scalarConst(4n), byte, JmpOp.JSET, false), -1);
  assert.equal(branchTaken(scalarFromRange(0n, 3n), scalarConst(4n), JmpOp.JSET, false), 0);
  const taken = refineBranch(byte, scalarConst(10n), JmpOp.JGT, false, true);
  assert.equal(scalarToString(taken!.a), 'scalar(smin=umin=smin32=umin32=11,smax=umax=smax32=umax32=255,var_off=(0x0; 0xff))');
  const notTaken = refineBranch(byte, scalarConst(10n), JmpOp.JGT, false, false);
  assert.equal(scalarToString(notTaken!.a), 'scalar(smin=smin32=0,smax=umax=smax32=umax32=10,var_off=(0x0; 0xf))');
  assert.equal(refineBranch(byte, scalarConst(256n), JmpOp.JLT, false, false), undefined);
  const equal = refineBranch(byte, scalarConst(7n), JmpOp.JEQ, false, true);
  assert.equal(scalarConstValue(equal!.a), 7n);
  const bitSet = refineBranch(byte, scalarConst(0x80n), JmpOp.JSET, false, true);
  assert.equal(scalarToString(bitSet!.a), 'scalar(smin=umin=smin32=umin32=128,smax=umax=smax32=umax32=255,var_off=(0x80; 0x7f))');
});

test('the kernel forks AND/OR on a [-1, 0] mask; same-register comparisons refine the one register twice', () => {
  const mask = scalarAlu(AluOp.ARSH, SCALAR_UNKNOWN, scalarConst(63n), false);
  assert.equal(scalarToString(mask), 'scalar(smin=smin32=-1,smax=smax32=0)');
  const fork = scalarAluFork(AluOp.AND, mask, scalarConst(0x4000n));
  assert.ok(fork);
  assert.equal(scalarConstValue(fork.current), U64);
  assert.equal(scalarConstValue(fork.pushed), 0n);
  assert.equal(scalarConstValue(scalarAlu(AluOp.AND, fork.current, scalarConst(0x4000n), false)), 0x4000n);
  assert.equal(scalarAluFork(AluOp.ADD, mask, scalarConst(1n)), undefined);
  assert.equal(scalarAluFork(AluOp.AND, scalarFromRange(0n, 1n), scalarConst(1n)), undefined);
  const low = scalarAluFork(AluOp.OR, scalarZext32(mask), scalarConst(1n));
  assert.equal(scalarConstValue32(low!.current), 0xffff_ffff);

  const nonZero = refineBranchSameRegister(SCALAR_UNKNOWN, JmpOp.JLT, false, true);
  assert.equal(scalarToString(nonZero!), 'scalar(umin=1,umax=0xfffffffffffffffe)');
  assert.equal(refineBranchSameRegister(scalarConst(3n), JmpOp.JLT, false, true), undefined);
  assert.equal(scalarConstValue(refineBranchSameRegister(scalarConst(3n), JmpOp.JLT, false, false)!), 3n);
});

test('pruning: scalarWithin is range_within plus tnum_in', () => {
  const wide = scalarFromRange(0n, 255n);
  const narrow = scalarFromRange(16n, 31n);
  assert.ok(scalarWithin(wide, narrow));
  assert.ok(!scalarWithin(narrow, wide));
  assert.ok(scalarWithin(SCALAR_UNKNOWN, wide));
  assert.ok(scalarWithin(wide, scalarConst(3n)));
  assert.ok(!scalarWithin(wide, scalarConst(256n)));
});

// ---------------------------------------------------------------- soundness

type Rand = () => number;
/** An abstract value with concrete members it must contain. */
interface Sampled {
  scalar: Scalar;
  members: bigint[];
}

const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);

function randomWord(rand: Rand): bigint {
  const r = rand();
  const hi = BigInt(Math.floor(rand() * 0x1_0000_0000));
  const lo = BigInt(Math.floor(rand() * 0x1_0000_0000));
  if (r < 0.25) return BigInt(Math.floor(rand() * 64)) - 32n;
  if (r < 0.5) return lo;
  if (r < 0.6) return (0xffff_ffffn << 32n) | lo;
  return (hi << 32n) | lo;
}

function randomSampled(rand: Rand): Sampled {
  const r = rand();
  if (r < 0.2) {
    const v = u64(randomWord(rand));
    return { scalar: scalarConst(v), members: [v] };
  }
  if (r < 0.4) return { scalar: SCALAR_UNKNOWN, members: Array.from({ length: 6 }, () => u64(randomWord(rand))) };
  const a = u64(randomWord(rand));
  const b = u64(randomWord(rand));
  const [lo, hi] = a < b ? [a, b] : [b, a];
  const members = [lo, hi, ...Array.from({ length: 4 }, () => lo + BigInt(Math.floor(rand() * Number(hi - lo + 1n))) % (hi - lo + 1n))];
  return { scalar: scalarFromRange(lo, hi), members };
}

function concreteAlu(op: number, x: bigint, y: bigint, alu32: boolean): bigint {
  const width = alu32 ? 32 : 64;
  const a = alu32 ? u32(x) : x;
  const b = alu32 ? u32(y) : y;
  const wrap = (v: bigint): bigint => BigInt.asUintN(width, v);
  switch (op) {
    case AluOp.ADD: return wrap(a + b);
    case AluOp.SUB: return wrap(a - b);
    case AluOp.MUL: return wrap(a * b);
    case AluOp.DIV: return b === 0n ? 0n : a / b;
    case AluOp.MOD: return b === 0n ? a : a % b;
    case AluOp.OR: return a | b;
    case AluOp.AND: return a & b;
    case AluOp.XOR: return a ^ b;
    case AluOp.LSH: return wrap(a << (b % BigInt(width)));
    case AluOp.RSH: return a >> (b % BigInt(width));
    case AluOp.ARSH: return wrap(BigInt.asIntN(width, a) >> (b % BigInt(width)));
    case AluOp.NEG: return wrap(-a);
    default: throw new Error(`op ${op}`);
  }
}

function concreteJump(op: number, x: bigint, y: bigint, is32: boolean): boolean {
  const [ux, uy] = is32 ? [u32(x), u32(y)] : [x, y];
  const [sx, sy] = is32 ? [s32(x), s32(y)] : [s64(x), s64(y)];
  switch (op) {
    case JmpOp.JEQ: return ux === uy;
    case JmpOp.JNE: return ux !== uy;
    case JmpOp.JGT: return ux > uy;
    case JmpOp.JGE: return ux >= uy;
    case JmpOp.JLT: return ux < uy;
    case JmpOp.JLE: return ux <= uy;
    case JmpOp.JSGT: return sx > sy;
    case JmpOp.JSGE: return sx >= sy;
    case JmpOp.JSLT: return sx < sy;
    case JmpOp.JSLE: return sx <= sy;
    case JmpOp.JSET: return (ux & uy) !== 0n;
    default: throw new Error(`op ${op}`);
  }
}

const ALU_OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.MOD, AluOp.OR, AluOp.AND, AluOp.XOR, AluOp.LSH, AluOp.RSH, AluOp.ARSH, AluOp.NEG];
const JMP_OPS = [JmpOp.JEQ, JmpOp.JNE, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE, JmpOp.JSET];

function assertMembers(result: Scalar, members: bigint[], what: string): void {
  for (const m of members) assert.ok(scalarContains(result, m), `${what} = ${scalarToString(result)} misses ${u64(m)} (0x${u64(m).toString(16)})`);
}

/** Applies one random operation to `s` (ALU with another value, unary ops, or a branch refinement). */
function step(rand: Rand, s: Sampled): Sampled {
  const kind = rand();
  if (kind < 0.5) {
    const op = ALU_OPS[Math.floor(rand() * ALU_OPS.length)]!;
    const alu32 = rand() < 0.4;
    const other = rand() < 0.5 ? randomSampled(rand) : (() => {
      const v = u64(BigInt(Math.floor(rand() * 70)));
      return { scalar: scalarConst(v), members: [v] };
    })();
    const y = other.members[0]!;
    const result = scalarAlu(op, s.scalar, op === AluOp.NEG ? s.scalar : other.scalar, alu32);
    const members = s.members.map((x) => concreteAlu(op, x, op === AluOp.NEG ? x : y, alu32));
    assertMembers(result, members, `alu ${op.toString(16)}${alu32 ? '32' : ''} ${scalarToString(s.scalar)}, ${scalarToString(other.scalar)}`);
    return { scalar: result, members };
  }
  if (kind < 0.65) {
    const choice = Math.floor(rand() * 6);
    const what = ['bswap', 'movsx', 'zext', 'truncate', 'sext', 'sync'][choice]!;
    let result: Scalar;
    let members: bigint[];
    if (choice === 0) {
      const bits = [16, 32, 64][Math.floor(rand() * 3)] as 16 | 32 | 64;
      result = scalarBswap(s.scalar, bits);
      members = s.members.map((x) => {
        let v = 0n;
        for (let i = 0; i < bits / 8; i++) v = (v << 8n) | ((x >> BigInt(8 * i)) & 0xffn);
        return v;
      });
    } else if (choice === 1) {
      const alu32 = rand() < 0.5;
      const from = (alu32 ? [8, 16] : [8, 16, 32])[Math.floor(rand() * (alu32 ? 2 : 3))] as 8 | 16 | 32;
      result = scalarMovSx(s.scalar, from, alu32);
      members = s.members.map((x) => (alu32 ? u32(BigInt.asIntN(from, x)) : u64(BigInt.asIntN(from, x))));
    } else if (choice === 2) {
      result = scalarZext32(s.scalar);
      members = s.members.map(u32);
    } else if (choice === 3) {
      const size = [1, 2, 4, 8][Math.floor(rand() * 4)] as 1 | 2 | 4 | 8;
      result = scalarTruncate(s.scalar, size);
      members = s.members.map((x) => BigInt.asUintN(size * 8, x));
    } else if (choice === 4) {
      const size = [1, 2, 4][Math.floor(rand() * 3)] as 1 | 2 | 4;
      result = scalarSignExtend(s.scalar, size);
      members = s.members.map((x) => u64(BigInt.asIntN(size * 8, x)));
    } else {
      result = scalarSync(s.scalar);
      members = s.members;
    }
    assertMembers(result, members, `${what} ${scalarToString(s.scalar)}`);
    return { scalar: result, members };
  }
  const op = JMP_OPS[Math.floor(rand() * JMP_OPS.length)]!;
  const is32 = rand() < 0.4;
  const other = randomSampled(rand);
  const y = other.members[Math.floor(rand() * other.members.length)]!;
  const predicted = branchTaken(s.scalar, other.scalar, op, is32);
  for (const x of s.members) {
    const outcome = concreteJump(op, x, y, is32);
    if (predicted !== -1) assert.equal(outcome, predicted === 1, `branchTaken ${op.toString(16)} ${scalarToString(s.scalar)} vs ${scalarToString(other.scalar)} at ${x}, ${y}`);
  }
  // Keep the side most members take, as a program would continue on it.
  const takenCount = s.members.filter((x) => concreteJump(op, x, y, is32)).length;
  const taken = takenCount * 2 >= s.members.length;
  const refined = refineBranch(s.scalar, other.scalar, op, is32, taken);
  const label = `refine ${op.toString(16)}${is32 ? '32' : ''} ${taken} ${scalarToString(s.scalar)} vs ${scalarToString(other.scalar)} (${y})`;
  assert.ok(refined, `${label}: a possible outcome was called impossible`);
  const members = s.members.filter((x) => concreteJump(op, x, y, is32) === taken);
  assertMembers(refined.a, members, label);
  assert.ok(scalarContains(refined.b, y), `${label}: other side lost ${y}`);
  return { scalar: refined.a, members };
}

test('soundness: every operation contains the concrete results and refinements keep every member taking that side', () => {
  const rand = seededRandom(fuzzSeed(9));
  for (let chain = 0; chain < 600; chain++) {
    let s = randomSampled(rand);
    assertMembers(s.scalar, s.members, 'start');
    for (let i = 0; i < 12 && s.members.length > 0; i++) s = step(rand, s);
  }
});
