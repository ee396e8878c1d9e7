import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { test } from 'node:test';
import { KernelMap, ensureBpffs, openPinned, possibleCpus, parseCpuList } from '../../src/kernel/map.ts';
import { mapInfo, listIds } from '../../src/kernel/info.ts';
import { BpfSyscallError, ClosedError, KernelArgumentError } from '../../src/kernel/errors.ts';
import { UpdateFlags } from '../../src/backend/index.ts';
import { sysClose } from '../../src/kernel/ffi.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { skipWithoutKernel } from '../support/env.ts';
import { checkNoKernelLeaks, readU64, u32, u64 } from './support.ts';

checkNoKernelLeaks();

const kernel = { skip: skipWithoutKernel() };

function create(t: { after: (fn: () => void) => void }, options: Parameters<typeof KernelMap.create>[0]): KernelMap {
  const map = KernelMap.create(options);
  t.after(() => map.close());
  return map;
}

test('hash map: update, lookup, flags, delete, iterate', kernel, (t) => {
  const map = create(t, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 8, name: 'tsbpf_hash' });
  for (let i = 0; i < 5; i++) map.update(u32(i), u64(i * 100));
  assert.equal(readU64(map.lookup(u32(3))), 300n);
  assert.equal(map.lookup(u32(42)), undefined);
  assert.throws(() => map.update(u32(3), u64(1), UpdateFlags.NOEXIST), (e: unknown) => e instanceof BpfSyscallError && e.code === 'EEXIST');
  assert.throws(() => map.update(u32(9), u64(1), UpdateFlags.EXIST), (e: unknown) => e instanceof BpfSyscallError && e.code === 'ENOENT');
  assert.equal(map.delete(u32(3)), true);
  assert.equal(map.delete(u32(3)), false);
  const keys = [...map.keys()].map((k) => new DataView(k.buffer).getUint32(0, true)).sort();
  assert.deepEqual(keys, [0, 1, 2, 4]);
  const entries = new Map([...map.entries()].map(([k, v]) => [new DataView(k.buffer).getUint32(0, true), readU64(v)]));
  assert.deepEqual([...entries].sort(), [[0, 0n], [1, 100n], [2, 200n], [4, 400n]]);
  for (let i = 10; i < 14; i++) map.update(u32(i), u64(i));
  assert.throws(() => map.update(u32(99), u64(0)), (e: unknown) => e instanceof BpfSyscallError && e.code === 'E2BIG' && /map is full/.test(e.message));
  assert.equal(map.lookupAndDelete(u32(10))?.length, 8);
  assert.equal(map.lookup(u32(10)), undefined);
  const info = mapInfo(map.fd);
  assert.equal(info.name, 'tsbpf_hash');
  assert.deepEqual([info.type, info.keySize, info.valueSize, info.maxEntries], [MapType.HASH, 4, 8, 8]);
});

test('batch operations on a hash map', kernel, (t) => {
  const map = create(t, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1000, name: 'tsbpf_batch' });
  const keys = Array.from({ length: 700 }, (_, i) => u32(i));
  const values = Array.from({ length: 700 }, (_, i) => u64(i * 3));
  assert.equal(map.updateBatch(keys, values), 700);
  const all = map.lookupBatch({ batchSize: 64 });
  assert.equal(all.length, 700);
  for (const [k, v] of all) assert.equal(readU64(v), BigInt(new DataView(k.buffer).getUint32(0, true) * 3));
  assert.equal(map.deleteBatch(keys.slice(0, 100)), 100);
  const drained = map.lookupAndDeleteBatch({ batchSize: 128 });
  assert.equal(drained.length, 600);
  assert.equal(map.nextKey(undefined), undefined);
  assert.throws(() => map.updateBatch([u32(1)], []), KernelArgumentError);
});

