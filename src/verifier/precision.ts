/**
 * Precision tracking, as kernel/bpf/verifier.c does it (__mark_chain_precision,
 * backtrack_insn, the bt_* masks, mark_all_scalars_precise/imprecise,
 * propagate_precision, widen_imprecise_scalars).
 *
 * Every scalar starts imprecise. When an instruction relies on a scalar's
 * exact range (a pointer offset, a helper's size or constant argument, a
 * branch decided by bounds, a return value), the registers and stack slots
 * it was computed from are found by walking the current path backwards,
 * instruction by instruction (the state's history says where jumps came
 * from and which loads and stores were spills and fills), and marked
 * precise in every stored state (checkpoint) along the path. When states
 * are compared for pruning, an imprecise scalar of the stored state matches
 * any scalar: no path from there depended on its value.
 *
 * Where the walk meets something it does not follow (a callback's return,
 * a store through a scalar, leftover marks), it falls back, as the kernel
 * does, to marking every scalar of every stored state on the path precise:
 * that only prunes less.
 */
import {
  type Instruction,
  AluOp,
  AtomicOp,
  CallSrc,
  InsnClass,
  JmpOp,
  Mode,
  Source,
  aluOp,
  formatInstruction,
  jmpOp,
  opClass,
  opMode,
  opSource,
} from '../isa/index.ts';
import { formatFrame } from './log.ts';
import { type Checkpoint, type Frame, type HistoryEntry, type Reg, type VerifierState, RegType, Slot, copyReg, stackSlot } from './state.ts';
import { scalarEquals } from './scalar.ts';

/** INSN_F_STACK_ACCESS: the instruction spilled to or filled from a stack slot (frame and slot in the low bits). */
export const HIST_STACK_ACCESS = 0x400;
/** INSN_F_{SRC,DST}_REG_STACK: a comparison whose operand was a constant spilled on the stack, not a register. */
export const HIST_SRC_REG_STACK = 0x800;
export const HIST_DST_REG_STACK = 0x1000;
const FRAMENO_MASK = 0x7;
const SPI_SHIFT = 3;
const SPI_MASK = 0x3f;
/** r1-r5: the registers a call takes. */
const ARG_REGS = 0x3e;

export const stackAccessFlags = (frameno: number, spi: number): number => HIST_STACK_ACCESS | (spi << SPI_SHIFT) | frameno;

/** A linked register or stack slot in a history entry: frame, kind and index in one number. */
export const linkedRegKey = (frameno: number, isReg: boolean, index: number): number => (frameno << 8) | (isReg ? 0x80 : 0) | index;
/** A linked key's frame, whether it names a register (else a stack slot), and the register or slot number. */
export const linkedKeyFrame = (key: number): number => key >> 8;
export const linkedKeyIsReg = (key: number): boolean => (key & 0x80) !== 0;
export const linkedKeyIndex = (key: number): number => key & 0x7f;

/** What the walk needs from the verifier. */
export interface PrecisionContext {
  readonly insns: readonly Instruction[];
  /** Level 2 writes the kernel's mark_precise lines. */
  readonly logLevel: 0 | 1 | 2;
  write(line: string): void;
  /** The subprogram starting at `insnIdx` is a global function (verified on its own). */
  isGlobalFunction(insnIdx: number): boolean;
  /** Registers of frame `frame` of `st` live at `insnIdx` (a mask). */
  liveRegsAt(st: VerifierState, frame: number, insnIdx: number): number;
}

/** The kernel's struct backtrack_state: registers and stack slots still to be explained, per frame. */
export class Backtrack {
  frame = 0;
  /** Registers and slots newly marked precise in stored states since the last reset. */
  marked = 0;
  readonly regs: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  /** Stack slots 0-31 and 32-63 of each frame (two 32-bit halves: no bigint on this path). */
  readonly stackLo: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  readonly stackHi: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

  reset(frame: number): void {
    this.frame = frame;
    this.marked = 0;
    // A loop, not fill(): this runs for every precision request, and fill on an 8-element array costs a call into the runtime.
    for (let f = 0; f < 8; f++) {
      this.regs[f] = 0;
      this.stackLo[f] = 0;
      this.stackHi[f] = 0;
    }
  }

