/**
 * A scalar's abstract value as the Linux 6.18 verifier tracks it: a tnum
 * (known bits) plus signed and unsigned bounds in 64 and 32 bits, the
 * scalar part of struct bpf_reg_state. The transfer functions follow
 * kernel/bpf/verifier.c (adjust_scalar_min_max_vals, reg_bounds_sync,
 * is_scalar_branch_taken, regs_refine_cond_op, ...) step by step, because
 * the verifier must print and decide exactly what the kernel does.
 *
 * Every 64-bit quantity is two 32-bit words (hi, lo) of its two's
 * complement bits (halves.ts), so the hot paths neither allocate nor touch
 * a bigint; bigints appear only at the edges (the log, bigint arguments).
 * Scalars are immutable and shared between verifier states. Each operation
 * loads its input into a working register (bounds-sync.ts), applies the
 * kernel's steps to it and freezes the result.
 */
import { AluOp as ALU_OPS, JmpOp as JMP_OPS } from '../isa/index.ts';
import { WorkingScalar } from './bounds-sync.ts';
import * as halves from './halves.ts';
import * as tnums from './tnum.ts';
import { formatUnsigned, hex } from './tnum.ts';

/**
 * The scalar's words, each stored signed (x | 0, see halves.ts): the tnum
 * (vH, vL; mH, mL), the 64-bit bounds as (hi, lo) pairs and the 32-bit
 * bounds. Code outside this module reads them through the functions below.
 */
export interface Scalar {
  readonly vH: number;
  readonly vL: number;
  readonly mH: number;
  readonly mL: number;
  readonly sminH: number;
  readonly sminL: number;
  readonly smaxH: number;
  readonly smaxL: number;
  readonly uminH: number;
  readonly uminL: number;
  readonly umaxH: number;
  readonly umaxL: number;
  readonly s32min: number;
  readonly s32max: number;
  readonly u32min: number;
  readonly u32max: number;
}

// Opcode tables and helpers bound once: some loaders turn every use of an imported binding into a getter call.
const AluOp = { ...ALU_OPS };
const JmpOp = { ...JMP_OPS };
const { U32, RESULT, ltS, ltU } = halves;
const { TNUM } = tnums;

const S32_MIN = -0x8000_0000;
const S32_MAX = 0x7fff_ffff;
const SIGN = 0x8000_0000;

/** Unsigned a <= b on stored (signed) words. */
const leStoredU = (ah: number, al: number, bh: number, bl: number): boolean => (ah !== bh ? ah >>> 0 < bh >>> 0 : al >>> 0 <= bl >>> 0);
/** Signed a <= b on stored (signed) words. */
const leStoredS = (ah: number, al: number, bh: number, bl: number): boolean => (ah !== bh ? ah < bh : al >>> 0 <= bl >>> 0);

/** The working registers every operation computes in (an operation uses at most two, and calls no other operation meanwhile). */
const W1 = new WorkingScalar();
const W2 = new WorkingScalar();

function makeScalar(vH: number, vL: number, mH: number, mL: number, sminH: number, sminL: number, smaxH: number, smaxL: number,
  uminH: number, uminL: number, umaxH: number, umaxL: number, s32min: number, s32max: number, u32min: number, u32max: number): Scalar {
  return {
    vH: vH | 0, vL: vL | 0, mH: mH | 0, mL: mL | 0,
    sminH: sminH | 0, sminL: sminL | 0, smaxH: smaxH | 0, smaxL: smaxL | 0,
    uminH: uminH | 0, uminL: uminL | 0, umaxH: umaxH | 0, umaxL: umaxL | 0,
    s32min: s32min | 0, s32max: s32max | 0, u32min: u32min | 0, u32max: u32max | 0,
  };
}

/** Not frozen (same shape as every other scalar); its type keeps it read-only. */
export const SCALAR_UNKNOWN: Scalar = makeScalar(0, 0, U32, U32, SIGN, 0, S32_MAX, U32, 0, 0, U32, U32, S32_MIN, S32_MAX, 0, U32);

const makeConst = (hi: number, lo: number): Scalar => makeScalar(hi, lo, 0, 0, hi, lo, hi, lo, hi, lo, hi, lo, lo, lo, lo, lo);

const SMALL_SCALARS: Scalar[] = Array.from({ length: 257 }, (_, i) => makeConst(0, i));

/** The constant (hi, lo) (words in either signedness). */
export function scalarConstWords(hi: number, lo: number): Scalar {
  return hi === 0 && lo >>> 0 <= 256 ? SMALL_SCALARS[lo >>> 0]! : makeConst(hi, lo);
}

export function scalarConst(v: bigint): Scalar {
  halves.split(v);
  return scalarConstWords(RESULT.hi, RESULT.lo);
}

/** scalarConst of an integer number of at most 53 bits (an instruction's immediate), negative ones sign-extended. */
export function scalarConstNumber(v: number): Scalar {
  if (v >= 0 && v <= 256) return SMALL_SCALARS[v]!;
  return makeConst(Math.floor(v / halves.TWO_32), v);
}

// ---------------------------------------------------------------- reading a scalar

export const scalarIsConst = (s: Scalar): boolean => (s.mH | s.mL) === 0;
/** The constant 0 (a NULL, or a pointer's zero variable offset). */
export const scalarIsZero = (s: Scalar): boolean => (s.mH | s.mL | s.vH | s.vL) === 0;

export function scalarConstValue(s: Scalar): bigint | undefined {
  return scalarIsConst(s) ? halves.joinUnsigned(s.vH, s.vL) : undefined;
}

/** A constant within s32, as a number (undefined for anything else). */
export function scalarConstS32(s: Scalar): number | undefined {
  return scalarIsConst(s) && s.vH === s.vL >> 31 ? s.vL : undefined;
}

export function scalarConstValue32(s: Scalar): number | undefined {
  return s.mL === 0 ? s.vL >>> 0 : undefined;
}

/** A constant's value as a signed number (exact below 2^53 in magnitude; the caller checks scalarIsConst). */
export const scalarConstSigned = (s: Scalar): number => halves.toSignedNumber(s.vH, s.vL);
/** A constant's value as an unsigned number (exact below 2^53). */
export const scalarConstUnsigned = (s: Scalar): number => halves.toUnsignedNumber(s.vH, s.vL);

/*
 * The 64-bit bounds as numbers: exact below 2^53 in magnitude, rounded
 * beyond, which keeps their order and every comparison with a smaller
 * constant (the verifier's limits are all far below 2^53).
 */
export const scalarSmin = (s: Scalar): number => halves.toSignedNumber(s.sminH, s.sminL);
export const scalarSmax = (s: Scalar): number => halves.toSignedNumber(s.smaxH, s.smaxL);
export const scalarUmin = (s: Scalar): number => halves.toUnsignedNumber(s.uminH, s.uminL);
export const scalarUmax = (s: Scalar): number => halves.toUnsignedNumber(s.umaxH, s.umaxL);

/** The 64-bit bounds exactly, for messages. */
export const scalarSminExact = (s: Scalar): bigint => halves.joinSigned(s.sminH, s.sminL);
export const scalarUmaxExact = (s: Scalar): bigint => halves.joinUnsigned(s.umaxH, s.umaxL);
export const scalarUminExact = (s: Scalar): bigint => halves.joinUnsigned(s.uminH, s.uminL);
export const scalarSmaxExact = (s: Scalar): bigint => halves.joinSigned(s.smaxH, s.smaxL);

/** smin is S64_MIN: nothing bounds the scalar from below. */
export const scalarSminUnbounded = (s: Scalar): boolean => s.sminH === (SIGN | 0) && s.sminL === 0;

/** smin > smax or umin > umax: bounds no value satisfies. */
export const scalarBoundsInverted = (s: Scalar): boolean =>
  !leStoredS(s.sminH, s.sminL, s.smaxH, s.smaxL) || !leStoredU(s.uminH, s.uminL, s.umaxH, s.umaxL);

