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

// A scalar linked with a delta prints it after its id (`id=1-4`, `id=2+10`), and the branch bounds every linked register
// the kernel's way: this program's level-2 log, instruction by instruction, is the kernel's.
const LINKED_DELTAS = {
  name: 'linked deltas',
  section: 'socket',
  expect: 'accept',
  asm: `
    call bpf_get_prandom_u32
    r1 = r0
    r1 += -4
    if r1 s< 0 goto out
    w2 = w0
    w3 = w2
    w3 += 10
    r4 = r3
    r4 -= 3
    r5 = r0
    r5 += 2
    if w3 < 20 goto out
    r0 = 0
    exit
  out:
    r0 = 1
    exit`,
};
const stateLines = (log: string): string[] => log.split('\n').filter((line) => /^(\d+: |from \d+ to \d+:)/.test(line));

test('level-2 log: linked scalars print their delta and are bounded together', () => {
  const lines = stateLines(tsbpfVerdict(LINKED_DELTAS, 2).verdict.log);
  assert.ok(lines.some((l) => l.startsWith('2: (07) r1 += -4') && l.endsWith('; R1=scalar(id=1-4)')), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('6: (04) w3 += 10') && l.includes('R3=scalar(id=2+10,')), lines.join('\n'));
  // r4 = r3 takes r3 out of its delta link (id 3), r4 -= 3 links r4 to it with -3; r0 is bounded through r1 = r0 - 4 >= 0.
  assert.ok(lines.some((l) => l.startsWith('8: (17) r4 -= 3') && l.includes('R4=scalar(id=3-3,')), lines.join('\n'));
  assert.ok(lines.some((l) => l.startsWith('4: (bc) w2 = w0') && l.includes('R0=scalar(id=1,umin=4,umax=0x8000000000000003)')), lines.join('\n'));
});

test('level-2 log, the kernel agrees: linked scalars print their delta and are bounded together', { skip: skipWithoutKernel() }, () => {
  assert.deepEqual(stateLines(tsbpfVerdict(LINKED_DELTAS, 2).verdict.log), stateLines(kernelVerdict(LINKED_DELTAS, 2).log));
});
