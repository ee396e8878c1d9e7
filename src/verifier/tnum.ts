/**
 * Tracked numbers ("tnums"), the kernel's known-bits domain
 * (kernel/bpf/tnum.c): every bit of a 64-bit value is known 0, known 1 or
 * unknown. `mask` has a 1 for each unknown bit, `value` the known bits, and
 * `value & mask` is always 0.
 *
 * Both are 64-bit words given as unsigned 32-bit halves (halves.ts): a tnum
 * is (vH, vL, mH, mL). Each operation takes its operands' words and leaves
 * its result in TNUM (module scratch), so the verifier's hot loop neither
 * allocates nor touches a bigint. Formulas are the kernel's, mod 2^64.
 */

import * as halves from './halves.ts';

// Bound once: some loaders turn every use of an imported binding into a getter call.
const { U32, bitLength, lowOnes } = halves;

/** The result of the last tnum operation, as unsigned words. */
export const TNUM = { vH: 0, vL: 0, mH: 0, mL: 0 };

function set(vH: number, vL: number, mH: number, mL: number): void {
  TNUM.vH = vH >>> 0;
  TNUM.vL = vL >>> 0;
  TNUM.mH = mH >>> 0;
  TNUM.mL = mL >>> 0;
}

/** The smallest tnum containing every value of [min, max] (unsigned). */
export function tnumRange(minH: number, minL: number, maxH: number, maxL: number): void {
  const bits = bitLength((minH ^ maxH) >>> 0, (minL ^ maxL) >>> 0);
  if (bits > 63) return set(0, 0, U32, U32);
  const dL = bits >= 32 ? U32 : lowOnes(bits);
  const dH = bits > 32 ? lowOnes(bits - 32) : 0;
  set(minH & ~dH, minL & ~dL, dH, dL);
}

/** tnum_add. */
export function tnumAdd(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  let l = amL + bmL;
  const smL = l >>> 0;
  const smH = (amH + bmH + (l > U32 ? 1 : 0)) >>> 0;
  l = avL + bvL;
  const svL = l >>> 0;
  const svH = (avH + bvH + (l > U32 ? 1 : 0)) >>> 0;
  l = smL + svL;
  const sigmaL = l >>> 0;
  const sigmaH = (smH + svH + (l > U32 ? 1 : 0)) >>> 0;
  const muH = (sigmaH ^ svH) | amH | bmH;
  const muL = (sigmaL ^ svL) | amL | bmL;
  set(svH & ~muH, svL & ~muL, muH, muL);
}

/** tnum_sub: dv = av - bv, alpha = dv + am, beta = dv - bm, mu = (alpha ^ beta) | am | bm. */
export function tnumSub(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  let l = avL - bvL;
  const dvL = l >>> 0;
  const dvH = (avH - bvH - (l < 0 ? 1 : 0)) >>> 0;
  l = dvL + amL;
  const alphaL = l >>> 0;
  const alphaH = (dvH + amH + (l > U32 ? 1 : 0)) >>> 0;
  l = dvL - bmL;
  const betaL = l >>> 0;
  const betaH = (dvH - bmH - (l < 0 ? 1 : 0)) >>> 0;
  const muH = (alphaH ^ betaH) | amH | bmH;
  const muL = (alphaL ^ betaL) | amL | bmL;
  set(dvH & ~muH, dvL & ~muL, muH, muL);
}

/** tnum_and. */
export function tnumAnd(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  const vH = avH & bvH;
  const vL = avL & bvL;
  set(vH, vL, (avH | amH) & (bvH | bmH) & ~vH, (avL | amL) & (bvL | bmL) & ~vL);
}

/** tnum_or. */
export function tnumOr(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  const vH = avH | bvH;
  const vL = avL | bvL;
  set(vH, vL, (amH | bmH) & ~vH, (amL | bmL) & ~vL);
}

/** tnum_xor. */
export function tnumXor(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  const muH = amH | bmH;
  const muL = amL | bmL;
  set((avH ^ bvH) & ~muH, (avL ^ bvL) & ~muL, muH, muL);
}

/** Values in both (where they disagree on a known bit the result says 1, as the kernel's tnum_intersect does). */
export function tnumIntersect(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  const muH = amH & bmH;
  const muL = amL & bmL;
  set((avH | bvH) & ~muH, (avL | bvL) & ~muL, muH, muL);
}

