import type { Instruction } from '../isa/instruction.ts';
import { CallSrc, OPCODE_CALL } from '../isa/opcodes.ts';
import { ObjectError } from './errors.ts';
import { classifySection } from './sections.ts';
import type { CollectionSpec, FunctionSymbol } from './spec.ts';

export interface InstructionProgram {
  name: string;
  /** A libbpf section name giving the program type and attach target: `xdp`, `tc`, `socket`, `tracepoint/syscalls/sys_enter_openat`... */
  section: string;
  instructions: Instruction[];
  /** Default 'GPL', so GPL-only helpers load in the kernel. */
  license?: string;
}

/**
 * A one-program CollectionSpec from instructions (assembly, builders): the
 * same spec an ELF object gives, so both backends load it the same way. The
 * program has no maps or relocations; its bpf-to-bpf call targets are its
 * functions.
 */
export function collectionFromInstructions(program: InstructionProgram): CollectionSpec {
  const info = classifySection(program.section);
  if (info === undefined) throw new ObjectError(`'${program.section}' is not a section name libbpf knows (xdp, tc, socket, tracepoint/CAT/NAME, ...)`, program.section);
  const license = program.license ?? 'GPL';
  return {
    programs: {
      [program.name]: {
        name: program.name,
        section: program.section,
        type: info.programType,
        ...(info.expectedAttachType !== undefined ? { expectedAttachType: info.expectedAttachType } : {}),
        ...(info.attachTo !== undefined ? { attachTo: info.attachTo } : {}),
        sleepable: info.sleepable,
        programFlags: info.programFlags,
        instructions: program.instructions,
        functions: functionStarts(program.name, program.instructions),
        relocations: [],
        coreRelocations: [],
        funcInfo: [],
        lineInfo: [],
        license,
        kernelVersion: 0,
      },
    },
    maps: {},
    variables: {},
    externs: {},
    byteOrder: 'little',
    license,
    kernelVersion: 0,
  };
}

/** The entry at 0 and every target of a bpf-to-bpf call, named by index. */
function functionStarts(name: string, instructions: readonly Instruction[]): FunctionSymbol[] {
  const starts = new Set<number>([0]);
  instructions.forEach((i, index) => {
    if (i.opcode === OPCODE_CALL && i.src === CallSrc.LOCAL) starts.add(index + 1 + i.imm);
  });
  return [...starts].sort((a, b) => a - b).map((insnIndex) => ({ name: insnIndex === 0 ? name : `${name}__sub_${insnIndex}`, insnIndex }));
}
