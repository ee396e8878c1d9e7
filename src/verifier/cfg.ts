/**
 * The program's static structure, checked before any path is explored
 * (the kernel's check_subprogs and check_cfg): subprogram boundaries,
 * jumps that stay inside their function, no jump into the middle of an
 * lddw, every instruction reachable; then prune points and register
 * liveness (compute_live_registers in Linux 6.18), which the state
 * comparison uses to ignore dead registers.
 */
import {
  type Instruction,
  CallSrc,
  InsnClass,
  JmpOp,
  LdImm64Src,
  Mode,
  OPCODE_LDDW,
  Source,
  isLddw,
  jmpOp,
  opClass,
  opMode,
  opSource,
} from '../isa/index.ts';
import { helperById } from '../uapi/index.ts';
import { Rejection } from './errors.ts';

export interface Subprogram {
  start: number;
  /** One past the last instruction. */
  end: number;
}

/** Per-instruction tables are indexed by instruction: pooled ones are longer than the program (entries past it are stale). */
export interface ProgramShape {
  subprogs: Subprogram[];
  /** subprog index of each instruction. */
  subprogOf: Int32Array;
  prunePoint: Uint8Array;
  /** may_goto and callback-calling helper calls: always store a checkpoint here (mark_force_checkpoint). */
  forceCheckpoint: Uint8Array;
  /** Bit i set: register i may be read before it is written, from this instruction on. */
  liveIn: Uint16Array;
  /** Instructions calling an iterator's `_next` kfunc (insn_aux_data.is_iter_next), zeroed for the verifier to mark. */
  iterNext: Uint8Array;
  /** Gives the tables back for the next program's shape: the shape is not used after this. */
  release(): void;
}

const isJmp = (i: Instruction): boolean => {
  const cls = opClass(i.opcode);
  return cls === InsnClass.JMP || cls === InsnClass.JMP32;
};
const isCall = (i: Instruction): boolean => opClass(i.opcode) === InsnClass.JMP && jmpOp(i.opcode) === JmpOp.CALL;
const isExit = (i: Instruction): boolean => opClass(i.opcode) === InsnClass.JMP && jmpOp(i.opcode) === JmpOp.EXIT;
export const isPseudoCall = (i: Instruction): boolean => isCall(i) && i.src === CallSrc.LOCAL;
export const isPseudoFunc = (i: Instruction): boolean => i.opcode === OPCODE_LDDW && i.src === LdImm64Src.FUNC;
const isUncondJump = (i: Instruction): boolean => isJmp(i) && jmpOp(i.opcode) === JmpOp.JA;

/** Target of a jump (JA32 takes its distance from imm). */
export function jumpTarget(insns: readonly Instruction[], t: number): number {
  const i = insns[t]!;
  const distance = opClass(i.opcode) === InsnClass.JMP32 && jmpOp(i.opcode) === JmpOp.JA ? i.imm : i.offset;
  return t + distance + 1;
}

export function analyzeShape(insns: readonly Instruction[]): ProgramShape {
  const n = insns.length;
  // Subprogram starts: most programs have none but 0, so the set is made only for a program with calls.
  let starts: Set<number> | undefined;
  for (let t = 0; t < n; t++) {
    const i = insns[t]!;
    if (isPseudoCall(i) || isPseudoFunc(i)) {
      const target = t + i.imm + 1;
      if (target < 0 || target >= n) throw new Rejection(t, 'call to invalid destination');
      (starts ??= new Set<number>([0])).add(target);
    }
    if (isLddw(i)) t++;
  }
  const sorted = starts === undefined ? [0] : [...starts].sort((a, b) => a - b);
  const subprogs: Subprogram[] = [];
  for (let k = 0; k < sorted.length; k++) subprogs.push({ start: sorted[k]!, end: k + 1 < sorted.length ? sorted[k + 1]! : n });
  const tables = shapeTables.acquire(n);
  const { subprogOf, liveIn, prunePoint, forceCheckpoint, iterNext } = tables;
  try {
    for (let k = 0; k < subprogs.length; k++) subprogOf.fill(k, subprogs[k]!.start, subprogs[k]!.end);

    // check_subprogs: jumps stay in their function; each function ends in exit or ja.
    for (const sp of subprogs) {
      for (let t = sp.start; t < sp.end; t++) {
        const i = insns[t]!;
        if (isJmp(i) && !isCall(i) && !isExit(i)) {
          const target = jumpTarget(insns, t);
          if (target < sp.start || target >= sp.end) throw new Rejection(t, `jump out of range from insn ${t} to ${target}`);
        }
        if (isLddw(i)) t++;
      }
      const last = insns[sp.end - 1]!;
      if (!isExit(last) && !isUncondJump(last)) throw new Rejection(sp.end - 1, 'last insn is not an exit or jmp');
    }

    checkCfg(insns, prunePoint, forceCheckpoint);
    computeLiveness(insns, subprogs, liveIn);
  } catch (error) {
    tables.release();
    throw error;
  }
  return { subprogs, subprogOf, prunePoint, forceCheckpoint, liveIn, iterNext, release: tables.release };
}

