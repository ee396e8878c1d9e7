export * from './opcodes.ts';
export * from './errors.ts';
export { compileFilter, FilterLinkType, type CompileOptions } from './compile.ts';
export { checkCbpf, SKF_AD_OFF } from './checker.ts';
export { CbpfProgram, runCbpf, type CbpfRunInput } from './interpreter.ts';
export { formatCbpf, formatCbpfInstruction, parseCbpf, type ListingFormat } from './disasm.ts';
export { convertCbpf, type ConvertTarget } from './convert.ts';
export { PacketFilter, FilterClosedError, filterCapture, type FilterEngine, type PacketFilterOptions } from './filter.ts';
export { OptimizeError } from './optimize.ts';
