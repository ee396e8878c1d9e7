/**
 * Live stack slots, as the kernel's liveness.c (Linux 6.18) finds them: a
 * stored state whose paths are all explored compares only the stack slots
 * that some explored path from its instruction may still read. Without it,
 * two states that differ only in a slot nothing reads again never prune
 * each other, and a program the kernel verifies in ten thousand steps can
 * run into the million-instruction limit.
 *
 * The analysis is call chain sensitive: marks are kept per function
 * instance (the call sites leading to a subprogram, and the subprogram) and
 * per frame of that chain, since a callee may read or write its callers'
 * stack through pointers. Exploration records, per instruction, the slots
 * it may read (a union over every visit) and the slots it always writes in
 * full (an intersection). A backward data flow over the subprogram turns
 * them into the slots live before each instruction; a callee's entry
 * liveness and certain writes are carried to its call site in the caller.
 *
 * Slots are 8-byte stack slots by spi (0 is fp-8); a frame's 64 slots are
 * two 32-bit words (lo: spi 0-31, hi: spi 32-63).
 */
import { type Instruction, InsnClass, JmpOp, isLddw, jmpOp, opClass } from '../isa/index.ts';
import { jumpTarget, type Subprogram } from './cfg.ts';
import type { VerifierState } from './state.ts';

/** Per instruction and frame: may_read, must_write, must_write_acc and live_before, each as lo and hi words. */
const FIELDS = 8;
const MAY_READ = 0;
const MUST_WRITE = 2;
const WRITE_ACC = 4;
const LIVE = 6;
const MAX_FRAMES = 8;

/** One subprogram as reached through one chain of calls. */
class FuncInstance {
  /** Masks per frame of the chain, allocated when a mark first touches the frame. */
  readonly frames: (Int32Array | undefined)[] = [];
  /** Whether the instruction's must_write has been set once (later visits intersect with it). */
  readonly mustWriteSet: Uint8Array;
  updated = false;
  mustWriteDropped = false;
  readonly start: number;
  readonly end: number;

  /**
   * `callsites[i]` is the call instruction in frame i that created frame i + 1;
   * `subprogs[i]` the subprogram frame i runs. The instance's own frame is the last.
   */
  constructor(
    readonly callsites: readonly number[],
    readonly subprogs: readonly number[],
    subprog: Subprogram,
  ) {
    this.start = subprog.start;
    this.end = subprog.end;
    this.mustWriteSet = new Uint8Array(this.end - this.start);
  }

  get depth(): number {
    return this.subprogs.length;
  }

  masks(frame: number): Int32Array {
    let masks = this.frames[frame];
    if (masks === undefined) this.frames[frame] = masks = new Int32Array((this.end - this.start) * FIELDS);
    return masks;
  }

  /** Is slot `spi` of `frame` live before instruction `insnIdx`? */
  liveBefore(insnIdx: number, frame: number, spi: number): boolean {
    const masks = this.frames[frame];
    if (masks === undefined) return false;
    const word = masks[(insnIdx - this.start) * FIELDS + LIVE + (spi >> 5)]!;
    return (word & (1 << (spi & 31))) !== 0;
  }
}

export class StackLiveness {
  private readonly instances = new Map<string, FuncInstance>();
  /** The instance of the state being explored (cur_instance); undefined after its call chain changed. */
  private cur: FuncInstance | undefined;
  private writeInsn = 0;
  private readonly writeAcc = new Int32Array(MAX_FRAMES * 2);
  /** Per subprogram, its instructions in the order the data flow visits them (successors first). */
  private readonly postorders = new Map<number, Int32Array>();

  constructor(
    private readonly insns: readonly Instruction[],
    private readonly subprogs: readonly Subprogram[],
  ) {}

  /** bpf_reset_stack_write_marks: instruction `insnIdx` of `st` starts; its full-slot writes gather until commit. */
  resetWriteMarks(st: VerifierState, insnIdx: number): void {
    const instance = this.ensureCurrent(st);
    this.writeInsn = insnIdx;
    this.writeAcc.fill(0, 0, instance.depth * 2);
  }

  /** bpf_mark_stack_write: the current instruction writes all 8 bytes of slot `spi` of `frame`. */
  markWrite(frame: number, spi: number): void {
    this.writeAcc[frame * 2 + (spi >> 5)]! |= 1 << (spi & 31);
  }

  /** bpf_mark_stack_read: instruction `insnIdx` of `st` may read slot `spi` of `frame`. */
  markRead(st: VerifierState, frame: number, insnIdx: number, spi: number): void {
    markRead(this.ensureCurrent(st), frame, insnIdx, spi >> 5, 1 << (spi & 31));
  }

  /**
   * bpf_commit_stack_write_marks, after the instruction ran. An instruction that
   * entered or left a subprogram changed the call chain (the kernel resets its
   * current instance there): its marks are not committed.
   */
  commitWriteMarks(st: VerifierState): void {
    const instance = this.cur;
    if (instance === undefined || !sameChain(instance, st)) return;
    this.commit(instance);
  }

