import { ArrayDescriptor } from '../../maps/array.ts';
import { Descriptor, vmMapByHandle } from '../../maps/base.ts';
import { HashDescriptor } from '../../maps/hash.ts';
import { MapType } from '../../uapi/enums.ts';
import type { VmMemory } from '../memory.ts';

/**
 * What the compiler needs to inline bpf_map_lookup_elem on one VM map,
 * read from the map's descriptor in VM memory (layout: docs/maps.md,
 * src/maps). Only plain arrays and (LRU) hash maps are inlined: per-CPU and
 * map-in-map lookups keep the helper call.
 */
export type InlineMap =
  | { readonly kind: 'array'; readonly values: number; readonly elementSize: number; readonly maxEntries: number }
  | {
      readonly kind: 'hash';
      readonly keySize: number;
      readonly bucketMask: number;
      readonly buckets: number;
      readonly entries: number;
      readonly entryStride: number;
      readonly valueOffset: number;
      readonly seed: number;
      readonly lru: boolean;
      readonly maxEntries: number;
    };

/** The inlinable description of the live VM map whose descriptor is at `handle` in `memory`, or undefined. */
export function inlineMapAt(memory: VmMemory, handle: number): InlineMap | undefined {
  const map = vmMapByHandle(memory, handle);
  if (map === undefined) return undefined;
  const view = memory.view;
  const word = (offset: number): number => view.getUint32(handle + offset, true);
  const specific = (index: number): number => word(Descriptor.SPECIFIC + 4 * index);
  const type = word(Descriptor.TYPE);
  const maxEntries = word(Descriptor.MAX_ENTRIES);
  if (type === MapType.ARRAY && word(Descriptor.KEY_SIZE) === 4) {
    return { kind: 'array', values: specific(ArrayDescriptor.VALUES), elementSize: specific(ArrayDescriptor.ELEMENT_SIZE), maxEntries };
  }
  if (type === MapType.HASH || type === MapType.LRU_HASH) {
    return {
      kind: 'hash',
      keySize: word(Descriptor.KEY_SIZE),
      bucketMask: specific(HashDescriptor.BUCKET_MASK),
      buckets: specific(HashDescriptor.BUCKETS),
      entries: specific(HashDescriptor.ENTRIES),
      entryStride: specific(HashDescriptor.ENTRY_STRIDE),
      valueOffset: specific(HashDescriptor.VALUE_OFFSET),
      seed: specific(HashDescriptor.SEED),
      lru: specific(HashDescriptor.LRU) !== 0,
      maxEntries,
    };
  }
  return undefined;
}
