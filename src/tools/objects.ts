/**
 * The tools' BPF objects: C sources in src/tools/bpf, compiled by clang with
 * CO-RE against a vmlinux.h that tsbpf itself writes from the kernel's BTF.
 * `npm run build` compiles them into dist/tools/bpf (scripts/build-bpf.mjs),
 * so the npm package runs without clang; run from sources, an object is
 * compiled on first use into .cache/tools when clang is installed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatC, loadKernelBtf } from '../btf/index.ts';
import { ToolError } from './errors.ts';

/** src/tools or dist/tools: the folder of this module. */
const MODULE_DIR = dirname(fileURLToPath(import.meta.url));
/** The package root, two levels up from both src/tools and dist/tools. */
const PACKAGE_ROOT = resolve(MODULE_DIR, '..', '..');
/** The C sources (shipped in the package's src/). */
export const BPF_SOURCE_DIR = join(PACKAGE_ROOT, 'src', 'tools', 'bpf');
/** Objects built with the package. */
const BUILT_DIR = join(MODULE_DIR, 'bpf');
/** Objects compiled on demand when running from sources. */
const CACHE_DIR = join(PACKAGE_ROOT, '.cache', 'tools');

const CLANG_CANDIDATES = ['clang-19', 'clang-20', 'clang-18', 'clang'];
/** Where libbpf-dev puts bpf_helpers.h and friends. */
const LIBBPF_HEADERS = '/usr/include/bpf/bpf_helpers.h';

/** The tools that have a BPF object (one NAME.bpf.c each). */
export function bpfSourceNames(): string[] {
  return readdirSync(BPF_SOURCE_DIR)
    .filter((f) => f.endsWith('.bpf.c'))
    .map((f) => f.slice(0, -'.bpf.c'.length))
    .sort();
}

let clangFound: string | null | undefined;

/** A clang that targets BPF with CO-RE (18 or newer; TSBPF_CLANG overrides), or undefined. */
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

/** Why the objects cannot be compiled here, or undefined when they can. */
export function cannotCompileReason(): string | undefined {
  if (findClang() === undefined) return 'clang (18 or newer, e.g. the clang-19 package) is not installed';
  if (!existsSync(LIBBPF_HEADERS)) return `libbpf's headers are missing (${LIBBPF_HEADERS}; the libbpf-dev package)`;
  if (!existsSync(BPF_SOURCE_DIR)) return `the BPF sources are missing (${BPF_SOURCE_DIR})`;
  return undefined;
}

/** Writes through a temporary file and a rename, so that parallel builders never see half a file. */
function writeAtomically(path: string, data: string | Uint8Array): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, data);
  renameSync(temporary, path);
}

/** vmlinux.h for the running kernel, written by tsbpf's own BTF-to-C formatter into `dir`. */
export function writeVmlinuxHeader(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'vmlinux.h');
  if (!existsSync(path)) writeAtomically(path, formatC(loadKernelBtf(), { wrapper: true }));
  return path;
}

/** Compiles src/tools/bpf/NAME.bpf.c into `outDir`/NAME.bpf.o; returns its path. */
export function compileToolObject(name: string, outDir: string, includeDir: string): string {
  const reason = cannotCompileReason();
  if (reason !== undefined) throw new ToolError(`cannot compile ${name}.bpf.c: ${reason}`);
  writeVmlinuxHeader(includeDir);
  mkdirSync(outDir, { recursive: true });
  const output = join(outDir, `${name}.bpf.o`);
  const temporary = `${output}.${process.pid}.tmp`;
  const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'x86' : process.arch;
  try {
    execFileSync(findClang()!, ['-O2', '-g', '-target', 'bpf', `-D__TARGET_ARCH_${arch}`, '-I', includeDir, '-c', join(BPF_SOURCE_DIR, `${name}.bpf.c`), '-o', temporary], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? (error as Error).message;
    throw new ToolError(`clang failed on ${name}.bpf.c:\n${stderr}`);
  }
  renameSync(temporary, output);
  return output;
}

const mtime = (path: string): number => statSync(path).mtimeMs;

/**
 * The object of tool `name`: the one built with the package, else one
 * compiled into .cache/tools (recompiled when its source changed), else a
 * ToolError saying how to build it.
 */
export function toolObjectPath(name: string): string {
  const built = join(BUILT_DIR, `${name}.bpf.o`);
  if (existsSync(built)) return built;
  const source = join(BPF_SOURCE_DIR, `${name}.bpf.c`);
  const cached = join(CACHE_DIR, `${name}.bpf.o`);
  if (existsSync(cached) && (!existsSync(source) || mtime(cached) >= Math.max(mtime(source), mtime(join(BPF_SOURCE_DIR, 'common.h'))))) return cached;
  const reason = cannotCompileReason();
  if (reason !== undefined) {
    throw new ToolError(
      `the BPF object of '${name}' is not built and cannot be compiled here (${reason}): install clang-19 and libbpf-dev, then run 'npm run build' in the tsbpf package (or run from sources with clang on PATH)`,
    );
  }
  return compileToolObject(name, CACHE_DIR, join(CACHE_DIR, 'include'));
}
