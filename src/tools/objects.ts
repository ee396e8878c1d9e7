/**
 * The tools' BPF objects: C sources in src/tools/bpf, compiled with CO-RE
 * by the one builder (bpf-build.ts): at package build into dist/bpf, or on
 * first use into the cache when clang is installed.
 */
import { buildBpfObject, toolSource } from './bpf-build.ts';

/** The object of tool `name`, built with the package or compiled on demand; a BuildError says how to get it otherwise. */
export function toolObjectPath(name: string): string {
  return buildBpfObject(toolSource(name));
}
