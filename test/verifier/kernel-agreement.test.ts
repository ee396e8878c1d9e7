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

// Cases that cannot be loaded as bare instructions (kernelSkip says why) are checked by tsbpf alone.
for (const c of CASES.filter((k) => k.kernelSkip === undefined)) {
  test(`kernel agrees: ${c.name}`, { skip: skipWithoutKernel() }, () => {
    const kernel = kernelVerdict(c);
    const ours = tsbpfVerdict(c).verdict;
    assert.equal(kernel.accepted ? 'accept' : kernel.message, c.expect, `kernel log:\n${kernel.log}`);
    assert.equal(ours.accepted, kernel.accepted);
    assert.equal(ours.message, kernel.message);
  });
}
