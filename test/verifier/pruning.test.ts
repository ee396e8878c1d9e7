/**
 * When states are stored and compared (the kernel's is_state_visited):
 * inside a loop still being explored a new state is stored only after 20
 * jumps or 100 instructions, and a stored state's misses count only when
 * the current state is to be stored; registers live across an LD_ABS are
 * compared (compute_live_registers takes them all as read there); an iterator's next iteration
 * widens only scalars nothing made precise. Each program's verdict and
 * processed-instruction count are the kernel's (Linux 6.18), checked
 * against the running kernel where there is one. Pruning against the
 * newest equivalent state first is checked on shipped programs, whose
 * counts depend on it (test/kernel/verifier-corpus.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BpfSyscallError, ProgramFlags, loadCollection } from '../../src/kernel/index.ts';
import { loadCollectionSpec } from '../../src/object/index.ts';
import { verify } from '../../src/verifier/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import type { VerifierCase } from './cases.ts';
import { finalMessage, kernelVerdict, tsbpfVerdict } from './support.ts';

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
  {
    // r9 is set on one path only and never read, but an LD_ABS follows the join: the kernel's liveness takes every
    // register as read by LD_ABS/LD_IND, so the paths differ in a live register and the second is not pruned.
    name: 'every register is live before an LD_ABS',
    section: 'socket',
    // (The arithmetic on r7 takes the first path past the 8 instructions after which a state is stored at the join.)
    asm: `
      r6 = r1
      r7 = 8
      r7 <<= 1
      r7 >>= 1
      r7 += 8
      call bpf_ktime_get_ns
      r7 = r0
      if r7 > 1000 goto other
      r9 = 1
      goto join
    other:
      r8 = 5
    join:
      r0 = *(u8 *)skb[0]
      r0 = 0
      exit`,
    expect: 'accept',
    processed: 17,
  },
  {
    // The kernel's selftest verifier_search_pruning.c and_register_parent_chain_bug. BPF_F_TEST_STATE_FREQ stores a
    // state at every prune point; the path that never wrote fp-8 does not prune against the one that spilled to it,
    // though uninitialised stack reads as a scalar to root: stack the current state never allocated differs from any.
    name: 'stack a path never allocated does not match a stored state that spilled there (BPF_F_TEST_STATE_FREQ)',
    section: 'socket',
    programFlags: ProgramFlags.TEST_STATE_FREQ,
    asm: `
      call bpf_ktime_get_ns
      r6 = r0
      call bpf_ktime_get_ns
      if r0 > r6 goto join
      r0 = 0xdeadbeef
      *(u64 *)(r10 - 8) = r0
    join:
      r1 = 42
      *(u8 *)(r10 - 8) = r1
      r2 = *(u64 *)(r10 - 8)
      r0 = 0
      exit`,
    expect: 'accept',
    processed: 16,
  },
  {
    // The kernel's selftest verifier_iterating_callbacks.c loop_inside_iter, smaller: the first `i < 10` is decided,
    // which makes i precise, so each iteration's i is kept (widen_imprecise_scalars leaves precise scalars alone) and
    // the loop is walked once per value of i. Widening i as an imprecise scalar would end it after two iterations.
    name: 'an iterator loop keeps a counter that a decided branch made precise',
    section: 'socket',
    asm: `
      r6 = 0
      r1 = r10
      r1 += -8
      r2 = 0
      r3 = 100
      call bpf_iter_num_new#0
    loop:
      r1 = r10
      r1 += -8
      call bpf_iter_num_next#0
      if r0 == 0 goto out
      if r6 > 9 goto loop
      r6 += 1
      goto loop
    out:
      r1 = r10
      r1 += -8
      call bpf_iter_num_destroy#0
      r0 = 0
      exit`,
    expect: 'accept',
    processed: 150,
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

// BPF_F_TEST_STATE_FREQ stores a state at every prune point: at the unlock, the path that releases the other value's
// lock meets a stored state holding the same map's lock through another id, which must not prune it.
test('pruning: a held spin lock is compared with its id, as the registers are', { skip: skipWithoutClang() }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('verifier', 'spin_lock_ids.c')));
  const result = verify(spec.programs.unlock_other_value!, { maps: spec.maps, programFlags: ProgramFlags.TEST_STATE_FREQ });
  assert.equal(result.error?.message, 'bpf_spin_unlock of different lock', result.log);
});

test('pruning, the kernel agrees: a held spin lock is compared with its id', { skip: skipWithoutClang() || skipWithoutKernel() }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('verifier', 'spin_lock_ids.c')));
  assert.throws(
    () => loadCollection(spec, { programs: ['unlock_other_value'], programFlags: ProgramFlags.TEST_STATE_FREQ }).close(),
    (error: unknown) => error instanceof BpfSyscallError && finalMessage(error.log ?? '') === 'bpf_spin_unlock of different lock',
  );
});