  empty(): boolean {
    for (let f = 0; f <= this.frame; f++) if (this.regs[f] !== 0 || this.stackLo[f] !== 0 || this.stackHi[f] !== 0) return false;
    return true;
  }

  hasStack(frame: number): boolean {
    return this.stackLo[frame] !== 0 || this.stackHi[frame] !== 0;
  }

  clearFrame(frame: number): void {
    this.regs[frame] = 0;
    this.stackLo[frame] = 0;
    this.stackHi[frame] = 0;
  }

  setReg(frame: number, regno: number): void {
    this.regs[frame]! |= 1 << regno;
  }

  clearReg(frame: number, regno: number): void {
    this.regs[frame]! &= ~(1 << regno);
  }

  hasReg(frame: number, regno: number): boolean {
    return (this.regs[frame]! & (1 << regno)) !== 0;
  }

  setSlot(frame: number, spi: number): void {
    if (spi < 32) this.stackLo[frame]! |= 1 << spi;
    else this.stackHi[frame]! |= 1 << (spi - 32);
  }

  clearSlot(frame: number, spi: number): void {
    if (spi < 32) this.stackLo[frame]! &= ~(1 << spi);
    else this.stackHi[frame]! &= ~(1 << (spi - 32));
  }

  hasSlot(frame: number, spi: number): boolean {
    return spi < 32 ? (this.stackLo[frame]! & (1 << spi)) !== 0 : (this.stackHi[frame]! & (1 << (spi - 32))) !== 0;
  }

  /** fmt_stack_mask: `-8,-24`. */
  stackString(frame: number): string {
    const out: string[] = [];
    for (let spi = 0; spi < 64; spi++) if (this.hasSlot(frame, spi)) out.push(`${-(spi + 1) * 8}`);
    return out.join(',');
  }
}

/** Thrown inside the walk where the kernel returns -ENOTSUPP or reports a backtracking bug: fall back to marking everything precise. */
class Unsupported {}
const UNSUPPORTED = new Unsupported();

/** fmt_reg_mask: `r0,r2`. */
function regMaskString(mask: number): string {
  const out: string[] = [];
  for (let r = 0; r < 32; r++) if (mask & (1 << r)) out.push(`r${r}`);
  return out.join(',');
}

const isScalarSpill = (f: Frame, spi: number): Reg | undefined => {
  const slot = f.stack[spi];
  return slot !== undefined && slot.types[7] === Slot.SPILL && slot.spilled?.type === RegType.SCALAR ? slot.spilled : undefined;
};

/** bt_sync_linked_regs: when one of the registers a branch refined together needs precision, they all do. */
function syncLinked(bt: Backtrack, hist: HistoryEntry | undefined): void {
  const linked = hist?.linked;
  if (linked === undefined) return;
  let some = false;
  for (const key of linked) {
    const frame = linkedKeyFrame(key);
    const index = linkedKeyIndex(key);
    if (frame > bt.frame) continue;
    if (linkedKeyIsReg(key) ? bt.hasReg(frame, index) : bt.hasSlot(frame, index)) {
      some = true;
      break;
    }
  }
  if (!some) return;
  for (const key of linked) {
    const frame = linkedKeyFrame(key);
    if (frame > bt.frame) continue;
    if (linkedKeyIsReg(key)) bt.setReg(frame, linkedKeyIndex(key));
    else bt.setSlot(frame, linkedKeyIndex(key));
  }
}

/**
 * backtrack_insn: what instruction `idx` (followed by `subseq` on the path)
 * needs precise before it, given what `bt` needs after it.
 */
