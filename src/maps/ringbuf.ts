import { TsbpfError } from '../errors.ts';
import { MapType } from '../uapi/enums.ts';
import { PAGE_SIZE, RingbufConst } from '../uapi/maps.ts';
import type { Region, VmMemory } from '../vm/memory.ts';
import { VmMap, type VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';

const { BUSY_BIT, DISCARD_BIT, HEADER_SIZE } = RingbufConst;

const liveRingBuffers = new Set<RingBufMap>();

/** The open ring buffer of `memory` whose data area holds `address` (a record bpf_ringbuf_submit names). */
export function ringBufferContaining(memory: VmMemory, address: number): RingBufMap | undefined {
  for (const map of liveRingBuffers) {
    if (map.memory === memory && address >= map.data && address < map.data + 2 * map.maxEntries) return map;
  }
  return undefined;
}
/**
 * bpf_ringbuf_submit/discard of a pointer that is not a record the ring
 * reserved and has not committed: the kernel's verifier rejects such
 * programs; the VM stops the program.
 */
export class RingBufferRecordError extends TsbpfError {
  override name = 'RingBufferRecordError';
}

/** RINGBUF_MAX_RECORD_SZ: UINT_MAX / 4. */
const MAX_RECORD = Math.floor(0xffffffff / 4);

/**
 * BPF_MAP_TYPE_RINGBUF with the kernel's layout in VM memory: a consumer
 * page (u64 consumer_pos), a producer page (u64 producer_pos), then the data
 * area of max_entries bytes. Records are an 8-byte header (u32 length with
 * BPF_RINGBUF_BUSY_BIT while reserved and BPF_RINGBUF_DISCARD_BIT when
 * discarded, u32 page offset) and the data, 8-byte aligned.
 *
 * The kernel maps the data area twice so a record crossing the end is
 * contiguous; here the data area is followed by a mirror of the same size:
 * a reserved record is always contiguous at its address, and the part
 * written past the end is copied to the start on submit/discard.
 *
 * Programs see only their reserved records: the ring itself is not a region
 * they can address (the kernel gives them PTR_TO_MEM of the record's size),
 * each reservation maps just its data until it is committed, and commit
 * trusts the map's own record of the reservation, never the header a
 * program could have rewritten.
 */
export class RingBufMap extends VmMap {
  /** Start of the consumer page; producer page and data follow. */
  readonly base: number;
  readonly consumerPosAddress: number;
  readonly producerPosAddress: number;
  readonly data: number;
  readonly mask: number;
  /** Reserved, not yet committed records (their start positions), oldest first: the kernel's pending_pos. */
  private readonly pending: number[] = [];
  /** The same records by data address: their size, position and the region that lets the program write them. */
  private readonly reserved = new Map<number, { size: number; position: number; region: Region | undefined }>();
  private readonly listeners = new Set<() => void>();
  /** Records dropped because the ring was full (reserve/output failures). */
  dropped = 0;

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options, [MapType.RINGBUF]);
    this.base = this.reserveMemory(2 * PAGE_SIZE + 2 * this.maxEntries, 'ring');
    this.consumerPosAddress = this.base;
    this.producerPosAddress = this.base + PAGE_SIZE;
    this.data = this.base + 2 * PAGE_SIZE;
    this.mask = this.maxEntries - 1;
    [this.consumerPosAddress, this.producerPosAddress, this.data, this.mask].forEach((w, i) => this.setDescriptorWord(i, w));
    liveRingBuffers.add(this);
  }

  get consumerPos(): number {
    return Number(this.memory.view.getBigUint64(this.consumerPosAddress, true));
  }

  set consumerPos(position: number) {
    this.memory.view.setBigUint64(this.consumerPosAddress, BigInt(position), true);
  }

  get producerPos(): number {
    return Number(this.memory.view.getBigUint64(this.producerPosAddress, true));
  }

  private set producerPos(position: number) {
    this.memory.view.setBigUint64(this.producerPosAddress, BigInt(position), true);
  }

  /** bpf_ringbuf_reserve: the record's data address, mapped for the program until committed, or 0 when it does not fit. */
  reserve(size: number, flags = 0): number {
    if (flags !== 0) return 0;
    const record = this.allocateRecord(size);
    if (record === undefined) return 0;
    const region = size > 0 ? this.memory.map({ start: record.address, size, kind: 'map', writable: true, name: `${this.describe()} record`, owner: this }) : undefined;
    this.reserved.set(record.address, { size, position: record.position, region });
    return record.address;
  }

  /** bpf_ringbuf_submit / bpf_ringbuf_discard of the record whose data is at `address`. */
  commit(address: number, discard: boolean): void {
    const record = this.reserved.get(address);
    if (record === undefined) throw new RingBufferRecordError(`${this.describe()}: 0x${address.toString(16)} is not a record reserved from this ring buffer and not yet submitted or discarded`);
    this.reserved.delete(address);
    if (record.region !== undefined) this.memory.unmap(record.region);
    this.completeRecord(address, record.size, record.position, discard);
  }

  /** bpf_ringbuf_output: 0, -EINVAL for bad flags, -EAGAIN when full. The record is written here, never mapped for the program. */
  output(bytes: Uint8Array, flags = 0): number {
    if (flags & ~(RingbufConst.NO_WAKEUP | RingbufConst.FORCE_WAKEUP)) return negErrno('EINVAL');
    const record = this.allocateRecord(bytes.length);
    if (record === undefined) return negErrno('EAGAIN');
    this.memory.u8.set(bytes, record.address);
    this.completeRecord(record.address, bytes.length, record.position, false);
    return 0;
  }

  /** Claims space for a record of `size` bytes (BUSY header written, producer advanced), or undefined when it does not fit. */
  private allocateRecord(size: number): { address: number; position: number } | undefined {
    if (size > MAX_RECORD) return undefined;
    const length = (size + HEADER_SIZE + 7) & ~7;
    const producer = this.producerPos;
    const next = producer + length;
    const oldestPending = this.pending[0] ?? producer;
    if (next - this.consumerPos > this.mask || next - oldestPending > this.mask) {
      this.dropped++;
      return undefined;
    }
    const header = this.data + (producer & this.mask);
    const view = this.memory.view;
    view.setUint32(header, (size | BUSY_BIT) >>> 0, true);
    view.setUint32(header + 4, Math.floor((header - this.base) / PAGE_SIZE), true);
    this.pending.push(producer);
    this.producerPos = next;
    return { address: header + HEADER_SIZE, position: producer };
  }

  /** Publishes (or discards) a record: the mirror's bytes wrapped to the start, BUSY cleared, readers woken. */
  private completeRecord(address: number, size: number, position: number, discard: boolean): void {
    const end = address + size;
    const dataEnd = this.data + this.maxEntries;
    if (end > dataEnd) this.memory.u8.copyWithin(this.data, dataEnd, end); // the mirror's bytes belong at the start
    this.memory.view.setUint32(address - HEADER_SIZE, (size | (discard ? DISCARD_BIT : 0)) >>> 0, true);
    const i = this.pending.indexOf(position);
    if (i >= 0) this.pending.splice(i, 1);
    if (!discard) for (const listener of this.listeners) listener();
  }

  /** bpf_ringbuf_query. */
  query(what: number): bigint {
    switch (what) {
      case RingbufConst.QUERY_AVAIL_DATA:
        return BigInt(this.producerPos - this.consumerPos);
      case RingbufConst.QUERY_RING_SIZE:
        return BigInt(this.maxEntries);
      case RingbufConst.QUERY_CONS_POS:
        return BigInt(this.consumerPos);
      case RingbufConst.QUERY_PROD_POS:
        return BigInt(this.producerPos);
      default:
        return 0n;
    }
  }

  /** Called after each submitted record (the VM's stand-in for the epoll wakeup). */
  onData(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  override close(): void {
    liveRingBuffers.delete(this);
    this.listeners.clear();
    for (const { region } of this.reserved.values()) if (region !== undefined) this.memory.unmap(region);
    this.reserved.clear();
    super.close();
  }
}

