/**
 * Clang-compiled programs through tsbpf's verifier and the kernel's: the
 * runtime fixtures (real XDP, tc, socket-filter, tracing programs with
 * maps, ring buffers, callbacks, tail calls) must be accepted by both, and
 * each deliberately unsafe program in fixtures/verifier/unsafe.c must be
 * rejected by both with the same message.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { test } from 'node:test';
import { BpfSyscallError, loadCollection } from '../../src/kernel/index.ts';
import { type CollectionSpec, loadCollectionSpec } from '../../src/object/index.ts';
import { VerifierError, verify } from '../../src/verifier/index.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { finalMessage } from './support.ts';

checkNoKernelLeaks();

const UNSAFE: Record<string, string> = {
  missing_null_check: "R0 invalid mem access 'map_value_or_null'",
  unchecked_packet: 'R1 offset is outside of the packet',
  out_of_bounds_index: 'R0 max value is outside of the allowed memory range',
  unbounded_loop: 'BPF program is too large. Processed 1000001 insn',
  wrong_helper_argument: 'R2 type=scalar expected=fp, pkt, pkt_meta, map_key, map_value, mem, ringbuf_mem, buf, trusted_ptr_',
  leaked_reservation: 'BPF_EXIT instruction in main prog would lead to reference leak',
  bad_return_code: 'At program exit the register R0 has smin=2 smax=2 should have been in [0, 1]',
  missing_unlock: 'BPF_EXIT instruction in main prog cannot be used inside bpf_spin_lock-ed region',
  double_lock: 'function calls are not allowed while holding a lock',
  lock_in_tracing: 'tracing progs cannot use bpf_spin_lock yet',
  lock_read_directly: 'bpf_spin_lock cannot be accessed directly by load/store',
  unlock_without_lock: 'bpf_spin_unlock without taking a lock',
  lock_wrong_member: "off 8 doesn't point to 'struct bpf_spin_lock' that is at 0",
  lock_without_lock_field: "map 'table' has no valid bpf_spin_lock",
  // The kernel's message is two lines: 'global function calls are not allowed while holding a lock,' then this.
  global_call_under_lock: 'use static function instead',
};

/** kconfig_core.c's own CONFIG_TSBPF_* externs, which no kernel config has. */
const FIXTURE_KCONFIG = { CONFIG_HZ: '100', CONFIG_BPF_SYSCALL: 'y', CONFIG_TSBPF_MODULE: 'n', CONFIG_TSBPF_CHAR: 'n', CONFIG_TSBPF_NAME: '"x"' };

function kernelMessage(spec: CollectionSpec, name: string): string {
  try {
    loadCollection(spec, { programs: [name], kconfig: FIXTURE_KCONFIG }).close();
    return 'accept';
  } catch (e) {
    if (!(e instanceof BpfSyscallError)) throw e;
    return finalMessage(e.log ?? '');
  }
}

/** Runtime fixtures that exercise the VM's run-time answers to programs the kernel refuses. */
const KNOWN_REFUSED: Record<string, string> = {
  'callbacks.c:each_queue': 'callback function not allowed for map',
};

const clangSkip = skipWithoutClang();
const safeSources = readdirSync(fixturePath('runtime')).filter((f) => f.endsWith('.c'));

for (const file of safeSources) {
  test(`verifier accepts every program of runtime/${file}`, { skip: clangSkip }, () => {
    const spec = loadCollectionSpec(compileBpf(fixturePath('runtime', file)));
    for (const [name, program] of Object.entries(spec.programs)) {
      const result = verify(program, { maps: spec.maps });
      const refused = KNOWN_REFUSED[`${file}:${name}`];
      if (refused !== undefined) assert.equal(finalMessage(result.log), refused, name);
      else assert.ok(result.accepted, `${name}: ${result.error?.message}\n${result.log}`);
    }
  });
}

test('verifier rejects each unsafe program with the kernel message and an explanation', { skip: clangSkip }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('verifier', 'unsafe.c')));
  assert.deepEqual(Object.keys(spec.programs).sort(), Object.keys(UNSAFE).sort());
  for (const [name, message] of Object.entries(UNSAFE)) {
    const result = verify(spec.programs[name]!, { maps: spec.maps });
    assert.equal(result.accepted, false, name);
    assert.equal(finalMessage(result.log), message, `${name}:\n${result.log}`);
    const explanation = result.error!.explanation;
    assert.notEqual(explanation.kind, 'other', `${name} has a specific explanation`);
    assert.ok(explanation.path.some((line) => line.includes('unsafe.c:')), `${name}: the path names source lines: ${explanation.path.join(' | ')}`);
  }
});

test('the kernel gives the same verdicts and messages on the same objects', { skip: clangSkip || skipWithoutKernel() }, () => {
  const unsafe = loadCollectionSpec(compileBpf(fixturePath('verifier', 'unsafe.c')));
  for (const [name, message] of Object.entries(UNSAFE)) assert.equal(kernelMessage(unsafe, name), message, name);
  for (const file of safeSources) {
    const spec = loadCollectionSpec(compileBpf(fixturePath('runtime', file)));
    for (const name of Object.keys(spec.programs)) assert.equal(kernelMessage(spec, name), KNOWN_REFUSED[`${file}:${name}`] ?? 'accept', `${file}: ${name}`);
  }
});

test('a kernel refusal carries tsbpf\'s explanation; verify: true refuses before BPF_PROG_LOAD', { skip: clangSkip || skipWithoutKernel() }, () => {
  const spec = loadCollectionSpec(compileBpf(fixturePath('verifier', 'unsafe.c')));
  assert.throws(
    () => loadCollection(spec, { programs: ['unchecked_packet'] }),
    (e: Error) => e instanceof BpfSyscallError && /tsbpf's verifier: R1 offset is outside of the packet\nwhy: .*\npath:\n {2}unsafe\.c:\d+: .*\n[\s\S]*fix: Compare against data_end/.test(e.message),
  );
  assert.throws(() => loadCollection(spec, { programs: ['missing_null_check'], verify: true }), (e: Error) => e instanceof VerifierError && e.kernelMessage === "R0 invalid mem access 'map_value_or_null'");
});
