/**
 * The map and program interface shared by the backends: the kernel backend
 * (src/kernel) implements it over bpf(), the VM backend implements it over
 * its own maps and interpreter/JIT. Code that only reads and writes maps or
 * test-runs programs can take a `BpfMap`/`BpfProgram` and work with either.
 *
 * Conventions every implementation follows:
 * - keys and values are `Uint8Array`s of exactly `keySize`/`valueSize`
 *   bytes (wrong sizes throw a TsbpfError naming the map and both sizes);
 *   returned arrays are copies the caller owns;
 * - per-CPU maps (`perCpu`): `lookup` returns and `update` takes all CPUs'
 *   values concatenated, each padded to a multiple of 8 bytes
 *   (`valueStride`), `possibleCpus` of them; `lookupPerCpu`/`updatePerCpu`
 *   work with one array per CPU;
 * - maps without keys (queue, stack, bloom filter) take `null` as the key:
 *   `update(null, v)` pushes, `lookup(null)` peeks,
 *   `lookupAndDelete(null)` pops;
 * - a missing element is `undefined` (lookup) or `false` (delete), never an
 *   exception; any other failure throws;
 * - after `close()` every method throws a ClosedError; close() twice is harmless.
 */

import { TsbpfError } from '../errors.ts';

/** Using a map, program or reader (of either backend) after close(). */
export class ClosedError extends TsbpfError {
  override name = 'ClosedError';
}

/** BPF_ANY / BPF_NOEXIST / BPF_EXIST (and BPF_F_LOCK, 4) for updates. */
export const UpdateFlags = {
  ANY: 0,
  NOEXIST: 1,
  EXIST: 2,
  LOCK: 4,
} as const;

export interface BpfMapProperties {
  /** enum bpf_map_type. */
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  /** map_flags (BPF_F_*). */
  readonly flags: number;
}

export interface BpfMap extends BpfMapProperties {
  /** Whether values are per CPU (see the conventions above). */
  readonly perCpu: boolean;
  /** Bytes a value takes in lookup/update: valueSize, or valueStride × possibleCpus for per-CPU maps. */
  readonly valueBufferSize: number;

  lookup(key: Uint8Array | null, flags?: number): Uint8Array | undefined;
  update(key: Uint8Array | null, value: Uint8Array, flags?: number): void;
  /** Returns false when the key was not present. */
  delete(key: Uint8Array): boolean;
  /** Lookup then delete in one step (pop for queue/stack). */
  lookupAndDelete(key: Uint8Array | null): Uint8Array | undefined;
  /** The key after `key` (the first key when `key` is undefined), or undefined at the end. */
  nextKey(key: Uint8Array | undefined): Uint8Array | undefined;
  keys(): IterableIterator<Uint8Array>;
  entries(): IterableIterator<[Uint8Array, Uint8Array]>;

  /** All entries, read `batchSize` at a time with the batch commands. */
  lookupBatch(options?: { batchSize?: number }): Array<[Uint8Array, Uint8Array]>;
  /** Like lookupBatch, deleting what it returns. */
  lookupAndDeleteBatch(options?: { batchSize?: number }): Array<[Uint8Array, Uint8Array]>;
  /** Updates many entries in one call; returns how many were written. */
  updateBatch(keys: Uint8Array[], values: Uint8Array[], flags?: number): number;
  /** Deletes many keys in one call; returns how many were deleted. */
  deleteBatch(keys: Uint8Array[]): number;

  lookupPerCpu(key: Uint8Array): Uint8Array[] | undefined;
  updatePerCpu(key: Uint8Array, values: Uint8Array[], flags?: number): void;

  /** Makes the map read-only for user space (BPF_MAP_FREEZE). */
  freeze(): void;
  close(): void;
}

export interface RunOptions {
  /** Packet (or other input) data; for XDP/TC/socket filters, the frame starting at the Ethernet header. */
  data?: Uint8Array;
  /** Context input (struct __sk_buff, xdp_md... or the raw ctx for raw tracepoints/syscall programs). */
  ctx?: Uint8Array;
  /** Run this many times (duration is the mean); default 1. */
  repeat?: number;
  /** Capacity for the output data (default: input length + 256 bytes of room for growth). */
  dataOutSize?: number;
  /** Capacity for the output ctx (default: input ctx length). */
  ctxOutSize?: number;
  /** BPF_F_TEST_* flags. */
  flags?: number;
  /** CPU to run on with BPF_F_TEST_RUN_ON_CPU. */
  cpu?: number;
}

export interface RunResult {
  /** r0 when the program exited. */
  retval: number;
  /** The data after the run (possibly modified, grown or shrunk), when data was given. */
  data?: Uint8Array;
  /** The ctx after the run, when ctx was given. */
  ctx?: Uint8Array;
  /** Mean nanoseconds per run, as measured by the backend. */
  durationNs: number;
}

export interface BpfProgram {
  /** enum bpf_prog_type. */
  readonly type: number;
  readonly name: string;
  run(options?: RunOptions): RunResult;
  close(): void;
}

/**
 * Implementations of the conventions above that do not depend on the
 * backend, so that the kernel and VM maps share one copy.
 */

/** `keys()` of a BpfMap: nextKey from the first key until the end. */
export function* iterateMapKeys(map: Pick<BpfMap, 'nextKey'>): IterableIterator<Uint8Array> {
  let key = map.nextKey(undefined);
  while (key !== undefined) {
    yield key;
    key = map.nextKey(key);
  }
}

/** `entries()` of a BpfMap: each key with its value. */
export function* iterateMapEntries(map: Pick<BpfMap, 'nextKey' | 'lookup'>): IterableIterator<[Uint8Array, Uint8Array]> {
  for (const key of iterateMapKeys(map)) {
    const value = map.lookup(key);
    // Deleted between nextKey and lookup: skip it, as bpftool does.
    if (value !== undefined) yield [key, value];
  }
}

/** The layout of a per-CPU value buffer: `cpus` slots of `valueStride` bytes, each holding `valueSize` bytes. */
export interface PerCpuLayout {
  readonly valueSize: number;
  readonly valueStride: number;
  readonly cpus: number;
}

/** `lookupPerCpu`: the concatenated value buffer split into one copy per CPU. */
export function splitPerCpuValues(all: Uint8Array, layout: PerCpuLayout): Uint8Array[] {
  const { valueSize, valueStride, cpus } = layout;
  return Array.from({ length: cpus }, (_, cpu) => all.slice(cpu * valueStride, cpu * valueStride + valueSize));
}

/**
 * `updatePerCpu`: one value per CPU joined into the buffer `update` takes.
 * Wrong counts or sizes are reported through `invalid`, which builds the
 * backend's own error type.
 */
export function joinPerCpuValues(values: readonly Uint8Array[], layout: PerCpuLayout, invalid: (problem: string) => Error): Uint8Array {
  const { valueSize, valueStride, cpus } = layout;
  if (values.length !== cpus) throw invalid(`updatePerCpu needs ${cpus} values (one per CPU), got ${values.length}`);
  const all = new Uint8Array(valueStride * cpus);
  values.forEach((v, cpu) => {
    if (v.length !== valueSize) throw invalid(`value for CPU ${cpu} is ${v.length} bytes, the value size is ${valueSize}`);
    all.set(v, cpu * valueStride);
  });
  return all;
}
