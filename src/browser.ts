/**
 * tsbpf for web pages: the package root without the kernel backend, which
 * needs Linux and Node (bpf() through FFI). Bundlers targeting browsers
 * resolve `tsbpf` here through the `"browser"` export condition, so a page
 * bundle holds no `node:` module; Node resolves `tsbpf` to ./index.ts, which
 * adds `kernel` and `loadCollection`.
 */
export * as isa from './isa/index.ts';
export * as btf from './btf/index.ts';
export * as object from './object/index.ts';
export * as vm from './vm/index.ts';
export * as maps from './maps/index.ts';
export * as backend from './backend/index.ts';
export * as uapi from './uapi/index.ts';
export * as net from './net/index.ts';
export * as gen from './gen/index.ts';
export * as verifier from './verifier/index.ts';
export * as cbpf from './cbpf/index.ts';
export { TsbpfError } from './errors.ts';
export { HostUnavailableError, InputTooLargeError } from './host/errors.ts';

// The entry points most programs start from.
export { assemble, disassemble, decode, encode } from './isa/index.ts';
export { loadCollectionSpec } from './object/index.ts';
export { loadVmCollection } from './vm/index.ts';
export { typedMap, typedPerCpuMap, typedSpecMap, typedSpecPerCpuMap, writeSpecVariable } from './backend/index.ts';
