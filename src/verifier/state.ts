/**
 * The verifier's abstract machine state, modelled on the kernel's
 * struct bpf_reg_state / bpf_func_state / bpf_verifier_state
 * (include/linux/bpf_verifier.h): what every register and stack byte may
 * hold at one instruction on one path.
 */
import type { MapSpec } from '../object/index.ts';
import { TypeFlag } from '../uapi/index.ts';
import { SCALAR_UNKNOWN, scalarConst, type Scalar } from './scalar.ts';

/** Base register types (enum bpf_reg_type); flags from uapi's TypeFlag are or-ed on top. */
export const RegType = {
  NOT_INIT: 0,
  SCALAR: 1,
  PTR_TO_CTX: 2,
  CONST_PTR_TO_MAP: 3,
  PTR_TO_MAP_VALUE: 4,
  PTR_TO_MAP_KEY: 5,
  PTR_TO_STACK: 6,
  PTR_TO_PACKET_META: 7,
  PTR_TO_PACKET: 8,
  PTR_TO_PACKET_END: 9,
  PTR_TO_FLOW_KEYS: 10,
  PTR_TO_SOCKET: 11,
  PTR_TO_SOCK_COMMON: 12,
  PTR_TO_TCP_SOCK: 13,
  PTR_TO_TP_BUFFER: 14,
  PTR_TO_XDP_SOCK: 15,
  PTR_TO_BTF_ID: 16,
  PTR_TO_MEM: 17,
  PTR_TO_ARENA: 18,
  PTR_TO_BUF: 19,
  PTR_TO_FUNC: 20,
  CONST_PTR_TO_DYNPTR: 21,
} as const;

export const BASE_MASK = 0xff;
export const MAYBE_NULL = TypeFlag.PTR_MAYBE_NULL;
export const baseOf = (type: number): number => type & BASE_MASK;
export const mayBeNull = (type: number): boolean => (type & MAYBE_NULL) !== 0;

/** What the verifier knows of a map a program references. */
export interface VerifierMap {
  readonly name: string;
  readonly spec: MapSpec;
  /** Stable identity for pointer comparisons between states. */
  readonly uid: number;
  /** Special fields of the value found in its BTF type (bpf_spin_lock, bpf_timer...), which programs may not read or write directly. */
  readonly fields: readonly MapValueField[];
  /** The map was created with BTF for its value (a bpf_spin_lock needs it). */
  readonly hasBtf: boolean;
}

export interface MapValueField {
  /** The kernel's name for the field type: 'bpf_spin_lock', 'bpf_timer'... */
  readonly kind: string;
  readonly offset: number;
  readonly size: number;
}

/**
 * BPF_ADD_CONST64 / BPF_ADD_CONST32 in a scalar's id: the register is `rX + off` (or, for the 32-bit form, the
 * zero-extended `wX + off`) of the registers holding the id without these bits, its delta in Reg.off. A branch
 * that bounds one of them bounds the others, shifted by the difference of their deltas (sync_linked_regs).
 */
export const ADD_CONST64 = 1 << 29;
export const ADD_CONST32 = 1 << 28;
export const ADD_CONST = ADD_CONST64 | ADD_CONST32;
/** The id a linked scalar shares with the registers it was copied from (its delta flags cleared). */
export const linkBaseId = (id: number): number => id & ~ADD_CONST;

export interface Reg {
  type: number;
  /** Fixed part of a pointer's offset (reg->off); for a scalar whose id has ADD_CONST, its delta from the linked registers. */
  off: number;
  /** A scalar's value, or a pointer's variable offset (var_off and bounds). */
  v: Scalar;
  /** Links registers holding the same or-null pointer / packet pointer / scalar. */
  id: number;
  /** The acquired reference this pointer holds (0 when none). */
  refObjId: number;
  /** Packet pointers: bytes after `off` proven below data_end. */
  range: number;
  map: VerifierMap | undefined;
  /** PTR_TO_MEM: size of the region. */
  memSize: number;
  /** PTR_TO_BTF_ID: kernel struct name. */
  btfName: string | undefined;
  /** PTR_TO_STACK: the frame whose stack it points into. */
  frameno: number;
  /** PTR_TO_FUNC: the subprogram it points to. */
  subprog: number;
  /**
   * A scalar whose exact range some later instruction relied on (the kernel's
   * reg->precise): only precise scalars of a stored state are compared when
   * pruning. Set by backtracking (precision.ts) in checkpoints, never needed
   * in the state being explored.
   */
  precise: boolean;
}

