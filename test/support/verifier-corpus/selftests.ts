/**
 * The kernel's verifier selftests (tools/testing/selftests/bpf/progs/
 * verifier_*.c of Debian's linux-source package) as a corpus: compiled per
 * selftest flavour (test_progs with -mcpu=v3, test_progs-cpuv4 with v4),
 * each program loaded into the running kernel as test_loader.c would load it
 * (its `__flag()`s and the default testing flags, its `__auxiliary`
 * companions, maps created, BTF dropped when the kernel refuses it), its
 * verdict compared with the annotations.
 */
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { loadCollectionSpec } from '../../../src/object/index.ts';
import type { CollectionSpec } from '../../../src/object/index.ts';
import { programTypeName } from '../../../src/uapi/enums.ts';
import { POINTER_RETVAL, type TestAnnotations, firstUnmatchedMessage, parseTestAnnotations } from './annotations.ts';
import { type CompileJob, baseClangArgs, compileAll, prepareIncludeDir } from './compile.ts';
import { KERNEL_TREE_PATTERNS, linuxSourceTree } from './debian.ts';
import { kernelVerdict } from './kernel-verdict.ts';
import type { FileRecord, ProgramRecord } from './records.ts';

export const SELFTESTS_DIR = 'tools/testing/selftests/bpf';

export type SelftestCpu = 'v3' | 'v4';

export interface SelftestCorpusOptions {
  cacheDir: string;
  /** Where Debian packages are downloaded (shared by corpus directories). */
  downloadDir: string;
  clang: string;
  /** Only these files (names like `verifier_and.c`); all verifier_*.c by default. */
  files?: readonly string[];
  /** Flavours to build: v3 is test_progs, v4 is test_progs-cpuv4 (default both). */
  cpus?: readonly SelftestCpu[];
  parallel?: number;
  progress?: (line: string) => void;
}

export interface SelftestCorpus {
  files: FileRecord[];
  records: ProgramRecord[];
  unprivilegedNotRun: number;
}

/**
 * Maps prog_tests/verifier.c fills before running a file's `__retval()`
 * tests (init_test_val_map): key 0 holds struct test_val { u32 index =
 * 7 * sizeof(int); int foo[11], foo[6] = 0xabcdef12 }. The verifier does
 * not see the contents (the maps are not frozen); only the test runs do.
 */
const PRE_EXECUTION_MAPS: Readonly<Record<string, string>> = {
  'verifier_array_access.c': 'map_array_ro',
  'verifier_value_ptr_arith.c': 'map_array_48b',
};

function testValValue(): Uint8Array {
  const value = new Uint8Array(4 + 11 * 4);
  const view = new DataView(value.buffer);
  view.setUint32(0, 7 * 4, true);
  view.setInt32(4 + 6 * 4, 0xabcdef12 | 0, true);
  return value;
}

const HOST_ARCH = process.arch === 'arm64' ? 'ARM64' : process.arch === 'riscv64' ? 'RISCV64' : 'X86_64';

/** Why a test's kernel verdict cannot be compared with its annotation on this machine, if it cannot. */
function exclusionReason(annotations: TestAnnotations): string | undefined {
  if (annotations.arches.length > 0 && !annotations.arches.includes(HOST_ARCH)) return `for ${annotations.arches.join('/')} only`;
  if (annotations.btfPath !== undefined) return `needs the custom BTF ${annotations.btfPath} for CO-RE (__btf_path), which the corpus does not build`;
  return undefined;
}

function judge(spec: CollectionSpec, object: string, file: string, program: string, annotations: TestAnnotations, companions: string[], cacheDir: string, logDir: string): ProgramRecord {
  const expected = annotations.privileged!;
  const p = spec.programs[program]!;
  const logLevel = expected.messages.length > 0 ? (Math.max(1, annotations.logLevel & 3) as 1 | 2) : undefined;
  const verdict = kernelVerdict(spec, program, { companions, programFlags: annotations.programFlags, testRun: expected.retval !== undefined, ...(logLevel !== undefined ? { logLevel } : {}) });
  const { log, ...kernel } = verdict;
  const record: ProgramRecord = {
    source: 'selftests',
    file,
    object,
    program,
    section: p.section,
    instructions: p.instructions.length,
    programType: p.type === 0 ? 'UNSPEC' : programTypeName(p.type),
    programFlags: annotations.programFlags,
    companions,
    expected: { verdict: expected.verdict, messages: expected.messages.map((m) => m.text), description: annotations.description, logLevel: annotations.logLevel },
    kernel,
  };
  if (expected.retval !== undefined) {
    record.expected!.retval = expected.retval;
    if (verdict.retval !== undefined) record.retvalMatched = expected.retval === POINTER_RETVAL || verdict.retval === expected.retval;
  }
  if (log !== undefined && verdict.verdict !== 'not-loadable') {
    const logPath = join(logDir, `${program}.log`);
    mkdirSync(dirname(logPath), { recursive: true });
    writeFileSync(logPath, log);
    record.logFile = relative(cacheDir, logPath);
    record.messagesMatched = firstUnmatchedMessage(log, expected.messages) < 0;
  }
  const excluded = exclusionReason(annotations) ?? (verdict.verdict === 'not-loadable' ? `not loadable here: ${verdict.reason}` : undefined);
  if (excluded !== undefined) record.excluded = excluded;
  else record.agrees = (verdict.verdict === 'accepted') === (expected.verdict === 'accept');
  return record;
}

