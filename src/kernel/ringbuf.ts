/**
 * BPF_MAP_TYPE_RINGBUF reader. The map is mmap-ed as the kernel lays it
 * out: the consumer page read-write, then the producer page and the data
 * area read-only, the data area mapped twice in a row so a record that wraps
 * around the end is still contiguous. Records are handed out as zero-copy
 * Uint8Array views into the mapping, valid until the record is consumed
 * (the callback returns / the iterator advances).
 */
import { MapType } from '../uapi/enums.ts';
import { EpollWaiter } from './epoll.ts';
import { ClosedError, KernelArgumentError } from './errors.ts';
import { NativeBuffer, PROT_READ, PROT_WRITE, pageSize } from './ffi.ts';
import type { KernelMap } from './map.ts';

const BUSY_BIT = 0x80000000;
const DISCARD_BIT = 0x40000000;
const HEADER_SIZE = 8;
const TWO_32 = 4294967296;

/** Return a promise to pause consumption until it settles (backpressure). */
export type RecordCallback = (record: Uint8Array) => void | Promise<void>;

export class RingBufferReader {
  readonly map: KernelMap;
  /** Records the program discarded (bpf_ringbuf_discard): skipped, counted here. */
  discarded = 0;
  /** Records delivered so far. */
  delivered = 0;
  readonly #consumer: NativeBuffer;
  readonly #producer: NativeBuffer;
  readonly #consumerPos: Uint32Array;
  readonly #producerPos: Uint32Array;
  readonly #headers: Int32Array;
  readonly #data: Uint8Array;
  readonly #mask: number;
  /** Unpublished consumed bytes after which the consumer position is written even mid-batch. */
  readonly #publishEvery: number;
  readonly #waiter: EpollWaiter;
  #closed = false;

  constructor(map: KernelMap) {
    if (map.type !== MapType.RINGBUF) throw new KernelArgumentError(`RingBufferReader needs a RINGBUF map, got ${map.name || 'a map'} of type ${map.type}`);
    const page = pageSize();
    const size = map.maxEntries;
    this.map = map;
    this.#mask = size - 1;
    this.#publishEvery = size / 4;
    this.#consumer = NativeBuffer.mapFile(map.fd, page, PROT_READ | PROT_WRITE, 0, 'mmap(ring buffer consumer page)');
    try {
      this.#producer = NativeBuffer.mapFile(map.fd, page + 2 * size, PROT_READ, page, 'mmap(ring buffer producer page and data)');
    } catch (error) {
      this.#consumer.free();
      throw error;
    }
    this.#consumerPos = new Uint32Array(this.#consumer.bytes.buffer, 0, 2);
    this.#producerPos = new Uint32Array(this.#producer.bytes.buffer, 0, 2);
    this.#headers = new Int32Array(this.#producer.bytes.buffer, page, (2 * size) / 4);
    this.#data = new Uint8Array(this.#producer.bytes.buffer, page, 2 * size);
    try {
      this.#waiter = new EpollWaiter(1);
      this.#waiter.add(map.fd, 0);
    } catch (error) {
      this.#consumer.free();
      this.#producer.free();
      throw error;
    }
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('ring buffer reader is closed');
    if (this.map.closed) throw new ClosedError(`ring buffer map '${this.map.name}' was closed under its reader`);
  }

