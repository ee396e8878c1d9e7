/**
 * Text listing of a linked program in llvm-objdump's style, with the source
 * line (from BTF line_info) printed before the instructions it produced,
 * function labels at subprogram starts and relocations under the
 * instructions they patch (like `llvm-objdump -dr -S`).
 */
import { type DisasmOptions, formatInstruction } from '../isa/disasm.ts';
import { isLddw } from '../isa/instruction.ts';
import type { ProgramSpec, Relocation } from './spec.ts';

export interface ListingOptions extends DisasmOptions {
  /** Interleave source lines from line_info (default true). */
  source?: boolean;
}

export function describeRelocation(r: Relocation): string {
  switch (r.kind) {
    case 'map':
      return `map ${r.mapName}`;
    case 'mapValue':
      return `map value ${r.mapName}+${r.offset}`;
    case 'kconfig':
      return `kconfig ${r.externName} (${r.mapName}+${r.offset})`;
    case 'ksym':
      return `ksym ${r.isFunction ? 'function' : 'variable'} ${r.externName}`;
    case 'callback':
      return `function ${r.functionName}`;
  }
}

export function programListing(program: ProgramSpec, options: ListingOptions = {}): string {
  const out: string[] = [];
  const labels = new Map(program.functions.map((f) => [f.insnIndex, f.name]));
  const relocations = new Map(program.relocations.map((r) => [r.insnIndex, r]));
  const lines = options.source === false ? [] : program.lineInfo;
  let nextLine = 0;
  let lastText: string | undefined;
  for (let n = 0; n < program.instructions.length; n++) {
    const label = labels.get(n);
    if (label !== undefined) {
      if (n > 0) out.push('');
      out.push(`${(n * 8).toString(16).padStart(16, '0')} <${label}>:`);
      lastText = undefined;
    }
    while (nextLine < lines.length && lines[nextLine]!.insnIndex <= n) {
      const line = lines[nextLine++]!;
      if (line.insnIndex === n && line.lineText !== '' && line.lineText !== lastText) {
        out.push(`; ${line.lineText.trim()}`);
        lastText = line.lineText;
      }
    }
    out.push(`${String(n).padStart(8)}:\t${formatInstruction(program.instructions, n, options)}`);
    const relocation = relocations.get(n);
    if (relocation !== undefined) out.push(`\t\t${describeRelocation(relocation)}`);
    if (isLddw(program.instructions[n]!)) n++;
  }
  return `${out.join('\n')}\n`;
}
