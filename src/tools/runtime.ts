/**
 * What every tool does around its BPF object: set its `.rodata` options,
 * load and attach it through the library, deliver ring buffer records or
 * map snapshots until Ctrl-C, the duration or the consumer stops, and close
 * every link, program and map on the way out.
 */
import { readFileSync } from 'node:fs';
import type { AttachOptions, BpfMap, RecordReader } from '../backend/index.ts';
import { type KernelCollection, type KernelLinks, loadCollection } from '../kernel/index.ts';
import { type CollectionSpec, loadCollectionSpec } from '../object/index.ts';
import { ToolError } from './errors.ts';
import { toolObjectPath } from './objects.ts';

/** How a tool run stops and tells when it is tracing; every tool's options extend this. */
export interface ToolRunOptions {
  /** Stops the tool, as Ctrl-C does. */
  signal?: AbortSignal;
  /** Seconds after which the tool stops by itself. */
  duration?: number;
  /** Called once the programs are attached, with them (none for top, which loads nothing): activity from then on is traced. */
  onReady?: (loaded?: LoadedTool) => void;
  /** Event tools: called when they stop, with the number of events dropped because the ring buffer was full (when any were). */
  onLost?: (count: number) => void;
}

/** A `.rodata` value: an integer or flag, or the elements of an array variable with their size in bytes. */
export type RodataValue = number | bigint | boolean | { elementSize: number; values: readonly number[] };

function writeRodata(spec: CollectionSpec, name: string, value: RodataValue): void {
  const variable = spec.variables[name];
  const data = spec.maps['.rodata']?.initialData;
  if (variable === undefined || variable.mapName !== '.rodata' || data === undefined) throw new ToolError(`the tool's object has no .rodata variable '${name}'`);
  const { elementSize, values } = typeof value === 'object' ? value : { elementSize: variable.size, values: [value] };
  if (values.length * elementSize > variable.size) throw new ToolError(`'${name}' holds at most ${Math.floor(variable.size / elementSize)} values, got ${values.length}`);
  values.forEach((v, i) => {
    const n = BigInt.asUintN(elementSize * 8, BigInt(typeof v === 'boolean' ? Number(v) : v));
    for (let byte = 0; byte < elementSize; byte++) data[variable.offset + i * elementSize + byte] = Number((n >> BigInt(8 * byte)) & 0xffn);
  });
}

/** The programs and links of a tool while it runs (the exporter reports them); the tool closes them. */
export interface LoadedTool {
  readonly collection: KernelCollection;
  readonly links: KernelLinks;
}

/** A loaded and attached tool object; close() detaches and frees everything it made. */
export interface OpenTool extends LoadedTool {
  close(): void;
}

/** Loads tool `name`'s object with `.rodata` options set, and attaches its programs (all, or `attach.programs`). */
export function openTool(name: string, rodata: Readonly<Record<string, RodataValue>>, attach: AttachOptions = {}, programs?: readonly string[]): OpenTool {
  const spec = loadCollectionSpec(readFileSync(toolObjectPath(name)));
  for (const [variable, value] of Object.entries(rodata)) writeRodata(spec, variable, value);
  const collection = loadCollection(spec, programs ? { programs } : {});
  let links: KernelLinks;
  try {
    links = collection.attach(programs ? { ...attach, programs } : attach);
  } catch (error) {
    collection.close();
    throw error;
  }
  return {
    collection,
    links,
    close: () => {
      links.close();
      collection.close();
    },
  };
}

/** One signal for the user's signal and the duration; dispose() clears the timer. */
export function stopSignal(options: ToolRunOptions): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  if (options.signal?.aborted) stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  let timer: NodeJS.Timeout | undefined;
  if (options.duration !== undefined) {
    if (!(options.duration > 0)) throw new ToolError(`the duration must be a positive number of seconds, got ${options.duration}`);
    timer = setTimeout(stop, options.duration * 1000);
  }
  return {
    signal: controller.signal,
    dispose: () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', stop);
    },
  };
}

/** Resolves after `ms` milliseconds, or earlier when `signal` aborts (then true). */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve(signal.aborted);
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How long one wait for records lasts before the stop signal is looked at again. */
const WAIT_MS = 100;

