// The scalar domain as src/verifier kept it before it moved onto 32-bit words (bigint bounds and tnum),
// checked then on the whole corpus and against the kernel. Only test/verifier/scalar-words.test.ts uses it,
// as the reference the word implementation must equal bit for bit.
/**
 * Tracked numbers ("tnums"), the kernel's known-bits domain
 * (kernel/bpf/tnum.c): every bit of a 64-bit value is known 0, known 1 or
 * unknown. `mask` has a 1 for each unknown bit, `value` the known bits, and
 * `value & mask` is always 0. Both are bigints in [0, 2^64).
 *
 * Results are fresh frozen-by-convention objects; callers share them freely.
 */

import * as halves from './halves.ts';

// Bound once: some loaders turn every use of an imported binding into a getter call.
const { U32, joinUnsigned, split, SPLIT } = halves;

export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

export const U64_MASK = 0xffff_ffff_ffff_ffffn;
export const U32_MASK_BIG = 0xffff_ffffn;
const HIGH32 = U64_MASK ^ U32_MASK_BIG;

export const TNUM_UNKNOWN: Tnum = Object.freeze({ value: 0n, mask: U64_MASK });
const TNUM_ZERO: Tnum = Object.freeze({ value: 0n, mask: 0n });

const make = (value: bigint, mask: bigint): Tnum => ({ value, mask });

/** Small constants are shared: they dominate real programs. */
const SMALL_CONSTANTS: Tnum[] = Array.from({ length: 257 }, (_, i) => Object.freeze({ value: BigInt(i), mask: 0n }));

export function tnumConst(v: bigint): Tnum {
  const value = BigInt.asUintN(64, v);
  return value <= 256n ? SMALL_CONSTANTS[Number(value)]! : make(value, 0n);
}

/** Number of significant bits of a non-negative bigint (fls64). */
function bitLength(x: bigint): number {
  if (x === 0n) return 0;
  if (x <= 0xffff_ffffn) return 32 - Math.clz32(Number(x));
  const high = Number(x >> 32n);
  return 64 - Math.clz32(high);
}

/** The smallest tnum containing every value of [min, max] (unsigned). */
export function tnumRange(min: bigint, max: bigint): Tnum {
  const bits = bitLength((min ^ max) & U64_MASK);
  if (bits > 63) return TNUM_UNKNOWN;
  const delta = (1n << BigInt(bits)) - 1n;
  return make(min & ~delta & U64_MASK, delta);
}

export function tnumLshift(a: Tnum, shift: number): Tnum {
  const s = BigInt(shift);
  return make((a.value << s) & U64_MASK, (a.mask << s) & U64_MASK);
}

export function tnumRshift(a: Tnum, shift: number): Tnum {
  const s = BigInt(shift);
  return make(a.value >> s, a.mask >> s);
}

/** Arithmetic right shift as an ALU op of `insnBitness` bits does it (the 32-bit form works on the low word only). */
export function tnumArshift(a: Tnum, shift: number, insnBitness: 32 | 64): Tnum {
  const s = BigInt(shift);
  if (insnBitness === 32) {
    return make(
      BigInt.asUintN(32, BigInt.asIntN(32, a.value) >> s),
      BigInt.asUintN(32, BigInt.asIntN(32, a.mask) >> s),
    );
  }
  return make(BigInt.asUintN(64, BigInt.asIntN(64, a.value) >> s), BigInt.asUintN(64, BigInt.asIntN(64, a.mask) >> s));
}

/*
 * Addition, subtraction and multiplication run on 32-bit halves (mod 2^64,
 * which is all the kernel's u64 arithmetic keeps): the same bits as the
 * bigint formulas, without their allocations.
 */

// Operands and result of the halves arithmetic below (module scratch).
let avH = 0, avL = 0, amH = 0, amL = 0, bvH = 0, bvL = 0, bmH = 0, bmL = 0;
let rvH = 0, rvL = 0, rmH = 0, rmL = 0;

function loadOperands(a: Tnum, b: Tnum): void {
  split(a.value); avH = SPLIT.hi; avL = SPLIT.lo;
  split(a.mask); amH = SPLIT.hi; amL = SPLIT.lo;
  split(b.value); bvH = SPLIT.hi; bvL = SPLIT.lo;
  split(b.mask); bmH = SPLIT.hi; bmL = SPLIT.lo;
}

function resultTnum(): Tnum {
  const value = joinUnsigned(rvH, rvL);
  return rmH === 0 && rmL === 0 ? tnumConst(value) : make(value, joinUnsigned(rmH, rmL));
}

