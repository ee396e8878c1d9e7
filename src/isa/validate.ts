import type { Instruction } from './instruction.ts';
import {
  AluOp,
  AtomicOp,
  CallSrc,
  EndSource,
  InsnClass,
  JcondSrc,
  JmpOp,
  LdImm64Src,
  Mode,
  REG_COUNT,
  Size,
  Source,
  aluOp,
  jmpOp,
  opClass,
  opMode,
  opSize,
  opSource,
} from './opcodes.ts';

/**
 * Encoding rules of the instruction set: which opcodes exist and which fields
 * must be zero. Messages follow the kernel's verifier ("BPF_ALU uses reserved
 * fields", "unknown opcode 8f") so logs read the same on both backends.
 *
 * Returns the reason an instruction is malformed, or undefined when it is
 * well-formed. `next` is the following slot, needed for `lddw`.
 */
/** The kernel's message for an opcode it does not know (built only when needed: validation runs on every instruction). */
function unknownOpcode(i: Instruction): string {
  return `unknown opcode ${hex2(i.opcode)}`;
}

export function instructionProblem(i: Instruction, next: Instruction | undefined): string | undefined {
  const cls = opClass(i.opcode);
  if (i.dst >= REG_COUNT) return `R${i.dst} is invalid`;
  if (i.src >= REG_COUNT && !usesSrcAsSelector(i)) return `R${i.src} is invalid`;
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64:
      return aluProblem(i, cls);
    case InsnClass.JMP:
    case InsnClass.JMP32:
      return jmpProblem(i, cls);
    case InsnClass.LD:
      return ldProblem(i, next);
    case InsnClass.LDX: {
      const mode = opMode(i.opcode);
      if (mode === Mode.MEMSX && opSize(i.opcode) === Size.DW) return unknownOpcode(i);
      if (mode !== Mode.MEM && mode !== Mode.MEMSX) return unknownOpcode(i);
      if (i.imm !== 0) return 'BPF_LDX uses reserved fields';
      return undefined;
    }
    case InsnClass.ST:
      if (opMode(i.opcode) !== Mode.MEM) return unknownOpcode(i);
      if (i.src !== 0) return 'BPF_ST uses reserved fields';
      return undefined;
    case InsnClass.STX: {
      const mode = opMode(i.opcode);
      if (mode === Mode.MEM) return i.imm !== 0 ? 'BPF_STX uses reserved fields' : undefined;
      if (mode === Mode.ATOMIC) return atomicProblem(i);
      return unknownOpcode(i);
    }
  }
  return unknownOpcode(i);
}

/** Instructions whose `src` field selects a variant instead of naming a register. */
function usesSrcAsSelector(i: Instruction): boolean {
  const cls = opClass(i.opcode);
  if (cls === InsnClass.LD) return true;
  return cls === InsnClass.JMP && (jmpOp(i.opcode) === JmpOp.CALL || jmpOp(i.opcode) === JmpOp.JCOND);
}

function aluProblem(i: Instruction, cls: number): string | undefined {
  const op = aluOp(i.opcode);
  const name = cls === InsnClass.ALU ? 'BPF_ALU' : 'BPF_ALU64';
  const isX = opSource(i.opcode) === Source.X;
  if (op > AluOp.END) return `unknown opcode ${hex2(i.opcode)}`;
  if (op === AluOp.NEG) {
    if (isX || i.src !== 0 || i.offset !== 0 || i.imm !== 0) return 'BPF_NEG uses reserved fields';
    return undefined;
  }
  if (op === AluOp.END) {
    if (i.src !== 0 || i.offset !== 0 || (i.imm !== 16 && i.imm !== 32 && i.imm !== 64)) return 'BPF_END uses reserved fields';
    if (cls === InsnClass.ALU64 && opSource(i.opcode) !== EndSource.TO_LE) return 'BPF_END uses reserved fields';
    return undefined;
  }
  if (op === AluOp.MOV) {
    if (!isX) return i.src !== 0 || i.offset !== 0 ? 'BPF_MOV uses reserved fields' : undefined;
    if (cls === InsnClass.ALU64 && i.offset === 1) {
      // addr_space_cast: imm = dst_addr_space << 16 | src_addr_space; the kernel accepts 1 -> 0 and 0 -> 1.
      return i.imm === 1 || i.imm === 0x10000 ? undefined : 'addr_space_cast insn can only convert between address space 1 and 0';
    }
    if (i.imm !== 0) return 'BPF_MOV uses reserved fields';
    const okOffsets = cls === InsnClass.ALU64 ? [0, 8, 16, 32] : [0, 8, 16];
    return okOffsets.includes(i.offset) ? undefined : 'BPF_MOV uses reserved fields';
  }
  const signedOk = op === AluOp.DIV || op === AluOp.MOD;
  if (i.offset !== 0 && !(signedOk && i.offset === 1)) return `${name} uses reserved fields`;
  if (isX ? i.imm !== 0 : i.src !== 0) return `${name} uses reserved fields`;
  return undefined;
}

