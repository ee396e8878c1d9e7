/**
 * How a verifier's verdicts compare with the kernel's on corpus records:
 * the figures issue 9 sets goals for (verdict agreement, unsafe accepts,
 * the kernel's message on rejections, time ratios). The verifier is passed
 * in as a function, so this needs nothing of src/verifier.
 */
import type { CollectionSpec, ProgramSpec } from '../../../src/object/index.ts';
import type { ProgramRecord } from './records.ts';

/** What a verifier says about one program (the fields of `VerifyResult` compared here). */
export interface VerifierOutcome {
  accepted: boolean;
  processedInsns?: number;
  verificationTimeUs?: number;
  error?: { insnIndex?: number; message: string };
}

/** Verifies `program` (from `spec`, as the record describes it). */
export type VerifyFunction = (program: ProgramSpec, spec: CollectionSpec, record: ProgramRecord) => VerifierOutcome;

export interface Disagreement {
  record: ProgramRecord;
  outcome: VerifierOutcome;
  /** `unsafe-accept`: the kernel rejected and the verifier accepted; `false-reject` the other way; `threw`: the verifier failed. */
  kind: 'unsafe-accept' | 'false-reject' | 'threw';
  detail?: string;
}

export interface AgreementReport {
  /** Records with a kernel verdict (accepted or rejected) that were verified. */
  compared: number;
  agreeing: number;
  /** Kernel rejected, verifier accepted: must be 0. */
  unsafeAccepts: number;
  falseRejects: number;
  threw: number;
  /** Rejections both agree on, and how many of those carry the kernel's message (equal to its last line, or one of its diagnostic lines). */
  rejectionsCompared: number;
  kernelMessage: number;
  /** verifier time / kernel time, over records where both are known and the kernel's is above 0. */
  timeRatio?: { median: number; p90: number; count: number };
  /** The ratios `timeRatio` summarises, in record order (the same records on every run over the same list). */
  timeRatios: number[];
  /** verifier processed instructions / kernel's, same selection. */
  processedRatio?: { median: number; p90: number; count: number };
  disagreements: Disagreement[];
}

export function quantiles(values: readonly number[]): { median: number; p90: number; count: number } | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { median: at(0.5), p90: at(0.9), count: sorted.length };
}

/**
 * Runs `verify` on every record the kernel judged (records the kernel could
 * not load are skipped; `excluded` ones too unless `includeExcluded`) and
 * compares. `load` gives a record's spec and program (corpusProgram).
 */
export function measureAgreement(
  records: readonly ProgramRecord[],
  load: (record: ProgramRecord) => { spec: CollectionSpec; program: ProgramSpec },
  verify: VerifyFunction,
  options: { includeExcluded?: boolean } = {},
): AgreementReport {
  const report: AgreementReport = { compared: 0, agreeing: 0, unsafeAccepts: 0, falseRejects: 0, threw: 0, rejectionsCompared: 0, kernelMessage: 0, disagreements: [], timeRatios: [] };
  const times = report.timeRatios;
  const processed: number[] = [];
  for (const record of records) {
    if (record.kernel.verdict === 'not-loadable') continue;
    if (record.excluded !== undefined && !options.includeExcluded) continue;
    const { spec, program } = load(record);
    let outcome: VerifierOutcome;
    try {
      outcome = verify(program, spec, record);
    } catch (error) {
      report.compared++;
      report.threw++;
      report.disagreements.push({ record, outcome: { accepted: false }, kind: 'threw', detail: `${(error as Error).name}: ${(error as Error).message}` });
      continue;
    }
    report.compared++;
    const kernelAccepted = record.kernel.verdict === 'accepted';
    if (outcome.accepted === kernelAccepted) {
      report.agreeing++;
      if (!kernelAccepted) {
        report.rejectionsCompared++;
        const ours = outcome.error?.message.trim();
        if (ours !== undefined && (ours === record.kernel.message || (record.kernel.messages ?? []).includes(ours))) report.kernelMessage++;
      }
    } else if (outcome.accepted) {
      report.unsafeAccepts++;
      report.disagreements.push({ record, outcome, kind: 'unsafe-accept' });
    } else {
      report.falseRejects++;
      report.disagreements.push({ record, outcome, kind: 'false-reject', detail: outcome.error?.message });
    }
    if (outcome.verificationTimeUs !== undefined && (record.kernel.verificationTimeUs ?? 0) > 0) times.push(outcome.verificationTimeUs / record.kernel.verificationTimeUs!);
    if (outcome.processedInsns !== undefined && (record.kernel.processedInsns ?? 0) > 0) processed.push(outcome.processedInsns / record.kernel.processedInsns!);
  }
  const timeRatio = quantiles(times);
  if (timeRatio !== undefined) report.timeRatio = timeRatio;
  const processedRatio = quantiles(processed);
  if (processedRatio !== undefined) report.processedRatio = processedRatio;
  return report;
}