/**
 * Every register is made by this constructor: one object shape for all of them. Not object literals: memSize may be any
 * u64, so its field's representation widens from small integer to double, and a literal's boilerplate would go on
 * making registers of the deprecated shape, each migrated on first use.
 */
class RegisterValue implements Reg {
  constructor(
    public type: number,
    public off: number,
    public v: Scalar,
    public id: number,
    public refObjId: number,
    public range: number,
    public map: VerifierMap | undefined,
    public memSize: number,
    public btfName: string | undefined,
    public frameno: number,
    public subprog: number,
    public precise: boolean,
  ) {}
}

/**
 * The register nothing was written to. Not frozen: a frozen object has a
 * map of its own, and a fifth register map turns every register read into a
 * megamorphic lookup. Registers are never changed in place (copyReg first).
 */
export const NOT_INIT_REG: Readonly<Reg> = notInitReg();

function notInitReg(): Reg {
  const r = scalarReg(SCALAR_UNKNOWN);
  r.type = RegType.NOT_INIT;
  return r;
}

/** A scalar register holding `v` (every other field at its NOT_INIT value). */
export function scalarReg(v: Scalar): Reg {
  return new RegisterValue(RegType.SCALAR, 0, v, 0, 0, 0, undefined, 0, undefined, 0, 0, false);
}

/** A copy of `r` to change. */
export function copyReg(r: Reg): Reg {
  return new RegisterValue(r.type, r.off, r.v, r.id, r.refObjId, r.range, r.map, r.memSize, r.btfName, r.frameno, r.subprog, r.precise);
}

export function unknownScalar(): Reg {
  return scalarReg(SCALAR_UNKNOWN);
}

export function knownScalar(value: bigint): Reg {
  return scalarReg(scalarConst(value));
}

/** A pointer of `type` with offset 0 and a known-zero variable offset. */
export function pointerReg(type: number, fields?: Partial<Reg>): Reg {
  const r = new RegisterValue(type, 0, ZERO, 0, 0, 0, undefined, 0, undefined, 0, 0, false);
  return fields === undefined ? r : Object.assign(r, fields);
}

export const ZERO: Scalar = scalarConst(0n);

export const isPointer = (r: Reg): boolean => r.type !== RegType.SCALAR && r.type !== RegType.NOT_INIT;
export const isPacketPointer = (type: number): boolean => type === RegType.PTR_TO_PACKET || type === RegType.PTR_TO_PACKET_META;

/** Stack byte kinds (enum bpf_stack_slot_type). */
export const Slot = { INVALID: 0, SPILL: 1, MISC: 2, ZERO: 3, DYNPTR: 4, ITER: 5 } as const;
export const SLOT_CHAR = '?rm0di';

/** 8 bytes of stack. `types[7]` is the lowest address, `types[0]` the highest (the kernel's slot_type order). */
export interface StackSlot {
  types: number[];
  spilled: Reg | undefined;
  /**
   * The frame (Frame.owner) that may change this slot in place. Copies of a
   * frame share its slots, so a frame writing a slot it does not own copies
   * it first (stackSlot with `write`); 0 for a slot no frame owns.
   */
  owner: number;
  /** STACK_ITER and STACK_DYNPTR slots: the object they hold (the kernel keeps it in the slot's spilled_ptr); see iter.ts, dynptr.ts. */
  object?: StackObject;
}

/** An open-coded iterator (struct bpf_iter_*) on the stack: each of its slots carries this, the first with the reference. */
export interface IterObject {
  readonly kind: 'iter';
  /** The iterator struct: 'bpf_iter_num', 'bpf_iter_bits'... */
  readonly struct: string;
  /** ACTIVE (next may return an element) or DRAINED (next returned NULL, and will again). */
  readonly drained: boolean;
  /** Iterations simulated so far; only tells loop detection apart from convergence, never compared for pruning. */
  readonly depth: number;
  /** The reference acquired by `_new` (first slot only, 0 in the others), released by `_destroy`. */
  readonly refObjId: number;
  /** MEM_RCU or PTR_UNTRUSTED for iterators created by KF_RCU_PROTECTED kfuncs. */
  readonly flags: number;
}

