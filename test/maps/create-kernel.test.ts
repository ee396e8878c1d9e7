// BPF_MAP_CREATE's checks: the VM (validateMapDefinition + each map type's
// constructor) must accept what the kernel accepts and fail with the same
// errno otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skipWithoutKernel } from '../support/env.ts';
import { VmMemory } from '../../src/vm/memory.ts';
import { createVmMap } from '../../src/maps/create.ts';
import { MapType, mapTypeName } from '../../src/uapi/enums.ts';
import { MapFlag } from '../../src/uapi/maps.ts';
import { u32 } from './support.ts';

const F = MapFlag;
const CASES: { type: number; keySize: number; valueSize: number; maxEntries: number; flags?: number; mapExtra?: bigint }[] = [
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1 },
  { type: MapType.HASH, keySize: 0, valueSize: 8, maxEntries: 1 },
  { type: MapType.HASH, keySize: 4, valueSize: 0, maxEntries: 1 },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 0 },
  { type: MapType.HASH, keySize: 513, valueSize: 8, maxEntries: 1 },
  { type: MapType.HASH, keySize: 1 << 24, valueSize: 8, maxEntries: 1 },
  { type: MapType.SOCKHASH, keySize: 513, valueSize: 4, maxEntries: 1 },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.NO_COMMON_LRU },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.MMAPABLE },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.RDONLY | F.WRONLY },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.RDONLY_PROG | F.WRONLY_PROG },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.RDONLY_PROG },
  { type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.NO_COMMON_LRU },
  { type: MapType.LRU_HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.LRU_PERCPU_HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.ZERO_SEED },
  { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.STACK_BUILD_ID },
  { type: MapType.ARRAY, keySize: 4, valueSize: 0, maxEntries: 1 },
  { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 0 },
  { type: MapType.ARRAY_OF_MAPS, keySize: 4, valueSize: 4, maxEntries: 1 },
  { type: MapType.STACK_TRACE, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.STACK_BUILD_ID },
  { type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 0 },
  { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096, flags: F.RDONLY },
  { type: MapType.PERCPU_HASH, keySize: 4, valueSize: 32768, maxEntries: 1 },
  { type: MapType.PERCPU_HASH, keySize: 4, valueSize: 32769, maxEntries: 1 },
  { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.MMAPABLE },
  { type: MapType.ARRAY, keySize: 8, valueSize: 8, maxEntries: 1 },
  { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.PRESERVE_ELEMS },
  { type: MapType.ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.INNER_MAP },
  { type: MapType.PERCPU_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1, flags: F.MMAPABLE },
  { type: MapType.PERF_EVENT_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: F.PRESERVE_ELEMS },
  { type: MapType.PROG_ARRAY, keySize: 4, valueSize: 8, maxEntries: 1 },
  { type: MapType.PROG_ARRAY, keySize: 4, valueSize: 4, maxEntries: 1, flags: F.MMAPABLE },
  { type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 1 },
  { type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.LPM_TRIE, keySize: 4, valueSize: 4, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.LPM_TRIE, keySize: 261, valueSize: 4, maxEntries: 1, flags: F.NO_PREALLOC },
  { type: MapType.QUEUE, keySize: 0, valueSize: 4, maxEntries: 1 },
  { type: MapType.QUEUE, keySize: 4, valueSize: 4, maxEntries: 1 },
  { type: MapType.STACK, keySize: 0, valueSize: 4, maxEntries: 0 },
  { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 10, mapExtra: 3n },
  { type: MapType.BLOOM_FILTER, keySize: 0, valueSize: 4, maxEntries: 10, mapExtra: 16n },
  { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 },
  { type: MapType.RINGBUF, keySize: 0, valueSize: 0, maxEntries: 4096 * 3 },
  { type: MapType.RINGBUF, keySize: 4, valueSize: 0, maxEntries: 4096 },
  { type: MapType.STACK_TRACE, keySize: 4, valueSize: 8 * 127, maxEntries: 1 },
  { type: MapType.STACK_TRACE, keySize: 4, valueSize: 12, maxEntries: 1 },
  { type: MapType.STACK_TRACE, keySize: 4, valueSize: 8 * 128, maxEntries: 1 },
];

test('map creation accepts and rejects like the kernel', { skip: skipWithoutKernel() }, async () => {
  const { KernelMap } = await import('../../src/kernel/map.ts');
  const outcome = (create: () => { close(): void }): string => {
    try {
      create().close();
      return 'ok';
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    }
  };
  const mismatches: string[] = [];
  for (const c of CASES) {
    const kernel = outcome(() => KernelMap.create(c));
    const vm = outcome(() => createVmMap(new VmMemory(), c));
    if (kernel !== vm) mismatches.push(`${mapTypeName(c.type)} ${JSON.stringify({ ...c, mapExtra: c.mapExtra?.toString() })}: kernel ${kernel}, VM ${vm}`);
  }
  assert.equal(mismatches.length, 0, `${mismatches.length} mismatches:\n${mismatches.join('\n')}`);
});

test('per-CPU values look the same from user space as the kernel', { skip: skipWithoutKernel() }, async () => {
  const { KernelMap, possibleCpus } = await import('../../src/kernel/map.ts');
  const options = { type: MapType.PERCPU_HASH, keySize: 4, valueSize: 4, maxEntries: 4 };
  const kernel = KernelMap.create(options);
  const vm = createVmMap(new VmMemory(), { ...options, cpus: possibleCpus() });
  try {
    assert.equal(vm.valueBufferSize, kernel.valueBufferSize);
    const values = Array.from({ length: possibleCpus() }, (_, cpu) => u32(100 + cpu));
    kernel.updatePerCpu(u32(1), values);
    vm.updatePerCpu(u32(1), values);
    assert.deepEqual(vm.lookup(u32(1)), kernel.lookup(u32(1)));
    assert.deepEqual(vm.lookupPerCpu(u32(1)), kernel.lookupPerCpu(u32(1)));
  } finally {
    kernel.close();
    vm.close();
  }
});
