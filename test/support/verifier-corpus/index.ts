/**
 * The verifier's reference corpus: the kernel's verifier selftests, the
 * kernel's samples/bpf and BPF objects shipped in Debian packages, each
 * program with the running kernel's verdict and figures (and, for the
 * selftests, what their annotations expect). `buildVerifierCorpus` makes
 * it under .cache/verifier-corpus; `readCorpusRecords` and `corpusProgram`
 * give it to the verifier's tests and benchmark. docs/verifier-corpus.md
 * describes the records.
 */
import { findClang } from '../env.ts';
import { CorpusSourceError } from './debian.ts';
import { buildDebianCorpus, buildSamplesCorpus } from './objects.ts';
import { type CorpusSource, DEFAULT_CORPUS_DIR, DEFAULT_DOWNLOAD_DIR, type FileRecord, type ProgramRecord, type SourceSummary, summarize, summaryPath, writeSourceRecords } from './records.ts';
import { type SelftestCpu, buildSelftestCorpus } from './selftests.ts';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

export * from './records.ts';
export { annotationsFromTags, compileExpectedMessage, firstUnmatchedMessage, parseTestAnnotations, type TestAnnotations } from './annotations.ts';
export { parseVerifierLog, type ParsedVerifierLog } from './kernel-log.ts';
export { kernelVerdict, type KernelVerdict } from './kernel-verdict.ts';
export { CorpusSourceError } from './debian.ts';
export { measureAgreement, quantiles, type AgreementReport, type Disagreement, type VerifierOutcome, type VerifyFunction } from './agreement.ts';

export interface BuildCorpusOptions {
  /** Default .cache/verifier-corpus in the repository. */
  cacheDir?: string;
  /** Default .cache/debs in the repository. */
  downloadDir?: string;
  /** Default every source. */
  sources?: readonly CorpusSource[];
  /** Selftest files to build (`verifier_and.c`...); default all. */
  selftestFiles?: readonly string[];
  /** Selftest flavours (default v3 and v4). */
  selftestCpus?: readonly SelftestCpu[];
  /** Concurrent clang processes (default min(2, cores)). */
  parallel?: number;
  progress?: (line: string) => void;
}

export interface CorpusBuild {
  records: ProgramRecord[];
  files: FileRecord[];
  summary: Partial<Record<CorpusSource, SourceSummary>>;
}

/** Builds the corpus (compiling and unpacking only what the cache lacks), loads every program into the kernel and writes the records. */
export async function buildVerifierCorpus(options: BuildCorpusOptions = {}): Promise<CorpusBuild> {
  const cacheDir = options.cacheDir ?? DEFAULT_CORPUS_DIR;
  const downloadDir = options.downloadDir ?? DEFAULT_DOWNLOAD_DIR;
  const sources = options.sources ?? ['selftests', 'samples', 'debian'];
  const clang = findClang();
  if (clang === undefined && sources.some((s) => s !== 'debian')) throw new CorpusSourceError('no clang >= 18 with the BPF target (apt-get install clang-19)');
  const say = options.progress ?? (() => {});
  const build: CorpusBuild = { records: [], files: [], summary: {} };
  mkdirSync(cacheDir, { recursive: true });
  for (const source of sources) {
    const started = Date.now();
    let part: { files: FileRecord[]; records: ProgramRecord[]; unprivilegedNotRun?: number };
    if (source === 'selftests') {
      part = await buildSelftestCorpus({ cacheDir, downloadDir, clang: clang!, ...(options.selftestFiles ? { files: options.selftestFiles } : {}), ...(options.selftestCpus ? { cpus: options.selftestCpus } : {}), ...(options.parallel ? { parallel: options.parallel } : {}), progress: say });
    } else if (source === 'samples') {
      part = await buildSamplesCorpus(cacheDir, downloadDir, clang!, options.parallel);
    } else {
      part = buildDebianCorpus(cacheDir, downloadDir);
    }
    writeSourceRecords(cacheDir, source, part.files, part.records);
    build.records.push(...part.records);
    build.files.push(...part.files);
    build.summary[source] = summarize(part.files, part.records, part.unprivilegedNotRun);
    say(`${source}: ${JSON.stringify(build.summary[source])} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  // Sources not rebuilt this time keep their figures.
  const previous = existsSync(summaryPath(cacheDir)) ? (JSON.parse(readFileSync(summaryPath(cacheDir), 'utf8')) as CorpusBuild['summary']) : {};
  writeFileSync(summaryPath(cacheDir), `${JSON.stringify({ ...previous, ...build.summary }, null, 2)}\n`);
  return build;
}