  /**
   * bpf_update_live_stack: before a path ends or returns from a subprogram, the
   * data flow of every instance on its call chain, innermost first (a callee's
   * result feeds its caller's).
   */
  update(st: VerifierState): void {
    this.cur = undefined;
    for (let frame = st.frames.length - 1; frame >= 0; frame--) {
      const instance = this.instanceOf(st, frame);
      if (!instance.updated) continue;
      this.updateInstance(instance);
      instance.updated = false;
      instance.mustWriteDropped = false;
    }
  }

  /**
   * clean_func_state's stack part (bpf_stack_slot_alive): the slots of each
   * frame of `st`, a stored state every path of which has been explored, that
   * no path from it may read. Slots holding an iterator or dynptr are kept
   * (their uses are not recorded as reads here).
   */
  deadSlots(st: VerifierState, visit: (frame: number, spi: number) => void): void {
    const depth = st.frames.length;
    const chain: FuncInstance[] = [];
    for (let f = 0; f < depth; f++) chain.push(this.instanceOf(st, f));
    const innermost = chain[depth - 1]!;
    for (let frameno = 0; frameno < depth; frameno++) {
      const stack = st.frames[frameno]!.stack;
      for (let spi = 0; spi < stack.length; spi++) {
        const slot = stack[spi];
        if (slot === undefined || slot.object !== undefined) continue;
        if (innermost.liveBefore(st.insnIdx, frameno, spi)) continue;
        let alive = false;
        for (let i = frameno; i < depth - 1 && !alive; i++) {
          const callee = st.frames[i + 1]!;
          // A callback may run again: what it reads is live before the helper call, not only after.
          alive = chain[i]!.liveBefore(callee.callback !== undefined ? callee.callsite : callee.callsite + 1, frameno, spi);
        }
        if (!alive) visit(frameno, spi);
      }
    }
  }

  private ensureCurrent(st: VerifierState): FuncInstance {
    let instance = this.cur;
    if (instance === undefined || !sameChain(instance, st)) this.cur = instance = this.instanceOf(st, st.frames.length - 1);
    return instance;
  }

  /** The instance for frames 0..frame of `st` (lookup_instance). */
  private instanceOf(st: VerifierState, frame: number): FuncInstance {
    const callsites: number[] = [];
    const subprogs: number[] = [];
    let key = '';
    for (let f = 0; f <= frame; f++) {
      const fr = st.frames[f]!;
      subprogs.push(fr.subprog);
      if (f > 0) callsites.push(fr.callsite);
      key += f > 0 ? `,${fr.callsite}:${fr.subprog}` : `${fr.subprog}`;
    }
    return this.lookup(key, callsites, subprogs);
  }

  private lookup(key: string, callsites: readonly number[], subprogs: readonly number[]): FuncInstance {
    let instance = this.instances.get(key);
    if (instance === undefined) {
      instance = new FuncInstance(callsites, subprogs, this.subprogs[subprogs[subprogs.length - 1]!]!);
      this.instances.set(key, instance);
    }
    return instance;
  }

  private commit(instance: FuncInstance): void {
    const rel = this.writeInsn - instance.start;
    const wasSet = instance.mustWriteSet[rel] === 1;
    for (let frame = 0; frame < instance.depth; frame++) {
      for (let w = 0; w < 2; w++) {
        let mask = this.writeAcc[frame * 2 + w]!;
        if (mask === 0 && !wasSet) continue;
        const masks = instance.masks(frame);
        const at = rel * FIELDS + MUST_WRITE + w;
        const old = masks[at]!;
        if (wasSet) mask &= old;
        if (old !== mask) {
          masks[at] = mask;
          instance.updated = true;
        }
        if ((old & ~mask) !== 0) instance.mustWriteDropped = true;
      }
    }
    instance.mustWriteSet[rel] = 1;
  }

  /** update_instance: live_before and must_write_acc to a fixed point, then the entry's marks to the caller. */
  private updateInstance(instance: FuncInstance): void {
    const count = instance.end - instance.start;
    if (instance.mustWriteDropped) {
      for (const masks of instance.frames) {
        if (masks === undefined) continue;
        for (let i = 0; i < count; i++) masks[i * FIELDS + WRITE_ACC] = masks[i * FIELDS + WRITE_ACC + 1] = 0;
      }
    }
    const order = this.postorder(instance.subprogs[instance.depth - 1]!);
    const successors = new Int32Array(2);
    let changed: boolean;
    do {
      changed = false;
      for (let frame = 0; frame < instance.depth; frame++) {
        const masks = instance.frames[frame];
        if (masks === undefined) continue;
        for (let k = 0; k < order.length; k++) {
          const insnIdx = order[k]!;
          const n = this.successors(insnIdx, successors);
          if (n === 0) continue;
          const at = (insnIdx - instance.start) * FIELDS;
          for (let w = 0; w < 2; w++) {
            let after = 0;
            let acc = -1;
            for (let s = 0; s < n; s++) {
              const succ = (successors[s]! - instance.start) * FIELDS;
              after |= masks[succ + LIVE + w]!;
              acc &= masks[succ + WRITE_ACC + w]!;
            }
            acc |= masks[at + MUST_WRITE + w]!;
            const before = (after & ~masks[at + MUST_WRITE + w]!) | masks[at + MAY_READ + w]!;
            if (before !== masks[at + LIVE + w] || acc !== masks[at + WRITE_ACC + w]) changed = true;
            masks[at + LIVE + w] = before;
            masks[at + WRITE_ACC + w] = acc;
          }
        }
      }
    } while (changed);
    if (instance.depth > 1) this.propagateToCaller(instance);
  }