function jmpProblem(i: Instruction, cls: number): string | undefined {
  const op = jmpOp(i.opcode);
  const isX = opSource(i.opcode) === Source.X;
  const is32 = cls === InsnClass.JMP32;
  switch (op as number) {
    case JmpOp.JA:
      if (isX || i.src !== 0 || i.dst !== 0) return 'BPF_JA uses reserved fields';
      if (is32 ? i.offset !== 0 : i.imm !== 0) return 'BPF_JA uses reserved fields';
      return undefined;
    case JmpOp.CALL:
      if (is32) return 'BPF_CALL uses reserved fields';
      if (isX) {
        // callx: the target address is in the register named by dst.
        return i.src !== 0 || i.offset !== 0 || i.imm !== 0 ? 'BPF_CALL uses reserved fields' : undefined;
      }
      if (i.dst !== 0) return 'BPF_CALL uses reserved fields';
      if (i.src !== CallSrc.HELPER && i.src !== CallSrc.LOCAL && i.src !== CallSrc.KFUNC) return 'BPF_CALL uses reserved fields';
      if (i.src === CallSrc.HELPER && i.offset !== 0) return 'BPF_CALL uses reserved fields';
      if (i.src === CallSrc.LOCAL && i.offset !== 0) return 'BPF_CALL uses reserved fields';
      return undefined;
    case JmpOp.EXIT:
      if (is32 || isX || i.imm !== 0 || i.src !== 0 || i.dst !== 0) return 'BPF_EXIT uses reserved fields';
      return undefined;
    case JmpOp.JCOND:
      if (is32 || isX || i.src !== JcondSrc.MAY_GOTO || i.dst !== 0 || i.imm !== 0) return 'unknown conditional jump';
      return undefined;
    case 0xf0:
      return `unknown opcode ${hex2(i.opcode)}`;
    default:
      if (isX ? i.imm !== 0 : i.src !== 0) return `${is32 ? 'BPF_JMP32' : 'BPF_JMP'} uses reserved fields`;
      return undefined;
  }
}

function ldProblem(i: Instruction, next: Instruction | undefined): string | undefined {
  const mode = opMode(i.opcode);
  const size = opSize(i.opcode);
  if (mode === Mode.IMM) {
    if (size !== Size.DW) return `unknown opcode ${hex2(i.opcode)}`;
    if (next === undefined) return 'invalid bpf_ld_imm64 insn: missing second slot';
    if (i.offset !== 0 || next.opcode !== 0 || next.dst !== 0 || next.src !== 0 || next.offset !== 0) {
      return 'invalid bpf_ld_imm64 insn';
    }
    if (i.src > LdImm64Src.MAP_IDX_VALUE) return 'invalid bpf_ld_imm64 insn: unknown pseudo source';
    if (i.src === LdImm64Src.MAP_FD || i.src === LdImm64Src.MAP_IDX || i.src === LdImm64Src.FUNC) {
      if (next.imm !== 0) return 'invalid bpf_ld_imm64 insn';
    }
    return undefined;
  }
  if (mode === Mode.ABS || mode === Mode.IND) {
    if (i.dst !== 0 || i.offset !== 0 || size === Size.DW || (mode === Mode.ABS && i.src !== 0)) {
      return 'BPF_LD_[ABS|IND] uses reserved fields';
    }
    return undefined;
  }
  return `unknown opcode ${hex2(i.opcode)}`;
}

function atomicProblem(i: Instruction): string | undefined {
  const size = opSize(i.opcode);
  switch (i.imm) {
    case AtomicOp.LOAD_ACQ:
    case AtomicOp.STORE_REL:
      return undefined;
    case AtomicOp.ADD:
    case AtomicOp.OR:
    case AtomicOp.AND:
    case AtomicOp.XOR:
    case AtomicOp.ADD | AtomicOp.FETCH:
    case AtomicOp.OR | AtomicOp.FETCH:
    case AtomicOp.AND | AtomicOp.FETCH:
    case AtomicOp.XOR | AtomicOp.FETCH:
    case AtomicOp.XCHG:
    case AtomicOp.CMPXCHG:
      return size === Size.W || size === Size.DW ? undefined : 'invalid atomic operand size';
    default:
      return `BPF_ATOMIC uses invalid atomic opcode ${hex2(i.imm & 0xff)}`;
  }
}

function hex2(v: number): string {
  return (v >>> 0).toString(16).padStart(2, '0');
}