interface ShapeTableSet {
  subprogOf: Int32Array;
  liveIn: Uint16Array;
  prunePoint: Uint8Array;
  forceCheckpoint: Uint8Array;
  iterNext: Uint8Array;
  release: () => void;
}

/** Programs up to this many instructions take their shape tables from the pool (larger ones, rare, allocate their own). */
const POOLED_INSNS = 1 << 16;

/**
 * The per-instruction tables of a ProgramShape, their first n entries
 * zeroed (but subprogOf, which analyzeShape writes whole: its subprograms
 * cover every instruction), as views of one buffer kept between programs,
 * made once per size of the buffer: a typed array or a subarray view
 * costs about half a microsecond to make, and several microseconds when
 * its code is no longer in the CPU's caches, several times a small
 * program's analysis. A shape taken while another is still in use gets
 * tables of its own, as does a program too large to keep a buffer for.
 */
class ShapeTablePool {
  private capacity = 0;
  private inUse = false;
  /** Counts acquisitions: a release from an earlier one (called twice, or late) frees nothing. */
  private generation = 0;
  private views: Omit<ShapeTableSet, 'release'> = ShapeTablePool.fresh(0);
  private bytes = new Uint8Array(0);

  acquire(n: number): ShapeTableSet {
    if (this.inUse || n > POOLED_INSNS) return ShapeTablePool.fresh(n);
    if (n > this.capacity) {
      const cap = (this.capacity = Math.min(POOLED_INSNS, Math.max(n, this.capacity * 2, 256)));
      const buffer = new ArrayBuffer(cap * 9);
      this.bytes = new Uint8Array(buffer, cap * 6, cap * 3);
      this.views = {
        subprogOf: new Int32Array(buffer, 0, cap),
        liveIn: new Uint16Array(buffer, cap * 4, cap),
        prunePoint: this.bytes.subarray(0, cap),
        forceCheckpoint: this.bytes.subarray(cap, 2 * cap),
        iterNext: this.bytes.subarray(2 * cap),
      };
    }
    this.inUse = true;
    const generation = ++this.generation;
    const cap = this.capacity;
    fillPrefix(this.views.liveIn, 0, n);
    fillPrefix(this.bytes, 0, n);
    fillPrefix(this.bytes, 0, n, cap);
    fillPrefix(this.bytes, 0, n, 2 * cap);
    const { subprogOf, liveIn, prunePoint, forceCheckpoint, iterNext } = this.views;
    return {
      subprogOf,
      liveIn,
      prunePoint,
      forceCheckpoint,
      iterNext,
      release: () => {
        if (this.generation === generation) this.inUse = false;
      },
    };
  }

  private static fresh(n: number): ShapeTableSet {
    const bytes = new Uint8Array(3 * n);
    return {
      subprogOf: new Int32Array(n),
      liveIn: new Uint16Array(n),
      prunePoint: bytes.subarray(0, n),
      forceCheckpoint: bytes.subarray(n, 2 * n),
      iterNext: bytes.subarray(2 * n),
      release: () => {},
    };
  }
}

const shapeTables = new ShapeTablePool();

/**
 * Working tables of checkCfg and computeLiveness, kept between programs and
 * grown as needed: allocating them per program cost more than the analyses.
 */
class Scratch {
  size = 0;
  state = new Uint8Array(0);
  edgesDone = new Uint8Array(0);
  use = new Uint16Array(0);
  def = new Uint16Array(0);
  succA = new Int32Array(0);
  succB = new Int32Array(0);
  readonly succ = new Int32Array(2);
  readonly stack: number[] = [];

  /** Grows the tables to hold `n` instructions. */
  private reserve(n: number): void {
    if (n <= this.size) return;
    this.size = Math.max(n, this.size * 2, 64);
    this.state = new Uint8Array(this.size);
    this.edgesDone = new Uint8Array(this.size);
    this.use = new Uint16Array(this.size);
    this.def = new Uint16Array(this.size);
    this.succA = new Int32Array(this.size);
    this.succB = new Int32Array(this.size);
  }

