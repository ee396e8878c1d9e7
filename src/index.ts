/**
 * tsbpf: eBPF for TypeScript.
 *
 * Each area is a namespace here and a subpath of its own (`tsbpf/isa`,
 * `tsbpf/btf`, `tsbpf/object`, `tsbpf/backend`, `tsbpf/vm`, `tsbpf/maps`, `tsbpf/kernel`,
 * `tsbpf/uapi`, `tsbpf/net`, `tsbpf/gen`, `tsbpf/verifier`, `tsbpf/cbpf`). The kernel backend loads its FFI library
 * only when first used, so importing this module is safe anywhere in Node;
 * bundlers building for browsers take `./browser.ts` instead (the
 * `"browser"` export condition), which is this module without the kernel.
 */
export * from './browser.ts';
export * as kernel from './kernel/index.ts';
export { loadCollection } from './kernel/index.ts';
