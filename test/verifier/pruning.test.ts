/**
 * When states are stored and compared (the kernel's is_state_visited):
 * inside a loop still being explored a new state is stored only after 20
 * jumps or 100 instructions, and a stored state's misses count only when
 * the current state is to be stored. Each program's verdict and
 * processed-instruction count are the kernel's (Linux 6.18), checked
 * against the running kernel where there is one. Pruning against the
 * newest equivalent state first is checked on shipped programs, whose
 * counts depend on it (test/kernel/verifier-corpus.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import type { VerifierCase } from './cases.ts';
import { kernelVerdict, tsbpfVerdict } from './support.ts';

checkNoKernelLeaks();

interface PruningCase extends VerifierCase {
  /** The kernel's processed-instruction count (its log's last line). */
  processed: number;
}

const CASES: PruningCase[] = [
  {
    // The kernel's selftest verifier_loops1.c not_an_inifinite_loop: a counter kept on the stack, bounded at 10.
    // Storing a state at the loop's head on every iteration (88 processed) is what the rule avoids.
    name: 'a loop being explored stores no state at its head until 20 jumps or 100 instructions have passed',
    section: 'xdp',
    asm: `
      call bpf_get_prandom_u32
      r0 &= 0xff
      *(u64 *)(r10 - 8) = r0
      r0 = 0
    loop:
      r0 = *(u64 *)(r10 - 8)
      if r0 > 10 goto out
      r0 += 1
      *(u64 *)(r10 - 8) = r0
      r0 = 0
      goto loop
    out:
      r0 = 0
      exit`,
    expect: 'accept',
    processed: 85,
  },
];

for (const c of CASES) {
  test(`pruning: ${c.name}`, () => {
    const { verdict, result } = tsbpfVerdict(c);
    assert.equal(verdict.accepted ? 'accept' : verdict.message, c.expect, verdict.log);
    assert.equal(result.processedInsns, c.processed, verdict.log);
  });

  test(`pruning, the kernel agrees: ${c.name}`, { skip: skipWithoutKernel() }, () => {
    const kernel = kernelVerdict(c);
    assert.equal(kernel.accepted ? 'accept' : kernel.message, c.expect, kernel.log);
    const processed = /processed (\d+) insns/.exec(kernel.log)?.[1];
    assert.equal(Number(processed), c.processed, kernel.log);
  });
}