/** tnum_add on (avH..bmL) into (rvH..rmL). */
function addHalves(): void {
  let l = amL + bmL;
  const smL = l >>> 0;
  const smH = (amH + bmH + (l > U32 ? 1 : 0)) >>> 0;
  l = avL + bvL;
  const svL = l >>> 0;
  const svH = (avH + bvH + (l > U32 ? 1 : 0)) >>> 0;
  l = smL + svL;
  const sigmaL = l >>> 0;
  const sigmaH = (smH + svH + (l > U32 ? 1 : 0)) >>> 0;
  rmH = ((sigmaH ^ svH) | amH | bmH) >>> 0;
  rmL = ((sigmaL ^ svL) | amL | bmL) >>> 0;
  rvH = (svH & ~rmH) >>> 0;
  rvL = (svL & ~rmL) >>> 0;
}

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value + b.value);
  loadOperands(a, b);
  addHalves();
  return resultTnum();
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value - b.value);
  loadOperands(a, b);
  // dv = av - bv, alpha = dv + am, beta = dv - bm, mu = (alpha ^ beta) | am | bm.
  let l = avL - bvL;
  const dvL = l >>> 0;
  const dvH = (avH - bvH - (l < 0 ? 1 : 0)) >>> 0;
  l = dvL + amL;
  const alphaL = l >>> 0;
  const alphaH = (dvH + amH + (l > U32 ? 1 : 0)) >>> 0;
  l = dvL - bmL;
  const betaL = l >>> 0;
  const betaH = (dvH - bmH - (l < 0 ? 1 : 0)) >>> 0;
  rmH = ((alphaH ^ betaH) | amH | bmH) >>> 0;
  rmL = ((alphaL ^ betaL) | amL | bmL) >>> 0;
  rvH = (dvH & ~rmH) >>> 0;
  rvL = (dvL & ~rmL) >>> 0;
  return resultTnum();
}

export function tnumNeg(a: Tnum): Tnum {
  return tnumSub(TNUM_ZERO, a);
}

export function tnumAnd(a: Tnum, b: Tnum): Tnum {
  const alpha = a.value | a.mask;
  const beta = b.value | b.mask;
  const v = a.value & b.value;
  return make(v, alpha & beta & ~v);
}

export function tnumOr(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask | b.mask;
  return make(v, mu & ~v);
}

export function tnumXor(a: Tnum, b: Tnum): Tnum {
  const v = a.value ^ b.value;
  const mu = a.mask | b.mask;
  return make(v & ~mu, mu);
}

/** Every value of `a` or of `b` (bits where they differ become unknown). */
export function tnumUnion(a: Tnum, b: Tnum): Tnum {
  const mu = a.mask | b.mask | (a.value ^ b.value);
  return make(a.value & b.value & ~mu, mu);
}

/**
 * Long multiplication over the bits of `a` (the 6.18 kernel's order: dst
 * times src): a known 1 adds the shifted `b`, an unknown bit takes the union
 * of adding it and not.
 */
