// The scalar domain as src/verifier kept it before it moved onto 32-bit words (bigint bounds and tnum),
// checked then on the whole corpus and against the kernel. Only test/verifier/scalar-words.test.ts uses it,
// as the reference the word implementation must equal bit for bit.
/**
 * reg_bounds_sync on numbers. The kernel's deductions between a scalar's
 * tnum and its five ranges (__update_reg_bounds, __reg_deduce_bounds,
 * __reg_bound_offset) run after every ALU operation and on both sides of
 * every branch; on bigints they were most of the verifier's time. Here each
 * 64-bit quantity is a pair of unsigned 32-bit halves (hi, lo) holding its
 * two's complement bits, compared signed or unsigned as the kernel's s64
 * and u64 fields are, so the results are bit for bit those of the bigint
 * steps in scalar.ts (and of the kernel).
 */
import type { Scalar } from './scalar.ts';
import * as halves from './halves.ts';
import { tnumConst } from './tnum.ts';

// Bound once: some loaders turn every use of an imported binding into a getter call.
const { U32, joinSigned, joinUnsigned, split, SPLIT } = halves;

/** The scalar fields reg_bounds_sync reads and writes (scalar.ts's working register). */
export type SyncedBounds = { -readonly [K in keyof Scalar]: Scalar[K] };

const ltU = (ah: number, al: number, bh: number, bl: number): boolean => ah < bh || (ah === bh && al < bl);
const ltS = (ah: number, al: number, bh: number, bl: number): boolean => (ah | 0) < (bh | 0) || (ah === bh && al < bl);

/** Number of significant bits of (hi, lo) (fls64). */
function bitLength(hi: number, lo: number): number {
  if (hi !== 0) return 64 - Math.clz32(hi);
  return lo === 0 ? 0 : 32 - Math.clz32(lo);
}

/** 2^bits - 1 for bits in [0, 32], as an unsigned 32-bit number. */
const lowOnes = (bits: number): number => (bits >= 32 ? U32 : ((1 << bits) - 1) >>> 0);

/** The working scalar: 64-bit fields as halves, plus what they were when loaded. */
class Halves {
  sminH = 0; sminL = 0; smaxH = 0; smaxL = 0;
  uminH = 0; uminL = 0; umaxH = 0; umaxL = 0;
  vH = 0; vL = 0; mH = 0; mL = 0;
  s32min = 0; s32max = 0; u32min = 0; u32max = 0;
  varChanged = false;
  // As loaded, to keep unchanged bigints (and the tnum object) when storing back.
  private sminH0 = 0; private sminL0 = 0; private smaxH0 = 0; private smaxL0 = 0;
  private uminH0 = 0; private uminL0 = 0; private umaxH0 = 0; private umaxL0 = 0;
  // tnum_step's result.
  private stepH = 0;
  private stepL = 0;

  load(r: SyncedBounds): void {
    split(r.smin); this.sminH = this.sminH0 = SPLIT.hi; this.sminL = this.sminL0 = SPLIT.lo;
    split(r.smax); this.smaxH = this.smaxH0 = SPLIT.hi; this.smaxL = this.smaxL0 = SPLIT.lo;
    split(r.umin); this.uminH = this.uminH0 = SPLIT.hi; this.uminL = this.uminL0 = SPLIT.lo;
    split(r.umax); this.umaxH = this.umaxH0 = SPLIT.hi; this.umaxL = this.umaxL0 = SPLIT.lo;
    split(r.var.value); this.vH = SPLIT.hi; this.vL = SPLIT.lo;
    split(r.var.mask); this.mH = SPLIT.hi; this.mL = SPLIT.lo;
    this.s32min = r.s32min; this.s32max = r.s32max; this.u32min = r.u32min; this.u32max = r.u32max;
    this.varChanged = false;
  }

