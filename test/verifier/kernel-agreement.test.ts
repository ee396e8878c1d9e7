/**
 * The expectations in cases.ts are the kernel's: every case is loaded into
 * the running kernel (BPF_PROG_LOAD, log level 1), and its verdict and
 * final message must be what cases.ts says, and what tsbpf's verifier says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { CASES } from './cases.ts';
import { kernelVerdict, tsbpfVerdict } from './support.ts';

checkNoKernelLeaks();

for (const c of CASES) {
  test(`kernel agrees: ${c.name}`, { skip: c.kernelSkip ?? skipWithoutKernel() }, () => {
    const kernel = kernelVerdict(c);
    const ours = tsbpfVerdict(c).verdict;
    assert.equal(kernel.accepted ? 'accept' : kernel.message, c.expect, `kernel log:\n${kernel.log}`);
    assert.equal(ours.accepted, kernel.accepted);
    assert.equal(ours.message, kernel.message);
  });
}
