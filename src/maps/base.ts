import { iterateMapEntries, iterateMapKeys, joinPerCpuValues, splitPerCpuValues, type BpfMap } from '../backend/index.ts';
import { ClosedError } from '../backend/index.ts';
import type { VmMemory, Region } from '../vm/memory.ts';
import { MapType, mapTypeName } from '../uapi/enums.ts';
import { ACCESS_FLAGS, MapFlag, PAGE_SIZE, UpdateFlag, mapFlagNames, mapTypeRule, perCpuValueStride, type MapTypeRule, type SizeRule } from '../uapi/maps.ts';
import { MapError, negErrno, type ErrnoName } from './errors.ts';

export interface VmMapOptions {
  /** enum bpf_map_type. */
  type: number;
  name?: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** map_flags (BPF_F_*). */
  flags?: number;
  mapExtra?: bigint;
  /** Virtual CPUs: how many values a per-CPU map holds, how many rings a perf event array has (default 1). */
  cpus?: number;
  /** Template of the inner maps, for ARRAY_OF_MAPS/HASH_OF_MAPS. */
  innerMap?: VmMap;
  /** Hash seed (the kernel's random hashrnd); ignored with BPF_F_ZERO_SEED, where it is 0. Default: random. */
  seed?: number;
  /**
   * Offset of a `struct bpf_spin_lock` in the value (from the value's BTF),
   * for HASH and ARRAY maps: enables BPF_F_LOCK, and like the kernel the
   * lock word is never copied in from user space and reads as 0 there.
   */
  spinLockOffset?: number;
}

/** Largest max_entries × entry size a VM map may reserve (the 32-bit address space is 4 GiB). */
const MAX_STORAGE = 1 << 30;

let nextMapId = 1;
const liveMaps = new Map<number, VmMap>();
/** Per address space: two VMs (two collections) have maps at the same addresses. */
const mapsByHandle = new WeakMap<VmMemory, Map<number, VmMap>>();

/** The live VM map with this id (the VM's stand-in for a map fd in map-in-map values). */
export function vmMapById(id: number): VmMap | undefined {
  return liveMaps.get(id);
}

/** The live VM map whose descriptor is at `handle` in `memory` (a map pointer in a program's register). */
export function vmMapByHandle(memory: VmMemory, handle: number): VmMap | undefined {
  return mapsByHandle.get(memory)?.get(handle);
}

/**
 * Every map has a 64-byte descriptor in VM memory; its address is the map
 * pointer programs hold (ld_imm64 of a map) and pass to helpers. Programs
 * cannot load from it (it is not a mapped region); JIT code reads it.
 * Words 0-4 are common; the rest belongs to the map type (docs/maps.md).
 */
export const Descriptor = {
  SIZE: 64,
  TYPE: 0,
  KEY_SIZE: 4,
  VALUE_SIZE: 8,
  MAX_ENTRIES: 12,
  FLAGS: 16,
  /** Map-type specific words start here. */
  SPECIFIC: 20,
} as const;

function sizeOk(rule: SizeRule, size: number): boolean {
  if (rule.exact !== undefined) return typeof rule.exact === 'number' ? size === rule.exact : rule.exact.includes(size);
  if (rule.min !== undefined && size < rule.min) return false;
  if (rule.max !== undefined && size > rule.max) return false;
  return rule.multipleOf === undefined || size % rule.multipleOf === 0;
}

function describeRule(rule: SizeRule): string {
  if (rule.exact !== undefined) return typeof rule.exact === 'number' ? `${rule.exact}` : rule.exact.join(' or ');
  const parts = [];
  if (rule.min !== undefined) parts.push(`at least ${rule.min}`);
  if (rule.max !== undefined) parts.push(`at most ${rule.max}`);
  if (rule.multipleOf !== undefined) parts.push(`a multiple of ${rule.multipleOf}`);
  return parts.join(', ');
}

const isPowerOf2 = (n: number): boolean => n > 0 && (n & (n - 1)) === 0;