/** A dynptr (struct bpf_dynptr, two slots) on the stack. */
export interface DynptrObject {
  readonly kind: 'dynptr';
  /** BPF_DYNPTR_TYPE_*: 'local', 'ringbuf', 'skb', 'xdp'. */
  readonly type: string;
  readonly first: boolean;
  /** Slices taken from it (bpf_dynptr_data, bpf_dynptr_slice) carry this id and die with it. */
  readonly id: number;
  /** Ringbuf dynptrs: the reservation they hold. */
  readonly refObjId: number;
}

export type StackObject = IterObject | DynptrObject;

export const MAX_BPF_STACK = 512;

export interface Frame {
  regs: Reg[];
  /** Index spi covers bytes [-(spi+1)*8, -spi*8). */
  stack: (StackSlot | undefined)[];
  frameno: number;
  /** Instruction of the call that created this frame (-1 for the main program). */
  callsite: number;
  subprog: number;
  /** A callback frame (bpf_loop...): its return value is range-checked and it returns into the helper call. */
  callback: CallbackInfo | undefined;
  /** This copy's identity for the slots it owns (StackSlot.owner). */
  owner: number;
}

export interface CallbackInfo {
  /** Allowed return values (inclusive). */
  retMin: number;
  retMax: number;
  helper: string;
  /** The callback's arguments, for the next iteration. */
  args: Reg[];
  /** The caller's frames when this iteration started (widened from the previous one after the first). */
  entry: Frame[];
  iteration: number;
  /** The most calls the helper makes (bpf_loop's nr_loops, at most its umax); Infinity for the others. */
  maxIterations: number;
}

/** An acquired reference (ringbuf reservation, socket) that must be released on every path. */
export interface Reference {
  id: number;
  insnIdx: number;
  kind: 'ringbuf' | 'socket' | 'other';
}

/**
 * One entry of a state's instruction history (struct bpf_insn_hist_entry):
 * an instruction reached other than by falling through from the one before
 * it, a stack spill or fill, or a branch that refined linked registers.
 * Backtracking walks a state's instructions backwards with it.
 */
export interface HistoryEntry {
  idx: number;
  prev: number;
  /** INSN_F_* bits: a fill or spill of stack slot `spi` of frame `frameno` (see precision.ts). */
  flags: number;
  /** Registers and stack slots refined together by this branch (linkedRegKey values). */
  linked: readonly number[] | undefined;
}

export interface VerifierState {
  frames: Frame[];
  /** Never changed in place (replaced instead), so copies of a state share it. */
  refs: readonly Reference[];
  insnIdx: number;
  prevInsnIdx: number;
  /** The checkpoint this path last passed (for branch counting and loop detection). */
  parent: Checkpoint | undefined;
  /** may_goto's per-state depth (bpf_verifier_state.may_goto_depth). */
  mayGotoDepth: number;
  /** The held spin lock: its map's uid (a negative id for a lock not in a map value), 0 when none (active_lock_ptr). */
  activeLock: number;
  /** The id of the map value the held lock was taken through (active_lock_id). */
  activeLockId: number;
  /** The instruction this state started at: its checkpoint's, or the entry (first_insn_idx). */
  firstInsnIdx: number;
  /** The last instruction executed before the state was checkpointed (last_insn_idx; -1 at a function's entry). */
  lastInsnIdx: number;
  /** Jumps, spills and fills since firstInsnIdx, oldest first (a copy per state: branches extend their own). */
  history: HistoryEntry[];
  /** The loop header (a stored state still being explored) this path is inside of, once a loop closed on it (loop_entry). */
  loopEntry: Checkpoint | undefined;
  /** Stored states above this one on its path (dfs_depth). */
  dfsDepth: number;
}