/** Every value of a or of b (bits where they differ become unknown). */
export function tnumUnion(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  const muH = amH | bmH | (avH ^ bvH);
  const muL = amL | bmL | (avL ^ bvL);
  set(avH & bvH & ~muH, avL & bvL & ~muL, muH, muL);
}

/**
 * Long multiplication over the bits of a (the 6.18 kernel's order: dst
 * times src): a known 1 adds the shifted b, an unknown bit takes the union
 * of adding it and not.
 */
export function tnumMul(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): void {
  let xvH = avH, xvL = avL, xmH = amH, xmL = amL;
  let accVH = 0, accVL = 0, accMH = 0, accML = 0;
  while ((xvH | xvL | xmH | xmL) !== 0) {
    if ((xvL & 1) !== 0) {
      tnumAdd(accVH, accVL, accMH, accML, bvH, bvL, bmH, bmL);
      accVH = TNUM.vH; accVL = TNUM.vL; accMH = TNUM.mH; accML = TNUM.mL;
    } else if ((xmL & 1) !== 0) {
      tnumAdd(accVH, accVL, accMH, accML, bvH, bvL, bmH, bmL);
      tnumUnion(accVH, accVL, accMH, accML, TNUM.vH, TNUM.vL, TNUM.mH, TNUM.mL);
      accVH = TNUM.vH; accVL = TNUM.vL; accMH = TNUM.mH; accML = TNUM.mL;
    }
    xvL = ((xvL >>> 1) | (xvH << 31)) >>> 0;
    xvH >>>= 1;
    xmL = ((xmL >>> 1) | (xmH << 31)) >>> 0;
    xmH >>>= 1;
    bvH = ((bvH << 1) | (bvL >>> 31)) >>> 0;
    bvL = (bvL << 1) >>> 0;
    bmH = ((bmH << 1) | (bmL >>> 31)) >>> 0;
    bmL = (bmL << 1) >>> 0;
  }
  set(accVH, accVL, accMH, accML);
}

/** tnum_lshift by n in [0, 63]. */
export function tnumLshift(vH: number, vL: number, mH: number, mL: number, n: number): void {
  halves.shl64(vH, vL, n);
  const rvH = halves.RESULT.hi, rvL = halves.RESULT.lo;
  halves.shl64(mH, mL, n);
  set(rvH, rvL, halves.RESULT.hi, halves.RESULT.lo);
}

/** tnum_rshift by n in [0, 63]. */
export function tnumRshift(vH: number, vL: number, mH: number, mL: number, n: number): void {
  halves.shr64(vH, vL, n);
  const rvH = halves.RESULT.hi, rvL = halves.RESULT.lo;
  halves.shr64(mH, mL, n);
  set(rvH, rvL, halves.RESULT.hi, halves.RESULT.lo);
}

/** Arithmetic right shift as an ALU op of `insnBitness` bits does it (the 32-bit form works on the low word only). */
export function tnumArshift(vH: number, vL: number, mH: number, mL: number, n: number, insnBitness: 32 | 64): void {
  if (insnBitness === 32) return set(0, (vL | 0) >> n, 0, (mL | 0) >> n);
  halves.sar64(vH, vL, n);
  const rvH = halves.RESULT.hi, rvL = halves.RESULT.lo;
  halves.sar64(mH, mL, n);
  set(rvH, rvL, halves.RESULT.hi, halves.RESULT.lo);
}

