/**
 * Disassembler printing the C-like syntax of llvm-objdump (default) or of
 * the kernel verifier log (kernel/bpf/disasm.c). Every valid instruction
 * prints as text that `assemble` turns back into the same slots; a slot
 * that is not a valid instruction prints as `.insn` with its raw fields.
 */
import { helperById } from '../uapi/helpers.ts';
import { DecodeError } from './encoding.ts';
import { type Instruction, isLddw, lddwValue } from './instruction.ts';
import {
  AluOp,
  AtomicOp,
  CallSrc,
  EndSource,
  InsnClass,
  JmpOp,
  LdImm64Src,
  Mode,
  OPCODE_CALLX,
  OPCODE_EXIT,
  OPCODE_JA,
  OPCODE_JA32,
  OPCODE_MAY_GOTO,
  Size,
  Source,
  aluOp,
  jmpOp,
  opClass,
  opMode,
  opSize,
  opSource,
} from './opcodes.ts';
import { instructionProblem } from './validate.ts';

export interface DisasmOptions {
  /**
   * 'llvm' (default): llvm-objdump's spelling, hex immediates and offsets
   * (`r1 = *(u32 *)(r6 + 0xc)`, `goto +0x3`). 'kernel': the verifier log's
   * (`r1 = *(u32 *)(r6 +12)`, `goto pc+3`, `call bpf_map_lookup_elem#1`);
   * `disassemble` then also prints the opcode column, `0: (61) ...`.
   */
  style?: 'llvm' | 'kernel';
  /** Name helper calls (`call bpf_map_lookup_elem`) instead of `call 0x1` (default true). */
  helperNames?: boolean;
  /**
   * The name of a helper call's target when its immediate is not a helper id
   * (`call NAME`): in xlated code the kernel stores the function's offset
   * from `__bpf_call_base`, which only kallsyms can name.
   */
  callName?: (imm: number) => string | undefined;
}

const ALU_OPS: Readonly<Record<number, string>> = {
  [AluOp.ADD]: '+=',
  [AluOp.SUB]: '-=',
  [AluOp.MUL]: '*=',
  [AluOp.DIV]: '/=',
  [AluOp.OR]: '|=',
  [AluOp.AND]: '&=',
  [AluOp.LSH]: '<<=',
  [AluOp.RSH]: '>>=',
  [AluOp.MOD]: '%=',
  [AluOp.XOR]: '^=',
  [AluOp.MOV]: '=',
  [AluOp.ARSH]: 's>>=',
};

const JMP_OPS: Readonly<Record<number, string>> = {
  [JmpOp.JEQ]: '==',
  [JmpOp.JGT]: '>',
  [JmpOp.JGE]: '>=',
  [JmpOp.JSET]: '&',
  [JmpOp.JNE]: '!=',
  [JmpOp.JSGT]: 's>',
  [JmpOp.JSGE]: 's>=',
  [JmpOp.JLT]: '<',
  [JmpOp.JLE]: '<=',
  [JmpOp.JSLT]: 's<',
  [JmpOp.JSLE]: 's<=',
};

const ATOMIC_ALU: Readonly<Record<number, readonly [string, string]>> = {
  [AtomicOp.ADD]: ['+=', 'add'],
  [AtomicOp.OR]: ['|=', 'or'],
  [AtomicOp.AND]: ['&=', 'and'],
  [AtomicOp.XOR]: ['^=', 'xor'],
};

const BITS: Readonly<Record<number, number>> = { [Size.B]: 8, [Size.H]: 16, [Size.W]: 32, [Size.DW]: 64 };

/** Signed hex as llvm prints it: `0x10`, `-0x4`. */
function signedHex(v: number | bigint): string {
  return v < 0 ? `-0x${(-BigInt(v)).toString(16)}` : `0x${v.toString(16)}`;
}

const hex2 = (v: number): string => v.toString(16).padStart(2, '0');

class Printer {
  readonly kernel: boolean;
  readonly names: boolean;
  readonly callName: ((imm: number) => string | undefined) | undefined;
  constructor(options: DisasmOptions) {
    this.kernel = options.style === 'kernel';
    this.names = options.helperNames ?? true;
    this.callName = options.callName;
  }

  /** ALU / store immediates: `%d` in the kernel log, signed hex in llvm. */
  imm(v: number): string {
    return this.kernel ? String(v) : signedHex(v);
  }

  /** Jump comparison immediates: the kernel prints `0x%x` (unsigned). */
  jmpImm(v: number): string {
    return this.kernel ? `0x${(v >>> 0).toString(16)}` : signedHex(v);
  }

  /** Jump distances: `pc+3` / `+0x3`. */
  rel(v: number): string {
    return this.kernel ? `pc${v < 0 ? '' : '+'}${v}` : `${v < 0 ? '' : '+'}${signedHex(v)}`;
  }

  /** `(r1 +4)` / `(r1 + 0x4)`. */
  mem(reg: number, off: number): string {
    if (this.kernel) return `(r${reg} ${off < 0 ? '' : '+'}${off})`;
    return `(r${reg} ${off < 0 ? '-' : '+'} 0x${Math.abs(off).toString(16)})`;
  }

