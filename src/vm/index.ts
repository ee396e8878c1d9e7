// Public API of tsbpf/vm. Layers, lowest first: the address space
// (VmMemory), the interpreter behind `Vm` with its helper registry, the
// runtime (`VmProgram`: a typed program with the kernel's BPF_PROG_TEST_RUN
// semantics and the runtime helpers) and `VmCollection` (an ELF object's
// maps and programs). The WebAssembly JIT is selected with
// `VmProgramOptions.jit`.
export * from './memory.ts';
export * from './errors.ts';
export * from './helper-registry.ts';
export * from './program.ts';
export { InterpretedProgram, STACK_SIZE, STACK_GUARD, STACK_ALLOCATION, type InterpreterHost } from './interpreter.ts';
export * from './vm.ts';
export * from './conformance.ts';
export { ContextAccessError, checkContextAccesses } from './context.ts';
export { RunInputError, RunInterruptedError, VmProgram, vmProgramById, type VmProgramOptions, type VmRunOptions, type VmRunResult, type VmBatchOptions, type VmBatchResult, type VmCaptureBatch } from './runtime.ts';
export { CollectionLoadError, VmCollection, loadVmCollection, type VmCollectionOptions } from './collection.ts';
export * from './tracepoint.ts';
export {
  FunctionPointerError,
  HelperEnvironmentError,
  RunEnvironment,
  UnsupportedHelperError,
  installRuntimeHelpers,
  registerRuntimeHelpers,
  type EnvironmentOptions,
  type EventInput,
  type ProcessIdentity,
  type RedirectDecision,
  type Route,
} from './helpers/index.ts';
export { loadJit, JitCompileError, JitProgram, type JitOptions, type JitStats } from './jit/index.ts';