/** The number of significant bits of umax (fls64). */
export const scalarUmaxBits = (s: Scalar): number => halves.bitLength(s.umaxH >>> 0, s.umaxL >>> 0);

/** The low 32 bits of a value's known bits (tnum value), as a signed number: what the kernel adds to an int offset. */
export const scalarKnownLow32 = (s: Scalar): number => s.vL | 0;
/** var_off as the kernel's log prints it. */
export const scalarVarOffString = (s: Scalar): string => tnums.tnumToString(s.vH >>> 0, s.vL >>> 0, s.mH >>> 0, s.mL >>> 0);

/** Is every value of var_off + `add` a multiple of `size` (a power of two)? (tnum_is_aligned(tnum_add(var_off, add), size)) */
export function scalarIsAligned(s: Scalar, add: number, size: number): boolean {
  if (size === 0) return true;
  const addL = add >>> 0;
  const addH = Math.floor(add / halves.TWO_32) >>> 0;
  tnums.tnumAdd(s.vH >>> 0, s.vL >>> 0, s.mH >>> 0, s.mL >>> 0, addH, addL, 0, 0);
  // size is at most 8: only the low word's low bits matter.
  return ((TNUM.vL | TNUM.mL) & (size - 1)) === 0;
}

/** The same abstract value, field by field. */
export function scalarEquals(a: Scalar, b: Scalar): boolean {
  return (
    a === b ||
    (a.vH === b.vH && a.vL === b.vL && a.mH === b.mH && a.mL === b.mL &&
      a.sminH === b.sminH && a.sminL === b.sminL && a.smaxH === b.smaxH && a.smaxL === b.smaxL &&
      a.uminH === b.uminH && a.uminL === b.uminL && a.umaxH === b.umaxH && a.umaxL === b.umaxL &&
      a.s32min === b.s32min && a.s32max === b.s32max && a.u32min === b.u32min && a.u32max === b.u32max)
  );
}

export function scalarIsUnknown(s: Scalar): boolean {
  return scalarEquals(s, SCALAR_UNKNOWN);
}

export function scalarSync(s: Scalar): Scalar {
  const r = W1.load(s);
  r.sync();
  return r.freezeOr(s);
}

/** A value known only to lie in the signed range [min, max] (both within s32), bounds synced. */
export function scalarSignedRange(min: number, max: number): Scalar {
  const r = W1.load(SCALAR_UNKNOWN);
  r.sminH = upperOf(min);
  r.sminL = min >>> 0;
  r.smaxH = upperOf(max);
  r.smaxL = max >>> 0;
  r.s32min = min;
  r.s32max = max;
  r.sync();
  return r.freeze();
}

/** A value known only to lie in [umin, umax] (unsigned), bounds synced. */
export function scalarFromRange(umin: bigint, umax: bigint): Scalar {
  if (umin === umax) return scalarConst(umin);
  const r = W1.load(SCALAR_UNKNOWN);
  halves.split(umin);
  r.uminH = RESULT.hi;
  r.uminL = RESULT.lo;
  halves.split(umax);
  r.umaxH = RESULT.hi;
  r.umaxL = RESULT.lo;
  tnums.tnumRange(r.uminH, r.uminL, r.umaxH, r.umaxL);
  r.setVar(TNUM);
  r.sync();
  return r.freeze();
}

// ---------------------------------------------------------------- ALU

/*
 * ADD and SUB (6.18's scalar(32)_min_max_add/sub): the signed bounds are
 * lost when either end overflows; the unsigned ones only when one end wraps
 * and the other does not (when both wrap, the wrapped range is still exact).
 */
function setSigned32(dst: WorkingScalar, lo: number, hi: number): void {
  const overflow = lo < S32_MIN || lo > S32_MAX || hi < S32_MIN || hi > S32_MAX;
  dst.s32min = overflow ? S32_MIN : lo;
  dst.s32max = overflow ? S32_MAX : hi;
}

function setUnsigned32(dst: WorkingScalar, lo: number, hi: number): void {
  const partialWrap = (lo < 0 || lo > U32) !== (hi < 0 || hi > U32);
  dst.u32min = partialWrap ? 0 : lo >>> 0;
  dst.u32max = partialWrap ? U32 : hi >>> 0;
}

function markSignedUnbounded64(dst: WorkingScalar): void {
  dst.sminH = SIGN; dst.sminL = 0;
  dst.smaxH = S32_MAX; dst.smaxL = U32;
}

function markUnsignedUnbounded64(dst: WorkingScalar): void {
  dst.uminH = 0; dst.uminL = 0;
  dst.umaxH = U32; dst.umaxL = U32;
}

function add32(dst: WorkingScalar, src: Scalar): void {
  setSigned32(dst, dst.s32min + src.s32min, dst.s32max + src.s32max);
  setUnsigned32(dst, dst.u32min + (src.u32min >>> 0), dst.u32max + (src.u32max >>> 0));
}

function sub32(dst: WorkingScalar, src: Scalar): void {
  setSigned32(dst, dst.s32min - src.s32max, dst.s32max - src.s32min);
  setUnsigned32(dst, dst.u32min - (src.u32max >>> 0), dst.u32max - (src.u32min >>> 0));
}

/** The signed bounds computed by add or sub: (loH, loL) and RESULT, or unbounded when either end overflowed. */
function assignSigned64(dst: WorkingScalar, loH: number, loL: number, overflow: boolean): void {
  if (overflow) return markSignedUnbounded64(dst);
  dst.sminH = loH; dst.sminL = loL;
  dst.smaxH = RESULT.hi; dst.smaxL = RESULT.lo;
}

/** The unsigned bounds computed by add or sub: (loH, loL) and RESULT, or unbounded when only one end wrapped. */
function assignUnsigned64(dst: WorkingScalar, loH: number, loL: number, partialWrap: boolean): void {
  if (partialWrap) return markUnsignedUnbounded64(dst);
  dst.uminH = loH; dst.uminL = loL;
  dst.umaxH = RESULT.hi; dst.umaxL = RESULT.lo;
}

function add64(dst: WorkingScalar, src: Scalar): void {
  const minH = src.sminH >>> 0;
  const maxH = src.smaxH >>> 0;
  halves.add64(dst.sminH, dst.sminL, minH, src.sminL >>> 0);
  const minOverflow = halves.addOverflowed(dst.sminH, minH);
  const sminH = RESULT.hi, sminL = RESULT.lo;
  halves.add64(dst.smaxH, dst.smaxL, maxH, src.smaxL >>> 0);
  assignSigned64(dst, sminH, sminL, minOverflow || halves.addOverflowed(dst.smaxH, maxH));
  const minWrapped = halves.add64(dst.uminH, dst.uminL, src.uminH >>> 0, src.uminL >>> 0);
  const uminH = RESULT.hi, uminL = RESULT.lo;
  assignUnsigned64(dst, uminH, uminL, minWrapped !== halves.add64(dst.umaxH, dst.umaxL, src.umaxH >>> 0, src.umaxL >>> 0));
}

function sub64(dst: WorkingScalar, src: Scalar): void {
  const minH = src.sminH >>> 0;
  const maxH = src.smaxH >>> 0;
  halves.sub64(dst.sminH, dst.sminL, maxH, src.smaxL >>> 0);
  const minOverflow = halves.subOverflowed(dst.sminH, maxH);
  const sminH = RESULT.hi, sminL = RESULT.lo;
  halves.sub64(dst.smaxH, dst.smaxL, minH, src.sminL >>> 0);
  assignSigned64(dst, sminH, sminL, minOverflow || halves.subOverflowed(dst.smaxH, minH));
  const minWrapped = halves.sub64(dst.uminH, dst.uminL, src.umaxH >>> 0, src.umaxL >>> 0);
  const uminH = RESULT.hi, uminL = RESULT.lo;
  assignUnsigned64(dst, uminH, uminL, minWrapped !== halves.sub64(dst.umaxH, dst.umaxL, src.uminH >>> 0, src.uminL >>> 0));
}

