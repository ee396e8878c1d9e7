/**
 * Program contexts in the VM, from the data in src/uapi/program-types.ts.
 *
 * Design: the kernel rewrites context loads at load time
 * (convert_ctx_access) because its context structs (xdp_md, __sk_buff) are
 * views of different kernel objects. The VM's address space is 32-bit, so a
 * packet pointer fits the 4-byte `data`/`data_end`/`data_meta` fields
 * exactly: the runtime builds the uapi struct itself in a context region,
 * with those fields holding the VM addresses of the packet, and programs
 * load them unchanged (a 4-byte load zero-extends to the 64-bit pointer the
 * kernel's rewrite would produce). Helpers that move the packet update the
 * fields. What the rewrite also does — refusing accesses the program type
 * may not make — is done by `checkContextAccesses`, a load-time pass that
 * tracks the registers derived from r1 (moves and constant adds, merged over
 * the control-flow graph) and checks every load and store through them
 * against the type's read/write rules. An access through a context pointer
 * the pass cannot follow (spilled to the stack and reloaded) is bounded at
 * run time by the context region only.
 */
import type { Instruction } from '../isa/instruction.ts';
import { AluOp, InsnClass, JmpOp, Mode, OPCODE_CALL, OPCODE_EXIT, OPCODE_JA, OPCODE_JA32, Source, aluOp, jmpOp, opClass, opMode, opSource } from '../isa/opcodes.ts';
import { type ContextLayout, type ProgramTypeSpec, CONTEXT_LAYOUTS, contextFieldAt } from '../uapi/program-types.ts';
import { ProgramLoadError } from './errors.ts';

/** A context access the program type does not allow: a load-time refusal, as the kernel's verifier makes it. */
export class ContextAccessError extends ProgramLoadError {
  override name = 'ContextAccessError';
}

const SIZE_BYTES = [4, 2, 1, 8];

export function contextLayoutOf(spec: ProgramTypeSpec): ContextLayout | undefined {
  return (CONTEXT_LAYOUTS as Record<string, ContextLayout>)[spec.context];
}

/** Why an access of `size` bytes at `offset` is refused for `spec`, or undefined when allowed. */
export function contextAccessProblem(spec: ProgramTypeSpec, offset: number, size: number, write: boolean): string | undefined {
  const where = `${write ? 'write' : 'read'} of ${size} byte${size === 1 ? '' : 's'} at ctx+${offset}`;
  if (offset < 0 || offset + size > spec.contextSize) return `invalid bpf_context access: ${where} is outside the ${spec.contextSize}-byte context`;
  const layout = contextLayoutOf(spec);
  const access = spec.access;
  if (access === undefined || layout === undefined) {
    if (offset % size !== 0) return `invalid bpf_context access: misaligned ${where}`;
    return undefined;
  }
  const field = contextFieldAt(layout, offset);
  if (field === undefined || offset + size > field.offset + field.size) return `invalid bpf_context access: ${where} is not inside one field of ${layout.struct}`;
  const name = `${layout.struct}->${field.name}`;
  if (offset % size !== 0) return `invalid bpf_context access: misaligned ${where} (${name})`;
  const exact = access.exactSize?.[field.name];
  // Array fields (cb[5], remote_ip6[4]) are accessed per 4-byte element.
  const element = field.size > 8 ? 4 : field.size;
  if (write) {
    if (!access.write.includes(field.name)) return `invalid bpf_context access: ${name} is not writable by ${spec.name} programs`;
    const fullSize = exact ?? element;
    if (size !== fullSize && !(field.name === 'cb' && size <= 4)) return `invalid bpf_context access: ${name} must be written with a ${fullSize}-byte store`;
    return undefined;
  }
  if (!access.read.includes(field.name)) return `invalid bpf_context access: ${name} is not readable by ${spec.name} programs`;
  if (exact !== undefined) return size === exact ? undefined : `invalid bpf_context access: ${name} must be read with a ${exact}-byte load`;
  if (size === element) return undefined;
  if (size < element && access.narrowReads.includes(field.name)) return undefined;
  return `invalid bpf_context access: ${name} must be read with a ${element}-byte load`;
}

