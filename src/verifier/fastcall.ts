/**
 * bpf_fastcall, as kernel/bpf/verifier.c does it (mark_fastcall_patterns,
 * check_fastcall_stack_contract, remove_fastcall_spills_fills).
 *
 * Clang surrounds a call to a `bpf_fastcall` function with spills and fills
 * of the caller-saved registers the function does not clobber:
 *
 *     *(u64 *)(r10 - 16) = r2
 *     *(u64 *)(r10 - 8) = r1     ; the lowest offsets the subprogram spills to, in order
 *     call bpf_get_smp_processor_id
 *     r1 = *(u64 *)(r10 - 8)
 *     r2 = *(u64 *)(r10 - 16)
 *
 * When the kernel inlines the call (which keeps those registers), it removes
 * the pairs after verification, and the subprogram's stack depth shrinks to
 * what lies above them. The pairs are still verified as written; what
 * changes is the stack depth the call-chain limit adds up. That holds only
 * while nothing else in the subprogram touches the spill slots: any other
 * access there cancels the rewrite for the whole subprogram.
 */
import { type Instruction, CallSrc, InsnClass, JmpOp, Mode, Size, isLddw, jmpOp, opClass, opMode, opSize } from '../isa/index.ts';
import { type Subprogram, isPseudoCall, isPseudoFunc, jumpTarget } from './cfg.ts';

/** R0-R5. */
const CALLER_SAVED = 0x3f;
/** At most this many pairs (one per caller-saved register r0-r5). */
const MAX_PAIRS = 6;
/** fastcall_stack_off of a subprogram whose rewrite was cancelled: below any offset. */
const CANCELLED = -0x8000;

/** What a call clobbers (the registers it returns in and takes arguments in) and whether the kernel inlines it. */
export interface FastcallCallee {
  clobbers: number;
  inlined: boolean;
}

/** The registers a function with `args` arguments and a result (or none) clobbers under the bpf_fastcall contract. */
export const fastcallClobbers = (args: number, returnsValue: boolean): number => (((1 << args) - 1) << 1) | (returnsValue ? 1 : 0);

export class FastcallPatterns {
  /** Per instruction: a spill or fill of a pattern (insn_aux_data.fastcall_pattern). */
  private readonly pattern: Uint8Array;
  /** Per call instruction: the pairs the kernel removes around it (fastcall_spills_num). */
  private readonly spills = new Map<number, number>();
  /** Per subprogram: where its fastcall spill slots end (fastcall_stack_off), 0 when it has none. */
  private readonly stackOff: number[];
  /** Per subprogram: a pattern around a call the kernel does not inline keeps the stack as it is (keep_fastcall_stack). */
  private readonly keepStack: boolean[];

  private constructor(
    private readonly subprogs: readonly Subprogram[],
    length: number,
  ) {
    this.pattern = new Uint8Array(length);
    this.stackOff = subprogs.map(() => 0);
    this.keepStack = subprogs.map(() => false);
  }

  /**
   * mark_fastcall_patterns. Returns undefined when no call in the program is
   * surrounded by a spill and fill pair, the case of almost every program:
   * nothing is then checked or rewritten.
   */
  static find(insns: readonly Instruction[], subprogs: readonly Subprogram[], calleeAt: (insnIdx: number) => FastcallCallee | undefined): FastcallPatterns | undefined {
    let found: FastcallPatterns | undefined;
    let jumpTargets: Uint8Array | undefined;
    for (let s = 0; s < subprogs.length; s++) {
      const { start, end } = subprogs[s]!;
      let lowest: number | undefined;
      for (let t = start; t < end; t++) {
        const insn = insns[t]!;
        if (!isCall(insn) || !isSpill(insns[t - 1]) || !isFill(insns[t + 1])) continue;
        const callee = calleeAt(t);
        if (callee === undefined || (callee.clobbers & CALLER_SAVED) === CALLER_SAVED) continue;
        lowest ??= lowestSpillOffset(insns, start, end);
        jumpTargets ??= findJumpTargets(insns);
        found ??= new FastcallPatterns(subprogs, insns.length);
        found.markCall(insns, s, t, lowest, callee, jumpTargets);
      }
    }
    return found;
  }