function mul32(dst: WorkingScalar, src: Scalar): void {
  // Products of 32-bit values pass 2^53; rounding is monotone, so a product over a 32-bit limit still compares over it, and one within is exact.
  const umax = dst.u32max * (src.u32max >>> 0);
  const umin = dst.u32min * (src.u32min >>> 0);
  if (umax > U32 || umin > U32) {
    dst.u32min = 0;
    dst.u32max = U32;
  } else {
    dst.u32min = umin;
    dst.u32max = umax;
  }
  const p0 = dst.s32min * src.s32min;
  const p1 = dst.s32min * src.s32max;
  const p2 = dst.s32max * src.s32min;
  const p3 = dst.s32max * src.s32max;
  const lo = Math.min(p0, p1, p2, p3);
  const hi = Math.max(p0, p1, p2, p3);
  if (lo < S32_MIN || hi > S32_MAX) {
    dst.s32min = S32_MIN;
    dst.s32max = S32_MAX;
  } else {
    dst.s32min = lo;
    dst.s32max = hi;
  }
}

// The four signed products of mul64 (scratch).
const productsH = [0, 0, 0, 0];
const productsL = [0, 0, 0, 0];

function mul64(dst: WorkingScalar, src: Scalar): void {
  const maxOverflow = halves.mulU64Overflows(dst.umaxH, dst.umaxL, src.umaxH >>> 0, src.umaxL >>> 0);
  const umaxH = RESULT.hi, umaxL = RESULT.lo;
  if (maxOverflow || halves.mulU64Overflows(dst.uminH, dst.uminL, src.uminH >>> 0, src.uminL >>> 0)) {
    markUnsignedUnbounded64(dst);
  } else {
    dst.uminH = RESULT.hi; dst.uminL = RESULT.lo;
    dst.umaxH = umaxH; dst.umaxL = umaxL;
  }
  const aH = [dst.sminH, dst.sminH, dst.smaxH, dst.smaxH];
  const aL = [dst.sminL, dst.sminL, dst.smaxL, dst.smaxL];
  for (let i = 0; i < 4; i++) {
    const useMax = (i & 1) === 1;
    if (halves.mulS64Overflows(aH[i]!, aL[i]!, (useMax ? src.smaxH : src.sminH) >>> 0, (useMax ? src.smaxL : src.sminL) >>> 0)) {
      markSignedUnbounded64(dst);
      return;
    }
    productsH[i] = RESULT.hi;
    productsL[i] = RESULT.lo;
  }
  let lo = 0;
  let hi = 0;
  for (let i = 1; i < 4; i++) {
    if (ltS(productsH[i]!, productsL[i]!, productsH[lo]!, productsL[lo]!)) lo = i;
    if (ltS(productsH[hi]!, productsL[hi]!, productsH[i]!, productsL[i]!)) hi = i;
  }
  dst.sminH = productsH[lo]!; dst.sminL = productsL[lo]!;
  dst.smaxH = productsH[hi]!; dst.smaxL = productsL[hi]!;
}

/** s32 bounds from u32 bounds when they do not cross the sign boundary, else unbounded. */
function s32FromU32(dst: WorkingScalar): void {
  if ((dst.u32min | 0) <= (dst.u32max | 0)) {
    dst.s32min = dst.u32min | 0;
    dst.s32max = dst.u32max | 0;
  } else {
    dst.s32min = S32_MIN;
    dst.s32max = S32_MAX;
  }
}

function s64FromU64(dst: WorkingScalar): void {
  if (!ltS(dst.umaxH, dst.umaxL, dst.uminH, dst.uminL)) {
    dst.sminH = dst.uminH; dst.sminL = dst.uminL;
    dst.smaxH = dst.umaxH; dst.smaxL = dst.umaxL;
  } else {
    markSignedUnbounded64(dst);
  }
}

/** AND, OR and XOR share their shape: both constant gives a constant, else bounds from var_off and the operands. */
function bitwise32(dst: WorkingScalar, src: Scalar, op: number): void {
  if (src.mL === 0 && dst.mL === 0) {
    dst.markKnown32(dst.vL);
    return;
  }
  const v = dst.vL;
  const m = dst.mL;
  if (op === AluOp.AND) {
    dst.u32min = v;
    dst.u32max = Math.min(dst.u32max, src.u32max >>> 0);
  } else if (op === AluOp.OR) {
    dst.u32min = Math.max(dst.u32min, src.u32min >>> 0);
    dst.u32max = (v | m) >>> 0;
  } else {
    dst.u32min = v;
    dst.u32max = (v | m) >>> 0;
  }
  s32FromU32(dst);
}

function bitwise64(dst: WorkingScalar, src: Scalar, op: number): void {
  if ((src.mH | src.mL) === 0 && (dst.mH | dst.mL) === 0) {
    dst.markKnown(dst.vH, dst.vL);
    return;
  }
  const { vH, vL, mH, mL } = dst;
  if (op === AluOp.AND) {
    dst.uminH = vH; dst.uminL = vL;
    const bH = src.umaxH >>> 0, bL = src.umaxL >>> 0;
    if (ltU(bH, bL, dst.umaxH, dst.umaxL)) { dst.umaxH = bH; dst.umaxL = bL; }
  } else {
    if (op === AluOp.OR) {
      const bH = src.uminH >>> 0, bL = src.uminL >>> 0;
      if (ltU(dst.uminH, dst.uminL, bH, bL)) { dst.uminH = bH; dst.uminL = bL; }
    } else {
      dst.uminH = vH; dst.uminL = vL;
    }
    dst.umaxH = (vH | mH) >>> 0;
    dst.umaxL = (vL | mL) >>> 0;
  }
  s64FromU64(dst);
  dst.updateBounds();
}

function lsh32Bounds(dst: WorkingScalar, umin: number, umax: number): void {
  dst.s32min = S32_MIN;
  dst.s32max = S32_MAX;
  if (umax > 31 || dst.u32max > 2 ** (31 - umax)) {
    dst.u32min = 0;
    dst.u32max = U32;
  } else {
    dst.u32min = (dst.u32min << umin) >>> 0;
    dst.u32max = (dst.u32max << umax) >>> 0;
  }
}

function lsh64Bounds(dst: WorkingScalar, umin: number, umax: number): void {
  // <<32 is the compilers' first half of a sign extension (<<32 s>>32): keep the s32 bounds, shifted.
  if (umin === 32 && umax === 32) {
    dst.smaxH = dst.s32max >>> 0; dst.smaxL = 0;
    dst.sminH = dst.s32min >>> 0; dst.sminL = 0;
  } else {
    markSignedUnbounded64(dst);
  }
  // umax > 2^(63 - umax): the shift may carry bits out.
  const k = 63 - umax;
  const limitH = k >= 32 ? 2 ** (k - 32) : 0;
  const limitL = k >= 32 ? 0 : 2 ** k;
  if (ltU(limitH, limitL, dst.umaxH, dst.umaxL)) {
    markUnsignedUnbounded64(dst);
  } else {
    halves.shl64(dst.uminH, dst.uminL, umin);
    dst.uminH = RESULT.hi; dst.uminL = RESULT.lo;
    halves.shl64(dst.umaxH, dst.umaxL, umax);
    dst.umaxH = RESULT.hi; dst.umaxL = RESULT.lo;
  }
}

