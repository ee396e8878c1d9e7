/**
 * One builder for the BPF programs tsbpf ships as C source: the tools'
 * CO-RE programs (src/tools/bpf/NAME.bpf.c, compiled against a vmlinux.h
 * that tsbpf writes from the kernel's BTF) and the use cases' programs
 * (examples/CASE/NAME.c, compiled against the system's headers).
 *
 * An object comes from the package's build (dist/bpf/, written by
 * `npm run build` with the content key of its source beside it), else from
 * a cache keyed by the source's content (with the headers beside it), the
 * compiler and its arguments, where clang puts it on first use. Either way
 * a changed source is never served a stale object.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatC, loadKernelBtf } from '../btf/index.ts';
import { ToolError } from './errors.ts';

/** clang is missing, or failed on a BPF program's source. */
export class BuildError extends ToolError {
  override name = 'BuildError';
}

/** The package root: src/tools and dist/tools are both two levels down. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The tools' C sources (shipped in the package's src/). */
export const TOOL_SOURCE_DIR = join(PACKAGE_ROOT, 'src', 'tools', 'bpf');
/** Where `npm run build` puts the objects it compiles. */
export const PREBUILT_DIR = join(PACKAGE_ROOT, 'dist', 'bpf');
/** The use cases' programs that `npm run build` compiles, under examples/. */
export const USE_CASE_SOURCES = ['ddos/xdp_guard.c', 'lb/xdp_lb.c', 'audit/exec_audit.c'] as const;

const CLANG_CANDIDATES = ['clang-19', 'clang-20', 'clang-18', 'clang'];
/** The running kernel's BTF, which vmlinux.h is written from. */
const KERNEL_BTF = '/sys/kernel/btf/vmlinux';
/** Where libbpf-dev puts bpf_helpers.h and friends. */
const LIBBPF_HEADERS = '/usr/include/bpf/bpf_helpers.h';

/** examples/RELATIVE in the package, where each use case keeps its C sources. */
export function exampleSource(relative: string): string {
  return join(PACKAGE_ROOT, 'examples', relative);
}

/** The path of tool NAME's C source. */
export function toolSource(name: string): string {
  return join(TOOL_SOURCE_DIR, `${name}.bpf.c`);
}

/** The tools that have a BPF program (one NAME.bpf.c each). */
export function bpfSourceNames(): string[] {
  return readdirSync(TOOL_SOURCE_DIR)
    .filter((f) => f.endsWith('.bpf.c'))
    .map((f) => f.slice(0, -'.bpf.c'.length))
    .sort();
}

let clangFound: string | null | undefined;