/** Builds (or reuses) the objects and judges every program. */
export async function buildSelftestCorpus(options: SelftestCorpusOptions): Promise<SelftestCorpus> {
  const say = options.progress ?? (() => {});
  const tree = linuxSourceTree(options.cacheDir, options.downloadDir, KERNEL_TREE_PATTERNS);
  const include = prepareIncludeDir(tree, join(options.cacheDir, 'include'));
  const selftests = join(tree, SELFTESTS_DIR);
  const wanted = options.files;
  const sources = readdirSync(join(selftests, 'progs'))
    .filter((f) => /^verifier_.*\.c$/.test(f) && (wanted === undefined || wanted.includes(f)))
    .sort();
  const cpus = options.cpus ?? ['v3', 'v4'];
  const jobs: CompileJob[] = cpus.flatMap((cpu) =>
    sources.map((f) => ({
      source: join(selftests, 'progs', f),
      output: join(options.cacheDir, 'build', `selftests-${cpu}`, f.replace(/\.c$/, '.o')),
      args: [...baseClangArgs(cpu, [include, join(tree, 'tools', 'include', 'uapi'), selftests]), '-DENABLE_ATOMICS_TESTS'],
    })),
  );
  say(`selftests: compiling ${jobs.length} objects (${sources.length} files x ${cpus.join(', ')})`);
  const compiled = await compileAll(options.clang, jobs, options.parallel);
  const out: SelftestCorpus = { files: [], records: [], unprivilegedNotRun: 0 };
  for (const result of compiled) {
    const cpu = result.job.output.includes('selftests-v4') ? 'v4' : 'v3';
    const file = `${SELFTESTS_DIR}/progs/${result.job.source.split('/').pop()!} (-mcpu=${cpu})`;
    const fileRecord: FileRecord = { source: 'selftests', file, compiled: result.ok, read: false, programs: 0 };
    out.files.push(fileRecord);
    if (!result.ok) {
      fileRecord.error = result.error!;
      continue;
    }
    fileRecord.object = relative(options.cacheDir, result.job.output);
    let spec: CollectionSpec;
    try {
      spec = loadCollectionSpec(result.job.output);
    } catch (error) {
      fileRecord.error = `${(error as Error).name}: ${(error as Error).message}`;
      continue;
    }
    fileRecord.read = true;
    const sourceName = result.job.source.split('/').pop()!;
    const prefilled = PRE_EXECUTION_MAPS[sourceName];
    const mapContents = prefilled !== undefined && spec.maps[prefilled] !== undefined ? [{ map: prefilled, key: 0, value: testValValue() }] : [];
    for (const { map, key, value } of mapContents) spec.maps[map]!.contents.push({ key, value });
    const annotations = new Map<string, TestAnnotations>();
    for (const name of Object.keys(spec.programs)) {
      try {
        annotations.set(name, parseTestAnnotations(spec.btf!, name));
      } catch (error) {
        fileRecord.error = `${(error as Error).name}: ${(error as Error).message}`;
      }
    }
    const companions = [...annotations].filter(([, a]) => a.auxiliary && a.privileged !== undefined).map(([name]) => name);
    const logDir = join(options.cacheDir, 'logs', `selftests-${cpu}`, sourceName.replace(/\.c$/, ''));
    for (const [name, a] of annotations) {
      if (a.unprivileged !== undefined && !a.auxiliary) out.unprivilegedNotRun++;
      if (a.auxiliary || a.privileged === undefined) continue;
      fileRecord.programs++;
      const record = judge(spec, fileRecord.object, file, name, a, companions, options.cacheDir, logDir);
      if (mapContents.length > 0) record.mapContents = mapContents.map(({ map, key, value }) => ({ map, key, value: Buffer.from(value).toString('hex') }));
      out.records.push(record);
    }
  }
  return out;
}
