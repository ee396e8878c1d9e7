/**
 * The scalar domain on 32-bit words (src/verifier/scalar.ts, tnum.ts,
 * bounds-sync.ts, halves.ts) against the bigint implementation it replaced
 * (test/support/scalar-reference/, the version checked on the whole corpus
 * and against the kernel): every operation, on the same inputs, must give
 * the same bounds and tnum to the bit, the same predictions and the same
 * printed form. Inputs are built from edge constants and ranges by random
 * chains of the operations themselves, so they reach the bounds the
 * verifier meets (wrapped, sign-crossing, 32/64-bit mixes).
 * TSBPF_SCALAR_CASES runs more locally.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AluOp, JmpOp } from '../../src/isa/opcodes.ts';
import * as words from '../../src/verifier/scalar.ts';
import * as ref from '../support/scalar-reference/scalar.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const CASES = Number(process.env.TSBPF_SCALAR_CASES ?? 30_000);
const MASK64 = (1n << 64n) - 1n;

/** Both implementations' value for the same abstract scalar. */
interface Pair {
  w: words.Scalar;
  r: ref.Scalar;
}

/** A scalar's fields as exact numbers, comparable across the two representations. */
function fieldsOfWords(s: words.Scalar): string {
  return [
    words.scalarConstValue(s) ?? 'x',
    words.scalarSminExact(s), words.scalarSmaxExact(s), words.scalarUminExact(s), words.scalarUmaxExact(s),
    s.s32min, s.s32max, s.u32min >>> 0, s.u32max >>> 0,
    words.scalarRangesToString(s), words.scalarVarOffString(s),
  ].join(' ');
}

function fieldsOfReference(s: ref.Scalar): string {
  const varOff = s.var.mask === 0n ? (s.var.value <= 0xffffn ? s.var.value.toString() : `0x${s.var.value.toString(16)}`) : `(0x${s.var.value.toString(16)}; 0x${s.var.mask.toString(16)})`;
  return [
    ref.scalarConstValue(s) ?? 'x',
    s.smin, s.smax, s.umin, s.umax,
    s.s32min, s.s32max, s.u32min, s.u32max,
    ref.scalarRangesToString(s), varOff,
  ].join(' ');
}

function assertSame(what: string, p: Pair): void {
  const a = fieldsOfWords(p.w);
  const b = fieldsOfReference(p.r);
  if (a !== b) assert.fail(`${what}:\n words:     ${a}\n reference: ${b}`);
}

const EDGES = [0n, 1n, 2n, 7n, 0xffn, 0x100n, 0x7fffn, 0x8000n, 0xffffn, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 1n << 32n, (1n << 32n) + 1n,
  (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, MASK64 - 1n, MASK64];

function randomU64(rand: () => number): bigint {
  const word = (): bigint => BigInt(Math.floor(rand() * 2 ** 32));
  switch (Math.floor(rand() * 6)) {
    case 0: return EDGES[Math.floor(rand() * EDGES.length)]!;
    case 1: return BigInt.asUintN(64, EDGES[Math.floor(rand() * EDGES.length)]! + BigInt(Math.floor(rand() * 17) - 8));
    case 2: return BigInt(Math.floor(rand() * 300));
    case 3: return word();
    case 4: return BigInt.asUintN(64, -BigInt(Math.floor(rand() * 5000)));
    default: return (word() << 32n) | word();
  }
}

function seedPair(rand: () => number): Pair {
  const choice = rand();
  if (choice < 0.15) return { w: words.SCALAR_UNKNOWN, r: ref.SCALAR_UNKNOWN };
  if (choice < 0.5) {
    const v = randomU64(rand);
    return { w: words.scalarConst(v), r: ref.scalarConst(v) };
  }
  if (choice < 0.6) {
    const v = Math.floor(rand() * 2 ** 33) - 2 ** 32;
    return { w: words.scalarConstNumber(v), r: ref.scalarConstNumber(v) };
  }
  let lo = randomU64(rand);
  let hi = rand() < 0.5 ? BigInt.asUintN(64, lo + BigInt(Math.floor(rand() * 70000))) : randomU64(rand);
  if (lo > hi) [lo, hi] = [hi, lo];
  return { w: words.scalarFromRange(lo, hi), r: ref.scalarFromRange(lo, hi) };
}

const ALU_OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.DIV, AluOp.OR, AluOp.AND, AluOp.LSH, AluOp.RSH, AluOp.NEG, AluOp.MOD, AluOp.XOR, AluOp.ARSH];
const JMP_OPS = [JmpOp.JEQ, JmpOp.JNE, JmpOp.JSET, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT, JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE];

