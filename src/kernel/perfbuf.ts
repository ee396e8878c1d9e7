/**
 * BPF_MAP_TYPE_PERF_EVENT_ARRAY reader: one PERF_COUNT_SW_BPF_OUTPUT event
 * per CPU, its ring mmap-ed, the fd stored in the map at the CPU's index so
 * bpf_perf_event_output(ctx, map, BPF_F_CURRENT_CPU, ...) lands there.
 * Samples are zero-copy views unless they wrap around the end of the ring
 * (then copied). PERF_RECORD_LOST records are counted, never dropped silently.
 */
import { type PerfSample, consumeBatches, copyPerfSample, iterateBatches } from '../backend/index.ts';
import { MapType } from '../uapi/enums.ts';
import { EpollWaiter } from './epoll.ts';
import { ClosedError, KernelArgumentError, SyscallError } from './errors.ts';
import { OwnedFd } from './fd.ts';
import { NativeBuffer, PROT_READ, PROT_WRITE, pageSize, sysIoctl } from './ffi.ts';
import type { KernelMap } from './map.ts';
import { PERF_SAMPLE_RAW, PerfSoftware, PerfType, encodePerfAttr, perfEventOpen } from './perf.ts';
import { possibleCpus } from './map.ts';

const PERF_EVENT_IOC_ENABLE = 0x2400;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;
/** Offsets in struct perf_event_mmap_page. */
const DATA_HEAD = 1024;
const DATA_TAIL = 1032;
const TWO_32 = 4294967296;

export interface PerfReaderOptions {
  /** Data pages per CPU ring (a power of two); default 64 (256 KiB with 4 KiB pages). */
  pagesPerCpu?: number;
  /** Wake the reader after this many samples (default 1)... */
  wakeupEvents?: number;
  /** ...or, when set, after this many bytes are in the ring (watermark). */
  wakeupBytes?: number;
}

export type { PerfSample };

class CpuRing {
  readonly cpu: number;
  readonly event: OwnedFd;
  readonly mapping: NativeBuffer;
  readonly head: Uint32Array;
  readonly data: Uint8Array;
  readonly view: DataView;
  readonly size: number;

  constructor(cpu: number, event: OwnedFd, mapping: NativeBuffer, page: number) {
    this.cpu = cpu;
    this.event = event;
    this.mapping = mapping;
    this.head = new Uint32Array(mapping.bytes.buffer, 0, page / 4);
    this.size = mapping.length - page;
    this.data = new Uint8Array(mapping.bytes.buffer, page, this.size);
    this.view = new DataView(mapping.bytes.buffer, page, this.size);
  }

  dataHead(): number {
    return Atomics.load(this.head, DATA_HEAD / 4) + Atomics.load(this.head, DATA_HEAD / 4 + 1) * TWO_32;
  }
  dataTail(): number {
    return this.head[DATA_TAIL / 4]! + this.head[DATA_TAIL / 4 + 1]! * TWO_32;
  }
  setDataTail(position: number): void {
    this.head[DATA_TAIL / 4] = position >>> 0;
    this.head[DATA_TAIL / 4 + 1] = Math.floor(position / TWO_32);
  }
}

export class PerfEventArrayReader {
  readonly map: KernelMap;
  /** Samples the kernel dropped because a ring was full (sum of PERF_RECORD_LOST counts). */
  lost = 0;
  delivered = 0;
  readonly #rings: CpuRing[] = [];
  readonly #waiter: EpollWaiter;
  #closed = false;

