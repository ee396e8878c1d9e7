/**
 * The scalar being computed on (scalar.ts's working register) and
 * reg_bounds_sync: the kernel's deductions between a scalar's tnum and its
 * five ranges (__update_reg_bounds, __reg_deduce_bounds,
 * __reg_bound_offset), run after every ALU operation and on both sides of
 * every branch. Each 64-bit quantity is a pair of unsigned 32-bit halves
 * (hi, lo) holding its two's complement bits, compared signed or unsigned as
 * the kernel's s64 and u64 fields are, so the results are bit for bit the
 * kernel's.
 */
import type { Scalar } from './scalar.ts';
import * as halves from './halves.ts';
import { tnumStep } from './tnum.ts';

// Bound once: some loaders turn every use of an imported binding into a getter call.
const { U32, bitLength, lowOnes, ltS, ltU, RESULT } = halves;

/**
 * A scalar being computed on: 64-bit fields as unsigned halves, u32 bounds
 * unsigned, s32 bounds signed. load() reads a frozen Scalar, freeze() makes
 * one (words stored signed, see halves.ts).
 */
export class WorkingScalar {
  sminH = 0; sminL = 0; smaxH = 0; smaxL = 0;
  uminH = 0; uminL = 0; umaxH = 0; umaxL = 0;
  vH = 0; vL = 0; mH = 0; mL = 0;
  s32min = 0; s32max = 0; u32min = 0; u32max = 0;

  load(s: Scalar): this {
    this.vH = s.vH >>> 0; this.vL = s.vL >>> 0; this.mH = s.mH >>> 0; this.mL = s.mL >>> 0;
    this.sminH = s.sminH >>> 0; this.sminL = s.sminL >>> 0; this.smaxH = s.smaxH >>> 0; this.smaxL = s.smaxL >>> 0;
    this.uminH = s.uminH >>> 0; this.uminL = s.uminL >>> 0; this.umaxH = s.umaxH >>> 0; this.umaxL = s.umaxL >>> 0;
    this.s32min = s.s32min; this.s32max = s.s32max; this.u32min = s.u32min >>> 0; this.u32max = s.u32max >>> 0;
    return this;
  }

  freeze(): Scalar {
    // Not frozen (as no scalar an operation returns is): freezing costs more than the object, and gives it another shape.
    return {
      vH: this.vH | 0, vL: this.vL | 0, mH: this.mH | 0, mL: this.mL | 0,
      sminH: this.sminH | 0, sminL: this.sminL | 0, smaxH: this.smaxH | 0, smaxL: this.smaxL | 0,
      uminH: this.uminH | 0, uminL: this.uminL | 0, umaxH: this.umaxH | 0, umaxL: this.umaxL | 0,
      s32min: this.s32min | 0, s32max: this.s32max | 0, u32min: this.u32min | 0, u32max: this.u32max | 0,
    };
  }

  /** freeze(), or `s` itself when nothing differs from it: no allocation, and pruning's identity check holds. */
  freezeOr(s: Scalar): Scalar {
    const same =
      (this.vH | 0) === s.vH && (this.vL | 0) === s.vL && (this.mH | 0) === s.mH && (this.mL | 0) === s.mL &&
      (this.sminH | 0) === s.sminH && (this.sminL | 0) === s.sminL && (this.smaxH | 0) === s.smaxH && (this.smaxL | 0) === s.smaxL &&
      (this.uminH | 0) === s.uminH && (this.uminL | 0) === s.uminL && (this.umaxH | 0) === s.umaxH && (this.umaxL | 0) === s.umaxL &&
      (this.s32min | 0) === s.s32min && (this.s32max | 0) === s.s32max && (this.u32min | 0) === s.u32min && (this.u32max | 0) === s.u32max;
    return same ? s : this.freeze();
  }

