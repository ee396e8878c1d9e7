// The verifier's CPU time per corpus program beside the kernel's
// verification time for it (from the kernel's log when the corpus was
// built): every program is verified twice to warm V8 up, then the fastest
// of five `verify()` calls counts. CPU time (process.cpuUsage) and the
// fastest of five keep other load on a shared machine out of the figure,
// which bench/verifier.ts's wall-clock passes cannot; the kernel's figures
// are its own wall time for a load, so the ratio flatters us slightly.
// Run: node --import tsx bench/verifier-cpu.ts (needs .cache/verifier-corpus,
// as built by scripts/verifier-corpus.ts or bench/verifier.ts as root).
import { ProgramType } from '../src/uapi/index.ts';
import { loadTimeMaps, verify } from '../src/verifier/index.ts';
import { corpusProgram, readCorpusRecords } from '../test/support/verifier-corpus/index.ts';

const WARM_PASSES = 2;
const TIMED_CALLS = 5;

/** Maps as the loader gave them to the kernel, once per object. */
const mapsOfSpec = new WeakMap<object, ReturnType<typeof loadTimeMaps>>();
const jobs = readCorpusRecords()
  .filter((record) => record.kernel.verificationTimeUs)
  .map((record) => {
    const { spec, program } = corpusProgram(record);
    let maps = mapsOfSpec.get(spec);
    if (maps === undefined) mapsOfSpec.set(spec, (maps = loadTimeMaps(spec)));
    const type = program.type || (ProgramType as Record<string, number>)[record.programType];
    const options = { maps, logLevel: 0 as const, programFlags: record.programFlags, ...(type ? { type } : {}) };
    return { record, run: () => verify(program, options) };
  });

for (let pass = 0; pass < WARM_PASSES; pass++) for (const job of jobs) job.run();
const ratiosBySource = new Map<string, number[]>();
let totalUs = 0;
for (const job of jobs) {
  let fastestUs = Infinity;
  for (let call = 0; call < TIMED_CALLS; call++) {
    const before = process.cpuUsage();
    job.run();
    const used = process.cpuUsage(before);
    fastestUs = Math.min(fastestUs, used.user + used.system);
  }
  totalUs += fastestUs;
  const ratios = ratiosBySource.get(job.record.source) ?? [];
  ratios.push(fastestUs / job.record.kernel.verificationTimeUs!);
  ratiosBySource.set(job.record.source, ratios);
}
const quantile = (xs: number[], p: number): number => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
for (const [source, ratios] of ratiosBySource) {
  console.log(`${source.padEnd(10)} ${String(ratios.length).padStart(5)} programs, CPU time / kernel's time: median ${quantile(ratios, 0.5).toFixed(2)}x, p90 ${quantile(ratios, 0.9).toFixed(2)}x`);
}
console.log(`all programs: ${(totalUs / 1000).toFixed(0)} ms of CPU (fastest of ${TIMED_CALLS} calls each)`);
