// Public API of tsbpf/uapi: the kernel's user-space ABI as data: enum values
// (program, attach, map and link types), the helper table with argument
// types and per-program-type availability, map flags and per-type creation
// rules, and program context layouts with their access rules.
export * from './enums.ts';
export * from './helpers.ts';
export * from './maps.ts';
export * from './program-types.ts';
export * from './syscalls.ts';
export * from './context-types.ts';
export * from './kfuncs.ts';
export * from './errno.ts';
