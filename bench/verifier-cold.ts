// What a `tsbpf verify FILE.o` user sees: one fresh process per object.
// For each samples/bpf and Debian object of the verifier corpus (see
// docs/verifier-corpus.md), spawns the compiled CLI (`tsbpf verify FILE.o
// --json`, built once by tsc as the package ships it) and compares each
// program's verificationTimeUs with the kernel's own figure for it (its
// verifier log's stats line, recorded in the corpus), program by program.
// Prints ours/kernel median and p90 over every program, over the first
// program of each process, and the process's wall time.
//
// Run: node --import tsx bench/verifier-cold.ts [--source samples,debian] [--limit N] [--package DIR]
// (--package: time another checkout's compiled package on the same corpus, e.g. before and after a change).
// The in-process figures of the same programs are bench/verifier.ts's.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type CorpusSource, type ProgramRecord, DEFAULT_CORPUS_DIR, readCorpusRecords } from '../test/support/verifier-corpus/index.ts';
import { buildPackage } from './support/built.ts';

const args = process.argv.slice(2);
const option = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const sources = (option('--source')?.split(',') ?? ['samples', 'debian']) as CorpusSource[];
const limit = Number(option('--limit') ?? Infinity);

interface CliResult {
  program: string;
  accepted: boolean;
  processedInsns: number;
  verificationTimeUs: number;
}

const quantile = (values: readonly number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const summary = (values: readonly number[], unit = 'x'): string =>
  values.length === 0 ? '-' : `${quantile(values, 0.5).toFixed(2)}${unit}, ${quantile(values, 0.9).toFixed(2)}${unit} (${values.length})`;

/** Records the kernel judged and timed, by object, in corpus order. */
function objectsOf(source: CorpusSource): Map<string, ProgramRecord[]> {
  const byObject = new Map<string, ProgramRecord[]>();
  for (const record of readCorpusRecords(DEFAULT_CORPUS_DIR, [source])) {
    if (record.kernel.verdict === 'not-loadable' || record.excluded !== undefined || !(record.kernel.verificationTimeUs! > 0)) continue;
    const list = byObject.get(record.object) ?? [];
    list.push(record);
    byObject.set(record.object, list);
  }
  return byObject;
}

const built = buildPackage(option('--package'));

/** `tsbpf verify ARGS --json` in a fresh process (its wall time added to `walls`), or undefined when the CLI refuses the arguments. */
function verifyFresh(cliArgs: string[], walls: number[]): CliResult[] | undefined {
  const started = performance.now();
  const run = spawnSync(process.execPath, built.cli(['verify', ...cliArgs, '--json']), { encoding: 'utf8', maxBuffer: 64 << 20 });
  const wall = performance.now() - started;
  if (run.status === 2 && /names no program type/.test(run.stderr)) return undefined;
  if (run.status !== 0 && run.status !== 1) throw new Error(`tsbpf verify ${cliArgs.join(' ')} exited ${run.status}: ${run.stderr}`);
  walls.push(wall);
  return run.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as CliResult);
}
try {
  console.log(`node ${process.version}; each object verified by a fresh 'tsbpf verify FILE.o --json' (compiled package)`);
  console.log('source     objects  programs  all ours/kernel (median, p90)   first of each process         process wall ms (median, p90)  processed ratio');
  for (const source of sources) {
    const all: number[] = [];
    const first: number[] = [];
    const walls: number[] = [];
    const processed: number[] = [];
    let objects = 0;
    const disagreeing: string[] = [];
    for (const [object, records] of objectsOf(source)) {
      if (objects >= limit) break;
      objects++;
      let results = verifyFresh([join(DEFAULT_CORPUS_DIR, object)], walls);
      // An object with a program of an unknown section type is refused whole: then one process per program.
      if (results === undefined) results = records.flatMap((r) => verifyFresh([join(DEFAULT_CORPUS_DIR, object), '--program', r.program], walls) ?? []);
      const byName = new Map(results.map((r) => [r.program, r]));
      records.forEach((record) => {
        const ours = byName.get(record.program);
        if (ours === undefined) return;
        if (ours.accepted !== (record.kernel.verdict === 'accepted')) disagreeing.push(`${object}:${record.program}`);
        const ratio = ours.verificationTimeUs / record.kernel.verificationTimeUs!;
        all.push(ratio);
        if (ours === results[0]) first.push(ratio);
        if (record.kernel.processedInsns! > 0) processed.push(ours.processedInsns / record.kernel.processedInsns!);
      });
    }
    console.log(
      `${source.padEnd(10)} ${String(objects).padStart(7)}  ${String(all.length).padStart(8)}  ${summary(all).padEnd(30)} ${summary(first).padEnd(29)} ${summary(walls, '').padEnd(30)} ${processed.length > 0 ? quantile(processed, 0.5).toFixed(2) : '-'}${disagreeing.length > 0 ? `  verdicts differing from the kernel's record: ${disagreeing.join(', ')}` : ''}`,
    );
  }
} finally {
  built.remove();
}
