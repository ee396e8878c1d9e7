/**
 * A classic BPF interpreter with the kernel's semantics: 32-bit unsigned
 * A and X, sixteen scratch words, a load past the end of the packet or a
 * division by X = 0 ends the program with 0, shifts take the amount
 * modulo 32 (as the converted eBPF does). Programs are checked first, so
 * every jump goes forward and every run ends.
 */
import { checkCbpf } from './checker.ts';
import { Alu, Class, Jmp, Misc, Mode, RetSrc, Size, Src, type CbpfInstruction } from './opcodes.ts';

export interface CbpfRunInput {
  /** The bytes the filter sees (the captured part of the packet). */
  data: Uint8Array;
  /** The packet's length on the wire, for `len` (default data.length). */
  wireLength?: number;
}

/** A checked classic program, pre-decoded for running many packets. */
export class CbpfProgram {
  private readonly codes: Uint16Array;
  private readonly ks: Uint32Array;
  private readonly jts: Uint8Array;
  private readonly jfs: Uint8Array;
  private readonly memory = new Uint32Array(16);
  readonly instructions: readonly CbpfInstruction[];

  constructor(program: readonly CbpfInstruction[]) {
    checkCbpf(program);
    this.instructions = program.map((i) => ({ code: i.code, jt: i.jt, jf: i.jf, k: i.k >>> 0 }));
    this.codes = Uint16Array.from(program, (i) => i.code);
    this.ks = Uint32Array.from(program, (i) => i.k >>> 0);
    this.jts = Uint8Array.from(program, (i) => i.jt);
    this.jfs = Uint8Array.from(program, (i) => i.jf);
  }

  /** The filter's return value: 0 drops the packet, otherwise the number of bytes to keep. */
  run(data: Uint8Array, wireLength: number = data.length): number {
    const { codes, ks, jts, jfs, memory: m } = this;
    const length = data.length;
    let a = 0;
    let x = 0;
    for (let pc = 0; ; pc++) {
      const k = ks[pc]!;
      switch (codes[pc]!) {
        case Class.RET | RetSrc.K:
          return k;
        case Class.RET | RetSrc.A:
          return a;
        case Class.LD | Mode.ABS | Size.W:
          if (k > length - 4 || length < 4) return 0;
          a = ((data[k]! << 24) | (data[k + 1]! << 16) | (data[k + 2]! << 8) | data[k + 3]!) >>> 0;
          break;
        case Class.LD | Mode.ABS | Size.H:
          if (k > length - 2 || length < 2) return 0;
          a = (data[k]! << 8) | data[k + 1]!;
          break;
        case Class.LD | Mode.ABS | Size.B:
          if (k >= length) return 0;
          a = data[k]!;
          break;
        case Class.LD | Mode.IND | Size.W: {
          const at = (x + k) >>> 0;
          if (at > length - 4 || length < 4) return 0;
          a = ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
          break;
        }
        case Class.LD | Mode.IND | Size.H: {
          const at = (x + k) >>> 0;
          if (at > length - 2 || length < 2) return 0;
          a = (data[at]! << 8) | data[at + 1]!;
          break;
        }
        case Class.LD | Mode.IND | Size.B: {
          const at = (x + k) >>> 0;
          if (at >= length) return 0;
          a = data[at]!;
          break;
        }
        case Class.LD | Size.W | Mode.LEN:
          a = wireLength >>> 0;
          break;
        case Class.LDX | Size.W | Mode.LEN:
          x = wireLength >>> 0;
          break;
        case Class.LD | Mode.IMM:
          a = k;
          break;
        case Class.LDX | Mode.IMM:
          x = k;
          break;
        case Class.LDX | Mode.MSH | Size.B:
          if (k >= length) return 0;
          x = (data[k]! & 0xf) << 2;
          break;
        case Class.LD | Mode.MEM:
          a = m[k]!;
          break;
        case Class.LDX | Mode.MEM:
          x = m[k]!;
          break;
        case Class.ST:
          m[k] = a;
          break;
        case Class.STX:
          m[k] = x;
          break;
        case Class.ALU | Alu.ADD | Src.K: a = (a + k) >>> 0; break;
        case Class.ALU | Alu.ADD | Src.X: a = (a + x) >>> 0; break;
        case Class.ALU | Alu.SUB | Src.K: a = (a - k) >>> 0; break;
        case Class.ALU | Alu.SUB | Src.X: a = (a - x) >>> 0; break;
        case Class.ALU | Alu.MUL | Src.K: a = Math.imul(a, k) >>> 0; break;
        case Class.ALU | Alu.MUL | Src.X: a = Math.imul(a, x) >>> 0; break;
        case Class.ALU | Alu.DIV | Src.K: a = Math.floor(a / k) >>> 0; break;
        case Class.ALU | Alu.DIV | Src.X:
          if (x === 0) return 0;
          a = Math.floor(a / x) >>> 0;
          break;
        case Class.ALU | Alu.MOD | Src.K: a = a % k; break;
        case Class.ALU | Alu.MOD | Src.X:
          if (x === 0) return 0;
          a = a % x;
          break;
        case Class.ALU | Alu.AND | Src.K: a = (a & k) >>> 0; break;
        case Class.ALU | Alu.AND | Src.X: a = (a & x) >>> 0; break;
        case Class.ALU | Alu.OR | Src.K: a = (a | k) >>> 0; break;
        case Class.ALU | Alu.OR | Src.X: a = (a | x) >>> 0; break;
        case Class.ALU | Alu.XOR | Src.K: a = (a ^ k) >>> 0; break;
        case Class.ALU | Alu.XOR | Src.X: a = (a ^ x) >>> 0; break;
        case Class.ALU | Alu.LSH | Src.K: a = (a << k) >>> 0; break;
        case Class.ALU | Alu.LSH | Src.X: a = (a << (x & 31)) >>> 0; break;
        case Class.ALU | Alu.RSH | Src.K: a = a >>> k; break;
        case Class.ALU | Alu.RSH | Src.X: a = a >>> (x & 31); break;
        case Class.ALU | Alu.NEG: a = -a >>> 0; break;
        case Class.MISC | Misc.TAX: x = a; break;
        case Class.MISC | Misc.TXA: a = x; break;
        case Class.JMP | Jmp.JA: pc += k; break;
        case Class.JMP | Jmp.JEQ | Src.K: pc += a === k ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JEQ | Src.X: pc += a === x ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JGT | Src.K: pc += a > k ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JGT | Src.X: pc += a > x ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JGE | Src.K: pc += a >= k ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JGE | Src.X: pc += a >= x ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JSET | Src.K: pc += (a & k) !== 0 ? jts[pc]! : jfs[pc]!; break;
        case Class.JMP | Jmp.JSET | Src.X: pc += (a & x) !== 0 ? jts[pc]! : jfs[pc]!; break;
        default:
          // Unreachable: the checker allows only the opcodes above.
          return 0;
      }
    }
  }
}

/** Runs a classic program once (checks it first). */
export function runCbpf(program: readonly CbpfInstruction[], input: CbpfRunInput): number {
  return new CbpfProgram(program).run(input.data, input.wireLength ?? input.data.length);
}