test('every scalar operation on words gives the bigint implementation\'s bounds, tnum, predictions and text', () => {
  const rand = seededRandom(fuzzSeed(20261203));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const pool: Pair[] = Array.from({ length: 64 }, () => seedPair(rand));
  const add = (p: Pair): void => {
    pool[Math.floor(rand() * pool.length)] = rand() < 0.1 ? seedPair(rand) : p;
  };
  for (let i = 0; i < CASES; i++) {
    const a = pick(pool);
    let b = pick(pool);
    const kind = Math.floor(rand() * 12);
    const is32 = rand() < 0.3;
    const label = `case ${i} (${words.scalarToString(a.w)}, ${words.scalarToString(b.w)})`;
    assertSame(`${label} input a`, a);
    switch (kind) {
      case 0:
      case 1:
      case 2: {
        const op = pick(ALU_OPS);
        if ((op === AluOp.LSH || op === AluOp.RSH || op === AluOp.ARSH) && rand() < 0.8) {
          const amount = BigInt(Math.floor(rand() * (is32 ? 34 : 66)));
          b = { w: words.scalarConst(amount), r: ref.scalarConst(amount) };
        }
        const out = { w: words.scalarAlu(op, a.w, b.w, is32), r: ref.scalarAlu(op, a.r, b.r, is32) };
        assertSame(`${label} alu op ${op} alu32=${is32}`, out);
        add(out);
        break;
      }
      case 3: {
        const jop = pick(JMP_OPS);
        assert.equal(words.branchTaken(a.w, b.w, jop, is32), ref.branchTaken(a.r, b.r, jop, is32), `${label} branchTaken ${jop} ${is32}`);
        const taken = rand() < 0.5;
        const w = words.refineBranch(a.w, b.w, jop, is32, taken);
        const r = ref.refineBranch(a.r, b.r, jop, is32, taken);
        assert.equal(w === undefined, r === undefined, `${label} refineBranch ${jop} ${is32} ${taken} possible`);
        if (w && r) {
          assertSame(`${label} refineBranch a ${jop} ${is32} ${taken}`, { w: w.a, r: r.a });
          assertSame(`${label} refineBranch b ${jop} ${is32} ${taken}`, { w: w.b, r: r.b });
          add({ w: w.a, r: r.a });
          add({ w: w.b, r: r.b });
        }
        break;
      }
      case 4: {
        const jop = pick(JMP_OPS);
        const taken = rand() < 0.5;
        const w = words.refineBranchSameRegister(a.w, jop, is32, taken);
        const r = ref.refineBranchSameRegister(a.r, jop, is32, taken);
        assert.equal(w === undefined, r === undefined, `${label} refineBranchSameRegister ${jop} possible`);
        if (w && r) assertSame(`${label} refineBranchSameRegister ${jop} ${is32} ${taken}`, { w, r });
        break;
      }
      case 5: {
        const bits = pick([16, 32, 64] as const);
        const swap = rand() < 0.6;
        const out = { w: words.scalarBswap(a.w, bits, swap), r: ref.scalarBswap(a.r, bits, swap) };
        assertSame(`${label} bswap ${bits} ${swap}`, out);
        add(out);
        break;
      }
      case 6: {
        const size = pick([1, 2, 4, 8] as const);
        const out = { w: words.scalarTruncate(a.w, size), r: ref.scalarTruncate(a.r, size) };
        assertSame(`${label} truncate ${size}`, out);
        add(out);
        const sx = pick([1, 2, 4] as const);
        const ext = { w: words.scalarSignExtend(a.w, sx), r: ref.scalarSignExtend(a.r, sx) };
        assertSame(`${label} sign extend ${sx}`, ext);
        add(ext);
        break;
      }
      case 7: {
        const from = pick([8, 16, 32] as const);
        const out = { w: words.scalarMovSx(a.w, from, is32), r: ref.scalarMovSx(a.r, from, is32) };
        assertSame(`${label} movsx ${from} ${is32}`, out);
        add(out);
        assertSame(`${label} zext32`, { w: words.scalarZext32(a.w), r: ref.scalarZext32(a.r) });
        assertSame(`${label} neg`, { w: words.scalarNeg(a.w, is32), r: ref.scalarNeg(a.r, is32) });
        break;
      }
      case 8: {
        const op = pick([AluOp.AND, AluOp.OR, AluOp.ADD]);
        const w = words.scalarAluFork(op, a.w, b.w);
        const r = ref.scalarAluFork(op, a.r, b.r);
        assert.equal(w === undefined, r === undefined, `${label} fork`);
        if (w && r) {
          assertSame(`${label} fork current`, { w: w.current, r: r.current });
          assertSame(`${label} fork pushed`, { w: w.pushed, r: r.pushed });
        }
        break;
      }
      case 9: {
        assert.equal(words.scalarWithin(a.w, b.w), ref.scalarWithin(a.r, b.r), `${label} within`);
        assert.equal(words.scalarWithin(b.w, a.w), ref.scalarWithin(b.r, a.r), `${label} within reversed`);
        assert.equal(words.scalarEquals(a.w, b.w), fieldsOfReference(a.r) === fieldsOfReference(b.r), `${label} equals`);
        break;
      }
      case 10: {
        const v = rand() < 0.5 ? randomU64(rand) : (ref.scalarConstValue(b.r) ?? b.r.umin);
        assert.equal(words.scalarContains(a.w, v), ref.scalarContains(a.r, v), `${label} contains ${v}`);
        assert.equal(words.scalarConstValue32(a.w), ref.scalarConstValue32(a.r), `${label} const32`);
        assert.equal(words.scalarIsUnknown(a.w), ref.scalarIsUnknown(a.r), `${label} unknown`);
        assert.equal(words.scalarToString(a.w), ref.scalarToString(a.r), `${label} text`);
        break;
      }
      default: {
        const out = { w: words.scalarSync(a.w), r: ref.scalarSync(a.r) };
        assertSame(`${label} sync`, out);
        break;
      }
    }
  }
});

