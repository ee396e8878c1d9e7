import { MapType } from '../uapi/enums.ts';
import { MapFlag, UpdateFlag, BLOOM_DEFAULT_HASHES } from '../uapi/maps.ts';
import type { VmMemory } from '../vm/memory.ts';
import { VmMap, type VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';
import { jhash } from './jhash.ts';

/**
 * BPF_MAP_TYPE_QUEUE (FIFO) and STACK (LIFO): a ring of max_entries + 1
 * value slots, as kernel/bpf/queue_stack_maps.c. Push on a full map is
 * E2BIG, or with BPF_EXIST drops the oldest element to make room (for both
 * queue and stack); pop/peek of an empty map is ENOENT. User space uses a
 * null key: update pushes, lookup peeks, lookupAndDelete pops.
 */
export class QueueStackMap extends VmMap {
  private readonly slots: Uint8Array;
  private readonly ringSize: number;
  private head = 0;
  private tail = 0;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.QUEUE, MapType.STACK]);
    this.ringSize = this.maxEntries + 1;
    this.slots = new Uint8Array(this.ringSize * this.valueSize);
  }

  get size(): number {
    return (this.head - this.tail + this.ringSize) % this.ringSize;
  }

  private push(value: Uint8Array, flags: number): number {
    if (flags & UpdateFlag.NOEXIST || flags > UpdateFlag.EXIST || flags < 0) return negErrno('EINVAL');
    if (this.size === this.maxEntries) {
      if (!(flags & UpdateFlag.EXIST)) return negErrno('E2BIG');
      this.tail = (this.tail + 1) % this.ringSize;
    }
    this.slots.set(value, this.head * this.valueSize);
    this.head = (this.head + 1) % this.ringSize;
    return 0;
  }

  /** The slot pop/peek reads: oldest for a queue, newest for a stack; -1 when empty. */
  private front(): number {
    if (this.size === 0) return -1;
    return this.type === MapType.QUEUE ? this.tail : (this.head - 1 + this.ringSize) % this.ringSize;
  }

  private take(remove: boolean): Uint8Array | undefined {
    const slot = this.front();
    if (slot < 0) return undefined;
    const value = this.slots.slice(slot * this.valueSize, (slot + 1) * this.valueSize);
    if (remove) {
      if (this.type === MapType.QUEUE) this.tail = (this.tail + 1) % this.ringSize;
      else this.head = slot;
    }
    return value;
  }

  override pushElem(valueAddress: number, flags: number): number {
    return this.push(this.memory.u8.subarray(valueAddress, valueAddress + this.valueSize), flags);
  }

  override popElem(valueAddress: number): number {
    const value = this.take(true);
    if (!value) return negErrno('ENOENT');
    this.memory.u8.set(value, valueAddress);
    return 0;
  }

  override peekElem(valueAddress: number): number {
    const value = this.take(false);
    if (!value) return negErrno('ENOENT');
    this.memory.u8.set(value, valueAddress);
    return 0;
  }

  override lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    this.checkKey(key, 'lookup');
    this.checkUserRead('lookup');
    if (flags !== 0) throw this.error('EINVAL', 'lookup', `invalid lookup flags ${flags}`);
    return this.take(false);
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    this.checkKey(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    const result = this.push(value, flags);
    if (result === negErrno('E2BIG')) throw this.error('E2BIG', 'update', `the ${this.rule.name} is full (max_entries ${this.maxEntries}); BPF_EXIST overwrites the oldest element`);
    if (result < 0) throw this.error('EINVAL', 'update', `invalid push flags ${flags} (BPF_ANY or BPF_EXIST)`);
  }

  override lookupAndDelete(key: Uint8Array | null): Uint8Array | undefined {
    this.checkKey(key, 'lookup_and_delete');
    this.checkUserWrite('lookup_and_delete');
    return this.take(true);
  }
}

/** The largest bloom filter bit array the VM keeps (bytes). */
const MAX_BLOOM_BYTES = 1 << 29;

/** bloom_map_alloc's bit count: roundup_pow_of_two(entries * hashes / 5 * 7), at least 64, 2^32 on overflow. */
function bloomBits(maxEntries: number, hashCount: number): number {
  const wanted = Math.floor((maxEntries * hashCount) / 5) * 7;
  if (wanted > 2 ** 31) return 2 ** 32;
  return wanted <= 64 ? 64 : 2 ** Math.ceil(Math.log2(wanted));
}

