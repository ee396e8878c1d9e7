// tsbpf's verifier and the kernel's on the same programs under the same
// cache conditions, in one run (as root): back to back (the program
// verified again at once, as a tight loop does) and cold (after a pause
// long enough for the machine to evict what the last verification left in
// the CPU caches; 20 ms is enough on the VMs this is developed on). Prints
// ours/kernel median and p90 for each condition, and how much slower each
// verifier is cold than back to back.
//
// bench/verifier.ts compares our passes with the kernel's one load per
// program during the corpus build, where each verification follows
// another program's: between these two conditions. This benchmark tells
// computation (back to back) from memory traffic (cold).
//
// Run: node --import tsx bench/verifier-cache.ts [--programs N] [--pause MS] [--verbose]
// (--verbose: each program's four times in µs).
// (needs root and .cache/verifier-corpus, as built by scripts/verifier-corpus.ts).
import { buildVerifier } from './support/built.ts';
import { DEFAULT_CORPUS_DIR, corpusProgram, kernelVerdict, readCorpusRecords } from '../test/support/verifier-corpus/index.ts';

const args = process.argv.slice(2);
const option = (name: string, fallback: number): number => {
  if (!args.includes(name)) return fallback;
  const value = Number(args[args.indexOf(name) + 1]);
  if (!Number.isFinite(value) || value <= 0) {
    console.error(`bench/verifier-cache: ${name} needs a positive number`);
    process.exit(2);
  }
  return value;
};
const sampleSize = option('--programs', 90);
const pauseMs = option('--pause', 20);
const RUNS = 5;

if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
  console.error('bench/verifier-cache: loading programs into the kernel needs root');
  process.exit(2);
}

const { ProgramType, loadTimeMaps, verify, loadCollectionSpec } = await buildVerifier();

const prepare = (record: (typeof timed)[number]) => {
  const { spec, program } = corpusProgram(record, DEFAULT_CORPUS_DIR, loadCollectionSpec);
  const type = (ProgramType as Record<string, number>)[record.programType] ?? 0;
  const options = { maps: loadTimeMaps(spec), logLevel: 0 as const, programFlags: record.programFlags, ...(type ? { type } : {}) };
  return { record, program, type, ours: (): number => verify(program, options).verificationTimeUs };
};
const timed = readCorpusRecords().filter((r) => r.excluded === undefined && r.kernel.verdict !== 'not-loadable' && (r.kernel.verificationTimeUs ?? 0) > 0);
const all = timed.map(prepare);
// Every k-th program the kernel timed, over all sources in corpus order (small and large alike).
const step = Math.max(1, Math.floor(all.length / sampleSize));
const jobs = all
  .filter((_, i) => i % step === 0)
  .slice(0, sampleSize)
  .map(({ record, program, type, ours }) => {
    // The kernel loads the same object through tsbpf's loader (its own copy: the corpus helpers import src).
    const { spec: kernelSpec } = corpusProgram(record);
    const kernelOptions = { companions: record.companions, programFlags: record.programFlags, ...(type && type !== program.type ? { programType: type } : {}) };
    return {
      name: `${record.source}:${record.program}`,
      ours,
      kernel: (): number => {
        const time = kernelVerdict(kernelSpec, record.program, kernelOptions).verificationTimeUs;
        if (time === undefined) throw new Error(`bench/verifier-cache: the kernel gave no verification time for ${record.source}:${record.program}`);
        return time;
      },
    };
  });

const pauseCell = new Int32Array(new SharedArrayBuffer(4));
/** Sleeps without spinning, so that the other work on the machine runs and takes the caches, as it does between loads. */
const pause = (): void => void Atomics.wait(pauseCell, 0, 0, pauseMs);
const median = (values: number[]): number => values.sort((a, b) => a - b)[values.length >> 1]!;
const quantile = (values: number[], q: number): number => values.sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;
/** The first run warms the caches; the median of the next ones is the back-to-back time. */
const backToBack = (run: () => number): number => {
  run();
  return median(Array.from({ length: RUNS }, run));
};
const cold = (run: () => number): number => median(Array.from({ length: RUNS }, () => (pause(), run())));

// V8 optimises the verifier first, over the whole corpus, as bench/verifier.ts's first pass and warm passes do.
for (let pass = 0; pass < 4; pass++) for (const { ours } of all) ours();

const rows = jobs.map((job) => ({ ourWarm: backToBack(job.ours), kernelWarm: backToBack(job.kernel), ourCold: cold(job.ours), kernelCold: cold(job.kernel) }));
if (args.includes('--verbose')) jobs.forEach((job, i) => console.log(`${job.name}: ${JSON.stringify(rows[i])}`));
const show = (label: string, values: number[]): string => `${label} ${quantile(values, 0.5).toFixed(2)}x, ${quantile(values, 0.9).toFixed(2)}x`;
console.log(`${jobs.length} programs of the corpus, ${RUNS} runs each, ${pauseMs} ms pause before each cold run; median, p90`);
console.log(show('back to back  ours/kernel', rows.map((r) => r.ourWarm / r.kernelWarm)));
console.log(show('cold          ours/kernel', rows.map((r) => r.ourCold / r.kernelCold)));
console.log(show('cold/back to back   ours', rows.map((r) => r.ourCold / r.ourWarm)));
console.log(show('cold/back to back kernel', rows.map((r) => r.kernelCold / r.kernelWarm)));