test('the number views of a scalar are its exact bounds below 2^53 and keep their order beyond', () => {
  const rand = seededRandom(fuzzSeed(77));
  for (let i = 0; i < 2000; i++) {
    let lo = randomU64(rand);
    let hi = randomU64(rand);
    if (lo > hi) [lo, hi] = [hi, lo];
    const s = words.scalarFromRange(lo, hi);
    const exact: [number, bigint][] = [
      [words.scalarSmin(s), words.scalarSminExact(s)], [words.scalarSmax(s), words.scalarSmaxExact(s)],
      [words.scalarUmin(s), words.scalarUminExact(s)], [words.scalarUmax(s), words.scalarUmaxExact(s)],
    ];
    for (const [n, b] of exact) assert.equal(n, Number(b), `${b}`);
    if (words.scalarIsConst(s)) {
      assert.equal(words.scalarConstSigned(s), Number(BigInt.asIntN(64, lo)));
      assert.equal(words.scalarConstUnsigned(s), Number(lo));
    }
    assert.equal(words.scalarUmaxBits(s), words.scalarUmaxExact(s).toString(2).length - (words.scalarUmaxExact(s) === 0n ? 1 : 0));
    assert.equal(words.scalarBoundsInverted(s), false);
    const add = Math.floor(rand() * 64) - 32;
    const size = pick2(rand);
    const tnumWords = ref.scalarFromRange(lo, hi).var;
    const sum = BigInt.asUintN(64, tnumWords.value + BigInt.asUintN(64, BigInt(add)));
    // tnum_is_aligned(tnum_add(var_off, add), size) on bigints.
    const addMask = tnumWords.mask;
    const sm = addMask;
    const sv = sum;
    const sigma = BigInt.asUintN(64, sm + sv);
    const mu = (sigma ^ sv) | addMask;
    const aligned = (((sv & ~mu & MASK64) | mu) & BigInt(size - 1)) === 0n;
    assert.equal(words.scalarIsAligned(s, add, size), aligned, `aligned ${lo}..${hi} + ${add} size ${size}`);
  }
});

function pick2(rand: () => number): number {
  return [1, 2, 4, 8][Math.floor(rand() * 4)]!;
}