function shift(dst: WorkingScalar, src: Scalar, op: number, alu32: boolean): void {
  if (alu32) {
    const umin = src.u32min >>> 0;
    const umax = src.u32max >>> 0;
    const { vL, mL } = dst;
    if (op === AluOp.LSH) {
      lsh32Bounds(dst, umin, umax);
      dst.vL = (vL << umin) >>> 0;
      dst.mL = (mL << umin) >>> 0;
    } else if (op === AluOp.RSH) {
      dst.s32min = S32_MIN;
      dst.s32max = S32_MAX;
      dst.vL = vL >>> umin;
      dst.mL = mL >>> umin;
      dst.u32min = dst.u32min >>> umax;
      dst.u32max = dst.u32max >>> umin;
    } else {
      dst.s32min = dst.s32min >> umin;
      dst.s32max = dst.s32max >> umin;
      tnums.tnumArshift(0, vL, 0, mL, umin, 32);
      dst.vL = TNUM.vL;
      dst.mL = TNUM.mL;
      dst.u32min = 0;
      dst.u32max = U32;
    }
    // The shift works on the low word: the upper word of var_off becomes known zeros.
    dst.vH = 0;
    dst.mH = 0;
    dst.markUnbounded64();
    dst.updateBounds32();
    return;
  }
  // Tracked shifts are by a constant below 64.
  const umin = src.uminL >>> 0;
  const umax = src.umaxL >>> 0;
  if (op === AluOp.LSH) {
    lsh64Bounds(dst, umin, umax);
    lsh32Bounds(dst, umin, umax);
    tnums.tnumLshift(dst.vH, dst.vL, dst.mH, dst.mL, umin);
    dst.setVar(TNUM);
  } else if (op === AluOp.RSH) {
    markSignedUnbounded64(dst);
    tnums.tnumRshift(dst.vH, dst.vL, dst.mH, dst.mL, umin);
    dst.setVar(TNUM);
    halves.shr64(dst.uminH, dst.uminL, umax);
    dst.uminH = RESULT.hi; dst.uminL = RESULT.lo;
    halves.shr64(dst.umaxH, dst.umaxL, umin);
    dst.umaxH = RESULT.hi; dst.umaxL = RESULT.lo;
    dst.markUnbounded32();
  } else {
    halves.sar64(dst.sminH, dst.sminL, umin);
    dst.sminH = RESULT.hi; dst.sminL = RESULT.lo;
    halves.sar64(dst.smaxH, dst.smaxL, umin);
    dst.smaxH = RESULT.hi; dst.smaxL = RESULT.lo;
    tnums.tnumArshift(dst.vH, dst.vL, dst.mH, dst.mL, umin, 64);
    dst.setVar(TNUM);
    markUnsignedUnbounded64(dst);
    dst.markUnbounded32();
  }
  dst.updateBounds();
}

/** is_safe_to_compute_dst_reg_range: shifts are tracked only by a constant amount below the width. */
function isTracked(op: number, src: Scalar, alu32: boolean): boolean {
  switch (op) {
    case AluOp.ADD:
    case AluOp.SUB:
    case AluOp.NEG:
    case AluOp.AND:
    case AluOp.XOR:
    case AluOp.OR:
    case AluOp.MUL:
      return true;
    case AluOp.LSH:
    case AluOp.RSH:
    case AluOp.ARSH: {
      const known = alu32
        ? src.mL === 0 && src.s32min === src.s32max && src.u32min === src.u32max
        : (src.mH | src.mL) === 0 && src.sminH === src.smaxH && src.sminL === src.smaxL && src.uminH === src.umaxH && src.uminL === src.umaxL;
      // The kernel compares the 64-bit umax with the width, for 32-bit shifts too.
      return known && src.umaxH === 0 && src.umaxL >>> 0 < (alu32 ? 32 : 64);
    }
    default:
      return false;
  }
}

/**
 * A tracked operation on two constants (a, b as unsigned words) into
 * RESULT: the kernel's transfer functions give exactly the concrete result
 * (32-bit ones zero-extended), so compute it.
 */
function constantAlu(op: number, aH: number, aL: number, bH: number, bL: number, alu32: boolean): void {
  if (alu32) {
    RESULT.hi = 0;
    switch (op) {
      case AluOp.ADD: RESULT.lo = (aL + bL) >>> 0; return;
      case AluOp.SUB: RESULT.lo = (aL - bL) >>> 0; return;
      case AluOp.NEG: RESULT.lo = -aL >>> 0; return;
      case AluOp.MUL: RESULT.lo = Math.imul(aL, bL) >>> 0; return;
      case AluOp.AND: RESULT.lo = (aL & bL) >>> 0; return;
      case AluOp.OR: RESULT.lo = (aL | bL) >>> 0; return;
      case AluOp.XOR: RESULT.lo = (aL ^ bL) >>> 0; return;
      case AluOp.LSH: RESULT.lo = (aL << bL) >>> 0; return;
      case AluOp.RSH: RESULT.lo = aL >>> bL; return;
      default: RESULT.lo = ((aL | 0) >> bL) >>> 0; return; // ARSH
    }
  }
  switch (op) {
    case AluOp.ADD: halves.add64(aH, aL, bH, bL); return;
    case AluOp.SUB: halves.sub64(aH, aL, bH, bL); return;
    case AluOp.NEG: halves.sub64(0, 0, aH, aL); return;
    case AluOp.MUL: halves.mulLow64(aH, aL, bH, bL); return;
    case AluOp.AND: RESULT.hi = (aH & bH) >>> 0; RESULT.lo = (aL & bL) >>> 0; return;
    case AluOp.OR: RESULT.hi = (aH | bH) >>> 0; RESULT.lo = (aL | bL) >>> 0; return;
    case AluOp.XOR: RESULT.hi = (aH ^ bH) >>> 0; RESULT.lo = (aL ^ bL) >>> 0; return;
    case AluOp.LSH: halves.shl64(aH, aL, bL); return;
    case AluOp.RSH: halves.shr64(aH, aL, bL); return;
    default: halves.sar64(aH, aL, bL); return; // ARSH
  }
}

/**
 * dst = dst OP src for scalars (adjust_scalar_min_max_vals). A 32-bit op
 * works on the low words and zero-extends. Operations the kernel does not
 * track (division, modulo, shifts by a non-constant or too large amount)
 * give an unknown scalar, as in the kernel.
 */
export function scalarAlu(op: number, dst: Scalar, src: Scalar, alu32: boolean, signedDivMod = false): Scalar {
  void signedDivMod; // 6.18 tracks neither signed nor unsigned division: both give unknown.
  if (!isTracked(op, src, alu32)) return SCALAR_UNKNOWN;
  if ((dst.mH | dst.mL | src.mH | src.mL) === 0) {
    constantAlu(op, dst.vH >>> 0, dst.vL >>> 0, src.vH >>> 0, src.vL >>> 0, alu32);
    return scalarConstWords(RESULT.hi, RESULT.lo);
  }
  const r = W1.load(dst);
  const bvH = src.vH >>> 0, bvL = src.vL >>> 0, bmH = src.mH >>> 0, bmL = src.mL >>> 0;
  switch (op) {
    case AluOp.ADD:
      add32(r, src);
      add64(r, src);
      tnums.tnumAdd(r.vH, r.vL, r.mH, r.mL, bvH, bvL, bmH, bmL);
      r.setVar(TNUM);
      break;
    case AluOp.SUB:
      sub32(r, src);
      sub64(r, src);
      tnums.tnumSub(r.vH, r.vL, r.mH, r.mL, bvH, bvL, bmH, bmL);
      r.setVar(TNUM);
      break;
    case AluOp.NEG:
      // 0 - dst
      r.markKnown(0, 0);
      sub32(r, dst);
      sub64(r, dst);
      tnums.tnumSub(0, 0, 0, 0, dst.vH >>> 0, dst.vL >>> 0, dst.mH >>> 0, dst.mL >>> 0);
      r.setVar(TNUM);
      break;
    case AluOp.MUL:
      tnums.tnumMul(r.vH, r.vL, r.mH, r.mL, bvH, bvL, bmH, bmL);
      r.setVar(TNUM);
      mul32(r, src);
      mul64(r, src);
      break;
    case AluOp.AND:
      tnums.tnumAnd(r.vH, r.vL, r.mH, r.mL, bvH, bvL, bmH, bmL);
      r.setVar(TNUM);
      bitwise32(r, src, op);
      bitwise64(r, src, op);
      break;
    case AluOp.OR:
      tnums.tnumOr(r.vH, r.vL, r.mH, r.mL, bvH, bvL, bmH, bmL);
      r.setVar(TNUM);
      bitwise32(r, src, op);
      bitwise64(r, src, op);
      break;
    case AluOp.XOR:
      tnums.tnumXor(r.vH, r.vL, r.mH, r.mL, bvH, bvL, bmH, bmL);
      r.setVar(TNUM);
      bitwise32(r, src, op);
      bitwise64(r, src, op);
      break;
    default:
      shift(r, src, op, alu32);
      break;
  }
  if (alu32) r.zext32();
  r.sync();
  return r.freezeOr(dst);
}

