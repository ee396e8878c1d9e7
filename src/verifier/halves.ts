/**
 * 64-bit quantities as pairs of unsigned 32-bit halves (hi, lo) holding
 * their two's complement bits, and the conversions from and to the bigints
 * of the Scalar and Tnum interfaces. The arithmetic of bounds-sync.ts and
 * tnum.ts runs on halves: bigint operations allocate, and their garbage
 * was a large part of the verifier's time.
 */

export const U32 = 0xffff_ffff;
export const TWO_32 = 4294967296;
const SAFE_HI = 0x20_0000; // hi words below this (and above its negation, signed) fit a double exactly
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;
const SAFE_BIG = 1n << 53n;

/** Where split() leaves its result (shared scratch: no allocation per conversion). */
export const SPLIT = { hi: 0, lo: 0 };

/** Splits a bigint (signed or unsigned, taken mod 2^64) into SPLIT.hi and SPLIT.lo. */
export function split(x: bigint): void {
  if (x < SAFE_BIG && x > -SAFE_BIG) {
    const n = Number(x);
    SPLIT.lo = n >>> 0;
    SPLIT.hi = Math.floor(n / TWO_32) >>> 0;
  } else if (x === U64_MAX) {
    SPLIT.hi = U32;
    SPLIT.lo = U32;
  } else if (x === S64_MIN) {
    SPLIT.hi = 0x8000_0000;
    SPLIT.lo = 0;
  } else if (x === S64_MAX) {
    SPLIT.hi = 0x7fff_ffff;
    SPLIT.lo = U32;
  } else {
    SPLIT.lo = Number(BigInt.asUintN(32, x));
    SPLIT.hi = Number(BigInt.asUintN(32, x >> 32n));
  }
}

/** The u64 value of (hi, lo). */
export function joinUnsigned(hi: number, lo: number): bigint {
  if (hi < SAFE_HI) return BigInt(hi * TWO_32 + lo);
  if (hi === U32 && lo === U32) return U64_MAX;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** The s64 value of (hi, lo). */
export function joinSigned(hi: number, lo: number): bigint {
  const h = hi | 0;
  if (h < SAFE_HI && h >= -SAFE_HI) return BigInt(h * TWO_32 + lo);
  if (hi === 0x8000_0000 && lo === 0) return S64_MIN;
  if (hi === 0x7fff_ffff && lo === U32) return S64_MAX;
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}
