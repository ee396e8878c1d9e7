export * from './opcodes.ts';
export * from './instruction.ts';
export * from './encoding.ts';
export { instructionProblem } from './validate.ts';
export { type AsmSyntax, type AssembleOptions, AsmError, assemble } from './asm.ts';
export { type DisasmOptions, disassemble, formatInstruction } from './disasm.ts';
