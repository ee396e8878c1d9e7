/**
 * Every verifier case in cases.ts, through tsbpf's verifier: the verdict
 * and the kernel's final message must be the expected ones, and every
 * rejection must come with an explanation.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CASES } from './cases.ts';
import { tsbpfVerdict } from './support.ts';

for (const c of CASES) {
  test(`verifier: ${c.name}`, () => {
    const { verdict, result } = tsbpfVerdict(c);
    const got = verdict.accepted ? 'accept' : verdict.message;
    assert.equal(got, c.expect, `log:\n${verdict.log}`);
    if (!verdict.accepted) {
      assert.ok(result.error, 'a rejection carries an error');
      assert.ok(result.error.explanation.summary.length > 0);
      assert.ok(result.error.explanation.fix.length > 0);
    }
    assert.match(result.log, /processed \d+ insns \(limit 1000000\) max_states_per_insn \d+ total_states \d+ peak_states \d+ mark_read 0\n$/);
  });
}
