// The scalar domain as src/verifier kept it before it moved onto 32-bit words (bigint bounds and tnum),
// checked then on the whole corpus and against the kernel. Only test/verifier/scalar-words.test.ts uses it,
// as the reference the word implementation must equal bit for bit.
/**
 * A scalar's abstract value as the Linux 6.18 verifier tracks it: a tnum
 * (known bits) plus signed and unsigned bounds in 64 and 32 bits, the
 * scalar part of struct bpf_reg_state. The transfer functions follow
 * kernel/bpf/verifier.c (adjust_scalar_min_max_vals, reg_bounds_sync,
 * is_scalar_branch_taken, regs_refine_cond_op, ...) step by step, because
 * the verifier must print and decide exactly what the kernel does.
 *
 * Scalars are immutable and shared between verifier states. Each operation
 * copies its input into a mutable working register, applies the kernel's
 * steps to it and freezes the result.
 */
import { AluOp as ALU_OPS, JmpOp as JMP_OPS } from '../../../src/isa/index.ts';
import { syncBounds, updateBounds as updateBoundsOnHalves } from './bounds-sync.ts';
import * as halves from './halves.ts';
import {
  type Tnum,
  TNUM_UNKNOWN,
  formatUnsigned,
  hex,
  tnumAdd,
  tnumAnd,
  tnumArshift,
  tnumBswap,
  tnumConst,
  tnumConstSubreg,
  tnumContains,
  tnumIn,
  tnumIntersect,
  tnumIsUnknown,
  tnumLshift,
  tnumMul,
  tnumNeg,
  tnumOr,
  tnumOverlap,
  tnumRange,
  tnumRshift,
  tnumSub,
  tnumSubreg,
  tnumToString,
  tnumWithSubreg,
  tnumXor,
} from './tnum.ts';

export interface Scalar {
  readonly var: Tnum;
  readonly smin: bigint;
  readonly smax: bigint;
  readonly umin: bigint;
  readonly umax: bigint;
  readonly s32min: number;
  readonly s32max: number;
  readonly u32min: number;
  readonly u32max: number;
}

// Opcode tables and helpers bound once: some loaders turn every use of an imported binding into a getter call.
const AluOp = { ...ALU_OPS };
const { bigint } = halves;
const JmpOp = { ...JMP_OPS };

const U64_MASK = 0xffff_ffff_ffff_ffffn;
const U32_MASK_BIG = 0xffff_ffffn;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;
const U64_MAX = U64_MASK;
const S32_MIN = -0x8000_0000;
const S32_MAX = 0x7fff_ffff;
const U32_MAX = 0xffff_ffff;

const toS64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const toU64 = (v: bigint): bigint => BigInt.asUintN(64, v);
/** Low 32 bits of a 64-bit value as u32. */
const lowU32 = (v: bigint): number => Number(v & U32_MASK_BIG);
/** Low 32 bits of a 64-bit value as s32. */
const lowS32 = (v: bigint): number => Number(v & U32_MASK_BIG) | 0;
const maxBig = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const minBig = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** The mutable working copy of a scalar the kernel's steps operate on. */
class Reg {
  var: Tnum;
  smin: bigint;
  smax: bigint;
  umin: bigint;
  umax: bigint;
  s32min: number;
  s32max: number;
  u32min: number;
  u32max: number;

  constructor(s: Scalar) {
    this.var = s.var;
    this.smin = s.smin;
    this.smax = s.smax;
    this.umin = s.umin;
    this.umax = s.umax;
    this.s32min = s.s32min;
    this.s32max = s.s32max;
    this.u32min = s.u32min;
    this.u32max = s.u32max;
  }

  freeze(): Scalar {
    return {
      var: this.var,
      smin: this.smin,
      smax: this.smax,
      umin: this.umin,
      umax: this.umax,
      s32min: this.s32min,
      s32max: this.s32max,
      u32min: this.u32min,
      u32max: this.u32max,
    };
  }

  /** ___mark_reg_known */
  markKnown(imm: bigint): void {
    const v = toU64(imm);
    this.var = tnumConst(v);
    this.smin = this.smax = toS64(v);
    this.umin = this.umax = v;
    this.s32min = this.s32max = lowS32(v);
    this.u32min = this.u32max = lowU32(v);
  }

  /** __mark_reg32_known */
  markKnown32(imm: number): void {
    this.var = tnumConstSubreg(this.var, imm);
    this.s32min = this.s32max = imm | 0;
    this.u32min = this.u32max = imm >>> 0;
  }

  markUnbounded64(): void {
    this.smin = S64_MIN;
    this.smax = S64_MAX;
    this.umin = 0n;
    this.umax = U64_MAX;
  }

  markUnbounded32(): void {
    this.s32min = S32_MIN;
    this.s32max = S32_MAX;
    this.u32min = 0;
    this.u32max = U32_MAX;
  }

