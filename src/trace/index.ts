/** `tsbpf trace`: the bpftrace language compiled by tsbpf to eBPF, run in the kernel or the VM. */
export { TraceError, TraceRuntimeError, type ScriptOrigin, type SourceSpan } from './errors.ts';
export { parse } from './parser.ts';
export type { Script, Probe, Statement, Expr } from './ast.ts';
export { compileScript, type CompileOptions, type CompiledScript, type CompiledProbe } from './compile.ts';
export { attachProbe, runInKernel, type KernelRunOptions } from './kernel.ts';
export { runInVm, type VmRunOptions } from './vm.ts';
export { TraceSession, type SessionOptions, type LoadedScript } from './session.ts';
export { listProbes } from './list.ts';
export { formatMapText, formatMapJson, formatPrintf, type MapEntries, type Symbolizer } from './output.ts';
export type { TraceType, MapInfo } from './types.ts';
