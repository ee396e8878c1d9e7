/**
 * The uBPF assembly dialect of the conformance vectors
 * (`mov32 %r0, 1`, `ldxw %r0, [%r1+2]`, `jeq %r1, 0x5, label`, `lock fetch add [%r10-8], %r1`).
 */
import type { ProgramBuilder, Target } from './asm-builder.ts';
import { type Cursor, ATOMIC_ALU_OPS, toImm32, toImm64 } from './asm-lexer.ts';
import { insn, lddw } from './instruction.ts';
import {
  AluOp,
  AtomicOp,
  CallSrc,
  EndSource,
  InsnClass,
  JmpOp,
  Mode,
  OPCODE_CALL,
  OPCODE_CALLX,
  OPCODE_EXIT,
  OPCODE_JA,
  OPCODE_JA32,
  Size,
  Source,
} from './opcodes.ts';

const ALU_OPS: Readonly<Record<string, readonly [AluOp, number]>> = {
  add: [AluOp.ADD, 0],
  sub: [AluOp.SUB, 0],
  mul: [AluOp.MUL, 0],
  div: [AluOp.DIV, 0],
  sdiv: [AluOp.DIV, 1],
  or: [AluOp.OR, 0],
  and: [AluOp.AND, 0],
  lsh: [AluOp.LSH, 0],
  rsh: [AluOp.RSH, 0],
  mod: [AluOp.MOD, 0],
  smod: [AluOp.MOD, 1],
  xor: [AluOp.XOR, 0],
  mov: [AluOp.MOV, 0],
  arsh: [AluOp.ARSH, 0],
};

const JMP_OPS: Readonly<Record<string, JmpOp>> = {
  jeq: JmpOp.JEQ,
  jgt: JmpOp.JGT,
  jge: JmpOp.JGE,
  jset: JmpOp.JSET,
  jne: JmpOp.JNE,
  jsgt: JmpOp.JSGT,
  jsge: JmpOp.JSGE,
  jlt: JmpOp.JLT,
  jle: JmpOp.JLE,
  jslt: JmpOp.JSLT,
  jsle: JmpOp.JSLE,
};

const SIZES: Readonly<Record<string, Size>> = { b: Size.B, h: Size.H, w: Size.W, dw: Size.DW };

/** Whether `word` is a uBPF mnemonic (other than `exit` and `call`, which both dialects share). */
export function isUbpfMnemonic(word: string): boolean {
  if (/^(ja|ja32|lddw|neg(32|64)?|lock|ldabs[bhw]|ldind[bhw])$/.test(word)) return true;
  if (/^(be|le|bswap|swap)(16|32|64)$/.test(word) || /^movsx(8|16|32)(32|64)$/.test(word)) return true;
  if (/^(ldx|ldxs|st|stx)(b|h|w|dw)$/.test(word)) return true;
  const base = word.replace(/(32|64)$/, '');
  return base in ALU_OPS || base in JMP_OPS;
}

