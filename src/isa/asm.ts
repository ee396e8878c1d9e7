/**
 * BPF assembler for two syntaxes:
 *
 * - `llvm`: the C-like syntax printed by llvm-objdump and by the kernel
 *   verifier log (`r0 = *(u32 *)(r1 + 4)`, `if r1 > 0x10 goto +3`), also
 *   accepting whole pasted lines of either tool (`  0:\tb7 00 .. 00\tr0 = 0x0`,
 *   `0: (b7) r0 = 0`);
 * - `ubpf`: the dialect of the uBPF / bpf_conformance test vectors
 *   (`mov32 %r0, 1`, `ldxw %r0, [%r1+2]`).
 *
 * See docs/isa.md for the full grammar.
 */
import { ProgramBuilder } from './asm-builder.ts';
import { AsmError, Cursor, sourceLines } from './asm-lexer.ts';
import { LLVM_LEADING_WORDS, parseLlvmInstruction } from './asm-llvm.ts';
import { isUbpfMnemonic, parseUbpfInstruction } from './asm-ubpf.ts';
import type { Instruction } from './instruction.ts';

export { AsmError } from './asm-lexer.ts';

export type AsmSyntax = 'auto' | 'llvm' | 'ubpf';

export interface AssembleOptions {
  /** Default 'auto': decided per source from its first instruction that only one syntax accepts. */
  syntax?: AsmSyntax;
  /**
   * Resolves `call NAME` to a helper id before the kernel's helper table
   * (src/uapi/helpers.ts) is consulted; for runtimes with their own helpers.
   */
  resolveHelper?: (name: string) => number | undefined;
}

/** One line reduced to its instruction text, with what the prefixes told us. */
interface Statement {
  readonly line: number;
  readonly text: string;
  /** Column (0-based) where the instruction starts in `text`. */
  readonly start: number;
  readonly label?: { readonly name: string; readonly column: number };
  /** Opcode from a kernel log `(b7)` column. */
  readonly opcodeHint?: { readonly value: number; readonly column: number };
}

const OBJDUMP_SYMBOL = /^\s*[0-9a-fA-F]+\s+<([^<>\s]+)>:\s*$/;
const OBJDUMP_HEADER = /^\s*(?:Disassembly of section .*:|\S+:\s+file format .*)\s*$/;
const KERNEL_PREFIX = /^\s*\d+:\s*\(([0-9a-fA-F]{2})\)\s*/;
const OBJDUMP_PREFIX = /^\s*\d+:\s+(?:(?:[0-9a-fA-F]{2} ){7}[0-9a-fA-F]{2}(?: (?:[0-9a-fA-F]{2} ){7}[0-9a-fA-F]{2})?(?=\s|$))?\s*/;
const LABEL = /^\s*([A-Za-z_.$][\w.$]*)\s*:(?!=)/;

function statements(source: string): Statement[] {
  const out: Statement[] = [];
  for (const { line, text } of sourceLines(source)) {
    if (text.trim() === '' || OBJDUMP_HEADER.test(text)) continue;
    const symbol = OBJDUMP_SYMBOL.exec(text);
    if (symbol) {
      out.push({ line, text, start: text.length, label: { name: symbol[1]!, column: text.indexOf('<') + 2 } });
      continue;
    }
    const kernel = KERNEL_PREFIX.exec(text);
    if (kernel) {
      const column = text.indexOf('(') + 2;
      out.push({ line, text, start: kernel[0].length, opcodeHint: { value: parseInt(kernel[1]!, 16), column } });
      continue;
    }
    const objdump = OBJDUMP_PREFIX.exec(text);
    if (objdump) {
      out.push({ line, text, start: objdump[0].length });
      continue;
    }
    const label = LABEL.exec(text);
    if (label) {
      out.push({ line, text, start: label[0].length, label: { name: label[1]!, column: text.indexOf(label[1]!) + 1 } });
      continue;
    }
    out.push({ line, text, start: 0 });
  }
  return out;
}

function hasInstruction(s: Statement): boolean {
  return s.text.slice(s.start).trim() !== '';
}

/** The syntax of the first line only one syntax accepts; 'llvm' when every line is shared (`exit`, `call 1`). */
function detectSyntax(list: readonly Statement[]): 'llvm' | 'ubpf' {
  for (const s of list) {
    const text = s.text.slice(s.start).trim();
    if (text === '' || text.startsWith('.insn')) continue;
    if (s.opcodeHint !== undefined || text.includes('%r')) return s.opcodeHint !== undefined ? 'llvm' : 'ubpf';
    const first = /^[A-Za-z_][\w.]*/.exec(text)?.[0];
    if (first === 'call' && /^call\s+(?:local|helper|runtime)\b/.test(text)) return 'ubpf';
    if (first === undefined || first === 'exit' || first === 'call') {
      if (first === undefined) return 'llvm';
      continue;
    }
    if (first === 'lock') return /^lock\s*\*/.test(text) ? 'llvm' : 'ubpf';
    if (LLVM_LEADING_WORDS.has(first) || /^[rw]\d+$/.test(first) || text.includes('=')) return 'llvm';
    if (isUbpfMnemonic(first.toLowerCase())) return 'ubpf';
    return 'llvm';
  }
  return 'llvm';
}

/**
 * Assembles `source` into instruction slots (an `lddw` takes two entries).
 * Throws AsmError naming the line and column of the first problem. The
 * result is encoded faithfully but not checked against the ISA's reserved
 * field rules; use validateProgram for that.
 */
export function assemble(source: string, options: AssembleOptions = {}): Instruction[] {
  const list = statements(source);
  const syntax = options.syntax === undefined || options.syntax === 'auto' ? detectSyntax(list) : options.syntax;
  const builder = new ProgramBuilder(syntax === 'ubpf', options.resolveHelper ?? (() => undefined));
  for (const s of list) {
    if (s.label) builder.defineLabel(s.label.name, s.line, s.label.column);
    if (!hasInstruction(s)) continue;
    const cursor = new Cursor(s.text, s.line, s.start);
    const first = builder.nextSlot;
    if (cursor.eat('.insn')) {
      builder.emit(rawInstruction(cursor));
    } else if (syntax === 'ubpf') {
      parseUbpfInstruction(cursor, builder);
    } else {
      parseLlvmInstruction(cursor, builder, s.opcodeHint?.value);
      const opcode = builder.slots[first]!.opcode;
      if (s.opcodeHint !== undefined && s.opcodeHint.value !== opcode) {
        const hex = (v: number): string => v.toString(16).padStart(2, '0');
        throw new AsmError(s.line, s.opcodeHint.column, `opcode (${hex(s.opcodeHint.value)}) does not match the instruction, which encodes as (${hex(opcode)})`);
      }
    }
  }
  return builder.finish();
}

/** `.insn OPCODE, DST, SRC, OFF, IMM`: one slot given field by field (the disassembler's form for invalid slots). */
function rawInstruction(c: Cursor): Instruction {
  const field = (what: string, min: bigint, max: bigint): number => {
    const n = c.expectNumber(what);
    if (n.value < min || n.value > max) c.fail(`${what} ${n.value} out of range ${min}..${max}`, n.column);
    return Number(n.value);
  };
  const opcode = field('opcode', 0n, 255n);
  c.expect(',');
  const dst = field('dst', 0n, 15n);
  c.expect(',');
  const src = field('src', 0n, 15n);
  c.expect(',');
  const offset = field('offset', -32768n, 32767n);
  c.expect(',');
  const imm = c.imm32('imm', true);
  c.end();
  return { opcode, dst, src, offset, imm };
}
