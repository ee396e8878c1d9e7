import { MapType } from '../uapi/enums.ts';
import { MapFlag, UpdateFlag } from '../uapi/maps.ts';
import type { VmMemory } from '../vm/memory.ts';
import { VmMap, vmMapByHandle, type VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';
import { jhash } from './jhash.ts';
import { checkInnerMap, innerMapFromValue, innerMapsChanged } from './inner.ts';

/**
 * Entry layout in VM memory (docs/maps.md): a 24-byte header, the key
 * padded to 8 bytes, then the value (per-CPU maps: `cpus` values, each
 * padded to 8 bytes).
 */
export const HashEntry = {
  /** u32: index + 1 of the next entry in the bucket chain, 0 at the end. */
  NEXT: 0,
  /** u32: jhash of the key. */
  HASH: 4,
  /** u32: STATE_* bits. */
  STATE: 8,
  HEADER_SIZE: 24,
  STATE_USED: 1,
  /** Set by program lookups of LRU maps, cleared when the eviction scan gives the entry a second chance. */
  STATE_REFERENCED: 2,
} as const;

/** Descriptor words (after the common ones) of hash maps. */
export const HashDescriptor = {
  BUCKET_MASK: 0,
  BUCKETS: 1,
  ENTRIES: 2,
  ENTRY_STRIDE: 3,
  VALUE_OFFSET: 4,
  SEED: 5,
  /** Bytes between per-CPU values of an entry (round_up(value_size, 8)); value_size for other maps. */
  VALUE_STRIDE: 6,
  /** 1 for LRU maps: lookups must set STATE_REFERENCED. */
  LRU: 7,
} as const;

const roundUp8 = (n: number): number => (n + 7) & ~7;
const isLru = (type: number): boolean => type === MapType.LRU_HASH || type === MapType.LRU_PERCPU_HASH;
const roundUpPow2 = (n: number): number => (n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n)));

/**
 * BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH, LRU_PERCPU_HASH and
 * HASH_OF_MAPS. Chained buckets over a preallocated entry array, both in VM
 * memory: bucket = jhash(key, key_size, seed) & (n_buckets - 1) with
 * n_buckets = roundup_pow_of_two(max_entries), new entries at the head of
 * their chain, as kernel/bpf/hashtab.c does, so get_next_key walks keys in
 * the kernel's order when both use BPF_F_ZERO_SEED.
 */