  store(r: SyncedBounds): void {
    if (this.sminH !== this.sminH0 || this.sminL !== this.sminL0) r.smin = joinSigned(this.sminH, this.sminL);
    if (this.smaxH !== this.smaxH0 || this.smaxL !== this.smaxL0) r.smax = joinSigned(this.smaxH, this.smaxL);
    if (this.uminH !== this.uminH0 || this.uminL !== this.uminL0) r.umin = joinUnsigned(this.uminH, this.uminL);
    if (this.umaxH !== this.umaxH0 || this.umaxL !== this.umaxL0) r.umax = joinUnsigned(this.umaxH, this.umaxL);
    if (this.varChanged) {
      const value = joinUnsigned(this.vH, this.vL);
      r.var = this.mH === 0 && this.mL === 0 ? tnumConst(value) : { value, mask: joinUnsigned(this.mH, this.mL) };
    }
    r.s32min = this.s32min; r.s32max = this.s32max; r.u32min = this.u32min; r.u32max = this.u32max;
  }

  /** ___mark_reg_known */
  private markKnown(hi: number, lo: number): void {
    this.vH = hi; this.vL = lo; this.mH = 0; this.mL = 0;
    this.varChanged = true;
    this.sminH = this.smaxH = this.uminH = this.umaxH = hi;
    this.sminL = this.smaxL = this.uminL = this.umaxL = lo;
    this.s32min = this.s32max = lo | 0;
    this.u32min = this.u32max = lo;
  }

  /** var_off = var_off ∩ tnum_range(min, max) for a 64-bit range. */
  private intersectRange64(minH: number, minL: number, maxH: number, maxL: number): void {
    const bits = bitLength((minH ^ maxH) >>> 0, (minL ^ maxL) >>> 0);
    let rvH = 0, rvL = 0, rmH = U32, rmL = U32;
    if (bits <= 63) {
      rmL = bits >= 32 ? U32 : lowOnes(bits);
      rmH = bits > 32 ? lowOnes(bits - 32) : 0;
      rvH = (minH & ~rmH) >>> 0;
      rvL = (minL & ~rmL) >>> 0;
    }
    const muH = (this.mH & rmH) >>> 0;
    const muL = (this.mL & rmL) >>> 0;
    this.vH = ((this.vH | rvH) & ~muH) >>> 0;
    this.vL = ((this.vL | rvL) & ~muL) >>> 0;
    this.mH = muH;
    this.mL = muL;
    this.varChanged = true;
  }

  updateBounds32(): void {
    const v = this.vL;
    const m = this.mL;
    this.s32min = Math.max(this.s32min, (v | (m & 0x8000_0000)) | 0);
    this.s32max = Math.min(this.s32max, (v | (m & 0x7fff_ffff)) | 0);
    this.u32min = Math.max(this.u32min, v);
    this.u32max = Math.min(this.u32max, (v | m) >>> 0);
  }

  /** tnum_step(var_off, z) into stepH/stepL. */
  private tnumStep(zH: number, zL: number): void {
    const { vH, vL, mH, mL } = this;
    const tmaxH = (vH | mH) >>> 0;
    const tmaxL = (vL | mL) >>> 0;
    if (!ltU(zH, zL, tmaxH, tmaxL)) { this.stepH = tmaxH; this.stepL = tmaxL; return; }
    if (ltU(zH, zL, vH, vL)) { this.stepH = vH; this.stepL = vL; return; }
    // z < tmax, so z + 1 does not wrap.
    const yL = (zL + 1) >>> 0;
    const yH = yL === 0 ? (zH + 1) >>> 0 : zH;
    const cH = (yH ^ vH) & ~mH;
    const cL = (yL ^ vL) & ~mL;
    if (cH === 0 && cL === 0) { this.stepH = yH; this.stepL = yL; return; }
    const k = bitLength(cH >>> 0, cL >>> 0) - 1;
    // Bits above k.
    const aboveL = k >= 31 ? 0 : (U32 << (k + 1)) >>> 0;
    const aboveH = k >= 63 ? 0 : k >= 31 ? (U32 << (k - 31)) >>> 0 : U32;
    const bitK = k >= 32 ? (vH >>> (k - 32)) & 1 : (vL >>> k) & 1;
    if (bitK === 1) {
      this.stepH = ((yH & aboveH) | (vH & ~aboveH)) >>> 0;
      this.stepL = ((yL & aboveL) | (vL & ~aboveL)) >>> 0;
      return;
    }
    const freeH = (mH & ~yH & aboveH) >>> 0;
    const freeL = (mL & ~yL & aboveL) >>> 0;
    if (freeH === 0 && freeL === 0) { this.stepH = tmaxH; this.stepL = tmaxL; return; }
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
    this.stepH = ((yH & ~upToJH) | jH | (vH & belowJH)) >>> 0;
    this.stepL = ((yL & ~upToJL) | jL | (vL & belowJL)) >>> 0;
  }

