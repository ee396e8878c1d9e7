import type { Instruction } from '../../isa/instruction.ts';
import type { InterpreterHost } from '../interpreter.ts';
import { type LoadOptions, prepareProgram } from '../program.ts';
import { JitProgram, type JitOptions } from './program.ts';

export { JitCompileError, JitProgram, type JitOptions, type JitStats } from './program.ts';
export { compileProgram, type CompileOptions, type CompiledModule } from './compiler.ts';

/**
 * Checks a program as `Vm.load` does (ProgramLoadError, UnknownHelperError)
 * and compiles it to WebAssembly for the VM `host`.
 */
export function loadJit(host: InterpreterHost, instructions: readonly Instruction[], options: LoadOptions & JitOptions = {}): JitProgram {
  return new JitProgram(host, prepareProgram(instructions, host.helpers, options), options);
}
