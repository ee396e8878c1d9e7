/**
 * The kernel's checks on a classic program (bpf_check_classic, called by
 * sk_chk_filter/bpf_prog_create for SO_ATTACH_FILTER): known opcodes,
 * jumps forward and inside the program, a return at the end, scratch
 * memory indexes below 16 and only read after a store on every path, no
 * division by a constant zero, shifts below 32.
 */
import { CbpfCheckError } from './errors.ts';
import { Alu, Class, Jmp, MAXINSNS, MEMWORDS, Misc, Mode, RetSrc, Size, Src, type CbpfInstruction } from './opcodes.ts';

/** Offset of the kernel's ancillary loads (SKF_AD_OFF, -0x1000): packet metadata a capture does not carry. */
export const SKF_AD_OFF = 0xfffff000;

const ALLOWED = new Set<number>();
for (const op of [Alu.ADD, Alu.SUB, Alu.MUL, Alu.DIV, Alu.MOD, Alu.AND, Alu.OR, Alu.XOR, Alu.LSH, Alu.RSH]) {
  ALLOWED.add(Class.ALU | op | Src.K).add(Class.ALU | op | Src.X);
}
ALLOWED.add(Class.ALU | Alu.NEG);
for (const size of [Size.W, Size.H, Size.B]) ALLOWED.add(Class.LD | Mode.ABS | size).add(Class.LD | Mode.IND | size);
for (const code of [Class.LD | Size.W | Mode.LEN, Class.LDX | Size.W | Mode.LEN, Class.LD | Mode.IMM, Class.LD | Mode.MEM, Class.LDX | Mode.IMM, Class.LDX | Mode.MEM, Class.LDX | Mode.MSH | Size.B, Class.ST, Class.STX, Class.MISC | Misc.TAX, Class.MISC | Misc.TXA, Class.RET | RetSrc.K, Class.RET | RetSrc.A, Class.JMP | Jmp.JA]) {
  ALLOWED.add(code);
}
for (const op of [Jmp.JEQ, Jmp.JGT, Jmp.JGE, Jmp.JSET]) ALLOWED.add(Class.JMP | op | Src.K).add(Class.JMP | op | Src.X);

const isConditional = (code: number): boolean => (code & 0x07) === Class.JMP && (code & 0xf0) !== Jmp.JA;
const isMemoryAccess = (code: number): boolean => code === (Class.LD | Mode.MEM) || code === (Class.LDX | Mode.MEM) || code === Class.ST || code === Class.STX;

/** Throws CbpfCheckError on the first rule the program breaks. */
export function checkCbpf(program: readonly CbpfInstruction[]): void {
  const n = program.length;
  if (n === 0) throw new CbpfCheckError('the program is empty', -1);
  if (n > MAXINSNS) throw new CbpfCheckError(`the program has ${n} instructions, more than the kernel's ${MAXINSNS} (BPF_MAXINSNS)`, -1);
  program.forEach((insn, pc) => {
    const { code, k } = insn;
    if (!Number.isInteger(code) || code < 0 || code > 0xffff || !ALLOWED.has(code)) throw new CbpfCheckError(`unknown or disallowed opcode 0x${Number(code).toString(16)}`, pc);
    if (!Number.isInteger(k) || k < -0x80000000 || k > 0xffffffff) throw new CbpfCheckError(`k ${k} is not a 32-bit value`, pc);
    if (!Number.isInteger(insn.jt) || !Number.isInteger(insn.jf) || insn.jt < 0 || insn.jt > 255 || insn.jf < 0 || insn.jf > 255) throw new CbpfCheckError(`jump offsets ${insn.jt}/${insn.jf} are not 8-bit`, pc);
    const uk = k >>> 0;
    if ((code === (Class.ALU | Alu.DIV | Src.K) || code === (Class.ALU | Alu.MOD | Src.K)) && uk === 0) throw new CbpfCheckError('division by the constant zero', pc);
    if ((code === (Class.ALU | Alu.LSH | Src.K) || code === (Class.ALU | Alu.RSH | Src.K)) && uk >= 32) throw new CbpfCheckError(`shift by ${uk} (32 or more)`, pc);
    if (isMemoryAccess(code) && uk >= MEMWORDS) throw new CbpfCheckError(`scratch memory index M[${uk}] is out of range (0..${MEMWORDS - 1})`, pc);
    if (code === (Class.JMP | Jmp.JA) && uk >= n - pc - 1) throw new CbpfCheckError(`ja ${uk} jumps past the end of the program`, pc);
    if (isConditional(code) && (pc + insn.jt + 1 >= n || pc + insn.jf + 1 >= n)) throw new CbpfCheckError(`jump to ${pc + insn.jt + 1}/${pc + insn.jf + 1} is past the end of the program`, pc);
    if ((code & 0x07) === Class.LD && (code & 0xe0) === Mode.ABS && uk >= SKF_AD_OFF) throw new CbpfCheckError(`ancillary load SKF_AD_OFF+${uk - SKF_AD_OFF} (packet metadata) is not supported`, pc);
  });
  const last = program[n - 1]!.code;
  if (last !== (Class.RET | RetSrc.K) && last !== (Class.RET | RetSrc.A)) throw new CbpfCheckError('the last instruction is not a return', n - 1);
  checkLoadsAfterStores(program);
}

/** check_load_and_stores: a scratch word is read only where every path stored it first. */
function checkLoadsAfterStores(program: readonly CbpfInstruction[]): void {
  const masks = new Uint16Array(program.length).fill(0xffff);
  let valid = 0;
  program.forEach((insn, pc) => {
    valid &= masks[pc]!;
    const { code } = insn;
    const k = insn.k >>> 0;
    if (code === Class.ST || code === Class.STX) valid |= 1 << k;
    else if (code === (Class.LD | Mode.MEM) || code === (Class.LDX | Mode.MEM)) {
      if ((valid & (1 << k)) === 0) throw new CbpfCheckError(`M[${k}] is read before it is stored on some path`, pc);
    } else if (code === (Class.JMP | Jmp.JA)) {
      masks[pc + 1 + k]! &= valid;
      valid = 0xffff;
    } else if (isConditional(code)) {
      masks[pc + 1 + insn.jt]! &= valid;
      masks[pc + 1 + insn.jf]! &= valid;
      valid = 0xffff;
    }
  });
}
