/**
 * Open-coded iterators (bpf_for, bpf_repeat, bpf_for_each): the kernel's
 * STACK_ITER model. `bpf_iter_<type>_new` turns the iterator's stack slots
 * into an ACTIVE iterator holding a reference; `_next` forks the path, one
 * side seeing NULL with the iterator DRAINED, the other an element with the
 * iterator ACTIVE one iteration deeper; `_destroy` releases the reference
 * and frees the slots. A loop converges when a path comes back to a `_next`
 * call in a state within the one its previous iteration started from
 * (is_state_visited's iterator rule), which the iterator contract (`_next`
 * eventually returns NULL, then always does) makes safe.
 */
import { type Instruction, OPCODE_CALL } from '../isa/index.ts';
import { KfuncFlag, TypeFlag, kfuncByName } from '../uapi/index.ts';
import { Rejection } from './errors.ts';
import type { KfuncTarget } from './kfunc.ts';
import { type Frame, type IterObject, type Reg, RegType, Slot, type StackSlot, type VerifierState, stackSlot } from './state.ts';
import { scalarConstSigned, scalarIsConst } from './scalar.ts';

/** Where the iterator a `_next` call advanced lives, for process_iter_next_call. */
export interface IterSlotRef {
  frameno: number;
  spi: number;
}

/** What checking an iterator argument needs from the verifier. */
export interface IterArgContext {
  sleepable: boolean;
  frame(frameno: number): Frame;
  /** check_mem_access for an 8-byte write at `off` from the register (stack bounds and depth). */
  checkStackWrite(regno: number, reg: Reg, off: number): void;
  acquire(): number;
  release(id: number): void;
}

const iterObject = (slot: StackSlot | undefined): IterObject | undefined => (slot?.object?.kind === 'iter' ? slot.object : undefined);
const isIterSlot = (slot: StackSlot | undefined): boolean => slot !== undefined && slot.types[7] === Slot.ITER;

/** The kernel's name for the iterator type in messages: `bpf_iter_num` is `num`. */
const iterTypeName = (struct: string): string => struct.replace(/^bpf_iter_/, '');

/**
 * stack_slot_obj_get_spi: the slot index of an object of `nrSlots` slots the
 * register points to, 'outside' when it lies beyond the allocated stack, or
 * the kernel's line saying why the register cannot hold one.
 */
export function stackObjectSpi(reg: Reg, frame: Frame, kind: 'iter' | 'dynptr', nrSlots: number): { spi: number } | { outside: true } | { problem: string } {
  if (!scalarIsConst(reg.v)) return { problem: `${kind} has to be at a constant offset` };
  const off = reg.off + scalarConstSigned(reg.v);
  const spi = Math.trunc((-off - 1) / 8);
  if (off % 8 !== 0 || spi + 1 < nrSlots) return { problem: `cannot pass in ${kind} at an offset=${off}` };
  return spi - nrSlots + 1 >= 0 && spi < frame.stack.length ? { spi } : { outside: true };
}

/**
 * process_iter_arg: the iterator argument of an iterator kfunc (or an
 * `__iter` argument). Returns the slot a `_next` or `_destroy` call used,
 * and the reference the iterator holds.
 */
export function processIterArg(
  idx: number,
  regno: number,
  reg: Reg,
  struct: string,
  size: number,
  flags: number,
  funcName: string,
  ctx: IterArgContext,
): { slot: IterSlotRef; refObjId: number } | undefined {
  if (reg.type !== RegType.PTR_TO_STACK) throw new Rejection(idx, `arg#${regno - 1} expected pointer to an iterator on stack`, 'EINVAL');
  const nrSlots = size / 8;
  const frame = ctx.frame(reg.frameno);
  // The kernel prints why the slot is unusable, then the line naming the argument.
  const refuse = (at: { problem: string } | undefined, line: string): Rejection => new Rejection(idx, at ? `${at.problem}\n${line}` : line, 'EINVAL');
  if (flags & KfuncFlag.ITER_NEW) {
    const at = stackObjectSpi(reg, frame, 'iter', nrSlots);
    const notFree = `expected uninitialized iter_${iterTypeName(struct)} as arg #${regno - 1}`;
    if ('problem' in at) throw refuse(at, notFree);
    if ('spi' in at) {
      for (let i = 0; i < nrSlots; i++) if (frame.stack[at.spi - i]?.types.includes(Slot.ITER)) throw refuse(undefined, notFree);
    }
    for (let off = 0; off < nrSlots * 8; off += 8) ctx.checkStackWrite(regno, reg, off);
    const placed = stackObjectSpi(reg, frame, 'iter', nrSlots);
    if (!('spi' in placed)) throw refuse(undefined, notFree);
    const spi = placed.spi;
    const id = ctx.acquire();
    // KF_RCU_PROTECTED iterators are usable only inside an RCU section: a non-sleepable program always is.
    const trust = flags & KfuncFlag.RCU_PROTECTED ? (ctx.sleepable ? TypeFlag.PTR_UNTRUSTED : TypeFlag.MEM_RCU) : 0;
    for (let i = 0; i < nrSlots; i++) {
      const slot = stackSlot(frame, spi - i, true)!;
      slot.types.fill(Slot.ITER);
      slot.spilled = undefined;
      slot.object = { kind: 'iter', struct, drained: false, depth: 0, refObjId: i === 0 ? id : 0, flags: trust };
    }
    return undefined;
  }
  const found = stackObjectSpi(reg, frame, 'iter', nrSlots);
  const uninitialised = `expected an initialized iter_${iterTypeName(struct)} as arg #${regno - 1}`;
  if (!('spi' in found)) throw refuse('problem' in found ? found : undefined, uninitialised);
  const at = found.spi;
  for (let i = 0; i < nrSlots; i++) {
    const slot = frame.stack[at - i];
    const it = iterObject(slot);
    if (it?.flags !== undefined && it.flags & TypeFlag.PTR_UNTRUSTED) throw new Rejection(idx, `expected an RCU CS when using ${funcName}`, 'EPROTO');
    if (it === undefined || !slot!.types.every((t) => t === Slot.ITER) || it.struct !== struct || (i === 0) !== (it.refObjId !== 0)) throw refuse(undefined, uninitialised);
  }
  const refObjId = iterObject(frame.stack[at])!.refObjId;
  if (flags & KfuncFlag.ITER_DESTROY) {
    ctx.release(refObjId);
    for (let i = 0; i < nrSlots; i++) {
      const slot = stackSlot(frame, at - i, true)!;
      slot.types.fill(Slot.INVALID);
      slot.spilled = undefined;
      delete slot.object;
    }
  }
  return { slot: { frameno: reg.frameno, spi: at }, refObjId };
}

