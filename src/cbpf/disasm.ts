/**
 * Classic BPF listings in tcpdump's three forms: `-d` (libpcap's
 * bpf_image), `-dd` (C array initialisers) and `-ddd` (decimal numbers,
 * count first), and a reader for the last two so programs printed by
 * tcpdump can be loaded back.
 */
import { CbpfParseError } from './errors.ts';
import { Alu, Class, Jmp, Misc, Mode, RetSrc, Size, Src, cls, miscOp, mode, op, retSrc, size, src, type CbpfInstruction } from './opcodes.ts';

const LOAD_NAME: Readonly<Record<number, string>> = { [Size.W]: 'ld', [Size.H]: 'ldh', [Size.B]: 'ldb' };
const ALU_NAME: Readonly<Record<number, string>> = {
  [Alu.ADD]: 'add', [Alu.SUB]: 'sub', [Alu.MUL]: 'mul', [Alu.DIV]: 'div', [Alu.MOD]: 'mod', [Alu.AND]: 'and', [Alu.OR]: 'or', [Alu.XOR]: 'xor', [Alu.LSH]: 'lsh', [Alu.RSH]: 'rsh',
};
const HEX_ALU = new Set<number>([Alu.AND, Alu.OR, Alu.XOR]);
const JUMP_NAME: Readonly<Record<number, string>> = { [Jmp.JEQ]: 'jeq', [Jmp.JGT]: 'jgt', [Jmp.JGE]: 'jge', [Jmp.JSET]: 'jset' };

const hex = (k: number): string => `#0x${(k >>> 0).toString(16)}`;
const signed = (k: number): string => `#${k | 0}`;

/** Mnemonic and operand of one instruction, as bpf_image prints them. */
function image(insn: CbpfInstruction, n: number): { name: string; operand: string } {
  const { code, k } = insn;
  switch (cls(code)) {
    case Class.RET:
      if (retSrc(code) === RetSrc.K) return { name: 'ret', operand: `#${k | 0}` };
      if (retSrc(code) === RetSrc.X) return { name: 'ret', operand: 'x' };
      if (retSrc(code) === RetSrc.A) return { name: 'ret', operand: '' };
      break;
    case Class.LD: {
      const name = LOAD_NAME[size(code)];
      if (name === undefined) break;
      if (mode(code) === Mode.ABS) return { name, operand: `[${k | 0}]` };
      if (mode(code) === Mode.IND) return { name, operand: `[x + ${k | 0}]` };
      if (size(code) !== Size.W) break;
      if (mode(code) === Mode.LEN) return { name: 'ld', operand: '#pktlen' };
      if (mode(code) === Mode.IMM) return { name: 'ld', operand: hex(k) };
      if (mode(code) === Mode.MEM) return { name: 'ld', operand: `M[${k >>> 0}]` };
      break;
    }
    case Class.LDX:
      if (code === (Class.LDX | Mode.MSH | Size.B)) return { name: 'ldxb', operand: `4*([${k >>> 0}]&0xf)` };
      if (size(code) !== Size.W) break;
      if (mode(code) === Mode.IMM) return { name: 'ldx', operand: hex(k) };
      if (mode(code) === Mode.MEM) return { name: 'ldx', operand: `M[${k >>> 0}]` };
      if (mode(code) === Mode.LEN) return { name: 'ldx', operand: '#pktlen' };
      break;
    case Class.ST:
      if (code === Class.ST) return { name: 'st', operand: `M[${k >>> 0}]` };
      break;
    case Class.STX:
      if (code === Class.STX) return { name: 'stx', operand: `M[${k >>> 0}]` };
      break;
    case Class.JMP: {
      if (op(code) === Jmp.JA && src(code) === Src.K) return { name: 'ja', operand: `${n + 1 + (k >>> 0)}` };
      const name = JUMP_NAME[op(code)];
      if (name === undefined) break;
      return { name, operand: src(code) === Src.X ? 'x' : hex(k) };
    }
    case Class.ALU: {
      if (op(code) === Alu.NEG) return { name: 'neg', operand: '' };
      const name = ALU_NAME[op(code)];
      if (name === undefined) break;
      if (src(code) === Src.X) return { name, operand: 'x' };
      return { name, operand: HEX_ALU.has(op(code)) ? hex(k) : signed(k) };
    }
    case Class.MISC:
      if (miscOp(code) === Misc.TAX) return { name: 'tax', operand: '' };
      if (miscOp(code) === Misc.TXA) return { name: 'txa', operand: '' };
      break;
  }
  return { name: 'unimp', operand: `0x${code.toString(16)}` };
}