  /** llvm names the 32-bit half of the value register of a 32-bit atomic `w`; the kernel always says `r`. */
  atomicReg(reg: number, size: Size): string {
    return !this.kernel && size !== Size.DW ? `w${reg}` : `r${reg}`;
  }
}

/** Text of the logical instruction at slot `index` (an lddw reads both slots). */
export function formatInstruction(program: readonly Instruction[], index: number, options: DisasmOptions = {}): string {
  const i = program[index];
  if (i === undefined) throw new DecodeError(index, `no instruction at this slot (program has ${program.length})`);
  const problem = instructionProblem(i, program[index + 1]);
  if (problem !== undefined) return rawInstruction(i, problem);
  // The kernel runs an EXIT whose offset is set (it never reads it); `exit` would lose the field, so print it raw.
  if (i.opcode === OPCODE_EXIT && i.offset !== 0) return rawInstruction(i, 'exit (its offset field is ignored)');
  return format(new Printer(options), i, program[index + 1]);
}

/** `.insn OPCODE, DST, SRC, OFF, IMM` (all fields raw), for slots that are no valid instruction. */
function rawInstruction(i: Instruction, problem: string): string {
  return `.insn 0x${hex2(i.opcode)}, ${i.dst}, ${i.src}, ${i.offset}, ${i.imm}  // ${problem}`;
}

