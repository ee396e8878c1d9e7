/**
 * CO-RE for a loaded spec: resolves a program's CO-RE relocations against a
 * target BTF (the running kernel's, from src/btf's loadKernelBtf, or any
 * other) with src/btf's applyCoreRelocations. Both backends call this
 * before loading.
 */
import { type Btf, type CoreReport, applyCoreRelocations } from '../btf/index.ts';
import type { Instruction } from '../isa/instruction.ts';
import { ObjectError } from './errors.ts';
import type { CollectionSpec, ProgramSpec } from './spec.ts';

export interface CoreResult {
  /** A patched copy of the program's instructions; the spec is left untouched. */
  instructions: Instruction[];
  report: CoreReport;
}

/**
 * Applies `program`'s CO-RE relocations for `target` to a copy of its
 * instructions. Unresolvable relocations are poisoned as libbpf does
 * (`call 0xbad2310`, reported in `report.poisoned`); inconsistent ones throw
 * src/btf's CoreRelocationError.
 */
export function applyProgramCore(program: ProgramSpec, target: Btf): CoreResult {
  const instructions = program.instructions.map(({ opcode, dst, src, offset, imm }) => ({ opcode, dst, src, offset, imm }));
  if (program.coreRelocations.length === 0) return { instructions, report: { entries: [], poisoned: [] } };
  if (program.btf === undefined) throw new ObjectError(`program '${program.name}' has CO-RE relocations but no BTF`, program.section);
  const report = applyCoreRelocations(instructions, program.coreRelocations, program.btf, target, { programName: program.name });
  return { instructions, report };
}

/** applyProgramCore for every program of a collection, by program name. */
export function applyCollectionCore(spec: CollectionSpec, target: Btf): Record<string, CoreResult> {
  return Object.fromEntries(Object.values(spec.programs).map((p) => [p.name, applyProgramCore(p, target)]));
}