/**
 * Checks a map definition as BPF_MAP_CREATE would, throwing the kernel's
 * errno (EINVAL for bad sizes/flags, E2BIG for sizes over the kernel's limits).
 */
export function validateMapDefinition(options: VmMapOptions): MapTypeRule {
  const what = `${mapTypeName(options.type).toLowerCase()} map${options.name ? ` '${options.name}'` : ''}`;
  const fail = (code: ErrnoName, detail: string): never => {
    throw new MapError(code, what, 'create', detail);
  };
  const rule = mapTypeRule(options.type);
  if (rule === undefined) return fail('EINVAL', `unknown map type ${options.type}`);
  for (const field of ['keySize', 'valueSize', 'maxEntries'] as const) {
    const v = options[field];
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail('EINVAL', `${field} ${v} is not a u32`);
  }
  const flags = options.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffffffff) fail('EINVAL', `map_flags ${flags} is not a u32`);
  const { keySize, valueSize, maxEntries } = options;
  const oversize = (size: number, r: SizeRule): boolean => r.max !== undefined && size > r.max && (r.min === undefined || size >= r.min);
  if (!sizeOk(rule.key, keySize)) {
    fail(oversize(keySize, rule.key) && rule.name.includes('hash') ? 'E2BIG' : 'EINVAL', `key size ${keySize} is invalid for ${rule.name} maps (must be ${describeRule(rule.key)})`);
  }
  if (!sizeOk(rule.value, valueSize)) {
    fail(oversize(valueSize, rule.value) && rule.perCpu ? 'E2BIG' : 'EINVAL', `value size ${valueSize} is invalid for ${rule.name} maps (must be ${describeRule(rule.value)})`);
  }
  const notSupported = flags & (rule.notSupportedFlags ?? 0);
  if (notSupported !== 0) fail('ENOTSUPP', `${rule.name} maps do not support ${mapFlagNames(notSupported)}`);
  const unknown = flags & ~rule.flags;
  if (unknown !== 0) fail('EINVAL', `map_flags ${mapFlagNames(unknown)} not accepted by ${rule.name} maps`);
  if ((flags & rule.requiredFlags) !== rule.requiredFlags) fail('EINVAL', `${rule.name} maps require ${mapFlagNames(rule.requiredFlags)}`);
  if ((flags & MapFlag.RDONLY && flags & MapFlag.WRONLY) || (flags & MapFlag.RDONLY_PROG && flags & MapFlag.WRONLY_PROG)) {
    fail('EINVAL', `map_flags ${mapFlagNames(flags & ACCESS_FLAGS)} are contradictory`);
  }
  switch (rule.maxEntries) {
    case 'positive':
      if (maxEntries === 0) fail('EINVAL', 'max_entries must be at least 1');
      break;
    case 'zero':
      if (maxEntries !== 0) fail('EINVAL', `max_entries must be 0 for ${rule.name} maps`);
      break;
    case 'one':
      if (maxEntries !== 1) fail('EINVAL', `max_entries must be 1 for ${rule.name} maps`);
      break;
    case 'power-of-2-pages':
      if (!isPowerOf2(maxEntries) || maxEntries % PAGE_SIZE !== 0) {
        fail('EINVAL', `max_entries ${maxEntries} must be a power of 2 and a multiple of the page size (${PAGE_SIZE})`);
      }
      break;
  }
  if (rule.mapInMap && options.innerMap === undefined) fail('EINVAL', `${rule.name} maps need an inner map template (innerMap)`);
  if (options.mapExtra !== undefined && options.mapExtra !== 0n && rule.mapExtra === undefined) fail('EINVAL', `map_extra is not used by ${rule.name} maps and must be 0`);
  if (options.spinLockOffset !== undefined) {
    const at = options.spinLockOffset;
    if (options.type !== MapType.HASH && options.type !== MapType.ARRAY) fail('EOPNOTSUPP', `${rule.name} maps cannot hold a bpf_spin_lock`);
    if (!Number.isInteger(at) || at < 0 || at % 4 !== 0 || at + 4 > valueSize) fail('EINVAL', `bpf_spin_lock offset ${at} is not a 4-byte aligned offset inside the ${valueSize}-byte value`);
  }
  const cpus = options.cpus ?? 1;
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 4096) fail('EINVAL', `cpus must be an integer in 1..4096, got ${cpus}`);
  return rule;
}

