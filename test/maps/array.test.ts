import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { VmMemory } from '../../src/vm/memory.ts';
import { ArrayMap, ReferenceArrayMap } from '../../src/maps/array.ts';
import { HashMap } from '../../src/maps/hash.ts';
import { createVmMap } from '../../src/maps/create.ts';
import { ClosedError } from '../../src/kernel/errors.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { MapFlag, UpdateFlag } from '../../src/uapi/maps.ts';
import { errnoOf, readU32, u32, u64 } from './support.ts';

test('array: zeroed elements, index bounds, no delete, index order', () => {
  const m = new ArrayMap(new VmMemory(), { type: MapType.ARRAY, keySize: 4, valueSize: 12, maxEntries: 4 });
  assert.deepEqual(m.lookup(u32(3)), new Uint8Array(12));
  assert.equal(m.lookup(u32(4)), undefined);
  assert.equal(errnoOf(() => m.update(u32(4), new Uint8Array(12))), 'E2BIG');
  assert.equal(errnoOf(() => m.update(u32(1), new Uint8Array(12), UpdateFlag.NOEXIST)), 'EEXIST');
  assert.equal(errnoOf(() => m.delete(u32(1))), 'EINVAL');
  m.update(u32(2), new Uint8Array(12).fill(7), UpdateFlag.EXIST);
  assert.deepEqual(m.lookup(u32(2)), new Uint8Array(12).fill(7));
  assert.deepEqual([...m.keys()].map(readU32), [0, 1, 2, 3]);
  assert.deepEqual(m.nextKey(u32(99)), u32(0));
  assert.equal(m.nextKey(u32(3)), undefined);
  assert.equal(m.elementAddress(1) - m.elementAddress(0), 16); // round_up(12, 8)
  assert.equal(errnoOf(() => new ArrayMap(new VmMemory(), { type: MapType.ARRAY, keySize: 8, valueSize: 4, maxEntries: 1 })), 'EINVAL');
});

test('percpu array: one value per CPU, 8-byte stride to user space; programs see their CPU', () => {
  const memory = new VmMemory();
  const m = new ArrayMap(memory, { type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, cpus: 3 });
  assert.equal(m.valueBufferSize, 24);
  m.updatePerCpu(u32(1), [u32(10), u32(11), u32(12)]);
  const key = memory.allocate(4);
  memory.view.setUint32(key, 1, true);
  assert.equal(memory.view.getUint32(m.lookupElem(key, 2), true), 12);
  memory.view.setUint32(m.lookupElem(key, 0), 100, true);
  assert.deepEqual(m.lookupPerCpu(u32(1))!.map(readU32), [100, 11, 12]);
  assert.equal(memory.view.getUint32(m.lookupPercpuElem(key, 1), true), 11);
  assert.equal(m.lookupPercpuElem(key, 3), 0);
  assert.equal(errnoOf(() => m.update(u32(0), new Uint8Array(4))), 'EINVAL');
});

test('percpu hash: program updates touch the running CPU, new entries zero the others', () => {
  const memory = new VmMemory();
  const m = new HashMap(memory, { type: MapType.PERCPU_HASH, keySize: 4, valueSize: 8, maxEntries: 8, cpus: 2 });
  const key = memory.allocate(4);
  const value = memory.allocate(8);
  memory.view.setUint32(key, 5, true);
  memory.view.setBigUint64(value, 77n, true);
  assert.equal(m.updateElem(key, value, 0, 1), 0);
  assert.deepEqual(m.lookupPerCpu(u32(5)), [u64(0n), u64(77n)]);
  assert.equal(memory.view.getBigUint64(m.lookupElem(key, 1), true), 77n);
  m.updatePerCpu(u32(5), [u64(1n), u64(2n)]);
  assert.equal(memory.view.getBigUint64(m.lookupElem(key, 0), true), 1n);
});

test('LRU hash: a full map evicts the least recently used entry; program lookups count as use', () => {
  const memory = new VmMemory();
  const m = new HashMap(memory, { type: MapType.LRU_HASH, keySize: 4, valueSize: 4, maxEntries: 3 });
  for (const k of [1, 2, 3]) m.update(u32(k), u32(k));
  const key = memory.allocate(4);
  memory.view.setUint32(key, 1, true);
  assert.notEqual(m.lookupElem(key, 0), 0); // 1 is now recently used
  m.update(u32(4), u32(4)); // evicts 2, the least recently used
  assert.equal(m.lookup(u32(2)), undefined);
  assert.deepEqual([1, 3, 4].map((k) => m.lookup(u32(k)) !== undefined), [true, true, true]);
  m.update(u32(3), u32(33)); // updating is use too
  m.update(u32(5), u32(5)); // evicts 1 (its reference was consumed by the previous scan) before 4
  assert.equal(m.lookup(u32(1)), undefined);
  assert.equal(m.size, 3);
  // User-space lookups do not count as use (htab_lru_map_lookup_elem_sys).
  m.lookup(u32(4));
  m.update(u32(6), u32(6));
  assert.equal(m.lookup(u32(4)), undefined);
});