  /** propagate_to_outer_instance: the callee's entry liveness is read, and its certain writes written, at the call. */
  private propagateToCaller(instance: FuncInstance): void {
    const depth = instance.depth;
    const outerCallsites = instance.callsites.slice(0, depth - 2);
    const outerSubprogs = instance.subprogs.slice(0, depth - 1);
    let key = `${outerSubprogs[0]}`;
    for (let f = 1; f < outerSubprogs.length; f++) key += `,${outerCallsites[f - 1]}:${outerSubprogs[f]}`;
    const outer = this.lookup(key, outerCallsites, outerSubprogs);
    const callsite = instance.callsites[depth - 2]!;
    this.writeInsn = callsite;
    this.writeAcc.fill(0, 0, outer.depth * 2);
    for (let frame = 0; frame < depth - 1; frame++) {
      const masks = instance.frames[frame];
      if (masks === undefined) continue;
      for (let w = 0; w < 2; w++) {
        this.writeAcc[frame * 2 + w]! |= masks[WRITE_ACC + w]!;
        markRead(outer, frame, callsite, w, masks[LIVE + w]!);
      }
    }
    this.commit(outer);
  }

  /** bpf_insn_successors: fall-through and jump target; calls fall through, exit has none. */
  private successors(insnIdx: number, out: Int32Array): number {
    const insn = this.insns[insnIdx]!;
    const cls = opClass(insn.opcode);
    if (cls !== InsnClass.JMP && cls !== InsnClass.JMP32) {
      out[0] = insnIdx + (isLddw(insn) ? 2 : 1);
      return 1;
    }
    const op = jmpOp(insn.opcode);
    if (op === JmpOp.EXIT) return 0;
    if (op === JmpOp.CALL) {
      out[0] = insnIdx + 1;
      return 1;
    }
    if (op === JmpOp.JA) {
      out[0] = jumpTarget(this.insns, insnIdx);
      return 1;
    }
    out[0] = insnIdx + 1;
    out[1] = jumpTarget(this.insns, insnIdx);
    return 2;
  }

  /** The subprogram's instructions in depth-first postorder from its entry (the kernel's insn_postorder). */
  private postorder(subprog: number): Int32Array {
    let order = this.postorders.get(subprog);
    if (order !== undefined) return order;
    const { start, end } = this.subprogs[subprog]!;
    const state = new Uint8Array(end - start);
    const out: number[] = [];
    const stack: number[] = [start];
    const successors = new Int32Array(2);
    state[0] = 1;
    while (stack.length > 0) {
      const t = stack[stack.length - 1]!;
      const n = this.successors(t, successors);
      let pushed = false;
      for (let s = 0; s < n && !pushed; s++) {
        const next = successors[s]!;
        if (next < start || next >= end || state[next - start] !== 0) continue;
        state[next - start] = 1;
        stack.push(next);
        pushed = true;
      }
      if (!pushed) {
        stack.pop();
        out.push(t);
      }
    }
    order = Int32Array.from(out);
    this.postorders.set(subprog, order);
    return order;
  }
}

/** mark_stack_read: add `bits` to may_read; the instance needs its data flow again when they are not yet live. */
function markRead(instance: FuncInstance, frame: number, insnIdx: number, word: number, bits: number): void {
  if (bits === 0) return;
  const masks = instance.masks(frame);
  const at = (insnIdx - instance.start) * FIELDS;
  const mayRead = masks[at + MAY_READ + word]! | bits;
  if (mayRead !== masks[at + MAY_READ + word] && (mayRead | masks[at + LIVE + word]!) !== masks[at + LIVE + word]) instance.updated = true;
  masks[at + MAY_READ + word] = mayRead;
}

/** Does `instance` belong to the call chain of `st`? */
function sameChain(instance: FuncInstance, st: VerifierState): boolean {
  const frames = st.frames;
  if (instance.depth !== frames.length) return false;
  for (let f = 0; f < frames.length; f++) {
    if (instance.subprogs[f] !== frames[f]!.subprog) return false;
    if (f > 0 && instance.callsites[f - 1] !== frames[f]!.callsite) return false;
  }
  return true;
}
