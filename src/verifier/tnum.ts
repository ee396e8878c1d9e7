/**
 * Tracked numbers ("tnums"), the kernel's known-bits domain
 * (kernel/bpf/tnum.c): every bit of a 64-bit value is known 0, known 1 or
 * unknown. `mask` has a 1 for each unknown bit, `value` the known bits, and
 * `value & mask` is always 0. Both are bigints in [0, 2^64).
 *
 * Results are fresh frozen-by-convention objects; callers share them freely.
 */

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

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value + b.value);
  const sm = a.mask + b.mask;
  const sv = a.value + b.value;
  const sigma = sm + sv;
  const chi = (sigma ^ sv) & U64_MASK;
  const mu = chi | a.mask | b.mask;
  return make(sv & ~mu & U64_MASK, mu);
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value - b.value);
  const dv = a.value - b.value;
  const alpha = dv + a.mask;
  const beta = dv - b.mask;
  const chi = BigInt.asUintN(64, alpha ^ beta);
  const mu = chi | a.mask | b.mask;
  return make(BigInt.asUintN(64, dv) & ~mu, mu);
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
  let acc = TNUM_ZERO;
  let av = a.value;
  let am = a.mask;
  let shifted = b;
  while (av !== 0n || am !== 0n) {
    if ((av & 1n) !== 0n) acc = tnumAdd(acc, shifted);
    else if ((am & 1n) !== 0n) acc = tnumUnion(acc, tnumAdd(acc, shifted));
    av >>= 1n;
    am >>= 1n;
    shifted = make((shifted.value << 1n) & U64_MASK, (shifted.mask << 1n) & U64_MASK);
  }
  return acc;
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
  if ((inner.mask & ~outer.mask) !== 0n) return false;
  return outer.value === (inner.value & ~outer.mask);
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
