/**
 * A scalar's abstract value as the kernel tracks it (the scalar part of
 * struct bpf_reg_state): known bits (a tnum) plus signed and unsigned
 * bounds in 64 and 32 bits, with the kernel's transfer functions for ALU
 * operations (adjust_scalar_min_max_vals), the bounds deductions between
 * the five views (reg_bounds_sync), branch decisions (is_scalar_branch_taken)
 * and branch refinement (regs_refine_cond_op), all from kernel/bpf/verifier.c.
 *
 * Values are immutable: states share them. Work happens on a mutable
 * record of bigints (`Work`) converted at the boundaries.
 */
import { AluOp, JmpOp } from '../isa/index.ts';
import {
  type Tnum,
  TNUM_UNKNOWN,
  tnumAdd,
  tnumAnd,
  tnumArshift,
  tnumCast,
  tnumClearSubreg,
  tnumConst,
  tnumIn,
  tnumIntersect,
  tnumIsConst,
  tnumLshift,
  tnumMul,
  tnumOr,
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

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const S64_MAX = 0x7fff_ffff_ffff_ffffn;
const S64_MIN = -0x8000_0000_0000_0000n;
const U32_MAX = 0xffff_ffffn;
const S32_MAX = 0x7fff_ffffn;
const S32_MIN = -0x8000_0000n;
const U16_MAX = 0xffffn;

const s64 = (v: bigint): bigint => BigInt.asIntN(64, v);
const u64 = (v: bigint): bigint => BigInt.asUintN(64, v);
const s32 = (v: bigint): bigint => BigInt.asIntN(32, v);
const u32 = (v: bigint): bigint => BigInt.asUintN(32, v);
const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** Mutable working copy: every bound as a bigint in its own domain (signed ones signed). */
interface Work {
  var: Tnum;
  smin: bigint;
  smax: bigint;
  umin: bigint;
  umax: bigint;
  s32min: bigint;
  s32max: bigint;
  u32min: bigint;
  u32max: bigint;
}

export const SCALAR_UNKNOWN: Scalar = Object.freeze({
  var: TNUM_UNKNOWN,
  smin: S64_MIN,
  smax: S64_MAX,
  umin: 0n,
  umax: U64_MAX,
  s32min: Number(S32_MIN),
  s32max: Number(S32_MAX),
  u32min: 0,
  u32max: Number(U32_MAX),
});

function work(s: Scalar): Work {
  return {
    var: s.var,
    smin: s.smin,
    smax: s.smax,
    umin: s.umin,
    umax: s.umax,
    s32min: BigInt(s.s32min),
    s32max: BigInt(s.s32max),
    u32min: BigInt(s.u32min),
    u32max: BigInt(s.u32max),
  };
}

function freeze(w: Work): Scalar {
  return {
    var: w.var,
    smin: w.smin,
    smax: w.smax,
    umin: w.umin,
    umax: w.umax,
    s32min: Number(w.s32min),
    s32max: Number(w.s32max),
    u32min: Number(w.u32min),
    u32max: Number(w.u32max),
  };
}

const constCache = new Map<bigint, Scalar>();

/** __mark_reg_known: every view is the constant. */
export function scalarConst(v: bigint): Scalar {
  const value = u64(v);
  let c = constCache.get(value);
  if (c === undefined) {
    c = freeze(knownWork(value));
    if (constCache.size < 4096) constCache.set(value, c);
  }
  return c;
}

function knownWork(value: bigint): Work {
  return { var: tnumConst(value), smin: s64(value), smax: s64(value), umin: value, umax: value, s32min: s32(value), s32max: s32(value), u32min: u32(value), u32max: u32(value) };
}

function markKnown32(w: Work, v: bigint): void {
  w.var = tnumWithSubreg(w.var, tnumConst(u32(v)));
  w.s32min = w.s32max = s32(v);
  w.u32min = w.u32max = u32(v);
}

function unbounded64(w: Work): void {
  w.smin = S64_MIN;
  w.smax = S64_MAX;
  w.umin = 0n;
  w.umax = U64_MAX;
}

function unbounded32(w: Work): void {
  w.s32min = S32_MIN;
  w.s32max = S32_MAX;
  w.u32min = 0n;
  w.u32max = U32_MAX;
}

export function scalarConstValue(s: Scalar): bigint | undefined {
  return tnumIsConst(s.var) ? s.var.value : undefined;
}

export function scalarConstValue32(s: Scalar): number | undefined {
  const sub = tnumSubreg(s.var);
  return tnumIsConst(sub) ? Number(sub.value) : undefined;
}

export function scalarIsUnknown(s: Scalar): boolean {
  return s.var.mask === U64_MAX && s.smin === S64_MIN && s.smax === S64_MAX && s.umin === 0n && s.umax === U64_MAX && s.s32min === SCALAR_UNKNOWN.s32min && s.s32max === SCALAR_UNKNOWN.s32max && s.u32min === 0 && s.u32max === SCALAR_UNKNOWN.u32max;
}

// ---- reg_bounds_sync -------------------------------------------------------------

function updateBounds32(w: Work): void {
  const v = tnumSubreg(w.var);
  w.s32min = max(w.s32min, s32(v.value | (v.mask & 0x8000_0000n)));
  w.s32max = min(w.s32max, s32(v.value | (v.mask & S32_MAX)));
  w.u32min = max(w.u32min, v.value);
  w.u32max = min(w.u32max, v.value | v.mask);
}

function updateBounds64(w: Work): void {
  w.smin = max(w.smin, s64(w.var.value | (w.var.mask & 0x8000_0000_0000_0000n)));
  w.smax = min(w.smax, s64(w.var.value | (w.var.mask & S64_MAX)));
  w.umin = max(w.umin, w.var.value);
  w.umax = min(w.umax, w.var.value | w.var.mask);
}

function updateBounds(w: Work): void {
  updateBounds32(w);
  updateBounds64(w);
}

function deduce32(w: Work): void {
  if (w.umin >> 32n === w.umax >> 32n) {
    w.u32min = max(w.u32min, u32(w.umin));
    w.u32max = min(w.u32max, u32(w.umax));
    if (s32(w.umin) <= s32(w.umax)) {
      w.s32min = max(w.s32min, s32(w.umin));
      w.s32max = min(w.s32max, s32(w.umax));
    }
  }
  if (w.smin >> 32n === w.smax >> 32n) {
    if (u32(w.smin) <= u32(w.smax)) {
      w.u32min = max(w.u32min, u32(w.smin));
      w.u32max = min(w.u32max, u32(w.smax));
    }
    if (s32(w.smin) <= s32(w.smax)) {
      w.s32min = max(w.s32min, s32(w.smin));
      w.s32max = min(w.s32max, s32(w.smax));
    }
  }
  if (u32(u32(w.umin >> 32n) + 1n) === u32(w.umax >> 32n) && s32(w.umin) < 0n && s32(w.umax) >= 0n) {
    w.s32min = max(w.s32min, s32(w.umin));
    w.s32max = min(w.s32max, s32(w.umax));
  }
  if (u32(u32(u64(w.smin) >> 32n) + 1n) === u32(u64(w.smax) >> 32n) && s32(w.smin) < 0n && s32(w.smax) >= 0n) {
    w.s32min = max(w.s32min, s32(w.smin));
    w.s32max = min(w.s32max, s32(w.smax));
  }
  if (s32(w.u32min) <= s32(w.u32max)) {
    w.s32min = max(w.s32min, s32(w.u32min));
    w.s32max = min(w.s32max, s32(w.u32max));
  }
  if (u32(w.s32min) <= u32(w.s32max)) {
    w.u32min = max(u32(w.s32min), w.u32min);
    w.u32max = min(u32(w.s32max), w.u32max);
  } else if (w.u32max < u32(w.s32min)) {
    w.s32min = s32(w.u32min);
    w.u32max = min(w.u32max, u32(w.s32max));
  } else if (u32(w.s32max) < w.u32min) {
    w.s32max = s32(w.u32max);
    w.u32min = max(w.u32min, u32(w.s32min));
  }
}

function deduce64(w: Work): void {
  if (s64(w.umin) <= s64(w.umax)) {
    w.smin = max(w.smin, s64(w.umin));
    w.smax = min(w.smax, s64(w.umax));
  }
  if (u64(w.smin) <= u64(w.smax)) {
    w.umin = max(u64(w.smin), w.umin);
    w.umax = min(u64(w.smax), w.umax);
  } else if (w.umax < u64(w.smin)) {
    w.smin = s64(w.umin);
    w.umax = min(w.umax, u64(w.smax));
  } else if (u64(w.smax) < w.umin) {
    w.smax = s64(w.umax);
    w.umin = max(w.umin, u64(w.smin));
  }
}

function deduceMixed(w: Work): void {
  const HIGH = ~U32_MAX & U64_MAX;
  let newUmin = (w.umin & HIGH) | w.u32min;
  let newUmax = (w.umax & HIGH) | w.u32max;
  w.umin = max(w.umin, newUmin);
  w.umax = min(w.umax, newUmax);
  let newSmin = s64((u64(w.smin) & HIGH) | w.u32min);
  let newSmax = s64((u64(w.smax) & HIGH) | w.u32max);
  w.smin = max(w.smin, newSmin);
  w.smax = min(w.smax, newSmax);
  if (u32(w.s32min) <= u32(w.s32max)) {
    newUmin = (w.umin & HIGH) | u32(w.s32min);
    newUmax = (w.umax & HIGH) | u32(w.s32max);
    w.umin = max(w.umin, newUmin);
    w.umax = min(w.umax, newUmax);
    newSmin = s64((u64(w.smin) & HIGH) | u32(w.s32min));
    newSmax = s64((u64(w.smax) & HIGH) | u32(w.s32max));
    w.smin = max(w.smin, newSmin);
    w.smax = min(w.smax, newSmax);
  }
  if (w.s32min >= 0n && w.smin >= S32_MIN && w.smax <= S32_MAX) {
    w.smin = w.s32min;
    w.smax = w.s32max;
    w.umin = w.s32min;
    w.umax = w.s32max;
    w.var = tnumIntersect(w.var, tnumRange(w.smin, w.smax));
  }
}

function deduce(w: Work): void {
  deduce32(w);
  deduce64(w);
  deduceMixed(w);
}

function boundOffset(w: Work): void {
  const var64 = tnumIntersect(w.var, tnumRange(w.umin, w.umax));
  const var32 = tnumIntersect(tnumSubreg(var64), tnumRange(w.u32min, w.u32max));
  w.var = tnumOr(tnumClearSubreg(var64), var32);
}

function sync(w: Work): void {
  updateBounds(w);
  deduce(w);
  deduce(w);
  deduce(w);
  boundOffset(w);
  updateBounds(w);
}

export function scalarSync(s: Scalar): Scalar {
  const w = work(s);
  sync(w);
  return freeze(w);
}

/** Whether the bounds are contradictory (an impossible value, as after refining an untakeable branch). */
function inconsistent(w: Work): boolean {
  if (w.umin > w.umax || w.smin > w.smax || w.u32min > w.u32max || w.s32min > w.s32max) return true;
  if (tnumIsConst(w.var)) {
    const v = w.var.value;
    if (w.umin !== v || w.umax !== v || w.smin !== s64(v) || w.smax !== s64(v)) return true;
  }
  const sub = tnumSubreg(w.var);
  if (tnumIsConst(sub)) {
    const v = sub.value;
    if (w.u32min !== v || w.u32max !== v || w.s32min !== s32(v) || w.s32max !== s32(v)) return true;
  }
  return false;
}

// ---- ALU ---------------------------------------------------------------------------

function assign32Into64(w: Work): void {
  w.umin = w.u32min;
  w.umax = w.u32max;
  if (w.s32min >= 0n && w.s32max >= 0n) {
    w.smin = w.s32min;
    w.smax = w.s32max;
  } else {
    w.smin = 0n;
    w.smax = U32_MAX;
  }
}

function zext32(w: Work): void {
  w.var = tnumSubreg(w.var);
  assign32Into64(w);
}

function add32(d: Work, s: Work): void {
  const smin = d.s32min + s.s32min;
  const smax = d.s32max + s.s32max;
  if (smin !== s32(smin) || smax !== s32(smax)) {
    d.s32min = S32_MIN;
    d.s32max = S32_MAX;
  } else {
    d.s32min = smin;
    d.s32max = smax;
  }
  const umin = d.u32min + s.u32min;
  const umax = d.u32max + s.u32max;
  if (umin > U32_MAX || umax > U32_MAX) {
    d.u32min = 0n;
    d.u32max = U32_MAX;
  } else {
    d.u32min = umin;
    d.u32max = umax;
  }
}

function add64(d: Work, s: Work): void {
  const smin = d.smin + s.smin;
  const smax = d.smax + s.smax;
  if (smin !== s64(smin) || smax !== s64(smax)) {
    d.smin = S64_MIN;
    d.smax = S64_MAX;
  } else {
    d.smin = smin;
    d.smax = smax;
  }
  const umin = d.umin + s.umin;
  const umax = d.umax + s.umax;
  if (umin > U64_MAX || umax > U64_MAX) {
    d.umin = 0n;
    d.umax = U64_MAX;
  } else {
    d.umin = umin;
    d.umax = umax;
  }
}

function sub32(d: Work, s: Work): void {
  const smin = d.s32min - s.s32max;
  const smax = d.s32max - s.s32min;
  if (smin !== s32(smin) || smax !== s32(smax)) {
    d.s32min = S32_MIN;
    d.s32max = S32_MAX;
  } else {
    d.s32min = smin;
    d.s32max = smax;
  }
  if (d.u32min < s.u32max) {
    d.u32min = 0n;
    d.u32max = U32_MAX;
  } else {
    d.u32min -= s.u32max;
    d.u32max -= s.u32min;
  }
}

function sub64(d: Work, s: Work): void {
  const smin = d.smin - s.smax;
  const smax = d.smax - s.smin;
  if (smin !== s64(smin) || smax !== s64(smax)) {
    d.smin = S64_MIN;
    d.smax = S64_MAX;
  } else {
    d.smin = smin;
    d.smax = smax;
  }
  if (d.umin < s.umax) {
    d.umin = 0n;
    d.umax = U64_MAX;
  } else {
    d.umin -= s.umax;
    d.umax -= s.umin;
  }
}

function mul32(d: Work, s: Work): void {
  if (s.s32min < 0n || d.s32min < 0n || s.u32max > U16_MAX || d.u32max > U16_MAX) {
    unbounded32(d);
    return;
  }
  d.u32min *= s.u32min;
  d.u32max *= s.u32max;
  if (d.u32max > S32_MAX) {
    d.s32min = S32_MIN;
    d.s32max = S32_MAX;
  } else {
    d.s32min = d.u32min;
    d.s32max = d.u32max;
  }
}

function mul64(d: Work, s: Work): void {
  if (s.smin < 0n || d.smin < 0n || s.umax > U32_MAX || d.umax > U32_MAX) {
    unbounded64(d);
    return;
  }
  d.umin *= s.umin;
  d.umax *= s.umax;
  if (d.umax > S64_MAX) {
    d.smin = S64_MIN;
    d.smax = S64_MAX;
  } else {
    d.smin = d.umin;
    d.smax = d.umax;
  }
}

/** AND/OR/XOR in 32 bits after the tnum was computed: bounds from the known bits. */
function bitwise32(d: Work, s: Work, op: number): void {
  const srcKnown = tnumIsConst(tnumSubreg(s.var));
  const dstKnown = tnumIsConst(tnumSubreg(d.var));
  const v = tnumSubreg(d.var);
  if (srcKnown && dstKnown) {
    markKnown32(d, v.value);
    return;
  }
  if (op === AluOp.AND) {
    d.u32min = v.value;
    d.u32max = min(d.u32max, s.u32max);
  } else if (op === AluOp.OR) {
    d.u32min = max(d.u32min, s.u32min);
    d.u32max = v.value | v.mask;
  } else {
    d.u32min = v.value;
    d.u32max = v.value | v.mask;
  }
  if (s32(d.u32min) <= s32(d.u32max)) {
    d.s32min = s32(d.u32min);
    d.s32max = s32(d.u32max);
  } else {
    d.s32min = S32_MIN;
    d.s32max = S32_MAX;
  }
}

function bitwise64(d: Work, s: Work, op: number): void {
  const srcKnown = tnumIsConst(s.var);
  const dstKnown = tnumIsConst(d.var);
  if (srcKnown && dstKnown) {
    const k = knownWork(d.var.value);
    d.smin = k.smin;
    d.smax = k.smax;
    d.umin = k.umin;
    d.umax = k.umax;
    return;
  }
  if (op === AluOp.AND) {
    d.umin = d.var.value;
    d.umax = min(d.umax, s.umax);
  } else if (op === AluOp.OR) {
    d.umin = max(d.umin, s.umin);
    d.umax = d.var.value | d.var.mask;
  } else {
    d.umin = d.var.value;
    d.umax = d.var.value | d.var.mask;
  }
  if (s64(d.umin) <= s64(d.umax)) {
    d.smin = s64(d.umin);
    d.smax = s64(d.umax);
  } else {
    d.smin = S64_MIN;
    d.smax = S64_MAX;
  }
  updateBounds(d);
}

function lsh32Bounds(d: Work, umin: bigint, umax: bigint): void {
  d.s32min = S32_MIN;
  d.s32max = S32_MAX;
  if (umax > 31n || d.u32max > 1n << (31n - umax)) {
    d.u32min = 0n;
    d.u32max = U32_MAX;
  } else {
    d.u32min = u32(d.u32min << umin);
    d.u32max = u32(d.u32max << umax);
  }
}

function lsh64Bounds(d: Work, umin: bigint, umax: bigint): void {
  if (umin === 32n && umax === 32n) {
    d.smax = d.s32max << 32n;
    d.smin = d.s32min << 32n;
  } else {
    d.smax = S64_MAX;
    d.smin = S64_MIN;
  }
  if (umax > 63n || d.umax > 1n << (63n - umax)) {
    d.umin = 0n;
    d.umax = U64_MAX;
  } else {
    d.umin = u64(d.umin << umin);
    d.umax = u64(d.umax << umax);
  }
}

function shiftsComputable(src: Work, alu32: boolean): boolean {
  const bits = alu32 ? 32n : 64n;
  if (alu32) return tnumIsConst(tnumSubreg(src.var)) && src.s32min === src.s32max && src.u32min === src.u32max && src.umax < bits;
  return tnumIsConst(src.var) && src.smin === src.smax && src.umin === src.umax && src.umax < bits;
}

/**
 * adjust_scalar_min_max_vals: `dst OP src` for scalars. DIV and MOD (and
 * shifts by unknown amounts) give an unknown value, as in the kernel.
 */
export function scalarAlu(op: number, dst: Scalar, src: Scalar, alu32: boolean, signedDivMod = false): Scalar {
  void signedDivMod;
  const folded = constantFold(op, dst, src, alu32);
  if (folded !== undefined) return folded;
  const d = work(dst);
  const s = work(src);
  switch (op) {
    case AluOp.ADD:
      add32(d, s);
      add64(d, s);
      d.var = tnumAdd(d.var, s.var);
      break;
    case AluOp.SUB:
      sub32(d, s);
      sub64(d, s);
      d.var = tnumSub(d.var, s.var);
      break;
    case AluOp.MUL:
      d.var = tnumMul(d.var, s.var);
      mul32(d, s);
      mul64(d, s);
      break;
    case AluOp.AND:
      d.var = tnumAnd(d.var, s.var);
      bitwise32(d, s, op);
      bitwise64(d, s, op);
      break;
    case AluOp.OR:
      d.var = tnumOr(d.var, s.var);
      bitwise32(d, s, op);
      bitwise64(d, s, op);
      break;
    case AluOp.XOR:
      d.var = tnumXor(d.var, s.var);
      bitwise32(d, s, op);
      bitwise64(d, s, op);
      break;
    case AluOp.LSH:
    case AluOp.RSH:
    case AluOp.ARSH:
      if (!shiftsComputable(s, alu32)) return alu32 ? scalarZext32(SCALAR_UNKNOWN) : SCALAR_UNKNOWN;
      shift(d, s, op, alu32);
      break;
    default:
      return alu32 ? scalarZext32(SCALAR_UNKNOWN) : SCALAR_UNKNOWN;
  }
  if (alu32) zext32(d);
  sync(d);
  return freeze(d);
}

/**
 * Both operands known: the result is the constant the kernel's bounds
 * collapse to after reg_bounds_sync (DIV/MOD and out-of-range shifts stay
 * unknown, as there). Computed directly because most scalars are constants.
 */
function constantFold(op: number, dst: Scalar, src: Scalar, alu32: boolean): Scalar | undefined {
  if (!tnumIsConst(dst.var) || !tnumIsConst(src.var)) return undefined;
  const bits = alu32 ? 32 : 64;
  const a = alu32 ? u32(dst.var.value) : dst.var.value;
  const b = alu32 ? u32(src.var.value) : src.var.value;
  const wrap = (v: bigint): Scalar => scalarConst(alu32 ? u32(v) : u64(v));
  switch (op) {
    case AluOp.ADD: return wrap(a + b);
    case AluOp.SUB: return wrap(a - b);
    case AluOp.MUL: return wrap(a * b);
    case AluOp.AND: return wrap(a & b);
    case AluOp.OR: return wrap(a | b);
    case AluOp.XOR: return wrap(a ^ b);
    case AluOp.LSH: return b < BigInt(bits) ? wrap(a << b) : undefined;
    case AluOp.RSH: return b < BigInt(bits) ? wrap(a >> b) : undefined;
    case AluOp.ARSH: return b < BigInt(bits) ? wrap(BigInt.asIntN(bits, a) >> b) : undefined;
    default: return undefined;
  }
}

function shift(d: Work, s: Work, op: number, alu32: boolean): void {
  if (op === AluOp.LSH) {
    if (alu32) {
      const sub = tnumSubreg(d.var);
      lsh32Bounds(d, s.u32min, s.u32max);
      d.var = tnumSubreg(tnumLshift(sub, Number(s.u32min)));
      unbounded64(d);
      updateBounds32(d);
    } else {
      lsh64Bounds(d, s.umin, s.umax);
      lsh32Bounds(d, s.umin, s.umax);
      d.var = tnumLshift(d.var, Number(s.umin));
      updateBounds(d);
    }
  } else if (op === AluOp.RSH) {
    if (alu32) {
      const sub = tnumSubreg(d.var);
      d.s32min = S32_MIN;
      d.s32max = S32_MAX;
      d.var = tnumRshift(sub, Number(s.u32min));
      d.u32min >>= s.u32max;
      d.u32max >>= s.u32min;
      unbounded64(d);
      updateBounds32(d);
    } else {
      d.smin = S64_MIN;
      d.smax = S64_MAX;
      d.var = tnumRshift(d.var, Number(s.umin));
      d.umin >>= s.umax;
      d.umax >>= s.umin;
      unbounded32(d);
      updateBounds(d);
    }
  } else if (alu32) {
    const k = s.u32min;
    d.s32min = s32(u32(d.s32min >> k));
    d.s32max = s32(u32(d.s32max >> k));
    d.var = tnumArshift(tnumSubreg(d.var), Number(k), 32);
    d.u32min = 0n;
    d.u32max = U32_MAX;
    unbounded64(d);
    updateBounds32(d);
  } else {
    const k = s.umin;
    d.smin >>= k;
    d.smax >>= k;
    d.var = tnumArshift(d.var, Number(k), 64);
    d.umin = 0n;
    d.umax = U64_MAX;
    unbounded32(d);
    updateBounds(d);
  }
}

/** BPF_NEG: the kernel tracks it as 0 - dst. */
export function scalarNeg(s: Scalar, alu32: boolean): Scalar {
  return scalarAlu(AluOp.SUB, scalarConst(0n), s, alu32);
}

/** BPF_END: a swap of a constant is a constant; anything else is unknown in the swapped width. */
export function scalarBswap(s: Scalar, bits: 16 | 32 | 64): Scalar {
  if (tnumIsConst(s.var)) {
    let v = s.var.value;
    let out = 0n;
    for (let i = 0; i < bits / 8; i++) {
      out = (out << 8n) | (v & 0xffn);
      v >>= 8n;
    }
    return scalarConst(out);
  }
  return SCALAR_UNKNOWN;
}

/** Upper 32 bits cleared (a w-register write). */
export function scalarZext32(s: Scalar): Scalar {
  const w = work(s);
  zext32(w);
  sync(w);
  return freeze(w);
}

/** coerce_reg_to_size: a zero-extending load or truncation to `sizeBytes`. */
export function scalarTruncate(s: Scalar, sizeBytes: 1 | 2 | 4 | 8): Scalar {
  if (sizeBytes === 8) return s;
  const w = work(s);
  w.var = tnumCast(w.var, sizeBytes);
  const mask = (1n << BigInt(sizeBytes * 8)) - 1n;
  if ((w.umin & ~mask) === (w.umax & ~mask)) {
    w.umin &= mask;
    w.umax &= mask;
  } else {
    w.umin = 0n;
    w.umax = mask;
  }
  w.smin = w.umin;
  w.smax = w.umax;
  if (sizeBytes < 4) unbounded32(w);
  sync(w);
  return freeze(w);
}

/** coerce_reg_to_size_sx: a sign-extending load (or movsx from 64-bit) of `sizeBytes`. */
export function scalarSignExtend(s: Scalar, sizeBytes: 1 | 2 | 4): Scalar {
  const bits = BigInt(sizeBytes * 8);
  if (tnumIsConst(s.var)) return scalarConst(BigInt.asIntN(Number(bits), s.var.value));
  const topMax = (u64(s.smax) >> bits) << bits;
  const topMin = (u64(s.smin) >> bits) << bits;
  if (topMax === topMin) {
    const a = BigInt.asIntN(Number(bits), s.smax);
    const b = BigInt.asIntN(Number(bits), s.smin);
    const hi = max(a, b);
    const lo = min(a, b);
    if (hi >= 0n === lo >= 0n) {
      const w: Work = { var: tnumRange(u64(lo), u64(hi)), smin: lo, smax: hi, umin: u64(lo), umax: u64(hi), s32min: s32(lo), s32max: s32(hi), u32min: u32(lo), u32max: u32(hi) };
      return freeze(w);
    }
  }
  const limit = 1n << (bits - 1n);
  const w: Work = { var: TNUM_UNKNOWN, smin: -limit, smax: limit - 1n, umin: 0n, umax: U64_MAX, s32min: -limit, s32max: limit - 1n, u32min: 0n, u32max: U32_MAX };
  return freeze(w);
}

/** movsx: `dst = (sN)src` in 64 bits, or `w = (sN)w` (zero-extended) in 32. */
export function scalarMovSx(s: Scalar, fromBits: 8 | 16 | 32, alu32: boolean): Scalar {
  const bytes = (fromBits / 8) as 1 | 2 | 4;
  if (!alu32) return scalarSignExtend(s, bytes);
  const w = work(s);
  const bits = BigInt(fromBits);
  if (tnumIsConst(w.var)) {
    const v = u32(BigInt.asIntN(fromBits, w.var.value));
    return scalarConst(v);
  }
  const topMax = (u32(w.s32max) >> bits) << bits;
  const topMin = (u32(w.s32min) >> bits) << bits;
  let out: Work;
  if (topMax === topMin) {
    const a = BigInt.asIntN(fromBits, w.s32max);
    const b = BigInt.asIntN(fromBits, w.s32min);
    const hi = max(a, b);
    const lo = min(a, b);
    if (hi >= 0n === lo >= 0n) {
      out = { ...w, s32min: lo, s32max: hi, u32min: u32(lo), u32max: u32(hi), var: tnumRange(u32(lo), u32(hi)) };
      zext32(out);
      sync(out);
      return freeze(out);
    }
  }
  const limit = 1n << (bits - 1n);
  out = { ...w, s32min: -limit, s32max: limit - 1n, u32min: 0n, u32max: U32_MAX, var: tnumSubreg(TNUM_UNKNOWN) };
  zext32(out);
  sync(out);
  return freeze(out);
}

/** A scalar in [umin, umax] (unsigned). */
export function scalarFromRange(umin: bigint, umax: bigint): Scalar {
  const w: Work = { ...work(SCALAR_UNKNOWN), umin, umax, var: tnumRange(umin, umax) };
  sync(w);
  return freeze(w);
}

// ---- branches ------------------------------------------------------------------------

function overlap(a: Tnum, b: Tnum): boolean {
  const mu = ~a.mask & ~b.mask & U64_MAX;
  return (a.value & mu) === (b.value & mu);
}

function isConstFor(s: Scalar, is32: boolean): boolean {
  return tnumIsConst(is32 ? tnumSubreg(s.var) : s.var);
}

function constFor(s: Scalar, is32: boolean): bigint {
  return is32 ? tnumSubreg(s.var).value : s.var.value;
}

/** is_scalar_branch_taken: 1 when the jump is always taken, 0 never, -1 when both can happen. */
export function branchTaken(a: Scalar, b: Scalar, op: number, is32: boolean): 1 | 0 | -1 {
  const t1 = is32 ? tnumSubreg(a.var) : a.var;
  const t2 = is32 ? tnumSubreg(b.var) : b.var;
  const umin1 = is32 ? BigInt(a.u32min) : a.umin;
  const umax1 = is32 ? BigInt(a.u32max) : a.umax;
  const smin1 = is32 ? BigInt(a.s32min) : a.smin;
  const smax1 = is32 ? BigInt(a.s32max) : a.smax;
  const umin2 = is32 ? BigInt(b.u32min) : b.umin;
  const umax2 = is32 ? BigInt(b.u32max) : b.umax;
  const smin2 = is32 ? BigInt(b.s32min) : b.smin;
  const smax2 = is32 ? BigInt(b.s32max) : b.smax;
  const disjoint = (): boolean =>
    !overlap(t1, t2) ||
    umin1 > umax2 || umax1 < umin2 || smin1 > smax2 || smax1 < smin2 ||
    (!is32 && (a.u32min > b.u32max || a.u32max < b.u32min || a.s32min > b.s32max || a.s32max < b.s32min));
  switch (op) {
    case JmpOp.JEQ:
      if (tnumIsConst(t1) && tnumIsConst(t2)) return t1.value === t2.value ? 1 : 0;
      return disjoint() ? 0 : -1;
    case JmpOp.JNE:
      if (tnumIsConst(t1) && tnumIsConst(t2)) return t1.value !== t2.value ? 1 : 0;
      return disjoint() ? 1 : -1;
    case JmpOp.JSET: {
      let x = t1;
      let k = b;
      if (!isConstFor(k, is32)) {
        x = t2;
        k = a;
      }
      if (!isConstFor(k, is32)) return -1;
      const v = constFor(k, is32);
      if ((~x.mask & x.value & v) !== 0n) return 1;
      if (((x.mask | x.value) & v) === 0n) return 0;
      return -1;
    }
    case JmpOp.JGT:
      return umin1 > umax2 ? 1 : umax1 <= umin2 ? 0 : -1;
    case JmpOp.JSGT:
      return smin1 > smax2 ? 1 : smax1 <= smin2 ? 0 : -1;
    case JmpOp.JLT:
      return umax1 < umin2 ? 1 : umin1 >= umax2 ? 0 : -1;
    case JmpOp.JSLT:
      return smax1 < smin2 ? 1 : smin1 >= smax2 ? 0 : -1;
    case JmpOp.JGE:
      return umin1 >= umax2 ? 1 : umax1 < umin2 ? 0 : -1;
    case JmpOp.JSGE:
      return smin1 >= smax2 ? 1 : smax1 < smin2 ? 0 : -1;
    case JmpOp.JLE:
      return umax1 <= umin2 ? 1 : umin1 > umax2 ? 0 : -1;
    case JmpOp.JSLE:
      return smax1 <= smin2 ? 1 : smin1 > smax2 ? 0 : -1;
    default:
      return -1;
  }
}

/** The opposite condition (rev_opcode); JSET's opposite is "no bit set". */
const JSET_NONE = JmpOp.JSET | 0x08;
function reverse(op: number): number {
  switch (op) {
    case JmpOp.JEQ: return JmpOp.JNE;
    case JmpOp.JNE: return JmpOp.JEQ;
    case JmpOp.JSET: return JSET_NONE;
    case JmpOp.JGE: return JmpOp.JLT;
    case JmpOp.JGT: return JmpOp.JLE;
    case JmpOp.JLE: return JmpOp.JGT;
    case JmpOp.JLT: return JmpOp.JGE;
    case JmpOp.JSGE: return JmpOp.JSLT;
    case JmpOp.JSGT: return JmpOp.JSLE;
    case JmpOp.JSLE: return JmpOp.JSGT;
    case JmpOp.JSLT: return JmpOp.JSGE;
    default: return op;
  }
}

function flip(op: number): number {
  switch (op) {
    case JmpOp.JGE: return JmpOp.JLE;
    case JmpOp.JGT: return JmpOp.JLT;
    case JmpOp.JLE: return JmpOp.JGE;
    case JmpOp.JLT: return JmpOp.JGT;
    case JmpOp.JSGE: return JmpOp.JSLE;
    case JmpOp.JSGT: return JmpOp.JSLT;
    case JmpOp.JSLE: return JmpOp.JSGE;
    case JmpOp.JSLT: return JmpOp.JSGT;
    default: return op;
  }
}

const workConst = (w: Work, is32: boolean): boolean => tnumIsConst(is32 ? tnumSubreg(w.var) : w.var);
const workConstValue = (w: Work, is32: boolean): bigint => (is32 ? tnumSubreg(w.var).value : w.var.value);

/** regs_refine_cond_op on working copies. */
function refine(r1: Work, r2: Work, opcode: number, is32: boolean): void {
  let a = r1;
  let b = r2;
  let op = opcode;
  if (op === JmpOp.JGE || op === JmpOp.JGT || op === JmpOp.JSGE || op === JmpOp.JSGT) {
    op = flip(op);
    [a, b] = [b, a];
  }
  switch (op) {
    case JmpOp.JEQ:
      if (is32) {
        a.u32min = max(a.u32min, b.u32min);
        a.u32max = min(a.u32max, b.u32max);
        a.s32min = max(a.s32min, b.s32min);
        a.s32max = min(a.s32max, b.s32max);
        b.u32min = a.u32min;
        b.u32max = a.u32max;
        b.s32min = a.s32min;
        b.s32max = a.s32max;
        const t = tnumIntersect(tnumSubreg(a.var), tnumSubreg(b.var));
        a.var = tnumWithSubreg(a.var, t);
        b.var = tnumWithSubreg(b.var, t);
      } else {
        a.umin = max(a.umin, b.umin);
        a.umax = min(a.umax, b.umax);
        a.smin = max(a.smin, b.smin);
        a.smax = min(a.smax, b.smax);
        b.umin = a.umin;
        b.umax = a.umax;
        b.smin = a.smin;
        b.smax = a.smax;
        a.var = tnumIntersect(a.var, b.var);
        b.var = a.var;
      }
      return;
    case JmpOp.JNE: {
      if (!workConst(b, is32)) [a, b] = [b, a];
      if (!workConst(b, is32)) return;
      const val = workConstValue(b, is32);
      if (is32) {
        if (a.u32min === u32(val)) a.u32min++;
        if (a.u32max === u32(val)) a.u32max--;
        if (a.s32min === s32(val)) a.s32min++;
        if (a.s32max === s32(val)) a.s32max--;
      } else {
        if (a.umin === val) a.umin++;
        if (a.umax === val) a.umax--;
        if (a.smin === s64(val)) a.smin++;
        if (a.smax === s64(val)) a.smax--;
      }
      return;
    }
    case JmpOp.JSET: {
      if (!workConst(b, is32)) [a, b] = [b, a];
      if (!workConst(b, is32)) return;
      const val = workConstValue(b, is32);
      if (val === 0n || (val & (val - 1n)) !== 0n) return;
      if (is32) a.var = tnumWithSubreg(a.var, tnumOr(tnumSubreg(a.var), tnumConst(val)));
      else a.var = tnumOr(a.var, tnumConst(val));
      return;
    }
    case JSET_NONE: {
      if (!workConst(b, is32)) [a, b] = [b, a];
      if (!workConst(b, is32)) return;
      const val = workConstValue(b, is32);
      unbounded32(a);
      unbounded64(a);
      if (is32) a.var = tnumWithSubreg(a.var, tnumAnd(tnumSubreg(a.var), tnumConst(~val & U32_MAX)));
      else a.var = tnumAnd(a.var, tnumConst(~val & U64_MAX));
      return;
    }
    case JmpOp.JLE:
      if (is32) {
        a.u32max = min(a.u32max, b.u32max);
        b.u32min = max(a.u32min, b.u32min);
      } else {
        a.umax = min(a.umax, b.umax);
        b.umin = max(a.umin, b.umin);
      }
      return;
    case JmpOp.JLT:
      if (is32) {
        a.u32max = min(a.u32max, u32(b.u32max - 1n));
        b.u32min = max(u32(a.u32min + 1n), b.u32min);
      } else {
        a.umax = min(a.umax, u64(b.umax - 1n));
        b.umin = max(u64(a.umin + 1n), b.umin);
      }
      return;
    case JmpOp.JSLE:
      if (is32) {
        a.s32max = min(a.s32max, b.s32max);
        b.s32min = max(a.s32min, b.s32min);
      } else {
        a.smax = min(a.smax, b.smax);
        b.smin = max(a.smin, b.smin);
      }
      return;
    case JmpOp.JSLT:
      if (is32) {
        a.s32max = min(a.s32max, s32(b.s32max - 1n));
        b.s32min = max(s32(a.s32min + 1n), b.s32min);
      } else {
        a.smax = min(a.smax, s64(b.smax - 1n));
        b.smin = max(s64(a.smin + 1n), b.smin);
      }
      return;
    default:
      return;
  }
}

/**
 * The values of `a` and `b` on the side of the branch `a OP b` where the
 * condition is `taken` (or not); undefined when that side cannot happen.
 */
export function refineBranch(a: Scalar, b: Scalar, op: number, is32: boolean, taken: boolean): { a: Scalar; b: Scalar } | undefined {
  const w1 = work(a);
  const w2 = work(b);
  refine(w1, w2, taken ? op : reverse(op), is32);
  sync(w1);
  sync(w2);
  if (inconsistent(w1) || inconsistent(w2)) return undefined;
  return { a: freeze(w1), b: freeze(w2) };
}

/** range_within && tnum_in: every value of `cur` is a value of `old`. */
export function scalarWithin(old: Scalar, cur: Scalar): boolean {
  return (
    old.umin <= cur.umin && old.umax >= cur.umax && old.smin <= cur.smin && old.smax >= cur.smax &&
    old.u32min <= cur.u32min && old.u32max >= cur.u32max && old.s32min <= cur.s32min && old.s32max >= cur.s32max &&
    tnumIn(old.var, cur.var)
  );
}

/** Whether `value` (any 64-bit pattern) is one of the values `s` describes. */
export function scalarContains(s: Scalar, value: bigint): boolean {
  const u = u64(value);
  const v32 = u32(u);
  return (
    (u & ~s.var.mask & U64_MAX) === s.var.value &&
    u >= s.umin && u <= s.umax && s64(u) >= s.smin && s64(u) <= s.smax &&
    v32 >= BigInt(s.u32min) && v32 <= BigInt(s.u32max) && s32(v32) >= BigInt(s.s32min) && s32(v32) <= BigInt(s.s32max)
  );
}

/** print_scalar_ranges (kernel/bpf/log.c): bounds that are not the defaults, equal ones merged, then var_off. */
export function scalarRangesToString(s: Scalar): string {
  const snumDecimal = (v: bigint): boolean => v >= -32768n && v <= 32767n;
  const entries = [
    { name: 'smin', val: u64(s.smin), omit: s.smin === S64_MIN, signed: true },
    { name: 'smax', val: u64(s.smax), omit: s.smax === S64_MAX, signed: true },
    { name: 'umin', val: s.umin, omit: s.umin === 0n, signed: false },
    { name: 'umax', val: s.umax, omit: s.umax === U64_MAX, signed: false },
    { name: 'smin32', val: snumDecimal(BigInt(s.s32min)) ? u64(BigInt(s.s32min)) : u32(BigInt(s.s32min)), omit: BigInt(s.s32min) === S32_MIN, signed: true },
    { name: 'smax32', val: snumDecimal(BigInt(s.s32max)) ? u64(BigInt(s.s32max)) : u32(BigInt(s.s32max)), omit: BigInt(s.s32max) === S32_MAX, signed: true },
    { name: 'umin32', val: BigInt(s.u32min), omit: s.u32min === 0, signed: false },
    { name: 'umax32', val: BigInt(s.u32max), omit: BigInt(s.u32max) === U32_MAX, signed: false },
  ];
  const parts: string[] = [];
  for (let i = 0; i < entries.length; i++) {
    const m1 = entries[i]!;
    if (m1.omit) continue;
    const neg1 = m1.signed && s64(m1.val) < 0n;
    let text = `${m1.name}=`;
    for (let j = i + 2; j < entries.length; j += 2) {
      const m2 = entries[j]!;
      if (m2.omit || m2.val !== m1.val) continue;
      const neg2 = m2.signed && s64(m2.val) < 0n;
      if (neg2 !== neg1) continue;
      m2.omit = true;
      text += `${m2.name}=`;
    }
    text += m1.signed ? snum(m1.val) : unum(m1.val);
    parts.push(text);
  }
  if (s.var.mask !== U64_MAX) parts.push(`var_off=${tnumToString(s.var)}`);
  return parts.join(',');
}

function snum(v: bigint): string {
  const x = s64(v);
  return x >= -32768n && x <= 32767n ? String(x) : `0x${u64(v).toString(16)}`;
}

function unum(v: bigint): string {
  return v <= U16_MAX ? String(v) : `0x${v.toString(16)}`;
}
