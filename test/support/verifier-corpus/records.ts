/**
 * The corpus as data: one record per program (JSON Lines, one file per
 * source), one per input file, and a summary. This is what the verifier's
 * tests and benchmark read to compare `verify()` with the kernel.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { loadCollectionSpec } from '../../../src/object/index.ts';
import type { CollectionSpec, ProgramSpec } from '../../../src/object/index.ts';
import { ROOT } from '../env.ts';
import { CorpusSourceError } from './debian.ts';
import type { KernelVerdict } from './kernel-verdict.ts';

/** Where the corpus is built and cached (gitignored). */
export const DEFAULT_CORPUS_DIR = join(ROOT, '.cache', 'verifier-corpus');
/** Where its Debian packages are downloaded, shared by every corpus directory (the tests build theirs apart). */
export const DEFAULT_DOWNLOAD_DIR = join(ROOT, '.cache', 'debs');

export type CorpusSource = 'selftests' | 'samples' | 'debian';
export const CORPUS_SOURCES: readonly CorpusSource[] = ['selftests', 'samples', 'debian'];

/** What a selftest's annotations expect in privileged mode (the mode this corpus runs). */
export interface ExpectedVerdict {
  verdict: 'accept' | 'reject';
  /** `__msg()` patterns in order (`{{...}}` parts are regular expressions, as test_loader reads them). */
  messages: string[];
  retval?: number;
  description: string;
  /** `__log_level()`: 2 when the messages are register states only the level-2 log shows. */
  logLevel: number;
}

export interface ProgramRecord {
  source: CorpusSource;
  /** The input as its origin names it: a kernel tree path (tools/testing/selftests/bpf/progs/verifier_and.c) or `package:/path/in/package`. */
  file: string;
  /** The object loaded: the compiled or unpacked ELF file, relative to the corpus directory. */
  object: string;
  program: string;
  section: string;
  /** Program type name (SOCKET_FILTER, XDP...), UNSPEC when the section does not say. */
  programType: string;
  /** prog_flags the kernel load used (selftests: BPF_F_TEST_RND_HI32 | BPF_F_TEST_REG_INVARIANTS and `__flag()`s). */
  programFlags: number;
  /** Programs loaded beside this one (selftests' `__auxiliary` programs). */
  companions: string[];
  /** Map entries written before the program ran (prog_tests/verifier.c's pre-execution callbacks), value as hex. */
  mapContents?: { map: string; key: number; value: string }[];
  /** Selftests only: what the annotations expect. */
  expected?: ExpectedVerdict;
  kernel: Omit<KernelVerdict, 'log'>;
  /** The requested-level log (selftests with `__msg()`), relative to the corpus directory. */
  logFile?: string;
  /** Selftests with `__msg()`: whether the kernel's log has every expected message in order. */
  messagesMatched?: boolean;
  /** Selftests with `__retval()` the kernel accepted and ran: whether r0 of its test run is the expected value. */
  retvalMatched?: boolean;
  /** Instructions of the linked program (8-byte slots). */
  instructions: number;
  /** Why the record does not count for agreement (not loadable here, custom BTF, other architecture...). */
  excluded?: string;
  /** Selftests, when not excluded: the kernel's verdict equals the annotation's. */
  agrees?: boolean;
}

export interface FileRecord {
  source: CorpusSource;
  file: string;
  object?: string;
  compiled: boolean;
  /** loadCollectionSpec read it. */
  read: boolean;
  programs: number;
  /** clang's or the loader's error. */
  error?: string;
}

export interface SourceSummary {
  files: number;
  compiled: number;
  read: number;
  programs: number;
  /** Programs the kernel judged (accepted or rejected by the verifier). */
  loaded: number;
  accepted: number;
  rejected: number;
  notLoadable: number;
  /** Selftests: records counted for agreement, and how many agree. */
  compared?: number;
  agreeing?: number;
  excluded?: number;
  /** Selftests with `__msg()` and a kernel verdict: how many logs matched every message. */
  withMessages?: number;
  messagesMatched?: number;
  /** Selftests with `__retval()` that ran: how many returned the expected value. */
  withRetval?: number;
  retvalMatched?: number;
  /** Unprivileged variants not run (kernel.unprivileged_bpf_disabled, and the corpus runs as root). */
  unprivilegedNotRun?: number;
}

