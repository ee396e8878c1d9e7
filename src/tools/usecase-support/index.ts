/** What the use-case tools share: configuration files with positions and on-demand builds of their BPF programs. */
export * from './config-file.ts';
export { BuildError, buildBpfObject, exampleSource } from '../bpf-build.ts';
