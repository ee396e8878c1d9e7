/**
 * The tnum operations of src/verifier/tnum.ts (on 32-bit words) seen
 * through bigint tnums, so tests can state cases and kernel formulas on
 * plain 64-bit values. The conversions are the test's; every operation is
 * the source's.
 */
import * as halves from '../../src/verifier/halves.ts';
import * as tnums from '../../src/verifier/tnum.ts';

export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

const MASK64 = (1n << 64n) - 1n;
export const TNUM_UNKNOWN: Tnum = { value: 0n, mask: MASK64 };

export const tnumConst = (v: bigint): Tnum => ({ value: BigInt.asUintN(64, v), mask: 0n });
export const tnumContains = (a: Tnum, v: bigint): boolean => (BigInt.asUintN(64, v) & ~a.mask) === a.value;

type Words = [number, number, number, number];
const wordsOf = (t: Tnum): Words => [Number(t.value >> 32n), Number(t.value & 0xffff_ffffn), Number(t.mask >> 32n), Number(t.mask & 0xffff_ffffn)];
const result = (): Tnum => ({ value: halves.joinUnsigned(tnums.TNUM.vH, tnums.TNUM.vL), mask: halves.joinUnsigned(tnums.TNUM.mH, tnums.TNUM.mL) });

type Binary = (avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number) => void;
const binary = (op: Binary) => (a: Tnum, b: Tnum): Tnum => {
  op(...wordsOf(a), ...wordsOf(b));
  return result();
};

export const tnumAdd = binary(tnums.tnumAdd);
export const tnumSub = binary(tnums.tnumSub);
export const tnumMul = binary(tnums.tnumMul);
export const tnumAnd = binary(tnums.tnumAnd);
export const tnumOr = binary(tnums.tnumOr);
export const tnumXor = binary(tnums.tnumXor);
export const tnumUnion = binary(tnums.tnumUnion);
export const tnumIntersect = binary(tnums.tnumIntersect);

export function tnumLshift(a: Tnum, n: number): Tnum {
  tnums.tnumLshift(...wordsOf(a), n);
  return result();
}

export function tnumRshift(a: Tnum, n: number): Tnum {
  tnums.tnumRshift(...wordsOf(a), n);
  return result();
}

export function tnumArshift(a: Tnum, n: number, insnBitness: 32 | 64): Tnum {
  tnums.tnumArshift(...wordsOf(a), n, insnBitness);
  return result();
}

export function tnumBswap(a: Tnum, bits: 16 | 32 | 64): Tnum {
  tnums.tnumBswap(...wordsOf(a), bits);
  return result();
}

export function tnumRange(min: bigint, max: bigint): Tnum {
  tnums.tnumRange(...(wordsOf({ value: min, mask: max }) as Words));
  return result();
}

export const tnumIn = (outer: Tnum, inner: Tnum): boolean => tnums.tnumIn(...wordsOf(outer), ...wordsOf(inner));
export const tnumOverlap = (a: Tnum, b: Tnum): boolean => tnums.tnumOverlap(...wordsOf(a), ...wordsOf(b));

export function tnumStep(t: Tnum, z: bigint): bigint {
  const [zH, zL] = wordsOf({ value: z, mask: 0n });
  tnums.tnumStep(...wordsOf(t), zH, zL);
  return halves.joinUnsigned(halves.RESULT.hi, halves.RESULT.lo);
}

export const tnumToString = (a: Tnum): string => tnums.tnumToString(...wordsOf(a));