export function summarize(files: readonly FileRecord[], records: readonly ProgramRecord[], unprivilegedNotRun?: number): SourceSummary {
  const judged = records.filter((r) => r.kernel.verdict !== 'not-loadable');
  const summary: SourceSummary = {
    files: files.length,
    compiled: files.filter((f) => f.compiled).length,
    read: files.filter((f) => f.read).length,
    programs: records.length,
    loaded: judged.length,
    accepted: judged.filter((r) => r.kernel.verdict === 'accepted').length,
    rejected: judged.filter((r) => r.kernel.verdict === 'rejected').length,
    notLoadable: records.length - judged.length,
  };
  if (records.some((r) => r.expected !== undefined)) {
    const compared = records.filter((r) => r.agrees !== undefined);
    summary.compared = compared.length;
    summary.agreeing = compared.filter((r) => r.agrees).length;
    summary.excluded = records.filter((r) => r.excluded !== undefined).length;
    const withMessages = records.filter((r) => r.messagesMatched !== undefined);
    summary.withMessages = withMessages.length;
    summary.messagesMatched = withMessages.filter((r) => r.messagesMatched).length;
    const withRetval = records.filter((r) => r.retvalMatched !== undefined);
    summary.withRetval = withRetval.length;
    summary.retvalMatched = withRetval.filter((r) => r.retvalMatched).length;
    if (unprivilegedNotRun !== undefined) summary.unprivilegedNotRun = unprivilegedNotRun;
  }
  return summary;
}

export const recordsPath = (dir: string, source: CorpusSource): string => join(dir, `${source}.programs.jsonl`);
export const filesPath = (dir: string, source: CorpusSource): string => join(dir, `${source}.files.jsonl`);
export const summaryPath = (dir: string): string => join(dir, 'summary.json');

function writeJsonLines(path: string, rows: readonly object[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length > 0 ? '\n' : ''));
}

export function writeSourceRecords(dir: string, source: CorpusSource, files: readonly FileRecord[], records: readonly ProgramRecord[]): void {
  writeJsonLines(filesPath(dir, source), files);
  writeJsonLines(recordsPath(dir, source), records);
}

function readJsonLines<T>(path: string): T[] {
  if (!existsSync(path)) throw new CorpusSourceError(`${path} does not exist: build the corpus first (node --import tsx scripts/verifier-corpus.ts)`);
  const rows: T[] = [];
  readFileSync(path, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        rows.push(JSON.parse(line) as T);
      } catch (err) {
        throw new CorpusSourceError(`${path}:${i + 1}: not JSON: ${(err as Error).message}`);
      }
    });
  return rows;
}

/** The program records of a built corpus (every source present by default). */
export function readCorpusRecords(dir: string = DEFAULT_CORPUS_DIR, sources: readonly CorpusSource[] = CORPUS_SOURCES.filter((s) => existsSync(recordsPath(dir, s)))): ProgramRecord[] {
  return sources.flatMap((s) => readJsonLines<ProgramRecord>(recordsPath(dir, s)));
}

export function readCorpusFiles(dir: string = DEFAULT_CORPUS_DIR, source: CorpusSource): FileRecord[] {
  return readJsonLines<FileRecord>(filesPath(dir, source));
}

/** Loaded specs by object path, per loader. */
const specCaches = new WeakMap<typeof loadCollectionSpec, Map<string, CollectionSpec>>();

/**
 * The spec and program a record describes (its object under the corpus
 * directory `dir`, with the map contents the record's test ran with),
 * ready for `verify()` or a backend: each object is read once and cached.
 * `load` is the object loader (a built package's, so that its `verify` gets
 * specs made by the same modules).
 */
export function corpusProgram(record: ProgramRecord, dir: string = DEFAULT_CORPUS_DIR, load: typeof loadCollectionSpec = loadCollectionSpec): { spec: CollectionSpec; program: ProgramSpec } {
  const path = join(dir, record.object);
  let specCache = specCaches.get(load);
  if (specCache === undefined) specCaches.set(load, (specCache = new Map()));
  let spec = specCache.get(path);
  if (spec === undefined) {
    spec = load(path);
    specCache.set(path, spec);
    for (const { map, key, value } of record.mapContents ?? []) spec.maps[map]?.contents.push({ key, value: Uint8Array.from(Buffer.from(value, 'hex')) });
  }
  const program = spec.programs[record.program];
  if (program === undefined) throw new CorpusSourceError(`${path} has no program '${record.program}' (rebuild the corpus)`);
  return { spec, program };
}
