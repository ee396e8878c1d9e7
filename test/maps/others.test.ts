import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { VmMemory } from '../../src/vm/memory.ts';
import { LpmTrieMap } from '../../src/maps/lpm.ts';
import { BloomFilterMap, QueueStackMap } from '../../src/maps/queue.ts';
import { RingBufMap, VmRingBufferReader } from '../../src/maps/ringbuf.ts';
import { PerfEventArrayMap, VmPerfEventArrayReader } from '../../src/maps/perf.ts';
import { StackTraceMap } from '../../src/maps/stacktrace.ts';
import { MapType } from '../../src/uapi/enums.ts';
import { MapFlag, PerfEventConst, RingbufConst, StackFlag, UpdateFlag } from '../../src/uapi/maps.ts';
import { errnoOf, lpmKey, readU32, u32 } from './support.ts';

const lpmOptions = (maxEntries = 16) => ({ type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries, flags: MapFlag.NO_PREALLOC });

test('LPM trie: longest prefix wins, /0 matches everything, /32 only itself', () => {
  const m = new LpmTrieMap(new VmMemory(), lpmOptions());
  m.update(lpmKey(0, [0, 0, 0, 0]), u32(0));
  m.update(lpmKey(8, [10, 0, 0, 0]), u32(8));
  m.update(lpmKey(24, [10, 1, 2, 0]), u32(24));
  m.update(lpmKey(32, [10, 1, 2, 3]), u32(32));
  const match = (bytes: number[], len = 32): number | undefined => {
    const v = m.lookup(lpmKey(len, bytes));
    return v && readU32(v);
  };
  assert.equal(match([10, 1, 2, 3]), 32);
  assert.equal(match([10, 1, 2, 4]), 24);
  assert.equal(match([10, 9, 9, 9]), 8);
  assert.equal(match([192, 168, 0, 1]), 0);
  assert.equal(match([10, 1, 2, 3], 16), 8); // the key's prefix length bounds the match
  m.delete(lpmKey(0, [0, 0, 0, 0]));
  assert.equal(match([192, 168, 0, 1]), undefined);
  assert.equal(errnoOf(() => m.update(lpmKey(33, [1, 2, 3, 4]), u32(1))), 'EINVAL');
  assert.equal(errnoOf(() => m.update(lpmKey(8, [10, 7, 7, 7]), u32(1), UpdateFlag.NOEXIST)), 'EEXIST');
  assert.equal(m.delete(lpmKey(16, [10, 1, 0, 0])), false);
  assert.equal(errnoOf(() => new LpmTrieMap(new VmMemory(), { ...lpmOptions(), flags: 0 })), 'EINVAL');
  const v6 = new LpmTrieMap(new VmMemory(), { type: MapType.LPM_TRIE, keySize: 20, valueSize: 4, maxEntries: 4, flags: MapFlag.NO_PREALLOC });
  const addr = Array.from({ length: 16 }, (_, i) => i + 1);
  v6.update(lpmKey(128, addr), u32(128));
  v6.update(lpmKey(64, addr), u32(64));
  assert.equal(readU32(v6.lookup(lpmKey(128, addr))!), 128);
  assert.equal(readU32(v6.lookup(lpmKey(128, [...addr.slice(0, 15), 0]))!), 64);
});

test('LPM trie: full is ENOSPC; program lookups return value addresses', () => {
  const memory = new VmMemory();
  const m = new LpmTrieMap(memory, lpmOptions(2));
  m.update(lpmKey(8, [1, 0, 0, 0]), u32(1));
  m.update(lpmKey(8, [2, 0, 0, 0]), u32(2));
  assert.equal(errnoOf(() => m.update(lpmKey(8, [3, 0, 0, 0]), u32(3))), 'ENOSPC');
  const key = memory.allocate(8);
  memory.u8.set(lpmKey(32, [2, 9, 9, 9]), key);
  assert.equal(memory.view.getUint32(m.lookupElem(key), true), 2);
});

const LPM_PREFIXES: [number, number[]][] = [
  [0, [0, 0, 0, 0]], [8, [10, 0, 0, 0]], [16, [10, 1, 0, 0]], [24, [10, 1, 2, 0]], [24, [10, 1, 3, 0]],
  [32, [10, 1, 2, 3]], [8, [192, 0, 0, 0]], [16, [192, 168, 0, 0]], [32, [192, 168, 1, 1]], [1, [128, 0, 0, 0]], [32, [255, 255, 255, 255]],
];

