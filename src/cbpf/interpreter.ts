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

// Opcodes as module constants: the switch below compares plain numbers.
const RET_K = Class.RET | RetSrc.K;
const RET_A = Class.RET | RetSrc.A;
const LD_ABS_W = Class.LD | Mode.ABS | Size.W;
const LD_ABS_H = Class.LD | Mode.ABS | Size.H;
const LD_ABS_B = Class.LD | Mode.ABS | Size.B;
const LD_IND_W = Class.LD | Mode.IND | Size.W;
const LD_IND_H = Class.LD | Mode.IND | Size.H;
const LD_IND_B = Class.LD | Mode.IND | Size.B;
const LD_W_LEN = Class.LD | Size.W | Mode.LEN;
const LDX_W_LEN = Class.LDX | Size.W | Mode.LEN;
const LD_IMM = Class.LD | Mode.IMM;
const LDX_IMM = Class.LDX | Mode.IMM;
const LDX_MSH_B = Class.LDX | Mode.MSH | Size.B;
const LD_MEM = Class.LD | Mode.MEM;
const LDX_MEM = Class.LDX | Mode.MEM;
const ST = Class.ST;
const STX = Class.STX;
const ALU_ADD_K = Class.ALU | Alu.ADD | Src.K;
const ALU_ADD_X = Class.ALU | Alu.ADD | Src.X;
const ALU_SUB_K = Class.ALU | Alu.SUB | Src.K;
const ALU_SUB_X = Class.ALU | Alu.SUB | Src.X;
const ALU_MUL_K = Class.ALU | Alu.MUL | Src.K;
const ALU_MUL_X = Class.ALU | Alu.MUL | Src.X;
const ALU_DIV_K = Class.ALU | Alu.DIV | Src.K;
const ALU_DIV_X = Class.ALU | Alu.DIV | Src.X;
const ALU_MOD_K = Class.ALU | Alu.MOD | Src.K;
const ALU_MOD_X = Class.ALU | Alu.MOD | Src.X;
const ALU_AND_K = Class.ALU | Alu.AND | Src.K;
const ALU_AND_X = Class.ALU | Alu.AND | Src.X;
const ALU_OR_K = Class.ALU | Alu.OR | Src.K;
const ALU_OR_X = Class.ALU | Alu.OR | Src.X;
const ALU_XOR_K = Class.ALU | Alu.XOR | Src.K;
const ALU_XOR_X = Class.ALU | Alu.XOR | Src.X;
const ALU_LSH_K = Class.ALU | Alu.LSH | Src.K;
const ALU_LSH_X = Class.ALU | Alu.LSH | Src.X;
const ALU_RSH_K = Class.ALU | Alu.RSH | Src.K;
const ALU_RSH_X = Class.ALU | Alu.RSH | Src.X;
const ALU_NEG = Class.ALU | Alu.NEG;
const MISC_TAX = Class.MISC | Misc.TAX;
const MISC_TXA = Class.MISC | Misc.TXA;
const JMP_JA = Class.JMP | Jmp.JA;
const JMP_JEQ_K = Class.JMP | Jmp.JEQ | Src.K;
const JMP_JEQ_X = Class.JMP | Jmp.JEQ | Src.X;
const JMP_JGT_K = Class.JMP | Jmp.JGT | Src.K;
const JMP_JGT_X = Class.JMP | Jmp.JGT | Src.X;
const JMP_JGE_K = Class.JMP | Jmp.JGE | Src.K;
const JMP_JGE_X = Class.JMP | Jmp.JGE | Src.X;
const JMP_JSET_K = Class.JMP | Jmp.JSET | Src.K;
const JMP_JSET_X = Class.JMP | Jmp.JSET | Src.X;

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
        case RET_K:
          return k;
        case RET_A:
          return a;
        case LD_ABS_W:
          if (k > length - 4 || length < 4) return 0;
          a = ((data[k]! << 24) | (data[k + 1]! << 16) | (data[k + 2]! << 8) | data[k + 3]!) >>> 0;
          break;
        case LD_ABS_H:
          if (k > length - 2 || length < 2) return 0;
          a = (data[k]! << 8) | data[k + 1]!;
          break;
        case LD_ABS_B:
          if (k >= length) return 0;
          a = data[k]!;
          break;
        case LD_IND_W: {
          const at = (x + k) >>> 0;
          if (at > length - 4 || length < 4) return 0;
          a = ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
          break;
        }
        case LD_IND_H: {
          const at = (x + k) >>> 0;
          if (at > length - 2 || length < 2) return 0;
          a = (data[at]! << 8) | data[at + 1]!;
          break;
        }
        case LD_IND_B: {
          const at = (x + k) >>> 0;
          if (at >= length) return 0;
          a = data[at]!;
          break;
        }
        case LD_W_LEN:
          a = wireLength >>> 0;
          break;
        case LDX_W_LEN:
          x = wireLength >>> 0;
          break;
        case LD_IMM:
          a = k;
          break;
        case LDX_IMM:
          x = k;
          break;
        case LDX_MSH_B:
          if (k >= length) return 0;
          x = (data[k]! & 0xf) << 2;
          break;
        case LD_MEM:
          a = m[k]!;
          break;
        case LDX_MEM:
          x = m[k]!;
          break;
        case ST:
          m[k] = a;
          break;
        case STX:
          m[k] = x;
          break;
        case ALU_ADD_K: a = (a + k) >>> 0; break;
        case ALU_ADD_X: a = (a + x) >>> 0; break;
        case ALU_SUB_K: a = (a - k) >>> 0; break;
        case ALU_SUB_X: a = (a - x) >>> 0; break;
        case ALU_MUL_K: a = Math.imul(a, k) >>> 0; break;
        case ALU_MUL_X: a = Math.imul(a, x) >>> 0; break;
        case ALU_DIV_K: a = Math.floor(a / k) >>> 0; break;
        case ALU_DIV_X:
          if (x === 0) return 0;
          a = Math.floor(a / x) >>> 0;
          break;
        case ALU_MOD_K: a = a % k; break;
        case ALU_MOD_X:
          if (x === 0) return 0;
          a = a % x;
          break;
        case ALU_AND_K: a = (a & k) >>> 0; break;
        case ALU_AND_X: a = (a & x) >>> 0; break;
        case ALU_OR_K: a = (a | k) >>> 0; break;
        case ALU_OR_X: a = (a | x) >>> 0; break;
        case ALU_XOR_K: a = (a ^ k) >>> 0; break;
        case ALU_XOR_X: a = (a ^ x) >>> 0; break;
        case ALU_LSH_K: a = (a << k) >>> 0; break;
        case ALU_LSH_X: a = (a << (x & 31)) >>> 0; break;
        case ALU_RSH_K: a = a >>> k; break;
        case ALU_RSH_X: a = a >>> (x & 31); break;
        case ALU_NEG: a = -a >>> 0; break;
        case MISC_TAX: x = a; break;
        case MISC_TXA: a = x; break;
        case JMP_JA: pc += k; break;
        case JMP_JEQ_K: pc += a === k ? jts[pc]! : jfs[pc]!; break;
        case JMP_JEQ_X: pc += a === x ? jts[pc]! : jfs[pc]!; break;
        case JMP_JGT_K: pc += a > k ? jts[pc]! : jfs[pc]!; break;
        case JMP_JGT_X: pc += a > x ? jts[pc]! : jfs[pc]!; break;
        case JMP_JGE_K: pc += a >= k ? jts[pc]! : jfs[pc]!; break;
        case JMP_JGE_X: pc += a >= x ? jts[pc]! : jfs[pc]!; break;
        case JMP_JSET_K: pc += (a & k) !== 0 ? jts[pc]! : jfs[pc]!; break;
        case JMP_JSET_X: pc += (a & x) !== 0 ? jts[pc]! : jfs[pc]!; break;
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
