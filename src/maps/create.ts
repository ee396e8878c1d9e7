import { MapType } from '../uapi/enums.ts';
import type { VmMemory } from '../vm/memory.ts';
import { ArrayMap, ReferenceArrayMap } from './array.ts';
import { validateMapDefinition, type VmMap, type VmMapOptions } from './base.ts';
import { MapError } from './errors.ts';
import { HashMap } from './hash.ts';
import { LpmTrieMap } from './lpm.ts';
import { PerfEventArrayMap } from './perf.ts';
import { BloomFilterMap, QueueStackMap } from './queue.ts';
import { RingBufMap } from './ringbuf.ts';
import { StackTraceMap } from './stacktrace.ts';

type MapConstructor = new (memory: VmMemory, options: VmMapOptions) => VmMap;

const IMPLEMENTATIONS: Partial<Record<number, MapConstructor>> = {
  [MapType.HASH]: HashMap,
  [MapType.PERCPU_HASH]: HashMap,
  [MapType.LRU_HASH]: HashMap,
  [MapType.LRU_PERCPU_HASH]: HashMap,
  [MapType.HASH_OF_MAPS]: HashMap,
  [MapType.ARRAY]: ArrayMap,
  [MapType.PERCPU_ARRAY]: ArrayMap,
  [MapType.PROG_ARRAY]: ReferenceArrayMap,
  [MapType.ARRAY_OF_MAPS]: ReferenceArrayMap,
  [MapType.CGROUP_ARRAY]: ReferenceArrayMap,
  [MapType.PERF_EVENT_ARRAY]: PerfEventArrayMap,
  [MapType.LPM_TRIE]: LpmTrieMap,
  [MapType.QUEUE]: QueueStackMap,
  [MapType.STACK]: QueueStackMap,
  [MapType.BLOOM_FILTER]: BloomFilterMap,
  [MapType.RINGBUF]: RingBufMap,
  [MapType.STACK_TRACE]: StackTraceMap,
};

/** Map types the VM implements. */
export const VM_MAP_TYPES: readonly number[] = Object.keys(IMPLEMENTATIONS).map(Number);

/**
 * Creates a VM map of any implemented type, with BPF_MAP_CREATE's checks.
 * Types that only make sense inside a kernel (sockets, devices, cgroup and
 * task storage, struct_ops, arena, user ring buffer) are EOPNOTSUPP.
 */
export function createVmMap(memory: VmMemory, options: VmMapOptions): VmMap {
  const rule = validateMapDefinition(options);
  const Implementation = IMPLEMENTATIONS[options.type];
  if (Implementation === undefined) {
    throw new MapError('EOPNOTSUPP', `${rule.name} map${options.name ? ` '${options.name}'` : ''}`, 'create', `the VM does not implement ${rule.name} maps (they need kernel objects)`);
  }
  return new Implementation(memory, options);
}