  updateBounds64(): void {
    const { vH, vL, mH, mL } = this;
    const aH = (vH | (mH & 0x8000_0000)) >>> 0;
    if (ltS(this.sminH, this.sminL, aH, vL)) { this.sminH = aH; this.sminL = vL; }
    const bH = (vH | (mH & 0x7fff_ffff)) >>> 0;
    const tmaxL = (vL | mL) >>> 0;
    if (ltS(bH, tmaxL, this.smaxH, this.smaxL)) { this.smaxH = bH; this.smaxL = tmaxL; }
    if (ltU(this.uminH, this.uminL, vH, vL)) { this.uminH = vH; this.uminL = vL; }
    const tmaxH = (vH | mH) >>> 0;
    if (ltU(tmaxH, tmaxL, this.umaxH, this.umaxL)) { this.umaxH = tmaxH; this.umaxL = tmaxL; }
    // The u64 range and the tnum may share a single value: then that is the value.
    if (mH === U32 && mL === U32) {
      // Every value is a member: umin + 1 (or the maximum) is the next one.
      const uminIsMax = this.uminH === U32 && this.uminL === U32;
      const umaxIsMax = this.umaxH === U32 && this.umaxL === U32;
      const single = uminIsMax ? !umaxIsMax : !ltU(this.uminH, this.uminL, this.umaxH, this.umaxL);
      if (single) this.markKnown(this.uminH, this.uminL);
      return;
    }
    const uminH = this.uminH;
    const uminL = this.uminL;
    this.tnumStep(uminH, uminL);
    const nextH = this.stepH;
    const nextL = this.stepL;
    const uminInTnum = ((uminH & ~mH) >>> 0) === vH && ((uminL & ~mL) >>> 0) === vL;
    if (uminInTnum) {
      if (ltU(this.umaxH, this.umaxL, nextH, nextL)) this.markKnown(uminH, uminL);
    } else if (nextH === tmaxH && nextL === tmaxL) {
      this.markKnown(tmaxH, tmaxL);
    } else if (!ltU(this.umaxH, this.umaxL, nextH, nextL)) {
      this.tnumStep(nextH, nextL);
      if (ltU(this.umaxH, this.umaxL, this.stepH, this.stepL)) this.markKnown(nextH, nextL);
    }
  }

  updateBounds(): void {
    this.updateBounds32();
    this.updateBounds64();
  }