/** One line of `tcpdump -d`. */
export function formatCbpfInstruction(insn: CbpfInstruction, n: number): string {
  const { name, operand } = image(insn, n);
  const index = `(${String(n).padStart(3, '0')})`;
  if (cls(insn.code) === Class.JMP && op(insn.code) !== Jmp.JA) {
    return `${index} ${name.padEnd(8)} ${operand.padEnd(16)} jt ${n + 1 + insn.jt}\tjf ${n + 1 + insn.jf}`;
  }
  return `${index} ${name.padEnd(8)} ${operand}`;
}

export type ListingFormat = 'd' | 'dd' | 'ddd';

/** The program as `tcpdump -d`, `-dd` or `-ddd` prints it (each line ends in a newline). */
export function formatCbpf(program: readonly CbpfInstruction[], format: ListingFormat = 'd'): string {
  if (format === 'ddd') return `${program.length}\n${program.map((i) => `${i.code} ${i.jt} ${i.jf} ${i.k >>> 0}\n`).join('')}`;
  if (format === 'dd') return program.map((i) => `{ 0x${i.code.toString(16)}, ${i.jt}, ${i.jf}, 0x${(i.k >>> 0).toString(16).padStart(8, '0')} },\n`).join('');
  return program.map((i, n) => `${formatCbpfInstruction(i, n)}\n`).join('');
}

/**
 * Reads `tcpdump -dd` (`{ 0x28, 0, 0, 0x0000000c },` lines) or `-ddd`
 * (a count, then `code jt jf k` lines) output back into instructions.
 */
export function parseCbpf(text: string): CbpfInstruction[] {
  const lines = text.split('\n').map((l, i) => ({ text: l.trim(), line: i + 1 })).filter((l) => l.text !== '');
  if (lines.length === 0) throw new CbpfParseError('no instructions', 1);
  const number = (word: string, line: number, max: number): number => {
    const value = /^0x[0-9a-f]+$/i.test(word) ? Number.parseInt(word.slice(2), 16) : /^\d+$/.test(word) ? Number(word) : Number.NaN;
    if (!Number.isInteger(value) || value > max) throw new CbpfParseError(`'${word}' is not a number in 0..${max}`, line);
    return value;
  };
  const fields = (words: string[], line: number): CbpfInstruction => {
    if (words.length !== 4) throw new CbpfParseError(`expected 4 fields (code jt jf k), got ${words.length}`, line);
    return { code: number(words[0]!, line, 0xffff), jt: number(words[1]!, line, 255), jf: number(words[2]!, line, 255), k: number(words[3]!, line, 0xffffffff) };
  };
  if (lines[0]!.text.startsWith('{')) {
    return lines.map(({ text: t, line }) => {
      const m = /^\{(.*)\},?$/.exec(t);
      if (m === null) throw new CbpfParseError(`expected '{ code, jt, jf, k },'`, line);
      return fields(m[1]!.split(',').map((w) => w.trim()), line);
    });
  }
  const count = number(lines[0]!.text, lines[0]!.line, 0xffff);
  const body = lines.slice(1);
  if (body.length !== count) throw new CbpfParseError(`the count says ${count} instructions, there are ${body.length}`, lines[0]!.line);
  return body.map(({ text: t, line }) => fields(t.split(/\s+/), line));
}