/**
 * The kernel's maybe_fork_scalars: before `dst &= K` or `dst |= K` with dst
 * in [-1, 0] (64-bit, else 32-bit signed), the verifier splits the state.
 * It continues with dst = -1 (`current`) and pushes a state that re-runs
 * the same instruction with dst = 0 (`pushed`); masks built by `x s>>= 63`
 * then stay exact. Undefined when the kernel does not fork. Call it before
 * scalarAlu for AND and OR to explore what the kernel explores.
 */
export function scalarAluFork(op: number, dst: Scalar, src: Scalar): { current: Scalar; pushed: Scalar } | undefined {
  if ((op !== AluOp.AND && op !== AluOp.OR) || (src.mH | src.mL) !== 0) return undefined;
  const current = W1.load(dst);
  const pushed = W2.load(dst);
  if (dst.sminH === -1 && dst.sminL === -1 && dst.smaxH === 0 && dst.smaxL === 0) {
    current.markKnown(U32, U32);
    pushed.markKnown(0, 0);
  } else if (dst.s32min === -1 && dst.s32max === 0) {
    current.markKnown32(-1);
    pushed.markKnown32(0);
  } else {
    return undefined;
  }
  return { current: current.freeze(), pushed: pushed.freeze() };
}

/** dst = -dst (BPF_NEG), tracked as 0 - dst. */
export function scalarNeg(s: Scalar, alu32: boolean): Scalar {
  return scalarAlu(AluOp.NEG, s, s, alu32);
}

/**
 * BPF_END (scalar_byte_swap). `swap` is true for ALU64 bswap and for the
 * ALU conversion to the other byte order than the host's (to_be on x86);
 * without it only the truncation to 16 or 32 bits happens.
 */
export function scalarBswap(s: Scalar, bits: 16 | 32 | 64, swap = true): Scalar {
  const r = W1.load(s);
  if (swap) {
    tnums.tnumBswap(r.vH, r.vL, r.mH, r.mL, bits);
    r.setVar(TNUM);
    // Swapping scrambles the ranges: they are rebuilt from the swapped tnum.
    r.markUnbounded64();
    r.markUnbounded32();
  }
  if (bits !== 64) truncate(r, bits / 8);
  r.sync();
  return r.freeze();
}

/** A write to a w register: the upper 32 bits become zero (zext_32_to_64 + reg_bounds_sync). */
export function scalarZext32(s: Scalar): Scalar {
  const r = W1.load(s);
  r.zext32();
  r.sync();
  return r.freezeOr(s);
}

/** coerce_reg_to_size: the value truncated to `sizeBytes` (a zero-extending load or a narrowing). */
export function scalarTruncate(s: Scalar, sizeBytes: 1 | 2 | 4 | 8): Scalar {
  if (sizeBytes === 8) return s;
  // Narrow loads of unknown values are the common case: their result depends on the size only.
  if (s === SCALAR_UNKNOWN) return (UNKNOWN_TRUNCATED[sizeBytes] ??= truncateUnknown(sizeBytes));
  const r = W1.load(s);
  truncate(r, sizeBytes);
  return r.freezeOr(s);
}

function truncate(r: WorkingScalar, sizeBytes: number): void {
  const mask = sizeBytes === 1 ? 0xff : sizeBytes === 2 ? 0xffff : U32;
  r.vH = 0;
  r.mH = 0;
  r.vL = (r.vL & mask) >>> 0;
  r.mL = (r.mL & mask) >>> 0;
  if (r.uminH === r.umaxH && (r.uminL & ~mask) === (r.umaxL & ~mask)) {
    r.uminL = (r.uminL & mask) >>> 0;
    r.umaxL = (r.umaxL & mask) >>> 0;
  } else {
    r.uminL = 0;
    r.umaxL = mask;
  }
  r.uminH = 0;
  r.umaxH = 0;
  r.sminH = 0; r.sminL = r.uminL;
  r.smaxH = 0; r.smaxL = r.umaxL;
  if (sizeBytes < 4) r.markUnbounded32();
  r.sync();
}

const UNKNOWN_TRUNCATED: (Scalar | undefined)[] = [];

function truncateUnknown(sizeBytes: 1 | 2 | 4): Scalar {
  const r = W1.load(SCALAR_UNKNOWN);
  truncate(r, sizeBytes);
  return r.freeze();
}

const SIGNED_LIMITS: Record<number, [number, number]> = { 1: [-0x80, 0x7f], 2: [-0x8000, 0x7fff], 4: [S32_MIN, S32_MAX] };

/** The low `bits` (8, 16 or 32) of a word sign-extended to an int32. */
const signExtendWord = (x: number, bits: number): number => (bits === 32 ? x | 0 : (x << (32 - bits)) >> (32 - bits));

/** The upper word of the int32 `v` sign-extended to 64 bits. */
const upperOf = (v: number): number => (v < 0 ? U32 : 0);

/** coerce_reg_to_size_sx: the low `sizeBytes` sign-extended to 64 bits (ldsx, movsx into an r register). */
export function scalarSignExtend(s: Scalar, sizeBytes: 1 | 2 | 4): Scalar {
  const bits = sizeBytes * 8;
  if ((s.mH | s.mL) === 0) {
    const v = signExtendWord(s.vL, bits);
    return scalarConstWords(upperOf(v), v >>> 0);
  }
  const r = W1.load(s);
  const sameTop = r.smaxH === r.sminH && (bits === 32 || r.smaxL >>> bits === r.sminL >>> bits);
  if (sameTop) {
    const a = signExtendWord(r.smaxL, bits);
    const b = signExtendWord(r.sminL, bits);
    const hi = Math.max(a, b);
    const lo = Math.min(a, b);
    if (lo >= 0 === hi >= 0) {
      r.sminH = r.uminH = upperOf(lo);
      r.sminL = r.uminL = lo >>> 0;
      r.smaxH = r.umaxH = upperOf(hi);
      r.smaxL = r.umaxL = hi >>> 0;
      r.s32min = lo;
      r.s32max = hi;
      r.u32min = lo >>> 0;
      r.u32max = hi >>> 0;
      tnums.tnumRange(r.uminH, r.uminL, r.umaxH, r.umaxL);
      r.setVar(TNUM);
      return r.freeze();
    }
  }
  const [min, max] = SIGNED_LIMITS[sizeBytes]!;
  if (r.s32min >= min && r.s32max <= max) {
    // The low word already lies in the narrow signed range: sign extension keeps it, and its bounds bound the result.
    r.sminH = upperOf(r.s32min); r.sminL = r.s32min >>> 0;
    r.smaxH = upperOf(r.s32max); r.smaxL = r.s32max >>> 0;
  } else {
    r.sminH = upperOf(min); r.sminL = min >>> 0;
    r.smaxH = upperOf(max); r.smaxL = max >>> 0;
    r.s32min = min;
    r.s32max = max;
    r.u32min = 0;
    r.u32max = U32;
  }
  r.uminH = 0; r.uminL = 0;
  r.umaxH = U32; r.umaxL = U32;
  r.vH = 0; r.vL = 0; r.mH = U32; r.mL = U32;
  r.sync();
  return r.freeze();
}