  /** __reg32_deduce_bounds */
  private deduce32(): void {
    const { uminH, umaxH, sminH, smaxH, uminL, umaxL, sminL, smaxL } = this;
    if (uminH === umaxH) {
      this.u32min = Math.max(this.u32min, uminL);
      this.u32max = Math.min(this.u32max, umaxL);
      if ((uminL | 0) <= (umaxL | 0)) {
        this.s32min = Math.max(this.s32min, uminL | 0);
        this.s32max = Math.min(this.s32max, umaxL | 0);
      }
    }
    if (sminH === smaxH) {
      if (sminL <= smaxL) {
        this.u32min = Math.max(this.u32min, sminL);
        this.u32max = Math.min(this.u32max, smaxL);
      }
      if ((sminL | 0) <= (smaxL | 0)) {
        this.s32min = Math.max(this.s32min, sminL | 0);
        this.s32max = Math.min(this.s32max, smaxL | 0);
      }
    }
    // Upper words differing by one while the low words go from negative to non-negative: still one s32 range.
    if (((uminH + 1) >>> 0) === umaxH && (uminL | 0) < 0 && (umaxL | 0) >= 0) {
      this.s32min = Math.max(this.s32min, uminL | 0);
      this.s32max = Math.min(this.s32max, umaxL | 0);
    }
    if (((sminH + 1) >>> 0) === smaxH && (sminL | 0) < 0 && (smaxL | 0) >= 0) {
      this.s32min = Math.max(this.s32min, sminL | 0);
      this.s32max = Math.min(this.s32max, smaxL | 0);
    }
    if ((this.u32min | 0) <= (this.u32max | 0)) {
      this.s32min = Math.max(this.s32min, this.u32min | 0);
      this.s32max = Math.min(this.s32max, this.u32max | 0);
    }
    if (this.s32min >>> 0 <= this.s32max >>> 0) {
      this.u32min = Math.max(this.s32min >>> 0, this.u32min);
      this.u32max = Math.min(this.s32max >>> 0, this.u32max);
    } else if (this.u32max < this.s32min >>> 0) {
      // The u32 range meets only the non-negative part of the s32 range.
      this.s32min = this.u32min | 0;
      this.u32max = Math.min(this.u32max, this.s32max >>> 0);
    } else if (this.s32max >>> 0 < this.u32min) {
      // The u32 range meets only the negative part of the s32 range.
      this.s32max = this.u32max | 0;
      this.u32min = Math.max(this.u32min, this.s32min >>> 0);
    }
  }

  /** __reg64_deduce_bounds */
  private deduce64(): void {
    if (!ltS(this.umaxH, this.umaxL, this.uminH, this.uminL)) {
      if (ltS(this.sminH, this.sminL, this.uminH, this.uminL)) { this.sminH = this.uminH; this.sminL = this.uminL; }
      if (ltS(this.umaxH, this.umaxL, this.smaxH, this.smaxL)) { this.smaxH = this.umaxH; this.smaxL = this.umaxL; }
    }
    if (!ltU(this.smaxH, this.smaxL, this.sminH, this.sminL)) {
      if (ltU(this.uminH, this.uminL, this.sminH, this.sminL)) { this.uminH = this.sminH; this.uminL = this.sminL; }
      if (ltU(this.smaxH, this.smaxL, this.umaxH, this.umaxL)) { this.umaxH = this.smaxH; this.umaxL = this.smaxL; }
    } else if (ltU(this.umaxH, this.umaxL, this.sminH, this.sminL)) {
      this.sminH = this.uminH;
      this.sminL = this.uminL;
      if (ltU(this.smaxH, this.smaxL, this.umaxH, this.umaxL)) { this.umaxH = this.smaxH; this.umaxL = this.smaxL; }
    } else if (ltU(this.smaxH, this.smaxL, this.uminH, this.uminL)) {
      this.smaxH = this.umaxH;
      this.smaxL = this.umaxL;
      if (ltU(this.uminH, this.uminL, this.sminH, this.sminL)) { this.uminH = this.sminH; this.uminL = this.sminL; }
    }
  }

