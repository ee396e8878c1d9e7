/**
 * Dynptrs (struct bpf_dynptr, 16 bytes on the stack): the kernel's
 * STACK_DYNPTR model for helper arguments (process_dynptr_func). A
 * constructor (bpf_dynptr_from_mem, bpf_ringbuf_reserve_dynptr) takes two
 * free stack slots and makes them a dynptr of its type, a ringbuf one
 * holding the reservation as a reference; readers need an initialised
 * dynptr of the right type; bpf_ringbuf_submit_dynptr/discard_dynptr
 * release it. A store over a dynptr destroys it, which a referenced one
 * refuses.
 */
import { TypeFlag } from '../uapi/index.ts';
import { Rejection } from './errors.ts';
import { stackObjectSpi } from './iter.ts';
import { type DynptrObject, type Frame, type Reg, RegType, Slot, type StackSlot, stackSlot } from './state.ts';

const DYNPTR_TYPES: readonly [number, string][] = [
  [TypeFlag.DYNPTR_TYPE_LOCAL, 'local'],
  [TypeFlag.DYNPTR_TYPE_RINGBUF, 'ringbuf'],
  [TypeFlag.DYNPTR_TYPE_SKB, 'skb'],
  [TypeFlag.DYNPTR_TYPE_XDP, 'xdp'],
];

/** get_dynptr_type_flag: the argument-type flag of a dynptr type. */
export function dynptrFlag(type: string): number {
  return DYNPTR_TYPES.find(([, name]) => name === type)?.[0] ?? 0;
}

/** arg_to_dynptr_type: the dynptr type an argument type names ('' for any). */
export function dynptrTypeOf(argType: number): string {
  return DYNPTR_TYPES.find(([flag]) => argType & flag)?.[1] ?? '';
}

/** What checking a dynptr argument needs from the verifier. */
export interface DynptrArgContext {
  frame(frameno: number): Frame;
  checkStackWrite(regno: number, reg: Reg, off: number): void;
  acquire(): number;
  newId(): number;
}

const dynptrObject = (slot: StackSlot | undefined): DynptrObject | undefined => (slot?.object?.kind === 'dynptr' ? slot.object : undefined);

/** An initialised dynptr's first slot, or undefined (is_dynptr_reg_valid_init). */
function initialisedAt(frame: Frame, spi: number): DynptrObject | undefined {
  const first = dynptrObject(frame.stack[spi]);
  if (first === undefined || !first.first) return undefined;
  const both = [frame.stack[spi], frame.stack[spi - 1]];
  return both.every((s) => s !== undefined && s.types.every((t) => t === Slot.DYNPTR)) ? first : undefined;
}

/** The dynptr a stack argument refers to, with where it is. */
export interface DynptrUse {
  frameno: number;
  spi: number;
  dynptr: DynptrObject;
}

/**
 * process_dynptr_func for a helper argument of type `argType`. A MEM_UNINIT
 * argument becomes a new dynptr; others must be initialised dynptrs of the
 * argument's type. Returns the dynptr used (undefined for a constructor;
 * `spi` -1 for a const dynptr, which lives outside the program's stack). `cloneRefObjId` is the reference a clone shares
 * with its parent.
 */
