/**
 * The halves arithmetic (src/verifier/halves.ts's 64-bit operations and
 * overflow checks, tnum.ts's add, sub, mul and tnum_in) against the
 * kernel's formulas written directly on bigints: the results must be the
 * same bits. Random values mix edge values (0, 2^32, 2^53, 2^63, 2^64-1
 * and neighbours) with random bit patterns.
 * TSBPF_HALVES_CASES runs more locally (1,000,000 was run).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as halves from '../../src/verifier/halves.ts';
import { type Tnum, tnumAdd, tnumIn, tnumMul, tnumSub } from '../support/tnum-bigint.ts';
import { fuzzSeed, seededRandom } from '../support/random.ts';

const CASES = Number(process.env.TSBPF_HALVES_CASES ?? 20_000);
const MASK64 = (1n << 64n) - 1n;
const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);

// The kernel's kernel/bpf/tnum.c on bigints (mod 2^64).
function referenceAdd(a: Tnum, b: Tnum): Tnum {
  const sm = a.mask + b.mask;
  const sv = a.value + b.value;
  const mu = ((sm + sv) ^ sv) & MASK64 | a.mask | b.mask;
  return { value: sv & ~mu & MASK64, mask: mu };
}

function referenceSub(a: Tnum, b: Tnum): Tnum {
  const dv = a.value - b.value;
  const mu = u64((dv + a.mask) ^ (dv - b.mask)) | a.mask | b.mask;
  return { value: u64(dv) & ~mu, mask: mu };
}

function referenceMul(a: Tnum, b: Tnum): Tnum {
  let acc: Tnum = { value: 0n, mask: 0n };
  let av = a.value;
  let am = a.mask;
  let shifted = b;
  while (av !== 0n || am !== 0n) {
    if ((av & 1n) !== 0n) acc = referenceAdd(acc, shifted);
    else if ((am & 1n) !== 0n) {
      const sum = referenceAdd(acc, shifted);
      const mu = acc.mask | sum.mask | (acc.value ^ sum.value);
      acc = { value: acc.value & sum.value & ~mu, mask: mu };
    }
    av >>= 1n;
    am >>= 1n;
    shifted = { value: (shifted.value << 1n) & MASK64, mask: (shifted.mask << 1n) & MASK64 };
  }
  return acc;
}

const referenceIn = (outer: Tnum, inner: Tnum): boolean => (inner.mask & ~outer.mask) === 0n && outer.value === (inner.value & ~outer.mask);

const EDGES = [0n, 1n, 2n, 0xffn, 0x100n, 0x7fff_ffffn, 0x8000_0000n, 0xffff_ffffn, 1n << 32n, (1n << 53n) - 1n, 1n << 53n, (1n << 53n) + 1n, (1n << 63n) - 1n, 1n << 63n, MASK64 - 1n, MASK64];

function randomU64(random: () => number): bigint {
  const word = (): bigint => BigInt(Math.floor(random() * 2 ** 32));
  switch (Math.floor(random() * 5)) {
    case 0: return EDGES[Math.floor(random() * EDGES.length)]!;
    case 1: return u64(EDGES[Math.floor(random() * EDGES.length)]! + BigInt(Math.floor(random() * 17) - 8));
    case 2: return word() & 0xffffn;
    case 3: return word();
    default: return ((word() << 32n) | word()) >> BigInt(Math.floor(random() * 64));
  }
}

function randomTnum(random: () => number): Tnum {
  const mask = random() < 0.25 ? 0n : randomU64(random);
  return { value: randomU64(random) & ~mask, mask };
}

const same = (got: Tnum, want: Tnum, what: string): void => {
  if (got.value !== want.value || got.mask !== want.mask) {
    assert.fail(`${what}: got (0x${got.value.toString(16)}; 0x${got.mask.toString(16)}), want (0x${want.value.toString(16)}; 0x${want.mask.toString(16)})`);
  }
};

test(`tnum add, sub, mul and tnum_in on halves equal the bigint formulas (${CASES} random pairs)`, () => {
  const random = seededRandom(fuzzSeed(0x4a1f));
  for (let n = 0; n < CASES; n++) {
    const a = randomTnum(random);
    const b = randomTnum(random);
    const args = `(0x${a.value.toString(16)}; 0x${a.mask.toString(16)}), (0x${b.value.toString(16)}; 0x${b.mask.toString(16)})`;
    same(tnumAdd(a, b), referenceAdd(a, b), `add ${args}`);
    same(tnumSub(a, b), referenceSub(a, b), `sub ${args}`);
    same(tnumMul(a, b), referenceMul(a, b), `mul ${args}`);
    const narrower = { value: a.value & ~b.mask, mask: a.mask & b.mask };
    for (const [outer, inner] of [[a, b], [b, a], [a, narrower], [a, a]] as const) {
      assert.equal(tnumIn(outer, inner), referenceIn(outer, inner), `in ${args}`);
    }
  }
});

test('halves: split and join round-trip signed and unsigned 64-bit values', () => {
  const random = seededRandom(fuzzSeed(0x5b2e));
  const values = [...EDGES, -1n, -(1n << 53n), -(1n << 53n) - 1n, -(1n << 63n), -0x8000_0000n];
  for (let n = 0; n < 2000; n++) values.push(randomU64(random), -randomU64(random) >> 1n);
  for (const x of values) {
    halves.split(x);
    const { hi, lo } = halves.RESULT;
    assert.equal(halves.joinUnsigned(hi, lo), u64(x), `unsigned ${x}`);
    assert.equal(halves.joinSigned(hi, lo), BigInt.asIntN(64, x), `signed ${x}`);
    assert.equal(halves.joinUnsigned(hi | 0, lo | 0), u64(x), `unsigned from signed words ${x}`);
    assert.equal(halves.toSignedNumber(hi, lo), Number(BigInt.asIntN(64, x)), `signed number ${x}`);
    assert.equal(halves.toUnsignedNumber(hi | 0, lo | 0), Number(u64(x)), `unsigned number ${x}`);
  }
});

const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;
const wordsOf = (x: bigint): [number, number] => [Number(u64(x) >> 32n), Number(u64(x) & 0xffff_ffffn)];
const resultValue = (): bigint => halves.joinUnsigned(halves.RESULT.hi, halves.RESULT.lo);

test(`64-bit add, sub, mul, shifts and their overflow checks on halves equal bigint arithmetic (${CASES} random pairs)`, () => {
  const random = seededRandom(fuzzSeed(0x6c3f));
  for (let n = 0; n < CASES; n++) {
    const a = randomU64(random);
    const b = random() < 0.3 ? randomU64(random) >> BigInt(Math.floor(random() * 64)) : randomU64(random);
    const [ah, al] = wordsOf(a);
    const [bh, bl] = wordsOf(b);
    const sa = BigInt.asIntN(64, a);
    const sb = BigInt.asIntN(64, b);
    const args = `0x${a.toString(16)}, 0x${b.toString(16)}`;
    assert.equal(halves.add64(ah, al, bh, bl), a + b > MASK64, `add carry ${args}`);
    assert.equal(resultValue(), u64(a + b), `add ${args}`);
    assert.equal(halves.addOverflowed(ah, bh), sa + sb < S64_MIN || sa + sb > S64_MAX, `add signed overflow ${args}`);
    assert.equal(halves.sub64(ah, al, bh, bl), a < b, `sub borrow ${args}`);
    assert.equal(resultValue(), u64(a - b), `sub ${args}`);
    assert.equal(halves.subOverflowed(ah, bh), sa - sb < S64_MIN || sa - sb > S64_MAX, `sub signed overflow ${args}`);
    const unsignedOverflow = a * b > MASK64;
    assert.equal(halves.mulU64Overflows(ah, al, bh, bl), unsignedOverflow, `mul unsigned overflow ${args}`);
    if (!unsignedOverflow) assert.equal(resultValue(), a * b, `mul unsigned ${args}`);
    const signedProduct = sa * sb;
    const signedOverflow = signedProduct < S64_MIN || signedProduct > S64_MAX;
    assert.equal(halves.mulS64Overflows(ah, al, bh, bl), signedOverflow, `mul signed overflow ${args}`);
    if (!signedOverflow) assert.equal(resultValue(), u64(signedProduct), `mul signed ${args}`);
    halves.mulLow64(ah, al, bh, bl);
    assert.equal(resultValue(), u64(a * b), `mul low ${args}`);
    const shift = Math.floor(random() * 64);
    halves.shl64(ah, al, shift);
    assert.equal(resultValue(), u64(a << BigInt(shift)), `shl ${args} ${shift}`);
    halves.shr64(ah, al, shift);
    assert.equal(resultValue(), a >> BigInt(shift), `shr ${args} ${shift}`);
    halves.sar64(ah, al, shift);
    assert.equal(resultValue(), u64(sa >> BigInt(shift)), `sar ${args} ${shift}`);
    assert.equal(halves.ltU(ah, al, bh, bl), a < b, `ltU ${args}`);
    assert.equal(halves.ltS(ah, al, bh, bl), sa < sb, `ltS ${args}`);
    assert.equal(halves.bitLength(ah, al), a === 0n ? 0 : a.toString(2).length, `bitLength ${args}`);
  }
});