function backtrackInsn(ctx: PrecisionContext, idx: number, subseq: number, hist: HistoryEntry | undefined, bt: Backtrack): void {
  const insns = ctx.insns;
  const insn = insns[idx]!;
  const cls = opClass(insn.opcode);
  const dreg = insn.dst;
  const sreg = insn.src;
  const f = bt.frame;
  if (ctx.logLevel > 1) {
    ctx.write(
      `mark_precise: frame${f}: regs=${regMaskString(bt.regs[f]!)} stack=${bt.stackString(f)} before ${idx}: (${insn.opcode.toString(16).padStart(2, '0')}) ${formatInstruction(insns, idx, { style: 'kernel' })}\n`,
    );
  }
  syncLinked(bt, hist);
  const stackAccess = hist !== undefined && (hist.flags & HIST_STACK_ACCESS) !== 0;
  const mode = opMode(insn.opcode);
  const atomic = cls === InsnClass.STX && mode === Mode.ATOMIC;
  const fetch = atomic && (insn.imm === AtomicOp.LOAD_ACQ || (insn.imm & AtomicOp.FETCH) !== 0);
  if (cls === InsnClass.ALU || cls === InsnClass.ALU64) {
    if (!bt.hasReg(f, dreg)) return;
    const op = aluOp(insn.opcode);
    if (op === AluOp.END || op === AluOp.NEG) return;
    if (op === AluOp.MOV) {
      bt.clearReg(f, dreg);
      if (opSource(insn.opcode) === Source.X && sreg !== 10) bt.setReg(f, sreg);
    } else if (opSource(insn.opcode) === Source.X && sreg !== 10) {
      bt.setReg(f, sreg);
    }
  } else if (cls === InsnClass.LDX || fetch) {
    const loadReg = !fetch || insn.imm === AtomicOp.LOAD_ACQ ? dreg : insn.imm === AtomicOp.CMPXCHG ? 0 : sreg;
    if (!bt.hasReg(f, loadReg)) return;
    bt.clearReg(f, loadReg);
    // Only a fill from the stack gives back a register's value; other memory is not tracked.
    if (!stackAccess) return;
    bt.setSlot(hist!.flags & FRAMENO_MASK, (hist!.flags >> SPI_SHIFT) & SPI_MASK);
  } else if (cls === InsnClass.STX || cls === InsnClass.ST) {
    // A store through a scalar would be pointer subtraction gone wrong: not followed.
    if (bt.hasReg(f, dreg)) throw UNSUPPORTED;
    if (!stackAccess) return;
    const fr = hist!.flags & FRAMENO_MASK;
    const spi = (hist!.flags >> SPI_SHIFT) & SPI_MASK;
    if (!bt.hasSlot(fr, spi)) return;
    bt.clearSlot(fr, spi);
    if (cls === InsnClass.STX) bt.setReg(f, sreg);
  } else if (cls === InsnClass.JMP || cls === InsnClass.JMP32) {
    const op = jmpOp(insn.opcode);
    if (op === JmpOp.CALL && insn.src === CallSrc.LOCAL) {
      if (ctx.isGlobalFunction(idx + insn.imm + 1)) {
        // A global function is verified on its own: it sets R0, and r1-r5 are dead after it.
        if (bt.regs[f]! & ARG_REGS) throw UNSUPPORTED;
        bt.clearReg(f, 0);
        return;
      }
      // Going back out of a static subprogram through its call: only its arguments can remain.
      if (bt.regs[f]! & ~ARG_REGS || bt.hasStack(f) || f === 0) throw UNSUPPORTED;
      for (let r = 1; r <= 5; r++) {
        if (bt.hasReg(f, r)) {
          bt.clearReg(f, r);
          bt.setReg(f - 1, r);
        }
      }
      bt.frame--;
      return;
    }
    if (op === JmpOp.CALL) {
      if (subseq !== idx + 1) {
        // Backwards out of a callback into the helper that called it: the callback's arguments came from the helper, not the caller.
        if (bt.regs[f]! & ~ARG_REGS || bt.hasStack(f) || f === 0) throw UNSUPPORTED;
        bt.regs[f] = 0;
        bt.frame--;
        return;
      }
      bt.clearReg(f, 0);
      if (bt.regs[f]! & ARG_REGS) throw UNSUPPORTED;
      return;
    }
    if (op === JmpOp.EXIT) {
      // Backwards through a subprogram's exit: into the callee's frame. A callback's exit is not followed.
      const fromCall = subseq - 1 >= 0 && opClass(insns[subseq - 1]!.opcode) === InsnClass.JMP && jmpOp(insns[subseq - 1]!.opcode) === JmpOp.CALL && insns[subseq - 1]!.src === CallSrc.LOCAL;
      if (!fromCall || bt.regs[f]! & ARG_REGS || f + 1 >= bt.regs.length) throw UNSUPPORTED;
      const r0 = bt.hasReg(f, 0);
      bt.clearReg(f, 0);
      bt.frame++;
      bt.clearFrame(bt.frame);
      if (r0) bt.setReg(bt.frame, 0);
      return;
    }
    if (op === JmpOp.JA || op === JmpOp.JCOND) return;
    if (opSource(insn.opcode) === Source.X) {
      if (!bt.hasReg(f, dreg) && !bt.hasReg(f, sreg)) return;
      // Both sides of a comparison bound each other.
      if (!hist || !(hist.flags & HIST_SRC_REG_STACK)) bt.setReg(f, sreg);
      if (!hist || !(hist.flags & HIST_DST_REG_STACK)) bt.setReg(f, dreg);
    }
  } else if (cls === InsnClass.LD) {
    if (mode === Mode.IMM) {
      bt.clearReg(f, dreg);
      return;
    }
    // LD_ABS/LD_IND write R0 from the packet, and may leave the function: not followed.
    if (bt.hasReg(f, 0) || subseq !== idx + 1) throw UNSUPPORTED;
    return;
  }
  syncLinked(bt, hist);
}