test('freeze, RDONLY/WRONLY, close', () => {
  const memory = new VmMemory();
  const rodata = new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: MapFlag.RDONLY_PROG });
  rodata.update(u32(0), u64(42n));
  rodata.freeze();
  assert.equal(errnoOf(() => rodata.update(u32(0), u64(1n))), 'EPERM');
  assert.equal(errnoOf(() => rodata.freeze()), 'EBUSY');
  assert.deepEqual(rodata.lookup(u32(0)), u64(42n));
  assert.equal(memory.regionAt(rodata.elementAddress(0), 8)!.writable, false);
  const wronly = new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 1, flags: MapFlag.WRONLY });
  wronly.update(u32(1), u32(1));
  assert.equal(errnoOf(() => wronly.lookup(u32(1))), 'EPERM');
  wronly.close();
  wronly.close();
  assert.throws(() => wronly.update(u32(1), u32(1)), ClosedError);
  assert.equal(memory.regionAt(rodata.elementAddress(0), 8)!.kind, 'map');
});

test('batch operations', () => {
  const m = new HashMap(new VmMemory(), { type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 10 });
  assert.equal(m.updateBatch([u32(1), u32(2), u32(3)], [u32(10), u32(20), u32(30)]), 3);
  assert.equal(errnoOf(() => m.updateBatch([u32(4), u32(1)], [u32(40), u32(11)], UpdateFlag.NOEXIST)), 'EEXIST');
  assert.equal(m.size, 4); // the batch stops at the failing element; earlier ones stay written
  assert.deepEqual(new Set(m.lookupBatch({ batchSize: 2 }).map(([k, v]) => `${readU32(k)}=${readU32(v)}`)), new Set(['1=10', '2=20', '3=30', '4=40']));
  assert.equal(m.deleteBatch([u32(1), u32(2)]), 2);
  assert.equal(errnoOf(() => m.deleteBatch([u32(1)])), 'ENOENT');
  assert.equal(m.lookupAndDeleteBatch().length, 2);
  assert.equal(m.size, 0);
  const a = new ArrayMap(new VmMemory(), { type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 2 });
  assert.equal(errnoOf(() => a.lookupAndDeleteBatch()), 'EINVAL');
});

test('prog array, array of maps and hash of maps hold references', () => {
  const memory = new VmMemory();
  const programs = new Map([[7, { name: 'target' }]]);
  const progs = new ReferenceArrayMap<{ name: string }>(memory, { type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 4, resolve: (id) => programs.get(id) });
  progs.update(u32(2), u32(7));
  assert.equal(progs.at(2)?.name, 'target');
  assert.deepEqual(progs.lookup(u32(2)), u32(7));
  assert.equal(errnoOf(() => progs.update(u32(1), u32(8))), 'EBADF');
  assert.equal(progs.delete(u32(2)), true);
  assert.equal(progs.at(2), undefined);

  const template = new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  const inner = new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 4 });
  const wrong = new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 5 });
  const outer = new ReferenceArrayMap(memory, { type: MapType.ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: template });
  outer.update(u32(0), u32(inner.id));
  assert.match(String((() => { try { outer.update(u32(1), u32(wrong.id)); } catch (e) { return e; } })()), /max_entries 5 ≠ 4/);
  const key = memory.allocate(4);
  assert.equal(outer.lookupElem(key), inner.handle);
  assert.deepEqual(outer.lookup(u32(0)), u32(inner.id));
  const hashOfMaps = new HashMap(memory, { type: MapType.HASH_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 2, innerMap: template });
  hashOfMaps.update(u32(9), u32(inner.id));
  memory.view.setUint32(key, 9, true);
  assert.equal(hashOfMaps.lookupElem(key, 0), inner.handle);
  assert.deepEqual(hashOfMaps.lookup(u32(9)), u32(inner.id));
  assert.equal(errnoOf(() => new HashMap(memory, { type: MapType.HASH_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 2 })), 'EINVAL');
});

test('createVmMap: kernel-only map types are EOPNOTSUPP', () => {
  assert.equal(errnoOf(() => createVmMap(new VmMemory(), { type: MapType.SOCKMAP, keySize: 4, valueSize: 4, maxEntries: 1 })), 'EOPNOTSUPP');
  assert.ok(createVmMap(new VmMemory(), { type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 1 }));
});

