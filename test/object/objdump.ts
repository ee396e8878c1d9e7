/**
 * llvm-objdump-19 as an independent reference: its disassembly of an object
 * (`-dr --no-show-raw-insn`), split into sections and functions, each
 * instruction line with the relocation printed under it.
 */
import { execFileSync } from 'node:child_process';

export interface ObjdumpLine {
  /** Instruction index within the section. */
  index: number;
  text: string;
  /** Symbol of an `R_BPF_*` relocation on this instruction. */
  relocation?: { type: string; symbol: string };
}

export interface ObjdumpFunction {
  name: string;
  section: string;
  /** Instruction index of the first instruction within the section. */
  start: number;
  lines: ObjdumpLine[];
}

export function objdumpAvailable(): boolean {
  try {
    execFileSync('llvm-objdump-19', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function objdump(path: string, extraArgs: string[] = []): string {
  return execFileSync('llvm-objdump-19', ['-dr', '--no-show-raw-insn', ...extraArgs, path], { encoding: 'utf8' });
}

export function objdumpFunctions(path: string): ObjdumpFunction[] {
  const out: ObjdumpFunction[] = [];
  let section = '';
  let current: ObjdumpFunction | undefined;
  for (const raw of objdump(path).split('\n')) {
    const sectionMatch = /^Disassembly of section (.*):$/.exec(raw);
    if (sectionMatch) {
      section = sectionMatch[1]!;
      current = undefined;
      continue;
    }
    const fn = /^[0-9a-f]+ <([^>]+)>:$/.exec(raw);
    if (fn) {
      current = { name: fn[1]!, section, start: -1, lines: [] };
      out.push(current);
      continue;
    }
    const reloc = /^\s+[0-9a-f]+:\s+(R_BPF_\w+)\s+(\S+)$/.exec(raw);
    if (reloc && current) {
      current.lines.at(-1)!.relocation = { type: reloc[1]!, symbol: reloc[2]! };
      continue;
    }
    const insn = /^\s+(\d+):\t(.*)$/.exec(raw);
    if (insn && current) {
      const index = Number(insn[1]);
      if (current.start < 0) current.start = index;
      current.lines.push({ index, text: insn[2]!.trim() });
    }
  }
  return out;
}