function withPrecise(reg: Reg, precise: boolean): Reg {
  const copy = copyReg(reg);
  copy.precise = precise;
  return copy;
}

/** The frames of a stored state, for marking: each frame's registers and slots are its own copies. */
function markReg(frame: Frame, regno: number): boolean {
  const reg = frame.regs[regno]!;
  if (reg.type !== RegType.SCALAR) return false;
  if (reg.precise) return false;
  frame.regs[regno] = withPrecise(reg, true);
  return true;
}

function markSlot(frame: Frame, spi: number): boolean {
  const spilled = isScalarSpill(frame, spi);
  if (spilled === undefined || spilled.precise) return false;
  stackSlot(frame, spi, true)!.spilled = withPrecise(spilled, true);
  return true;
}

/**
 * __mark_chain_precision with the marks already in `bt`: walks `cur`'s
 * instructions back from `insnIdx` (which is not itself walked), then each
 * stored state up the parent chain, marking in each what the walk below it
 * needs, until nothing is left to explain.
 */
export function markChainPrecisionBatch(ctx: PrecisionContext, cur: VerifierState, insnIdx: number, bt: Backtrack): void {
  if (bt.empty()) return;
  let st: VerifierState = cur;
  let checkpoint: Checkpoint | undefined = cur.parent;
  let lastIdx = insnIdx;
  let firstIdx = cur.firstInsnIdx;
  let subseq = -1;
  let skipFirst = true;
  try {
    for (;;) {
      if (ctx.logLevel > 1) ctx.write(`mark_precise: frame${bt.frame}: last_idx ${lastIdx} first_idx ${firstIdx} subseq_idx ${subseq} \n`);
      if (lastIdx < 0) {
        // The entry of a global function verified on its own: its arguments r1-r5 are where precision starts.
        const f0 = st.frames[0]!;
        if (st.frames.length === 1 && f0.subprog > 0 && f0.callsite === -1 && !bt.hasStack(0) && (bt.regs[0]! & ~ARG_REGS) === 0) {
          for (let r = 1; r <= 5; r++) if (bt.hasReg(0, r) && markReg(f0, r)) bt.marked++;
          return;
        }
        throw UNSUPPORTED;
      }
      const hist = st.history;
      let histEnd = hist.length;
      for (let i = lastIdx; ; ) {
        if (skipFirst) skipFirst = false;
        else backtrackInsn(ctx, i, subseq, histEnd > 0 && hist[histEnd - 1]!.idx === i ? hist[histEnd - 1] : undefined, bt);
        if (bt.empty()) return;
        subseq = i;
        // get_prev_insn_idx: the instruction before `i` on this state's path; none at the state's start.
        if (i === st.firstInsnIdx && (histEnd === 0 || (histEnd === 1 && hist[0]!.idx === i))) break;
        if (histEnd > 0 && hist[histEnd - 1]!.idx === i) i = hist[--histEnd]!.prev;
        else i--;
        if (i < 0) break;
        if (i >= ctx.insns.length) throw UNSUPPORTED;
      }
      if (checkpoint === undefined) break;
      st = checkpoint.state;
      checkpoint = st.parent;
      if (bt.frame >= st.frames.length) throw UNSUPPORTED;
      for (let fr = bt.frame; fr >= 0; fr--) {
        const frame = st.frames[fr]!;
        for (let r = 0; r <= 10 && bt.regs[fr] !== 0; r++) {
          if (!bt.hasReg(fr, r)) continue;
          const reg = frame.regs[r]!;
          if (reg.type !== RegType.SCALAR || reg.precise) bt.clearReg(fr, r);
          else if (markReg(frame, r)) bt.marked++;
        }
        for (let spi = 0; spi < 64 && bt.hasStack(fr); spi++) {
          if (!bt.hasSlot(fr, spi)) continue;
          if (spi >= frame.stack.length) throw UNSUPPORTED;
          const spilled = isScalarSpill(frame, spi);
          if (spilled === undefined || spilled.precise) bt.clearSlot(fr, spi);
          else if (markSlot(frame, spi)) bt.marked++;
        }
        if (ctx.logLevel > 1) {
          ctx.write(`mark_precise: frame${fr}: parent state regs=${regMaskString(bt.regs[fr]!)} stack=${bt.stackString(fr)}: ${formatFrame(frame)}\n`);
        }
      }
      if (bt.empty()) return;
      subseq = firstIdx;
      lastIdx = st.lastInsnIdx;
      firstIdx = st.firstInsnIdx;
    }
  } catch (e) {
    if (e !== UNSUPPORTED) throw e;
  }
  // Something the walk could not explain (or follow): every stored state on the path becomes fully precise.
  bt.marked += markAllScalarsPrecise(ctx, cur);
}

