import {
  AluOp,
  AtomicOp,
  CallSrc,
  InsnClass,
  JmpOp,
  LdImm64Src,
  Mode,
  OPCODE_CALL,
  OPCODE_CALLX,
  OPCODE_EXIT,
  OPCODE_JA,
  OPCODE_JA32,
  OPCODE_LDDW,
  OPCODE_MAY_GOTO,
  Size,
  Source,
} from './opcodes.ts';

/**
 * One 8-byte instruction slot, as the kernel stores it (struct bpf_insn).
 *
 * A program is an array of slots: the 16-byte `lddw` occupies two entries,
 * the second carrying the upper 32 bits of the constant in `imm` and zeros
 * elsewhere. Jump and call offsets therefore count entries, exactly as in
 * the kernel and in its verifier log.
 */
export interface Instruction {
  /** 8-bit opcode. */
  opcode: number;
  /** Destination register, 0-15 (values over 10 are invalid but encodable). */
  dst: number;
  /** Source register or pseudo-source selector, 0-15. */
  src: number;
  /** Signed 16-bit offset. */
  offset: number;
  /** Signed 32-bit immediate. */
  imm: number;
}

export function insn(opcode: number, dst = 0, src = 0, offset = 0, imm = 0): Instruction {
  return { opcode: opcode & 0xff, dst: dst & 0xf, src: src & 0xf, offset: (offset << 16) >> 16, imm: imm | 0 };
}

export const isLddw = (i: Instruction): boolean => i.opcode === OPCODE_LDDW;

/** The 64-bit constant of an `lddw` made of `first` and `second` slots. */
export function lddwValue(first: Instruction, second: Instruction): bigint {
  return (BigInt(second.imm >>> 0) << 32n) | BigInt(first.imm >>> 0);
}

// Builders. Names follow the kernel's filter.h macros (BPF_ALU64_IMM, ...).

export const alu64Imm = (op: AluOp, dst: number, imm: number): Instruction =>
  insn(InsnClass.ALU64 | op | Source.K, dst, 0, 0, imm);
export const alu64Reg = (op: AluOp, dst: number, src: number): Instruction =>
  insn(InsnClass.ALU64 | op | Source.X, dst, src);
export const alu32Imm = (op: AluOp, dst: number, imm: number): Instruction =>
  insn(InsnClass.ALU | op | Source.K, dst, 0, 0, imm);
export const alu32Reg = (op: AluOp, dst: number, src: number): Instruction =>
  insn(InsnClass.ALU | op | Source.X, dst, src);
export const mov64Imm = (dst: number, imm: number): Instruction => alu64Imm(AluOp.MOV, dst, imm);
export const mov64Reg = (dst: number, src: number): Instruction => alu64Reg(AluOp.MOV, dst, src);
export const mov32Imm = (dst: number, imm: number): Instruction => alu32Imm(AluOp.MOV, dst, imm);
export const mov32Reg = (dst: number, src: number): Instruction => alu32Reg(AluOp.MOV, dst, src);

/** Two slots loading a 64-bit constant (or a pseudo value selected by `src`). */
export function lddw(dst: number, value: bigint | number, src: LdImm64Src = LdImm64Src.IMM64): [Instruction, Instruction] {
  const v = BigInt.asUintN(64, BigInt(value));
  return [
    insn(OPCODE_LDDW, dst, src, 0, Number(BigInt.asIntN(32, v))),
    insn(0, 0, 0, 0, Number(BigInt.asIntN(32, v >> 32n))),
  ];
}

export const ldx = (size: Size, dst: number, src: number, offset: number): Instruction =>
  insn(InsnClass.LDX | Mode.MEM | size, dst, src, offset);
export const ldxs = (size: Size, dst: number, src: number, offset: number): Instruction =>
  insn(InsnClass.LDX | Mode.MEMSX | size, dst, src, offset);
export const stx = (size: Size, dst: number, offset: number, src: number): Instruction =>
  insn(InsnClass.STX | Mode.MEM | size, dst, src, offset);
export const st = (size: Size, dst: number, offset: number, imm: number): Instruction =>
  insn(InsnClass.ST | Mode.MEM | size, dst, 0, offset, imm);
export const atomic = (size: Size, op: number, dst: number, offset: number, src: number): Instruction =>
  insn(InsnClass.STX | Mode.ATOMIC | size, dst, src, offset, op);
export const loadAcquire = (size: Size, dst: number, src: number, offset: number): Instruction =>
  insn(InsnClass.STX | Mode.ATOMIC | size, dst, src, offset, AtomicOp.LOAD_ACQ);
export const storeRelease = (size: Size, dst: number, offset: number, src: number): Instruction =>
  insn(InsnClass.STX | Mode.ATOMIC | size, dst, src, offset, AtomicOp.STORE_REL);

export const jmpImm = (op: JmpOp, dst: number, imm: number, offset: number): Instruction =>
  insn(InsnClass.JMP | op | Source.K, dst, 0, offset, imm);
export const jmpReg = (op: JmpOp, dst: number, src: number, offset: number): Instruction =>
  insn(InsnClass.JMP | op | Source.X, dst, src, offset);
export const jmp32Imm = (op: JmpOp, dst: number, imm: number, offset: number): Instruction =>
  insn(InsnClass.JMP32 | op | Source.K, dst, 0, offset, imm);
export const jmp32Reg = (op: JmpOp, dst: number, src: number, offset: number): Instruction =>
  insn(InsnClass.JMP32 | op | Source.X, dst, src, offset);
export const ja = (offset: number): Instruction => insn(OPCODE_JA, 0, 0, offset);
export const gotol = (offset: number): Instruction => insn(OPCODE_JA32, 0, 0, 0, offset);
export const mayGoto = (offset: number): Instruction => insn(OPCODE_MAY_GOTO, 0, 0, offset);
export const callHelper = (id: number): Instruction => insn(OPCODE_CALL, 0, CallSrc.HELPER, 0, id);
export const callLocal = (offset: number): Instruction => insn(OPCODE_CALL, 0, CallSrc.LOCAL, 0, offset);
export const callKfunc = (btfId: number, btfFdIndex = 0): Instruction =>
  insn(OPCODE_CALL, 0, CallSrc.KFUNC, btfFdIndex, btfId);
export const callx = (reg: number): Instruction => insn(OPCODE_CALLX, reg);
export const exit = (): Instruction => insn(OPCODE_EXIT);
