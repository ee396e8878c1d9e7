// tsbpf's verifier against the kernel's on the reference corpus (the
// kernel's verifier selftests, samples/bpf and BPF objects shipped in
// Debian packages): verdict agreement, unsafe accepts, how often the
// rejection message is the kernel's, and per program the verification time
// and processed instructions beside the kernel's own figures (its log's
// stats line), with the ratios. Times are taken twice: in a first pass
// (each program verified once, the JIT warming up along the way) and in a
// second pass over the same programs (warm).
//
// The verifier timed is the package as users run it: src compiled by tsc
// (bench/support/built.ts), which loads the objects too. Run through tsx, the
// same code is slower (esbuild's keepNames wraps every closure it creates).
//
// As root the corpus is rebuilt first, so the kernel's figures come from
// this run; `--cached` reuses .cache/verifier-corpus (as built by
// scripts/verifier-corpus.ts). `--source selftests,samples,debian` narrows it.
import { buildVerifier } from './support/built.ts';
import {
  type AgreementReport,
  type CorpusSource,
  type VerifyFunction,
  CORPUS_SOURCES,
  DEFAULT_CORPUS_DIR,
  buildVerifierCorpus,
  corpusProgram,
  measureAgreement,
  quantiles,
  readCorpusRecords,
} from '../test/support/verifier-corpus/index.ts';

const args = process.argv.slice(2);
const cached = args.includes('--cached');
const sourceArg = args[args.indexOf('--source') + 1];
const sources = (args.includes('--source') && sourceArg ? sourceArg.split(',') : CORPUS_SOURCES) as CorpusSource[];
const root = typeof process.getuid === 'function' && process.getuid() === 0;

if (!cached) {
  if (!root) {
    console.error('bench/verifier: loading the corpus into the kernel needs root; run as root or pass --cached');
    process.exit(2);
  }
  const started = Date.now();
  await buildVerifierCorpus({ sources });
  console.log(`kernel verdicts for the corpus: ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

const { ProgramType, loadTimeMaps, verify, loadCollectionSpec } = await buildVerifier();
const load = (record: Parameters<typeof corpusProgram>[0]): ReturnType<typeof corpusProgram> => corpusProgram(record, DEFAULT_CORPUS_DIR, loadCollectionSpec);

/** Maps as the loader gave them to the kernel (.kconfig filled), once per object. */
const loadedMaps = new WeakMap<object, ReturnType<typeof loadTimeMaps>>();
const mapsOf = (spec: Parameters<typeof loadTimeMaps>[0]): ReturnType<typeof loadTimeMaps> => {
  let maps = loadedMaps.get(spec);
  if (maps === undefined) loadedMaps.set(spec, (maps = loadTimeMaps(spec)));
  return maps;
};
const pct = (a: number, b: number): string => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);
const verifyRecord: VerifyFunction = (program, spec, record) => {
  const type = program.type || (ProgramType as Record<string, number>)[record.programType];
  const result = verify(program, { maps: mapsOf(spec), logLevel: 0, programFlags: record.programFlags, ...(type ? { type } : {}) });
  return { accepted: result.accepted, processedInsns: result.processedInsns, verificationTimeUs: result.verificationTimeUs, ...(result.error ? { error: { message: result.error.message.split('\n').at(-1)!, insnIndex: result.error.insnIndex } } : {}) };
};
const ratios = (report: AgreementReport): string => (report.timeRatio ? `${report.timeRatio.median.toFixed(2)}x, ${report.timeRatio.p90.toFixed(2)}x` : '-');

// First pass: each program verified once, as a tool verifying one object does (the JIT warms up along the way).
console.log('source      programs  agree           unsafe-accepts  false-rejects  kernel-message     time ours/kernel (median, p90)  processed ratio (median)');
for (const source of sources) {
  const report = measureAgreement(readCorpusRecords(undefined, [source]), load, verifyRecord);
  const processed = report.processedRatio ? `${report.processedRatio.median.toFixed(2)}` : '-';
  console.log(
    `${source.padEnd(11)} ${String(report.compared).padStart(8)}  ${`${report.agreeing} ${pct(report.agreeing, report.compared)}`.padEnd(15)} ${String(report.unsafeAccepts).padStart(14)}  ${String(report.falseRejects).padStart(13)}  ${`${report.kernelMessage}/${report.rejectionsCompared}`.padEnd(18)} ${ratios(report).padEnd(31)} ${processed}`,
  );
}
// Three more passes over the same programs in the same process (the JIT warm, as for a long-running user such as
// loadVmCollection in a service): per program the median of its three times, so that one slow run does not decide it.
// Each time is still the program's first verification since the last pass, as the kernel's figure is its only one.
const WARM_PASSES = 3;
console.log(`\nwarm (passes 2-${WARM_PASSES + 1}, per program the median of its ${WARM_PASSES} times)    time ours/kernel (median, p90)`);
for (const source of sources) {
  const records = readCorpusRecords(undefined, [source]);
  const passes = Array.from({ length: WARM_PASSES }, () => measureAgreement(records, load, verifyRecord).timeRatios);
  const perProgram = passes[0]!.map((_, k) => passes.map((ratios) => ratios[k]!).sort((a, b) => a - b)[WARM_PASSES >> 1]!);
  const warm = quantiles(perProgram);
  console.log(`${source.padEnd(25)} ${warm ? `${warm.median.toFixed(2)}x, ${warm.p90.toFixed(2)}x` : '-'}`);
}
