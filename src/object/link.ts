/**
 * Static linking of one program, as libbpf does it: the entry function is
 * followed by every function it reaches through bpf-to-bpf calls and
 * function pointers (transitively, each once), and every call and
 * function-pointer offset is rewritten to point at the appended copy.
 * func_info, line_info and CO-RE relocations follow their instructions.
 */
import type { Instruction } from '../isa/instruction.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL, OPCODE_LDDW } from '../isa/opcodes.ts';
import { ObjectError } from './errors.ts';
import type { CoreRelocation, FuncInfo, FunctionSymbol, LineInfo, Relocation } from './spec.ts';

/** A relocation of a code section, before linking (indexes are section instruction indexes). */
export type SectionRelocation =
  | { kind: 'code'; via: 'call' | 'func'; targetSection: number; targetIndex: number }
  | { kind: 'map'; mapName: string }
  | { kind: 'mapValue'; mapName: string; offset: number }
  | { kind: 'kconfig'; externName: string; mapName: string; offset: number }
  | { kind: 'ksym'; externName: string; isFunction: boolean };

// Module-local copies: imported bindings are accessor calls under some loaders (tsx), and these sit in the hottest loop.
const CALL = OPCODE_CALL;
const LDDW = OPCODE_LDDW;
const PSEUDO_CALL = CallSrc.LOCAL;
const PSEUDO_FUNC = LdImm64Src.FUNC;

export interface CodeFunction {
  name: string;
  sectionIndex: number;
  /** Instruction index range [start, end) within the section. */
  start: number;
  end: number;
  /** Only reached by calls, never a program of its own (static functions of pre-clang-8 objects). */
  subprogramOnly?: boolean;
}

/** Per code section, with BTF.ext records indexed by section instruction. */
export interface CodeSection {
  index: number;
  name: string;
  instructions: Instruction[];
  relocations: Map<number, SectionRelocation>;
  /** Sorted by start, non-overlapping. */
  functions: CodeFunction[];
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  coreRelocations: CoreRelocation[];
}

export interface LinkedProgram {
  instructions: Instruction[];
  functions: FunctionSymbol[];
  relocations: Relocation[];
  funcInfo: FuncInfo[];
  lineInfo: LineInfo[];
  coreRelocations: CoreRelocation[];
}

/** The function of `section` containing instruction `index`, by binary search. */
export function functionAt(section: CodeSection, index: number): CodeFunction | undefined {
  const fns = section.functions;
  let lo = 0;
  let hi = fns.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const f = fns[mid]!;
    if (index < f.start) hi = mid - 1;
    else if (index >= f.end) lo = mid + 1;
    else return f;
  }
  return undefined;
}

/** Records of `list` (sorted by insnIndex) inside [start, end), re-indexed by `delta` through `copy`. */
function carry<T extends { insnIndex: number }>(list: readonly T[], start: number, end: number, delta: number, out: T[], copy: (record: T, insnIndex: number) => T): void {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid]!.insnIndex < start) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < list.length && list[i]!.insnIndex < end; i++) out.push(copy(list[i]!, list[i]!.insnIndex + delta));
}