  updateBounds32(): void {
    const v = lowU32(this.var.value);
    const m = lowU32(this.var.mask);
    this.s32min = Math.max(this.s32min, (v | (m & 0x8000_0000)) | 0);
    this.s32max = Math.min(this.s32max, (v | (m & S32_MAX)) | 0);
    this.u32min = Math.max(this.u32min, v);
    this.u32max = Math.min(this.u32max, (v | m) >>> 0);
  }

  /** __update_reg_bounds (on numbers, bounds-sync.ts). */
  updateBounds(): void {
    updateBoundsOnHalves(this);
  }

  /** reg_bounds_sync (on numbers, bounds-sync.ts). */
  sync(): void {
    syncBounds(this);
  }

  /** zext_32_to_64 (with __reg_assign_32_into_64) */
  zext32(): void {
    this.var = tnumSubreg(this.var);
    this.umin = bigint(this.u32min);
    this.umax = bigint(this.u32max);
    if (this.s32min >= 0 && this.s32max >= 0) {
      this.smin = bigint(this.s32min);
      this.smax = bigint(this.s32max);
    } else {
      this.smin = 0n;
      this.smax = bigint(U32_MAX);
    }
  }

  /** reg_bounds_sanity_check: bounds that contradict each other or a constant tnum. */
  violatesInvariants(): boolean {
    if (this.umin > this.umax || this.smin > this.smax || this.u32min > this.u32max || this.s32min > this.s32max) return true;
    const { value, mask } = this.var;
    if (mask === 0n && (this.umin !== value || this.umax !== value || this.smin !== toS64(value) || this.smax !== toS64(value))) return true;
    if ((mask & U32_MASK_BIG) === 0n) {
      const u = lowU32(value);
      if (this.u32min !== u || this.u32max !== u || this.s32min !== (u | 0) || this.s32max !== (u | 0)) return true;
    }
    return false;
  }
}

export const SCALAR_UNKNOWN: Scalar = Object.freeze({
  var: TNUM_UNKNOWN,
  smin: S64_MIN,
  smax: S64_MAX,
  umin: 0n,
  umax: U64_MAX,
  s32min: S32_MIN,
  s32max: S32_MAX,
  u32min: 0,
  u32max: U32_MAX,
});

function makeConst(v: bigint): Scalar {
  const s32 = lowS32(v);
  // Not frozen (as no scalar an operation returns is): freezing costs more than the object, and gives it another shape.
  return { var: tnumConst(v), smin: toS64(v), smax: toS64(v), umin: v, umax: v, s32min: s32, s32max: s32, u32min: s32 >>> 0, u32max: s32 >>> 0 };
}

const SMALL_SCALARS: Scalar[] = Array.from({ length: 257 }, (_, i) => makeConst(BigInt(i)));

export function scalarConst(v: bigint): Scalar {
  const u = toU64(v);
  return u <= 256n ? SMALL_SCALARS[Number(u)]! : makeConst(u);
}

/** Constants from instruction immediates, shared (scalars are immutable); cleared when full so it stays small. */
const IMMEDIATES = new Map<number, Scalar>();
const IMMEDIATES_KEPT = 4096;

/** scalarConst of an integer number (an instruction's immediate), without a bigint when it is small or seen before. */
export function scalarConstNumber(v: number): Scalar {
  if (v >= 0 && v <= 256) return SMALL_SCALARS[v]!;
  let s = IMMEDIATES.get(v);
  if (s === undefined) {
    if (IMMEDIATES.size >= IMMEDIATES_KEPT) IMMEDIATES.clear();
    s = scalarConst(BigInt(v));
    IMMEDIATES.set(v, s);
  }
  return s;
}

export function scalarConstValue(s: Scalar): bigint | undefined {
  return s.var.mask === 0n ? s.var.value : undefined;
}

export function scalarConstValue32(s: Scalar): number | undefined {
  return (s.var.mask & U32_MASK_BIG) === 0n ? lowU32(s.var.value) : undefined;
}

export function scalarIsUnknown(s: Scalar): boolean {
  return (
    tnumIsUnknown(s.var) &&
    s.smin === S64_MIN && s.smax === S64_MAX && s.umin === 0n && s.umax === U64_MAX &&
    s.s32min === S32_MIN && s.s32max === S32_MAX && s.u32min === 0 && s.u32max === U32_MAX
  );
}

export function scalarSync(s: Scalar): Scalar {
  const r = new Reg(s);
  r.sync();
  return r.freeze();
}

/** A value known only to lie in [umin, umax] (unsigned), bounds synced. */
export function scalarFromRange(umin: bigint, umax: bigint): Scalar {
  if (umin === umax) return scalarConst(umin);
  const r = new Reg(SCALAR_UNKNOWN);
  r.umin = toU64(umin);
  r.umax = toU64(umax);
  r.var = tnumRange(r.umin, r.umax);
  r.sync();
  return r.freeze();
}

// ---------------------------------------------------------------- ALU

/*
 * ADD and SUB (6.18's scalar(32)_min_max_add/sub): the signed bounds are
 * lost when either end overflows; the unsigned ones only when one end wraps
 * and the other does not (when both wrap, the wrapped range is still exact).
 */
