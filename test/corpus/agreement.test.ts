// The agreement figures a verifier gets against corpus records, computed on
// hand-made records with a stand-in verifier whose answers are known.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CollectionSpec, ProgramSpec } from '../../src/object/index.ts';
import { measureAgreement } from '../support/verifier-corpus/agreement.ts';
import type { ProgramRecord } from '../support/verifier-corpus/records.ts';

function record(program: string, kernel: ProgramRecord['kernel'], excluded?: string): ProgramRecord {
  const r: ProgramRecord = { source: 'selftests', file: 'f.c', object: 'f.o', program, section: 'socket', instructions: 4, programType: 'SOCKET_FILTER', programFlags: 0, companions: [], kernel };
  if (excluded !== undefined) r.excluded = excluded;
  return r;
}

const records = [
  record('ok', { verdict: 'accepted', btfDropped: false, processedInsns: 10, verificationTimeUs: 20 }),
  record('null', { verdict: 'rejected', btfDropped: false, message: "R0 invalid mem access 'map_value_or_null'", messages: ["R0 invalid mem access 'map_value_or_null'"], processedInsns: 5, verificationTimeUs: 10 }),
  record('packet', { verdict: 'rejected', btfDropped: false, message: 'R2 offset is outside of the packet', messages: ['invalid access to packet, off=14 size=4, R2(id=0,off=14,r=0)', 'R2 offset is outside of the packet'], processedInsns: 8, verificationTimeUs: 0 }),
  record('leak', { verdict: 'rejected', btfDropped: false, message: 'Unreleased reference id=2 alloc_insn=7' }),
  record('strict', { verdict: 'accepted', btfDropped: false, processedInsns: 4, verificationTimeUs: 40 }),
  record('fentry', { verdict: 'not-loadable', btfDropped: false, reason: 'EPERM' }, 'not loadable here'),
  record('btfpath', { verdict: 'accepted', btfDropped: false }, 'needs a custom BTF'),
];

const answers: Record<string, { accepted: boolean; message?: string; us?: number; insns?: number } | 'throw'> = {
  ok: { accepted: true, us: 5, insns: 10 },
  null: { accepted: false, message: "R0 invalid mem access 'map_value_or_null'", us: 5, insns: 5 },
  packet: { accepted: false, message: 'invalid access to packet, off=14 size=4, R2(id=0,off=14,r=0)', us: 3 },
  leak: { accepted: true },
  strict: 'throw',
  btfpath: { accepted: false, message: 'x' },
};

const load = (r: ProgramRecord) => ({ spec: {} as CollectionSpec, program: { name: r.program } as ProgramSpec });
const verify = (program: ProgramSpec) => {
  const answer = answers[program.name]!;
  if (answer === 'throw') throw new TypeError('not implemented');
  return { accepted: answer.accepted, ...(answer.message ? { error: { message: answer.message } } : {}), ...(answer.us !== undefined ? { verificationTimeUs: answer.us } : {}), ...(answer.insns !== undefined ? { processedInsns: answer.insns } : {}) };
};

test('verdicts, unsafe accepts, kernel messages and ratios over the judged, non-excluded records', () => {
  const report = measureAgreement(records, load, verify);
  assert.deepEqual(
    [report.compared, report.agreeing, report.unsafeAccepts, report.falseRejects, report.threw, report.rejectionsCompared, report.kernelMessage],
    [5, 3, 1, 0, 1, 2, 2],
  );
  assert.deepEqual(report.disagreements.map((d) => [d.record.program, d.kind]), [['leak', 'unsafe-accept'], ['strict', 'threw']]);
  assert.match(report.disagreements[1]!.detail!, /TypeError: not implemented/);
  // Times: ok 5/20, null 5/10; packet's kernel time is 0 and does not count.
  assert.deepEqual(report.timeRatio, { median: 0.5, p90: 0.5, count: 2 });
  assert.deepEqual(report.processedRatio, { median: 1, p90: 1, count: 2 });
});

test('excluded records count when asked; not-loadable ones never do', () => {
  const report = measureAgreement(records, load, verify, { includeExcluded: true });
  assert.equal(report.compared, 6);
  assert.equal(report.falseRejects, 1);
  assert.ok(!report.disagreements.some((d) => d.record.program === 'fentry'));
});
