/**
 * 64-bit quantities as pairs of 32-bit halves (hi, lo) holding their two's
 * complement bits: the representation of every scalar bound and tnum in
 * the verifier (bigint operations allocate, and their garbage was a large
 * part of the verifier's time). Words are unsigned (x >>> 0) while being
 * computed on; a frozen Scalar stores them signed (x | 0) so that V8 keeps
 * them as small integers instead of boxed doubles.
 *
 * Functions returning a 64-bit result leave it in RESULT (module scratch:
 * no allocation per operation). Bigints appear only in the conversions at
 * the API's edges (log printing, bigint arguments).
 */

export const U32 = 0xffff_ffff;
export const TWO_32 = 4294967296;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const SAFE = 2 ** 53;

/** Where the 64-bit operations and split() leave their result, as unsigned words. */
export const RESULT = { hi: 0, lo: 0 };

/** Unsigned a < b. */
export const ltU = (ah: number, al: number, bh: number, bl: number): boolean => ah < bh || (ah === bh && al < bl);
/** Signed a < b (words unsigned). */
export const ltS = (ah: number, al: number, bh: number, bl: number): boolean => (ah | 0) < (bh | 0) || (ah === bh && al < bl);

/** Number of significant bits of (hi, lo) (fls64). */
export function bitLength(hi: number, lo: number): number {
  if (hi !== 0) return 64 - Math.clz32(hi);
  return lo === 0 ? 0 : 32 - Math.clz32(lo);
}

/** 2^bits - 1 for bits in [0, 32], as an unsigned 32-bit number. */
export const lowOnes = (bits: number): number => (bits >= 32 ? U32 : ((1 << bits) - 1) >>> 0);

/** (ah, al) + (bh, bl) mod 2^64 into RESULT; whether it carried out of 64 bits (unsigned overflow). */
export function add64(ah: number, al: number, bh: number, bl: number): boolean {
  const l = al + bl;
  const h = ah + bh + (l > U32 ? 1 : 0);
  RESULT.lo = l >>> 0;
  RESULT.hi = h >>> 0;
  return h > U32;
}

/** (ah, al) - (bh, bl) mod 2^64 into RESULT; whether it borrowed (unsigned a < b). */
export function sub64(ah: number, al: number, bh: number, bl: number): boolean {
  const l = al - bl;
  const h = ah - bh - (l < 0 ? 1 : 0);
  RESULT.lo = l >>> 0;
  RESULT.hi = h >>> 0;
  return h < 0;
}

/** Signed overflow of the add64 whose result is in RESULT. */
export const addOverflowed = (ah: number, bh: number): boolean => (((ah ^ RESULT.hi) & (bh ^ RESULT.hi)) & 0x8000_0000) !== 0;
/** Signed overflow of the sub64 whose result is in RESULT. */
export const subOverflowed = (ah: number, bh: number): boolean => (((ah ^ bh) & (ah ^ RESULT.hi)) & 0x8000_0000) !== 0;

/** The exact 64-bit product of two unsigned 32-bit words into RESULT. */
export function mulWords(a: number, b: number): void {
  const p = a * b;
  if (p < SAFE) {
    RESULT.lo = p >>> 0;
    RESULT.hi = Math.floor(p / TWO_32) >>> 0;
    return;
  }
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const low = a0 * b0;
  const mid = a0 * b1 + a1 * b0 + (low >>> 16); // below 2^34: exact
  RESULT.lo = (((mid & 0xffff) << 16) | (low & 0xffff)) >>> 0;
  RESULT.hi = (a1 * b1 + Math.floor(mid / 65536)) >>> 0;
}

/** Unsigned (ah, al) * (bh, bl) into RESULT; whether the product overflowed 64 bits (then RESULT is meaningless). */
export function mulU64Overflows(ah: number, al: number, bh: number, bl: number): boolean {
  if (ah !== 0 && bh !== 0) return true;
  if (ah === 0 && bh === 0) {
    mulWords(al, bl);
    return false;
  }
  // One operand is below 2^32: (h * 2^32 + l) * x = h * x * 2^32 + l * x.
  const h = ah !== 0 ? ah : bh;
  const l = ah !== 0 ? al : bl;
  const x = ah !== 0 ? bl : al;
  const upper = h * x; // exact when it fits 32 bits, and over 2^32 - 1 whenever the exact product is (monotone rounding)
  if (upper > U32) return true;
  mulWords(l, x);
  const hi = upper + RESULT.hi;
  if (hi > U32) return true;
  RESULT.hi = hi;
  return false;
}