/**
 * The load-time pass described in the file comment. Throws
 * ContextAccessError for the first refused access; returns the number of
 * context accesses it checked.
 */
export function checkContextAccesses(instructions: readonly Instruction[], spec: ProgramTypeSpec, entries: readonly number[] = [0]): number {
  const n = instructions.length;
  /** Per instruction: register -> context offset, or undefined when not yet reached. */
  const states: (Map<number, number> | undefined)[] = new Array(n);
  const work: number[] = [];
  const visit = (pc: number, state: Map<number, number>): void => {
    if (pc < 0 || pc >= n) return;
    const old = states[pc];
    if (old === undefined) {
      states[pc] = new Map(state);
      work.push(pc);
      return;
    }
    let changed = false;
    for (const [reg, offset] of old) {
      if (state.get(reg) !== offset) {
        old.delete(reg);
        changed = true;
      }
    }
    if (changed) work.push(pc);
  };
  visit(0, new Map([[1, 0]]));
  for (const entry of entries.slice(1)) visit(entry, new Map());
  let checked = 0;
  const checkedAt = new Set<number>();
  while (work.length > 0) {
    const pc = work.pop()!;
    const i = instructions[pc]!;
    const state = new Map(states[pc]!);
    const cls = opClass(i.opcode);
    let next = pc + 1;
    if (cls === InsnClass.LDX || cls === InsnClass.STX || cls === InsnClass.ST) {
      const base = cls === InsnClass.LDX ? i.src : i.dst;
      const offset = state.get(base);
      const mode = opMode(i.opcode);
      if (offset !== undefined && (mode === Mode.MEM || mode === Mode.MEMSX || mode === Mode.ATOMIC)) {
        const size = SIZE_BYTES[(i.opcode >> 3) & 3]!;
        const problem = mode === Mode.ATOMIC ? 'atomic operations on the context are not allowed' : contextAccessProblem(spec, offset + i.offset, size, cls !== InsnClass.LDX);
        if (problem !== undefined) throw new ContextAccessError(pc, problem);
        if (!checkedAt.has(pc)) {
          checkedAt.add(pc);
          checked++;
        }
      }
      if (cls === InsnClass.LDX) state.delete(i.dst);
      if (mode === Mode.ATOMIC) state.delete(0);
    } else if (cls === InsnClass.ALU64 || cls === InsnClass.ALU) {
      const op = aluOp(i.opcode);
      const src = state.get(i.src);
      if (cls === InsnClass.ALU64 && op === AluOp.MOV && opSource(i.opcode) === Source.X && i.offset === 0 && src !== undefined) state.set(i.dst, src);
      else if (cls === InsnClass.ALU64 && (op === AluOp.ADD || op === AluOp.SUB) && opSource(i.opcode) === Source.K && state.has(i.dst)) {
        state.set(i.dst, state.get(i.dst)! + (op === AluOp.ADD ? i.imm : -i.imm));
      } else state.delete(i.dst);
    } else if (cls === InsnClass.LD) {
      state.delete(i.dst);
      if (i.opcode === 0x18) next = pc + 2;
      else for (const r of [0, 1, 2, 3, 4, 5]) state.delete(r);
    } else if (cls === InsnClass.JMP || cls === InsnClass.JMP32) {
      if (i.opcode === OPCODE_EXIT) continue;
      if (i.opcode === OPCODE_CALL) {
        for (const r of [0, 1, 2, 3, 4, 5]) state.delete(r);
        if (i.src === 1) visit(pc + 1 + i.imm, new Map());
      } else if (i.opcode === OPCODE_JA || i.opcode === OPCODE_JA32) {
        next = pc + 1 + (i.opcode === OPCODE_JA32 ? i.imm : i.offset);
      } else if (jmpOp(i.opcode) !== JmpOp.CALL) {
        visit(pc + 1 + i.offset, state);
      }
    }
    visit(next, state);
  }
  return checked;
}
