// The package as users run it: src compiled by tsc (tsconfig.build.json)
// into a temporary directory, so that benchmarks time `tsbpf` and the
// library as installed, not TypeScript compiled on the fly by tsx.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as ObjectModule from '../../src/object/index.ts';
import type * as UapiModule from '../../src/uapi/index.ts';
import type * as VerifierModule from '../../src/verifier/index.ts';

const root = join(import.meta.dirname, '..', '..');

export interface BuiltPackage {
  /** The compiled `src` (dist layout): `${dist}/cli/main.js` is the `tsbpf` bin. */
  readonly dist: string;
  /** Argument vector of `tsbpf ...args` for spawn. */
  cli(args: readonly string[]): string[];
  remove(): void;
}

/** Compiles the package (this checkout's, or the one at `packageRoot`, to compare two) once into a temporary directory. */
export function buildPackage(packageRoot = root): BuiltPackage {
  const dir = mkdtempSync(join(tmpdir(), 'tsbpf-bench-build-'));
  const dist = join(dir, 'dist');
  try {
    execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(packageRoot, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit' });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // The CLI reads ../../package.json from dist/cli; dependencies (koffi) resolve through node_modules.
  symlinkSync(join(packageRoot, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(packageRoot, 'node_modules'), join(dir, 'node_modules'));
  return {
    dist,
    cli: (args) => [join(dist, 'cli', 'main.js'), ...args],
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** What the verifier benchmarks time: the built package's verifier, its object loader and program types. */
export interface BuiltVerifier {
  ProgramType: typeof UapiModule.ProgramType;
  verify: typeof VerifierModule.verify;
  loadTimeMaps: typeof VerifierModule.loadTimeMaps;
  loadCollectionSpec: typeof ObjectModule.loadCollectionSpec;
}

/** Builds the package and imports its verifier; the build is removed when the process exits (an interrupt too). */
export async function buildVerifier(): Promise<BuiltVerifier> {
  const built = buildPackage();
  process.on('exit', () => built.remove());
  // 'exit' does not run on a signal.
  process.on('SIGINT', () => process.exit(130));
  const load = async <T>(module: string): Promise<T> => (await import(pathToFileURL(join(built.dist, module, 'index.js')).href)) as T;
  const { ProgramType } = await load<typeof UapiModule>('uapi');
  const { loadTimeMaps, verify } = await load<typeof VerifierModule>('verifier');
  const { loadCollectionSpec } = await load<typeof ObjectModule>('object');
  return { ProgramType, verify, loadTimeMaps, loadCollectionSpec };
}