const bswap16 = (x: number): number => ((x & 0xff) << 8) | ((x >>> 8) & 0xff);
const bswap32 = (x: number): number => ((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24);

/** Byte swap of the low 16, 32 or 64 bits (BPF_END); higher bits become known zeros. */
export function tnumBswap(vH: number, vL: number, mH: number, mL: number, bits: 16 | 32 | 64): void {
  if (bits === 16) return set(0, bswap16(vL), 0, bswap16(mL));
  if (bits === 32) return set(0, bswap32(vL), 0, bswap32(mL));
  set(bswap32(vL), bswap32(vH), bswap32(mL), bswap32(mH));
}

/** Do the two tnums share at least one value? (They agree on every bit both know.) */
export function tnumOverlap(avH: number, avL: number, amH: number, amL: number, bvH: number, bvL: number, bmH: number, bmL: number): boolean {
  const kH = ~amH & ~bmH;
  const kL = ~amL & ~bmL;
  return ((avH ^ bvH) & kH) === 0 && ((avL ^ bvL) & kL) === 0;
}

/** tnum_in: is every value of the inner tnum a value of the outer one? (Words in either signedness.) */
export function tnumIn(ovH: number, ovL: number, omH: number, omL: number, ivH: number, ivL: number, imH: number, imL: number): boolean {
  if ((imH & ~omH) !== 0 || (imL & ~omL) !== 0) return false;
  return ((ovH ^ (ivH & ~omH)) | (ovL ^ (ivL & ~omL))) === 0;
}

/**
 * The smallest member of the tnum greater than z (the kernel's tnum_step)
 * into halves.RESULT, or the tnum's largest member when there is none; its
 * smallest member when z is below it.
 */
export function tnumStep(vH: number, vL: number, mH: number, mL: number, zH: number, zL: number): void {
  const out = halves.RESULT;
  const tmaxH = (vH | mH) >>> 0;
  const tmaxL = (vL | mL) >>> 0;
  if (!halves.ltU(zH, zL, tmaxH, tmaxL)) { out.hi = tmaxH; out.lo = tmaxL; return; }
  if (halves.ltU(zH, zL, vH, vL)) { out.hi = vH; out.lo = vL; return; }
  // z < tmax, so z + 1 does not wrap.
  const yL = (zL + 1) >>> 0;
  const yH = yL === 0 ? (zH + 1) >>> 0 : zH;
  const cH = (yH ^ vH) & ~mH;
  const cL = (yL ^ vL) & ~mL;
  if (cH === 0 && cL === 0) { out.hi = yH; out.lo = yL; return; }
  // The highest known bit y gets wrong decides: y too small there (take t's bit and the minimum below),
  // or too large (carry into the lowest free unknown bit above it).
  const k = bitLength(cH >>> 0, cL >>> 0) - 1;
  const aboveL = k >= 31 ? 0 : (U32 << (k + 1)) >>> 0;
  const aboveH = k >= 63 ? 0 : k >= 31 ? (U32 << (k - 31)) >>> 0 : U32;
  const bitK = k >= 32 ? (vH >>> (k - 32)) & 1 : (vL >>> k) & 1;
  if (bitK === 1) {
    out.hi = ((yH & aboveH) | (vH & ~aboveH)) >>> 0;
    out.lo = ((yL & aboveL) | (vL & ~aboveL)) >>> 0;
    return;
  }
  const freeH = (mH & ~yH & aboveH) >>> 0;
  const freeL = (mL & ~yL & aboveL) >>> 0;
  if (freeH === 0 && freeL === 0) { out.hi = tmaxH; out.lo = tmaxL; return; }
  // j: the lowest free bit; keep y above it, set it, take t's known bits below it.
  let jH = 0, jL = 0, upToJH = 0, upToJL = 0, belowJH = 0, belowJL = 0;
  if (freeL !== 0) {
    jL = (freeL & -freeL) >>> 0;
    upToJL = jL * 2 - 1;
    belowJL = jL - 1;
  } else {
    jH = (freeH & -freeH) >>> 0;
    upToJL = U32;
    belowJL = U32;
    upToJH = jH * 2 - 1;
    belowJH = jH - 1;
  }
  out.hi = ((yH & ~upToJH) | jH | (vH & belowJH)) >>> 0;
  out.lo = ((yL & ~upToJL) | jL | (vL & belowJL)) >>> 0;
}

/** Unsigned numbers up to this print in decimal in the kernel's log, larger ones in hex. */
const DECIMAL_UNSIGNED_MAX = 0xffffn;

export function formatUnsigned(v: bigint): string {
  return v <= DECIMAL_UNSIGNED_MAX ? v.toString() : `0x${v.toString(16)}`;
}

/** The kernel's %#llx (its vsnprintf prefixes 0x even to zero). */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/** The kernel's tnum_strn: a constant prints as a number, otherwise "(value; mask)" in hex. */
export function tnumToString(vH: number, vL: number, mH: number, mL: number): string {
  const value = halves.joinUnsigned(vH, vL);
  if (mH === 0 && mL === 0) return formatUnsigned(value);
  return `(${hex(value)}; ${hex(halves.joinUnsigned(mH, mL))})`;
}
