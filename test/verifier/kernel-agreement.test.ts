/**
 * The expectations in cases.ts are the kernel's: every case is loaded into
 * the running kernel (BPF_PROG_LOAD, log level 1), and its verdict and
 * final message must be what cases.ts says, and what tsbpf's verifier says.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfSyscallError } from '../../src/kernel/index.ts';
import { MapType } from '../../src/uapi/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { CASES } from './cases.ts';
import { kernelVerdict, tsbpfVerdict } from './support.ts';

checkNoKernelLeaks();

// Cases that cannot be loaded as bare instructions (kernelSkip says why) are checked by tsbpf alone.
for (const c of CASES.filter((k) => k.kernelSkip === undefined)) {
  test(`kernel agrees: ${c.name}`, { skip: skipWithoutKernel() }, (t) => {
    let kernel: ReturnType<typeof kernelVerdict>;
    try {
      kernel = kernelVerdict(c);
    } catch (error) {
      // Some kernels refuse arena maps to root (EPERM): the case cannot be loaded there, tsbpf's verdict is still checked by rules.test.ts.
      if (error instanceof BpfSyscallError && error.code === 'EPERM' && error.command === 'MAP_CREATE' && c.maps?.some((m) => m.type === MapType.ARENA)) {
        t.skip(`this kernel refuses to create ARENA maps (${error.message})`);
        return;
      }
      throw error;
    }
    const ours = tsbpfVerdict(c).verdict;
    const kernelOutcome = kernel.accepted ? 'accept' : kernel.message;
    const otherRelease = c.kernelAlso?.includes(kernelOutcome) ?? false;
    if (!otherRelease) assert.equal(kernelOutcome, c.expect, `kernel log:\n${kernel.log}`);
    assert.equal(ours.accepted, kernel.accepted);
    assert.equal(ours.message, otherRelease ? c.expect : kernel.message);
  });
}