  /** mark_fastcall_pattern_for_call. */
  private markCall(insns: readonly Instruction[], subprog: number, call: number, lowest: number, callee: FastcallCallee, jumpTargets: Uint8Array): void {
    let expected = ~callee.clobbers & CALLER_SAVED;
    let i = 1;
    let off = lowest;
    for (; i <= MAX_PAIRS; i++, off += 8) {
      if (call - i < 0 || call + i >= insns.length) break;
      // Spills, the call and fills must not be jumped to (a jump to the first spill is fine).
      if (jumpTargets[call - i + 1] === 1 || jumpTargets[call + i] === 1) break;
      const spill = insns[call - i]!;
      const fill = insns[call + i]!;
      if (!isSpill(spill) || !isFill(fill) || spill.src !== fill.dst) break;
      if (((1 << spill.src) & expected) === 0) break;
      if (spill.offset !== off || fill.offset !== off) break;
      expected &= ~(1 << spill.src);
      this.pattern[call - i] = 1;
      this.pattern[call + i] = 1;
    }
    if (i === 1) return;
    if (callee.inlined) this.spills.set(call, i - 1);
    else this.keepStack[subprog] = true;
    this.stackOff[subprog] = Math.min(this.stackOff[subprog]!, off);
  }

  /**
   * check_fastcall_stack_contract: instruction `insnIdx` accesses the stack
   * of `subprog` at `off`. Below the fastcall slots' end, only the patterns'
   * own spills and fills may; anything else cancels the subprogram's rewrite.
   */
  checkAccess(subprog: number, insnIdx: number, off: number): void {
    if (this.stackOff[subprog]! <= off || this.pattern[insnIdx] === 1) return;
    this.stackOff[subprog] = CANCELLED;
    const { start, end } = this.subprogs[subprog]!;
    this.pattern.fill(0, start, end);
    for (const call of this.spills.keys()) if (call >= start && call < end) this.spills.delete(call);
  }

  /**
   * remove_fastcall_spills_fills, on the stack depths: a subprogram whose
   * inlined calls lose their pairs keeps only the stack above the slots.
   */
  applyToStackDepths(stackDepth: number[]): void {
    for (let s = 0; s < this.subprogs.length; s++) {
      const { start, end } = this.subprogs[s]!;
      let removed = false;
      for (const call of this.spills.keys()) if (call >= start && call < end) removed = true;
      if (removed && !this.keepStack[s]) stackDepth[s] = -this.stackOff[s]!;
    }
  }
}

const isCall = (i: Instruction): boolean => opClass(i.opcode) === InsnClass.JMP && jmpOp(i.opcode) === JmpOp.CALL && i.src !== CallSrc.LOCAL;
const isSpill = (i: Instruction | undefined): boolean =>
  i !== undefined && opClass(i.opcode) === InsnClass.STX && opMode(i.opcode) === Mode.MEM && opSize(i.opcode) === Size.DW && i.dst === 10;
const isFill = (i: Instruction | undefined): boolean =>
  i !== undefined && opClass(i.opcode) === InsnClass.LDX && opMode(i.opcode) === Mode.MEM && opSize(i.opcode) === Size.DW && i.src === 10;

/** The lowest offset the subprogram spills a register to through r10 (0 when none). */
function lowestSpillOffset(insns: readonly Instruction[], start: number, end: number): number {
  let lowest = 0;
  for (let t = start; t < end; t++) if (isSpill(insns[t])) lowest = Math.min(lowest, insns[t]!.offset);
  return lowest;
}

/** Targets of jumps and of calls into subprograms (insn_aux_data.jump_target, which check_cfg marks on branch edges). */
function findJumpTargets(insns: readonly Instruction[]): Uint8Array {
  const targets = new Uint8Array(insns.length + 1);
  const mark = (t: number): void => {
    if (t >= 0 && t < targets.length) targets[t] = 1;
  };
  for (let t = 0; t < insns.length; t++) {
    const insn = insns[t]!;
    // A subprogram called, or entered as a callback through the ld_imm64 of its address.
    if (isPseudoCall(insn) || isPseudoFunc(insn)) mark(t + insn.imm + 1);
    if (isLddw(insn)) {
      t++;
      continue;
    }
    const cls = opClass(insn.opcode);
    if (cls !== InsnClass.JMP && cls !== InsnClass.JMP32) continue;
    const op = jmpOp(insn.opcode);
    if (op !== JmpOp.EXIT && op !== JmpOp.CALL) mark(jumpTarget(insns, t));
  }
  return targets;
}
