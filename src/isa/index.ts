export * from './opcodes.ts';
export * from './instruction.ts';
export * from './encoding.ts';
export { instructionProblem } from './validate.ts';