/**
 * Decoded records of `reader`, in the batches one poll delivers, until
 * `signal` aborts; records already submitted are delivered first. Batches
 * keep the async-iteration cost per poll rather than per record.
 */
export async function* streamBatches<T>(reader: RecordReader<Uint8Array>, decode: (record: Uint8Array) => T | undefined, signal: AbortSignal): AsyncGenerator<T[]> {
  let batch: T[] = [];
  const take = (record: Uint8Array): void => {
    const value = decode(record);
    if (value !== undefined) batch.push(value);
  };
  const flush = (): T[] => {
    const full = batch;
    batch = [];
    return full;
  };
  while (!signal.aborted) {
    if (await reader.wait(WAIT_MS)) reader.poll(take);
    if (batch.length > 0) yield flush();
  }
  reader.poll(take);
  if (batch.length > 0) yield flush();
}

/**
 * Runs an event tool: opens it, reports readiness, streams decoded records
 * of its `events` ring buffer until stopped, and cleans up however the
 * consumer leaves.
 */
export async function* eventTool<T>(open: () => OpenTool, decode: (record: Uint8Array) => T | undefined, options: ToolRunOptions): AsyncGenerator<T> {
  const stop = stopSignal(options);
  const tool = open();
  const reader = tool.collection.ringBuffer('events');
  try {
    options.onReady?.(tool);
    for await (const batch of streamBatches(reader, decode, stop.signal)) yield* batch;
  } finally {
    const lost = new DataView(tool.collection.readVariable('lost_events').buffer).getBigUint64(0, true);
    if (lost > 0n) options.onLost?.(Number(lost));
    reader.close();
    tool.close();
    stop.dispose();
  }
}

/**
 * Runs a summary tool: after each `interval` seconds (or once at the end
 * when there is none), `snapshot` reads (and resets) the maps; stops after
 * `count` intervals, the duration or Ctrl-C, which reports what was
 * gathered since the last interval.
 */
export async function* intervalTool<T>(open: () => OpenTool, snapshot: (tool: OpenTool) => T, options: ToolRunOptions & { interval?: number; count?: number }): AsyncGenerator<T> {
  if (options.interval !== undefined && !(options.interval > 0)) throw new ToolError(`the interval must be a positive number of seconds, got ${options.interval}`);
  if (options.count !== undefined && !(Number.isInteger(options.count) && options.count > 0)) throw new ToolError(`the count must be a positive integer, got ${options.count}`);
  const stop = stopSignal(options);
  const tool = open();
  try {
    options.onReady?.(tool);
    let reported = 0;
    for (;;) {
      const stopped = await sleep(options.interval !== undefined ? options.interval * 1000 : 2 ** 31 - 1, stop.signal);
      yield snapshot(tool);
      reported++;
      if (stopped || (options.count !== undefined && reported >= options.count)) break;
    }
  } finally {
    tool.close();
    stop.dispose();
  }
}

/** The NUL-terminated string at `offset` (at most `length` bytes). */
export function cString(bytes: Uint8Array, offset: number, length: number): string {
  const field = bytes.subarray(offset, offset + length);
  const end = field.indexOf(0);
  // A view on the record, not a copy: this runs for every event.
  return Buffer.from(field.buffer, field.byteOffset, end < 0 ? field.length : end).toString('utf8');
}

/** Reads and clears a `{u32 id; u32 slot} -> u64 count` map: log2 slots per id (disk, pid, tid, or 0). */
export function drainHistograms(map: BpfMap): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>();
  for (const [key, value] of map.lookupAndDeleteBatch()) {
    const keyView = new DataView(key.buffer, key.byteOffset, key.byteLength);
    const id = keyView.getUint32(0, true);
    const slot = keyView.getUint32(4, true);
    const slots = out.get(id) ?? new Map<number, number>();
    slots.set(slot, (slots.get(slot) ?? 0) + Number(new DataView(value.buffer, value.byteOffset, value.byteLength).getBigUint64(0, true)));
    out.set(id, slots);
  }
  return out;
}
