/**
 * Debian packages as a source of kernel sources and compiled BPF objects:
 * `apt-get download` into a cache directory, then unpacked without
 * installing (`dpkg-deb --fsys-tarfile`, `tar`), extracting only the paths
 * asked for. Nothing here is committed: it is all rebuilt from the packages.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TsbpfError } from '../../../src/errors.ts';

export class CorpusSourceError extends TsbpfError {
  override name = 'CorpusSourceError';
}

/** The Debian package carrying the kernel tree whose selftests the corpus uses. */
export const LINUX_SOURCE_PACKAGE = 'linux-source-6.12';

/**
 * What the corpus needs of the kernel tree: the verifier selftests and the
 * headers they include, libbpf's headers, the tools' UAPI copy, and
 * samples/bpf. One extraction serves every source.
 */
export const KERNEL_TREE_PATTERNS: readonly string[] = [
  'tools/testing/selftests/bpf/progs/verifier_*.c',
  'tools/testing/selftests/bpf/*.h',
  'tools/lib/bpf/*.h',
  'tools/include/*',
  'samples/bpf/*',
];

function run(command: string, args: readonly string[], cwd: string, what: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
  } catch (error) {
    const err = error as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new CorpusSourceError(`${what}: '${command}' is not installed`);
    throw new CorpusSourceError(`${what}: ${command} ${args.join(' ')} failed: ${(err.stderr ?? err.message).trim().split('\n').slice(-3).join(' | ')}`);
  }
}

/** The .deb of `pkg` in `dir`, downloaded with `apt-get download` when it is not there yet. */
export function debianPackage(pkg: string, dir: string): string {
  mkdirSync(dir, { recursive: true });
  const find = (): string | undefined => readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  const cached = find();
  if (cached !== undefined) return join(dir, cached);
  run('apt-get', ['download', '-q', pkg], dir, `downloading Debian package ${pkg} (run apt-get update first if apt knows no candidate)`);
  const downloaded = find();
  if (downloaded === undefined) throw new CorpusSourceError(`apt-get download ${pkg} left no ${pkg}_*.deb in ${dir}`);
  return join(dir, downloaded);
}

/** Unpacks a package's files (no maintainer scripts, nothing installed) into `dest`, once. */
export function unpackDebianPackage(deb: string, dest: string): string {
  const done = join(dest, '.unpacked');
  if (existsSync(done)) return dest;
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  run('dpkg-deb', ['-x', deb, dest], dest, `unpacking ${deb}`);
  writeFileSync(done, '');
  return dest;
}

/**
 * The parts of the kernel tree matching `patterns` (tar wildcards relative
 * to the tree's root, `*` matching `/` too, e.g. `tools/lib/bpf/*.h`), extracted from the
 * linux-source package's tarball (downloaded into `downloadDir` when not
 * there) into `<cacheDir>/<package>`. A stamp file
 * records the pattern set, so a changed set re-extracts.
 */
export function linuxSourceTree(cacheDir: string, downloadDir: string, patterns: readonly string[]): string {
  const root = join(cacheDir, LINUX_SOURCE_PACKAGE);
  const stampName = `.extracted-${hashPatterns(patterns)}`;
  if (existsSync(join(root, stampName))) return root;
  const deb = debianPackage(LINUX_SOURCE_PACKAGE, downloadDir);
  const staging = `${root}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    // The .deb holds usr/src/linux-source-6.12.tar.xz; take only that member, then only the wanted paths of the tree.
    const tarball = `usr/src/${LINUX_SOURCE_PACKAGE}.tar.xz`;
    run('sh', ['-c', `dpkg-deb --fsys-tarfile "$0" | tar -x -f - "./${tarball}"`, deb], staging, `extracting ${tarball} from ${deb}`);
    const top = LINUX_SOURCE_PACKAGE;
    run('tar', ['-xJf', join(staging, tarball), '--wildcards', ...patterns.map((p) => `${top}/${p}`)], staging, `extracting ${patterns.length} patterns from ${tarball}`);
    rmSync(root, { recursive: true, force: true });
    renameSync(join(staging, top), root);
    writeFileSync(join(root, stampName), `${patterns.join('\n')}\n`);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return root;
}

function hashPatterns(patterns: readonly string[]): string {
  let h = 0x811c9dc5;
  for (const ch of patterns.join('\0')) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}