function setSigned32(dst: Reg, lo: number, hi: number): void {
  const overflow = lo < S32_MIN || lo > S32_MAX || hi < S32_MIN || hi > S32_MAX;
  dst.s32min = overflow ? S32_MIN : lo;
  dst.s32max = overflow ? S32_MAX : hi;
}

function setUnsigned32(dst: Reg, lo: number, hi: number): void {
  const partialWrap = (lo < 0 || lo > U32_MAX) !== (hi < 0 || hi > U32_MAX);
  dst.u32min = partialWrap ? 0 : lo >>> 0;
  dst.u32max = partialWrap ? U32_MAX : hi >>> 0;
}

function setSigned64(dst: Reg, lo: bigint, hi: bigint): void {
  const overflow = lo < S64_MIN || lo > S64_MAX || hi < S64_MIN || hi > S64_MAX;
  dst.smin = overflow ? S64_MIN : lo;
  dst.smax = overflow ? S64_MAX : hi;
}

function setUnsigned64(dst: Reg, lo: bigint, hi: bigint): void {
  const partialWrap = (lo < 0n || lo > U64_MAX) !== (hi < 0n || hi > U64_MAX);
  dst.umin = partialWrap ? 0n : toU64(lo);
  dst.umax = partialWrap ? U64_MAX : toU64(hi);
}

function add32(dst: Reg, src: Scalar): void {
  setSigned32(dst, dst.s32min + src.s32min, dst.s32max + src.s32max);
  setUnsigned32(dst, dst.u32min + src.u32min, dst.u32max + src.u32max);
}

function add64(dst: Reg, src: Scalar): void {
  setSigned64(dst, dst.smin + src.smin, dst.smax + src.smax);
  setUnsigned64(dst, dst.umin + src.umin, dst.umax + src.umax);
}

function sub32(dst: Reg, src: Scalar): void {
  setSigned32(dst, dst.s32min - src.s32max, dst.s32max - src.s32min);
  setUnsigned32(dst, dst.u32min - src.u32max, dst.u32max - src.u32min);
}

function sub64(dst: Reg, src: Scalar): void {
  setSigned64(dst, dst.smin - src.smax, dst.smax - src.smin);
  setUnsigned64(dst, dst.umin - src.umax, dst.umax - src.umin);
}

function mul32(dst: Reg, src: Scalar): void {
  const umax = BigInt(dst.u32max) * BigInt(src.u32max);
  const umin = BigInt(dst.u32min) * BigInt(src.u32min);
  if (umax > BigInt(U32_MAX) || umin > BigInt(U32_MAX)) {
    dst.u32min = 0;
    dst.u32max = U32_MAX;
  } else {
    dst.u32min = Number(umin);
    dst.u32max = Number(umax);
  }
  // Products of 32-bit values are exact in a double below 2^53 only; compare in bigint.
  const a = BigInt(dst.s32min);
  const b = BigInt(dst.s32max);
  const c = BigInt(src.s32min);
  const d = BigInt(src.s32max);
  const products = [a * c, a * d, b * c, b * d];
  if (products.some((p) => p < BigInt(S32_MIN) || p > BigInt(S32_MAX))) {
    dst.s32min = S32_MIN;
    dst.s32max = S32_MAX;
  } else {
    dst.s32min = Number(products.reduce(minBig));
    dst.s32max = Number(products.reduce(maxBig));
  }
}

function mul64(dst: Reg, src: Scalar): void {
  const umax = dst.umax * src.umax;
  const umin = dst.umin * src.umin;
  if (umax > U64_MAX || umin > U64_MAX) {
    dst.umin = 0n;
    dst.umax = U64_MAX;
  } else {
    dst.umin = umin;
    dst.umax = umax;
  }
  const products = [dst.smin * src.smin, dst.smin * src.smax, dst.smax * src.smin, dst.smax * src.smax];
  if (products.some((p) => p < S64_MIN || p > S64_MAX)) {
    dst.smin = S64_MIN;
    dst.smax = S64_MAX;
  } else {
    dst.smin = products.reduce(minBig);
    dst.smax = products.reduce(maxBig);
  }
}

/** s32 bounds from u32 bounds when they do not cross the sign boundary, else unbounded. */
function s32FromU32(dst: Reg): void {
  if ((dst.u32min | 0) <= (dst.u32max | 0)) {
    dst.s32min = dst.u32min | 0;
    dst.s32max = dst.u32max | 0;
  } else {
    dst.s32min = S32_MIN;
    dst.s32max = S32_MAX;
  }
}

function s64FromU64(dst: Reg): void {
  if (toS64(dst.umin) <= toS64(dst.umax)) {
    dst.smin = toS64(dst.umin);
    dst.smax = toS64(dst.umax);
  } else {
    dst.smin = S64_MIN;
    dst.smax = S64_MAX;
  }
}

const subregIsConst = (t: Tnum): boolean => (t.mask & U32_MASK_BIG) === 0n;

