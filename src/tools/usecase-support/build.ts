/**
 * The BPF objects of the use cases (examples/<case>/*.c): the ones the
 * package was built with (dist/usecases/, made by `npm run build` where
 * clang was present), or else compiled on demand with clang into a cache
 * directory, keyed by the source's content.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TsbpfError } from '../../errors.ts';
import { findClang } from '../objects.ts';

/** clang is missing or failed on a use case's program. */
export class BuildError extends TsbpfError {
  override name = 'BuildError';
}

/** The package root: src/tools/usecase-support (or dist/tools/usecase-support) is three levels down. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** examples/<name> of the package, where each use case keeps its C sources. */
export function exampleSource(relative: string): string {
  return join(PACKAGE_ROOT, 'examples', relative);
}

function cacheDirectory(): string {
  if (process.env.TSBPF_CACHE_DIR) return process.env.TSBPF_CACHE_DIR;
  const inPackage = join(PACKAGE_ROOT, '.cache', 'usecases');
  try {
    mkdirSync(inPackage, { recursive: true });
    return inPackage;
  } catch {
    return join(tmpdir(), 'tsbpf-usecases');
  }
}

/** The object `npm run build` made from `source` (dist/usecases/NAME.o), if it was made from this very source. */
function prebuiltObject(source: string): string | undefined {
  const object = join(PACKAGE_ROOT, 'dist', 'usecases', `${source.replace(/^.*\//, '').replace(/\.c$/, '')}.o`);
  try {
    const recorded = readFileSync(`${object}.sha256`, 'utf8').trim();
    return recorded === createHash('sha256').update(readFileSync(source)).digest('hex') && existsSync(object) ? object : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The object built from C file `source` (`clang -O2 -g -target bpf`),
 * compiled once per source content; a BuildError says how to get clang
 * when it is missing, or shows clang's diagnostics.
 */
export function buildBpfObject(source: string): string {
  if (!existsSync(source)) throw new BuildError(`BPF source ${source} not found`);
  const prebuilt = prebuiltObject(source);
  if (prebuilt !== undefined) return prebuilt;
  const clang = findClang();
  if (!clang) {
    throw new BuildError(`building ${source} needs clang 18 or newer with the BPF target and libbpf headers (Debian/Ubuntu: apt-get install clang-19 libbpf-dev); or build it yourself and pass --object FILE.o`);
  }
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const args = ['-O2', '-g', '-target', 'bpfel', '-mcpu=v3', '-I', dirname(source), ...(existsSync(`/usr/include/${arch}`) ? ['-I', `/usr/include/${arch}`] : [])];
  const key = createHash('sha256').update(readFileSync(source)).update(clang).update(args.join('\0')).digest('hex').slice(0, 16);
  const directory = cacheDirectory();
  mkdirSync(directory, { recursive: true });
  const name = source.replace(/^.*\//, '').replace(/\.c$/, '');
  const out = join(directory, `${name}-${key}.o`);
  if (existsSync(out)) return out;
  const temporary = `${out}.${process.pid}.tmp`;
  try {
    execFileSync(clang, [...args, '-c', source, '-o', temporary], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    throw new BuildError(`${clang} failed on ${source}${stderr ? `:\n${stderr}` : ''}`);
  }
  renameSync(temporary, out);
  return out;
}
