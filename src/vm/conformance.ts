import type { Instruction } from '../isa/instruction.ts';
import { HelperRegistry, standardHelpers } from './helper-registry.ts';
import type { IsaVersion } from './program.ts';
import { Vm } from './vm.ts';
import { loadJit } from './jit/index.ts';

/**
 * The execution model of the bpf_conformance suite (Alan-Jowett/bpf_conformance):
 * r1 = pointer to the vector's memory, r2 = its length, writable memory,
 * a 512-byte stack per frame, result = r0 at exit.
 */

/** uBPF's "unwind" helper id, used by call_unwind_fail.data and callx.data. */
export const UNWIND_HELPER_ID = 5;

/**
 * `standardHelpers` (or `parent`) plus uBPF's unwind helper: it returns its
 * first argument and, when that is 0, ends the program with r0 = 0. It is
 * deliberately not a standard helper: id 5 is bpf_ktime_get_ns in Linux.
 */
export function conformanceHelpers(parent: HelperRegistry = standardHelpers): HelperRegistry {
  return new HelperRegistry(parent).register(
    UNWIND_HELPER_ID,
    (call) => {
      const value = call.argU64(1);
      if (value === 0n) call.exitProgram(0);
      return value;
    },
    'unwind',
  );
}

export interface ConformanceRunOptions {
  /** Load at this ISA version (default 4). */
  isa?: IsaVersion;
  /** Instruction budget (default: the VM's). */
  budget?: number;
  /** Compile with the WebAssembly JIT (src/vm/jit) instead of interpreting. */
  jit?: boolean;
}

/** Runs one conformance program in a fresh VM (interpreter, or JIT with `jit`) and returns r0; `mem` receives the final memory. */
export function runConformanceProgram(instructions: readonly Instruction[], mem: Uint8Array | undefined, options: ConformanceRunOptions = {}): bigint {
  const vm = new Vm({ helpers: conformanceHelpers() });
  const loadOptions = { name: 'conformance', isa: options.isa ?? 4 };
  const program = options.jit ? loadJit(vm, instructions, loadOptions) : vm.load(instructions, loadOptions);
  return program.run({ mem, budget: options.budget }).r0;
}