export function linkProgram(entry: CodeFunction, sections: ReadonlyMap<number, CodeSection>): LinkedProgram {
  const out: LinkedProgram = { instructions: [], functions: [], relocations: [], funcInfo: [], lineInfo: [], coreRelocations: [] };
  const placed = new Map<CodeFunction, number>();
  const queue: CodeFunction[] = [];
  const place = (fn: CodeFunction): number => {
    let at = placed.get(fn);
    if (at === undefined) {
      at = out.instructions.length;
      placed.set(fn, at);
      queue.push(fn);
      const section = sections.get(fn.sectionIndex)!;
      for (let i = fn.start; i < fn.end; i++) {
        const { opcode, dst, src, offset, imm } = section.instructions[i]!;
        out.instructions.push({ opcode, dst, src, offset, imm });
      }
      out.functions.push({ name: fn.name, insnIndex: at });
    }
    return at;
  };
  place(entry);
  for (let q = 0; q < queue.length; q++) {
    const fn = queue[q]!;
    const section = sections.get(fn.sectionIndex)!;
    const base = placed.get(fn)!;
    const delta = base - fn.start;
    // Explicit copies: object spread is several times slower on these hot paths.
    carry(section.funcInfo, fn.start, fn.end, delta, out.funcInfo, (r, insnIndex) => ({ insnIndex, typeId: r.typeId }));
    carry(section.lineInfo, fn.start, fn.end, delta, out.lineInfo, (r, insnIndex) => ({
      insnIndex,
      fileName: r.fileName,
      line: r.line,
      column: r.column,
      lineText: r.lineText,
      fileNameOffset: r.fileNameOffset,
      lineTextOffset: r.lineTextOffset,
    }));
    carry(section.coreRelocations, fn.start, fn.end, delta, out.coreRelocations, (r, insnIndex) => ({ insnIndex, typeId: r.typeId, accessString: r.accessString, kind: r.kind }));
    for (let i = fn.start; i < fn.end; i++) {
      const insn = section.instructions[i]!;
      const linked = i + delta;
      const lddw = insn.opcode === LDDW;
      if (lddw && i + 1 >= fn.end) throw new ObjectError(`function '${fn.name}' ends in the middle of an lddw at instruction ${i}`, section.name, i * 8);
      const reloc = section.relocations.get(i);
      let target: { section: number; index: number; via: 'call' | 'func' } | undefined;
      if (reloc?.kind === 'code') {
        target = { section: reloc.targetSection, index: reloc.targetIndex, via: reloc.via };
      } else if (reloc === undefined && insn.opcode === CALL && insn.src === PSEUDO_CALL) {
        target = { section: fn.sectionIndex, index: i + insn.imm + 1, via: 'call' };
      } else if (reloc === undefined && lddw && insn.src === PSEUDO_FUNC) {
        target = { section: fn.sectionIndex, index: i + insn.imm + 1, via: 'func' };
      } else if (reloc !== undefined) {
        out.relocations.push(toProgramRelocation(reloc, linked));
      }
      if (target !== undefined) {
        const targetSection = sections.get(target.section);
        const callee = targetSection && functionAt(targetSection, target.index);
        if (callee === undefined) {
          throw new ObjectError(`${target.via === 'call' ? 'call' : 'function pointer'} at instruction ${i} targets instruction ${target.index} of section ${targetSection?.name ?? `#${target.section}`}, which is not inside any function`, section.name, i * 8);
        }
        const calleeAt = place(callee) + (target.index - callee.start);
        out.instructions[linked]!.imm = calleeAt - linked - 1;
        if (target.via === 'func') out.relocations.push({ kind: 'callback', insnIndex: linked, functionName: callee.name, targetIndex: calleeAt });
      }
      if (lddw) i++;
    }
  }
  out.funcInfo.sort((a, b) => a.insnIndex - b.insnIndex);
  out.lineInfo.sort((a, b) => a.insnIndex - b.insnIndex);
  out.coreRelocations.sort((a, b) => a.insnIndex - b.insnIndex);
  return out;
}

function toProgramRelocation(reloc: Exclude<SectionRelocation, { kind: 'code' }>, insnIndex: number): Relocation {
  switch (reloc.kind) {
    case 'map':
      return { kind: 'map', insnIndex, mapName: reloc.mapName };
    case 'mapValue':
      return { kind: 'mapValue', insnIndex, mapName: reloc.mapName, offset: reloc.offset };
    case 'kconfig':
      return { kind: 'kconfig', insnIndex, externName: reloc.externName, mapName: reloc.mapName, offset: reloc.offset };
    case 'ksym':
      return { kind: 'ksym', insnIndex, externName: reloc.externName, isFunction: reloc.isFunction };
  }
}
