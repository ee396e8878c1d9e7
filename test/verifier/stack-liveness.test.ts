/**
 * Stack slot liveness (src/verifier/stack-liveness.ts): a stored state whose
 * paths are all explored ignores the stack slots no path from it reads
 * again, so paths that differ only there prune; a slot read later, even by
 * a callee through a pointer, is still compared. Each program's verdict and
 * processed-instruction count are the kernel's (Linux 6.18), checked against
 * the running kernel where there is one.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MapType } from '../../src/uapi/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { skipWithoutKernel } from '../support/env.ts';
import type { VerifierCase } from './cases.ts';
import { kernelVerdict, tsbpfVerdict } from './support.ts';

checkNoKernelLeaks();

interface LivenessCase extends VerifierCase {
  /** The kernel's processed-instruction count (its log's last line). */
  processed: number;
}

/** fp-8 holds 0 on one path and a pointer to fp-16 (holding the context) on the other, up to `join`. */
const POINTER_OR_NUMBER = `
      r6 = r1
      call bpf_get_prandom_u32
      r1 = 0
      *(u64 *)(r10 - 8) = r1
      if r0 == 0 goto join
      *(u64 *)(r10 - 16) = r6
      r1 = r10
      r1 += -16
      *(u64 *)(r10 - 8) = r1
    join:
`;

const CASES: LivenessCase[] = [
  {
    name: 'paths that differ only in a slot nothing reads again prune at the join',
    section: 'xdp',
    // One path spills the context pointer to fp-8, the other a number; after `join` fp-8 is never read.
    // (The moves into r7 take the first path past the 8 instructions after which a state is stored at a join.)
    asm: `
      r6 = r1
      r7 = 1
      r7 = 2
      r7 = 3
      r7 = 4
      r7 = 5
      call bpf_get_prandom_u32
      if r0 == 0 goto other
      *(u64 *)(r10 - 8) = r6
      goto join
    other:
      r1 = 5
      *(u64 *)(r10 - 8) = r1
    join:
      r0 = 2
      exit`,
    expect: 'accept',
    processed: 15,
  },
  {
    name: 'a slot read after the join is compared: the number path is not pruned and fails',
    section: 'xdp',
    asm: `${POINTER_OR_NUMBER}      r2 = *(u64 *)(r10 - 8)
      r0 = *(u64 *)(r2 + 0)
      r0 = 2
      exit`,
    expect: "R2 invalid mem access 'scalar'",
    processed: 15,
  },
  {
    name: "a callee's read of its caller's slot through a pointer keeps the slot live at the call",
    section: 'xdp',
    asm: `${POINTER_OR_NUMBER}      r1 = r10
      r1 += -8
      call deref
      r0 = 2
      exit
    deref:
      r2 = *(u64 *)(r1 + 0)
      r0 = *(u64 *)(r2 + 0)
      r0 = 0
      exit`,
    expect: "R2 invalid mem access 'scalar'",
    processed: 23,
  },
  {
    name: 'a slot an iterator loop body overwrites with a number is compared when another iteration reads it',
    section: 'tp/syscalls/sys_enter_getpid',
    maps: [{ type: MapType.ARRAY, keySize: 4, valueSize: 16, maxEntries: 4 }],
    // fp-24 holds a map value pointer before the loop; one branch of the body stores 7 there, another dereferences it.
    asm: `
      *(u32 *)(r10 - 4) = 0
      r2 = r10
      r2 += -4
      r1 = map_fd(0) ll
      call bpf_map_lookup_elem
      if r0 == 0 goto out
      *(u64 *)(r10 - 24) = r0
      r1 = r10
      r1 += -16
      r2 = 0
      r3 = 10
      call bpf_iter_num_new#0
    loop:
      r1 = r10
      r1 += -16
      call bpf_iter_num_next#0
      if r0 == 0 goto done
      call bpf_get_prandom_u32
      if r0 == 0 goto store
      call bpf_get_prandom_u32
      if r0 == 0 goto read
      goto loop
    store:
      r1 = 7
      *(u64 *)(r10 - 24) = r1
      goto loop
    read:
      r1 = *(u64 *)(r10 - 24)
      r0 = *(u32 *)(r1 + 0)
      goto loop
    done:
      r1 = r10
      r1 += -16
      call bpf_iter_num_destroy#0
    out:
      r0 = 0
      exit`,
    expect: "R1 invalid mem access 'scalar'",
    processed: 59,
  },
];

for (const c of CASES) {
  test(`stack liveness: ${c.name}`, () => {
    const { verdict, result } = tsbpfVerdict(c);
    assert.equal(verdict.accepted ? 'accept' : verdict.message, c.expect, verdict.log);
    assert.equal(result.processedInsns, c.processed, verdict.log);
  });

  test(`stack liveness, the kernel agrees: ${c.name}`, { skip: skipWithoutKernel() }, () => {
    const kernel = kernelVerdict(c);
    assert.equal(kernel.accepted ? 'accept' : kernel.message, c.expect, kernel.log);
    const processed = /processed (\d+) insns/.exec(kernel.log)?.[1];
    assert.equal(Number(processed), c.processed, kernel.log);
  });
}