/** mark_chain_precision for register `regno` of the current frame, used by the instruction at `insnIdx`. */
export function markChainPrecision(ctx: PrecisionContext, cur: VerifierState, insnIdx: number, regno: number, bt: Backtrack): void {
  const frame = cur.frames[cur.frames.length - 1]!;
  if (frame.regs[regno]!.type !== RegType.SCALAR) return;
  bt.reset(cur.frames.length - 1);
  bt.setReg(bt.frame, regno);
  markChainPrecisionBatch(ctx, cur, insnIdx, bt);
}

/** mark_chain_precision for a spilled stack slot of `frameno` (a constant map key on the stack). */
export function markSlotPrecision(ctx: PrecisionContext, cur: VerifierState, insnIdx: number, frameno: number, spi: number, bt: Backtrack): void {
  bt.reset(cur.frames.length - 1);
  bt.setSlot(frameno, spi);
  markChainPrecisionBatch(ctx, cur, insnIdx, bt);
}

/** mark_all_scalars_precise: every scalar of every stored state above `cur`. Returns how many were newly marked. */
export function markAllScalarsPrecise(ctx: PrecisionContext, cur: VerifierState): number {
  if (ctx.logLevel > 1) ctx.write(`mark_precise: frame${cur.frames.length - 1}: falling back to forcing all scalars precise\n`);
  let marked = 0;
  for (let c = cur.parent; c !== undefined; c = c.state.parent) {
    const st = c.state;
    for (let fr = 0; fr < st.frames.length; fr++) {
      const frame = st.frames[fr]!;
      for (let r = 0; r < 10; r++) {
        if (!markReg(frame, r)) continue;
        marked++;
        if (ctx.logLevel > 1) ctx.write(`force_precise: frame${fr}: forcing r${r} to be precise\n`);
      }
      for (let spi = 0; spi < frame.stack.length; spi++) {
        if (!markSlot(frame, spi)) continue;
        marked++;
        if (ctx.logLevel > 1) ctx.write(`force_precise: frame${fr}: forcing fp${-(spi + 1) * 8} to be precise\n`);
      }
    }
  }
  return marked;
}