test('array semantics equal the kernel', { skip: skipWithoutKernel() }, async () => {
  const { KernelMap } = await import('../../src/kernel/map.ts');
  const options = { type: MapType.ARRAY, keySize: 4, valueSize: 4, maxEntries: 3 };
  const kernel = KernelMap.create(options);
  const vm = new ArrayMap(new VmMemory(), options);
  try {
    for (const m of [kernel, vm]) {
      m.update(u32(1), u32(5), UpdateFlag.EXIST);
      assert.throws(() => m.update(u32(3), u32(5)), (e: { code?: string }) => e.code === 'E2BIG');
      assert.throws(() => m.update(u32(0), u32(5), UpdateFlag.NOEXIST), (e: { code?: string }) => e.code === 'EEXIST');
      assert.throws(() => m.delete(u32(0)), (e: { code?: string }) => e.code === 'EINVAL');
    }
    assert.deepEqual([...vm.entries()], [...kernel.entries()]);
    assert.deepEqual(vm.nextKey(u32(17)), kernel.nextKey(u32(17)));
  } finally {
    kernel.close();
    vm.close();
  }
});

test('BPF_F_LOCK needs a bpf_spin_lock in the value; the lock word is never copied from or to user space', () => {
  const memory = new VmMemory();
  const plain = new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 2 });
  assert.equal(errnoOf(() => plain.update(u32(1), u64(1n), UpdateFlag.F_LOCK)), 'EINVAL');
  assert.equal(errnoOf(() => plain.lookup(u32(1), UpdateFlag.F_LOCK)), 'EINVAL');
  assert.equal(errnoOf(() => new HashMap(memory, { type: MapType.PERCPU_HASH, keySize: 4, valueSize: 8, maxEntries: 2, spinLockOffset: 0 })), 'EOPNOTSUPP');
  assert.equal(errnoOf(() => new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, spinLockOffset: 6 })), 'EINVAL');
  for (const m of [
    new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 2, spinLockOffset: 0 }),
    new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 2, spinLockOffset: 0 }),
  ]) {
    const value = new Uint8Array([0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
    m.update(u32(1), value, UpdateFlag.F_LOCK);
    const key = memory.allocate(4);
    memory.view.setUint32(key, 1, true);
    const address = m.lookupElem(key, 0);
    assert.equal(memory.view.getUint32(address, true), 0, `${m.describe()}: lock word not written from user space`);
    memory.view.setUint32(address, 1, true); // a program holds the lock
    assert.deepEqual(m.lookup(u32(1), UpdateFlag.F_LOCK), new Uint8Array([0, 0, 0, 0, 1, 2, 3, 4]));
    m.update(u32(1), new Uint8Array(8).fill(9));
    assert.equal(memory.view.getUint32(address, true), 1, `${m.describe()}: lock word kept by updates`);
  }
});

test('LRU per-CPU hash: evicts when full, values per CPU', () => {
  const memory = new VmMemory();
  const m = new HashMap(memory, { type: MapType.LRU_PERCPU_HASH, keySize: 4, valueSize: 4, maxEntries: 2, cpus: 2, flags: MapFlag.NO_COMMON_LRU });
  m.updatePerCpu(u32(1), [u32(10), u32(11)]);
  m.updatePerCpu(u32(2), [u32(20), u32(21)]);
  const key = memory.allocate(4);
  memory.view.setUint32(key, 1, true);
  assert.equal(memory.view.getUint32(m.lookupElem(key, 1), true), 11);
  m.updatePerCpu(u32(3), [u32(30), u32(31)]);
  assert.equal(m.lookup(u32(2)), undefined);
  assert.deepEqual(m.lookupPerCpu(u32(1))!.map(readU32), [10, 11]);
  assert.deepEqual(m.lookupPerCpu(u32(3))!.map(readU32), [30, 31]);
});

test('a map constructor that fails leaves no memory or registration behind', () => {
  const memory = new VmMemory();
  const regionsBefore = memory.listRegions().length;
  const top = memory.allocate(16);
  memory.release(top, 16);
  assert.equal(errnoOf(() => new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 1 << 20, maxEntries: 4096 })), 'E2BIG');
  assert.equal(errnoOf(() => new ArrayMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1 })), 'EINVAL');
  const closed = new ArrayMap(memory, { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 });
  closed.close();
  assert.equal(errnoOf(() => new HashMap(memory, { type: MapType.HASH_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1, innerMap: closed })), 'EBADF');
  assert.equal(memory.listRegions().length, regionsBefore);
  assert.equal(memory.allocate(16), top, 'all reserved memory was released');
});
