/**
 * Classic BPF to eBPF, as the kernel's bpf_convert_filter does it for
 * SO_ATTACH_FILTER: A in r0, X in r7, r6 the context, r2 the scratch
 * register, M[k] at r10 - (4k + 4); A and X cleared first; ALU
 * instructions map to 32-bit eBPF ALU, a division or modulo by X = 0
 * returns 0, `ret #k` is `w0 = k; exit`, a conditional jump becomes one
 * jump when a branch falls through (jne/jle/jlt for a fallthrough true
 * side) and a jump plus `ja` otherwise, and a negative constant is
 * compared through r2 (eBPF immediates are sign-extended).
 *
 * Two targets share that mapping and differ in packet access:
 * - 'socket': a socket filter. Packet loads stay LD_ABS/LD_IND (the
 *   kernel's own form; the verifier turns them into bounds-checked loads
 *   that end the program with 0 on failure) and `len` reads
 *   __sk_buff.len. Loads as a user program: reserved fields are zero.
 * - 'xdp': an XDP program. XDP has no LD_ABS, so each load is a direct
 *   packet access checked against data_end (a failing check returns
 *   XDP_DROP, like cBPF's return 0), `len` is data_end - data, and a
 *   non-zero cBPF result is XDP_PASS, zero XDP_DROP.
 */
import { AluOp, InsnClass, JmpOp, Mode as EMode, Size as ESize, Source } from '../isa/opcodes.ts';
import { alu32Imm, alu32Reg, exit, insn, ja, jmpImm, jmpReg, ldx, mov32Imm, mov64Reg, stx, type Instruction } from '../isa/instruction.ts';
import { checkCbpf } from './checker.ts';
import { CbpfCheckError } from './errors.ts';
import { Alu, Class, Jmp, Misc, Mode, RetSrc, Size, Src, type CbpfInstruction } from './opcodes.ts';

export type ConvertTarget = 'socket' | 'xdp';

const R_A = 0;
const R_CTX_ARG = 1;
const R_TMP = 2;
const R_PTR = 3;
const R_END_CHECK = 4;
const R_CTX = 6;
const R_X = 7;
const R_DATA = 8;
const R_DATA_END = 9;
const R_FP = 10;
const XDP_DROP = 1;
const XDP_PASS = 2;
/** Largest constant packet offset the verifier accepts (MAX_PACKET_OFF). */
const MAX_PACKET_OFF = 0xffff;
/** __sk_buff.len and xdp_md.data / data_end. */
const SKB_LEN = 0;
const XDP_MD_DATA = 0;
const XDP_MD_DATA_END = 4;
const TO_BE = 0x08;

/** A jump whose target is a classic instruction index, or the shared drop path of the XDP target. */
type Target = number | 'drop';

interface Pending {
  insn: Instruction;
  target?: Target;
}

const SIZE_BYTES: Readonly<Record<number, number>> = { [Size.W]: 4, [Size.H]: 2, [Size.B]: 1 };
const E_SIZE: Readonly<Record<number, ESize>> = { [Size.W]: ESize.W, [Size.H]: ESize.H, [Size.B]: ESize.B };
const NEGATED_FALLTHROUGH: Readonly<Record<number, JmpOp>> = { [Jmp.JEQ]: JmpOp.JNE, [Jmp.JGT]: JmpOp.JLE, [Jmp.JGE]: JmpOp.JLT };