/** AND, OR and XOR share their shape: both constant gives a constant, else bounds from var_off and the operands. */
function bitwise32(dst: Reg, src: Scalar, op: number): void {
  if (subregIsConst(src.var) && subregIsConst(dst.var)) {
    dst.markKnown32(lowU32(dst.var.value));
    return;
  }
  const v = lowU32(dst.var.value);
  const m = lowU32(dst.var.mask);
  if (op === AluOp.AND) {
    dst.u32min = v;
    dst.u32max = Math.min(dst.u32max, src.u32max);
  } else if (op === AluOp.OR) {
    dst.u32min = Math.max(dst.u32min, src.u32min);
    dst.u32max = (v | m) >>> 0;
  } else {
    dst.u32min = v;
    dst.u32max = (v | m) >>> 0;
  }
  s32FromU32(dst);
}

function bitwise64(dst: Reg, src: Scalar, op: number): void {
  if (src.var.mask === 0n && dst.var.mask === 0n) {
    dst.markKnown(dst.var.value);
    return;
  }
  const { value, mask } = dst.var;
  if (op === AluOp.AND) {
    dst.umin = value;
    dst.umax = minBig(dst.umax, src.umax);
  } else if (op === AluOp.OR) {
    dst.umin = maxBig(dst.umin, src.umin);
    dst.umax = value | mask;
  } else {
    dst.umin = value;
    dst.umax = value | mask;
  }
  s64FromU64(dst);
  dst.updateBounds();
}

function lsh32Bounds(dst: Reg, umin: bigint, umax: bigint): void {
  dst.s32min = S32_MIN;
  dst.s32max = S32_MAX;
  if (umax > 31n || dst.u32max > 2 ** (31 - Number(umax))) {
    dst.u32min = 0;
    dst.u32max = U32_MAX;
  } else {
    dst.u32min = (dst.u32min << Number(umin)) >>> 0;
    dst.u32max = (dst.u32max << Number(umax)) >>> 0;
  }
}

function lsh64Bounds(dst: Reg, umin: bigint, umax: bigint): void {
  // <<32 is the compilers' first half of a sign extension (<<32 s>>32): keep the s32 bounds, shifted.
  if (umin === 32n && umax === 32n) {
    dst.smax = BigInt(dst.s32max) << 32n;
    dst.smin = BigInt(dst.s32min) << 32n;
  } else {
    dst.smax = S64_MAX;
    dst.smin = S64_MIN;
  }
  if (dst.umax > 1n << (63n - umax)) {
    dst.umin = 0n;
    dst.umax = U64_MAX;
  } else {
    dst.umin = toU64(dst.umin << umin);
    dst.umax = toU64(dst.umax << umax);
  }
}

function shift(dst: Reg, src: Scalar, op: number, alu32: boolean): void {
  if (alu32) {
    const umin = src.u32min;
    const umax = src.u32max;
    const subreg = tnumSubreg(dst.var);
    if (op === AluOp.LSH) {
      lsh32Bounds(dst, BigInt(umin), BigInt(umax));
      dst.var = tnumSubreg(tnumLshift(subreg, umin));
      dst.markUnbounded64();
    } else if (op === AluOp.RSH) {
      dst.s32min = S32_MIN;
      dst.s32max = S32_MAX;
      dst.var = tnumRshift(subreg, umin);
      dst.u32min = dst.u32min >>> umax;
      dst.u32max = dst.u32max >>> umin;
      dst.markUnbounded64();
    } else {
      dst.s32min = dst.s32min >> umin;
      dst.s32max = dst.s32max >> umin;
      dst.var = tnumArshift(subreg, umin, 32);
      dst.u32min = 0;
      dst.u32max = U32_MAX;
      dst.markUnbounded64();
    }
    dst.updateBounds32();
    return;
  }
  const umin = src.umin;
  const umax = src.umax;
  if (op === AluOp.LSH) {
    lsh64Bounds(dst, umin, umax);
    lsh32Bounds(dst, umin, umax);
    dst.var = tnumLshift(dst.var, Number(umin));
  } else if (op === AluOp.RSH) {
    dst.smin = S64_MIN;
    dst.smax = S64_MAX;
    dst.var = tnumRshift(dst.var, Number(umin));
    dst.umin >>= umax;
    dst.umax >>= umin;
    dst.markUnbounded32();
  } else {
    dst.smin >>= umin;
    dst.smax >>= umin;
    dst.var = tnumArshift(dst.var, Number(umin), 64);
    dst.umin = 0n;
    dst.umax = U64_MAX;
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
        ? subregIsConst(src.var) && src.s32min === src.s32max && src.u32min === src.u32max
        : src.var.mask === 0n && src.smin === src.smax && src.umin === src.umax;
      return known && src.umax < (alu32 ? 32n : 64n);
    }
    default:
      return false;
  }
}

/**
 * A tracked operation on two constants: the kernel's transfer functions give
 * exactly the concrete result (32-bit ones zero-extended), so compute it.
 */