/** One line per logical instruction, `   <slot>: <text>` (`<slot>: (<opcode>) <text>` in kernel style). */
export function disassemble(program: readonly Instruction[], options: DisasmOptions = {}): string {
  const lines: string[] = [];
  const width = Math.max(4, String(program.length).length);
  for (let n = 0; n < program.length; n++) {
    const i = program[n]!;
    const text = formatInstruction(program, n, options);
    const prefix = `${String(n).padStart(width)}: `;
    lines.push(options.style === 'kernel' ? `${prefix}(${hex2(i.opcode)}) ${text}` : `${prefix}${text}`);
    if (isLddw(i) && !text.startsWith('.insn')) n++;
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

function format(p: Printer, i: Instruction, next: Instruction | undefined): string {
  const cls = opClass(i.opcode);
  switch (cls) {
    case InsnClass.ALU:
    case InsnClass.ALU64:
      return formatAlu(p, i, cls);
    case InsnClass.JMP:
    case InsnClass.JMP32:
      return formatJmp(p, i, cls);
    case InsnClass.LDX: {
      const type = `${opMode(i.opcode) === Mode.MEMSX ? 's' : 'u'}${BITS[opSize(i.opcode)]}`;
      return `r${i.dst} = *(${type} *)${p.mem(i.src, i.offset)}`;
    }
    case InsnClass.ST:
      return `*(u${BITS[opSize(i.opcode)]} *)${p.mem(i.dst, i.offset)} = ${p.imm(i.imm)}`;
    case InsnClass.STX:
      return opMode(i.opcode) === Mode.MEM ? `*(u${BITS[opSize(i.opcode)]} *)${p.mem(i.dst, i.offset)} = r${i.src}` : formatAtomic(p, i);
    default:
      return formatLd(p, i, next!);
  }
}

function formatAlu(p: Printer, i: Instruction, cls: number): string {
  const r = cls === InsnClass.ALU ? 'w' : 'r';
  const op = aluOp(i.opcode);
  const dst = `${r}${i.dst}`;
  if (op === AluOp.END) {
    const name = cls === InsnClass.ALU64 ? 'bswap' : opSource(i.opcode) === EndSource.TO_BE ? 'be' : 'le';
    return `r${i.dst} = ${name}${i.imm} r${i.dst}`;
  }
  if (op === AluOp.NEG) return `${dst} = -${dst}`;
  const isX = opSource(i.opcode) === Source.X;
  if (op === AluOp.MOV && isX && cls === InsnClass.ALU64 && i.offset === 1) {
    const a = i.imm >>> 16;
    const b = i.imm & 0xffff;
    return `r${i.dst} = addr_space_cast(r${i.src}, ${p.kernel ? a : signedHex(a)}, ${p.kernel ? b : signedHex(b)})`;
  }
  if (op === AluOp.MOV && isX && i.offset !== 0) return `${dst} = (s${i.offset})${r}${i.src}`;
  const text = (i.offset === 1 ? 's' : '') + ALU_OPS[op]!;
  return `${dst} ${text} ${isX ? `${r}${i.src}` : p.imm(i.imm)}`;
}

function formatJmp(p: Printer, i: Instruction, cls: number): string {
  if (i.opcode === OPCODE_JA) return `goto ${p.rel(i.offset)}`;
  if (i.opcode === OPCODE_JA32) return `gotol ${p.rel(i.imm)}`;
  if (i.opcode === OPCODE_MAY_GOTO) return `may_goto ${p.rel(i.offset)}`;
  if (i.opcode === OPCODE_CALLX) return `callx r${i.dst}`;
  const op = jmpOp(i.opcode);
  if (op === JmpOp.EXIT) return 'exit';
  if (op === JmpOp.CALL) return formatCall(p, i);
  const r = cls === InsnClass.JMP32 ? 'w' : 'r';
  const rhs = opSource(i.opcode) === Source.X ? `${r}${i.src}` : p.jmpImm(i.imm);
  return `if ${r}${i.dst} ${JMP_OPS[op]!} ${rhs} goto ${p.rel(i.offset)}`;
}

function formatCall(p: Printer, i: Instruction): string {
  if (i.src === CallSrc.LOCAL) return `call ${p.rel(i.imm)}`;
  if (i.src === CallSrc.KFUNC) return `call kernel-function#${i.imm}${i.offset !== 0 ? `, btf_fd_idx=${i.offset}` : ''}`;
  const named = p.callName?.(i.imm);
  if (named !== undefined) return `call ${named}`;
  const helper = helperById(i.imm);
  if (p.kernel) return helper ? `call bpf_${helper.name}#${i.imm}` : `call unknown#${i.imm}`;
  if (helper && p.names) return `call bpf_${helper.name}`;
  // A negative id would read back as a pc-relative call.
  return i.imm < 0 ? `call unknown#${i.imm}` : `call ${signedHex(i.imm)}`;
}

function formatAtomic(p: Printer, i: Instruction): string {
  const size = opSize(i.opcode);
  const type = `u${BITS[size]}`;
  const mem = p.mem(i.dst, i.offset);
  const value = p.atomicReg(i.src, size);
  if (i.imm === AtomicOp.LOAD_ACQ) return `${p.atomicReg(i.dst, size)} = load_acquire((${type} *)${p.mem(i.src, i.offset)})`;
  if (i.imm === AtomicOp.STORE_REL) return `store_release((${type} *)${mem}, ${value})`;
  const suffix64 = size === Size.DW ? '64' : '';
  const alu = ATOMIC_ALU[i.imm & ~AtomicOp.FETCH];
  if (alu && (i.imm & AtomicOp.FETCH) === 0) return `lock *(${type} *)${mem} ${alu[0]} ${value}`;
  if (alu) return p.kernel ? `r${i.src} = atomic${suffix64}_fetch_${alu[1]}((${type} *)${mem}, r${i.src})` : `${value} = atomic_fetch_${alu[1]}((${type} *)${mem}, ${value})`;
  const bare = `r${i.dst} ${i.offset < 0 ? '-' : '+'} 0x${Math.abs(i.offset).toString(16)}`;
  const llvmName = size === Size.DW ? '_64' : '32_32';
  if (i.imm === AtomicOp.XCHG) {
    return p.kernel ? `r${i.src} = atomic${suffix64}_xchg((${type} *)${mem}, r${i.src})` : `${value} = xchg${llvmName}(${bare}, ${value})`;
  }
  // CMPXCHG (the only other atomic instructionProblem accepts).
  const r0 = p.atomicReg(0, size);
  return p.kernel ? `r0 = atomic${suffix64}_cmpxchg((${type} *)${mem}, r0, r${i.src})` : `${r0} = cmpxchg${llvmName}(${bare}, ${r0}, ${value})`;
}

function formatLd(p: Printer, i: Instruction, next: Instruction): string {
  const mode = opMode(i.opcode);
  const type = `u${BITS[opSize(i.opcode)]}`;
  if (mode === Mode.ABS) return `r0 = *(${type} *)skb[${p.kernel ? i.imm : signedHex(i.imm)}]`;
  if (mode === Mode.IND) {
    if (p.kernel) return `r0 = *(${type} *)skb[r${i.src} + ${i.imm}]`;
    return i.imm === 0 ? `r0 = *(${type} *)skb[r${i.src}]` : `r0 = *(${type} *)skb[r${i.src} ${i.imm < 0 ? '-' : '+'} 0x${Math.abs(i.imm).toString(16)}]`;
  }
  const dst = `r${i.dst}`;
  const high = next.imm >>> 0;
  switch (i.src) {
    case LdImm64Src.IMM64: {
      const value = lddwValue(i, next);
      return p.kernel ? `${dst} = 0x${value.toString(16)}` : `${dst} = ${signedHex(BigInt.asIntN(64, value))} ll`;
    }
    case LdImm64Src.MAP_FD:
      return p.kernel ? `${dst} = map[id:${i.imm >>> 0}]` : `${dst} = map_fd(${i.imm}) ll`;
    case LdImm64Src.MAP_VALUE:
      return p.kernel ? `${dst} = map[id:${i.imm >>> 0}][0]+${high}` : `${dst} = map_value(${i.imm})+${high} ll`;
    case LdImm64Src.BTF_ID:
      return `${dst} = btf_id(${i.imm}${next.imm !== 0 ? `, ${next.imm}` : ''}) ll`;
    case LdImm64Src.FUNC:
      return `${dst} = func(pc${i.imm < 0 ? '' : '+'}${i.imm}) ll`;
    case LdImm64Src.MAP_IDX:
      return `${dst} = map_idx(${i.imm}) ll`;
    default:
      return `${dst} = map_idx_value(${i.imm})+${high} ll`;
  }
}