/** Signed (ah, al) * (bh, bl) into RESULT; whether the product overflowed s64. */
export function mulS64Overflows(ah: number, al: number, bh: number, bl: number): boolean {
  const aNegative = (ah & 0x8000_0000) !== 0;
  const bNegative = (bh & 0x8000_0000) !== 0;
  if (aNegative) { sub64(0, 0, ah, al); ah = RESULT.hi; al = RESULT.lo; }
  if (bNegative) { sub64(0, 0, bh, bl); bh = RESULT.hi; bl = RESULT.lo; }
  // Magnitudes as unsigned (|S64_MIN| = 2^63 included).
  if (mulU64Overflows(ah, al, bh, bl)) return true;
  const negative = aNegative !== bNegative;
  if (RESULT.hi >= 0x8000_0000) {
    // Only -2^63 has a magnitude of 2^63 or more that fits.
    if (!(negative && RESULT.hi === 0x8000_0000 && RESULT.lo === 0)) return true;
    return false;
  }
  if (negative) sub64(0, 0, RESULT.hi, RESULT.lo);
  return false;
}

/** The low 64 bits of (ah, al) * (bh, bl) into RESULT. */
export function mulLow64(ah: number, al: number, bh: number, bl: number): void {
  mulWords(al, bl);
  RESULT.hi = (RESULT.hi + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

/** (hi, lo) << n into RESULT, for n in [0, 63]. */
export function shl64(hi: number, lo: number, n: number): void {
  if (n === 0) { RESULT.hi = hi; RESULT.lo = lo; return; }
  if (n >= 32) { RESULT.hi = (lo << (n - 32)) >>> 0; RESULT.lo = 0; return; }
  RESULT.hi = ((hi << n) | (lo >>> (32 - n))) >>> 0;
  RESULT.lo = (lo << n) >>> 0;
}

/** (hi, lo) >> n (logical) into RESULT, for n in [0, 63]. */
export function shr64(hi: number, lo: number, n: number): void {
  if (n === 0) { RESULT.hi = hi; RESULT.lo = lo; return; }
  if (n >= 32) { RESULT.lo = hi >>> (n - 32); RESULT.hi = 0; return; }
  RESULT.lo = ((lo >>> n) | (hi << (32 - n))) >>> 0;
  RESULT.hi = hi >>> n;
}

/** (hi, lo) >> n (arithmetic) into RESULT, for n in [0, 63]. */
export function sar64(hi: number, lo: number, n: number): void {
  if (n === 0) { RESULT.hi = hi; RESULT.lo = lo; return; }
  if (n >= 32) { RESULT.lo = ((hi | 0) >> (n - 32)) >>> 0; RESULT.hi = ((hi | 0) >> 31) >>> 0; return; }
  RESULT.lo = ((lo >>> n) | (hi << (32 - n))) >>> 0;
  RESULT.hi = ((hi | 0) >> n) >>> 0;
}

/** The value of (hi, lo) as a signed number: exact below 2^53 in magnitude, else rounded (order is kept). */
export const toSignedNumber = (hi: number, lo: number): number => (hi | 0) * TWO_32 + (lo >>> 0);
/** The value of (hi, lo) as an unsigned number: exact below 2^53, else rounded (order is kept). */
export const toUnsignedNumber = (hi: number, lo: number): number => (hi >>> 0) * TWO_32 + (lo >>> 0);

// ---------------------------------------------------------------- bigint edges

/** Splits a bigint (signed or unsigned, taken mod 2^64) into RESULT. */
export function split(x: bigint): void {
  // Number() is exact below 2^53 in magnitude and rounds anything larger to at least 2^53: one conversion decides.
  const n = Number(x);
  if (n < SAFE && n > -SAFE) {
    RESULT.lo = n >>> 0;
    RESULT.hi = Math.floor(n / TWO_32) >>> 0;
  } else {
    RESULT.lo = Number(BigInt.asUintN(32, x));
    RESULT.hi = Number(BigInt.asUintN(32, x >> 32n));
  }
}

/** The u64 value of (hi, lo). */
export function joinUnsigned(hi: number, lo: number): bigint {
  const h = hi >>> 0;
  if (h < 0x20_0000) return BigInt(h * TWO_32 + (lo >>> 0));
  if (h === U32 && lo >>> 0 === U32) return U64_MAX;
  return (BigInt(h) << 32n) | BigInt(lo >>> 0);
}

/** The s64 value of (hi, lo). */
export const joinSigned = (hi: number, lo: number): bigint => BigInt.asIntN(64, joinUnsigned(hi, lo));
