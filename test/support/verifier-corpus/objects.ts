/**
 * Real-world objects: BPF objects Debian ships compiled (libxdp's
 * dispatcher and filters, xdp-tools' test programs, cilium/ebpf's test
 * objects built by clang 7 to 14 in both byte orders, the objects embedded
 * in libbpf-tools' programs), and the kernel's
 * samples/bpf compiled here. Each program is read with loadCollectionSpec
 * and loaded into the running kernel with its maps.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { loadCollectionSpec } from '../../../src/object/index.ts';
import type { CollectionSpec } from '../../../src/object/index.ts';
import { ProgramType, programTypeName } from '../../../src/uapi/enums.ts';
import { type CompileJob, baseClangArgs, compileAll, prepareIncludeDir } from './compile.ts';
import { KERNEL_TREE_PATTERNS, debianPackage, linuxSourceTree, unpackDebianPackage } from './debian.ts';
import { kernelVerdict } from './kernel-verdict.ts';
import type { CorpusSource, FileRecord, ProgramRecord } from './records.ts';

/** Debian packages that ship compiled BPF objects, as files or embedded in programs (libbpf skeletons of libbpf-tools). */
export const DEBIAN_OBJECT_PACKAGES: readonly string[] = ['libxdp1', 'xdp-tests', 'golang-github-cilium-ebpf-dev', 'libbpf-tools'];

export interface ObjectCorpus {
  files: FileRecord[];
  records: ProgramRecord[];
}

const EM_BPF = 247;

/** An ELF relocatable file for the BPF machine (either byte order). */
function isBpfObject(path: string): boolean {
  const header = new Uint8Array(20);
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, header, 0, 20, 0) < 20) return false;
  } finally {
    closeSync(fd);
  }
  if (header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c || header[3] !== 0x46) return false;
  const little = header[5] === 1;
  const machine = little ? header[18]! | (header[19]! << 8) : (header[18]! << 8) | header[19]!;
  return machine === EM_BPF;
}

/** Regular files under `dir`, sorted. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const path = join(dir, name);
      const stat = statSync(path);
      return stat.isDirectory() ? filesUnder(path) : stat.isFile() ? [path] : [];
    });
}

/** Host executables larger than this are not searched for embedded objects. */
const MAX_CARVED_FILE = 64 * 1024 * 1024;

/**
 * BPF ELF objects embedded in a host binary (a libbpf skeleton keeps its
 * object as bytes): every ELF64 header for EM_BPF, each object ending at its
 * section header table.
 */
export function embeddedBpfObjects(bytes: Uint8Array): Uint8Array[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let at = bytes.indexOf(0x7f, 1); at >= 0 && at + 64 <= bytes.length; at = bytes.indexOf(0x7f, at + 1)) {
    if (bytes[at + 1] !== 0x45 || bytes[at + 2] !== 0x4c || bytes[at + 3] !== 0x46 || bytes[at + 4] !== 2) continue;
    const little = bytes[at + 5] === 1;
    if (!little && bytes[at + 5] !== 2) continue;
    if (view.getUint16(at + 18, little) !== EM_BPF) continue;
    const end = at + Number(view.getBigUint64(at + 0x28, little)) + view.getUint16(at + 0x3a, little) * view.getUint16(at + 0x3c, little);
    if (end > bytes.length || end <= at + 64) continue;
    out.push(bytes.slice(at, end));
    at = end - 1;
  }
  return out;
}

/** BPF objects of an unpacked package: object files, and objects carved out of its host binaries into `carveDir`. */
function findBpfObjects(dir: string, carveDir: string): { object: string; origin: string }[] {
  const out: { object: string; origin: string }[] = [];
  for (const path of filesUnder(dir)) {
    const origin = relative(dir, path);
    if (/\.(o|elf|bpf)$/.test(path) && isBpfObject(path)) {
      out.push({ object: path, origin });
    } else if (!path.endsWith('.o') && statSync(path).size < MAX_CARVED_FILE && isElf(path)) {
      embeddedBpfObjects(new Uint8Array(readFileSync(path))).forEach((bytes, i) => {
        const object = join(carveDir, `${origin.replace(/\//g, '_')}.${i}.o`);
        mkdirSync(carveDir, { recursive: true });
        writeFileSync(object, bytes);
        out.push({ object, origin: `${origin}#${i}` });
      });
    }
  }
  return out;
}

function isElf(path: string): boolean {
  const magic = new Uint8Array(4);
  const fd = openSync(path, 'r');
  try {
    return readSync(fd, magic, 0, 4, 0) === 4 && magic[0] === 0x7f && magic[1] === 0x45 && magic[2] === 0x4c && magic[3] === 0x46;
  } finally {
    closeSync(fd);
  }
}

/**
 * Program types samples/bpf's scripts give sections whose names say none:
 * tc loads tcbpf1, test_cgrp2_tc and xdp2skb_meta's tc_mark as classifiers,
 * `ip route ... encap bpf out` loads lwt_len_hist.
 */
const SAMPLE_SECTION_TYPES: Readonly<Record<string, ProgramType>> = {
  redirect_xmit: ProgramType.SCHED_CLS,
  redirect_recv: ProgramType.SCHED_CLS,
  clone_redirect_xmit: ProgramType.SCHED_CLS,
  clone_redirect_recv: ProgramType.SCHED_CLS,
  filter: ProgramType.SCHED_CLS,
  tc_mark: ProgramType.SCHED_CLS,
  len_hist: ProgramType.LWT_OUT,
};