/**
 * Base of every VM map: the `BpfMap` interface shared with the kernel
 * backend (user-space view, copies in and out), plus the program view used
 * by helpers and JIT code (addresses in VmMemory, negative errno results,
 * no exceptions on the fast path).
 */
export abstract class VmMap implements BpfMap {
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly mapExtra: bigint;
  readonly spinLockOffset: number | undefined;
  readonly perCpu: boolean;
  readonly cpus: number;
  /** Bytes per CPU in per-CPU values seen from user space: round_up(valueSize, 8). */
  readonly valueStride: number;
  readonly valueBufferSize: number;
  /** Stands in for the map's fd: inner-map values of map-in-map maps hold it. */
  readonly id: number;
  /** Address of the map's descriptor in VM memory: the map pointer programs hold. */
  readonly handle: number;
  readonly rule: MapTypeRule;
  readonly memory: VmMemory;
  /** Frozen (BPF_MAP_FREEZE): user space may no longer write. */
  frozen = false;
  private closedFlag = false;
  /** Regions and raw allocations freed on close. */
  private readonly regions: Region[] = [];
  private readonly allocations: { start: number; size: number }[] = [];

  /**
   * `implemented`: the map types the subclass implements (unchecked when omitted). Every check that
   * can fail runs before any VM memory is reserved (checkOptions), and a
   * failing reservation releases what was reserved, so a constructor that
   * throws leaves nothing behind.
   */
  constructor(memory: VmMemory, options: VmMapOptions, implemented?: readonly number[]) {
    this.rule = validateMapDefinition(options);
    this.memory = memory;
    this.type = options.type;
    this.name = options.name ?? '';
    this.keySize = options.keySize;
    this.valueSize = options.valueSize;
    this.maxEntries = options.maxEntries;
    this.flags = options.flags ?? 0;
    this.mapExtra = options.mapExtra ?? 0n;
    this.spinLockOffset = options.spinLockOffset;
    this.perCpu = this.rule.perCpu;
    this.cpus = options.cpus ?? 1;
    this.valueStride = this.perCpu ? perCpuValueStride(this.valueSize) : this.valueSize;
    this.valueBufferSize = this.perCpu ? this.valueStride * this.cpus : this.valueSize;
    if (implemented !== undefined && !implemented.includes(this.type)) {
      throw this.error('EINVAL', 'create', `${new.target.name} implements ${implemented.map((t) => mapTypeName(t)).join(', ')}, not ${mapTypeName(this.type)}`);
    }
    this.checkOptions(options);
    this.id = nextMapId++;
    this.handle = this.reserveMemory(Descriptor.SIZE, 'descriptor');
    const view = memory.view;
    view.setUint32(this.handle + Descriptor.TYPE, this.type, true);
    view.setUint32(this.handle + Descriptor.KEY_SIZE, this.keySize, true);
    view.setUint32(this.handle + Descriptor.VALUE_SIZE, this.valueSize, true);
    view.setUint32(this.handle + Descriptor.MAX_ENTRIES, this.maxEntries, true);
    view.setUint32(this.handle + Descriptor.FLAGS, this.flags, true);
    liveMaps.set(this.id, this);
    let maps = mapsByHandle.get(this.memory);
    if (maps === undefined) mapsByHandle.set(this.memory, (maps = new Map()));
    maps.set(this.handle, this);
  }

  /** Map-type specific creation checks; runs before any memory is reserved (subclass fields are not initialized yet). */
  protected checkOptions(_options: VmMapOptions): void {}

  /** Writes map-type specific descriptor word `index` (0-based after the common words). */
  protected setDescriptorWord(index: number, value: number): void {
    this.memory.view.setUint32(this.handle + Descriptor.SPECIFIC + 4 * index, value >>> 0, true);
  }