/** mark_all_scalars_imprecise: a state about to be stored forgets the marks it inherited (its children decide anew). */
export function markAllScalarsImprecise(st: VerifierState): void {
  for (const frame of st.frames) {
    for (let r = 0; r < 10; r++) {
      const reg = frame.regs[r]!;
      if (reg.precise) frame.regs[r] = withPrecise(reg, false);
    }
    for (let spi = 0; spi < frame.stack.length; spi++) {
      const slot = frame.stack[spi];
      if (slot?.spilled?.precise && slot.types[7] === Slot.SPILL) stackSlot(frame, spi, true)!.spilled = withPrecise(slot.spilled, false);
    }
  }
}

/**
 * propagate_precision: the current path was pruned against `old`, so what
 * `old`'s continuation needed precise, this path needs too (registers live
 * at the pruning point, and spilled scalars).
 */
export function propagatePrecision(ctx: PrecisionContext, old: VerifierState, cur: VerifierState, insnIdx: number, bt: Backtrack): number {
  bt.reset(cur.frames.length - 1);
  for (let fr = old.frames.length - 1; fr >= 0; fr--) {
    const frame = old.frames[fr]!;
    const live = ctx.liveRegsAt(old, fr, insnIdx);
    const names: string[] | undefined = ctx.logLevel > 1 ? [] : undefined;
    for (let r = 0; r < 10; r++) {
      const reg = frame.regs[r]!;
      if (reg.type !== RegType.SCALAR || !reg.precise || !(live & (1 << r))) continue;
      names?.push(`r${r}`);
      bt.setReg(fr, r);
    }
    for (let spi = 0; spi < frame.stack.length; spi++) {
      const slot = frame.stack[spi];
      if (slot === undefined || slot.types[7] !== Slot.SPILL) continue;
      const reg = slot.spilled;
      if (reg === undefined || reg.type !== RegType.SCALAR || !reg.precise) continue;
      names?.push(`fp${-(spi + 1) * 8}`);
      bt.setSlot(fr, spi);
    }
    if (names !== undefined && names.length > 0) ctx.write(`frame ${fr}: propagating ${names.join(',')}\n`);
  }
  markChainPrecisionBatch(ctx, cur, insnIdx, bt);
  return bt.marked;
}

/** regs_exact for two scalars: the same value set and the same link. */
function scalarsIdentical(a: Reg, b: Reg): boolean {
  const x = a.v;
  const y = b.v;
  return (
    a.id === b.id && a.off === b.off && scalarEquals(x, y)
  );
}

/** maybe_widen_reg: an imprecise scalar that changed since the previous iteration becomes unknown. */
function widened(old: Reg, cur: Reg, unknown: () => Reg): Reg {
  if (old.type !== RegType.SCALAR || cur.type !== RegType.SCALAR) return cur;
  if (old.precise || cur.precise || scalarsIdentical(old, cur)) return cur;
  return unknown();
}

/**
 * widen_imprecise_scalars: before a loop's next iteration (may_goto, an
 * iterator's next), scalars that differ from the iteration before and that
 * nothing needed precise become unknown, so the loop converges instead of
 * being walked once per counter value.
 */
export function widenImpreciseScalars(old: VerifierState, cur: VerifierState, unknown: () => Reg): void {
  for (let fr = old.frames.length - 1; fr >= 0; fr--) {
    const fo = old.frames[fr]!;
    const fc = cur.frames[fr]!;
    for (let r = 0; r <= 10; r++) {
      const next = widened(fo.regs[r]!, fc.regs[r]!, unknown);
      if (next !== fc.regs[r]) fc.regs[r] = next;
    }
    const slots = Math.min(fo.stack.length, fc.stack.length);
    for (let spi = 0; spi < slots; spi++) {
      const so = fo.stack[spi];
      const sc = fc.stack[spi];
      if (so === undefined || sc === undefined || so.types[7] !== Slot.SPILL || sc.types[7] !== Slot.SPILL) continue;
      const next = widened(so.spilled!, sc.spilled!, unknown);
      if (next !== sc.spilled) stackSlot(fc, spi, true)!.spilled = next;
    }
  }
}
