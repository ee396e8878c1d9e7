/**
 * tsbpf: eBPF for TypeScript.
 *
 * Each area is a namespace here and a subpath of its own (`tsbpf/isa`,
 * `tsbpf/btf`, `tsbpf/object`, `tsbpf/backend`, `tsbpf/vm`, `tsbpf/maps`, `tsbpf/kernel`,
 * `tsbpf/uapi`, `tsbpf/net`, `tsbpf/cbpf`). The kernel backend loads its FFI library
 * only when first used, so importing this module is safe anywhere.
 */
export * as isa from './isa/index.ts';
export * as btf from './btf/index.ts';
export * as object from './object/index.ts';
export * as vm from './vm/index.ts';
export * as maps from './maps/index.ts';
export * as backend from './backend/index.ts';
export * as kernel from './kernel/index.ts';
export * as uapi from './uapi/index.ts';
export * as net from './net/index.ts';
export * as cbpf from './cbpf/index.ts';
export { TsbpfError } from './errors.ts';

// The entry points most programs start from.
export { assemble, disassemble, decode, encode } from './isa/index.ts';
export { loadCollectionSpec } from './object/index.ts';
export { loadVmCollection } from './vm/index.ts';
export { loadCollection } from './kernel/index.ts';
