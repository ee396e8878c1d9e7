import type { Instruction } from '../isa/instruction.ts';
import { VmMemory } from './memory.ts';
import { HelperRegistry, standardHelpers } from './helper-registry.ts';
import { InterpretedProgram, type InterpreterHost } from './interpreter.ts';
import { DEFAULT_BUDGET, type LoadOptions, prepareProgram } from './program.ts';
import { VmOptionError } from './errors.ts';

export interface VmOptions {
  /** The address space (default: a new 1 MiB VmMemory). Maps and contexts live here too. */
  memory?: VmMemory;
  /** Helper and kfunc implementations (default: `standardHelpers`). */
  helpers?: HelperRegistry;
  /** Default instruction budget of a run, 0 = unlimited (default DEFAULT_BUDGET). */
  budget?: number;
}

/**
 * A userspace BPF machine: one address space, a helper registry and the
 * programs loaded into it.
 *
 * ```ts
 * const vm = new Vm();
 * const prog = vm.load(instructions, { name: 'filter' });
 * const { r0 } = prog.run({ mem: packet });
 * ```
 */
export class Vm implements InterpreterHost {
  readonly memory: VmMemory;
  readonly helpers: HelperRegistry;
  readonly defaultBudget: number;
  /** Stack allocations not in use, reused by later runs (a run may nest inside a helper). */
  private readonly freeStacks: { start: number; bytes: number }[] = [];
  private readonly busyStacks = new Map<number, number>();

  constructor(options: VmOptions = {}) {
    this.memory = options.memory ?? new VmMemory();
    this.helpers = options.helpers ?? standardHelpers;
    const budget = options.budget ?? DEFAULT_BUDGET;
    if (!Number.isInteger(budget) || budget < 0) throw new VmOptionError(`invalid instruction budget ${budget}: a non-negative integer is needed (0 = unlimited)`);
    this.defaultBudget = budget;
  }

  /** Checks and decodes a program for the interpreter. Throws ProgramLoadError or UnknownHelperError. */
  load(instructions: readonly Instruction[], options: LoadOptions = {}): InterpretedProgram {
    return new InterpretedProgram(this, prepareProgram(instructions, this.helpers, options));
  }

  acquireStack(bytes: number): number {
    const i = this.freeStacks.findIndex((s) => s.bytes === bytes);
    let start: number;
    if (i >= 0) {
      start = this.freeStacks[i]!.start;
      this.freeStacks.splice(i, 1);
      this.memory.u8.fill(0, start, start + bytes);
    } else {
      start = this.memory.allocate(bytes);
    }
    this.busyStacks.set(start, bytes);
    return start;
  }

  releaseStack(start: number): void {
    const bytes = this.busyStacks.get(start);
    if (bytes === undefined) return;
    this.busyStacks.delete(start);
    this.freeStacks.push({ start, bytes });
  }
}