  /** `hash map 'counts'`, for messages. */
  describe(): string {
    return `${mapTypeName(this.type).toLowerCase()} map${this.name ? ` '${this.name}'` : ''}`;
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Programs may not write to values (BPF_F_RDONLY_PROG): value memory is mapped read-only. */
  get programReadOnly(): boolean {
    return (this.flags & MapFlag.RDONLY_PROG) !== 0;
  }

  protected error(code: ErrnoName, operation: string, detail: string): MapError {
    return new MapError(code, this.describe(), operation, detail);
  }

  /** Reserves VM memory for storage, throwing E2BIG past the VM's per-map limit. */
  protected reserveMemory(bytes: number, what: string): number {
    try {
      if (bytes > MAX_STORAGE) throw this.error('E2BIG', 'create', `${what} needs ${bytes} bytes, more than the VM allows per map (${MAX_STORAGE})`);
      const start = this.memory.allocate(bytes);
      this.allocations.push({ start, size: bytes });
      return start;
    } catch (error) {
      this.close();
      throw error;
    }
  }

  /** Reserves memory programs can point into (values), as a 'map' region. */
  protected reserveRegion(bytes: number): Region {
    const start = this.reserveMemory(bytes, 'value storage');
    this.allocations.pop();
    const region = this.memory.map({ start, size: Math.max(bytes, 1), kind: 'map', writable: !this.programReadOnly, name: this.describe(), owner: this });
    this.regions.push(region);
    return region;
  }

  protected checkOpen(): void {
    if (this.closedFlag) throw new ClosedError(`${this.describe()} is closed`);
  }

  /** The u32 index a 4-byte key holds (array-like maps and stack ids), after checkKey. */
  protected keyIndex(key: Uint8Array | null, operation: string): number {
    this.checkKey(key, operation);
    return new DataView(key!.buffer, key!.byteOffset, 4).getUint32(0, true);
  }

  /** A 4-byte key holding `index`, as get_next_key returns it for index-keyed maps. */
  protected static indexKey(index: number): Uint8Array {
    const out = new Uint8Array(4);
    new DataView(out.buffer).setUint32(0, index, true);
    return out;
  }

  /** get_next_key of arrays (array_map_get_next_key): index order; a missing or out-of-range key starts at 0; after the last, ENOENT. */
  protected nextArrayKey(key: Uint8Array | undefined): Uint8Array | undefined {
    this.checkOpen();
    const index = key === undefined ? -1 : this.keyIndex(key, 'get_next_key');
    const next = index === -1 || index >= this.maxEntries ? 0 : index + 1;
    return next < this.maxEntries ? VmMap.indexKey(next) : undefined;
  }

  protected checkKey(key: Uint8Array | null, operation: string): void {
    this.checkOpen();
    if (key === null) {
      if (this.keySize !== 0) throw this.error('EINVAL', operation, `needs a ${this.keySize}-byte key, got null`);
      return;
    }
    if (key.length !== this.keySize) throw this.error('EINVAL', operation, `key is ${key.length} bytes, the map's key size is ${this.keySize}`);
  }

  protected checkValue(value: Uint8Array, operation: string): void {
    if (value.length !== this.valueBufferSize) {
      const expected = this.perCpu
        ? `${this.valueBufferSize} (${this.valueStride} bytes × ${this.cpus} CPUs; use updatePerCpu for one value per CPU)`
        : `${this.valueSize}`;
      throw this.error('EINVAL', operation, `value is ${value.length} bytes, expected ${expected}`);
    }
  }

  /** User-space write permission: not frozen, not BPF_F_RDONLY. */
  protected checkUserWrite(operation: string): void {
    this.checkOpen();
    if (this.frozen) throw this.error('EPERM', operation, 'the map is frozen');
    if (this.flags & MapFlag.RDONLY) throw this.error('EPERM', operation, 'the map was created with BPF_F_RDONLY');
  }

  protected checkUserRead(operation: string): void {
    this.checkOpen();
    if (this.flags & MapFlag.WRONLY) throw this.error('EPERM', operation, 'the map was created with BPF_F_WRONLY');
  }

  /** Flags of an element update: BPF_ANY/NOEXIST/EXIST, plus F_LOCK where the value has a spin lock. */
  protected updateFlagsError(flags: number): ErrnoName | undefined {
    const base = flags & ~UpdateFlag.F_LOCK;
    if (!Number.isInteger(flags) || flags < 0 || base > UpdateFlag.EXIST) return 'EINVAL';
    if (flags & UpdateFlag.F_LOCK && this.spinLockOffset === undefined) return 'EINVAL';
    return undefined;
  }

  /** User-space lookup flags: 0, or BPF_F_LOCK for values with a spin lock. */
  protected checkLookupFlags(flags: number): void {
    if (flags === 0 || (flags === UpdateFlag.F_LOCK && this.spinLockOffset !== undefined)) return;
    throw this.error('EINVAL', 'lookup', `invalid lookup flags ${flags}${flags & UpdateFlag.F_LOCK ? ' (BPF_F_LOCK needs a bpf_spin_lock in the value: spinLockOffset)' : ''}`);
  }

  /** Copies one value inside VM memory, leaving the destination's spin lock word alone (copy_map_value). */
  protected copyValue(u8: Uint8Array, destination: number, source: number): void {
    const lock = this.spinLockOffset;
    if (lock === undefined) {
      u8.copyWithin(destination, source, source + this.valueSize);
      return;
    }
    u8.copyWithin(destination, source, source + lock);
    u8.copyWithin(destination + lock + 4, source + lock + 4, source + this.valueSize);
  }

  /** A value as user space sees it: a copy with the spin lock word zeroed. */
  protected userValue(u8: Uint8Array, address: number): Uint8Array {
    const out = u8.slice(address, address + this.valueSize);
    if (this.spinLockOffset !== undefined) out.fill(0, this.spinLockOffset, this.spinLockOffset + 4);
    return out;
  }

  protected unsupported(operation: string): never {
    this.checkOpen();
    throw this.error('EINVAL', operation, `${this.rule.name} maps do not support ${operation}`);
  }

  // ---- user-space view (BpfMap) -------------------------------------------------------------

  lookup(_key: Uint8Array | null, _flags?: number): Uint8Array | undefined {
    return this.unsupported('lookup');
  }
  update(_key: Uint8Array | null, _value: Uint8Array, _flags?: number): void {
    this.unsupported('update');
  }
  delete(_key: Uint8Array): boolean {
    return this.unsupported('delete');
  }
  lookupAndDelete(_key: Uint8Array | null): Uint8Array | undefined {
    return this.unsupported('lookup_and_delete');
  }
  nextKey(_key: Uint8Array | undefined): Uint8Array | undefined {
    return this.unsupported('get_next_key');
  }

  keys(): IterableIterator<Uint8Array> {
    return iterateMapKeys(this);
  }

  entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    return iterateMapEntries(this);
  }