test('array map: fixed indexes, delete refused, freeze makes it read-only', kernel, (t) => {
  const map = create(t, { type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 4, name: 'tsbpf_arr' });
  assert.deepEqual([...map.lookup(u32(2))!], [0, 0, 0, 0]);
  map.update(u32(2), new Uint8Array([1, 2, 3, 4]));
  assert.deepEqual([...map.lookup(u32(2))!], [1, 2, 3, 4]);
  assert.throws(() => map.update(u32(4), new Uint8Array(4)), (e: unknown) => e instanceof BpfSyscallError && e.code === 'E2BIG');
  assert.throws(() => map.delete(u32(1)), (e: unknown) => e instanceof BpfSyscallError && e.code === 'EINVAL');
  assert.equal([...map.keys()].length, 4);
  map.freeze();
  assert.throws(() => map.update(u32(0), new Uint8Array(4)), (e: unknown) => e instanceof BpfSyscallError && e.code === 'EPERM');
  assert.deepEqual([...map.lookup(u32(2))!], [1, 2, 3, 4]);
});

test('per-CPU maps hold one 8-byte-aligned value per possible CPU', kernel, (t) => {
  const cpus = possibleCpus();
  assert.ok(cpus >= 1);
  assert.equal(parseCpuList('0-3,8-11\n'), 12);
  for (const type of [MapType.PERCPU_ARRAY, MapType.PERCPU_HASH, MapType.LRU_PERCPU_HASH]) {
    const map = create(t, { type, keySize: 4, valueSize: 4, maxEntries: 4 });
    assert.equal(map.valueBufferSize, 8 * cpus);
    const values = Array.from({ length: cpus }, (_, cpu) => u32(0xa0 + cpu));
    map.updatePerCpu(u32(1), values);
    assert.deepEqual(map.lookupPerCpu(u32(1))!.map((v) => new DataView(v.buffer).getUint32(0, true)), values.map((_, cpu) => 0xa0 + cpu));
    assert.equal(map.lookup(u32(1))!.length, 8 * cpus);
    assert.throws(() => map.update(u32(1), u32(5)), /expected .*possible CPUs/);
    assert.throws(() => map.updatePerCpu(u32(1), [u32(1)].slice(0, 0)), KernelArgumentError);
  }
});

test('LRU hash evicts instead of failing when full', kernel, (t) => {
  const map = create(t, { type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 64, name: 'tsbpf_lru' });
  for (let i = 0; i < 500; i++) map.update(u32(i), u64(i));
  const count = [...map.keys()].length;
  assert.ok(count <= 64 && count > 0, `LRU kept ${count} entries`);
  assert.equal(readU64(map.lookup(u32(499))), 499n);
});

test('LPM trie matches the longest prefix', kernel, (t) => {
  // key: u32 prefixlen + IPv4 address
  const map = create(t, { type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 16, flags: 1 /* NO_PREALLOC */, name: 'tsbpf_lpm' });
  const key = (prefix: number, a: number, b: number, c: number, d: number): Uint8Array => {
    const k = new Uint8Array(8);
    new DataView(k.buffer).setUint32(0, prefix, true);
    k.set([a, b, c, d], 4);
    return k;
  };
  map.update(key(8, 10, 0, 0, 0), u32(8));
  map.update(key(24, 10, 1, 2, 0), u32(24));
  const match = (a: number, b: number, c: number, d: number): number | undefined => {
    const v = map.lookup(key(32, a, b, c, d));
    return v && new DataView(v.buffer).getUint32(0, true);
  };
  assert.equal(match(10, 1, 2, 3), 24);
  assert.equal(match(10, 9, 9, 9), 8);
  assert.equal(match(11, 0, 0, 1), undefined);
});

