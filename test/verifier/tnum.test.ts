import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type Tnum,
  TNUM_UNKNOWN,
  tnumAdd,
  tnumAnd,
  tnumArshift,
  tnumBswap,
  tnumConst,
  tnumContains,
  tnumIn,
  tnumIntersect,
  tnumLshift,
  tnumMul,
  tnumOr,
  tnumOverlap,
  tnumRange,
  tnumRshift,
  tnumStep,
  tnumSub,
  tnumToString,
  tnumUnion,
  tnumXor,
} from '../support/tnum-bigint.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const MASK64 = (1n << 64n) - 1n;
const t = (value: bigint, mask: bigint): Tnum => ({ value, mask });

test('tnumToString prints constants as the kernel does and other tnums as (value; mask)', () => {
  assert.equal(tnumToString(tnumConst(5n)), '5');
  assert.equal(tnumToString(tnumConst(0xffffn)), '65535');
  assert.equal(tnumToString(tnumConst(0x10000n)), '0x10000');
  assert.equal(tnumToString(t(0n, 0xffn)), '(0x0; 0xff)');
  assert.equal(tnumToString(TNUM_UNKNOWN), '(0x0; 0xffffffffffffffff)');
  assert.equal(tnumToString(tnumConst(-1n)), '0xffffffffffffffff');
});

test('tnumRange covers [min, max] with the common prefix known', () => {
  assert.deepEqual(tnumRange(0n, 255n), t(0n, 0xffn));
  assert.deepEqual(tnumRange(16n, 31n), t(16n, 0xfn));
  assert.deepEqual(tnumRange(7n, 7n), t(7n, 0n));
  assert.deepEqual(tnumRange(0n, MASK64), TNUM_UNKNOWN);
  assert.deepEqual(tnumRange(1n << 63n, MASK64), t(1n << 63n, (1n << 63n) - 1n));
});

test('shifts, byte swaps, overlap and inclusion', () => {
  assert.deepEqual(tnumLshift(t(1n, 2n), 4), t(16n, 32n));
  assert.deepEqual(tnumRshift(t(0x10n, 0x20n), 4), t(1n, 2n));
  assert.deepEqual(tnumArshift(tnumConst(0x8000_0000n), 4, 32), tnumConst(0xf800_0000n));
  assert.deepEqual(tnumArshift(tnumConst(1n << 63n), 63, 64), tnumConst(MASK64));
  assert.deepEqual(tnumLshift(t(1n << 31n, 1n), 33), t(0n, 1n << 33n));
  assert.deepEqual(tnumRshift(t(1n << 63n, 1n << 40n), 40), t(1n << 23n, 1n));
  assert.deepEqual(tnumArshift(t(0x8000_0000_0000_0000n, 0x1_0000n), 36, 64), t(0xffff_ffff_f800_0000n, 0n));
  assert.deepEqual(tnumBswap(t(0x12n, 0x0f00n), 16), t(0x1200n, 0x0fn));
  assert.deepEqual(tnumBswap(tnumConst(0x1122_3344n), 32), tnumConst(0x4433_2211n));
  assert.deepEqual(tnumBswap(tnumConst(0x0102_0304_0506_0708n), 64), tnumConst(0x0807_0605_0403_0201n));
  assert.ok(tnumOverlap(t(0x10n, 0x0fn), t(0x13n, 0n)));
  assert.ok(!tnumOverlap(t(0x10n, 0x0fn), t(0x23n, 0n)));
  assert.ok(tnumIn(t(0n, 0xffn), t(3n, 0x10n)));
  assert.ok(!tnumIn(t(0n, 0xfn), t(3n, 0x10n)));
});

test('tnumStep finds the next member after z (checked against enumeration on 8-bit tnums)', () => {
  const rand = seededRandom(fuzzSeed(41));
  for (let i = 0; i < 400; i++) {
    const mask = BigInt(Math.floor(rand() * 256));
    const value = BigInt(Math.floor(rand() * 256)) & ~mask;
    const tn = t(value, mask);
    const members = [];
    for (let x = 0n; x < 256n; x++) if (tnumContains(tn, x)) members.push(x);
    const z = BigInt(Math.floor(rand() * 256));
    const tmax = value | mask;
    const expected = z >= tmax ? tmax : (members.find((m) => m > z) ?? tmax);
    assert.equal(tnumStep(tn, z), expected, `step(${tnumToString(tn)}, ${z})`);
  }
});

/** Members of a tnum with few unknown bits, and a random pick for ones with many. */
function members(tn: Tnum, rand: () => number, count: number): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < count; i++) {
    let bits = 0n;
    for (let b = 0n; b < 64n; b++) if (((tn.mask >> b) & 1n) === 1n && rand() < 0.5) bits |= 1n << b;
    out.push(tn.value | bits);
  }
  return out;
}

function randomTnum(rand: () => number): Tnum {
  const word = (): bigint => BigInt(Math.floor(rand() * 0x1_0000_0000));
  const mask = ((word() << 32n) | word()) & ((word() << 32n) | word()) & (rand() < 0.5 ? 0xffffn : MASK64);
  const value = ((word() << 32n) | word()) & ~mask & MASK64;
  return t(value, mask);
}

test('tnum arithmetic is sound: results contain every concrete result', () => {
  const rand = seededRandom(fuzzSeed(42));
  const ops: [string, (a: Tnum, b: Tnum) => Tnum, (x: bigint, y: bigint) => bigint][] = [
    ['add', tnumAdd, (x, y) => x + y],
    ['sub', tnumSub, (x, y) => x - y],
    ['mul', tnumMul, (x, y) => x * y],
    ['and', tnumAnd, (x, y) => x & y],
    ['or', tnumOr, (x, y) => x | y],
    ['xor', tnumXor, (x, y) => x ^ y],
    ['union', tnumUnion, (x) => x],
  ];
  for (let i = 0; i < 300; i++) {
    const a = randomTnum(rand);
    const b = randomTnum(rand);
    for (const [name, abstract, concrete] of ops) {
      const result = abstract(a, b);
      assert.equal(result.value & result.mask, 0n, `${name} keeps value & mask == 0`);
      const xs = members(a, rand, 4);
      const ys = members(b, rand, 4);
      for (let k = 0; k < xs.length; k++) {
        const value = BigInt.asUintN(64, concrete(xs[k]!, ys[k]!));
        assert.ok(tnumContains(result, value), `${name}(${tnumToString(a)}, ${tnumToString(b)}) = ${tnumToString(result)} misses ${value}`);
      }
    }
    const both = tnumIntersect(a, tnumOr(a, b));
    for (const x of members(a, rand, 2)) if (tnumContains(tnumOr(a, b), x)) assert.ok(tnumContains(both, x));
  }
});