  /** Batches are served from get_next_key/lookup; the result is the same as the kernel's batch commands. */
  lookupBatch(options: { batchSize?: number } = {}): Array<[Uint8Array, Uint8Array]> {
    this.checkBatch(options.batchSize);
    return [...this.entries()];
  }

  lookupAndDeleteBatch(options: { batchSize?: number } = {}): Array<[Uint8Array, Uint8Array]> {
    this.checkBatch(options.batchSize);
    if (this.rule.preallocatedIndex) this.unsupported('lookup_and_delete_batch');
    const all = [...this.entries()];
    for (const [key] of all) this.delete(key);
    return all;
  }

  updateBatch(keys: Uint8Array[], values: Uint8Array[], flags = 0): number {
    this.checkBatch(undefined);
    if (keys.length !== values.length) throw this.error('EINVAL', 'update_batch', `${keys.length} keys but ${values.length} values`);
    keys.forEach((key, i) => {
      try {
        this.update(key, values[i]!, flags);
      } catch (error) {
        if (error instanceof MapError) throw this.error(error.code, 'update_batch', `element ${i} (${i} of ${keys.length} written): ${error.message}`);
        throw error;
      }
    });
    return keys.length;
  }

  deleteBatch(keys: Uint8Array[]): number {
    this.checkBatch(undefined);
    keys.forEach((key, i) => {
      this.checkKey(key, 'delete_batch');
      if (!this.delete(key)) throw this.error('ENOENT', 'delete_batch', `element ${i} not found (${i} of ${keys.length} deleted)`);
    });
    return keys.length;
  }

