/**
 * Tracked numbers (kernel/bpf/tnum.c): a 64-bit value of which some bits
 * are known. `value` holds the known bits, `mask` marks the unknown ones;
 * (value & mask) is always 0. Both are unsigned 64-bit bigints.
 */
export interface Tnum {
  readonly value: bigint;
  readonly mask: bigint;
}

const U64 = 0xffff_ffff_ffff_ffffn;
const u64 = (v: bigint): bigint => v & U64;

export const TNUM_UNKNOWN: Tnum = Object.freeze({ value: 0n, mask: U64 });
const ZERO: Tnum = Object.freeze({ value: 0n, mask: 0n });

export function tnumConst(v: bigint): Tnum {
  const value = u64(v);
  return value === 0n ? ZERO : { value, mask: 0n };
}

/** The tnum of every value in [min, max] (unsigned): the common high bits known. */
export function tnumRange(min: bigint, max: bigint): Tnum {
  const chi = u64(min) ^ u64(max);
  const bits = chi === 0n ? 0 : chi.toString(2).length;
  if (bits > 63) return TNUM_UNKNOWN;
  const delta = (1n << BigInt(bits)) - 1n;
  return { value: u64(min) & ~delta & U64, mask: delta };
}

export function tnumLshift(a: Tnum, shift: number): Tnum {
  return { value: u64(a.value << BigInt(shift)), mask: u64(a.mask << BigInt(shift)) };
}

export function tnumRshift(a: Tnum, shift: number): Tnum {
  return { value: a.value >> BigInt(shift), mask: a.mask >> BigInt(shift) };
}

export function tnumArshift(a: Tnum, shift: number, insnBitness: 32 | 64): Tnum {
  if (insnBitness === 32) {
    return {
      value: BigInt.asUintN(32, BigInt.asIntN(32, a.value) >> BigInt(shift)),
      mask: BigInt.asUintN(32, BigInt.asIntN(32, a.mask) >> BigInt(shift)),
    };
  }
  return { value: u64(BigInt.asIntN(64, a.value) >> BigInt(shift)), mask: u64(BigInt.asIntN(64, a.mask) >> BigInt(shift)) };
}

export function tnumAdd(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value + b.value);
  const sm = u64(a.mask + b.mask);
  const sv = u64(a.value + b.value);
  const sigma = u64(sm + sv);
  const chi = sigma ^ sv;
  const mu = chi | a.mask | b.mask;
  return { value: sv & ~mu & U64, mask: mu };
}

export function tnumSub(a: Tnum, b: Tnum): Tnum {
  if (a.mask === 0n && b.mask === 0n) return tnumConst(a.value - b.value);
  const dv = u64(a.value - b.value);
  const alpha = u64(dv + a.mask);
  const beta = u64(dv - b.mask);
  const chi = alpha ^ beta;
  const mu = chi | a.mask | b.mask;
  return { value: dv & ~mu & U64, mask: mu };
}

export function tnumAnd(a: Tnum, b: Tnum): Tnum {
  const alpha = a.value | a.mask;
  const beta = b.value | b.mask;
  const v = a.value & b.value;
  return { value: v, mask: alpha & beta & ~v & U64 };
}

export function tnumOr(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask | b.mask;
  return { value: v, mask: mu & ~v & U64 };
}

export function tnumXor(a: Tnum, b: Tnum): Tnum {
  const v = a.value ^ b.value;
  const mu = a.mask | b.mask;
  return { value: v & ~mu & U64, mask: mu };
}

export function tnumMul(a: Tnum, b: Tnum): Tnum {
  const accV = u64(a.value * b.value);
  let accM: Tnum = ZERO;
  let x = a;
  let y = b;
  while (x.value !== 0n || x.mask !== 0n) {
    if (x.value & 1n) accM = tnumAdd(accM, { value: 0n, mask: y.mask });
    else if (x.mask & 1n) accM = tnumAdd(accM, { value: 0n, mask: y.value | y.mask });
    x = tnumRshift(x, 1);
    y = tnumLshift(y, 1);
  }
  return tnumAdd({ value: accV, mask: 0n }, accM);
}

/** Values both tnums allow (their known bits must not conflict). */
export function tnumIntersect(a: Tnum, b: Tnum): Tnum {
  const v = a.value | b.value;
  const mu = a.mask & b.mask;
  return { value: v & ~mu & U64, mask: mu };
}

export function tnumCast(a: Tnum, sizeBytes: 1 | 2 | 4 | 8): Tnum {
  if (sizeBytes === 8) return a;
  const m = (1n << BigInt(sizeBytes * 8)) - 1n;
  return { value: a.value & m, mask: a.mask & m };
}

export function tnumIsAligned(a: Tnum, size: number): boolean {
  if (size === 0) return true;
  return ((a.value | a.mask) & BigInt(size - 1)) === 0n;
}

/** Every value `inner` allows, `outer` allows too. */
export function tnumIn(outer: Tnum, inner: Tnum): boolean {
  if (inner.mask & ~outer.mask) return false;
  return outer.value === (inner.value & ~outer.mask & U64);
}

export function tnumSubreg(a: Tnum): Tnum {
  return tnumCast(a, 4);
}

export function tnumClearSubreg(a: Tnum): Tnum {
  return tnumLshift(tnumRshift(a, 32), 32);
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
  return a.mask === U64;
}

/** `tnum_strn`: a constant in decimal up to 65535 (hex above), otherwise `(value; mask)` in hex. */
export function tnumToString(a: Tnum): string {
  if (a.mask === 0n) return a.value <= 0xffffn ? String(a.value) : `0x${a.value.toString(16)}`;
  const hex = (v: bigint): string => (v === 0n ? '0x0' : `0x${v.toString(16)}`);
  return `(${hex(a.value)}; ${hex(a.mask)})`;
}

