import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BtfValue, BtfValueError } from '../../src/btf/value.ts';
import { loadCollection } from '../../src/kernel/collection.ts';
import { possibleCpus } from '../../src/kernel/map.ts';
import { type BpfCollection, TypedMapError, typedMap, typedPerCpuMap, typedSpecMap } from '../../src/backend/index.ts';
import { loadCollectionSpec } from '../../src/object/load.ts';
import { loadVmCollection } from '../../src/vm/collection.ts';
import { compileBpf } from '../support/clang.ts';
import { fixturePath, skipWithoutClang, skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks } from './support.ts';

checkNoKernelLeaks();
const needs = { skip: skipWithoutKernel() || skipWithoutClang() };
const source = fixturePath('..', 'kernel', 'fixtures', 'typed.c');

const key = { ifname: 'lo', addr: 0x0100007f, proto: 'PROTO_UDP', port: 53, pad: 0 };
const written = (bytes: bigint) => ({
  bytes,
  delta: -7,
  kind: 5,
  urgent: 1,
  level: 4095,
  spare: 0,
  seen: true,
  hops: [1, 2, 3],
  as_u32: 0x04030201,
  as_bytes: [1, 2, 3, 4],
  cookie: 0xffffffffffffffffn,
});
/** A socket filter's skb->len for a 64-byte test-run frame: the data after the 14-byte Ethernet header. */
const SKB_LEN = 50n;
const zero = { bytes: 0n, delta: 0, kind: 0, urgent: 0, level: 0, spare: 0, seen: false, hops: [0, 0, 0], as_u32: 0, as_bytes: [0, 0, 0, 0], cookie: 0n };

/** The same checks on either backend's maps: what the program wrote, then typed writes, reads, deletes and errors. */
function exercise(collection: BpfCollection): void {
  const { spec, maps } = collection;
  const flows = collection.typed('flows');
  assert.deepEqual([...flows.entries()], [[key, written(0x123456789abcdefn + SKB_LEN)]]);
  assert.deepEqual(flows.lookupBatch(), [...flows.entries()]);

  const other = { ifname: 'eth0', addr: 0x0a000001, proto: 'PROTO_TCP', port: 443, pad: 0 };
  const value = { ...written(1n), kind: 2, urgent: 0, level: 1000, spare: 0xffff, seen: false, delta: -2147483648, as_u32: 0xdeadbeef, as_bytes: [0xef, 0xbe, 0xad, 0xde] };
  flows.set(other, value);
  assert.deepEqual(flows.get(other), value);
  // The bytes are the C layout: the kind/urgent/level bitfields share one u32 after delta.
  const raw = maps.flows!.lookup(flows.key!.encode(other))!;
  assert.equal(new DataView(raw.buffer).getUint32(12, true), (2 | (0 << 3) | (1000 << 4) | (0xffff << 16)) >>> 0);
  assert.equal(flows.delete(other), true);
  assert.equal(flows.get(other), undefined);
  assert.equal(flows.delete(other), false);

  // An unknown enumerator value decodes as its number; names and numbers both encode.
  flows.set({ ...other, proto: 99 as unknown as string }, value);
  assert.deepEqual([...flows.keys()].find((k) => (k as { proto: unknown }).proto === 99), { ...other, proto: 99 });

  assert.throws(() => flows.set({ ...other, ifname: 'much-too-long' }, value), (e) => e instanceof BtfValueError && e.path === 'key.ifname' && /holds at most 8/.test(e.message));
  assert.throws(() => flows.set(other, { ...value, level: 4096 }), (e) => e instanceof BtfValueError && e.path === 'value.level' && /out of range/.test(e.message));
  assert.throws(() => flows.set(other, { ...value, hops: [1, 2] }), (e) => e instanceof BtfValueError && e.path === 'value.hops');
  assert.throws(() => flows.set({ ...other, proto: 'PROTO_SCTP' }, value), /no enumerator 'PROTO_SCTP'/);
  assert.throws(() => flows.set(other, { ...value, as_u32: 1 }), /union members .* give different bytes/);
  const missing: Record<string, BtfValue> = { ...value };
  delete missing.cookie;
  assert.throws(() => flows.set(other, missing), /member 'cookie' .* is missing/);
  assert.throws(() => flows.set(other, { ...value, extra: 1 }), /no member 'extra'/);

  // Per-CPU: one decoded value per possible CPU.
  const perCpu = collection.typedPerCpu<number, typeof zero>('per_cpu');
  const slot = perCpu.get(1)!;
  assert.equal(slot.length, possibleCpus());
  const ran = slot.filter((v) => v.bytes !== 0n);
  assert.deepEqual(ran, [{ ...zero, bytes: SKB_LEN, level: 77 }], 'the program ran on one CPU');
  assert.deepEqual(perCpu.get(0), Array.from({ length: possibleCpus() }, () => zero));
  const values = Array.from({ length: possibleCpus() }, (_, cpu) => ({ ...zero, bytes: BigInt(cpu + 10), hops: [cpu, cpu, cpu] }));
  perCpu.set(0, values);
  assert.deepEqual(perCpu.get(0), values);
  assert.throws(() => perCpu.set(0, values[0] as unknown as (typeof zero)[]), TypedMapError);
  assert.throws(() => collection.typed('per_cpu'), (e) => e instanceof TypedMapError && /is per-CPU: use PerCpuTypedMap/.test(e.message));
  assert.throws(() => collection.typedPerCpu('flows'), (e) => e instanceof TypedMapError && /is not per-CPU/.test(e.message));
  assert.equal([...perCpu.entries()].length, 2);
  assert.deepEqual(typedPerCpuMap(maps.per_cpu!, spec.btf!, spec.maps.per_cpu!.btfKeyTypeId!, spec.maps.per_cpu!.btfValueTypeId!).get(0), values);
}

test('typed maps: struct keys and values decoded from BTF, on a kernel map and a VM map', needs, () => {
  const spec = loadCollectionSpec(compileBpf(source));
  const data = new Uint8Array(64);
  const kernel = loadCollection(spec);
  try {
    assert.equal(kernel.programs.record!.run({ data }).retval, 0);
    exercise(kernel);
  } finally {
    kernel.close();
  }
  const vm = loadVmCollection(spec, { cpus: possibleCpus() });
  try {
    assert.equal(vm.programs.record!.run({ data }).retval, 0);
    exercise(vm);
  } finally {
    vm.close();
  }
});

test('typed maps: type ids that do not fit the map are refused', needs, () => {
  const spec = loadCollectionSpec(compileBpf(source));
  const vm = loadVmCollection(spec);
  try {
    const flows = spec.maps.flows!;
    assert.throws(() => typedMap(vm.maps.flows!, spec.btf!, flows.btfValueTypeId!, flows.btfValueTypeId!), /BTF key type .* is 32 bytes, the map's key size is 20/);
    assert.throws(() => typedMap(vm.maps.flows!, spec.btf!, 0, flows.btfValueTypeId!), /no BTF key type for a 20-byte key/);
    assert.throws(() => typedSpecMap(spec, 'nope', vm.maps.flows!), /no map 'nope' \(maps: .*flows, per_cpu\)/);
  } finally {
    vm.close();
  }
});