/** The iterator at `ref` in `state` (its first slot). */
export function iterAt(state: VerifierState, ref: IterSlotRef): IterObject {
  return iterObject(state.frames[ref.frameno]!.stack[ref.spi])!;
}

/** Replaces the iterator object in its first slot (the slot is copied first when shared). */
function setIter(state: VerifierState, ref: IterSlotRef, it: IterObject): void {
  const slot = stackSlot(state.frames[ref.frameno]!, ref.spi, true)!;
  slot.object = it;
}

/**
 * process_iter_next_call, after R0 was set to the call's NULL-able result:
 * an ACTIVE iterator forks a path (queued) where the element exists and the
 * iterator stays ACTIVE one level deeper, its scalars widened against the
 * previous iteration's entry; the current path sees NULL and a DRAINED
 * iterator.
 */
export function processIterNextCall(
  state: VerifierState,
  ref: IterSlotRef,
  fork: () => VerifierState,
  widenAgainstPreviousIteration: (queued: VerifierState) => void,
  markNotNull: (r0: Reg) => Reg,
  nullR0: Reg,
): VerifierState | undefined {
  const it = iterAt(state, ref);
  let queued: VerifierState | undefined;
  if (!it.drained) {
    queued = fork();
    setIter(queued, ref, { ...it, depth: it.depth + 1 });
    widenAgainstPreviousIteration(queued);
    const frame = queued.frames[queued.frames.length - 1]!;
    frame.regs[0] = markNotNull(frame.regs[0]!);
  }
  setIter(state, ref, { ...it, drained: true });
  state.frames[state.frames.length - 1]!.regs[0] = nullR0;
  return queued;
}

/** is_state_visited at a `_next` call: the iterator R1 points to is ACTIVE (the path may converge). */
export function iterActiveAtCall(state: VerifierState): boolean {
  const r1 = state.frames[state.frames.length - 1]!.regs[1]!;
  if (r1.type !== RegType.PTR_TO_STACK || !scalarIsConst(r1.v)) return false;
  const spi = (-(r1.off + scalarConstSigned(r1.v)) - 1) >> 3;
  const it = iterObject(state.frames[r1.frameno]?.stack[spi]);
  return it !== undefined && !it.drained;
}

/** iter_active_depths_differ: an ACTIVE iterator one iteration apart means the path is iterating, not looping forever. */
export function iterActiveDepthsDiffer(old: VerifierState, cur: VerifierState): boolean {
  for (let f = 0; f < old.frames.length; f++) {
    const stack = old.frames[f]!.stack;
    for (let spi = 0; spi < stack.length; spi++) {
      const it = iterObject(stack[spi]);
      if (it === undefined || it.drained || !isIterSlot(stack[spi])) continue;
      const other = iterObject(cur.frames[f]?.stack[spi]);
      if (other?.depth !== it.depth) return true;
    }
  }
  return false;
}

/** The STACK_ITER part of stacksafe: same iterator type, state and reference (depth is ignored so that loops converge). */
export function iterSlotsEquivalent(old: IterObject, cur: IterObject, idsMatch: (oldId: number, curId: number) => boolean): boolean {
  return old.struct === cur.struct && old.drained === cur.drained && old.flags === cur.flags && idsMatch(old.refObjId, cur.refObjId);
}

/**
 * check_cfg's rule for iterator loops: every `_next` call is a prune point
 * where a checkpoint is always taken, so that the next iteration meets it.
 */
export function markIterNextCalls(
  insns: readonly Instruction[],
  kfuncAt: ((idx: number) => KfuncTarget | undefined) | undefined,
  prunePoint: Uint8Array,
  forceCheckpoint: Uint8Array,
  iterNext: Uint8Array,
): void {
  if (kfuncAt === undefined) return;
  for (let i = 0; i < insns.length; i++) {
    if (insns[i]!.opcode !== OPCODE_CALL) continue;
    const target = kfuncAt(i);
    if (target === undefined) continue;
    const spec = kfuncByName(target.name);
    if (spec !== undefined && spec.flags & KfuncFlag.ITER_NEXT) {
      prunePoint[i] = 1;
      forceCheckpoint[i] = 1;
      iterNext[i] = 1;
    }
  }
}

/** A normal store over an iterator's slot turns it into plain data (scrub_special_slot); the reference it held then leaks. */
export function scrubIterSlot(slot: StackSlot): void {
  for (let j = 0; j < 8; j++) if (slot.types[j] !== Slot.INVALID) slot.types[j] = Slot.MISC;
  delete slot.object;
}