  /** var_off = the tnum last computed (tnum.ts's TNUM). */
  setVar(t: { vH: number; vL: number; mH: number; mL: number }): void {
    this.vH = t.vH; this.vL = t.vL; this.mH = t.mH; this.mL = t.mL;
  }

  markUnbounded64(): void {
    this.sminH = 0x8000_0000; this.sminL = 0;
    this.smaxH = 0x7fff_ffff; this.smaxL = U32;
    this.uminH = 0; this.uminL = 0;
    this.umaxH = U32; this.umaxL = U32;
  }

  markUnbounded32(): void {
    this.s32min = -0x8000_0000;
    this.s32max = 0x7fff_ffff;
    this.u32min = 0;
    this.u32max = U32;
  }

  /** __mark_reg32_known: the low word is `lo` (var_off's low word too). */
  markKnown32(lo: number): void {
    this.vL = lo >>> 0;
    this.mL = 0;
    this.s32min = this.s32max = lo | 0;
    this.u32min = this.u32max = lo >>> 0;
  }

  /** zext_32_to_64 (with __reg_assign_32_into_64) */
  zext32(): void {
    this.vH = 0;
    this.mH = 0;
    this.uminH = 0; this.uminL = this.u32min;
    this.umaxH = 0; this.umaxL = this.u32max;
    if (this.s32min >= 0 && this.s32max >= 0) {
      this.sminH = 0; this.sminL = this.s32min;
      this.smaxH = 0; this.smaxL = this.s32max;
    } else {
      this.sminH = 0; this.sminL = 0;
      this.smaxH = 0; this.smaxL = U32;
    }
  }

  /** reg_bounds_sanity_check: bounds that contradict each other or a constant tnum. */
  violatesInvariants(): boolean {
    if (ltU(this.umaxH, this.umaxL, this.uminH, this.uminL) || ltS(this.smaxH, this.smaxL, this.sminH, this.sminL)) return true;
    if (this.u32min > this.u32max || this.s32min > this.s32max) return true;
    const { vH, vL } = this;
    if (this.mH === 0 && this.mL === 0) {
      if (this.uminH !== vH || this.uminL !== vL || this.umaxH !== vH || this.umaxL !== vL) return true;
      if (this.sminH !== vH || this.sminL !== vL || this.smaxH !== vH || this.smaxL !== vL) return true;
    }
    if (this.mL === 0 && (this.u32min !== vL || this.u32max !== vL || this.s32min !== (vL | 0) || this.s32max !== (vL | 0))) return true;
    return false;
  }

  /** ___mark_reg_known */
  markKnown(hi: number, lo: number): void {
    this.vH = hi; this.vL = lo; this.mH = 0; this.mL = 0;
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
  }

  updateBounds32(): void {
    const v = this.vL;
    const m = this.mL;
    this.s32min = Math.max(this.s32min, (v | (m & 0x8000_0000)) | 0);
    this.s32max = Math.min(this.s32max, (v | (m & 0x7fff_ffff)) | 0);
    this.u32min = Math.max(this.u32min, v);
    this.u32max = Math.min(this.u32max, (v | m) >>> 0);
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
    tnumStep(vH, vL, mH, mL, uminH, uminL);
    const nextH = RESULT.hi;
    const nextL = RESULT.lo;
    const uminInTnum = ((uminH & ~mH) >>> 0) === vH && ((uminL & ~mL) >>> 0) === vL;
    if (uminInTnum) {
      if (ltU(this.umaxH, this.umaxL, nextH, nextL)) this.markKnown(uminH, uminL);
    } else if (nextH === tmaxH && nextL === tmaxL) {
      this.markKnown(tmaxH, tmaxL);
    } else if (!ltU(this.umaxH, this.umaxL, nextH, nextL)) {
      tnumStep(vH, vL, mH, mL, nextH, nextL);
      if (ltU(this.umaxH, this.umaxL, RESULT.hi, RESULT.lo)) this.markKnown(nextH, nextL);
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