export function tnumMul(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value * b.value);
  loadOperands(a, b);
  // The multiplier's bits, consumed from the bottom; the accumulator is tnum_add's left operand.
  let xvH = avH, xvL = avL, xmH = amH, xmL = amL;
  avH = avL = amH = amL = 0;
  while ((xvH | xvL | xmH | xmL) !== 0) {
    if ((xvL & 1) !== 0) {
      addHalves();
      avH = rvH; avL = rvL; amH = rmH; amL = rmL;
    } else if ((xmL & 1) !== 0) {
      addHalves();
      // tnum_union(acc, acc + shifted)
      const muH = (amH | rmH | (avH ^ rvH)) >>> 0;
      const muL = (amL | rmL | (avL ^ rvL)) >>> 0;
      avH = (avH & rvH & ~muH) >>> 0;
      avL = (avL & rvL & ~muL) >>> 0;
      amH = muH;
      amL = muL;
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
  rvH = avH; rvL = avL; rmH = amH; rmL = amL;
  return resultTnum();
}

/** Do `a` and `b` share at least one value? (They agree on every bit both know.) */
export function tnumOverlap(a: Tnum, b: Tnum): boolean {
  const known = ~a.mask & ~b.mask & U64_MASK;
  return (a.value & known) === (b.value & known);
}

/** Values in both `a` and `b` (where they disagree on a known bit the result says 1, as the kernel's does). */
export function tnumIntersect(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask & b.mask;
  return make(v & ~mu, mu);
}

const SIZE_MASKS: Record<number, bigint> = { 1: 0xffn, 2: 0xffffn, 4: U32_MASK_BIG, 8: U64_MASK };

export function tnumCast(a: Tnum, sizeBytes: 1 | 2 | 4 | 8): Tnum {
  const m = SIZE_MASKS[sizeBytes]!;
  return make(a.value & m, a.mask & m);
}

export function tnumIsAligned(a: Tnum, size: number): boolean {
  if (size === 0) return true;
  return ((a.value | a.mask) & BigInt(size - 1)) === 0n;
}

/** Is every value of `inner` a value of `outer`? */
export function tnumIn(outer: Tnum, inner: Tnum): boolean {
  if (outer.mask === 0n) return inner.mask === 0n && outer.value === inner.value;
  // On halves: the state comparison asks this for every scalar it compares.
  split(outer.mask);
  const omH = SPLIT.hi, omL = SPLIT.lo;
  split(inner.mask);
  if (((SPLIT.hi & ~omH) | (SPLIT.lo & ~omL)) !== 0) return false;
  split(inner.value);
  const ivH = SPLIT.hi, ivL = SPLIT.lo;
  split(outer.value);
  return SPLIT.hi === ((ivH & ~omH) >>> 0) && SPLIT.lo === ((ivL & ~omL) >>> 0);
}

export function tnumSubreg(a: Tnum): Tnum {
  if (a.value <= U32_MASK_BIG && a.mask <= U32_MASK_BIG) return a;
  return make(a.value & U32_MASK_BIG, a.mask & U32_MASK_BIG);
}

export function tnumClearSubreg(a: Tnum): Tnum {
  return make(a.value & HIGH32, a.mask & HIGH32);
}

export function tnumWithSubreg(reg: Tnum, subreg: Tnum): Tnum {
  return tnumOr(tnumClearSubreg(reg), tnumSubreg(subreg));
}

export function tnumConstSubreg(a: Tnum, v: number): Tnum {
  return tnumWithSubreg(a, tnumConst(BigInt(v >>> 0)));
}

export function tnumIsConst(a: Tnum): boolean {
  return a.mask === 0n;
}

export function tnumIsUnknown(a: Tnum): boolean {
  return a.mask === U64_MASK;
}

export function tnumEquals(a: Tnum, b: Tnum): boolean {
  return a.value === b.value && a.mask === b.mask;
}

/** Does `a` contain the concrete value `v` (mod 2^64)? */
export function tnumContains(a: Tnum, v: bigint): boolean {
  return (BigInt.asUintN(64, v) & ~a.mask) === a.value;
}

/** Reverses the low `bytes` bytes of `v`. */
function swapBytes(v: bigint, bytes: number): bigint {
  let out = 0n;
  for (let i = 0; i < bytes; i++) {
    out = (out << 8n) | (v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Byte swap of the low 16, 32 or 64 bits (BPF_END); higher bits become known zeros. */
export function tnumBswap(a: Tnum, bits: 16 | 32 | 64): Tnum {
  const bytes = bits / 8;
  return make(swapBytes(a.value, bytes), swapBytes(a.mask, bytes));
}

/**
 * The smallest member of `t` greater than `z` (the kernel's tnum_step), or
 * t's largest member when there is none; t's smallest member when z is below it.
 */
export function tnumStep(t: Tnum, z: bigint): bigint {
  const tmax = t.value | t.mask;
  if (z >= tmax) return tmax;
  if (z < t.value) return t.value;
  const y = z + 1n;
  const conflict = (y ^ t.value) & ~t.mask & U64_MASK;
  if (conflict === 0n) return y;
  // The highest known bit y gets wrong decides: y too small there (take t's bit and the minimum below),
  // or too large (carry into the lowest free unknown bit above it).
  const k = BigInt(bitLength(conflict) - 1);
  const above = (U64_MASK << (k + 1n)) & U64_MASK;
  if (((t.value >> k) & 1n) === 1n) return (y & above) | (t.value & ~above & U64_MASK);
  const free = t.mask & ~y & above;
  if (free === 0n) return tmax;
  const j = free & -free;
  return (y & ~((j << 1n) - 1n) & U64_MASK) | j | (t.value & (j - 1n));
}

/** Unsigned numbers up to this print in decimal in the kernel's log, larger ones in hex. */
const DECIMAL_UNSIGNED_MAX = 0xffffn;

export function formatUnsigned(v: bigint): string {
  return v <= DECIMAL_UNSIGNED_MAX ? v.toString() : `0x${v.toString(16)}`;
}

/** The kernel's tnum_strn: a constant prints as a number, otherwise "(value; mask)" in hex. */
export function tnumToString(a: Tnum): string {
  if (a.mask === 0n) return formatUnsigned(a.value);
  return `(${hex(a.value)}; ${hex(a.mask)})`;
}

/** The kernel's %#llx (its vsnprintf prefixes 0x even to zero). */
export function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}
