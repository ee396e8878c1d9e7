import { MapType } from '../uapi/enums.ts';
import { MapFlag, UpdateFlag } from '../uapi/maps.ts';
import type { VmMemory } from '../vm/memory.ts';
import { VmMap, type VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';
import { checkInnerMap, innerMapFromValue, innerMapsChanged } from './inner.ts';

/** Descriptor words (after the common ones) of array maps. */
export const ArrayDescriptor = {
  /** Address of element 0. */
  VALUES: 0,
  /** Bytes per element: round_up(value_size, 8) (per-CPU: per CPU copy). */
  ELEMENT_SIZE: 1,
  /** CPUs (per-CPU arrays: element i of CPU c is at VALUES + (i * CPUS + c) * ELEMENT_SIZE). */
  CPUS: 2,
} as const;

const roundUp8 = (n: number): number => (n + 7) & ~7;

function indexOf(memory: VmMemory, keyAddress: number): number {
  return memory.view.getUint32(keyAddress, true);
}

/**
 * BPF_MAP_TYPE_ARRAY and PERCPU_ARRAY: max_entries elements of
 * round_up(value_size, 8) bytes, zero-initialized, contiguous in VM memory
 * (the kernel's layout, so an mmap-able array's bytes are the same).
 * Elements cannot be deleted (EINVAL); an index ≥ max_entries is E2BIG on
 * update and ENOENT on lookup.
 */
export class ArrayMap extends VmMap {
  readonly values: number;
  readonly elementSize: number;
  private readonly scratch: number;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.ARRAY, MapType.PERCPU_ARRAY]);
    this.elementSize = roundUp8(this.valueSize);
    const cpus = this.perCpu ? this.cpus : 1;
    this.values = this.reserveRegion(this.maxEntries * this.elementSize * cpus).start;
    this.scratch = this.reserveMemory(Math.max(this.valueBufferSize, 8), 'scratch value');
    [this.values, this.elementSize, cpus].forEach((w, i) => this.setDescriptorWord(i, w));
  }

  /** Address of element `index` for `cpu`. */
  elementAddress(index: number, cpu = 0): number {
    return this.values + (this.perCpu ? index * this.cpus + cpu : index) * this.elementSize;
  }

  override lookupElem(keyAddress: number, cpu: number): number {
    const index = indexOf(this.memory, keyAddress);
    return index < this.maxEntries ? this.elementAddress(index, cpu) : 0;
  }

  override updateElem(keyAddress: number, valueAddress: number, flags: number, cpu: number): number {
    return this.write(indexOf(this.memory, keyAddress), valueAddress, flags, false, cpu);
  }

  override deleteElem(_keyAddress: number): number {
    return negErrno('EINVAL');
  }

  private write(index: number, valueAddress: number, flags: number, onAllCpus: boolean, cpu: number): number {
    if (this.updateFlagsError(flags)) return negErrno('EINVAL');
    if (index >= this.maxEntries) return negErrno('E2BIG');
    if ((flags & ~UpdateFlag.F_LOCK) === UpdateFlag.NOEXIST) return negErrno('EEXIST'); // every element always exists
    const u8 = this.memory.u8;
    if (!this.perCpu || !onAllCpus) {
      this.copyValue(u8, this.elementAddress(index, cpu), valueAddress);
      return 0;
    }
    for (let c = 0; c < this.cpus; c++) {
      const from = valueAddress + c * this.valueStride;
      u8.copyWithin(this.elementAddress(index, c), from, from + this.valueSize);
    }
    return 0;
  }

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    const index = this.keyIndex(key, 'lookup');
    this.checkUserRead('lookup');
    this.checkLookupFlags(flags);
    if (index >= this.maxEntries) return undefined;
    const u8 = this.memory.u8;
    if (!this.perCpu) return this.userValue(u8, this.elementAddress(index));
    const out = new Uint8Array(this.valueBufferSize);
    for (let c = 0; c < this.cpus; c++) out.set(u8.subarray(this.elementAddress(index, c), this.elementAddress(index, c) + this.valueSize), c * this.valueStride);
    return out;
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    const index = this.keyIndex(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    this.memory.u8.set(value, this.scratch);
    const result = this.write(index, this.scratch, flags, true, 0);
    if (result === negErrno('E2BIG')) throw this.error('E2BIG', 'update', `index ${index} is out of range (max_entries ${this.maxEntries})`);
    if (result === negErrno('EEXIST')) throw this.error('EEXIST', 'update', 'array elements always exist (BPF_NOEXIST)');
    if (result < 0) throw this.error('EINVAL', 'update', `invalid update flags ${flags}`);
  }

  override delete(key: Uint8Array): boolean {
    this.keyIndex(key, 'delete');
    throw this.error('EINVAL', 'delete', 'array elements cannot be deleted');
  }

  override nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    return this.nextArrayKey(key);
  }

  /** The array's bytes as an mmap of a BPF_F_MMAPABLE array shows them (a live view; re-take it after VM memory grows). */
  mmap(): Uint8Array {
    this.checkOpen();
    if (!(this.flags & MapFlag.MMAPABLE)) throw this.error('EINVAL', 'mmap', 'the map was not created with BPF_F_MMAPABLE');
    return this.memory.u8.subarray(this.values, this.values + this.maxEntries * this.elementSize);
  }
}

