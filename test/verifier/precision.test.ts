/**
 * Precision tracking's log at level 2 against the kernel's: the
 * `mark_precise:` backtracking lines (with the `P` marks of the stored
 * states they print) and `propagating` lines, line for line. The goldens in
 * golden/ were captured from Linux 6.18's log for the same program; where a
 * kernel is here, its log is taken live too.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { CASES } from './cases.ts';
import { kernelVerdict, tsbpfVerdict } from './support.ts';

checkNoKernelLeaks();

/** The precision lines of a level-2 log; a map's address (the kernel's) or id (tsbpf's) in an lddw reads `<map>`. */
export function precisionLines(log: string): string[] {
  return log
    .split('\n')
    .filter((line) => /^(mark_precise|force_precise|frame \d+: propagating)/.test(line))
    .map((line) => line.replace(/= (0x[0-9a-f]{16}|map\[id:\d+\](\[\d+\])?(\+\d+)?)/g, '= <map>').trimEnd());
}

const GOLDEN: readonly [string, string][] = [
  ['precision: through a spill and a fill', 'precision-spill-fill.log'],
  ['precision: through a static function call and its return value', 'precision-call.log'],
  ['precision: a may_goto loop indexing a map value with its checked counter', 'precision-may-goto.log'],
];

for (const [name, file] of GOLDEN) {
  const c = CASES.find((k) => k.name === name)!;

  test(`level-2 precision log equals the kernel's (golden): ${name}`, () => {
    const golden = readFileSync(new URL(`golden/${file}`, import.meta.url), 'utf8').trimEnd().split('\n');
    const ours = precisionLines(tsbpfVerdict(c, 2).verdict.log);
    assert.ok(golden.length > 10);
    assert.ok(golden.some((line) => /=P/.test(line)), 'the golden shows precise registers');
    assert.deepEqual(ours, golden);
  });

  test(`level-2 precision log equals the running kernel's: ${name}`, { skip: skipWithoutKernel() }, () => {
    assert.deepEqual(precisionLines(tsbpfVerdict(c, 2).verdict.log), precisionLines(kernelVerdict(c, 2).log));
  });
}

test('a precise scalar prints P in the state the backtracking marks', () => {
  const c = CASES.find((k) => k.name === 'precision: a branch the first path never takes')!;
  const log = tsbpfVerdict(c, 2).verdict.log;
  assert.match(log, /mark_precise: frame0: parent state regs=r6 stack=: .* R6=Pscalar\(smin=smin32=0,smax=umax=smax32=umax32=7,var_off=\(0x0; 0x7\)\)/);
});