function constantAlu(op: number, a: bigint, b: bigint, alu32: boolean): bigint {
  const width = alu32 ? 32 : 64;
  if (alu32) {
    a &= U32_MASK_BIG;
    b &= U32_MASK_BIG;
  }
  switch (op) {
    case AluOp.ADD: return BigInt.asUintN(width, a + b);
    case AluOp.SUB: return BigInt.asUintN(width, a - b);
    case AluOp.NEG: return BigInt.asUintN(width, -a);
    case AluOp.MUL: return BigInt.asUintN(width, a * b);
    case AluOp.AND: return a & b;
    case AluOp.OR: return a | b;
    case AluOp.XOR: return a ^ b;
    case AluOp.LSH: return BigInt.asUintN(width, a << b);
    case AluOp.RSH: return a >> b;
    default: return BigInt.asUintN(width, BigInt.asIntN(width, a) >> b); // ARSH
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
  if (dst.var.mask === 0n && src.var.mask === 0n) return scalarConst(constantAlu(op, dst.var.value, src.var.value, alu32));
  const r = new Reg(dst);
  switch (op) {
    case AluOp.ADD:
      add32(r, src);
      add64(r, src);
      r.var = tnumAdd(r.var, src.var);
      break;
    case AluOp.SUB:
      sub32(r, src);
      sub64(r, src);
      r.var = tnumSub(r.var, src.var);
      break;
    case AluOp.NEG:
      r.markKnown(0n);
      sub32(r, dst);
      sub64(r, dst);
      r.var = tnumNeg(dst.var);
      break;
    case AluOp.MUL:
      r.var = tnumMul(r.var, src.var);
      mul32(r, src);
      mul64(r, src);
      break;
    case AluOp.AND:
      r.var = tnumAnd(r.var, src.var);
      bitwise32(r, src, op);
      bitwise64(r, src, op);
      break;
    case AluOp.OR:
      r.var = tnumOr(r.var, src.var);
      bitwise32(r, src, op);
      bitwise64(r, src, op);
      break;
    case AluOp.XOR:
      r.var = tnumXor(r.var, src.var);
      bitwise32(r, src, op);
      bitwise64(r, src, op);
      break;
    default:
      shift(r, src, op, alu32);
      break;
  }
  if (alu32) r.zext32();
  r.sync();
  return r.freeze();
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
  if ((op !== AluOp.AND && op !== AluOp.OR) || src.var.mask !== 0n) return undefined;
  const current = new Reg(dst);
  const pushed = new Reg(dst);
  if (dst.smin === -1n && dst.smax === 0n) {
    current.markKnown(-1n);
    pushed.markKnown(0n);
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
  const r = new Reg(s);
  if (swap) {
    r.var = tnumBswap(r.var, bits);
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
  const r = new Reg(s);
  r.zext32();
  r.sync();
  return r.freeze();
}

const SIZE_MASK: Record<number, bigint> = { 1: 0xffn, 2: 0xffffn, 4: U32_MASK_BIG };

/** coerce_reg_to_size: the value truncated to `sizeBytes` (a zero-extending load or a narrowing). */
export function scalarTruncate(s: Scalar, sizeBytes: 1 | 2 | 4 | 8): Scalar {
  if (sizeBytes === 8) return s;
  // Narrow loads of unknown values are the common case: their result depends on the size only.
  if (s === SCALAR_UNKNOWN) return (UNKNOWN_TRUNCATED[sizeBytes] ??= truncateUnknown(sizeBytes));
  const r = new Reg(s);
  truncate(r, sizeBytes);
  return r.freeze();
}

function truncate(r: Reg, sizeBytes: number): void {
  const mask = SIZE_MASK[sizeBytes]!;
  r.var = { value: r.var.value & mask, mask: r.var.mask & mask };
  if ((r.umin & ~mask) === (r.umax & ~mask)) {
    r.umin &= mask;
    r.umax &= mask;
  } else {
    r.umin = 0n;
    r.umax = mask;
  }
  r.smin = r.umin;
  r.smax = r.umax;
  if (sizeBytes < 4) r.markUnbounded32();
  r.sync();
}

const SIGNED_LIMITS: Record<number, [number, number]> = { 1: [-0x80, 0x7f], 2: [-0x8000, 0x7fff], 4: [S32_MIN, S32_MAX] };

/** coerce_reg_to_size_sx: the low `sizeBytes` sign-extended to 64 bits (ldsx, movsx into an r register). */
const UNKNOWN_TRUNCATED: (Scalar | undefined)[] = [];

function truncateUnknown(sizeBytes: 1 | 2 | 4): Scalar {
  const r = new Reg(SCALAR_UNKNOWN);
  truncate(r, sizeBytes);
  return Object.freeze(r.freeze());
}

export function scalarSignExtend(s: Scalar, sizeBytes: 1 | 2 | 4): Scalar {
  const bits = BigInt(sizeBytes * 8);
  if (s.var.mask === 0n) return scalarConst(BigInt.asIntN(Number(bits), s.var.value));
  const r = new Reg(s);
  const topMax = toU64(r.smax) >> bits;
  const topMin = toU64(r.smin) >> bits;
  if (topMax === topMin) {
    const a = BigInt.asIntN(Number(bits), r.smax);
    const b = BigInt.asIntN(Number(bits), r.smin);
    const hi = maxBig(a, b);
    const lo = minBig(a, b);
    if (hi >= 0n === lo >= 0n) {
      r.smin = lo;
      r.smax = hi;
      r.s32min = Number(lo);
      r.s32max = Number(hi);
      r.umin = toU64(lo);
      r.umax = toU64(hi);
      r.u32min = lowU32(lo);
      r.u32max = lowU32(hi);
      r.var = tnumRange(toU64(lo), toU64(hi));
      return r.freeze();
    }
  }
  const [min, max] = SIGNED_LIMITS[sizeBytes]!;
  if (r.s32min >= min && r.s32max <= max) {
    // The low word already lies in the narrow signed range: sign extension keeps it, and its bounds bound the result.
    r.smin = bigint(r.s32min);
    r.smax = bigint(r.s32max);
  } else {
    r.smin = BigInt(min);
    r.smax = BigInt(max);
    r.s32min = min;
    r.s32max = max;
    r.u32min = 0;
    r.u32max = U32_MAX;
  }
  r.umin = 0n;
  r.umax = U64_MAX;
  r.var = TNUM_UNKNOWN;
  r.sync();
  return r.freeze();
}

/** coerce_subreg_to_size_sx: the low `sizeBytes` of the w register sign-extended to 32 bits. */
function signExtendSubreg(r: Reg, sizeBytes: 1 | 2): void {
  const bits = sizeBytes * 8;
  const shiftBack = 32 - bits;
  if (r.var.mask === 0n) {
    const v = (lowU32(r.var.value) << shiftBack) >> shiftBack;
    r.var = tnumConst(BigInt(v));
    r.s32min = r.s32max = v | 0;
    r.u32min = r.u32max = v >>> 0;
    return;
  }
  if (r.s32max >>> bits === r.s32min >>> bits) {
    const a = (r.s32max << shiftBack) >> shiftBack;
    const b = (r.s32min << shiftBack) >> shiftBack;
    const hi = Math.max(a, b);
    const lo = Math.min(a, b);
    if (lo >= 0 === hi >= 0) {
      r.s32min = lo;
      r.s32max = hi;
      r.u32min = lo >>> 0;
      r.u32max = hi >>> 0;
      r.var = tnumSubreg(tnumRange(toU64(BigInt(lo)), toU64(BigInt(hi))));
      return;
    }
  }
  const [min, max] = SIGNED_LIMITS[sizeBytes]!;
  r.s32min = min;
  r.s32max = max;
  r.u32min = 0;
  r.u32max = U32_MAX;
  r.var = tnumSubreg(TNUM_UNKNOWN);
}

/** movsx: `r = (sN)r` (alu32 false) or `w = (sN)w` (alu32 true, N = 8 or 16; zero-extended into 64 bits). */
export function scalarMovSx(s: Scalar, fromBits: 8 | 16 | 32, alu32: boolean): Scalar {
  if (!alu32) return scalarSignExtend(s, (fromBits / 8) as 1 | 2 | 4);
  const r = new Reg(s);
  if (fromBits !== 32) signExtendSubreg(r, (fromBits / 8) as 1 | 2);
  r.zext32();
  r.sync();
  return r.freeze();
}

// ---------------------------------------------------------------- branches

interface Side {
  t: Tnum;
  umin: bigint;
  umax: bigint;
  smin: bigint;
  smax: bigint;
}

function side(s: Scalar, is32: boolean): Side {
  if (!is32) return { t: s.var, umin: s.umin, umax: s.umax, smin: s.smin, smax: s.smax };
  return { t: tnumSubreg(s.var), umin: BigInt(s.u32min), umax: BigInt(s.u32max), smin: BigInt(s.s32min), smax: BigInt(s.s32max) };
}

const isConstIn = (s: Scalar, is32: boolean): boolean => (is32 ? subregIsConst(s.var) : s.var.mask === 0n);
const constIn = (s: Scalar, is32: boolean): bigint => (is32 ? s.var.value & U32_MASK_BIG : s.var.value);

/** Do the ranges exclude equality? (the shared part of JEQ/JNE in is_scalar_branch_taken) */
function provablyDifferent(a: Scalar, b: Scalar, x: Side, y: Side, is32: boolean): boolean {
  if (!tnumOverlap(x.t, y.t)) return true;
  if (x.umin > y.umax || x.umax < y.umin) return true;
  if (x.smin > y.smax || x.smax < y.smin) return true;
  if (!is32) {
    if (a.u32min > b.u32max || a.u32max < b.u32min) return true;
    if (a.s32min > b.s32max || a.s32max < b.s32min) return true;
  }
  return false;
}

/**
 * is_scalar_branch_taken: 1 if `a OP b` holds for every value, 0 if for
 * none, -1 if it depends. JMP32 compares the low words.
 */
export function branchTaken(a: Scalar, b: Scalar, op: number, is32: boolean): 1 | 0 | -1 {
  const x = side(a, is32);
  const y = side(b, is32);
  switch (op) {
    case JmpOp.JEQ:
      if (x.t.mask === 0n && y.t.mask === 0n) return x.t.value === y.t.value ? 1 : 0;
      return provablyDifferent(a, b, x, y, is32) ? 0 : -1;
    case JmpOp.JNE:
      if (x.t.mask === 0n && y.t.mask === 0n) return x.t.value !== y.t.value ? 1 : 0;
      return provablyDifferent(a, b, x, y, is32) ? 1 : -1;
    case JmpOp.JSET: {
      let t1 = x.t;
      let t2 = y.t;
      if (!isConstIn(b, is32)) {
        if (!isConstIn(a, is32)) return -1;
        [t1, t2] = [t2, t1];
      }
      if ((~t1.mask & t1.value & t2.value) !== 0n) return 1;
      if (((t1.mask | t1.value) & t2.value) === 0n) return 0;
      return -1;
    }
    case JmpOp.JGT:
      return x.umin > y.umax ? 1 : x.umax <= y.umin ? 0 : -1;
    case JmpOp.JSGT:
      return x.smin > y.smax ? 1 : x.smax <= y.smin ? 0 : -1;
    case JmpOp.JLT:
      return x.umax < y.umin ? 1 : x.umin >= y.umax ? 0 : -1;
    case JmpOp.JSLT:
      return x.smax < y.smin ? 1 : x.smin >= y.smax ? 0 : -1;
    case JmpOp.JGE:
      return x.umin >= y.umax ? 1 : x.umax < y.umin ? 0 : -1;
    case JmpOp.JSGE:
      return x.smin >= y.smax ? 1 : x.smax < y.smin ? 0 : -1;
    case JmpOp.JLE:
      return x.umax <= y.umin ? 1 : x.umin > y.umax ? 0 : -1;
    case JmpOp.JSLE:
      return x.smax <= y.smin ? 1 : x.smin > y.smax ? 0 : -1;
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

const isPowerOfTwo = (v: bigint): boolean => v !== 0n && (v & (v - 1n)) === 0n;

/** regs_refine_cond_op: what `r1 OP r2` being true teaches about both. */
function refine(r1: Reg, r2: Reg, op: number, is32: boolean): void {
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
        const t = tnumIntersect(tnumSubreg(r1.var), tnumSubreg(r2.var));
        r1.var = tnumWithSubreg(r1.var, t);
        r2.var = tnumWithSubreg(r2.var, t);
      } else {
        r1.umin = maxBig(r1.umin, r2.umin);
        r1.umax = minBig(r1.umax, r2.umax);
        r1.smin = maxBig(r1.smin, r2.smin);
        r1.smax = minBig(r1.smax, r2.smax);
        r2.umin = r1.umin;
        r2.umax = r1.umax;
        r2.smin = r1.smin;
        r2.smax = r1.smax;
        r1.var = tnumIntersect(r1.var, r2.var);
        r2.var = r1.var;
      }
      return;
    case JmpOp.JNE: {
      if (!isConstIn(r2, is32)) [r1, r2] = [r2, r1];
      if (!isConstIn(r2, is32)) return;
      const val = constIn(r2, is32);
      // A constant at the edge of the other's range shrinks it by one.
      if (is32) {
        const u = lowU32(val);
        const s = u | 0;
        if (r1.u32min === u) r1.u32min++;
        if (r1.u32max === u) r1.u32max--;
        if (r1.s32min === s) r1.s32min++;
        if (r1.s32max === s) r1.s32max--;
      } else {
        if (r1.umin === val) r1.umin++;
        if (r1.umax === val) r1.umax--;
        if (r1.smin === toS64(val)) r1.smin++;
        if (r1.smax === toS64(val)) r1.smax--;
      }
      return;
    }
    case JmpOp.JSET: {
      if (!isConstIn(r2, is32)) [r1, r2] = [r2, r1];
      if (!isConstIn(r2, is32)) return;
      const val = constIn(r2, is32);
      // Only a single-bit test tells which bit is set.
      if (!isPowerOfTwo(val)) return;
      if (is32) r1.var = tnumWithSubreg(r1.var, tnumOr(tnumSubreg(r1.var), tnumConst(val)));
      else r1.var = tnumOr(r1.var, tnumConst(val));
      return;
    }
    case JSET_FALSE: {
      if (!isConstIn(r2, is32)) [r1, r2] = [r2, r1];
      if (!isConstIn(r2, is32)) return;
      const notVal = tnumConst(~constIn(r2, is32));
      // The kernel forgets the ranges first so that a dead branch cannot produce contradicting bounds.
      r1.markUnbounded64();
      r1.markUnbounded32();
      if (is32) r1.var = tnumWithSubreg(r1.var, tnumAnd(tnumSubreg(r1.var), notVal));
      else r1.var = tnumAnd(r1.var, notVal);
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
        r1.umax = minBig(r1.umax, toU64(r2.umax - BigInt(d)));
        r2.umin = maxBig(toU64(r1.umin + BigInt(d)), r2.umin);
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
        r1.smax = minBig(r1.smax, toS64(r2.smax - BigInt(d)));
        r2.smin = maxBig(toS64(r1.smin + BigInt(d)), r2.smin);
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
  const r1 = new Reg(a);
  const r2 = new Reg(b);
  refine(r1, r2, effective, is32);
  r1.sync();
  r2.sync();
  if (r1.violatesInvariants() || r2.violatesInvariants()) return undefined;
  return { a: r1.freeze(), b: r2.freeze() };
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
  const r = new Reg(a);
  refine(r, r, effective, is32);
  r.sync();
  r.sync();
  return r.violatesInvariants() ? undefined : r.freeze();
}

// ---------------------------------------------------------------- pruning and checks

/** range_within && tnum_in: every value `cur` may hold, `old` may hold too (state pruning). */
export function scalarWithin(old: Scalar, cur: Scalar): boolean {
  if (old === cur) return true;
  return (
    old.umin <= cur.umin && old.umax >= cur.umax &&
    old.smin <= cur.smin && old.smax >= cur.smax &&
    old.u32min <= cur.u32min && old.u32max >= cur.u32max &&
    old.s32min <= cur.s32min && old.s32max >= cur.s32max &&
    tnumIn(old.var, cur.var)
  );
}

/** Is the concrete `value` (mod 2^64) a member of `s`? */
export function scalarContains(s: Scalar, value: bigint): boolean {
  const u = toU64(value);
  const sv = toS64(u);
  const u32 = lowU32(u);
  const s32 = u32 | 0;
  return (
    tnumContains(s.var, u) &&
    u >= s.umin && u <= s.umax && sv >= s.smin && sv <= s.smax &&
    u32 >= s.u32min && u32 <= s.u32max && s32 >= s.s32min && s32 <= s.s32max
  );
}

// ---------------------------------------------------------------- log format

const SIGNED_DECIMAL_MIN = -0x8000n;
const SIGNED_DECIMAL_MAX = 0x7fffn;

/** verbose_snum: small values in decimal, others as the 64-bit pattern in hex. */
export function formatSigned(bits: bigint): string {
  const v = toS64(bits);
  return v >= SIGNED_DECIMAL_MIN && v <= SIGNED_DECIMAL_MAX ? v.toString() : hex(toU64(bits));
}

/**
 * The scalar's ranges as the 6.18 kernel's print_scalar_ranges prints them,
 * followed by ",var_off=..." unless var_off is entirely unknown: bounds at
 * their type's extreme are left out, and a bound equal to a later one of
 * the same kind (min or max) and sign is printed once under joined names
 * ("smax=umax=255").
 */
export function scalarRangesToString(s: Scalar): string {
  const s32minVal = BigInt(s.s32min);
  const s32maxVal = BigInt(s.s32max);
  const entries: { name: string; val: bigint; omit: boolean }[] = [
    { name: 'smin', val: toU64(s.smin), omit: s.smin === S64_MIN },
    { name: 'smax', val: toU64(s.smax), omit: s.smax === S64_MAX },
    { name: 'umin', val: s.umin, omit: s.umin === 0n },
    { name: 'umax', val: s.umax, omit: s.umax === U64_MAX },
    // Hex is printed without sign extension so that smin32=0xfffffffe does not read as a 64-bit number.
    { name: 'smin32', val: s32minVal >= SIGNED_DECIMAL_MIN && s32minVal <= SIGNED_DECIMAL_MAX ? toU64(s32minVal) : BigInt(s.s32min >>> 0), omit: s.s32min === S32_MIN },
    { name: 'smax32', val: s32maxVal >= SIGNED_DECIMAL_MIN && s32maxVal <= SIGNED_DECIMAL_MAX ? toU64(s32maxVal) : BigInt(s.s32max >>> 0), omit: s.s32max === S32_MAX },
    { name: 'umin32', val: BigInt(s.u32min), omit: s.u32min === 0 },
    { name: 'umax32', val: BigInt(s.u32max), omit: s.u32max === U32_MAX },
  ];
  const parts: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const first = entries[i]!;
    if (first.omit) continue;
    const negative = first.name[0] === 's' && toS64(first.val) < 0n;
    let text = `${first.name}=`;
    for (let j = i + 2; j < entries.length; j += 2) {
      const other = entries[j]!;
      if (other.omit || other.val !== first.val) continue;
      if ((other.name[0] === 's' && toS64(other.val) < 0n) !== negative) continue;
      other.omit = true;
      text += `${other.name}=`;
    }
    text += first.name[0] === 's' ? formatSigned(first.val) : formatUnsigned(first.val);
    parts.push(text);
  }
  if (!tnumIsUnknown(s.var)) parts.push(`var_off=${tnumToString(s.var)}`);
  return parts.join(',');
}

/** A scalar as the kernel prints a register holding it (without id or precision marks): "5" or "scalar(...)". */
export function scalarToString(s: Scalar): string {
  if (s.var.mask === 0n) return formatSigned(s.var.value);
  return `scalar(${scalarRangesToString(s)})`;
}