/** coerce_subreg_to_size_sx: the low `sizeBytes` of the w register sign-extended to 32 bits. */
function signExtendSubreg(r: WorkingScalar, sizeBytes: 1 | 2): void {
  const bits = sizeBytes * 8;
  if ((r.mH | r.mL) === 0) {
    const v = signExtendWord(r.vL, bits);
    // tnum_const of the sign-extended value: its upper word too (zext32 clears it next).
    r.vH = upperOf(v);
    r.vL = v >>> 0;
    r.s32min = r.s32max = v;
    r.u32min = r.u32max = v >>> 0;
    return;
  }
  if (r.s32max >>> bits === r.s32min >>> bits) {
    const a = signExtendWord(r.s32max, bits);
    const b = signExtendWord(r.s32min, bits);
    const hi = Math.max(a, b);
    const lo = Math.min(a, b);
    if (lo >= 0 === hi >= 0) {
      r.s32min = lo;
      r.s32max = hi;
      r.u32min = lo >>> 0;
      r.u32max = hi >>> 0;
      tnums.tnumRange(upperOf(lo), lo >>> 0, upperOf(hi), hi >>> 0);
      r.vH = 0; r.vL = TNUM.vL;
      r.mH = 0; r.mL = TNUM.mL;
      return;
    }
  }
  const [min, max] = SIGNED_LIMITS[sizeBytes]!;
  r.s32min = min;
  r.s32max = max;
  r.u32min = 0;
  r.u32max = U32;
  r.vH = 0; r.vL = 0;
  r.mH = 0; r.mL = U32;
}

/** movsx: `r = (sN)r` (alu32 false) or `w = (sN)w` (alu32 true, N = 8 or 16; zero-extended into 64 bits). */
export function scalarMovSx(s: Scalar, fromBits: 8 | 16 | 32, alu32: boolean): Scalar {
  if (!alu32) return scalarSignExtend(s, (fromBits / 8) as 1 | 2 | 4);
  const r = W1.load(s);
  if (fromBits !== 32) signExtendSubreg(r, (fromBits / 8) as 1 | 2);
  r.zext32();
  r.sync();
  return r.freeze();
}

// ---------------------------------------------------------------- branches

/** One operand of a comparison as 64-bit words (unsigned): the whole register, or (JMP32) its low word extended. */
class Side {
  vH = 0; vL = 0; mH = 0; mL = 0;
  uminH = 0; uminL = 0; umaxH = 0; umaxL = 0;
  sminH = 0; sminL = 0; smaxH = 0; smaxL = 0;

  load(s: Scalar, is32: boolean): this {
    if (!is32) {
      this.vH = s.vH >>> 0; this.vL = s.vL >>> 0; this.mH = s.mH >>> 0; this.mL = s.mL >>> 0;
      this.uminH = s.uminH >>> 0; this.uminL = s.uminL >>> 0; this.umaxH = s.umaxH >>> 0; this.umaxL = s.umaxL >>> 0;
      this.sminH = s.sminH >>> 0; this.sminL = s.sminL >>> 0; this.smaxH = s.smaxH >>> 0; this.smaxL = s.smaxL >>> 0;
      return this;
    }
    this.vH = 0; this.vL = s.vL >>> 0; this.mH = 0; this.mL = s.mL >>> 0;
    this.uminH = 0; this.uminL = s.u32min >>> 0; this.umaxH = 0; this.umaxL = s.u32max >>> 0;
    this.sminH = upperOf(s.s32min); this.sminL = s.s32min >>> 0; this.smaxH = upperOf(s.s32max); this.smaxL = s.s32max >>> 0;
    return this;
  }

  isConst(): boolean {
    return (this.mH | this.mL) === 0;
  }
}

const SIDE_A = new Side();
const SIDE_B = new Side();

/** Do the ranges exclude equality? (the shared part of JEQ/JNE in is_scalar_branch_taken) */
function provablyDifferent(a: Scalar, b: Scalar, x: Side, y: Side, is32: boolean): boolean {
  if (!tnums.tnumOverlap(x.vH, x.vL, x.mH, x.mL, y.vH, y.vL, y.mH, y.mL)) return true;
  if (ltU(y.umaxH, y.umaxL, x.uminH, x.uminL) || ltU(x.umaxH, x.umaxL, y.uminH, y.uminL)) return true;
  if (ltS(y.smaxH, y.smaxL, x.sminH, x.sminL) || ltS(x.smaxH, x.smaxL, y.sminH, y.sminL)) return true;
  if (!is32) {
    if (a.u32min >>> 0 > b.u32max >>> 0 || a.u32max >>> 0 < b.u32min >>> 0) return true;
    if (a.s32min > b.s32max || a.s32max < b.s32min) return true;
  }
  return false;
}

/**
 * is_scalar_branch_taken: 1 if `a OP b` holds for every value, 0 if for
 * none, -1 if it depends. JMP32 compares the low words.
 */
export function branchTaken(a: Scalar, b: Scalar, op: number, is32: boolean): 1 | 0 | -1 {
  const x = SIDE_A.load(a, is32);
  const y = SIDE_B.load(b, is32);
  switch (op) {
    case JmpOp.JEQ:
      if (x.isConst() && y.isConst()) return x.vH === y.vH && x.vL === y.vL ? 1 : 0;
      return provablyDifferent(a, b, x, y, is32) ? 0 : -1;
    case JmpOp.JNE:
      if (x.isConst() && y.isConst()) return x.vH !== y.vH || x.vL !== y.vL ? 1 : 0;
      return provablyDifferent(a, b, x, y, is32) ? 1 : -1;
    case JmpOp.JSET: {
      let t1 = x;
      let t2 = y;
      if (!y.isConst()) {
        if (!x.isConst()) return -1;
        [t1, t2] = [t2, t1];
      }
      if (((~t1.mH & t1.vH & t2.vH) | (~t1.mL & t1.vL & t2.vL)) !== 0) return 1;
      if ((((t1.mH | t1.vH) & t2.vH) | ((t1.mL | t1.vL) & t2.vL)) === 0) return 0;
      return -1;
    }
    case JmpOp.JGT:
      return ltU(y.umaxH, y.umaxL, x.uminH, x.uminL) ? 1 : !ltU(y.uminH, y.uminL, x.umaxH, x.umaxL) ? 0 : -1;
    case JmpOp.JSGT:
      return ltS(y.smaxH, y.smaxL, x.sminH, x.sminL) ? 1 : !ltS(y.sminH, y.sminL, x.smaxH, x.smaxL) ? 0 : -1;
    case JmpOp.JLT:
      return ltU(x.umaxH, x.umaxL, y.uminH, y.uminL) ? 1 : !ltU(x.uminH, x.uminL, y.umaxH, y.umaxL) ? 0 : -1;
    case JmpOp.JSLT:
      return ltS(x.smaxH, x.smaxL, y.sminH, y.sminL) ? 1 : !ltS(x.sminH, x.sminL, y.smaxH, y.smaxL) ? 0 : -1;
    case JmpOp.JGE:
      return !ltU(x.uminH, x.uminL, y.umaxH, y.umaxL) ? 1 : ltU(x.umaxH, x.umaxL, y.uminH, y.uminL) ? 0 : -1;
    case JmpOp.JSGE:
      return !ltS(x.sminH, x.sminL, y.smaxH, y.smaxL) ? 1 : ltS(x.smaxH, x.smaxL, y.sminH, y.sminL) ? 0 : -1;
    case JmpOp.JLE:
      return !ltU(y.uminH, y.uminL, x.umaxH, x.umaxL) ? 1 : ltU(y.umaxH, y.umaxL, x.uminH, x.uminL) ? 0 : -1;
    case JmpOp.JSLE:
      return !ltS(y.sminH, y.sminL, x.smaxH, x.smaxL) ? 1 : ltS(y.smaxH, y.smaxL, x.sminH, x.sminL) ? 0 : -1;
    default:
      return -1;
  }
}

/** Internal opcode for "JSET not taken" (the kernel's BPF_JSET | BPF_X in rev_opcode). */
const JSET_FALSE = JmpOp.JSET | 0x08;