/** Converts a classic program (checked first, with the kernel's rules) to eBPF for a socket filter or an XDP program. */
export function convertCbpf(program: readonly CbpfInstruction[], target: ConvertTarget = 'socket'): Instruction[] {
  checkCbpf(program);
  const xdp = target === 'xdp';
  const out: Pending[] = [];
  const emit = (i: Instruction, jumpTarget?: Target): void => {
    out.push(jumpTarget === undefined ? { insn: i } : { insn: i, target: jumpTarget });
  };
  // Prologue: A = 0, X = 0, the context in r6 (and for XDP, data and data_end). The kernel clears
  // A and X with xor; a loaded program may not read registers it never wrote, so here they are set.
  emit(mov32Imm(R_A, 0));
  emit(mov32Imm(R_X, 0));
  emit(mov64Reg(R_CTX, R_CTX_ARG));
  if (xdp) {
    emit(ldx(ESize.W, R_DATA, R_CTX, XDP_MD_DATA));
    emit(ldx(ESize.W, R_DATA_END, R_CTX, XDP_MD_DATA_END));
  }
  const addrs: number[] = [];

  /** dst = the big-endian value of `size` at packet offset (X +) k, or the program returns "drop". */
  const load = (size: number, k: number, indexed: boolean, dst: number): void => {
    if (!xdp) {
      // eBPF LD_ABS/LD_IND always load into r0; MSH moves the byte where it belongs.
      emit(insn(InsnClass.LD | (indexed ? EMode.IND : EMode.ABS) | E_SIZE[size]!, 0, indexed ? R_X : 0, 0, k | 0));
      if (dst !== R_A) emit(mov64Reg(dst, R_A));
      return;
    }
    const bytes = SIZE_BYTES[size]!;
    if (indexed) {
      emit(mov64Reg(R_TMP, R_X));
      emit(alu32Imm(AluOp.ADD, R_TMP, k | 0));
      emit(jmpImm(JmpOp.JGT, R_TMP, MAX_PACKET_OFF, 0), 'drop');
      emit(mov64Reg(R_PTR, R_DATA));
      emit(insn(InsnClass.ALU64 | AluOp.ADD | Source.X, R_PTR, R_TMP));
    } else {
      if (k >>> 0 > MAX_PACKET_OFF) {
        emit(ja(0), 'drop');
        return;
      }
      emit(mov64Reg(R_PTR, R_DATA));
      emit(insn(InsnClass.ALU64 | AluOp.ADD | Source.K, R_PTR, 0, 0, k));
    }
    emit(mov64Reg(R_END_CHECK, R_PTR));
    emit(insn(InsnClass.ALU64 | AluOp.ADD | Source.K, R_END_CHECK, 0, 0, bytes));
    emit(jmpReg(JmpOp.JGT, R_END_CHECK, R_DATA_END, 0), 'drop');
    emit(ldx(E_SIZE[size]!, dst, R_PTR, 0));
    if (bytes > 1) emit(insn(InsnClass.ALU | AluOp.END | TO_BE, dst, 0, 0, bytes * 8));
  };

  const packetLength = (dst: number): void => {
    if (!xdp) {
      emit(ldx(ESize.W, dst, R_CTX, SKB_LEN));
      return;
    }
    emit(mov64Reg(dst, R_DATA_END));
    emit(alu32Reg(AluOp.SUB, dst, R_DATA));
  };

  const ret = (value: number | 'A'): void => {
    if (xdp) {
      if (value === 'A') {
        emit(jmpImm(JmpOp.JEQ, R_A, 0, 2));
        emit(mov32Imm(R_A, XDP_PASS));
        emit(exit());
        emit(mov32Imm(R_A, XDP_DROP));
      } else {
        emit(mov32Imm(R_A, value >>> 0 !== 0 ? XDP_PASS : XDP_DROP));
      }
    } else if (value !== 'A') {
      emit(mov32Imm(R_A, value | 0));
    }
    emit(exit());
  };

  program.forEach((fp, i) => {
    addrs[i] = out.length;
    const { code, k } = fp;
    const cls = code & 0x07;
    switch (cls) {
      case Class.ALU: {
        const op = code & 0xf0;
        if (op === Alu.NEG) {
          emit(insn(InsnClass.ALU | AluOp.NEG, R_A));
        } else if ((code & 0x08) === Src.X) {
          if (op === Alu.DIV || op === Alu.MOD) {
            emit(insn(InsnClass.ALU | AluOp.MOV | Source.X, R_X, R_X));
            if (xdp) {
              emit(jmpImm(JmpOp.JEQ, R_X, 0, 0), 'drop');
            } else {
              emit(jmpImm(JmpOp.JNE, R_X, 0, 2));
              emit(alu32Reg(AluOp.XOR, R_A, R_A));
              emit(exit());
            }
          }
          emit(alu32Reg(op as AluOp, R_A, R_X));
        } else {
          emit(alu32Imm(op as AluOp, R_A, k | 0));
        }
        return;
      }
      case Class.LD:
        switch (code & 0xe0) {
          case Mode.ABS:
            load(code & 0x18, k, false, R_A);
            return;
          case Mode.IND:
            load(code & 0x18, k, true, R_A);
            return;
          case Mode.LEN:
            packetLength(R_A);
            return;
          case Mode.IMM:
            emit(mov32Imm(R_A, k | 0));
            return;
          case Mode.MEM:
            emit(ldx(ESize.W, R_A, R_FP, -(k * 4 + 4)));
            return;
        }
        break;
      case Class.LDX:
        switch (code & 0xe0) {
          case Mode.MSH:
            if (xdp) {
              load(Size.B, k, false, R_TMP);
              emit(alu32Imm(AluOp.AND, R_TMP, 0xf));
              emit(alu32Imm(AluOp.LSH, R_TMP, 2));
              emit(mov64Reg(R_X, R_TMP));
            } else {
              emit(mov64Reg(R_X, R_A));
              load(Size.B, k, false, R_A);
              emit(alu32Imm(AluOp.AND, R_A, 0xf));
              emit(alu32Imm(AluOp.LSH, R_A, 2));
              emit(mov64Reg(R_TMP, R_X));
              emit(mov64Reg(R_X, R_A));
              emit(mov64Reg(R_A, R_TMP));
            }
            return;
          case Mode.LEN:
            packetLength(R_X);
            return;
          case Mode.IMM:
            emit(mov32Imm(R_X, k | 0));
            return;
          case Mode.MEM:
            emit(ldx(ESize.W, R_X, R_FP, -(k * 4 + 4)));
            return;
        }
        break;
      case Class.ST:
      case Class.STX:
        emit(stx(ESize.W, R_FP, -(k * 4 + 4), cls === Class.ST ? R_A : R_X));
        return;
      case Class.MISC:
        emit((code & 0xf8) === Misc.TAX ? mov64Reg(R_X, R_A) : mov64Reg(R_A, R_X));
        return;
      case Class.RET:
        ret((code & 0x18) === RetSrc.A ? 'A' : k);
        return;
      case Class.JMP: {
        const op = code & 0xf0;
        if (op === Jmp.JA) {
          emit(ja(0), i + 1 + (k >>> 0));
          return;
        }
        let src: number = code & 0x08;
        const compare = (jumpOp: number): Instruction =>
          src === Source.X ? jmpReg(jumpOp as JmpOp, R_A, (code & 0x08) === Src.X ? R_X : R_TMP, 0) : jmpImm(jumpOp as JmpOp, R_A, k | 0, 0);
        if (src === Src.K && (k | 0) < 0) {
          emit(mov32Imm(R_TMP, k | 0));
          src = Source.X;
        }
        if (fp.jf === 0) {
          emit(compare(op), i + 1 + fp.jt);
          return;
        }
        const negated = NEGATED_FALLTHROUGH[op];
        if (fp.jt === 0 && negated !== undefined) {
          emit(compare(negated), i + 1 + fp.jf);
          return;
        }
        emit(compare(op), i + 1 + fp.jt);
        emit(ja(0), i + 1 + fp.jf);
        return;
      }
    }
    throw new CbpfCheckError(`opcode 0x${code.toString(16)} has no eBPF form`, i);
  });
  const dropAt = out.length;
  if (xdp && out.some((p) => p.target === 'drop')) {
    emit(mov32Imm(R_A, XDP_DROP));
    emit(exit());
  }
  // Jumps: to the first eBPF instruction of the classic target, or to the drop path.
  return out.map((p, at) => {
    if (p.target === undefined) return p.insn;
    const to = p.target === 'drop' ? dropAt : addrs[p.target]!;
    const offset = to - at - 1;
    // As the kernel's BPF_EMIT_JMP: an offset must fit the instruction's 16 bits.
    if (offset > 0x7fff) throw new CbpfCheckError(`the converted jump at eBPF instruction ${at} spans ${offset} instructions, more than an eBPF jump can (32767)`, -1);
    return { ...p.insn, offset };
  });
}
