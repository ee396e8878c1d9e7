export * from './memory.ts';
export * from './errors.ts';
export * from './helper-registry.ts';
export * from './program.ts';
export { InterpretedProgram, STACK_SIZE, STACK_GUARD, STACK_ALLOCATION, type InterpreterHost } from './interpreter.ts';
export * from './vm.ts';
export * from './conformance.ts';
