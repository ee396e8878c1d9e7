/**
 * Compiling kernel-tree BPF C (selftests, samples/bpf) with clang as the
 * selftests' Makefile does: `-O2 -g --target=bpf -mcpu=v3/v4`, the tree's
 * libbpf headers and UAPI, and a vmlinux.h of the running kernel generated
 * by tsbpf itself. Several files compile at once (one clang per core).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { generateVmlinuxH } from '../../../src/btf/index.ts';
import { CorpusSourceError } from './debian.ts';

export interface CompileJob {
  source: string;
  output: string;
  args: readonly string[];
}

export interface CompileResult {
  job: CompileJob;
  ok: boolean;
  /** clang's diagnostics (the first lines) when it failed. */
  error?: string;
}

/** libbpf's generated helper declarations: not in the kernel tree, taken from the system's libbpf-dev. */
const HELPER_DEFS = '/usr/include/bpf/bpf_helper_defs.h';

/**
 * An include directory holding `bpf/*.h` (the tree's tools/lib/bpf headers
 * plus bpf_helper_defs.h) and `vmlinux.h` of the running kernel, made once.
 */
export function prepareIncludeDir(tree: string, dir: string): string {
  const stamp = join(dir, '.ready');
  if (existsSync(stamp)) return dir;
  if (!existsSync(HELPER_DEFS)) throw new CorpusSourceError(`${HELPER_DEFS} is missing (apt-get install libbpf-dev)`);
  const bpfDir = join(dir, 'bpf');
  mkdirSync(bpfDir, { recursive: true });
  const libbpf = join(tree, 'tools', 'lib', 'bpf');
  for (const f of readdirSync(libbpf).filter((f) => f.endsWith('.h'))) copyFileSync(join(libbpf, f), join(bpfDir, f));
  copyFileSync(HELPER_DEFS, join(bpfDir, 'bpf_helper_defs.h'));
  writeFileSync(join(dir, 'vmlinux.h'), generateVmlinuxH());
  writeFileSync(stamp, '');
  return dir;
}

/** Include path for <asm/types.h> and friends on multiarch Debian. */
function systemIncludes(): string[] {
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  return ['-idirafter', `/usr/include/${arch}`, '-idirafter', '/usr/include'];
}

/** __TARGET_ARCH_* as the selftests' Makefile sets it (bpf_tracing.h needs it for PT_REGS). */
export const TARGET_ARCH_DEFINE = `-D__TARGET_ARCH_${process.arch === 'arm64' ? 'arm64' : 'x86'}`;

/** clang arguments shared by every corpus compile: the selftests Makefile's BPF_CFLAGS minus -Werror. */
export function baseClangArgs(cpu: 'v2' | 'v3' | 'v4', includeDirs: readonly string[]): string[] {
  return [
    '-O2',
    '-g',
    '--target=bpf',
    `-mcpu=${cpu}`,
    TARGET_ARCH_DEFINE,
    '-Wno-compare-distinct-pointer-types',
    ...includeDirs.flatMap((d) => ['-I', d]),
    ...systemIncludes(),
  ];
}

function compileOne(clang: string, job: CompileJob): Promise<CompileResult> {
  if (existsSync(job.output)) return Promise.resolve({ job, ok: true });
  mkdirSync(join(job.output, '..'), { recursive: true });
  const tmp = `${job.output}.${process.pid}.tmp`;
  return new Promise((resolve) => {
    execFile(clang, [...job.args, '-c', job.source, '-o', tmp], { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => {
      if (error !== null) {
        const diagnostics = stderr.split('\n').filter((l) => /error:/.test(l)).slice(0, 3).join(' | ') || error.message;
        resolve({ job, ok: false, error: diagnostics });
        return;
      }
      renameSync(tmp, job.output);
      resolve({ job, ok: true });
    });
  });
}

/** Compiles every job, `parallel` at a time (default: one per core, at most 2 as in CI), keeping finished objects as a cache. */
export async function compileAll(clang: string, jobs: readonly CompileJob[], parallel = Math.min(2, availableParallelism())): Promise<CompileResult[]> {
  const results: CompileResult[] = new Array(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await compileOne(clang, jobs[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return results;
}

/** `dir/name.c` → `outDir/name.o`. */
export const objectPathFor = (source: string, outDir: string): string => join(outDir, `${basename(source).replace(/\.c$/, '')}.o`);
