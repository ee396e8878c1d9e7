import { MapFlag } from '../uapi/maps.ts';
import { vmMapById, type VmMap } from './base.ts';
import { MapError } from './errors.ts';

/** Maps that cannot be inner maps (kernel: map->ops->map_meta_equal is NULL for them). */
const NOT_INNER = new Set<string>(['prog_array', 'array_of_maps', 'hash_of_maps', 'struct_ops', 'cgroup_storage', 'percpu_cgroup_storage']);

let innerMapsGeneration = 0;

/** Called whenever a map of maps gains or loses an inner map: what a program reaches through it changed. */
export function innerMapsChanged(): void {
  innerMapsGeneration++;
}

/** Counts changes of any map of maps' contents (see innerMapsChanged), for caches of what programs reach. */
export function innerMapsVersion(): number {
  return innerMapsGeneration;
}

/** Checks a template at map-in-map creation (bpf_map_meta_alloc). */
export function checkInnerMap(outer: VmMap, template: VmMap): void {
  if (template.closed) throw new MapError('EBADF', outer.describe(), 'create', 'the inner map template is closed');
  if (NOT_INNER.has(template.rule.name)) throw new MapError('EINVAL', outer.describe(), 'create', `${template.describe()} cannot be an inner map`);
}

/**
 * Resolves a 4-byte map-in-map value (the inner map's id, standing in for an
 * fd) and checks it matches the template as bpf_map_meta_equal does: same
 * type, key size, value size and flags, and same max_entries unless the
 * template has BPF_F_INNER_MAP.
 */
export function innerMapFromValue(outer: VmMap & { innerTemplate: VmMap | undefined }, value: Uint8Array): VmMap {
  const id = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true);
  const inner = vmMapById(id);
  const fail = (code: 'EBADF' | 'EINVAL', detail: string): never => {
    throw new MapError(code, outer.describe(), 'update', detail);
  };
  if (inner === undefined) return fail('EBADF', `no open VM map has id ${id}`);
  if (inner.memory !== outer.memory) return fail('EINVAL', `${inner.describe()} lives in another VM memory`);
  const t = outer.innerTemplate!;
  const mismatch: string[] = [];
  if (inner.type !== t.type) mismatch.push(`type ${inner.type} ≠ ${t.type}`);
  if (inner.keySize !== t.keySize) mismatch.push(`key size ${inner.keySize} ≠ ${t.keySize}`);
  if (inner.valueSize !== t.valueSize) mismatch.push(`value size ${inner.valueSize} ≠ ${t.valueSize}`);
  if ((inner.flags & ~MapFlag.INNER_MAP) !== (t.flags & ~MapFlag.INNER_MAP)) mismatch.push(`map_flags ${inner.flags} ≠ ${t.flags}`);
  if (!(t.flags & MapFlag.INNER_MAP) && inner.maxEntries !== t.maxEntries) mismatch.push(`max_entries ${inner.maxEntries} ≠ ${t.maxEntries}`);
  if (mismatch.length > 0) fail('EINVAL', `${inner.describe()} does not match the inner map template: ${mismatch.join(', ')}`);
  return inner;
}