/**
 * Reads a VM ring buffer like the kernel backend's RingBufferReader reads a
 * kernel one (same methods and semantics): records in order, stopping at
 * the first still-reserved record, discarded records skipped and counted.
 * Record views point into VM memory and are valid during the callback.
 */
export class VmRingBufferReader {
  readonly map: RingBufMap;
  discarded = 0;
  delivered = 0;
  private closedFlag = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  constructor(map: RingBufMap) {
    this.map = map;
    this.unsubscribe = map.onData(() => this.wake?.());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Bytes produced and not yet consumed. */
  get pending(): number {
    return this.map.producerPos - this.map.consumerPos;
  }

  poll(callback: (record: Uint8Array) => void, max = Infinity): number {
    if (this.closedFlag) return 0;
    const map = this.map;
    const view = map.memory.view;
    let consumer = map.consumerPos;
    let count = 0;
    while (count < max && consumer < map.producerPos) {
      const offset = consumer & map.mask;
      const header = view.getUint32(map.data + offset, true);
      if (header & BUSY_BIT) break;
      const length = header & ~(BUSY_BIT | DISCARD_BIT);
      const next = consumer + ((length + HEADER_SIZE + 7) & ~7);
      if (header & DISCARD_BIT) this.discarded++;
      else {
        const start = map.data + offset + HEADER_SIZE;
        const end = start + length;
        const dataEnd = map.data + map.maxEntries;
        const u8 = map.memory.u8;
        // A wrapped record: its tail is at the start of the data area (the mirror may be stale).
        const record = end <= dataEnd ? u8.subarray(start, end) : concat(u8.subarray(start, dataEnd), u8.subarray(map.data, map.data + (end - dataEnd)));
        try {
          callback(record);
        } finally {
          map.consumerPos = next;
        }
        count++;
        if (this.closedFlag) break;
      }
      consumer = next;
      map.consumerPos = consumer;
    }
    this.delivered += count;
    return count;
  }

  /** Resolves true when records are available, false when closed or after `timeoutMs` (-1: no timeout) with none. */
  wait(timeoutMs = -1): Promise<boolean> {
    if (this.closedFlag) return Promise.resolve(false);
    if (this.pending > 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = timeoutMs >= 0 ? setTimeout(() => finish(), timeoutMs) : undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        this.wake = undefined;
        resolve(!this.closedFlag && this.pending > 0);
      };
      this.wake = finish;
    });
  }

  /** Delivers records until close() or `signal` aborts; a callback's promise is awaited before the next record. */
  async consume(callback: (record: Uint8Array) => void | Promise<void>, options: { signal?: AbortSignal } = {}): Promise<void> {
    const onAbort = (): void => this.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (await this.wait()) {
        const records: Uint8Array[] = [];
        this.poll((r) => records.push(r.slice()));
        for (const record of records) await callback(record);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    while (await this.wait()) {
      const records: Uint8Array[] = [];
      this.poll((r) => records.push(r.slice()));
      yield* records;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.unsubscribe();
    this.wake?.();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