test('LPM trie: get_next_key order equals the kernel', { skip: skipWithoutKernel() }, async () => {
  const { KernelMap } = await import('../../src/kernel/map.ts');
  const kernel = KernelMap.create(lpmOptions());
  const vm = new LpmTrieMap(new VmMemory(), lpmOptions());
  try {
    for (const [len, bytes] of LPM_PREFIXES) {
      kernel.update(lpmKey(len, bytes), u32(len));
      vm.update(lpmKey(len, bytes), u32(len));
    }
    assert.deepEqual([...vm.keys()], [...kernel.keys()]);
    // A key that is not in the trie restarts from the first one in both.
    assert.deepEqual(vm.nextKey(lpmKey(12, [1, 2, 3, 4])), kernel.nextKey(lpmKey(12, [1, 2, 3, 4])));
    for (const [len, bytes] of [[32, [10, 1, 2, 3]], [24, [10, 1, 2, 200]], [7, [193, 0, 0, 0]]] as const) {
      assert.deepEqual(vm.lookup(lpmKey(len, [...bytes])), kernel.lookup(lpmKey(len, [...bytes])), `lookup /${len}`);
    }
  } finally {
    kernel.close();
    vm.close();
  }
});

test('queue is FIFO, stack LIFO; full is E2BIG unless BPF_EXIST drops the oldest', () => {
  const memory = new VmMemory();
  const q = new QueueStackMap(memory, { type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 3 });
  const s = new QueueStackMap(memory, { type: MapType.STACK, keySize: 0, valueSize: 4, maxEntries: 3 });
  for (const m of [q, s]) {
    for (const v of [1, 2, 3]) m.update(null, u32(v));
    assert.equal(errnoOf(() => m.update(null, u32(4))), 'E2BIG');
    m.update(null, u32(4), UpdateFlag.EXIST); // drops 1, the oldest
    assert.equal(errnoOf(() => m.update(null, u32(5), UpdateFlag.NOEXIST)), 'EINVAL');
  }
  const drain = (m: QueueStackMap): number[] => {
    const out: number[] = [];
    for (let v = m.lookupAndDelete(null); v; v = m.lookupAndDelete(null)) out.push(readU32(v));
    return out;
  };
  assert.equal(readU32(q.lookup(null)!), 2);
  assert.equal(readU32(s.lookup(null)!), 4);
  assert.deepEqual(drain(q), [2, 3, 4]);
  assert.deepEqual(drain(s), [4, 3, 2]);
  const out = memory.allocate(4);
  assert.equal(q.popElem(out), -2);
  assert.equal(q.peekElem(out), -2);
  assert.equal(errnoOf(() => q.update(u32(1), u32(1))), 'EINVAL');
});

test('queue and stack behave like the kernel', { skip: skipWithoutKernel() }, async () => {
  const { KernelMap } = await import('../../src/kernel/map.ts');
  for (const type of [MapType.QUEUE, MapType.STACK]) {
    const options = { type, keySize: 0, valueSize: 4, maxEntries: 4 };
    const kernel = KernelMap.create(options);
    const vm = new QueueStackMap(new VmMemory(), options);
    try {
      const ops = (m: typeof kernel | typeof vm): number[] => {
        for (let v = 1; v <= 6; v++) m.update(null, u32(v), UpdateFlag.EXIST);
        const got = [readU32(m.lookupAndDelete(null)!), readU32(m.lookupAndDelete(null)!)];
        m.update(null, u32(7));
        for (let v = m.lookupAndDelete(null); v; v = m.lookupAndDelete(null)) got.push(readU32(v));
        return got;
      };
      assert.deepEqual(ops(vm), ops(kernel), `map type ${type}`);
    } finally {
      kernel.close();
      vm.close();
    }
  }
});

test('bloom filter: no false negatives, few false positives, kernel flags', () => {
  const memory = new VmMemory();
  const m = new BloomFilterMap(memory, { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 1000, mapExtra: 3n });
  assert.equal(m.hashCount, 3);
  for (let i = 0; i < 1000; i++) m.update(null, u32(i * 7919));
  for (let i = 0; i < 1000; i++) assert.ok(m.contains(u32(i * 7919)), `added value ${i * 7919}`);
  let falsePositives = 0;
  for (let i = 0; i < 10000; i++) if (m.contains(u32(1e9 + i))) falsePositives++;
  assert.ok(falsePositives < 1500, `${falsePositives} false positives in 10000`);
  const value = memory.allocate(4);
  memory.view.setUint32(value, 7919, true);
  assert.equal(m.peekElem(value), 0);
  assert.equal(m.pushElem(value, UpdateFlag.EXIST), -22);
  assert.equal(errnoOf(() => m.delete(new Uint8Array(0))), 'EOPNOTSUPP');
  assert.equal(errnoOf(() => new BloomFilterMap(memory, { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 1, mapExtra: 16n })), 'EINVAL');
  assert.equal(errnoOf(() => new BloomFilterMap(memory, { type: MapType.BLOOM_FILTER, keySize: 4, valueSize: 4, maxEntries: 1 })), 'EINVAL');
});