/**
 * BPF_MAP_TYPE_BLOOM_FILTER as kernel/bpf/bloom_filter.c: nr_hash_funcs
 * (map_extra & 0xf, default 5) jhash values of the value seeded
 * hash_seed + i index a bit array of roundup_pow_of_two(max_entries *
 * nr_hash_funcs * 7 / 5) bits (at least 64). No false negatives; false
 * positives at the usual rate. User space: `update(null, value)` adds,
 * `contains(value)` tests (BPF_MAP_LOOKUP_ELEM with the value).
 */
export class BloomFilterMap extends VmMap {
  readonly hashCount: number;
  readonly bitMask: number;
  readonly seed: number;
  private readonly bits: Uint32Array;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.BLOOM_FILTER]);
    this.hashCount = Number(this.mapExtra) || BLOOM_DEFAULT_HASHES;
    const bitCount = bloomBits(this.maxEntries, this.hashCount);
    this.bitMask = (bitCount - 1) >>> 0;
    this.bits = new Uint32Array(bitCount / 32);
    this.seed = this.flags & MapFlag.ZERO_SEED ? 0 : (options.seed ?? (Math.random() * 2 ** 32) >>> 0);
  }

  protected override checkOptions(): void {
    if (this.mapExtra & ~0xfn) throw this.error('EINVAL', 'create', `map_extra ${this.mapExtra} has bits above the 4-bit hash count`);
    const bytes = bloomBits(this.maxEntries, Number(this.mapExtra) || BLOOM_DEFAULT_HASHES) / 8;
    if (bytes > MAX_BLOOM_BYTES) throw this.error('E2BIG', 'create', `the bit array would take ${bytes} bytes, more than the VM allows (${MAX_BLOOM_BYTES})`);
  }

  private bit(value: Uint8Array, offset: number, i: number): number {
    return jhash(value, offset, this.valueSize, (this.seed + i) >>> 0) & this.bitMask;
  }

  private add(bytes: Uint8Array, offset: number, flags: number): number {
    if (flags !== UpdateFlag.ANY) return negErrno('EINVAL');
    for (let i = 0; i < this.hashCount; i++) {
      const b = this.bit(bytes, offset, i);
      this.bits[b >>> 5]! |= 1 << (b & 31);
    }
    return 0;
  }

  private test(bytes: Uint8Array, offset: number): boolean {
    for (let i = 0; i < this.hashCount; i++) {
      const b = this.bit(bytes, offset, i);
      if (!(this.bits[b >>> 5]! & (1 << (b & 31)))) return false;
    }
    return true;
  }

  override pushElem(valueAddress: number, flags: number): number {
    return this.add(this.memory.u8, valueAddress, flags);
  }

  override peekElem(valueAddress: number): number {
    return this.test(this.memory.u8, valueAddress) ? 0 : negErrno('ENOENT');
  }

  /** Whether `value` may have been added (never false for an added value). */
  contains(value: Uint8Array): boolean {
    this.checkUserRead('lookup');
    this.checkValue(value, 'lookup');
    return this.test(value, 0);
  }

  override lookup(key: Uint8Array | null): Uint8Array | undefined {
    this.checkKey(key, 'lookup');
    throw this.error('EINVAL', 'lookup', 'a bloom filter lookup needs the value to test: use contains(value)');
  }

  override update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    this.checkKey(key, 'update');
    this.checkValue(value, 'update');
    this.checkUserWrite('update');
    if (this.add(value, 0, flags) < 0) throw this.error('EINVAL', 'update', `invalid flags ${flags} (bloom filters take BPF_ANY only)`);
  }

  override delete(_key: Uint8Array): boolean {
    this.checkOpen();
    throw this.error('EOPNOTSUPP', 'delete', 'bloom filter elements cannot be deleted');
  }

  override nextKey(_key: Uint8Array | undefined): Uint8Array | undefined {
    this.checkOpen();
    throw this.error('EOPNOTSUPP', 'get_next_key', 'bloom filters cannot be iterated');
  }
}