/** A clang that targets BPF with CO-RE (18 or newer; TSBPF_CLANG overrides), looked up once, or undefined. */
export function findClang(): string | undefined {
  if (clangFound === undefined) {
    clangFound = null;
    for (const name of [process.env.TSBPF_CLANG, ...CLANG_CANDIDATES]) {
      if (!name) continue;
      try {
        const out = execFileSync(name, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
        if (Number(/clang version (\d+)/.exec(out)?.[1] ?? 0) >= 18) {
          clangFound = name;
          break;
        }
      } catch {
        // not installed under this name
      }
    }
  }
  return clangFound ?? undefined;
}

/** Why BPF programs cannot be compiled here, or undefined when they can. */
export function cannotCompileReason(): string | undefined {
  if (findClang() === undefined) return 'clang (18 or newer, e.g. the clang-19 package) is not installed';
  if (!existsSync(LIBBPF_HEADERS)) return `libbpf's headers are missing (${LIBBPF_HEADERS}; the libbpf-dev package)`;
  return undefined;
}

/** Writes through a temporary file and a rename, so that parallel builders never see half a file. */
function writeAtomically(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

/** The cache of objects compiled on demand: TSBPF_CACHE_DIR, else the package's .cache/bpf, else one under the temporary directory. */
function cacheDirectory(): string {
  if (process.env.TSBPF_CACHE_DIR) return process.env.TSBPF_CACHE_DIR;
  const inPackage = join(PACKAGE_ROOT, '.cache', 'bpf');
  try {
    mkdirSync(inPackage, { recursive: true });
    return inPackage;
  } catch {
    return join(tmpdir(), 'tsbpf-bpf');
  }
}

/** vmlinux.h for the running kernel, written by tsbpf's own BTF-to-C formatter into `dir` once. */
export function writeVmlinuxHeader(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'vmlinux.h');
  if (!existsSync(path)) writeAtomically(path, formatC(loadKernelBtf(), { wrapper: true }));
  return path;
}

/** The object's name: NAME for NAME.bpf.c and NAME.c. */
function objectName(source: string): string {
  return basename(source).replace(/(\.bpf)?\.c$/, '');
}

/** The SHA-256 of a source and of the headers in its folder (which it may include with quotes). */
function sourceKey(source: string): string {
  const hash = createHash('sha256').update(readFileSync(source));
  const folder = dirname(source);
  for (const header of readdirSync(folder).filter((f) => f.endsWith('.h')).sort()) hash.update(`\0${header}\0`).update(readFileSync(join(folder, header)));
  return hash.digest('hex');
}

/** clang's arguments for `source`: CO-RE against vmlinux.h for the tools, the system's headers for the use cases. */
function clangArguments(source: string, cache: string): string[] {
  if (dirname(source) === TOOL_SOURCE_DIR) {
    const include = join(cache, 'include');
    writeVmlinuxHeader(include);
    const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'x86' : process.arch;
    return ['-O2', '-g', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I', include];
  }
  const multiarch = `/usr/include/${process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu'}`;
  return ['-O2', '-g', '-target', 'bpfel', '-mcpu=v3', '-I', dirname(source), ...(existsSync(multiarch) ? ['-I', multiarch] : [])];
}

/** Runs clang on `source` into `output` (through a temporary file); a BuildError carries clang's diagnostics. */
function compile(source: string, output: string, cache: string): void {
  const reason = cannotCompileReason();
  if (reason !== undefined) {
    throw new BuildError(
      `cannot compile ${source}: ${reason}. Install clang-19 and libbpf-dev (Debian/Ubuntu), then run 'npm run build' in the tsbpf package or run from sources with clang on PATH; the use-case commands also take a prebuilt --object FILE.o`,
    );
  }
  mkdirSync(dirname(output), { recursive: true });
  const temporary = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(findClang()!, [...clangArguments(source, cache), '-c', source, '-o', temporary], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const stderr = String((error as { stderr?: Buffer }).stderr ?? (error as Error).message).trim();
    throw new BuildError(`${findClang()} failed on ${source}${stderr ? `:\n${stderr}` : ''}`);
  }
  renameSync(temporary, output);
}

/** The object `npm run build` made from `source`, if it was made from this very content. */
function prebuiltObject(source: string, key: string): string | undefined {
  const object = join(PREBUILT_DIR, `${objectName(source)}.o`);
  try {
    return readFileSync(`${object}.sha256`, 'utf8').trim() === key && existsSync(object) ? object : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The object compiled from C file `source`: the package's own when it was
 * built from this content, else the cached one, else compiled now with
 * clang into the cache. A BuildError says how to get clang when it is
 * missing, or shows clang's diagnostics.
 */
export function buildBpfObject(source: string): string {
  if (!existsSync(source)) {
    // A package installed without its C sources (an image's runtime stage) still has what it was built with.
    const shipped = join(PREBUILT_DIR, `${objectName(source)}.o`);
    if (existsSync(shipped)) return shipped;
    throw new BuildError(`BPF source ${source} not found`);
  }
  const key = sourceKey(source);
  const prebuilt = prebuiltObject(source, key);
  if (prebuilt !== undefined) return prebuilt;
  const cache = cacheDirectory();
  const compilerKey = createHash('sha256').update(key).update(`\0${findClang() ?? ''}\0${process.arch}`).digest('hex').slice(0, 16);
  const output = join(cache, `${objectName(source)}-${compilerKey}.o`);
  if (!existsSync(output)) compile(source, output, cache);
  return output;
}

/**
 * Compiles every shipped BPF program into dist/bpf/ with its content key
 * beside it (`npm run build`); returns their names. The tools' programs need
 * the kernel's BTF for vmlinux.h and are left to first use without it.
 */
export function prebuildAll(): string[] {
  const tools = existsSync(KERNEL_BTF) ? bpfSourceNames().map(toolSource) : [];
  const sources = [...tools, ...USE_CASE_SOURCES.map(exampleSource)];
  const cache = cacheDirectory();
  for (const source of sources) {
    const output = join(PREBUILT_DIR, `${objectName(source)}.o`);
    compile(source, output, cache);
    writeAtomically(`${output}.sha256`, sourceKey(source));
  }
  return sources.map(objectName);
}