  /** checkCfg's tables for `n` instructions: state and edgesDone zeroed, the stack empty. */
  forCfg(n: number): this {
    this.reserve(n);
    fillPrefix(this.state, 0, n);
    fillPrefix(this.edgesDone, 0, n);
    // Empty unless a rejection left the walk midway; setting the length is a call into the runtime.
    if (this.stack.length !== 0) this.stack.length = 0;
    return this;
  }

  /** computeLiveness's tables for `n` instructions: succA and succB -1 (use and def are written for each). */
  forLiveness(n: number): this {
    this.reserve(n);
    fillPrefix(this.succA, -1, n);
    fillPrefix(this.succB, -1, n);
    return this;
  }
}

/**
 * Sets the first `n` entries of `table` to `value`: a loop for the short
 * tables of most programs, where each fill() call costs more than the loop.
 */
function fillPrefix(table: Uint8Array | Uint16Array | Int32Array, value: number, n: number, from = 0): void {
  if (n <= 128) for (let i = from; i < from + n; i++) table[i] = value;
  else table.fill(value, from, from + n);
}

const scratch = new Scratch();

/** bpf_loop, for_each_map_elem, find_vma, user_ringbuf_drain: their calls are loop heads (is_sync_callback_calling_insn). */
const SYNC_CALLBACK_HELPERS = new Set([181, 164, 180, 209]);

const DISCOVERED = 1;
const EXPLORED = 2;

/**
 * The successors of instruction `t` (at most two) into `out`, marking the
 * prune points the kernel's visit_insn marks on the way; returns how many.
 * Each is `to * 2 + 1` for a branch edge (its target is a prune point), `to * 2` otherwise.
 */
function cfgSuccessors(insns: readonly Instruction[], t: number, prunePoint: Uint8Array, forceCheckpoint: Uint8Array, out: Int32Array): number {
  const i = insns[t]!;
  const size = isLddw(i) ? 2 : 1;
  if (isPseudoFunc(i)) {
    out[0] = (t + size) * 2;
    out[1] = (t + i.imm + 1) * 2 + 1;
    return 2;
  }
  if (!isJmp(i)) {
    out[0] = (t + size) * 2;
    return 1;
  }
  const op = jmpOp(i.opcode);
  if (op === JmpOp.EXIT) return 0;
  if (op === JmpOp.CALL) {
    prunePoint[t + 1] = 1;
    if (i.src === CallSrc.HELPER && SYNC_CALLBACK_HELPERS.has(i.imm)) {
      prunePoint[t] = 1;
      forceCheckpoint[t] = 1;
    }
    out[0] = (t + 1) * 2;
    if (i.src === CallSrc.LOCAL) {
      prunePoint[t] = 1;
      out[1] = (t + i.imm + 1) * 2 + 1;
      return 2;
    }
    return 1;
  }
  if (op === JmpOp.JA) {
    const to = jumpTarget(insns, t);
    prunePoint[to] = 1;
    out[0] = to * 2;
    return 1;
  }
  prunePoint[t] = 1;
  if (op === JmpOp.JCOND) forceCheckpoint[t] = 1;
  out[0] = (t + 1) * 2;
  out[1] = (t + i.offset + 1) * 2 + 1;
  return 2;
}

/** check_cfg: depth-first over the CFG; records prune points and back-edges (loop heads). */
function checkCfg(insns: readonly Instruction[], prunePoint: Uint8Array, forceCheckpoint: Uint8Array): void {
  const n = insns.length;
  const { state, stack, edgesDone, succ } = scratch.forCfg(n);
  state[0] = DISCOVERED;
  stack.push(0);
  while (stack.length > 0) {
    const t = stack[stack.length - 1]!;
    const count = cfgSuccessors(insns, t, prunePoint, forceCheckpoint, succ);
    let pushed = false;
    while (edgesDone[t]! < count) {
      const edge = succ[edgesDone[t]!]!;
      edgesDone[t]!++;
      const to = edge >> 1;
      if (to < 0 || to >= n) throw new Rejection(t, `jump out of range from insn ${t} to ${to}`);
      if (edge & 1) prunePoint[to] = 1;
      if (state[to] === 0) {
        state[to] = DISCOVERED;
        stack.push(to);
        pushed = true;
        break;
      }
    }
    if (!pushed) {
      state[t] = EXPLORED;
      stack.pop();
    }
  }
  for (let t = 0; t < n; t++) {
    if (state[t] === 0) throw new Rejection(t, `unreachable insn ${t}`);
    const i = insns[t]!;
    if (isLddw(i)) {
      if (t + 1 < n && state[t + 1] !== 0) throw new Rejection(t, `jump into the middle of ldimm64 insn ${t}`);
      t++;
    }
  }
}