const REVERSED: Record<number, number> = {
  [JmpOp.JEQ]: JmpOp.JNE,
  [JmpOp.JNE]: JmpOp.JEQ,
  [JmpOp.JSET]: JSET_FALSE,
  [JmpOp.JGE]: JmpOp.JLT,
  [JmpOp.JGT]: JmpOp.JLE,
  [JmpOp.JLE]: JmpOp.JGT,
  [JmpOp.JLT]: JmpOp.JGE,
  [JmpOp.JSGE]: JmpOp.JSLT,
  [JmpOp.JSGT]: JmpOp.JSLE,
  [JmpOp.JSLE]: JmpOp.JSGT,
  [JmpOp.JSLT]: JmpOp.JSGE,
};

const FLIPPED: Record<number, number> = {
  [JmpOp.JGE]: JmpOp.JLE,
  [JmpOp.JGT]: JmpOp.JLT,
  [JmpOp.JSGE]: JmpOp.JSLE,
  [JmpOp.JSGT]: JmpOp.JSLT,
};

const isConstIn = (r: WorkingScalar, is32: boolean): boolean => (is32 ? r.mL === 0 : (r.mH | r.mL) === 0);

/** regs_refine_cond_op: what `r1 OP r2` being true teaches about both. */
function refine(r1: WorkingScalar, r2: WorkingScalar, op: number, is32: boolean): void {
  const flipped = FLIPPED[op];
  if (flipped !== undefined) {
    [r1, r2] = [r2, r1];
    op = flipped;
  }
  switch (op) {
    case JmpOp.JEQ:
      if (is32) {
        r1.u32min = Math.max(r1.u32min, r2.u32min);
        r1.u32max = Math.min(r1.u32max, r2.u32max);
        r1.s32min = Math.max(r1.s32min, r2.s32min);
        r1.s32max = Math.min(r1.s32max, r2.s32max);
        r2.u32min = r1.u32min;
        r2.u32max = r1.u32max;
        r2.s32min = r1.s32min;
        r2.s32max = r1.s32max;
        tnums.tnumIntersect(0, r1.vL, 0, r1.mL, 0, r2.vL, 0, r2.mL);
        r1.vL = r2.vL = TNUM.vL;
        r1.mL = r2.mL = TNUM.mL;
      } else {
        if (ltU(r1.uminH, r1.uminL, r2.uminH, r2.uminL)) { r1.uminH = r2.uminH; r1.uminL = r2.uminL; }
        if (ltU(r2.umaxH, r2.umaxL, r1.umaxH, r1.umaxL)) { r1.umaxH = r2.umaxH; r1.umaxL = r2.umaxL; }
        if (ltS(r1.sminH, r1.sminL, r2.sminH, r2.sminL)) { r1.sminH = r2.sminH; r1.sminL = r2.sminL; }
        if (ltS(r2.smaxH, r2.smaxL, r1.smaxH, r1.smaxL)) { r1.smaxH = r2.smaxH; r1.smaxL = r2.smaxL; }
        r2.uminH = r1.uminH; r2.uminL = r1.uminL;
        r2.umaxH = r1.umaxH; r2.umaxL = r1.umaxL;
        r2.sminH = r1.sminH; r2.sminL = r1.sminL;
        r2.smaxH = r1.smaxH; r2.smaxL = r1.smaxL;
        tnums.tnumIntersect(r1.vH, r1.vL, r1.mH, r1.mL, r2.vH, r2.vL, r2.mH, r2.mL);
        r1.setVar(TNUM);
        r2.setVar(TNUM);
      }
      return;
    case JmpOp.JNE: {
      if (!isConstIn(r2, is32)) [r1, r2] = [r2, r1];
      if (!isConstIn(r2, is32)) return;
      // A constant at the edge of the other's range shrinks it by one (never past a limit: the branch would have been predicted).
      if (is32) {
        const u = r2.vL;
        const s = u | 0;
        if (r1.u32min === u) r1.u32min++;
        if (r1.u32max === u) r1.u32max--;
        if (r1.s32min === s) r1.s32min++;
        if (r1.s32max === s) r1.s32max--;
      } else {
        const vH = r2.vH;
        const vL = r2.vL;
        if (r1.uminH === vH && r1.uminL === vL) { halves.add64(vH, vL, 0, 1); r1.uminH = RESULT.hi; r1.uminL = RESULT.lo; }
        if (r1.umaxH === vH && r1.umaxL === vL) { halves.sub64(vH, vL, 0, 1); r1.umaxH = RESULT.hi; r1.umaxL = RESULT.lo; }
        if (r1.sminH === vH && r1.sminL === vL) { halves.add64(vH, vL, 0, 1); r1.sminH = RESULT.hi; r1.sminL = RESULT.lo; }
        if (r1.smaxH === vH && r1.smaxL === vL) { halves.sub64(vH, vL, 0, 1); r1.smaxH = RESULT.hi; r1.smaxL = RESULT.lo; }
      }
      return;
    }
    case JmpOp.JSET: {
      if (!isConstIn(r2, is32)) [r1, r2] = [r2, r1];
      if (!isConstIn(r2, is32)) return;
      const valH = is32 ? 0 : r2.vH;
      const valL = r2.vL;
      // Only a single-bit test tells which bit is set.
      const singleBit = valH === 0 ? valL !== 0 && (valL & (valL - 1)) === 0 : valL === 0 && (valH & (valH - 1)) === 0;
      if (!singleBit) return;
      if (is32) {
        tnums.tnumOr(0, r1.vL, 0, r1.mL, 0, valL, 0, 0);
        r1.vL = TNUM.vL;
        r1.mL = TNUM.mL;
      } else {
        tnums.tnumOr(r1.vH, r1.vL, r1.mH, r1.mL, valH, valL, 0, 0);
        r1.setVar(TNUM);
      }
      return;
    }
    case JSET_FALSE: {
      if (!isConstIn(r2, is32)) [r1, r2] = [r2, r1];
      if (!isConstIn(r2, is32)) return;
      const notH = is32 ? U32 : ~r2.vH >>> 0;
      const notL = ~r2.vL >>> 0;
      // The kernel forgets the ranges first so that a dead branch cannot produce contradicting bounds.
      r1.markUnbounded64();
      r1.markUnbounded32();
      if (is32) {
        tnums.tnumAnd(0, r1.vL, 0, r1.mL, notH, notL, 0, 0);
        r1.vL = TNUM.vL;
        r1.mL = TNUM.mL;
      } else {
        tnums.tnumAnd(r1.vH, r1.vL, r1.mH, r1.mL, notH, notL, 0, 0);
        r1.setVar(TNUM);
      }
      return;
    }
    case JmpOp.JLE:
    case JmpOp.JLT: {
      // r1 <= r2 (or r1 < r2: one less/more at the edges).
      const d = op === JmpOp.JLT ? 1 : 0;
      if (is32) {
        r1.u32max = Math.min(r1.u32max, (r2.u32max - d) >>> 0);
        r2.u32min = Math.max((r1.u32min + d) >>> 0, r2.u32min);
      } else {
        halves.sub64(r2.umaxH, r2.umaxL, 0, d);
        if (ltU(RESULT.hi, RESULT.lo, r1.umaxH, r1.umaxL)) { r1.umaxH = RESULT.hi; r1.umaxL = RESULT.lo; }
        halves.add64(r1.uminH, r1.uminL, 0, d);
        if (ltU(r2.uminH, r2.uminL, RESULT.hi, RESULT.lo)) { r2.uminH = RESULT.hi; r2.uminL = RESULT.lo; }
      }
      return;
    }
    case JmpOp.JSLE:
    case JmpOp.JSLT: {
      const d = op === JmpOp.JSLT ? 1 : 0;
      if (is32) {
        r1.s32max = Math.min(r1.s32max, (r2.s32max - d) | 0);
        r2.s32min = Math.max((r1.s32min + d) | 0, r2.s32min);
      } else {
        halves.sub64(r2.smaxH, r2.smaxL, 0, d);
        if (ltS(RESULT.hi, RESULT.lo, r1.smaxH, r1.smaxL)) { r1.smaxH = RESULT.hi; r1.smaxL = RESULT.lo; }
        halves.add64(r1.sminH, r1.sminL, 0, d);
        if (ltS(r2.sminH, r2.sminL, RESULT.hi, RESULT.lo)) { r2.sminH = RESULT.hi; r2.sminL = RESULT.lo; }
      }
      return;
    }
    default:
      return;
  }
}

