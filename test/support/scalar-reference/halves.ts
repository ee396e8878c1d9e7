// The scalar domain as src/verifier kept it before it moved onto 32-bit words (bigint bounds and tnum),
// checked then on the whole corpus and against the kernel. Only test/verifier/scalar-words.test.ts uses it,
// as the reference the word implementation must equal bit for bit.
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
const SAFE = 2 ** 53;

/** Where split() leaves its result (shared scratch: no allocation per conversion). */
export const SPLIT = { hi: 0, lo: 0 };

/** Splits a bigint (signed or unsigned, taken mod 2^64) into SPLIT.hi and SPLIT.lo. */
export function split(x: bigint): void {
  // Number() is exact below 2^53 in magnitude and rounds anything larger to at least 2^53: one conversion decides.
  const n = Number(x);
  if (n < SAFE && n > -SAFE) {
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

/** Small values and the 32-bit limits are shared: states keep many bounds, and each bigint is a heap object. */
const SHARED_BELOW = 1024;
const SHARED: bigint[] = Array.from({ length: SHARED_BELOW }, (_, i) => BigInt(i));
const U32_BIG = 0xffff_ffffn;
const S32_MIN_BIG = -0x8000_0000n;
const S32_MAX_BIG = 0x7fff_ffffn;

/** BigInt(n) for an integer n of at most 53 bits, shared for common values. */
export function bigint(n: number): bigint {
  if (n >= 0 && n < SHARED_BELOW) return SHARED[n]!;
  if (n === U32) return U32_BIG;
  if (n === 0x7fff_ffff) return S32_MAX_BIG;
  if (n === -0x8000_0000) return S32_MIN_BIG;
  return BigInt(n);
}

/** The u64 value of (hi, lo). */
export function joinUnsigned(hi: number, lo: number): bigint {
  if (hi < SAFE_HI) return bigint(hi * TWO_32 + lo);
  if (hi === U32 && lo === U32) return U64_MAX;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** The s64 value of (hi, lo). */
export function joinSigned(hi: number, lo: number): bigint {
  const h = hi | 0;
  if (h < SAFE_HI && h >= -SAFE_HI) return bigint(h * TWO_32 + lo);
  if (hi === 0x8000_0000 && lo === 0) return S64_MIN;
  if (hi === 0x7fff_ffff && lo === U32) return S64_MAX;
  return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
}
