/**
 * The C-like syntax of llvm-objdump / llvm-mc and of the kernel verifier log
 * (kernel/bpf/disasm.c), one instruction per call.
 */
import { helperByName } from '../uapi/helpers.ts';
import type { ProgramBuilder, Target } from './asm-builder.ts';
import { type Cursor, type ParsedNumber, ATOMIC_ALU_OPS, INT32_MAX, INT32_MIN, toImm32, toImm64 } from './asm-lexer.ts';
import { type Instruction, insn, lddw } from './instruction.ts';
import {
  AluOp,
  AtomicOp,
  CallSrc,
  EndSource,
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

interface Reg {
  readonly n: number;
  /** `w` (32-bit view) rather than `r`. */
  readonly w: boolean;
  readonly column: number;
}

interface MemType {
  readonly size: Size;
  readonly signed: boolean;
  readonly column: number;
}

interface MemOperand {
  readonly reg: number;
  readonly offset: number;
}

const ALU_ASSIGN_OPS: ReadonlyArray<readonly [string, AluOp, number]> = [
  ['s>>=', AluOp.ARSH, 0],
  ['s/=', AluOp.DIV, 1],
  ['s%=', AluOp.MOD, 1],
  ['<<=', AluOp.LSH, 0],
  ['>>=', AluOp.RSH, 0],
  ['+=', AluOp.ADD, 0],
  ['-=', AluOp.SUB, 0],
  ['*=', AluOp.MUL, 0],
  ['/=', AluOp.DIV, 0],
  ['|=', AluOp.OR, 0],
  ['&=', AluOp.AND, 0],
  ['%=', AluOp.MOD, 0],
  ['^=', AluOp.XOR, 0],
];

const JMP_OPS: ReadonlyArray<readonly [string, JmpOp]> = [
  ['s>=', JmpOp.JSGE],
  ['s<=', JmpOp.JSLE],
  ['s>', JmpOp.JSGT],
  ['s<', JmpOp.JSLT],
  ['==', JmpOp.JEQ],
  ['!=', JmpOp.JNE],
  ['>=', JmpOp.JGE],
  ['<=', JmpOp.JLE],
  ['>', JmpOp.JGT],
  ['<', JmpOp.JLT],
  ['&', JmpOp.JSET],
];

const LOCK_OPS: ReadonlyArray<readonly [string, number]> = [
  ['+=', AtomicOp.ADD],
  ['|=', AtomicOp.OR],
  ['&=', AtomicOp.AND],
  ['^=', AtomicOp.XOR],
];

const SIZE_BY_BITS: Readonly<Record<string, Size>> = { '8': Size.B, '16': Size.H, '32': Size.W, '64': Size.DW };

const END_FORMS = /^(be|le|bswap)(16|32|64)$/;

/** Words that begin a C-like instruction; used to detect the dialect. */
export const LLVM_LEADING_WORDS = new Set(['if', 'goto', 'gotol', 'may_goto', 'callx', 'store_release']);

export function parseLlvmInstruction(c: Cursor, b: ProgramBuilder, opcodeHint: number | undefined): void {
  c.ws();
  const column = c.column;
  if (c.text[c.pos] === '*') return store(c, b);
  const r = register(c);
  if (r) return assignment(c, b, r, opcodeHint);
  const word = c.word(true);
  switch (word) {
    case 'exit':
      c.end();
      return b.emit(insn(OPCODE_EXIT));
    case 'goto':
      return b.emitWithTarget(insn(OPCODE_JA), 'offset', target(c, 16), c);
    case 'gotol':
      return b.emitWithTarget(insn(OPCODE_JA32), 'imm', target(c, 32), c);
    case 'may_goto':
      return b.emitWithTarget(insn(OPCODE_MAY_GOTO), 'offset', target(c, 16), c);
    case 'if':
      return conditionalJump(c, b);
    case 'call':
      return call(c, b);
    case 'callx': {
      const reg = expectRegister(c, 'r');
      c.end();
      return b.emit(insn(OPCODE_CALLX, reg.n));
    }
    case 'lock':
      return lockedAlu(c, b);
    case 'store_release': {
      c.expect('(');
      const type = memType(c, false);
      const mem = memOperand(c);
      c.expect(',');
      const value = expectRegister(c, type.size === Size.DW ? 'r' : 'any');
      c.expect(')');
      c.end();
      return b.emit(insn(InsnClass.STX | Mode.ATOMIC | type.size, mem.reg, value.n, mem.offset, AtomicOp.STORE_REL));
    }
    default:
      c.pos = column - 1;
      c.expected('an instruction');
  }
}

function register(c: Cursor): Reg | undefined {
  c.ws();
  const column = c.column;
  const m = /^([rw])(\d+)(?![\w.])/.exec(c.text.slice(c.pos));
  if (!m) return undefined;
  const n = Number(m[2]);
  // llvm-mc rejects r11-r15 too; `.insn` spells such slots when they must be written.
  if (m[2]!.length > 2 || n > 10) c.fail(`register ${m[0]} does not exist (BPF has r0-r10)`);
  c.pos += m[0].length;
  return { n, w: m[1] === 'w', column };
}

/** `kind` 'r' or 'w' requires that view of the register; 'any' accepts both. */
function expectRegister(c: Cursor, kind: 'r' | 'w' | 'any'): Reg {
  const r = register(c) ?? c.expected(kind === 'any' ? 'a register' : `a register (${kind}0-${kind}10)`);
  if (kind !== 'any' && r.w !== (kind === 'w')) c.fail(`expected ${kind}${r.n}, not ${r.w ? 'w' : 'r'}${r.n}`, r.column);
  return r;
}

/** `(u32 *)`; signed types (`s8`) only where `allowSigned`. */
function memType(c: Cursor, allowSigned: boolean): MemType {
  c.expect('(');
  const column = c.ws().column;
  const m = /^([us])(8|16|32|64)\b/.exec(c.text.slice(c.pos));
  if (!m || (m[1] === 's' && (!allowSigned || m[2] === '64'))) c.expected(allowSigned ? 'a type (u8, u16, u32, u64, s8, s16, s32)' : 'a type (u8, u16, u32, u64)');
  c.pos += m[0].length;
  c.expect('*');
  c.expect(')');
  return { size: SIZE_BY_BITS[m[2]!]!, signed: m[1] === 's', column };
}

/** `+ 4`, `+4`, `- 0x8`, `-8` after a register, or nothing (offset 0). */
function signedTail(c: Cursor): ParsedNumber | undefined {
  c.ws();
  const sign = c.text[c.pos];
  if (sign !== '+' && sign !== '-') return undefined;
  const column = c.column;
  c.pos++;
  // The kernel prints `skb[r1 + %d]`, so `+ -5` occurs.
  const n = c.expectNumber('a number after the sign');
  return { value: sign === '-' ? -n.value : n.value, hex: n.hex, column };
}

/** `rN + off` without parentheses (the llvm xchg/cmpxchg spelling). */
function address(c: Cursor): MemOperand {
  const reg = expectRegister(c, 'r');
  const tail = signedTail(c);
  return { reg: reg.n, offset: tail ? c.off16(tail) : 0 };
}

/** `(rN + off)`. */
function memOperand(c: Cursor): MemOperand {
  c.expect('(');
  const mem = address(c);
  c.expect(')');
  return mem;
}

/** `pc+N`, `+N`, `-N`, `N` or a label, then an optional llvm-objdump `<symbol+0x..>` annotation. */
function target(c: Cursor, bits: 16 | 32): Target {
  c.ws();
  const column = c.column;
  let result: Target;
  if (c.eat('pc')) {
    const n = signedTail(c) ?? c.expected("'+' or '-' after pc");
    result = { relative: c.jumpOffset(n, bits) };
  } else {
    const n = c.number();
    if (n) {
      result = { relative: c.jumpOffset(n, bits) };
    } else {
      const label = c.word() ?? c.expected('a jump target (pc+N, +N, -N or a label)');
      result = { label, column };
    }
  }
  skipAnnotation(c);
  c.end();
  return result;
}

function skipAnnotation(c: Cursor): void {
  if (!c.eat('<')) return;
  const close = c.text.indexOf('>', c.pos);
  if (close < 0) c.expected("'>' closing the annotation");
  c.pos = close + 1;
}

function conditionalJump(c: Cursor, b: ProgramBuilder): void {
  const dst = expectRegister(c, 'any');
  c.ws();
  const op = JMP_OPS.find(([text]) => c.eat(text)) ?? c.expected('a comparison (==, !=, >, >=, <, <=, s>, s>=, s<, s<=, &)');
  const cls = dst.w ? InsnClass.JMP32 : InsnClass.JMP;
  const src = register(c);
  let i: Instruction;
  if (src) {
    if (src.w !== dst.w) c.fail(`both operands must be ${dst.w ? 'w' : 'r'} registers`, src.column);
    i = insn(cls | op[1] | Source.X, dst.n, src.n);
  } else {
    i = insn(cls | op[1] | Source.K, dst.n, 0, 0, c.imm32('a register or an immediate', true));
  }
  if (!c.eat('goto')) c.expected("'goto'");
  b.emitWithTarget(i, 'offset', target(c, 16), c);
}

function call(c: Cursor, b: ProgramBuilder): void {
  c.ws();
  const column = c.column;
  if (c.eat('pc')) {
    const n = signedTail(c) ?? c.expected("'+' or '-' after pc");
    return finishCall(c, b, insn(OPCODE_CALL, 0, CallSrc.LOCAL, 0, c.jumpOffset(n, 32)));
  }
  const n = c.number();
  if (n) {
    // llvm-objdump prints local calls as `call -0x1`: a signed number is pc-relative, a bare one a helper id.
    const signed = c.text[n.column - 1] === '+' || c.text[n.column - 1] === '-';
    const i = signed ? insn(OPCODE_CALL, 0, CallSrc.LOCAL, 0, c.jumpOffset(n, 32)) : insn(OPCODE_CALL, 0, CallSrc.HELPER, 0, toImm32(n, true, c));
    return finishCall(c, b, i);
  }
  const name = c.word(true) ?? c.expected('a helper name, helper id, pc+N or a label');
  if (!c.eat('#')) {
    skipAnnotation(c);
    c.end();
    return b.emitCallByName(name, c.line, column);
  }
  // Kernel log: `call bpf_map_lookup_elem#1`, `call unknown#999`, `call kernel-function#123`, `call bpf_obj_new_impl#123` (kfunc).
  const id = c.imm32('the id after #', true);
  const helper = helperByName(name);
  if (name === 'unknown') return finishCall(c, b, insn(OPCODE_CALL, 0, CallSrc.HELPER, 0, id));
  if (helper && name !== 'kernel-function') {
    if (helper.id !== id) c.fail(`helper ${name} is #${helper.id}, not #${id}`, column);
    return finishCall(c, b, insn(OPCODE_CALL, 0, CallSrc.HELPER, 0, id));
  }
  let btfFdIndex = 0;
  if (c.eat(',')) {
    c.expect('btf_fd_idx');
    c.expect('=');
    btfFdIndex = c.off16(c.expectNumber('the BTF fd index'));
  }
  finishCall(c, b, insn(OPCODE_CALL, 0, CallSrc.KFUNC, btfFdIndex, id));
}

function finishCall(c: Cursor, b: ProgramBuilder, i: Instruction): void {
  skipAnnotation(c);
  c.end();
  b.emit(i);
}

function lockedAlu(c: Cursor, b: ProgramBuilder): void {
  c.expect('*');
  const type = memType(c, false);
  const mem = memOperand(c);
  c.ws();
  const op = LOCK_OPS.find(([text]) => c.eat(text)) ?? c.expected('+=, |=, &= or ^=');
  const value = expectRegister(c, type.size === Size.DW ? 'r' : 'any');
  c.end();
  b.emit(insn(InsnClass.STX | Mode.ATOMIC | type.size, mem.reg, value.n, mem.offset, op[1]));
}

function store(c: Cursor, b: ProgramBuilder): void {
  c.expect('*');
  const type = memType(c, false);
  const mem = memOperand(c);
  c.expect('=');
  const value = register(c);
  if (value) {
    if (value.w && type.size === Size.DW) c.fail(`a 64-bit store takes r${value.n}`, value.column);
    c.end();
    return b.emit(insn(InsnClass.STX | Mode.MEM | type.size, mem.reg, value.n, mem.offset));
  }
  const imm = c.imm32('a register or an immediate');
  c.end();
  b.emit(insn(InsnClass.ST | Mode.MEM | type.size, mem.reg, 0, mem.offset, imm));
}

function assignment(c: Cursor, b: ProgramBuilder, dst: Reg, opcodeHint: number | undefined): void {
  const cls = dst.w ? InsnClass.ALU : InsnClass.ALU64;
  c.ws();
  const op = ALU_ASSIGN_OPS.find(([text]) => c.eat(text));
  if (op) {
    const src = register(c);
    if (src) {
      if (src.w !== dst.w) c.fail(`both operands must be ${dst.w ? 'w' : 'r'} registers`, src.column);
      c.end();
      return b.emit(insn(cls | op[1] | Source.X, dst.n, src.n, op[2]));
    }
    const imm = c.imm32('a register or an immediate');
    c.end();
    return b.emit(insn(cls | op[1] | Source.K, dst.n, 0, op[2], imm));
  }
  c.expect('=');
  c.ws();
  const rest = c.text.slice(c.pos);
  if (/^-\s*[rw]\d/.test(rest)) {
    c.pos++;
    const src = expectRegister(c, dst.w ? 'w' : 'r');
    if (src.n !== dst.n) c.fail(`negation is in place: expected ${dst.w ? 'w' : 'r'}${dst.n}`, src.column);
    c.end();
    return b.emit(insn(cls | AluOp.NEG | Source.K, dst.n));
  }
  if (rest.startsWith('(')) {
    const m = /^\(\s*s(8|16|32)\s*\)/.exec(rest) ?? c.expected('(s8), (s16) or (s32)');
    c.pos += m[0].length;
    const src = expectRegister(c, dst.w ? 'w' : 'r');
    if (dst.w && m[1] === '32') c.fail('(s32) sign extension needs 64-bit registers');
    c.end();
    return b.emit(insn(cls | AluOp.MOV | Source.X, dst.n, src.n, Number(m[1])));
  }
  if (rest.startsWith('*')) return load(c, b, dst);
  const src = register(c);
  if (src) {
    if (src.w !== dst.w) c.fail(`both operands must be ${dst.w ? 'w' : 'r'} registers`, src.column);
    c.end();
    return b.emit(insn(cls | AluOp.MOV | Source.X, dst.n, src.n));
  }
  const n = c.number();
  if (n) return constant(c, b, dst, n, opcodeHint);
  const wordColumn = c.column;
  const word = c.word() ?? c.expected('a register, a number or an operation');
  const end = END_FORMS.exec(word);
  if (end) {
    const reg = expectRegister(c, 'any');
    if (reg.n !== dst.n) c.fail(`byte swap is in place: expected r${dst.n}`, reg.column);
    c.end();
    const opcode =
      end[1] === 'bswap' ? InsnClass.ALU64 | AluOp.END | EndSource.TO_LE : InsnClass.ALU | AluOp.END | (end[1] === 'be' ? EndSource.TO_BE : EndSource.TO_LE);
    return b.emit(insn(opcode, dst.n, 0, 0, Number(end[2])));
  }
  if (word === 'addr_space_cast') {
    c.expect('(');
    const from = expectRegister(c, 'r');
    c.expect(',');
    const dstSpace = addressSpace(c);
    c.expect(',');
    const srcSpace = addressSpace(c);
    c.expect(')');
    c.end();
    if (dst.w) c.fail('addr_space_cast needs 64-bit registers', dst.column);
    return b.emit(insn(InsnClass.ALU64 | AluOp.MOV | Source.X, dst.n, from.n, 1, (dstSpace << 16) | srcSpace));
  }
  if (word === 'load_acquire') {
    c.expect('(');
    const type = memType(c, false);
    const mem = memOperand(c);
    c.expect(')');
    c.end();
    if (dst.w && type.size === Size.DW) c.fail(`a 64-bit load needs r${dst.n}`, dst.column);
    return b.emit(insn(InsnClass.STX | Mode.ATOMIC | type.size, dst.n, mem.reg, mem.offset, AtomicOp.LOAD_ACQ));
  }
  if (atomicAssignment(c, b, dst, word, wordColumn)) return;
  if (pseudoConstant(c, b, dst, word)) return;
  c.pos = wordColumn - 1;
  c.expected('a register, a number or an operation');
}

function addressSpace(c: Cursor): number {
  const n = c.expectNumber('an address space number');
  if (n.value < 0n || n.value > 0xffffn) c.fail(`address space ${n.value} out of range 0..65535`, n.column);
  return Number(n.value);
}

function load(c: Cursor, b: ProgramBuilder, dst: Reg): void {
  c.expect('*');
  const type = memType(c, true);
  if (dst.w && type.size === Size.DW) c.fail(`a 64-bit load needs r${dst.n}`, dst.column);
  if (c.eat('skb')) {
    // Legacy packet loads: `r0 = *(u8 *)skb[5]` (BPF_ABS), `r0 = *(u16 *)skb[r1 + 5]` or llvm's `skb[r1]` (BPF_IND).
    if (dst.n !== 0 || dst.w) c.fail('legacy packet loads always write r0', dst.column);
    if (type.signed) c.fail('legacy packet loads are unsigned', type.column);
    c.expect('[');
    const index = register(c);
    let i: Instruction;
    if (index) {
      if (index.w) c.fail(`expected r${index.n}`, index.column);
      const tail = signedTail(c);
      i = insn(InsnClass.LD | Mode.IND | type.size, 0, index.n, 0, tail ? toImm32(tail, true, c) : 0);
    } else {
      i = insn(InsnClass.LD | Mode.ABS | type.size, 0, 0, 0, c.imm32('an offset', true));
    }
    c.expect(']');
    c.end();
    return b.emit(i);
  }
  const mem = memOperand(c);
  c.end();
  b.emit(insn(InsnClass.LDX | (type.signed ? Mode.MEMSX : Mode.MEM) | type.size, dst.n, mem.reg, mem.offset));
}

/** `rD = 5`, `rD = 0x1234 ll`, `r1 = 0xffff888100000000` (kernel log prints lddw without `ll`). */
function constant(c: Cursor, b: ProgramBuilder, dst: Reg, n: ParsedNumber, opcodeHint: number | undefined): void {
  const wide = c.eat('ll');
  c.end();
  const fits32 = n.value >= INT32_MIN && n.value <= (n.hex ? 2n ** 32n - 1n : INT32_MAX);
  if (wide || opcodeHint === OPCODE_LDDW || (!fits32 && !dst.w)) {
    if (dst.w) c.fail(`a 64-bit constant needs r${dst.n}`, dst.column);
    return b.emit(...lddw(dst.n, toImm64(n, c)));
  }
  b.emit(insn((dst.w ? InsnClass.ALU : InsnClass.ALU64) | AluOp.MOV | Source.K, dst.n, 0, 0, toImm32(n, false, c)));
}

/**
 * Atomic read-modify-write forms that return a value, in the kernel's and
 * llvm's spellings: `r2 = atomic[64]_fetch_add((u64 *)(r1 +0), r2)`,
 * `r2 = atomic[64]_xchg(...)`, `r0 = atomic[64]_cmpxchg((u64 *)(r1 +0), r0, r2)`,
 * `r0 = xchg_64(r1 + 0, r0)`, `w0 = xchg32_32(...)`, `r0 = cmpxchg_64(r1 + 0, r0, r2)`, `w0 = cmpxchg32_32(...)`.
 */
function atomicAssignment(c: Cursor, b: ProgramBuilder, dst: Reg, word: string, column: number): boolean {
  const kernel = /^atomic(64)?_(?:fetch_(add|and|or|xor)|(xchg)|(cmpxchg))$/.exec(word);
  const llvm = /^(xchg|cmpxchg)(?:_64|32_32)$/.exec(word);
  if (!kernel && !llvm) return false;
  c.expect('(');
  let size: Size;
  let mem: MemOperand;
  if (kernel) {
    const type = memType(c, false);
    if (kernel[1] === '64' && type.size !== Size.DW) c.fail(`${word} operates on u64`, type.column);
    size = type.size;
    mem = memOperand(c);
  } else {
    size = word.endsWith('_64') ? Size.DW : Size.W;
    mem = address(c);
  }
  const kind = size === Size.DW ? 'r' : 'any';
  if (size === Size.DW && dst.w) c.fail(`expected r${dst.n}`, dst.column);
  const isCmpxchg = kernel ? kernel[4] !== undefined : llvm![1] === 'cmpxchg';
  c.expect(',');
  if (isCmpxchg) {
    const expectedValue = expectRegister(c, kind);
    if (expectedValue.n !== 0) c.fail('cmpxchg compares with r0', expectedValue.column);
    if (dst.n !== 0) c.fail('cmpxchg returns the old value in r0', dst.column);
    c.expect(',');
  }
  const value = expectRegister(c, kind);
  c.expect(')');
  c.end();
  if (!isCmpxchg && value.n !== dst.n) c.fail(`the old value is returned in the source register: expected ${dst.w ? 'w' : 'r'}${value.n} = ...`, column);
  const op = isCmpxchg ? AtomicOp.CMPXCHG : (kernel?.[3] ?? llvm?.[1]) === 'xchg' ? AtomicOp.XCHG : ATOMIC_ALU_OPS[kernel![2]!]! | AtomicOp.FETCH;
  b.emit(insn(InsnClass.STX | Mode.ATOMIC | size, mem.reg, value.n, mem.offset, op));
  return true;
}

/**
 * Pseudo 64-bit loads (lddw with src 1-6). Spellings:
 * `map_fd(FD)`, `map_value(FD)+OFF`, `btf_id(ID)` / `btf_id(ID, BTF_FD)`,
 * `func(pc+N)` or `func(label)`, `map_idx(IDX)`, `map_idx_value(IDX)+OFF`,
 * each optionally followed by `ll`; and the kernel's `map[id:ID]` (src 1)
 * and `map[id:ID][0]+OFF` (src 2) as bpftool and the verifier log print them.
 */
function pseudoConstant(c: Cursor, b: ProgramBuilder, dst: Reg, word: string): boolean {
  const forms: Readonly<Record<string, LdImm64Src>> = {
    map_fd: LdImm64Src.MAP_FD,
    map_value: LdImm64Src.MAP_VALUE,
    btf_id: LdImm64Src.BTF_ID,
    func: LdImm64Src.FUNC,
    map_idx: LdImm64Src.MAP_IDX,
    map_idx_value: LdImm64Src.MAP_IDX_VALUE,
  };
  if (word !== 'map' && !(word in forms)) return false;
  if (dst.w) c.fail(`a 64-bit load needs r${dst.n}`, dst.column);
  const emit = (src: LdImm64Src, imm: number, high: number): void => {
    c.eat('ll');
    c.end();
    b.emit({ opcode: OPCODE_LDDW, dst: dst.n, src, offset: 0, imm }, { opcode: 0, dst: 0, src: 0, offset: 0, imm: high });
  };
  const valueOffset = (): number => {
    const tail = signedTail(c);
    return tail ? toImm32(tail, true, c) : 0;
  };
  if (word === 'map') {
    c.expect('[');
    c.expect('id');
    c.expect(':');
    const id = c.imm32('a map id', true);
    c.expect(']');
    if (!c.eat('[')) {
      emit(LdImm64Src.MAP_FD, id, 0);
      return true;
    }
    c.expect('0');
    c.expect(']');
    emit(LdImm64Src.MAP_VALUE, id, valueOffset());
    return true;
  }
  const src = forms[word]!;
  c.expect('(');
  if (src === LdImm64Src.FUNC) {
    const column = c.ws().column;
    let t: Target;
    if (c.eat('pc')) {
      t = { relative: c.jumpOffset(signedTail(c) ?? c.expected("'+' or '-' after pc"), 32) };
    } else {
      const n = c.number();
      t = n ? { relative: c.jumpOffset(n, 32) } : { label: c.word() ?? c.expected('pc+N or a label'), column };
    }
    c.expect(')');
    c.eat('ll');
    c.end();
    const [first, second] = lddw(dst.n, 0, LdImm64Src.FUNC);
    b.emitWithTarget(first, 'imm', t, c);
    b.emit(second);
    return true;
  }
  const imm = c.imm32(undefined, true);
  let high = 0;
  if (src === LdImm64Src.BTF_ID && c.eat(',')) high = c.imm32('a BTF object fd', true);
  c.expect(')');
  if (src === LdImm64Src.MAP_VALUE || src === LdImm64Src.MAP_IDX_VALUE) high = valueOffset();
  emit(src, imm, high);
  return true;
}