  private checkBatch(batchSize: number | undefined): void {
    this.checkOpen();
    if (!this.rule.commands.includes('batch')) this.unsupported('batch operations');
    if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) throw this.error('EINVAL', 'batch', `batchSize must be a positive integer, got ${batchSize}`);
  }

  lookupPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    this.requirePerCpu('lookupPerCpu');
    const all = this.lookup(key);
    return all === undefined ? undefined : splitPerCpuValues(all, this);
  }

  updatePerCpu(key: Uint8Array, values: Uint8Array[], flags = 0): void {
    this.requirePerCpu('updatePerCpu');
    this.update(key, joinPerCpuValues(values, this, (problem) => this.error('EINVAL', 'update', problem)), flags);
  }

  private requirePerCpu(method: string): void {
    this.checkOpen();
    if (!this.perCpu) throw this.error('EINVAL', method, 'not a per-CPU map');
  }

  freeze(): void {
    this.checkOpen();
    if (!this.rule.commands.includes('freeze')) this.unsupported('freeze');
    if (this.frozen) throw this.error('EBUSY', 'freeze', 'already frozen');
    this.frozen = true;
  }

  /** Loaded programs that embed this map's handle (see hold). */
  private holders = 0;

  /**
   * Called by a loaded program that embeds this map's handle: as kernel
   * programs hold their maps, a held map closed from user space keeps its
   * memory and handle, and keeps working for the program, until the last
   * holder lets go (the returned function; calling it twice is harmless).
   */
  /** Whether `map` is one of this map's inner maps (maps of maps); programs that use this map reach it. */
  holdsInnerMap(_map: VmMap): boolean {
    return false;
  }

  hold(): () => void {
    this.checkOpen();
    this.holders++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders === 0 && this.closedFlag) this.releaseStorage();
    };
  }

  /** Ends user-space access; the memory goes when no loaded program holds the map any more. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    liveMaps.delete(this.id);
    if (this.holders === 0) this.releaseStorage();
  }

  private releaseStorage(): void {
    mapsByHandle.get(this.memory)?.delete(this.handle);
    for (const region of this.regions) this.memory.freeRegion(region);
    for (const a of this.allocations) this.memory.release(a.start, a.size);
    this.regions.length = 0;
    this.allocations.length = 0;
  }

  // ---- program view (helpers, JIT) ----------------------------------------------------------

  /** bpf_map_lookup_elem: the value's address for the running CPU, or 0. */
  lookupElem(_keyAddress: number, _cpu: number): number {
    return 0;
  }
  /** bpf_map_update_elem: 0 or a negative errno. */
  updateElem(_keyAddress: number, _valueAddress: number, _flags: number, _cpu: number): number {
    return negErrno('EINVAL');
  }
  /** bpf_map_delete_elem: 0 or a negative errno. */
  deleteElem(_keyAddress: number): number {
    return negErrno('EINVAL');
  }
  /** bpf_map_push_elem. */
  pushElem(_valueAddress: number, _flags: number): number {
    return negErrno('EINVAL');
  }
  /** bpf_map_pop_elem: copies the value to `valueAddress`. */
  popElem(_valueAddress: number): number {
    return negErrno('EINVAL');
  }
  /** bpf_map_peek_elem. */
  peekElem(_valueAddress: number): number {
    return negErrno('EINVAL');
  }
  /** bpf_map_lookup_percpu_elem: the value of `cpu`, or 0 (also for cpu ≥ cpus). */
  lookupPercpuElem(keyAddress: number, cpu: number): number {
    if (!this.perCpu || cpu >= this.cpus) return 0;
    return this.lookupElem(keyAddress, cpu);
  }
}