/** A path pruned against a state whose precision marks were not final yet: replayed when its loop is done. */
export interface Backedge {
  /** The pruned path's state (its history and parents, for backtracking). */
  state: VerifierState;
  /** The stored state it was found equal to, at instruction `insnIdx`. */
  old: VerifierState;
  insnIdx: number;
}

/** A stored state at a prune point (struct bpf_verifier_state_list). */
export interface Checkpoint {
  state: VerifierState;
  /** Paths still being explored below this state; 0 means fully verified and usable for pruning. */
  branches: number;
  parent: Checkpoint | undefined;
  hits: number;
  misses: number;
  /** The loop header whose exploration this state is part of (loop_entry): while it runs, this state is compared on every scalar. */
  loopEntry: Checkpoint | undefined;
  dfsDepth: number;
  /** Paths pruned inside this loop header's loop, whose precision is propagated again once it is done. */
  backedges: Backedge[] | undefined;
  /** Its dead stack slots were dropped (clean_verifier_state; done once, when all its paths were explored). */
  cleaned: boolean;
}

let lastOwner = 0;

export function newFrame(frameno: number, callsite: number, subprog: number): Frame {
  const regs: Reg[] = [];
  for (let i = 0; i <= 10; i++) regs.push(NOT_INIT_REG);
  regs[10] = pointerReg(RegType.PTR_TO_STACK, { frameno });
  return { regs, stack: [], frameno, callsite, subprog, callback: undefined, owner: ++lastOwner };
}

/** A copy of `f` sharing its stack slots: from now on neither `f` nor the copy owns them, and each copies a slot before changing it. */
export function cloneFrame(f: Frame): Frame {
  f.owner = ++lastOwner;
  return { regs: f.regs.slice(), stack: f.stack.slice(), frameno: f.frameno, callsite: f.callsite, subprog: f.subprog, callback: f.callback, owner: ++lastOwner };
}

/** A copy of `s` whose frames and history it may change without touching `s` (registers and slots stay shared until written); `history` hands it one instead of a copy. */
export function cloneState(s: VerifierState, history: HistoryEntry[] = s.history.length === 0 ? [] : s.history.slice()): VerifierState {
  const frames: Frame[] = new Array<Frame>(s.frames.length);
  for (let i = 0; i < frames.length; i++) frames[i] = cloneFrame(s.frames[i]!);
  // Every field listed rather than spread: one object shape for all states keeps the code that reads them monomorphic.
  return {
    frames,
    refs: s.refs,
    insnIdx: s.insnIdx,
    prevInsnIdx: s.prevInsnIdx,
    parent: s.parent,
    mayGotoDepth: s.mayGotoDepth,
    activeLock: s.activeLock,
    activeLockId: s.activeLockId,
    firstInsnIdx: s.firstInsnIdx,
    lastInsnIdx: s.lastInsnIdx,
    history,
    loopEntry: s.loopEntry,
    dfsDepth: s.dfsDepth,
  };
}

export function currentFrame(s: VerifierState): Frame {
  return s.frames[s.frames.length - 1]!;
}

/** Bytes of stack the frame has touched (allocated_stack), a multiple of 8. */
export function allocatedStack(f: Frame): number {
  return f.stack.length * 8;
}

/** The slot at `spi`; with `write`, created when absent and owned by `f`, so that the caller may change it. */
export function stackSlot(f: Frame, spi: number, write: boolean): StackSlot | undefined {
  let slot = f.stack[spi];
  if (!write) return slot;
  if (slot === undefined) {
    while (f.stack.length <= spi) f.stack.push(undefined);
    slot = { types: [0, 0, 0, 0, 0, 0, 0, 0], spilled: undefined, owner: f.owner };
    f.stack[spi] = slot;
  } else if (slot.owner !== f.owner) {
    slot = slot.object === undefined ? { types: slot.types.slice(), spilled: slot.spilled, owner: f.owner } : { types: slot.types.slice(), spilled: slot.spilled, owner: f.owner, object: slot.object };
    f.stack[spi] = slot;
  }
  return slot;
}

export function isSpilled(slot: StackSlot | undefined): boolean {
  return slot !== undefined && slot.types[7] === Slot.SPILL;
}