  constructor(map: KernelMap, options: PerfReaderOptions = {}) {
    if (map.type !== MapType.PERF_EVENT_ARRAY) throw new KernelArgumentError(`PerfEventArrayReader needs a PERF_EVENT_ARRAY map, got type ${map.type}`);
    const pages = options.pagesPerCpu ?? 64;
    if (!Number.isInteger(pages) || pages < 1 || (pages & (pages - 1)) !== 0) throw new KernelArgumentError(`pagesPerCpu must be a power of two, got ${pages}`);
    this.map = map;
    const page = pageSize();
    const cpus = Math.min(possibleCpus(), map.maxEntries);
    this.#waiter = new EpollWaiter(cpus);
    try {
      for (let cpu = 0; cpu < cpus; cpu++) {
        const attr = encodePerfAttr({
          type: PerfType.SOFTWARE,
          config: PerfSoftware.BPF_OUTPUT,
          sampleType: PERF_SAMPLE_RAW,
          samplePeriod: 1,
          wakeupEvents: options.wakeupBytes ?? options.wakeupEvents ?? 1,
          watermark: options.wakeupBytes !== undefined,
        });
        let event: OwnedFd;
        try {
          event = perfEventOpen(attr, { pid: -1, cpu }, `BPF output on CPU ${cpu}`);
        } catch (error) {
          if (error instanceof SyscallError && error.code === 'ENODEV') continue; // offline CPU
          throw error;
        }
        let mapping: NativeBuffer;
        try {
          mapping = NativeBuffer.mapFile(event.fd, (pages + 1) * page, PROT_READ | PROT_WRITE, 0, `mmap(perf ring of CPU ${cpu})`);
        } catch (error) {
          event.close();
          throw error;
        }
        this.#rings.push(new CpuRing(cpu, event, mapping, page));
        sysIoctl(event.fd, PERF_EVENT_IOC_ENABLE, 0);
        map.update(u32(cpu), u32(event.fd));
        this.#waiter.add(event.fd, this.#rings.length - 1);
      }
    } catch (error) {
      this.close();
      throw error;
    }
  }

  #check(): void {
    if (this.#closed) throw new ClosedError('perf event array reader is closed');
  }

  /** Delivers every sample now in the rings. Returns the number delivered. */
  poll(callback: (sample: PerfSample) => void, onLost?: (count: number, cpu: number) => void): number {
    this.#check();
    let count = 0;
    for (const ring of this.#rings) {
      let tail = ring.dataTail();
      const head = ring.dataHead();
      const mask = ring.size - 1;
      while (tail < head && !this.#closed) {
        const offset = tail & mask;
        const headerBytes = this.#bytes(ring, offset, 8);
        const header = new DataView(headerBytes.buffer, headerBytes.byteOffset, 8);
        const type = header.getUint32(0, true);
        const size = header.getUint16(6, true);
        if (type === PERF_RECORD_SAMPLE) {
          const rawSize = this.#bytes(ring, (offset + 8) & mask, 4);
          const length = new DataView(rawSize.buffer, rawSize.byteOffset, 4).getUint32(0, true);
          callback({ cpu: ring.cpu, data: this.#bytes(ring, (offset + 12) & mask, length) });
          count++;
        } else if (type === PERF_RECORD_LOST) {
          const body = this.#bytes(ring, (offset + 8) & mask, 16);
          const lost = Number(new DataView(body.buffer, body.byteOffset, 16).getBigUint64(8, true));
          this.lost += lost;
          onLost?.(lost, ring.cpu);
        }
        if (this.#closed) break;
        tail += size;
        ring.setDataTail(tail);
      }
    }
    this.delivered += count;
    return count;
  }

  /** A view of `length` ring bytes at `offset`, copied only when they wrap around the end. */
  #bytes(ring: CpuRing, offset: number, length: number): Uint8Array {
    if (offset + length <= ring.size) return ring.data.subarray(offset, offset + length);
    const copy = new Uint8Array(length);
    const first = ring.size - offset;
    copy.set(ring.data.subarray(offset));
    copy.set(ring.data.subarray(0, length - first), first);
    return copy;
  }

  /** Resolves when a ring has data (true) or the reader was closed (false). */
  async wait(timeoutMs = -1): Promise<boolean> {
    if (this.#closed) return false;
    if (this.#rings.some((r) => r.dataTail() < r.dataHead())) return true;
    const ready = await this.#waiter.wait(timeoutMs);
    return !this.#closed && (ready.length > 0 || this.#rings.some((r) => r.dataTail() < r.dataHead()));
  }

  /** Delivers samples until close() or `signal` aborts; a callback's promise is awaited before the next sample. */
  async consume(callback: (sample: PerfSample) => void | Promise<void>, options: { signal?: AbortSignal; onLost?: (count: number, cpu: number) => void } = {}): Promise<void> {
    const onLost = options.onLost;
    const reader = onLost ? { wait: (t?: number) => this.wait(t), poll: (cb: (s: PerfSample) => void) => this.poll(cb, onLost), close: () => this.close() } : this;
    await consumeBatches(reader, copyPerfSample, callback, options.signal);
  }

  /** Samples as they come, each a copy, until close(). */
  [Symbol.asyncIterator](): AsyncIterator<PerfSample> {
    return iterateBatches(this, copyPerfSample);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Removes the CPU events from the map, unmaps the rings and closes the events. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    for (const ring of this.#rings) {
      if (!this.map.closed) this.map.delete(u32(ring.cpu));
      ring.mapping.free();
      ring.event.close();
    }
  }
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}
