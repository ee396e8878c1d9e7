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

/**
 * Per instruction and frame: may_read, must_write, must_write_acc and live_before, each as lo and hi words, and (in
 * frame 0's table only) whether must_write has been set once.
 */
const FIELDS = 9;
const MAY_READ = 0;
const MUST_WRITE = 2;
const WRITE_ACC = 4;
const LIVE = 6;
const MUST_WRITE_SET = 8;
const MAX_FRAMES = 8;

/** The current instruction's full-slot writes per frame (verification is synchronous: one scratch serves every verifier). */
const WRITE_ACC_SCRATCH = new Int32Array(MAX_FRAMES * 2);
/** Successors of one instruction (bpf_insn_successors' out array). */
const SUCCESSORS_SCRATCH = new Int32Array(2);
/** Depth-first search scratch for the postorder (grown as needed). */
let searchScratch = new Int32Array(256);

/**
 * The tables of one verification at a time come from this buffer (zeroed as they are handed out): a new typed array
 * per table was a fifth of the analysis' cost on small programs. Verification is synchronous; while one holds the
 * buffer, any other allocates its own.
 */
let tablePool = new Int32Array(4096);
let tablePoolTaken = false;
const TABLE_POOL_MAX = 1 << 20;

/** One subprogram as reached through one chain of calls. */
class FuncInstance {
  /** Masks per frame of the chain, allocated when a mark first touches the frame. */
  readonly frames: (Int32Array | undefined)[] = [];
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
    /** The instance of the chain one frame up (the caller's); undefined for a chain of one frame. */
    readonly outer: FuncInstance | undefined,
    private readonly tables: StackLiveness,
  ) {
    this.start = subprog.start;
    this.end = subprog.end;
  }

  get depth(): number {
    return this.subprogs.length;
  }

  masks(frame: number): Int32Array {
    let masks = this.frames[frame];
    if (masks === undefined) this.frames[frame] = masks = this.tables.table((this.end - this.start) * FIELDS);
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
  /** Instances of call chains through other subprograms, by chain. */
  private instances: Map<string, FuncInstance> | undefined;
  /** Instances of subprograms entered directly (the main program, global functions), by subprogram. */
  private readonly roots: (FuncInstance | undefined)[] = [];
  /** The innermost instance last looked up: the state being explored stays in one chain for long. */
  private recent: FuncInstance | undefined;
  /** Any full-slot write since resetWriteMarks. */
  private wrote = true;
  /** The instance of the state being explored (cur_instance); undefined after its call chain changed. */
  private cur: FuncInstance | undefined;
  /** The instance the current instruction's writes go to; undefined once the instruction changed the call chain. */
  private writeInstance: FuncInstance | undefined;
  private writeInsn = 0;
  private readonly writeAcc = WRITE_ACC_SCRATCH;
  /** Per subprogram, its instructions in the order the data flow visits them (successors first), and their successors. */
  private readonly flows: (Int32Array | undefined)[] = [];
  /** Whether this verification holds the table pool, how much of it is handed out, and how much it would have needed. */
  private holdsPool = false;
  private poolUsed = 0;
  private poolWanted = 0;

  constructor(
    private readonly insns: readonly Instruction[],
    private readonly subprogs: readonly Subprogram[],
  ) {}

  /** A zeroed table of `size` words, from the pool when it is free and large enough. */
  table(size: number): Int32Array {
    if (!this.holdsPool && !tablePoolTaken) {
      tablePoolTaken = true;
      this.holdsPool = true;
    }
    this.poolWanted += size;
    if (!this.holdsPool || this.poolUsed + size > tablePool.length) return new Int32Array(size);
    const table = tablePool.subarray(this.poolUsed, this.poolUsed + size);
    table.fill(0);
    this.poolUsed += size;
    return table;
  }

  /** The verification is over: its tables go back to the pool (grown for the next one when this one needed more). */
  release(): void {
    if (!this.holdsPool) return;
    this.holdsPool = false;
    tablePoolTaken = false;
    if (this.poolWanted > tablePool.length && this.poolWanted <= TABLE_POOL_MAX) tablePool = new Int32Array(this.poolWanted);
  }

  /** bpf_reset_stack_write_marks: instruction `insnIdx` of `st` starts; its full-slot writes gather until commit. */
  resetWriteMarks(st: VerifierState, insnIdx: number): void {
    this.writeInstance = this.ensureCurrent(st);
    this.writeInsn = insnIdx;
    if (this.wrote) {
      this.writeAcc.fill(0);
      this.wrote = false;
    }
  }

  /** bpf_mark_stack_write: the current instruction writes all 8 bytes of slot `spi` of `frame`. */
  markWrite(frame: number, spi: number): void {
    this.writeAcc[frame * 2 + (spi >> 5)]! |= 1 << (spi & 31);
    this.wrote = true;
  }

  /** bpf_mark_stack_read: instruction `insnIdx` of `st` may read slot `spi` of `frame`. */
  markRead(st: VerifierState, frame: number, insnIdx: number, spi: number): void {
    markRead(this.ensureCurrent(st), frame, insnIdx, spi >> 5, 1 << (spi & 31));
  }

  /** markRead for the slots holding stack bytes [minOff, maxOff) (offsets from the frame pointer, negative). */
  markReadBytes(st: VerifierState, frame: number, insnIdx: number, minOff: number, maxOff: number): void {
    if (maxOff <= minOff) return;
    const instance = this.ensureCurrent(st);
    const highSpi = (-minOff - 1) >> 3;
    for (let spi = (-(maxOff - 1) - 1) >> 3; spi <= highSpi; spi++) markRead(instance, frame, insnIdx, spi >> 5, 1 << (spi & 31));
  }

  /**
   * bpf_commit_stack_write_marks, after the instruction ran, unless it entered a
   * subprogram or returned from one (resetCallchain, update: the kernel resets
   * its current instance there).
   */
  commitWriteMarks(): void {
    if (this.writeInstance === undefined) return;
    this.commit(this.writeInstance);
    this.writeInstance = undefined;
  }

  /** bpf_reset_live_stack_callchain: a call entered a subprogram. */
  resetCallchain(): void {
    this.cur = undefined;
    this.writeInstance = undefined;
  }

  /**
   * bpf_update_live_stack: before a path ends or returns from a subprogram, the
   * data flow of every instance on its call chain, innermost first (a callee's
   * result feeds its caller's).
   */
  update(st: VerifierState): void {
    this.resetCallchain();
    for (let instance: FuncInstance | undefined = this.innermost(st); instance !== undefined; instance = instance.outer) {
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
    const innermost = this.innermost(st);
    for (let frameno = 0; frameno < depth; frameno++) {
      const stack = st.frames[frameno]!.stack;
      for (let spi = 0; spi < stack.length; spi++) {
        const slot = stack[spi];
        if (slot === undefined || slot.object !== undefined) continue;
        if (innermost.liveBefore(st.insnIdx, frameno, spi)) continue;
        let alive = false;
        // The callers from frame depth - 2 down to frameno, each checked after its call.
        let caller = innermost.outer;
        for (let i = depth - 2; i >= frameno && !alive; i--, caller = caller!.outer) {
          const callee = st.frames[i + 1]!;
          // A callback may run again: what it reads is live before the helper call, not only after.
          alive = caller!.liveBefore(callee.callback !== undefined ? callee.callsite : callee.callsite + 1, frameno, spi);
        }
        if (!alive) visit(frameno, spi);
      }
    }
  }

  private ensureCurrent(st: VerifierState): FuncInstance {
    let instance = this.cur;
    if (instance === undefined || !sameChain(instance, st)) this.cur = instance = this.innermost(st);
    return instance;
  }

  private innermost(st: VerifierState): FuncInstance {
    const recent = this.recent;
    if (recent !== undefined && sameChain(recent, st)) return recent;
    return (this.recent = this.instanceOf(st, st.frames.length - 1));
  }

  /** The instance for frames 0..frame of `st` (lookup_instance). */
  private instanceOf(st: VerifierState, frame: number): FuncInstance {
    if (frame === 0) return this.root(st.frames[0]!.subprog);
    const callsites: number[] = [];
    const subprogs: number[] = [];
    for (let f = 0; f <= frame; f++) {
      subprogs.push(st.frames[f]!.subprog);
      if (f > 0) callsites.push(st.frames[f]!.callsite);
    }
    return this.lookup(callsites, subprogs);
  }

  private root(subprog: number): FuncInstance {
    let root = this.roots[subprog];
    if (root === undefined) this.roots[subprog] = root = new FuncInstance([], [subprog], this.subprogs[subprog]!, undefined, this);
    return root;
  }

  /** The instance of the chain through `callsites` into `subprogs` (one more subprogram than call sites). */
  private lookup(callsites: readonly number[], subprogs: readonly number[]): FuncInstance {
    if (subprogs.length === 1) return this.root(subprogs[0]!);
    let key = `${subprogs[0]}`;
    for (let f = 1; f < subprogs.length; f++) key += `,${callsites[f - 1]}:${subprogs[f]}`;
    this.instances ??= new Map();
    let instance = this.instances.get(key);
    if (instance === undefined) {
      const outer = this.lookup(callsites.slice(0, -1), subprogs.slice(0, -1));
      instance = new FuncInstance(callsites, subprogs, this.subprogs[subprogs[subprogs.length - 1]!]!, outer, this);
      this.instances.set(key, instance);
    }
    return instance;
  }

  private commit(instance: FuncInstance): void {
    const rel = this.writeInsn - instance.start;
    const setTable = instance.masks(0);
    const wasSet = setTable[rel * FIELDS + MUST_WRITE_SET] === 1;
    setTable[rel * FIELDS + MUST_WRITE_SET] = 1;
    if (!this.wrote) {
      // Nothing written (most instructions): must_write stays or becomes empty.
      if (!wasSet) return;
      for (let frame = 0; frame < instance.depth; frame++) {
        const masks = instance.frames[frame];
        if (masks === undefined) continue;
        const at = rel * FIELDS + MUST_WRITE;
        if (masks[at] !== 0 || masks[at + 1] !== 0) {
          masks[at] = masks[at + 1] = 0;
          instance.updated = true;
          instance.mustWriteDropped = true;
        }
      }
      return;
    }
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
    const flow = this.flow(instance.subprogs[instance.depth - 1]!);
    const order = count * 2;
    let changed: boolean;
    do {
      changed = false;
      for (let frame = 0; frame < instance.depth; frame++) {
        const masks = instance.frames[frame];
        if (masks === undefined) continue;
        for (let k = order; k < flow.length; k++) {
          const rel = flow[k]!;
          if (rel < 0) break;
          const first = flow[rel * 2]!;
          if (first < 0) continue;
          const second = flow[rel * 2 + 1]!;
          const at = rel * FIELDS;
          for (let w = 0; w < 2; w++) {
            let after = masks[first * FIELDS + LIVE + w]!;
            let acc = masks[first * FIELDS + WRITE_ACC + w]!;
            if (second >= 0) {
              after |= masks[second * FIELDS + LIVE + w]!;
              acc &= masks[second * FIELDS + WRITE_ACC + w]!;
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
    const outer = instance.outer!;
    const callsite = instance.callsites[depth - 2]!;
    this.writeInsn = callsite;
    this.writeAcc.fill(0);
    this.wrote = true;
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

  /**
   * For the subprogram, one table: each instruction's successors (relative indexes, -1 for none; two per instruction),
   * then its instructions in depth-first postorder from its entry (the kernel's insn_postorder).
   */
  private flow(subprog: number): Int32Array {
    let flow = this.flows[subprog];
    if (flow !== undefined) return flow;
    const { start, end } = this.subprogs[subprog]!;
    const count = end - start;
    flow = this.table(count * 3).fill(-1);
    const out = SUCCESSORS_SCRATCH;
    for (let t = start; t < end; t++) {
      const n = this.successors(t, out);
      for (let k = 0; k < n; k++) if (out[k]! >= start && out[k]! < end) flow[(t - start) * 2 + k] = out[k]! - start;
    }
    // Postorder by an explicit stack; a slot of the scratch's second half marks an instruction visited.
    if (searchScratch.length < count * 2) searchScratch = new Int32Array(count * 2);
    const stack = searchScratch;
    stack.fill(0, count, count * 2);
    let top = 0;
    let emitted = count * 2;
    stack[top++] = 0;
    stack[count] = 1;
    while (top > 0) {
      const t = stack[top - 1]!;
      let pushed = false;
      for (let k = 0; k < 2 && !pushed; k++) {
        const next = flow[t * 2 + k]!;
        if (next < 0 || stack[count + next] !== 0) continue;
        stack[count + next] = 1;
        stack[top++] = next;
        pushed = true;
      }
      if (!pushed) {
        top--;
        flow[emitted++] = t;
      }
    }
    this.flows[subprog] = flow;
    return flow;
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