export function parseUbpfInstruction(c: Cursor, b: ProgramBuilder): void {
  c.ws();
  const column = c.column;
  const word = (c.word() ?? c.expected('a mnemonic')).toLowerCase();
  const fail = (): never => c.fail(`unknown mnemonic '${word}'`, column);

  if (word === 'exit') {
    c.end();
    return b.emit(insn(OPCODE_EXIT));
  }
  if (word === 'call') return call(c, b);
  if (word === 'lddw') {
    const dst = register(c);
    c.expect(',');
    const value = toImm64(c.expectNumber('a 64-bit constant'), c);
    c.end();
    return b.emit(...lddw(dst, value));
  }
  if (word === 'ja' || word === 'ja32') {
    const t = target(c, word === 'ja' ? 16 : 32);
    c.end();
    return b.emitWithTarget(insn(word === 'ja' ? OPCODE_JA : OPCODE_JA32), word === 'ja' ? 'offset' : 'imm', t, c);
  }
  if (word === 'lock') return atomic(c, b);

  const end = /^(be|le|bswap|swap)(16|32|64)$/.exec(word);
  if (end) {
    const dst = register(c);
    c.end();
    const opcode =
      end[1] === 'be' ? InsnClass.ALU | AluOp.END | EndSource.TO_BE : end[1] === 'le' ? InsnClass.ALU | AluOp.END | EndSource.TO_LE : InsnClass.ALU64 | AluOp.END;
    return b.emit(insn(opcode, dst, 0, 0, Number(end[2])));
  }
  const movsx = /^movsx(8|16|32)(32|64)$/.exec(word);
  if (movsx) {
    if (movsx[1] === '32' && movsx[2] === '32') fail();
    const dst = register(c);
    c.expect(',');
    const src = register(c);
    c.end();
    return b.emit(insn((movsx[2] === '32' ? InsnClass.ALU : InsnClass.ALU64) | AluOp.MOV | Source.X, dst, src, Number(movsx[1])));
  }
  const mem = /^(ldxs|ldx|stx|st)(b|h|w|dw)$/.exec(word);
  if (mem) {
    const size = SIZES[mem[2]!]!;
    if (mem[1] === 'ldx' || mem[1] === 'ldxs') {
      if (mem[1] === 'ldxs' && size === Size.DW) fail();
      const dst = register(c);
      c.expect(',');
      const m = memory(c);
      c.end();
      return b.emit(insn(InsnClass.LDX | (mem[1] === 'ldxs' ? Mode.MEMSX : Mode.MEM) | size, dst, m.reg, m.offset));
    }
    const m = memory(c);
    c.expect(',');
    if (mem[1] === 'stx') {
      const src = register(c);
      c.end();
      return b.emit(insn(InsnClass.STX | Mode.MEM | size, m.reg, src, m.offset));
    }
    const imm = imm32(c);
    c.end();
    return b.emit(insn(InsnClass.ST | Mode.MEM | size, m.reg, 0, m.offset, imm));
  }
  const legacy = /^ld(abs|ind)([bhw])$/.exec(word);
  if (legacy) {
    const size = SIZES[legacy[2]!]!;
    if (legacy[1] === 'abs') {
      const imm = imm32(c);
      c.end();
      return b.emit(insn(InsnClass.LD | Mode.ABS | size, 0, 0, 0, imm));
    }
    const src = register(c);
    c.expect(',');
    const imm = imm32(c);
    c.end();
    return b.emit(insn(InsnClass.LD | Mode.IND | size, 0, src, 0, imm));
  }

  const suffix = /^(.*?)(32|64)?$/.exec(word)!;
  const base = suffix[1]!;
  const is32 = suffix[2] === '32';
  if (base === 'neg') {
    const dst = register(c);
    c.end();
    return b.emit(insn((is32 ? InsnClass.ALU : InsnClass.ALU64) | AluOp.NEG, dst));
  }
  const alu = ALU_OPS[base];
  if (alu) {
    const cls = is32 ? InsnClass.ALU : InsnClass.ALU64;
    const dst = register(c);
    c.expect(',');
    const src = optionalRegister(c);
    const imm = src === undefined ? imm32(c) : 0;
    c.end();
    return b.emit(insn(cls | alu[0] | (src === undefined ? Source.K : Source.X), dst, src ?? 0, alu[1], imm));
  }
  const jmp = JMP_OPS[base];
  if (jmp !== undefined && suffix[2] !== '64') {
    const cls = is32 ? InsnClass.JMP32 : InsnClass.JMP;
    const dst = register(c);
    c.expect(',');
    const src = optionalRegister(c);
    const imm = src === undefined ? imm32(c) : 0;
    c.expect(',');
    const t = target(c, 16);
    c.end();
    return b.emitWithTarget(insn(cls | jmp | (src === undefined ? Source.K : Source.X), dst, src ?? 0, 0, imm), 'offset', t, c);
  }
  fail();
}

function optionalRegister(c: Cursor): number | undefined {
  c.ws();
  if (c.text[c.pos] !== '%' && !BARE_REGISTER.test(c.text.slice(c.pos))) return undefined;
  return register(c);
}

/** LLVM's way of writing a register, which the uBPF dialect spells `%rN`. */
const BARE_REGISTER = /^r\d+(?![\w.])/;

