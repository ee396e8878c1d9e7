import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { VmMemory } from '../../src/vm/memory.ts';
import { HashMap } from '../../src/maps/hash.ts';
import { MapError } from '../../src/maps/errors.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { MapFlag, UpdateFlag } from '../../src/uapi/maps.ts';
import { jhash } from '../../src/maps/jhash.ts';

const u32 = (n: number): Uint8Array => new Uint8Array(new Uint32Array([n]).buffer);
const u64 = (n: bigint): Uint8Array => new Uint8Array(new BigUint64Array([n]).buffer);
const readU32 = (b: Uint8Array): number => new DataView(b.buffer, b.byteOffset).getUint32(0, true);

function errno(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof MapError, String(error));
    return error.code;
  }
  assert.fail('expected a MapError');
}

test('jhash matches the kernel reference values', () => {
  // Values computed with include/linux/jhash.h (lookup3) for these inputs.
  const bytes = new TextEncoder().encode('Four score and seven years ago');
  assert.equal(jhash(bytes, 0, 0, 0), 0xdeadbeef);
  assert.equal(jhash(bytes, 0, bytes.length, 0), 0x17770551);
  assert.equal(jhash(bytes, 0, bytes.length, 1), 0xcd628161);
});

test('hash map: insert, update flags, full map, delete', () => {
  const m = new HashMap(new VmMemory(), { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 3, name: 'h' });
  m.update(u32(1), u64(10n));
  m.update(u32(2), u64(20n), UpdateFlag.NOEXIST);
  assert.equal(errno(() => m.update(u32(2), u64(21n), UpdateFlag.NOEXIST)), 'EEXIST');
  assert.equal(errno(() => m.update(u32(9), u64(21n), UpdateFlag.EXIST)), 'ENOENT');
  m.update(u32(2), u64(22n), UpdateFlag.EXIST);
  m.update(u32(3), u64(30n));
  assert.equal(errno(() => m.update(u32(4), u64(40n))), 'E2BIG');
  m.update(u32(3), u64(31n)); // replacing in a full map works
  assert.deepEqual(m.lookup(u32(2)), u64(22n));
  assert.equal(m.lookup(u32(4)), undefined);
  assert.equal(m.delete(u32(1)), true);
  assert.equal(m.delete(u32(1)), false);
  m.update(u32(4), u64(40n));
  assert.equal(m.size, 3);
  assert.equal(errno(() => m.update(u32(5), u64(1n), 3)), 'EINVAL');
  assert.match(String((() => { try { m.update(new Uint8Array(2), u64(1n)); } catch (e) { return e; } })()), /key is 2 bytes, the map's key size is 4/);
  assert.match(String((() => { try { m.update(u32(1), new Uint8Array(3)); } catch (e) { return e; } })()), /value is 3 bytes, expected 8/);
});

test('hash map: program view returns stable value addresses', () => {
  const memory = new VmMemory();
  const m = new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 16 });
  const key = memory.allocate(8);
  memory.view.setUint32(key, 7, true);
  assert.equal(m.lookupElem(key, 0), 0);
  const value = memory.allocate(8);
  memory.view.setBigUint64(value, 99n, true);
  assert.equal(m.updateElem(key, value, UpdateFlag.ANY, 0), 0);
  const addr = m.lookupElem(key, 0);
  assert.notEqual(addr, 0);
  assert.ok(memory.regionAt(addr, 8)?.kind === 'map');
  memory.view.setBigUint64(addr, 100n, true); // a program writing through the pointer
  assert.deepEqual(m.lookup(u32(7)), u64(100n));
  assert.equal(m.updateElem(key, value, UpdateFlag.NOEXIST, 0), -17);
  assert.equal(m.lookupElem(key, 0), addr);
  assert.equal(m.deleteElem(key), 0);
  assert.equal(m.deleteElem(key), -2);
});

test('hash map: creation errors', () => {
  const memory = new VmMemory();
  assert.equal(errno(() => new HashMap(memory, { type: MapType.HASH, keySize: 0, valueSize: 8, maxEntries: 1 })), 'EINVAL');
  assert.equal(errno(() => new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 0 })), 'EINVAL');
  assert.equal(errno(() => new HashMap(memory, { type: MapType.HASH, keySize: 1 << 24, valueSize: 8, maxEntries: 1 })), 'E2BIG');
  assert.equal(errno(() => new HashMap(memory, { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: MapFlag.MMAPABLE })), 'EINVAL');
  assert.equal(errno(() => new HashMap(memory, { type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: MapFlag.NO_PREALLOC })), 'ENOTSUPP');
  assert.equal(errno(() => new HashMap(memory, { type: MapType.PERCPU_HASH, keySize: 4, valueSize: 40000, maxEntries: 1 })), 'E2BIG');
});

test('hash map: get_next_key restarts from the first key when the current key was deleted', () => {
  const m = new HashMap(new VmMemory(), { type: MapType.HASH, keySize: 4, valueSize: 4, maxEntries: 64, flags: MapFlag.ZERO_SEED });
  for (let i = 0; i < 20; i++) m.update(u32(i), u32(i));
  const order = [...m.keys()].map(readU32);
  assert.equal(order.length, 20);
  const first = m.nextKey(undefined)!;
  const third = order[2]!;
  m.delete(u32(third));
  assert.deepEqual(m.nextKey(u32(third)), first);
  // Deleting every key as we go (the classic drain loop) visits each once.
  const seen: number[] = [];
  let key = m.nextKey(undefined);
  while (key) {
    seen.push(readU32(key));
    m.delete(key);
    key = m.nextKey(key);
  }
  assert.equal(seen.length, 19);
  assert.equal(m.size, 0);
});

test('hash map iteration order equals the kernel with BPF_F_ZERO_SEED', { skip: skipWithoutKernel() }, async () => {
  const { KernelMap } = await import('../../src/kernel/map.ts');
  for (const keySize of [4, 6, 16]) {
    const options = { type: MapType.HASH, keySize, valueSize: 4, maxEntries: 100, flags: MapFlag.ZERO_SEED };
    const kernel = KernelMap.create(options);
    const vm = new HashMap(new VmMemory(), options);
    try {
      for (let i = 0; i < 60; i++) {
        const key = new Uint8Array(keySize);
        new DataView(key.buffer).setUint32(0, i * 2654435761, true);
        key[keySize - 1] = i;
        kernel.update(key, u32(i));
        vm.update(key, u32(i));
      }
      // Updating an existing key moves it to the head of its bucket in both.
      const again = vm.nextKey(undefined)!;
      kernel.update(again, u32(1000));
      vm.update(again, u32(1000));
      assert.deepEqual([...vm.keys()], [...kernel.keys()], `key size ${keySize}`);
    } finally {
      kernel.close();
      vm.close();
    }
  }
});