/** Reads one object (a path inside `cacheDir`) and judges each of its programs (`sectionTypes` types the sections its loader typed). */
function judgeObject(source: CorpusSource, file: string, cacheDir: string, path: string, compiled: boolean, out: ObjectCorpus, sectionTypes: Readonly<Record<string, ProgramType>> = {}): void {
  const object = relative(cacheDir, path);
  const fileRecord: FileRecord = { source, file, object, compiled, read: false, programs: 0 };
  out.files.push(fileRecord);
  let spec: CollectionSpec;
  try {
    spec = loadCollectionSpec(path);
  } catch (error) {
    fileRecord.error = `${(error as Error).name}: ${(error as Error).message}`;
    return;
  }
  fileRecord.read = true;
  const hostOrder = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 'little' : 'big';
  for (const [name, p] of Object.entries(spec.programs)) {
    fileRecord.programs++;
    const type = p.type === 0 && Object.hasOwn(sectionTypes, p.section) ? sectionTypes[p.section]! : p.type;
    const kernel =
      spec.byteOrder !== hostOrder
        ? { verdict: 'not-loadable' as const, reason: `${spec.byteOrder}-endian object on a ${hostOrder}-endian kernel`, btfDropped: false }
        : kernelVerdict(spec, name, type !== p.type ? { programType: type } : {});
    const record: ProgramRecord = {
      source,
      file,
      object,
      program: name,
      section: p.section,
      instructions: p.instructions.length,
      programType: type === 0 ? 'UNSPEC' : programTypeName(type),
      programFlags: 0,
      companions: [],
      kernel,
    };
    if (kernel.verdict === 'not-loadable') record.excluded = `not loadable here: ${kernel.reason}`;
    out.records.push(record);
  }
}

/** Objects shipped in Debian packages, downloaded and unpacked into the cache. */
export function buildDebianCorpus(cacheDir: string, downloadDir: string, packages: readonly string[] = DEBIAN_OBJECT_PACKAGES): ObjectCorpus {
  const out: ObjectCorpus = { files: [], records: [] };
  for (const pkg of packages) {
    const root = unpackDebianPackage(debianPackage(pkg, downloadDir), join(cacheDir, 'debian', pkg));
    for (const { object, origin } of findBpfObjects(root, join(cacheDir, 'debian', `${pkg}.embedded`))) judgeObject('debian', `${pkg}:/${origin}`, cacheDir, object, false, out);
  }
  return out;
}

/**
 * What the kernel build gives samples/bpf's `*_kern.c` and the tree's
 * headers do not: kernel integer types, a few socket constants and
 * compiler macros. (The Makefile builds them against the configured kernel
 * tree, which a source package does not have.)
 */
const KERN_SHIM = `#include <linux/types.h>
#include <stdbool.h>
typedef __u8 u8; typedef __u16 u16; typedef __u32 u32; typedef __u64 u64;
typedef __s8 s8; typedef __s16 s16; typedef __s32 s32; typedef __s64 s64;
#define TASK_COMM_LEN 16
#define AF_INET 2
#define AF_INET6 10
#define SOL_IP 0
#define SOL_SOCKET 1
#define SOL_TCP 6
#define SOL_IPV6 41
#define SO_SNDBUF 7
#define SO_RCVBUF 8
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define __force
#define memcpy __builtin_memcpy
#define htons __builtin_bswap16
#define ntohs __builtin_bswap16
#define htonl __builtin_bswap32
#define cpu_to_be32 __builtin_bswap32
#define max(a, b) ((a) > (b) ? (a) : (b))
`;

/** samples/bpf of the linux-source package: `*.bpf.c` against vmlinux.h, `*_kern.c` against UAPI headers. */
export async function buildSamplesCorpus(cacheDir: string, downloadDir: string, clang: string, parallel?: number): Promise<ObjectCorpus> {
  const tree = linuxSourceTree(cacheDir, downloadDir, KERNEL_TREE_PATTERNS);
  const include = prepareIncludeDir(tree, join(cacheDir, 'include'));
  const samples = join(tree, 'samples', 'bpf');
  const shimDir = join(cacheDir, 'samples-shim');
  mkdirSync(shimDir, { recursive: true });
  writeFileSync(join(shimDir, 'kern_shim.h'), KERN_SHIM);
  // <uapi/linux/...> as the kernel tree spells UAPI includes: the system's UAPI headers.
  if (!existsSync(join(shimDir, 'uapi'))) symlinkSync('/usr/include', join(shimDir, 'uapi'));
  const uapi = join(tree, 'tools', 'include', 'uapi');
  const selftests = join(tree, 'tools', 'testing', 'selftests', 'bpf');
  const jobs: CompileJob[] = readdirSync(samples)
    .filter((f) => f.endsWith('_kern.c') || f.endsWith('.bpf.c'))
    .sort()
    .map((f) => ({
      source: join(samples, f),
      output: join(cacheDir, 'build', 'samples', f.replace(/\.c$/, '.o')),
      args: f.endsWith('.bpf.c')
        ? baseClangArgs('v3', [include, uapi, samples, selftests])
        : [...baseClangArgs('v3', [shimDir, include, uapi, join(tree, 'tools', 'include'), samples, selftests]), '-include', join(shimDir, 'kern_shim.h')],
    }));
  const compiled = await compileAll(clang, jobs, parallel);
  const out: ObjectCorpus = { files: [], records: [] };
  for (const result of compiled) {
    const file = `samples/bpf/${result.job.source.split('/').pop()!}`;
    if (!result.ok) {
      out.files.push({ source: 'samples', file, compiled: false, read: false, programs: 0, error: result.error! });
      continue;
    }
    judgeObject('samples', file, cacheDir, result.job.output, true, out, SAMPLE_SECTION_TYPES);
  }
  return out;
}
