/**
 * Classic BPF (struct sock_filter): the instruction format of tcpdump,
 * SO_ATTACH_FILTER and seccomp. Constants are linux/filter.h's.
 */

/** One classic instruction: 16-bit code, two 8-bit jump offsets, 32-bit constant. */
export interface CbpfInstruction {
  code: number;
  jt: number;
  jf: number;
  /** Unsigned 32-bit. */
  k: number;
}

export const Class = { LD: 0x00, LDX: 0x01, ST: 0x02, STX: 0x03, ALU: 0x04, JMP: 0x05, RET: 0x06, MISC: 0x07 } as const;
export const Size = { W: 0x00, H: 0x08, B: 0x10 } as const;
export const Mode = { IMM: 0x00, ABS: 0x20, IND: 0x40, MEM: 0x60, LEN: 0x80, MSH: 0xa0 } as const;
export const Alu = { ADD: 0x00, SUB: 0x10, MUL: 0x20, DIV: 0x30, OR: 0x40, AND: 0x50, LSH: 0x60, RSH: 0x70, NEG: 0x80, MOD: 0x90, XOR: 0xa0 } as const;
export const Jmp = { JA: 0x00, JEQ: 0x10, JGT: 0x20, JGE: 0x30, JSET: 0x40 } as const;
export const Src = { K: 0x00, X: 0x08 } as const;
/** RET's operand: K, X, or A. */
export const RetSrc = { K: 0x00, X: 0x08, A: 0x10 } as const;
export const Misc = { TAX: 0x00, TXA: 0x80 } as const;

/** Scratch memory words (BPF_MEMWORDS). */
export const MEMWORDS = 16;
/** The kernel's limit on classic program length (BPF_MAXINSNS). */
export const MAXINSNS = 4096;

export const cls = (code: number): number => code & 0x07;
export const size = (code: number): number => code & 0x18;
export const mode = (code: number): number => code & 0xe0;
export const op = (code: number): number => code & 0xf0;
export const src = (code: number): number => code & 0x08;
export const retSrc = (code: number): number => code & 0x18;
export const miscOp = (code: number): number => code & 0xf8;

export const stmt = (code: number, k = 0): CbpfInstruction => ({ code, jt: 0, jf: 0, k: k >>> 0 });
export const jump = (code: number, k: number, jt: number, jf: number): CbpfInstruction => ({ code, jt, jf, k: k >>> 0 });

/** struct sock_filter[] as SO_ATTACH_FILTER takes it: 8 bytes an instruction, little-endian (the host order of every platform tsbpf's kernel backend runs on). */
export function encodeCbpf(program: readonly CbpfInstruction[]): Uint8Array {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach((insn, i) => {
    view.setUint16(i * 8, insn.code, true);
    view.setUint8(i * 8 + 2, insn.jt);
    view.setUint8(i * 8 + 3, insn.jf);
    view.setUint32(i * 8 + 4, insn.k >>> 0, true);
  });
  return bytes;
}
