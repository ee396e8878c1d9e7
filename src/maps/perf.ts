import { type PerfSample, consumeBatches, copyPerfSample, iterateBatches } from '../backend/index.ts';
import { MapType, mapTypeName } from '../uapi/enums.ts';
import { PerfEventConst } from '../uapi/maps.ts';
import type { VmMemory } from '../vm/memory.ts';
import { ReferenceArrayMap } from './array.ts';
import type { VmMapOptions } from './base.ts';
import { negErrno } from './errors.ts';

/** One CPU's sample ring of a perf event array reader. */
export class PerfRing {
  readonly samples: Uint8Array[] = [];
  bytes = 0;
  lost = 0;
  constructor(
    readonly cpu: number,
    readonly capacity: number,
  ) {}
}

export type { PerfSample };

/**
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY. Slot i holds CPU i's ring once a reader is
 * attached (the kernel: a perf event fd per CPU). bpf_perf_event_output
 * appends to the ring of the flags' index (BPF_F_CURRENT_CPU: the running
 * CPU): E2BIG past max_entries, ENOENT for an empty slot, ENOSPC (and a
 * lost sample) when the ring is full.
 */
export class PerfEventArrayMap extends ReferenceArrayMap<PerfRing> {
  private readonly listeners = new Set<() => void>();

  constructor(memory: VmMemory, options: VmMapOptions) {
    super(memory, options);
    if (this.type !== MapType.PERF_EVENT_ARRAY) {
      this.close();
      throw this.error('EINVAL', 'create', `PerfEventArrayMap implements PERF_EVENT_ARRAY, not ${mapTypeName(this.type)}`);
    }
  }

  /** bpf_perf_event_output's effect: 0 or a negative errno. */
  output(cpu: number, flags: bigint, bytes: Uint8Array): number {
    if (flags & ~(PerfEventConst.INDEX_MASK | PerfEventConst.CTXLEN_MASK)) return negErrno('EINVAL');
    let index = Number(flags & PerfEventConst.INDEX_MASK);
    if (BigInt(index) === PerfEventConst.CURRENT_CPU) index = cpu;
    if (index >= this.maxEntries) return negErrno('E2BIG');
    const ring = this.at(index);
    if (ring === undefined) return negErrno('ENOENT');
    const padded = ((bytes.length + 4 + 7) & ~7) - 4;
    if (ring.bytes + padded + 8 > ring.capacity) {
      ring.lost++;
      return negErrno('ENOSPC');
    }
    const data = new Uint8Array(padded);
    data.set(bytes);
    ring.samples.push(data);
    ring.bytes += padded + 8;
    for (const listener of this.listeners) listener();
    return 0;
  }

  onData(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * Reads a VM perf event array like the kernel backend's
 * PerfEventArrayReader: attaching puts a ring in every CPU's slot; poll
 * delivers samples CPU by CPU and reports lost counts.
 */
export class VmPerfEventArrayReader {
  readonly map: PerfEventArrayMap;
  private readonly rings: PerfRing[] = [];
  private closedFlag = false;
  private wake: (() => void) | undefined;
  private readonly unsubscribe: () => void;

  /** `bytesPerCpu`: ring capacity, like pagesPerCpu × page size in the kernel (default 256 KiB). */
  constructor(map: PerfEventArrayMap, options: { bytesPerCpu?: number } = {}) {
    this.map = map;
    const capacity = options.bytesPerCpu ?? 256 * 1024;
    for (let cpu = 0; cpu < Math.min(map.cpus, map.maxEntries); cpu++) {
      const ring = new PerfRing(cpu, capacity);
      map.set(cpu, cpu, ring);
      this.rings.push(ring);
    }
    this.unsubscribe = map.onData(() => this.wake?.());
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  poll(callback: (sample: PerfSample) => void, onLost?: (count: number, cpu: number) => void): number {
    let count = 0;
    for (const ring of this.rings) {
      if (ring.lost > 0) {
        onLost?.(ring.lost, ring.cpu);
        ring.lost = 0;
      }
      while (ring.samples.length > 0 && !this.closedFlag) {
        const data = ring.samples.shift()!;
        ring.bytes -= data.length + 8;
        callback({ cpu: ring.cpu, data });
        count++;
      }
    }
    return count;
  }

  wait(timeoutMs = -1): Promise<boolean> {
    const ready = (): boolean => !this.closedFlag && this.rings.some((r) => r.samples.length > 0 || r.lost > 0);
    if (this.closedFlag || ready()) return Promise.resolve(ready());
    return new Promise((resolve) => {
      const timer = timeoutMs >= 0 ? setTimeout(() => finish(), timeoutMs) : undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        this.wake = undefined;
        resolve(ready());
      };
      this.wake = finish;
    });
  }

  /** Delivers samples until close() or `signal` aborts; a callback's promise is awaited before the next sample. */
  async consume(callback: (sample: PerfSample) => void | Promise<void>, options: { signal?: AbortSignal } = {}): Promise<void> {
    await consumeBatches(this, copyPerfSample, callback, options.signal);
  }

  /** Samples as they come, each a copy, until close(). */
  [Symbol.asyncIterator](): AsyncIterator<PerfSample> {
    return iterateBatches(this, copyPerfSample);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.unsubscribe();
    for (const ring of this.rings) if (!this.map.closed && this.map.at(ring.cpu) === ring) this.map.delete(new Uint8Array(new Uint32Array([ring.cpu]).buffer));
    this.wake?.();
  }
}