/**
 * The values of `a` and `b` on the side of `if a OP b` given by `taken`
 * (regs_refine_cond_op then reg_bounds_sync on both). Undefined when that
 * side cannot happen: branchTaken rules it out, or the refined bounds
 * contradict each other or the tnum (no value satisfies them). The 6.18
 * kernel still explores some of the latter sides with registers it prints
 * as 0; this model prunes them, which is sound.
 */
export function refineBranch(a: Scalar, b: Scalar, op: number, is32: boolean, taken: boolean): { a: Scalar; b: Scalar } | undefined {
  const predicted = branchTaken(a, b, op, is32);
  if (predicted !== -1) return (predicted === 1) === taken ? { a, b } : undefined;
  const effective = taken ? op : REVERSED[op];
  if (effective === undefined) return { a, b };
  const r1 = W1.load(a);
  const r2 = W2.load(b);
  refine(r1, r2, effective, is32);
  r1.sync();
  r2.sync();
  if (r1.violatesInvariants() || r2.violatesInvariants()) return undefined;
  return { a: r1.freezeOr(a), b: r2.freezeOr(b) };
}

/**
 * refineBranch for `if rX OP rX`: branchTaken(a, a, ...) decides, and the
 * 6.18 kernel refines the one register as both operands in turn (so a
 * comparison that cannot hold, like rX < rX, still narrows it by one on
 * its dead side). Undefined when the side cannot happen.
 */
export function refineBranchSameRegister(a: Scalar, op: number, is32: boolean, taken: boolean): Scalar | undefined {
  const predicted = branchTaken(a, a, op, is32);
  if (predicted !== -1) return (predicted === 1) === taken ? a : undefined;
  const effective = taken ? op : REVERSED[op];
  if (effective === undefined) return a;
  const r = W1.load(a);
  refine(r, r, effective, is32);
  r.sync();
  r.sync();
  return r.violatesInvariants() ? undefined : r.freezeOr(a);
}

// ---------------------------------------------------------------- pruning and checks

/** range_within && tnum_in: every value `cur` may hold, `old` may hold too (state pruning). */
export function scalarWithin(old: Scalar, cur: Scalar): boolean {
  if (old === cur) return true;
  return (
    leStoredU(old.uminH, old.uminL, cur.uminH, cur.uminL) && leStoredU(cur.umaxH, cur.umaxL, old.umaxH, old.umaxL) &&
    leStoredS(old.sminH, old.sminL, cur.sminH, cur.sminL) && leStoredS(cur.smaxH, cur.smaxL, old.smaxH, old.smaxL) &&
    old.u32min >>> 0 <= cur.u32min >>> 0 && cur.u32max >>> 0 <= old.u32max >>> 0 &&
    old.s32min <= cur.s32min && cur.s32max <= old.s32max &&
    tnums.tnumIn(old.vH, old.vL, old.mH, old.mL, cur.vH, cur.vL, cur.mH, cur.mL)
  );
}

/** Is the concrete `value` (mod 2^64) a member of `s`? */
export function scalarContains(s: Scalar, value: bigint): boolean {
  halves.split(value);
  const h = RESULT.hi | 0;
  const l = RESULT.lo | 0;
  return (
    tnums.tnumIn(s.vH, s.vL, s.mH, s.mL, h, l, 0, 0) &&
    leStoredU(s.uminH, s.uminL, h, l) && leStoredU(h, l, s.umaxH, s.umaxL) &&
    leStoredS(s.sminH, s.sminL, h, l) && leStoredS(h, l, s.smaxH, s.smaxL) &&
    s.u32min >>> 0 <= l >>> 0 && l >>> 0 <= s.u32max >>> 0 && s.s32min <= l && l <= s.s32max
  );
}

// ---------------------------------------------------------------- log format

const SIGNED_DECIMAL_MIN = -0x8000n;
const SIGNED_DECIMAL_MAX = 0x7fffn;
const S64_MIN_BIG = -(1n << 63n);
const S64_MAX_BIG = (1n << 63n) - 1n;
const U64_MAX_BIG = (1n << 64n) - 1n;

/** verbose_snum: small values in decimal, others as the 64-bit pattern in hex. */
export function formatSigned(bits: bigint): string {
  const v = BigInt.asIntN(64, bits);
  return v >= SIGNED_DECIMAL_MIN && v <= SIGNED_DECIMAL_MAX ? v.toString() : hex(BigInt.asUintN(64, bits));
}

/**
 * The scalar's ranges as the 6.18 kernel's print_scalar_ranges prints them,
 * followed by ",var_off=..." unless var_off is entirely unknown: bounds at
 * their type's extreme are left out, and a bound equal to a later one of
 * the same kind (min or max) and sign is printed once under joined names
 * ("smax=umax=255").
 */
export function scalarRangesToString(s: Scalar): string {
  const toU64 = (v: bigint): bigint => BigInt.asUintN(64, v);
  const smin = halves.joinSigned(s.sminH, s.sminL);
  const smax = halves.joinSigned(s.smaxH, s.smaxL);
  const umin = halves.joinUnsigned(s.uminH, s.uminL);
  const umax = halves.joinUnsigned(s.umaxH, s.umaxL);
  const s32minVal = BigInt(s.s32min);
  const s32maxVal = BigInt(s.s32max);
  const entries: { name: string; val: bigint; omit: boolean }[] = [
    { name: 'smin', val: toU64(smin), omit: smin === S64_MIN_BIG },
    { name: 'smax', val: toU64(smax), omit: smax === S64_MAX_BIG },
    { name: 'umin', val: umin, omit: umin === 0n },
    { name: 'umax', val: umax, omit: umax === U64_MAX_BIG },
    // Hex is printed without sign extension so that smin32=0xfffffffe does not read as a 64-bit number.
    { name: 'smin32', val: s32minVal >= SIGNED_DECIMAL_MIN && s32minVal <= SIGNED_DECIMAL_MAX ? toU64(s32minVal) : BigInt(s.s32min >>> 0), omit: s.s32min === S32_MIN },
    { name: 'smax32', val: s32maxVal >= SIGNED_DECIMAL_MIN && s32maxVal <= SIGNED_DECIMAL_MAX ? toU64(s32maxVal) : BigInt(s.s32max >>> 0), omit: s.s32max === S32_MAX },
    { name: 'umin32', val: BigInt(s.u32min >>> 0), omit: s.u32min === 0 },
    { name: 'umax32', val: BigInt(s.u32max >>> 0), omit: s.u32max >>> 0 === U32 },
  ];
  const parts: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const first = entries[i]!;
    if (first.omit) continue;
    const negative = first.name[0] === 's' && BigInt.asIntN(64, first.val) < 0n;
    let text = `${first.name}=`;
    for (let j = i + 2; j < entries.length; j += 2) {
      const other = entries[j]!;
      if (other.omit || other.val !== first.val) continue;
      if ((other.name[0] === 's' && BigInt.asIntN(64, other.val) < 0n) !== negative) continue;
      other.omit = true;
      text += `${other.name}=`;
    }
    text += first.name[0] === 's' ? formatSigned(first.val) : formatUnsigned(first.val);
    parts.push(text);
  }
  if ((s.mH & s.mL) !== -1) parts.push(`var_off=${scalarVarOffString(s)}`);
  return parts.join(',');
}

/** A scalar as the kernel prints a register holding it (without id or precision marks): "5" or "scalar(...)". */
export function scalarToString(s: Scalar): string {
  if (scalarIsConst(s)) return formatSigned(halves.joinUnsigned(s.vH, s.vL));
  return `scalar(${scalarRangesToString(s)})`;
}