/** What a reference array's slots hold. */
export type ReferenceKind = 'program' | 'map' | 'perf_event' | 'cgroup';

const REFERENCE_KINDS: Partial<Record<number, ReferenceKind>> = {
  [MapType.PROG_ARRAY]: 'program',
  [MapType.ARRAY_OF_MAPS]: 'map',
  [MapType.PERF_EVENT_ARRAY]: 'perf_event',
  [MapType.CGROUP_ARRAY]: 'cgroup',
};

/**
 * Arrays whose values are references rather than bytes, which user space
 * writes as 4-byte ids (fds in the kernel): PROG_ARRAY (programs, for
 * tail calls), ARRAY_OF_MAPS (inner maps), PERF_EVENT_ARRAY and
 * CGROUP_ARRAY (opaque objects resolved by the embedder). Deleting clears
 * a slot; lookups from user space return the id.
 */
export class ReferenceArrayMap<T = unknown> extends VmMap {
  readonly kind: ReferenceKind;
  readonly innerTemplate: VmMap | undefined;
  private readonly slots: ({ id: number; target: T } | undefined)[];
  /** ARRAY_OF_MAPS: inner map handles, so a program's lookup reads a pointer-sized slot. */
  private readonly handles: number;
  private resolver: ((id: number) => T | undefined) | undefined;

  constructor(memory: VmMemory, options: VmMapOptions & { resolve?: (id: number) => T | undefined }) {
    super(memory, options, Object.keys(REFERENCE_KINDS).map(Number));
    this.kind = REFERENCE_KINDS[this.type]!;
    this.innerTemplate = options.innerMap;
    this.slots = new Array(this.maxEntries).fill(undefined);
    this.handles = this.reserveMemory(this.maxEntries * 4, 'inner map handles');
    this.setDescriptorWord(0, this.handles);
    this.resolver = options.resolve;
  }

  protected override checkOptions(options: VmMapOptions): void {
    if (options.innerMap) checkInnerMap(this, options.innerMap);
  }

  /** How user-space ids (4-byte values) become objects; needed for program, perf event and cgroup arrays. */
  setResolver(resolve: (id: number) => T | undefined): void {
    this.resolver = resolve;
  }

  /** Places `target` (known by `id`) at `index` directly, bypassing id resolution. */
  set(index: number, id: number, target: T): void {
    this.checkUserWrite('update');
    if (!Number.isInteger(index) || index < 0 || index >= this.maxEntries) throw this.error('E2BIG', 'update', `index ${index} is out of range (max_entries ${this.maxEntries})`);
    this.slots[index] = { id, target };
    this.memory.view.setUint32(this.handles + index * 4, this.kind === 'map' ? (target as VmMap).handle : 0, true);
    if (this.kind === 'map') innerMapsChanged();
  }

  /** The object at `index` (a tail call's target, an inner map...), or undefined. */
  at(index: number): T | undefined {
    return index >= 0 && index < this.maxEntries ? this.slots[index]?.target : undefined;
  }

  override holdsInnerMap(map: VmMap): boolean {
    return this.kind === 'map' && this.slots.some((slot) => slot?.target === map);
  }

  override lookupElem(keyAddress: number): number {
    if (this.kind !== 'map') return 0;
    const index = this.memory.view.getUint32(keyAddress, true);
    return index < this.maxEntries ? this.memory.view.getUint32(this.handles + index * 4, true) : 0;
  }

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    const index = this.keyIndex(key, 'lookup');
    this.checkUserRead('lookup');
    if (flags !== 0) throw this.error('EINVAL', 'lookup', `invalid lookup flags ${flags}`);
    if (this.kind === 'perf_event') throw this.error('EOPNOTSUPP', 'lookup', 'perf event arrays cannot be read from user space');
    const slot = index < this.maxEntries ? this.slots[index] : undefined;
    if (slot === undefined) return undefined;
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, slot.id, true);
    return out;
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    const index = this.keyIndex(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    if (flags > UpdateFlag.EXIST || flags < 0) throw this.error('EINVAL', 'update', `invalid update flags ${flags}`);
    if (index >= this.maxEntries) throw this.error('E2BIG', 'update', `index ${index} is out of range (max_entries ${this.maxEntries})`);
    if (flags === UpdateFlag.NOEXIST) throw this.error('EEXIST', 'update', 'array slots always exist (BPF_NOEXIST)');
    const id = new DataView(value.buffer, value.byteOffset, 4).getUint32(0, true);
    if (this.kind === 'map') {
      const inner = innerMapFromValue(this, value);
      this.set(index, id, inner as T);
      return;
    }
    const target = this.resolver?.(id);
    if (target === undefined) throw this.error('EBADF', 'update', `no ${this.kind} with id ${id}${this.resolver ? '' : ' (no resolver set: use setResolver or set())'}`);
    this.set(index, id, target);
  }

  override delete(key: Uint8Array): boolean {
    const index = this.keyIndex(key, 'delete');
    this.checkUserWrite('delete');
    if (index >= this.maxEntries) throw this.error('E2BIG', 'delete', `index ${index} is out of range (max_entries ${this.maxEntries})`);
    if (this.slots[index] === undefined) return false;
    this.slots[index] = undefined;
    this.memory.view.setUint32(this.handles + index * 4, 0, true);
    if (this.kind === 'map') innerMapsChanged();
    return true;
  }

  override nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    return this.nextArrayKey(key);
  }
}