const ALL_ARGS = 0b111110;
const CALLER_SAVED = 0b111111;
const ALL_REGS = 0x7ff;

// useDef's result (module scratch: no object per instruction).
let used = 0;
let defined = 0;

const setUseDef = (use: number, def: number): void => {
  used = use;
  defined = def;
};

/** Registers an instruction reads (use) and writes (def), as bit masks. */
function useDef(insns: readonly Instruction[], t: number): void {
  const i = insns[t]!;
  const cls = opClass(i.opcode);
  const dst = 1 << i.dst;
  const src = 1 << i.src;
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64: {
      const op = i.opcode & 0xf0;
      const x = opSource(i.opcode) === Source.X;
      if (op === 0xb0) return setUseDef(x ? src : 0, dst);
      if (op === 0x80 || op === 0xd0) return setUseDef(dst, dst);
      return setUseDef(dst | (x ? src : 0), dst);
    }
    case InsnClass.LDX:
      return setUseDef(src, dst);
    case InsnClass.ST:
      return setUseDef(dst, 0);
    case InsnClass.STX:
      if (opMode(i.opcode) === Mode.ATOMIC) {
        const fetch = (i.imm & 1) !== 0;
        const cmpxchg = i.imm === 0xf1;
        if (i.imm === 0x100) return setUseDef(src, dst);
        return setUseDef(dst | src | (cmpxchg ? 1 : 0), cmpxchg ? 1 : fetch ? src : 0);
      }
      return setUseDef(dst | src, 0);
    case InsnClass.LD:
      if (isLddw(i)) return setUseDef(0, dst);
      // LD_ABS / LD_IND: the kernel takes every register as read and none as written (its conservative default),
      // so a register live across one is compared when pruning, though the load itself clobbers r0-r5.
      return setUseDef(ALL_REGS, 0);
    case InsnClass.JMP:
    case InsnClass.JMP32: {
      const op = jmpOp(i.opcode);
      if (op === JmpOp.EXIT) return setUseDef(1, 0);
      if (op === JmpOp.CALL) {
        if (i.src === CallSrc.HELPER) {
          const helper = helperById(i.imm);
          const args = helper ? helper.args.length : 5;
          return setUseDef(ALL_ARGS & ((1 << (args + 1)) - 1), CALLER_SAVED);
        }
        return setUseDef(ALL_ARGS, CALLER_SAVED);
      }
      if (op === JmpOp.JA || op === JmpOp.JCOND) return setUseDef(0, 0);
      return setUseDef(dst | (opSource(i.opcode) === Source.X ? src : 0), 0);
    }
    default:
      return setUseDef(0, 0);
  }
}

/** `x` when it is an instruction index of an `n`-instruction program, else -1. */
function insnOrNone(x: number, n: number): number {
  return x >= 0 && x < n ? x : -1;
}

/** Backward dataflow to a fixed point within each function (calls are opaque: they use r1-r5). */
function computeLiveness(insns: readonly Instruction[], subprogs: readonly Subprogram[], liveIn: Uint16Array): void {
  const n = insns.length;
  // At most two successors each; -1 when absent or outside the program.
  const { use, def, succA, succB } = scratch.forLiveness(n);
  let backward = false;
  for (let t = 0; t < n; t++) {
    useDef(insns, t);
    use[t] = used & 0x7ff;
    def[t] = defined & 0x7ff;
    const i = insns[t]!;
    if (isJmp(i)) {
      const op = jmpOp(i.opcode);
      if (op === JmpOp.CALL) succA[t] = insnOrNone(t + 1, n);
      else if (op === JmpOp.JA) succA[t] = insnOrNone(jumpTarget(insns, t), n);
      else if (op !== JmpOp.EXIT) {
        succA[t] = insnOrNone(t + 1, n);
        succB[t] = insnOrNone(t + i.offset + 1, n);
      }
    } else succA[t] = insnOrNone(t + (isLddw(i) ? 2 : 1), n);
    if ((succA[t]! >= 0 && succA[t]! <= t) || (succB[t]! >= 0 && succB[t]! <= t)) backward = true;
  }
  // Without a backward edge, one pass from the end sees every successor final: no second pass to confirm it.
  for (const sp of subprogs) {
    let changed = true;
    while (changed) {
      changed = false;
      for (let t = sp.end - 1; t >= sp.start; t--) {
        const a = succA[t]!;
        const b = succB[t]!;
        const out = (a >= 0 ? liveIn[a]! : 0) | (b >= 0 ? liveIn[b]! : 0);
        const value = use[t]! | (out & ~def[t]!);
        if (value !== liveIn[t]) {
          liveIn[t] = value;
          changed = backward;
        }
      }
    }
  }
}
