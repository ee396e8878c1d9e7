import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BpfCollection, ClosedError, CollectionError, writeSpecVariable } from '../../src/backend/index.ts';
import { btfValueCodec } from '../../src/btf/value.ts';
import { loadCollection } from '../../src/kernel/collection.ts';
import { BpfSyscallError } from '../../src/kernel/errors.ts';
import { possibleCpus } from '../../src/kernel/map.ts';
import { loadCollectionSpec } from '../../src/object/load.ts';
import type { CollectionSpec } from '../../src/object/spec.ts';
import { loadVmCollection } from '../../src/vm/collection.ts';
import { UnsupportedHelperError } from '../../src/vm/index.ts';
import { checkNoKernelLeaks } from '../kernel/support.ts';
import { compileBpf } from '../support/clang.ts';
import { ROOT, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';

checkNoKernelLeaks();
const source = `${ROOT}/test/backend/fixtures/events.c`;
const clang = { skip: skipWithoutClang() };
const kernel = { skip: skipWithoutClang() || skipWithoutKernel() };
const LONG = '/tmp/a-rather-long-file-name.txt';
const STAMP = 0x1234_5678_9abcn;

interface Event {
  seq: number;
  kind: string;
  filename: string;
  stamp: bigint;
}

function eventSpec(): CollectionSpec {
  const spec = loadCollectionSpec(compileBpf(source));
  writeSpecVariable(spec, 'stamp', STAMP);
  return spec;
}

/** Runs `record` `times` times and reads the events it submitted through the reader's async iterator. */
async function recordEvents(collection: BpfCollection, times: number): Promise<Event[]> {
  const event = collection.spec.btf!.findByName('event', 'struct')[0]!;
  const codec = btfValueCodec(collection.spec.btf!, event.id);
  const reader = collection.ringBuffer('events');
  try {
    for (let i = 0; i < times; i++) assert.equal(collection.programs.record!.run({ data: new Uint8Array(64) }).retval, 0);
    const events: Event[] = [];
    for await (const record of reader) {
      events.push(codec.decode(record) as unknown as Event);
      if (events.length === times) break;
    }
    return events;
  } finally {
    reader[Symbol.dispose]();
  }
}

/** The same scenario on either backend, through BpfCollection only. */
async function scenario(collection: BpfCollection): Promise<void> {
  const samples = collection.perfBuffer('samples');
  // 60 records of 56 bytes fill most of the 4 KiB ring; the next 60 wrap onto the bytes they left.
  const long = await recordEvents(collection, 60);
  assert.deepEqual(long.map((e) => e.filename), Array(60).fill(LONG), 'a char[] without NUL is the whole array');
  assert.deepEqual(long.map((e) => e.seq), Array.from({ length: 60 }, (_, i) => i + 1));
  collection.writeVariable('use_long', 0);
  const short = await recordEvents(collection, 60);
  // Regression: the bytes after the NUL are a previous record's; the string still ends at the NUL.
  assert.deepEqual(short.map((e) => e.filename), Array(60).fill('/bin/sh'));
  assert.deepEqual(new Set(short.map((e) => e.kind)), new Set(['KIND_SHORT']));
  assert.deepEqual(new Set(short.map((e) => e.stamp)), new Set([STAMP]), '.rodata set in the spec before loading');

  // Global data decoded as objects of variables (regression: typed('.bss') threw "key type id 0").
  assert.deepEqual(collection.typed('.bss').get(0), { seq: 120, ppid_calls: 0n, target_tgid: 0, unused_event: 0n });
  assert.deepEqual(collection.typed('.data').get(0), { use_long: 0 });
  assert.deepEqual(collection.typed('.rodata').get(0), { stamp: STAMP });
  assert.equal(new DataView(collection.readVariable('seq').buffer).getUint32(0, true), 120);
  assert.throws(() => collection.writeVariable('stamp', 1), (e) => e instanceof BpfSyscallError || /EPERM|frozen|read-only/i.test(String(e)), '.rodata is frozen');
  assert.throws(() => collection.map('nope'), (e) => e instanceof CollectionError && /no map 'nope' in the collection \(maps: .*events, samples, calls/.test(e.message));
  assert.equal(collection.program('record'), collection.programs.record);
  assert.throws(() => collection.readVariable('nope'), (e) => e instanceof CollectionError && /no global variable 'nope' .*stamp, use_long, seq/.test(e.message));

  // The perf event array got each run's sequence number: read through the same async iterator interface.
  const sequence: number[] = [];
  for await (const sample of samples) {
    sequence.push(new DataView(sample.data.buffer, sample.data.byteOffset).getUint32(0, true));
    if (sequence.length === 120) break;
  }
  samples.close();
  assert.deepEqual(sequence.sort((a, b) => a - b), Array.from({ length: 120 }, (_, i) => i + 1));

  const perCpu = collection.typedPerCpu<number, bigint>('calls').get(0)!;
  assert.equal(perCpu.reduce((a, b) => a + b, 0n), 120n);
  collection[Symbol.dispose]();
  assert.throws(() => collection.maps.calls!.lookup(new Uint8Array(4)), ClosedError);
}

test('one scenario on both backends through BpfCollection: ring buffer events, typed global data, per-CPU values, dispose', kernel, async () => {
  await scenario(loadCollection(eventSpec()));
  await scenario(loadVmCollection(eventSpec(), { cpus: possibleCpus() }));
});

test('VM: a program needing a kernel-only helper does not stop the rest; using it names the helper', clang, async () => {
  const collection = loadVmCollection(eventSpec());
  try {
    assert.deepEqual(Object.keys(collection.programs), ['record']);
    assert.throws(() => collection.programs.on_getppid, (e) => e instanceof UnsupportedHelperError && /program 'on_getppid' cannot run in the VM: bpf_get_current_task/.test(e.message));
    assert.throws(() => collection.program('on_getppid'), UnsupportedHelperError);
    assert.throws(() => collection.attach({ programs: ['on_getppid'] }), UnsupportedHelperError);
    assert.match(collection.unavailable.on_getppid!.message, /bpf_get_current_task/);
    assert.throws(() => collection.attach(), (e) => e instanceof CollectionError && /no kernel events to attach 'record' \(SEC\("socket"\)\)/.test(e.message));
    assert.equal(collection.programs.record!.run({ data: new Uint8Array(64) }).retval, 0);
  } finally {
    collection.close();
  }
});

test('a program name that is not in the object is an error listing the names, on both backends', kernel, () => {
  const spec = eventSpec();
  assert.throws(() => loadCollection(spec, { programs: ['nope'] }), /no program 'nope' in the object \(programs: record, on_getppid\)/);
  assert.throws(() => loadVmCollection(spec, { programs: ['nope'] }), /no program 'nope' in the object \(programs: record, on_getppid\)/);
});

test('kernel: attach() attaches from SEC() (tracepoint), skips what has no attach point, and detaches on close', kernel, () => {
  using collection = loadCollection(eventSpec());
  collection.writeVariable('target_tgid', process.pid);
  const links = collection.attach();
  try {
    assert.deepEqual(Object.keys(links.links), ['on_getppid']);
    assert.match(links.skipped.record!, /socket programs have no attach point/);
    for (let i = 0; i < 5; i++) assert.equal(typeof process.ppid, 'number');
    assert.equal(collection.typed<number, { ppid_calls: bigint }>('.bss').get(0)!.ppid_calls, 5n);
  } finally {
    links.close();
  }
  void process.ppid;
  assert.equal(collection.typed<number, { ppid_calls: bigint }>('.bss').get(0)!.ppid_calls, 5n, 'detached');
  assert.throws(() => collection.attach({ programs: ['record'] }), (e) => e instanceof CollectionError && /cannot attach program 'record' \(SEC\("socket"\)\)/.test(e.message));
});