export function processDynptrArg(idx: number, regno: number, reg: Reg, argType: number, ctx: DynptrArgContext, cloneRefObjId = 0): DynptrUse | undefined {
  if (reg.type !== RegType.PTR_TO_STACK && reg.type !== RegType.CONST_PTR_TO_DYNPTR) {
    throw new Rejection(idx, `arg#${regno - 1} expected pointer to stack or const struct bpf_dynptr`, 'EINVAL');
  }
  const type = dynptrTypeOf(argType);
  if (argType & TypeFlag.MEM_UNINIT) {
    const frame = reg.type === RegType.PTR_TO_STACK ? ctx.frame(reg.frameno) : undefined;
    const at = frame ? stackObjectSpi(reg, frame, 'dynptr', 2) : undefined;
    if (frame === undefined || (at !== undefined && 'problem' in at)) {
      throw new Rejection(idx, `${at && 'problem' in at ? `${at.problem}\n` : ''}Dynptr has to be an uninitialized dynptr`, 'EINVAL');
    }
    for (let off = 0; off < 16; off += 8) ctx.checkStackWrite(regno, reg, off);
    const placed = stackObjectSpi(reg, frame, 'dynptr', 2);
    if (!('spi' in placed)) throw new Rejection(idx, 'Dynptr has to be an uninitialized dynptr', 'EINVAL');
    destroyDynptrAt(idx, frame, placed.spi);
    destroyDynptrAt(idx, frame, placed.spi - 1);
    const id = ctx.newId();
    // A clone of a ringbuf dynptr shares its parent's reservation.
    const refObjId = type === 'ringbuf' ? cloneRefObjId || ctx.acquire() : 0;
    for (let i = 0; i < 2; i++) {
      const slot = stackSlot(frame, placed.spi - i, true)!;
      slot.types.fill(Slot.DYNPTR);
      slot.spilled = undefined;
      slot.object = { kind: 'dynptr', type, first: i === 0, id, refObjId };
    }
    return undefined;
  }
  if (reg.type === RegType.CONST_PTR_TO_DYNPTR) {
    if (!(argType & TypeFlag.MEM_RDONLY)) throw new Rejection(idx, 'cannot pass pointer to const bpf_dynptr, the helper mutates it', 'EINVAL');
    // Callbacks and global functions receive a local dynptr, as the kernel assumes.
    if (type !== '' && type !== 'local') throw new Rejection(idx, `Expected a dynptr of type ${type} as arg #${regno - 1}`, 'EINVAL');
    return { frameno: reg.frameno, spi: -1, dynptr: { kind: 'dynptr', type: 'local', first: true, id: reg.id, refObjId: 0 } };
  }
  const frame = ctx.frame(reg.frameno);
  const at = stackObjectSpi(reg, frame, 'dynptr', 2);
  const dynptr = 'spi' in at ? initialisedAt(frame, at.spi) : undefined;
  if (dynptr === undefined || !('spi' in at)) throw new Rejection(idx, `${'problem' in at ? `${at.problem}\n` : ''}Expected an initialized dynptr as arg #${regno - 1}`, 'EINVAL');
  if (type !== '' && dynptr.type !== type) throw new Rejection(idx, `Expected a dynptr of type ${type} as arg #${regno - 1}`, 'EINVAL');
  return { frameno: reg.frameno, spi: at.spi, dynptr };
}

/** The release side of a dynptr argument (bpf_ringbuf_submit_dynptr...): only a dynptr on the stack holding a reference. */
export function dynptrToRelease(idx: number, regno: number, reg: Reg, frame: (frameno: number) => Frame): number {
  if (reg.type !== RegType.PTR_TO_STACK) throw new Rejection(idx, 'cannot release unowned const bpf_dynptr', 'EINVAL');
  const f = frame(reg.frameno);
  const at = stackObjectSpi(reg, f, 'dynptr', 2);
  const refObjId = 'spi' in at ? (dynptrObject(f.stack[at.spi])?.refObjId ?? 0) : 0;
  if (refObjId === 0) throw new Rejection(idx, `arg ${regno} is an unacquired reference`, 'EINVAL');
  return refObjId;
}

/** unmark_stack_slots_dynptr after its reference was released: both slots become free. */
export function freeDynptr(use: DynptrUse, frame: Frame): void {
  for (let i = 0; i < 2; i++) {
    const slot = stackSlot(frame, use.spi - i, true)!;
    slot.types.fill(Slot.INVALID);
    delete slot.object;
  }
}

/**
 * destroy_if_dynptr_stack_slot: a write into either slot of a dynptr
 * destroys the whole dynptr (both slots freed); a dynptr holding a
 * reference may not be overwritten.
 */
export function destroyDynptrAt(idx: number, frame: Frame, spi: number): void {
  const here = dynptrObject(frame.stack[spi]);
  if (here === undefined || frame.stack[spi]!.types[0] !== Slot.DYNPTR) return;
  const first = here.first ? spi : spi + 1;
  if (here.refObjId !== 0) throw new Rejection(idx, 'cannot overwrite referenced dynptr', 'EINVAL');
  for (const s of [first, first - 1]) {
    const slot = stackSlot(frame, s, true)!;
    slot.types.fill(Slot.INVALID);
    delete slot.object;
  }
}

/** The STACK_DYNPTR part of stacksafe: same type, same slot role, references mapped. */
export function dynptrSlotsEquivalent(old: DynptrObject, cur: DynptrObject, idsMatch: (oldId: number, curId: number) => boolean): boolean {
  return old.type === cur.type && old.first === cur.first && idsMatch(old.refObjId, cur.refObjId);
}