  /** __reg_deduce_mixed_bounds */
  private deduceMixed(): void {
    // Replacing a bound's low word keeps its upper word, so the new bound is tighter exactly when its low word is.
    const u32min = this.u32min;
    const u32max = this.u32max;
    if (u32min > this.uminL) this.uminL = u32min;
    if (u32max < this.umaxL) this.umaxL = u32max;
    if (u32min > this.sminL) this.sminL = u32min;
    if (u32max < this.smaxL) this.smaxL = u32max;
    if (this.s32min >>> 0 <= this.s32max >>> 0) {
      const lo = this.s32min >>> 0;
      const hi = this.s32max >>> 0;
      if (lo > this.uminL) this.uminL = lo;
      if (hi < this.umaxL) this.umaxL = hi;
      if (lo > this.sminL) this.sminL = lo;
      if (hi < this.smaxL) this.smaxL = hi;
    }
    // After a sign-extending load: a non-negative low word within [S32_MIN, S32_MAX] means the upper word is zero.
    const sminAtLeastS32Min = !ltS(this.sminH, this.sminL, U32, 0x8000_0000);
    const smaxAtMostS32Max = !ltS(0, 0x7fff_ffff, this.smaxH, this.smaxL);
    if (this.s32min >= 0 && sminAtLeastS32Min && smaxAtMostS32Max) {
      const maxH = this.s32max < 0 ? U32 : 0;
      const maxL = this.s32max >>> 0;
      this.sminH = this.uminH = 0;
      this.sminL = this.uminL = this.s32min;
      this.smaxH = this.umaxH = maxH;
      this.smaxL = this.umaxL = maxL;
      this.intersectRange64(0, this.s32min, maxH, maxL);
    }
  }

  /** One round of __reg_deduce_bounds; whether it changed anything. */
  private deduceRound(): boolean {
    const { sminH, sminL, smaxH, smaxL, uminH, uminL, umaxH, umaxL, vH, vL, mH, mL, s32min, s32max, u32min, u32max } = this;
    this.deduce32();
    this.deduce64();
    this.deduceMixed();
    return (
      sminH !== this.sminH || sminL !== this.sminL || smaxH !== this.smaxH || smaxL !== this.smaxL ||
      uminH !== this.uminH || uminL !== this.uminL || umaxH !== this.umaxH || umaxL !== this.umaxL ||
      vH !== this.vH || vL !== this.vL || mH !== this.mH || mL !== this.mL ||
      s32min !== this.s32min || s32max !== this.s32max || u32min !== this.u32min || u32max !== this.u32max
    );
  }

  /** __reg_bound_offset: known bits from the unsigned ranges. */
  private boundOffset(): void {
    const fullU64 = this.uminH === 0 && this.uminL === 0 && this.umaxH === U32 && this.umaxL === U32;
    if (!fullU64) this.intersectRange64(this.uminH, this.uminL, this.umaxH, this.umaxL);
    if (this.u32min === 0 && this.u32max === U32) return;
    // var32 = subreg(var64) ∩ tnum_range(u32min, u32max); var = clear_subreg(var64) | var32.
    const bits = bitLength(0, (this.u32min ^ this.u32max) >>> 0);
    const rm = lowOnes(bits);
    const rv = (this.u32min & ~rm) >>> 0;
    const mu = (this.mL & rm) >>> 0;
    const v32 = ((this.vL | rv) & ~mu) >>> 0;
    this.mH = (this.mH & ~this.vH) >>> 0;
    this.vL = v32;
    this.mL = (mu & ~v32) >>> 0;
    this.varChanged = true;
  }

  /** reg_bounds_sync */
  sync(): void {
    this.updateBounds();
    // The kernel deduces three times; once a round changes nothing, the next ones cannot either.
    for (let round = 0; round < 3 && this.deduceRound(); round++);
    this.boundOffset();
    this.updateBounds();
  }
}

const work = new Halves();

/** reg_bounds_sync on `r`, in place. */
export function syncBounds(r: SyncedBounds): void {
  work.load(r);
  work.sync();
  work.store(r);
}

/** __update_reg_bounds on `r`, in place. */
export function updateBounds(r: SyncedBounds): void {
  work.load(r);
  work.updateBounds();
  work.store(r);
}