export class HashMap extends VmMap {
  readonly lru: boolean;
  readonly buckets: number;
  readonly bucketCount: number;
  readonly entryArray: number;
  readonly entryStride: number;
  readonly valueOffset: number;
  /** Bytes between the per-CPU copies of a value. */
  readonly cpuStride: number;
  readonly seed: number;
  private count = 0;
  private readonly free: number[] = [];
  /** LRU order (entry indices, -1 = none): head is the most recently used. */
  private readonly lruPrev: Int32Array;
  private readonly lruNext: Int32Array;
  private lruHead = -1;
  private lruTail = -1;
  private readonly scratchKey: number;
  private readonly scratchValue: number;
  readonly innerTemplate: VmMap | undefined;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH, MapType.LRU_PERCPU_HASH, MapType.HASH_OF_MAPS]);
    this.lru = isLru(this.type);
    this.innerTemplate = options.innerMap;
    this.seed = this.flags & MapFlag.ZERO_SEED ? 0 : (options.seed ?? (Math.random() * 2 ** 32) >>> 0);
    this.bucketCount = roundUpPow2(this.maxEntries);
    this.cpuStride = this.perCpu ? roundUp8(this.valueSize) : this.valueSize;
    this.valueOffset = HashEntry.HEADER_SIZE + roundUp8(this.keySize);
    this.entryStride = roundUp8(this.valueOffset + (this.perCpu ? this.cpuStride * this.cpus : this.valueSize));
    this.buckets = this.reserveMemory(this.bucketCount * 4, 'buckets');
    // A map of maps hands programs its inner maps' handles, never its storage: the entries stay unmapped (no program can rewrite a handle).
    const entryBytes = this.maxEntries * this.entryStride;
    this.entryArray = this.innerTemplate ? this.reserveMemory(entryBytes, 'entries') : this.reserveRegion(entryBytes).start;
    this.scratchKey = this.reserveMemory(Math.max(this.keySize, 8), 'scratch key');
    this.scratchValue = this.reserveMemory(Math.max(this.valueBufferSize, 8), 'scratch value');
    for (let i = this.maxEntries - 1; i >= 0; i--) this.free.push(i);
    this.lruPrev = new Int32Array(this.lru ? this.maxEntries : 0).fill(-1);
    this.lruNext = new Int32Array(this.lru ? this.maxEntries : 0).fill(-1);
    const words = [this.bucketCount - 1, this.buckets, this.entryArray, this.entryStride, this.valueOffset, this.seed, this.cpuStride, this.lru ? 1 : 0];
    words.forEach((w, i) => this.setDescriptorWord(i, w));
  }

  protected override checkOptions(options: VmMapOptions): void {
    if (this.flags & MapFlag.NO_COMMON_LRU && !isLru(this.type)) throw this.error('EINVAL', 'create', 'BPF_F_NO_COMMON_LRU is only valid for LRU maps');
    if (options.innerMap) checkInnerMap(this, options.innerMap);
  }

  /** Entries in use. */
  get size(): number {
    return this.count;
  }

  private entryAddress(index: number): number {
    return this.entryArray + index * this.entryStride;
  }

  /** Typed views over VM memory, refreshed when it grows (entries and buckets are 4-byte aligned). */
  private words = new Uint32Array(0);
  private bytes: Uint8Array = new Uint8Array(0);
  private viewGeneration = -1;

  private refreshViews(): void {
    if (this.viewGeneration === this.memory.generation) return;
    this.words = new Uint32Array(this.memory.wasm.buffer);
    this.bytes = this.memory.u8;
    this.viewGeneration = this.memory.generation;
  }

  /**
   * A chain link (entry index + 1) read from entry headers, which sit in the
   * value storage region a program can write: one that points outside the
   * entry array must not send map code (or its writes) elsewhere.
   */
  private checkLink(link: number, operation: string): number {
    if (link > this.maxEntries) throw this.error('EFAULT', operation, `bucket chain is corrupted: link ${link} past ${this.maxEntries} entries (a program wrote outside its value)`);
    return link;
  }

  /** Index of the entry holding the key at `keyAddress` (hash precomputed), or -1. */
  private find(keyAddress: number, hash: number): number {
    this.refreshViews();
    const words = this.words;
    const u8 = this.bytes;
    const keySize = this.keySize;
    const stride = this.entryStride;
    let link = words[(this.buckets >>> 2) + (hash & (this.bucketCount - 1))]!;
    let steps = 0;
    while (link !== 0) {
      this.checkLink(link, 'lookup');
      const entry = this.entryArray + (link - 1) * stride;
      if (words[(entry + HashEntry.HASH) >>> 2] === hash) {
        const stored = entry + HashEntry.HEADER_SIZE;
        let i = 0;
        while (i < keySize && u8[stored + i] === u8[keyAddress + i]) i++;
        if (i === keySize) return link - 1;
      }
      link = words[(entry + HashEntry.NEXT) >>> 2]!;
      if (++steps > this.maxEntries) throw this.error('EFAULT', 'lookup', 'bucket chain is corrupted (a program wrote outside its value)');
    }
    return -1;
  }

  private hashAt(keyAddress: number): number {
    this.refreshViews();
    return jhash(this.bytes, keyAddress, this.keySize, this.seed);
  }

  private unlinkFromBucket(index: number, hash: number): void {
    this.refreshViews();
    const words = this.words;
    const bucket = (this.buckets >>> 2) + (hash & (this.bucketCount - 1));
    const next = words[(this.entryAddress(index) + HashEntry.NEXT) >>> 2]!;
    let link = words[bucket]!;
    if (link === index + 1) {
      words[bucket] = next;
      return;
    }
    let steps = 0;
    while (link !== 0) {
      this.checkLink(link, 'delete');
      const at = (this.entryAddress(link - 1) + HashEntry.NEXT) >>> 2;
      const after = words[at]!;
      if (after === index + 1) {
        words[at] = next;
        return;
      }
      link = after;
      // A chain a program rewrote into a cycle would be walked forever (LRU eviction runs this on every update of a full map).
      if (++steps > this.maxEntries) throw this.error('EFAULT', 'delete', 'bucket chain is corrupted: it does not end (a program wrote outside its value)');
    }
  }

  /**
   * Checks the chain of `bucket` before nextKey hands out one of its keys:
   * it ends within maxEntries links, and each entry's stored hash belongs to
   * the bucket and is its key's hash. A program can rewrite headers and keys
   * (they share the writable entry storage); without these checks `keys()`
   * could cycle forever (an entry linked to itself, or a key that nextKey can
   * no longer find, which restarts the walk from the first bucket).
   */
  private checkChain(bucket: number, operation: string): void {
    this.refreshViews();
    const words = this.words;
    let link = words[(this.buckets >>> 2) + bucket]!;
    for (let steps = 0; link !== 0; steps++) {
      if (steps >= this.maxEntries) throw this.error('EFAULT', operation, `bucket ${bucket}'s chain does not end (a program wrote outside its value)`);
      this.checkLink(link, operation);
      const entry = this.entryAddress(link - 1);
      const hash = words[(entry + HashEntry.HASH) >>> 2]!;
      if ((hash & (this.bucketCount - 1)) !== bucket || jhash(this.bytes, entry + HashEntry.HEADER_SIZE, this.keySize, this.seed) !== hash) {
        throw this.error('EFAULT', operation, `entry ${link - 1} in bucket ${bucket} does not hash there (a program rewrote its key or header)`);
      }
      link = words[(entry + HashEntry.NEXT) >>> 2]!;
    }
  }

  private linkAtBucketHead(index: number, hash: number): void {
    this.refreshViews();
    const words = this.words;
    const bucket = (this.buckets >>> 2) + (hash & (this.bucketCount - 1));
    words[(this.entryAddress(index) + HashEntry.NEXT) >>> 2] = words[bucket]!;
    words[bucket] = index + 1;
  }

  private lruUnlink(index: number): void {
    if (this.lruPrev[index]! < 0 && this.lruHead !== index) return; // not on the list (a new entry)
    const prev = this.lruPrev[index]!;
    const next = this.lruNext[index]!;
    if (prev >= 0) this.lruNext[prev] = next;
    else this.lruHead = next;
    if (next >= 0) this.lruPrev[next] = prev;
    else this.lruTail = prev;
    this.lruPrev[index] = -1;
    this.lruNext[index] = -1;
  }

  private lruPushHead(index: number): void {
    this.lruPrev[index] = -1;
    this.lruNext[index] = this.lruHead;
    if (this.lruHead >= 0) this.lruPrev[this.lruHead] = index;
    this.lruHead = index;
    if (this.lruTail < 0) this.lruTail = index;
  }

  /**
   * Frees one entry of a full LRU map: from the least recently used end,
   * referenced entries get a second chance (bit cleared, moved to the
   * head), the first unreferenced one is evicted.
   */
  private evict(): number {
    const view = this.memory.view;
    for (let scanned = 0; scanned <= this.count; scanned++) {
      const index = this.lruTail;
      const entry = this.entryAddress(index);
      const state = view.getUint32(entry + HashEntry.STATE, true);
      this.lruUnlink(index);
      if (state & HashEntry.STATE_REFERENCED && scanned < this.count) {
        view.setUint32(entry + HashEntry.STATE, state & ~HashEntry.STATE_REFERENCED, true);
        this.lruPushHead(index);
        continue;
      }
      this.unlinkFromBucket(index, view.getUint32(entry + HashEntry.HASH, true));
      view.setUint32(entry + HashEntry.STATE, 0, true);
      this.count--;
      return index;
    }
    throw this.error('EFAULT', 'update', 'LRU list is inconsistent');
  }

  /**
   * The update shared by user space and programs. `onAllCpus`: a per-CPU
   * value holds every CPU's value (user space); otherwise `cpu`'s only.
   */
  private updateAt(keyAddress: number, valueAddress: number, flags: number, onAllCpus: boolean, cpu: number): number {
    if (this.updateFlagsError(flags)) return negErrno('EINVAL');
    const mode = flags & ~UpdateFlag.F_LOCK;
    const hash = this.hashAt(keyAddress);
    let index = this.find(keyAddress, hash);
    const u8 = this.memory.u8;
    if (index >= 0) {
      if (mode === UpdateFlag.NOEXIST) return negErrno('EEXIST');
      if (!this.perCpu && !(flags & UpdateFlag.F_LOCK)) {
        // The kernel replaces the element with a new one at the head of the chain (BPF_F_LOCK updates in place).
        this.unlinkFromBucket(index, hash);
        this.linkAtBucketHead(index, hash);
      }
    } else {
      if (mode === UpdateFlag.EXIST) return negErrno('ENOENT');
      if (this.free.length > 0) index = this.free.pop()!;
      else if (this.lru) index = this.evict();
      else return negErrno('E2BIG');
      const entry = this.entryAddress(index);
      const view = this.memory.view;
      u8.copyWithin(entry + HashEntry.HEADER_SIZE, keyAddress, keyAddress + this.keySize);
      view.setUint32(entry + HashEntry.HASH, hash, true);
      view.setUint32(entry + HashEntry.STATE, HashEntry.STATE_USED, true);
      if (this.perCpu || this.spinLockOffset !== undefined) u8.fill(0, entry + this.valueOffset, entry + this.entryStride);
      this.linkAtBucketHead(index, hash);
      this.count++;
    }
    if (this.lru) {
      this.lruUnlink(index);
      this.lruPushHead(index);
    }
    const value = this.entryAddress(index) + this.valueOffset;
    if (!this.perCpu) this.copyValue(u8, value, valueAddress);
    else if (onAllCpus) {
      for (let c = 0; c < this.cpus; c++) u8.copyWithin(value + c * this.cpuStride, valueAddress + c * this.valueStride, valueAddress + c * this.valueStride + this.valueSize);
    } else u8.copyWithin(value + cpu * this.cpuStride, valueAddress, valueAddress + this.valueSize);
    return 0;
  }

  private deleteAt(keyAddress: number): number {
    const hash = this.hashAt(keyAddress);
    const index = this.find(keyAddress, hash);
    if (index < 0) return negErrno('ENOENT');
    this.unlinkFromBucket(index, hash);
    this.memory.view.setUint32(this.entryAddress(index) + HashEntry.STATE, 0, true);
    if (this.lru) this.lruUnlink(index);
    this.free.push(index);
    this.count--;
    return 0;
  }

  private putKey(key: Uint8Array): number {
    this.memory.u8.set(key, this.scratchKey);
    return this.scratchKey;
  }

  // ---- program view ----

  override lookupElem(keyAddress: number, cpu: number): number {
    const index = this.find(keyAddress, this.hashAt(keyAddress));
    if (index < 0) return 0;
    const entry = this.entryAddress(index);
    if (this.lru) this.words[(entry + HashEntry.STATE) >>> 2]! |= HashEntry.STATE_REFERENCED;
    if (this.innerTemplate) return this.words[(entry + this.valueOffset) >>> 2]!;
    return entry + this.valueOffset + (this.perCpu ? cpu * this.cpuStride : 0);
  }

  override updateElem(keyAddress: number, valueAddress: number, flags: number, cpu: number): number {
    if (this.innerTemplate) return negErrno('EINVAL'); // programs cannot update maps of maps
    return this.updateAt(keyAddress, valueAddress, flags, false, cpu);
  }

  override deleteElem(keyAddress: number): number {
    if (this.innerTemplate) return negErrno('EINVAL');
    return this.deleteAt(keyAddress);
  }

  // ---- user-space view ----

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    this.checkKey(key, 'lookup');
    this.checkUserRead('lookup');
    this.checkLookupFlags(flags);
    const index = this.find(this.putKey(key!), this.hashAt(this.scratchKey));
    if (index < 0) return undefined;
    const value = this.entryAddress(index) + this.valueOffset;
    const u8 = this.memory.u8;
    if (this.innerTemplate) {
      const inner = vmMapByHandle(this.memory, this.memory.view.getUint32(value, true));
      const out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, inner?.id ?? 0, true);
      return out;
    }
    if (!this.perCpu) return this.userValue(u8, value);
    const out = new Uint8Array(this.valueBufferSize);
    for (let c = 0; c < this.cpus; c++) out.set(u8.subarray(value + c * this.cpuStride, value + c * this.cpuStride + this.valueSize), c * this.valueStride);
    return out;
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    this.checkKey(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    let stored = value;
    if (this.innerTemplate) {
      const inner = innerMapFromValue(this, value);
      stored = new Uint8Array(4);
      new DataView(stored.buffer).setUint32(0, inner.handle, true);
    }
    this.memory.u8.set(stored, this.scratchValue);
    const result = this.updateAt(this.putKey(key!), this.scratchValue, flags, true, 0);
    if (result < 0) throw this.updateError(result, flags);
    if (this.innerTemplate) innerMapsChanged();
  }

  private updateError(result: number, flags: number): Error {
    switch (-result) {
      case 17:
        return this.error('EEXIST', 'update', 'the key exists (BPF_NOEXIST)');
      case 2:
        return this.error('ENOENT', 'update', 'the key does not exist (BPF_EXIST)');
      case 7:
        return this.error('E2BIG', 'update', `the map is full (max_entries ${this.maxEntries})`);
      default:
        return this.error('EINVAL', 'update', `invalid update flags ${flags}${flags & UpdateFlag.F_LOCK ? ' (BPF_F_LOCK needs a bpf_spin_lock in the value)' : ''}`);
    }
  }

  override delete(key: Uint8Array): boolean {
    this.checkKey(key, 'delete');
    this.checkUserWrite('delete');
    const deleted = this.deleteAt(this.putKey(key)) === 0;
    if (deleted && this.innerTemplate) innerMapsChanged();
    return deleted;
  }

  override holdsInnerMap(map: VmMap): boolean {
    if (this.innerTemplate === undefined) return false;
    this.refreshViews();
    for (let index = 0; index < this.maxEntries; index++) {
      const entry = this.entryAddress(index);
      if (this.words[(entry + HashEntry.STATE) >>> 2]! & HashEntry.STATE_USED && this.words[(entry + this.valueOffset) >>> 2] === map.handle) return true;
    }
    return false;
  }

  override lookupAndDelete(key: Uint8Array | null): Uint8Array | undefined {
    if (this.innerTemplate) return this.unsupported('lookup_and_delete');
    const value = this.lookup(key);
    if (value !== undefined) this.delete(key!);
    return value;
  }

  /**
   * The kernel's htab_map_get_next_key: the entry after `key` in its chain,
   * else the first entry of the following buckets; a key that is not in the
   * map (deleted during iteration) restarts from the first bucket.
   */
  override nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    this.checkOpen();
    const view = this.memory.view;
    let bucket = 0;
    if (key !== undefined) {
      this.checkKey(key, 'get_next_key');
      const hash = this.hashAt(this.putKey(key));
      const index = this.find(this.scratchKey, hash);
      if (index >= 0) {
        const own = hash & (this.bucketCount - 1);
        this.checkChain(own, 'get_next_key');
        const next = view.getUint32(this.entryAddress(index) + HashEntry.NEXT, true);
        if (next !== 0) return this.keyOf(next - 1);
        bucket = own + 1;
      }
    }
    for (; bucket < this.bucketCount; bucket++) {
      const head = view.getUint32(this.buckets + bucket * 4, true);
      if (head !== 0) {
        this.checkChain(bucket, 'get_next_key');
        return this.keyOf(head - 1);
      }
    }
    return undefined;
  }

  private keyOf(index: number): Uint8Array {
    const at = this.entryAddress(index) + HashEntry.HEADER_SIZE;
    return this.memory.u8.slice(at, at + this.keySize);
  }
}