test('queue and stack: push, peek, pop order', kernel, (t) => {
  const queue = create(t, { type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 8, name: 'tsbpf_queue' });
  const stack = create(t, { type: MapType.STACK, keySize: 0, valueSize: 4, maxEntries: 8, name: 'tsbpf_stack' });
  for (const m of [queue, stack]) for (const v of [1, 2, 3]) m.update(null, u32(v));
  const drain = (m: KernelMap): number[] => {
    const out: number[] = [];
    for (let v = m.lookupAndDelete(null); v; v = m.lookupAndDelete(null)) out.push(new DataView(v.buffer).getUint32(0, true));
    return out;
  };
  assert.deepEqual([...queue.lookup(null)!], [1, 0, 0, 0]);
  assert.deepEqual(drain(queue), [1, 2, 3]);
  assert.deepEqual(drain(stack), [3, 2, 1]);
  assert.throws(() => queue.update(u32(1), u32(1)), /key is 4 bytes, the map's key size is 0/);
});

test('ring buffer map is created with a page-multiple power-of-two size', kernel, (t) => {
  const ring = create(t, { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 64 * 1024, name: 'tsbpf_rb' });
  assert.equal(mapInfo(ring.fd).maxEntries, 64 * 1024);
  assert.throws(
    () => KernelMap.create({ type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 1000 }),
    (e: unknown) => e instanceof BpfSyscallError && e.code === 'EINVAL' && /RINGBUF map/.test(e.message),
  );
});

test('map-in-map: hash of arrays built from an inner template', kernel, (t) => {
  const inner = create(t, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, name: 'tsbpf_inner' });
  const outer = create(t, { type: MapType.HASH_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 4, innerMap: inner, name: 'tsbpf_outer' });
  outer.update(u32(7), u32(inner.fd));
  const innerId = new DataView(outer.lookup(u32(7))!.buffer).getUint32(0, true);
  assert.equal(innerId, mapInfo(inner.fd).id);
});

test('bad input: wrong key and value sizes, bad names, closed maps', kernel, (t) => {
  const map = create(t, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 4, name: 'tsbpf_bad' });
  assert.throws(() => map.lookup(new Uint8Array(3)), (e: unknown) => e instanceof KernelArgumentError && /key is 3 bytes, the map's key size is 4/.test(e.message));
  assert.throws(() => map.update(u32(1), new Uint8Array(7)), /value is 7 bytes, expected 8/);
  assert.throws(() => KernelMap.create({ type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 1, name: 'a_name_that_is_too_long' }), /longer than 15 bytes/);
  assert.throws(
    () => KernelMap.create({ type: 4242, keySize: 4, valueSize: 4, maxEntries: 1 }),
    (e: unknown) => e instanceof BpfSyscallError && e.code === 'EINVAL' && e.command === 'MAP_CREATE',
  );
  assert.throws(() => KernelMap.create({ type: MapType.HASH, keySize: 0, valueSize: 4, maxEntries: 1 }), (e: unknown) => e instanceof BpfSyscallError && e.code === 'EINVAL');
  map.close();
  map.close();
  assert.throws(() => map.lookup(u32(1)), (e: unknown) => e instanceof ClosedError && /HASH map 'tsbpf_bad' is closed/.test(e.message));
  assert.throws(() => map.update(u32(1), u64(1)), ClosedError);
  assert.throws(() => [...map.keys()], ClosedError);
});

test('pinning a map and opening it again by path', kernel, (t) => {
  const dir = `${ensureBpffs()}/tsbpf_test_maps_${process.pid}`;
  mkdirSync(dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const map = create(t, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, name: 'tsbpf_pin' });
  map.update(u32(0), u64(0xabcdef));
  map.pin(`${dir}/counter`);
  assert.throws(() => map.pin(`${dir}/counter`), (e: unknown) => e instanceof BpfSyscallError && e.code === 'EEXIST');
  const fd = openPinned(`${dir}/counter`);
  try {
    assert.equal(mapInfo(fd).id, mapInfo(map.fd).id);
  } finally {
    sysClose(fd);
  }
  assert.throws(() => openPinned(`${dir}/missing`), (e: unknown) => e instanceof BpfSyscallError && /nothing is pinned/.test(e.message));
  assert.ok(listIds('map').includes(mapInfo(map.fd).id));
});