  #readConsumer(): number {
    return this.#consumerPos[0]! + this.#consumerPos[1]! * TWO_32;
  }

  #writeConsumer(position: number): void {
    // Low word first: a torn read by the kernel sees an older (smaller) position, which only under-reports free space.
    this.#consumerPos[0] = position >>> 0;
    this.#consumerPos[1] = Math.floor(position / TWO_32);
  }

  #readProducer(): number {
    const lo = Atomics.load(this.#producerPos, 0);
    const hi = Atomics.load(this.#producerPos, 1);
    return lo + hi * TWO_32;
  }

  /** Bytes produced and not yet consumed. */
  get pending(): number {
    this.#check();
    return this.#readProducer() - this.#readConsumer();
  }

  /**
   * Consumes every committed record now available, calling `callback` with a
   * view valid during the call; stops at `max` records. Returns how many
   * were delivered. The consumer position is published once per batch (each
   * time the reader catches up with the producer position it read, and at
   * the end), not per record: the kernel wakes the reader only when it finds
   * it caught up, so fewer publications mean fewer wakeups for the producer
   * to send. A callback returning a promise is not awaited here: use
   * consume() for backpressure. A throwing callback consumes its record.
   */
  poll(callback: (record: Uint8Array) => void, max = Infinity): number {
    this.#check();
    let consumer = this.#readConsumer();
    let producer = this.#readProducer();
    let count = 0;
    try {
      while (count < max) {
        if (consumer >= producer) {
          this.#writeConsumer(consumer);
          producer = this.#readProducer();
          if (consumer >= producer) break;
        }
        const offset = consumer & this.#mask;
        const header = Atomics.load(this.#headers, offset >>> 2) >>> 0;
        if (header & BUSY_BIT) break; // reserved but not yet committed: records after it must wait
        const length = header & ~(BUSY_BIT | DISCARD_BIT);
        consumer += (length + HEADER_SIZE + 7) & ~7;
        if (header & DISCARD_BIT) {
          this.discarded++;
          continue;
        }
        count++;
        callback(this.#data.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + length));
        if (this.#closed) break; // the callback closed the reader: the mapping is gone
      }
    } finally {
      if (!this.#closed) this.#writeConsumer(consumer);
      this.delivered += count;
    }
    return count;
  }

  /** Resolves when records are available (true) or the reader was closed (false). */
  async wait(timeoutMs = -1): Promise<boolean> {
    while (!this.#closed) {
      if (this.pending > 0) return true;
      const ready = await this.#waiter.wait(timeoutMs);
      if (ready.length === 0 && timeoutMs >= 0) return !this.#closed && this.pending > 0;
    }
    return false;
  }

  /**
   * Delivers records until close() (or `signal` aborts), waiting with epoll
   * when the buffer is empty. A callback returning a promise pauses the
   * reader until it settles; the record view stays valid until then.
   */
  async consume(callback: RecordCallback, options: { signal?: AbortSignal } = {}): Promise<void> {
    const onAbort = (): void => this.close();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      while (await this.wait()) {
        let pausedOn: Promise<void> | undefined;
        do {
          pausedOn = undefined;
          const before = this.delivered + this.discarded;
          this.#pollUntilPromise(callback, (p) => (pausedOn = p));
          if (pausedOn) {
            await pausedOn;
            // The consumer position moves past a paused record only after its promise settled.
            this.#advancePastPaused();
          } else if (this.delivered + this.discarded === before && !this.#closed) {
            // Only a reserved, uncommitted record is pending: let the event loop run while the producer finishes it.
            await new Promise((resolve) => setImmediate(resolve));
          }
        } while (pausedOn && !this.#closed);
      }
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  #pausedNext = -1;

  #pollUntilPromise(callback: RecordCallback, onPromise: (p: Promise<void>) => void): void {
    let consumer = this.#readConsumer();
    let published = consumer;
    let producer = this.#readProducer();
    try {
      while (!this.#closed) {
        if (consumer >= producer) {
          this.#writeConsumer((published = consumer)); // caught up: publish before looking again
          producer = this.#readProducer();
          if (consumer >= producer) return;
        }
        const offset = consumer & this.#mask;
        const header = Atomics.load(this.#headers, offset >>> 2) >>> 0;
        if (header & BUSY_BIT) return;
        const length = header & ~(BUSY_BIT | DISCARD_BIT);
        const next = consumer + ((length + HEADER_SIZE + 7) & ~7);
        if (header & DISCARD_BIT) {
          this.discarded++;
        } else {
          const result = callback(this.#data.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + length));
          this.delivered++;
          if (this.#closed) return;
          if (result && typeof (result as Promise<void>).then === 'function') {
            this.#pausedNext = next;
            onPromise(result as Promise<void>);
            return;
          }
        }
        consumer = next;
        // A long run without catching up still frees space for the producer regularly.
        if (consumer - published >= this.#publishEvery) this.#writeConsumer((published = consumer));
      }
    } finally {
      if (!this.#closed && consumer !== published) this.#writeConsumer(consumer);
    }
  }

  #advancePastPaused(): void {
    if (this.#pausedNext >= 0 && !this.#closed) this.#writeConsumer(this.#pausedNext);
    this.#pausedNext = -1;
  }

  /**
   * Records one at a time; each view is valid until the next iteration step.
   * Ends when the reader is closed. Not an async generator: a step that
   * finds a record already committed resolves at once, and the consumer
   * position is published when the reader catches up with the producer (or
   * every quarter of the ring), not per record. One consumer at a time:
   * do not mix it with poll() or consume() while it is running.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<Uint8Array> {
    let consumer = -1; // where the record after the one being viewed starts; -1 before the first step
    let producer = 0;
    let published = 0;
    const publish = (position: number): void => {
      this.#writeConsumer((published = position));
    };
    const finish = (): void => {
      if (consumer >= 0 && !this.#closed) publish(consumer);
      consumer = -1;
    };
    /** The next committed record, or undefined when none is ready; consumes the previous one. */
    const take = (): Uint8Array | undefined => {
      if (consumer < 0) {
        consumer = published = this.#readConsumer();
        producer = this.#readProducer();
      }
      while (!this.#closed) {
        if (consumer >= producer) {
          publish(consumer);
          producer = this.#readProducer();
          if (consumer >= producer) return undefined;
        }
        const offset = consumer & this.#mask;
        const header = Atomics.load(this.#headers, offset >>> 2) >>> 0;
        if (header & BUSY_BIT) {
          publish(consumer);
          return undefined;
        }
        const length = header & ~(BUSY_BIT | DISCARD_BIT);
        const start = consumer;
        consumer += (length + HEADER_SIZE + 7) & ~7;
        if (header & DISCARD_BIT) {
          this.discarded++;
          continue;
        }
        if (start - published >= this.#publishEvery) publish(start);
        this.delivered++;
        return this.#data.subarray(offset + HEADER_SIZE, offset + HEADER_SIZE + length);
      }
      return undefined;
    };
    const done: IteratorReturnResult<undefined> = { done: true, value: undefined };
    const waitThenTake = async (): Promise<IteratorResult<Uint8Array>> => {
      while (await this.wait()) {
        const record = take();
        if (record) return { done: false, value: record };
        // A busy record: the producer commits soon; epoll may not fire again for it.
        if (this.pending > 0) await new Promise((resolve) => setImmediate(resolve));
      }
      return done;
    };
    const iterator: AsyncIterableIterator<Uint8Array> = {
      next: () => {
        if (this.#closed) return Promise.resolve(done);
        const record = take();
        return record ? Promise.resolve({ done: false, value: record }) : waitThenTake();
      },
      return: () => {
        finish();
        return Promise.resolve(done);
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Unmaps the buffer and wakes pending waits (the map itself stays open). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    this.#consumer.free();
    this.#producer.free();
  }
}