/** `%rN`, N in 0..15 (r11-r15 are encodable, for negative tests). */
function register(c: Cursor): number {
  c.ws();
  const m = /^%r(\d+)(?![\w.])/.exec(c.text.slice(c.pos));
  if (!m) {
    const bare = BARE_REGISTER.exec(c.text.slice(c.pos));
    // `mov r0, 1` mixes the dialects: say how each one writes it.
    if (bare) c.fail(`'${bare[0]}' needs a '%' in the uBPF dialect of this line's mnemonic (%${bare[0]}); LLVM's dialect writes '${bare[0]} = ...'`);
    c.expected('a register (%r0-%r10)');
  }
  const n = Number(m[1]);
  if (m[1]!.length > 2 || n > 15) c.fail(`register %r${m[1]} does not exist`);
  c.pos += m[0].length;
  return n;
}

/** Immediates: `0x…` is a raw 32-bit pattern, decimal must fit int32. */
function imm32(c: Cursor): number {
  return c.imm32('an immediate');
}

/** `[%rN]`, `[%rN+off]`, `[%rN-off]`. */
function memory(c: Cursor): { reg: number; offset: number } {
  c.expect('[');
  const reg = register(c);
  c.ws();
  let offset = 0;
  if (c.text[c.pos] === '+' || c.text[c.pos] === '-') {
    const negative = c.text[c.pos] === '-';
    const column = c.column;
    c.pos++;
    const n = c.expectNumber('an offset');
    if (c.text[n.column - 1] === '+' || c.text[n.column - 1] === '-') c.fail('two signs', n.column);
    offset = c.off16({ ...n, value: negative ? -n.value : n.value, column });
  }
  c.expect(']');
  return { reg, offset };
}

/** `+N`, `-N`, `N` or a label (the first `exit` is implicitly labelled `exit`). */
function target(c: Cursor, bits: 16 | 32): Target {
  c.ws();
  const column = c.column;
  const n = c.number();
  if (n) return { relative: c.jumpOffset(n, bits) };
  const label = c.word() ?? c.expected('a jump target (+N, -N or a label)');
  return { label, column };
}

/** `call N`, `call helper N`, `call local label|+N`, `call runtime N` (kfunc), `call %rN` (callx, register in dst). */
function call(c: Cursor, b: ProgramBuilder): void {
  c.ws();
  if (c.text[c.pos] === '%') {
    const reg = register(c);
    c.end();
    return b.emit(insn(OPCODE_CALLX, reg));
  }
  const kind = c.peekWord();
  if (kind === 'local') {
    c.word();
    const t = target(c, 32);
    c.end();
    return b.emitWithTarget(insn(OPCODE_CALL, 0, CallSrc.LOCAL), 'imm', t, c);
  }
  let src: number = CallSrc.HELPER;
  if (kind === 'helper' || kind === 'runtime') {
    c.word();
    if (kind === 'runtime') src = CallSrc.KFUNC;
  }
  const n = c.expectNumber(kind === undefined ? 'a helper number, local, helper, runtime or %rN' : 'a number');
  const imm = toImm32(n, false, c);
  c.end();
  b.emit(insn(OPCODE_CALL, 0, src, 0, imm));
}

/** `lock [fetch] {add,or,and,xor}[32] [%rD+off], %rS`, `lock xchg[32] …`, `lock cmpxchg[32] …`. */
function atomic(c: Cursor, b: ProgramBuilder): void {
  const fetch = c.peekWord() === 'fetch';
  if (fetch) c.word();
  const column = c.ws().column;
  const word = c.word() ?? c.expected('an atomic operation');
  const m = /^(add|or|and|xor|xchg|cmpxchg)(32|64)?$/.exec(word);
  if (!m) c.fail(`unknown atomic operation '${word}'`, column);
  const size = m[2] === '32' ? Size.W : Size.DW;
  let op: number;
  if (m[1] === 'xchg') op = AtomicOp.XCHG;
  else if (m[1] === 'cmpxchg') op = AtomicOp.CMPXCHG;
  else op = ATOMIC_ALU_OPS[m[1]!]! | (fetch ? AtomicOp.FETCH : 0);
  const mem = memory(c);
  c.expect(',');
  const src = register(c);
  c.end();
  b.emit(insn(InsnClass.STX | Mode.ATOMIC | size, mem.reg, src, mem.offset, op));
}