test('ring buffer: kernel record layout, reserve/submit/discard, wrap-around, full', () => {
  const memory = new VmMemory();
  assert.equal(errnoOf(() => new RingBufMap(memory, { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 * 3 })), 'EINVAL');
  const rb = new RingBufMap(memory, { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const reader = new VmRingBufferReader(rb);
  const first = rb.reserve(10);
  assert.equal(memory.view.getUint32(first - 8, true), (10 | RingbufConst.BUSY_BIT) >>> 0);
  const second = rb.reserve(3);
  assert.equal(second - first, 16 + 8); // round_up(10 + 8, 8)
  memory.u8.set([1, 2, 3], second);
  rb.commit(second, false);
  const got: number[][] = [];
  assert.equal(reader.poll((r) => got.push([...r])), 0); // the first record is still reserved
  rb.commit(first, true);
  assert.equal(reader.poll((r) => got.push([...r])), 1);
  assert.deepEqual(got, [[1, 2, 3]]);
  assert.equal(reader.discarded, 1);
  assert.equal(rb.consumerPos, rb.producerPos);
  // Fill past the end: records wrap and stay contiguous for the producer.
  const payload = new Uint8Array(1000).map((_, i) => i & 0xff);
  let written = 0;
  while (rb.output(payload) === 0) written++;
  assert.equal(rb.output(payload), -11); // EAGAIN when full
  assert.equal(rb.output(payload, 8), -22);
  let read = 0;
  reader.poll((r) => {
    assert.deepEqual(r, payload);
    read++;
  });
  assert.equal(read, written);
  for (let i = 0; i < 3; i++) assert.equal(rb.output(payload), 0); // wraps around the end
  assert.equal(reader.poll((r) => assert.deepEqual(r, payload)), 3);
  assert.equal(rb.query(RingbufConst.QUERY_RING_SIZE), 4096n);
  assert.equal(rb.reserve(5000), 0);
  reader.close();
});

test('ring buffer reader waits for data', async () => {
  const rb = new RingBufMap(new VmMemory(), { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 });
  const reader = new VmRingBufferReader(rb);
  assert.equal(await reader.wait(10), false);
  setTimeout(() => rb.output(new Uint8Array([9])), 5);
  assert.equal(await reader.wait(1000), true);
  const iterator = reader[Symbol.asyncIterator]();
  assert.deepEqual([...(await iterator.next()).value!], [9]);
  reader.close();
  assert.equal((await iterator.next()).done, true);
});

test('perf event array: per-CPU output, ENOENT without a reader, lost samples', () => {
  const m = new PerfEventArrayMap(new VmMemory(), { type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 2, cpus: 2 });
  assert.equal(m.output(0, PerfEventConst.CURRENT_CPU, new Uint8Array([1])), -2);
  const reader = new VmPerfEventArrayReader(m, { bytesPerCpu: 64 });
  assert.equal(m.output(1, PerfEventConst.CURRENT_CPU, new Uint8Array([1, 2, 3, 4, 5])), 0);
  assert.equal(m.output(1, 0n, new Uint8Array([6])), 0);
  assert.equal(m.output(0, 5n, new Uint8Array([6])), -7);
  for (let i = 0; i < 10; i++) m.output(0, 0n, new Uint8Array(16));
  const samples: [number, number][] = [];
  let lost = 0;
  reader.poll((s) => samples.push([s.cpu, s.data.length]), (n) => (lost += n));
  // CPU by CPU; sizes padded so that 4 + size is a multiple of 8; a 64-byte ring holds 2 of CPU 0's samples.
  assert.deepEqual(samples, [[0, 4], [0, 20], [1, 12]]);
  assert.equal(lost, 9);
  reader.close();
  assert.equal(m.output(0, 0n, new Uint8Array(1)), -2);
});

test('stack trace map: ids by hash, EEXIST on collision unless BPF_F_REUSE_STACKID', () => {
  const m = new StackTraceMap(new VmMemory(), { type: MapType.STACK_TRACE, keySize: 4, valueSize: 8 * 4, maxEntries: 1 });
  const a = m.getStackId([0x1000n, 0x2000n], 0);
  assert.equal(a, 0);
  assert.equal(m.getStackId([0x1000n, 0x2000n], 0), a);
  assert.equal(m.getStackId([0x3000n], 0), -17);
  assert.equal(m.getStackId([0x3000n], StackFlag.REUSE_STACKID), 0);
  const value = m.lookup(u32(0))!;
  assert.equal(value.length, 32);
  assert.equal(new DataView(value.buffer).getBigUint64(0, true), 0x3000n);
  assert.equal(new DataView(value.buffer).getBigUint64(8, true), 0n);
  assert.equal(m.getStackId([0x9n, 0x3000n], 1), 0); // skipping one frame gives the same stack
  assert.equal(m.getStackId([], 0), -14);
  assert.equal(m.getStackId([1n], 1 << 12), -22);
  assert.deepEqual([...m.keys()].map(readU32), [0]);
  assert.equal(m.delete(u32(0)), true);
  assert.equal(m.lookup(u32(0)), undefined);
  assert.equal(errnoOf(() => new StackTraceMap(new VmMemory(), { type: MapType.STACK_TRACE, keySize: 4, valueSize: 12, maxEntries: 1 })), 'EINVAL');
});
