import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { findClang } from './env.ts';

export interface CompileOptions {
  /** -mcpu (default v3, what libbpf-based projects use; v4 for the ISA v4 fixtures). */
  cpu?: 'v1' | 'v2' | 'v3' | 'v4';
  /** Big-endian target (bpfeb). */
  bigEndian?: boolean;
  /** Extra clang arguments, e.g. -D defines. */
  args?: string[];
}

const BUILD_DIR = join(tmpdir(), 'tsbpf-fixtures');

/** Include path for <asm/types.h> on multiarch Debian, needed by -target bpf. */
function multiarchInclude(): string[] {
  const arch = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu';
  const dir = `/usr/include/${arch}`;
  return existsSync(dir) ? ['-I', dir] : [];
}

/**
 * Compiles a C file to a BPF object as users do (`clang -O2 -g -target bpf`),
 * caching by source content and options. Returns the object's path. Callers
 * must skip with `skipWithoutClang()` first.
 */
export function compileBpf(source: string, options: CompileOptions = {}): string {
  const clang = findClang();
  if (!clang) throw new Error('compileBpf called without clang; guard the test with skipWithoutClang()');
  const args = [
    '-O2',
    '-g',
    '-target',
    options.bigEndian ? 'bpfeb' : 'bpfel',
    `-mcpu=${options.cpu ?? 'v3'}`,
    '-I',
    dirname(source),
    ...multiarchInclude(),
    ...(options.args ?? []),
  ];
  const key = createHash('sha256').update(readFileSync(source)).update(clang).update(args.join('\0')).digest('hex').slice(0, 16);
  mkdirSync(BUILD_DIR, { recursive: true });
  const out = join(BUILD_DIR, `${basename(source, '.c')}-${key}.o`);
  if (!existsSync(out)) {
    const tmp = `${out}.${process.pid}.tmp`;
    execFileSync(clang, [...args, '-c', source, '-o', tmp], { stdio: ['ignore', 'ignore', 'pipe'] });
    execFileSync('mv', [tmp, out]);
  }
  return out;
}
