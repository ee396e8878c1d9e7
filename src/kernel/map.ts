import { readFileSync } from 'node:fs';
import { MapType, mapTypeName } from '../uapi/enums.ts';
import { MapFlag, perCpuValueStride } from '../uapi/maps.ts';
import { Attr, BpfCommand, attr, bpfCall, bpfError, scratch, tryBpfCall } from './bpf.ts';
import { KernelArgumentError } from './errors.ts';
import { FdResource } from './fd.ts';
import { NativeBuffer, errnoValue, sysMount } from './ffi.ts';
import { iterateMapEntries, iterateMapKeys, joinPerCpuValues, splitPerCpuValues, type BpfMap, type PerCpuLayout } from '../backend/index.ts';

/** BPF_F_* map_flags: the uapi table (src/uapi/maps.ts) under the kernel backend's historical name. */
export { MapFlag as MapFlags } from '../uapi/maps.ts';

const PER_CPU_TYPES = new Set<number>([MapType.PERCPU_HASH, MapType.PERCPU_ARRAY, MapType.LRU_PERCPU_HASH, MapType.PERCPU_CGROUP_STORAGE]);

let possibleCpuCount: number | undefined;

/** Number of possible CPUs, from /sys/devices/system/cpu/possible ("0-3,5"): per-CPU values have this many slots. */
export function possibleCpus(): number {
  if (possibleCpuCount === undefined) possibleCpuCount = parseCpuList(readFileSync('/sys/devices/system/cpu/possible', 'utf8'));
  return possibleCpuCount;
}

/** Highest CPU index + 1 of a kernel CPU list such as `0-3,8-11`. */
export function parseCpuList(text: string): number {
  let count = 0;
  for (const part of text.trim().split(',')) {
    if (part === '') continue;
    const [lo, hi] = part.split('-').map(Number);
    const last = hi ?? lo;
    if (!Number.isInteger(last)) throw new KernelArgumentError(`cannot parse CPU list '${text.trim()}'`);
    count = Math.max(count, last + 1);
  }
  return count;
}

export interface MapOptions {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  /** At most 15 characters (longer names are truncated by the kernel's limit; we reject them). */
  name?: string;
  /** Template map for ARRAY_OF_MAPS/HASH_OF_MAPS. */
  innerMap?: KernelMap;
  numaNode?: number;
  mapExtra?: bigint;
  btfFd?: number;
  btfKeyTypeId?: number;
  btfValueTypeId?: number;
  btfVmlinuxValueTypeId?: number;
  /** Network device to offload to. */
  ifindex?: number;
}

/** bpf_attr offsets for MAP_CREATE. */
const MC = { type: 0, keySize: 4, valueSize: 8, maxEntries: 12, flags: 16, innerMapFd: 20, numaNode: 24, name: 28, ifindex: 44, btfFd: 48, btfKey: 52, btfValue: 56, btfVmlinuxValue: 60, mapExtra: 64, size: 80 };
/** MAP_*_ELEM: map_fd, key, value/next_key, flags. */
const ELEM = { fd: 0, key: 8, value: 16, flags: 24, size: 32 };
/** MAP_*_BATCH. */
const BATCH = { inBatch: 0, outBatch: 8, keys: 16, values: 24, count: 32, fd: 36, elemFlags: 40, flags: 48, size: 56 };

export const BPF_OBJ_NAME_LEN = 16;

function checkName(name: string, what: string): void {
  if (new TextEncoder().encode(name).length >= BPF_OBJ_NAME_LEN) {
    throw new KernelArgumentError(`${what} name '${name}' is longer than ${BPF_OBJ_NAME_LEN - 1} bytes (the kernel's BPF_OBJ_NAME_LEN)`);
  }
  if (!/^[A-Za-z0-9_.]*$/.test(name)) throw new KernelArgumentError(`${what} name '${name}' may only contain letters, digits, '_' and '.'`);
}

/** A map living in the kernel, accessed through its fd. */
export class KernelMap extends FdResource implements BpfMap {
  protected readonly kind = 'map';
  readonly type: number;
  readonly name: string;
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  readonly flags: number;
  readonly perCpu: boolean;
  /** valueSize rounded up to 8: the per-CPU slot size. */
  readonly valueStride: number;
  readonly valueBufferSize: number;
  readonly #keyBuffer: NativeBuffer;
  readonly #nextKeyBuffer: NativeBuffer;
  readonly #valueBuffer: NativeBuffer;

  /** Wraps an fd this process owns (created or opened); prefer KernelMap.create/fromId/fromPin. */
  constructor(fd: number, props: { type: number; name: string; keySize: number; valueSize: number; maxEntries: number; flags: number }) {
    const keyBuffer = NativeBuffer.allocate(Math.max(props.keySize, 8));
    const nextKeyBuffer = NativeBuffer.allocate(Math.max(props.keySize, 8));
    const perCpu = PER_CPU_TYPES.has(props.type);
    const valueStride = perCpu ? perCpuValueStride(props.valueSize) : props.valueSize;
    const valueBufferSize = perCpu ? valueStride * possibleCpus() : props.valueSize;
    const valueBuffer = NativeBuffer.allocate(Math.max(valueBufferSize, 8));
    super(fd, () => {
      keyBuffer.free();
      nextKeyBuffer.free();
      valueBuffer.free();
    });
    this.type = props.type;
    this.name = props.name;
    this.keySize = props.keySize;
    this.valueSize = props.valueSize;
    this.maxEntries = props.maxEntries;
    this.flags = props.flags;
    this.perCpu = perCpu;
    this.valueStride = valueStride;
    this.valueBufferSize = valueBufferSize;
    this.#keyBuffer = keyBuffer;
    this.#nextKeyBuffer = nextKeyBuffer;
    this.#valueBuffer = valueBuffer;
  }

  static create(options: MapOptions): KernelMap {
    const name = options.name ?? '';
    checkName(name, 'map');
    const a = attr(MC.size)
      .u32(MC.type, options.type)
      .u32(MC.keySize, options.keySize)
      .u32(MC.valueSize, options.valueSize)
      .u32(MC.maxEntries, options.maxEntries)
      .u32(MC.flags, (options.flags ?? 0) | (options.numaNode !== undefined ? MapFlag.NUMA_NODE : 0))
      .u32(MC.innerMapFd, options.innerMap?.fd ?? 0)
      .u32(MC.numaNode, options.numaNode ?? 0)
      .name(MC.name, name, BPF_OBJ_NAME_LEN)
      .u32(MC.ifindex, options.ifindex ?? 0)
      .u32(MC.btfFd, options.btfFd ?? 0)
      .u32(MC.btfKey, options.btfKeyTypeId ?? 0)
      .u32(MC.btfValue, options.btfValueTypeId ?? 0)
      .u32(MC.btfVmlinuxValue, options.btfVmlinuxValueTypeId ?? 0)
      .u64(MC.mapExtra, options.mapExtra ?? 0n);
    const fd = bpfCall(BpfCommand.MAP_CREATE, a, {
      subject: `${mapTypeName(options.type)} map${name ? ` '${name}'` : ''} (key ${options.keySize}, value ${options.valueSize}, max_entries ${options.maxEntries})`,
      explain: {
        EINVAL: 'the kernel rejected the map definition (unknown type, or sizes/flags invalid for this type)',
        ENOMEM: 'not enough memory (or RLIMIT_MEMLOCK / memcg limit) for max_entries',
      },
    });
    return new KernelMap(fd, { type: options.type, name, keySize: options.keySize, valueSize: options.valueSize, maxEntries: options.maxEntries, flags: options.flags ?? 0 });
  }

  protected override describe(): string {
    return `${mapTypeName(this.type)} map${this.name ? ` '${this.name}'` : ''}`;
  }

  #subject(): string {
    return this.describe();
  }

  #putKey(key: Uint8Array | null, target = this.#keyBuffer): bigint {
    if (key === null) {
      if (this.keySize !== 0) throw new KernelArgumentError(`${this.describe()} needs a ${this.keySize}-byte key, got null`);
      return 0n;
    }
    if (key.length !== this.keySize) {
      throw new KernelArgumentError(`${this.describe()}: key is ${key.length} bytes, the map's key size is ${this.keySize}`);
    }
    target.bytes.set(key);
    return target.address;
  }

  #putValue(value: Uint8Array): bigint {
    if (value.length !== this.valueBufferSize) {
      const expected = this.perCpu
        ? `${this.valueBufferSize} (${this.valueStride} bytes × ${possibleCpus()} possible CPUs; use updatePerCpu for one value per CPU)`
        : `${this.valueSize}`;
      throw new KernelArgumentError(`${this.describe()}: value is ${value.length} bytes, expected ${expected}`);
    }
    this.#valueBuffer.bytes.set(value);
    return this.#valueBuffer.address;
  }

  #elem(fd: number, key: bigint, value: bigint, flags: number): Attr {
    return attr(ELEM.size).u32(ELEM.fd, fd).u64(ELEM.key, key).u64(ELEM.value, value).u64(ELEM.flags, flags);
  }

  /** Prebuilt attrs of the hot paths (fd and buffer addresses never change): only the flags word is rewritten per call. */
  #lookupAttr: Attr | undefined;
  #updateAttr: Attr | undefined;

  #fixedAttr(value: bigint): Attr {
    const a = new Attr().reset(ELEM.size);
    return a.u32(ELEM.fd, this.fd).u64(ELEM.key, this.keySize === 0 ? 0n : this.#keyBuffer.address).u64(ELEM.value, value);
  }

  lookup(key: Uint8Array | null, flags = 0): Uint8Array | undefined {
    void this.fd; // first: throws once closed, when the native buffers are gone
    this.#putKey(key);
    const a = (this.#lookupAttr ??= this.#fixedAttr(this.#valueBuffer.address)).u32(ELEM.flags, flags);
    const { ret, errno } = tryBpfCall(BpfCommand.MAP_LOOKUP_ELEM, a);
    if (ret >= 0) return this.#valueBuffer.bytes.slice(0, this.valueBufferSize);
    if (errno === errnoValue('ENOENT')) return undefined;
    throw bpfError(BpfCommand.MAP_LOOKUP_ELEM, errno, { subject: this.#subject() });
  }

  update(key: Uint8Array | null, value: Uint8Array, flags = 0): void {
    void this.fd;
    this.#putKey(key);
    this.#putValue(value);
    const a = (this.#updateAttr ??= this.#fixedAttr(this.#valueBuffer.address)).u32(ELEM.flags, flags);
    const { ret, errno } = tryBpfCall(BpfCommand.MAP_UPDATE_ELEM, a);
    if (ret >= 0) return;
    throw bpfError(BpfCommand.MAP_UPDATE_ELEM, errno, {
      subject: this.#subject(),
      explain: {
        EEXIST: 'the key exists (BPF_NOEXIST)',
        ENOENT: 'the key does not exist (BPF_EXIST)',
        E2BIG: `the map is full (max_entries ${this.maxEntries}) or the index is out of range`,
        EPERM: 'the map is frozen or read-only for user space',
      },
    });
  }

  delete(key: Uint8Array): boolean {
    const fd = this.fd;
    const a = this.#elem(fd, this.#putKey(key), 0n, 0);
    const { ret, errno } = tryBpfCall(BpfCommand.MAP_DELETE_ELEM, a);
    if (ret >= 0) return true;
    if (errno === errnoValue('ENOENT')) return false;
    throw bpfError(BpfCommand.MAP_DELETE_ELEM, errno, {
      subject: this.#subject(),
      explain: { EINVAL: 'this map type does not support deleting elements (arrays are fixed-size)' },
    });
  }

  lookupAndDelete(key: Uint8Array | null): Uint8Array | undefined {
    const fd = this.fd;
    const a = this.#elem(fd, this.#putKey(key), this.#valueBuffer.address, 0);
    const { ret, errno } = tryBpfCall(BpfCommand.MAP_LOOKUP_AND_DELETE_ELEM, a);
    if (ret >= 0) return this.#valueBuffer.bytes.slice(0, this.valueBufferSize);
    if (errno === errnoValue('ENOENT')) return undefined;
    throw bpfError(BpfCommand.MAP_LOOKUP_AND_DELETE_ELEM, errno, { subject: this.#subject() });
  }

  nextKey(key: Uint8Array | undefined): Uint8Array | undefined {
    const fd = this.fd;
    const keyAddress = key === undefined ? 0n : this.#putKey(key);
    const a = this.#elem(fd, keyAddress, this.#nextKeyBuffer.address, 0);
    const { ret, errno } = tryBpfCall(BpfCommand.MAP_GET_NEXT_KEY, a);
    if (ret >= 0) return this.#nextKeyBuffer.bytes.slice(0, this.keySize);
    if (errno === errnoValue('ENOENT')) return undefined;
    throw bpfError(BpfCommand.MAP_GET_NEXT_KEY, errno, { subject: this.#subject() });
  }

  keys(): IterableIterator<Uint8Array> {
    return iterateMapKeys(this);
  }

  entries(): IterableIterator<[Uint8Array, Uint8Array]> {
    return iterateMapEntries(this);
  }

  lookupPerCpu(key: Uint8Array): Uint8Array[] | undefined {
    this.#requirePerCpu('lookupPerCpu');
    const all = this.lookup(key);
    return all === undefined ? undefined : splitPerCpuValues(all, this.#perCpuLayout());
  }

  updatePerCpu(key: Uint8Array, values: Uint8Array[], flags = 0): void {
    this.#requirePerCpu('updatePerCpu');
    this.update(key, joinPerCpuValues(values, this.#perCpuLayout(), (problem) => new KernelArgumentError(`${this.describe()}: ${problem}`)), flags);
  }

  #perCpuLayout(): PerCpuLayout {
    return { valueSize: this.valueSize, valueStride: this.valueStride, cpus: possibleCpus() };
  }

  #requirePerCpu(method: string): void {
    if (!this.perCpu) throw new KernelArgumentError(`${this.describe()} is not a per-CPU map: ${method} does not apply`);
  }

  lookupBatch(options: { batchSize?: number } = {}): Array<[Uint8Array, Uint8Array]> {
    return this.#batchRead(BpfCommand.MAP_LOOKUP_BATCH, options.batchSize);
  }

  lookupAndDeleteBatch(options: { batchSize?: number } = {}): Array<[Uint8Array, Uint8Array]> {
    return this.#batchRead(BpfCommand.MAP_LOOKUP_AND_DELETE_BATCH, options.batchSize);
  }

  #batchRead(cmd: BpfCommand, batchSize = 256): Array<[Uint8Array, Uint8Array]> {
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new KernelArgumentError(`batchSize must be a positive integer, got ${batchSize}`);
    const fd = this.fd;
    const tokenSize = Math.max(this.keySize, 8);
    const keys = NativeBuffer.allocate(batchSize * this.keySize);
    const values = NativeBuffer.allocate(batchSize * this.valueBufferSize);
    const tokens = NativeBuffer.allocate(2 * tokenSize);
    const result: Array<[Uint8Array, Uint8Array]> = [];
    try {
      let first = true;
      while (true) {
        const a = attr(BATCH.size)
          .u64(BATCH.inBatch, first ? 0n : tokens.address)
          .u64(BATCH.outBatch, tokens.address + BigInt(tokenSize))
          .u64(BATCH.keys, keys.address)
          .u64(BATCH.values, values.address)
          .u32(BATCH.count, batchSize)
          .u32(BATCH.fd, fd);
        const { ret, errno } = tryBpfCall(cmd, a);
        const done = ret < 0 && errno === errnoValue('ENOENT');
        if (ret < 0 && !done) throw bpfError(cmd, errno, { subject: this.#subject(), explain: { EINVAL: 'this map type does not support batch operations' } });
        const count = a.readU32(BATCH.count);
        for (let i = 0; i < count; i++) {
          result.push([
            keys.bytes.slice(i * this.keySize, (i + 1) * this.keySize),
            values.bytes.slice(i * this.valueBufferSize, (i + 1) * this.valueBufferSize),
          ]);
        }
        if (done) return result;
        tokens.bytes.copyWithin(0, tokenSize, 2 * tokenSize);
        first = false;
      }
    } finally {
      keys.free();
      values.free();
      tokens.free();
    }
  }

  updateBatch(keyList: Uint8Array[], valueList: Uint8Array[], flags = 0): number {
    if (keyList.length !== valueList.length) throw new KernelArgumentError(`updateBatch: ${keyList.length} keys but ${valueList.length} values`);
    if (keyList.length === 0) return 0;
    const fd = this.fd;
    const keys = this.#packKeys(keyList);
    const values = NativeBuffer.allocate(valueList.length * this.valueBufferSize);
    try {
      valueList.forEach((v, i) => {
        if (v.length !== this.valueBufferSize) throw new KernelArgumentError(`${this.describe()}: value ${i} is ${v.length} bytes, expected ${this.valueBufferSize}`);
        values.bytes.set(v, i * this.valueBufferSize);
      });
      const a = attr(BATCH.size).u64(BATCH.keys, keys.address).u64(BATCH.values, values.address).u32(BATCH.count, keyList.length).u32(BATCH.fd, fd).u64(BATCH.elemFlags, flags);
      const { ret, errno } = tryBpfCall(BpfCommand.MAP_UPDATE_BATCH, a);
      if (ret < 0) {
        throw bpfError(BpfCommand.MAP_UPDATE_BATCH, errno, { subject: `${this.#subject()} (${a.readU32(BATCH.count)} of ${keyList.length} written)` });
      }
      return a.readU32(BATCH.count);
    } finally {
      keys.free();
      values.free();
    }
  }

  deleteBatch(keyList: Uint8Array[]): number {
    if (keyList.length === 0) return 0;
    const fd = this.fd;
    const keys = this.#packKeys(keyList);
    try {
      const a = attr(BATCH.size).u64(BATCH.keys, keys.address).u32(BATCH.count, keyList.length).u32(BATCH.fd, fd);
      const { ret, errno } = tryBpfCall(BpfCommand.MAP_DELETE_BATCH, a);
      if (ret < 0) throw bpfError(BpfCommand.MAP_DELETE_BATCH, errno, { subject: `${this.#subject()} (${a.readU32(BATCH.count)} of ${keyList.length} deleted)` });
      return a.readU32(BATCH.count);
    } finally {
      keys.free();
    }
  }

  #packKeys(keyList: Uint8Array[]): NativeBuffer {
    const keys = NativeBuffer.allocate(keyList.length * this.keySize);
    for (let i = 0; i < keyList.length; i++) {
      const k = keyList[i]!;
      if (k.length !== this.keySize) {
        keys.free();
        throw new KernelArgumentError(`${this.describe()}: key ${i} is ${k.length} bytes, the map's key size is ${this.keySize}`);
      }
      keys.bytes.set(k, i * this.keySize);
    }
    return keys;
  }

  freeze(): void {
    bpfCall(BpfCommand.MAP_FREEZE, attr(4).u32(0, this.fd), { subject: this.#subject(), explain: { EBUSY: 'the map is writably mmap-ed' } });
  }

  /** Pins the map at `path` (under a bpffs mount such as /sys/fs/bpf). */
  pin(path: string): void {
    pinObject(this.fd, path, this.#subject());
  }
}

/** Where bpffs is conventionally mounted. */
export const BPFFS = '/sys/fs/bpf';

/** Mounts bpffs at /sys/fs/bpf when it is not mounted there yet (as bpftool does). Returns the mount point. */
export function ensureBpffs(): string {
  const mounted = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .some((line) => {
      const [, mountPoint, fsType] = line.split(' ');
      return mountPoint === BPFFS && fsType === 'bpf';
    });
  if (!mounted) sysMount('bpf', BPFFS, 'bpf');
  return BPFFS;
}

/** BPF_OBJ_PIN. Paths under /sys/fs/bpf get bpffs mounted first when needed. */
export function pinObject(fd: number, path: string, subject: string): void {
  if (path.startsWith(`${BPFFS}/`)) ensureBpffs();
  scratch.reset();
  const a = attr(20).u64(0, scratch.put(path)).u32(8, fd);
  bpfCall(BpfCommand.OBJ_PIN, a, { subject: `${subject} at ${path}`, explain: { EEXIST: `${path} already exists`, EPERM: `${path} is not on a bpf filesystem, or access is denied` } });
}

/** BPF_OBJ_GET: an fd for the object pinned at `path`. */
export function openPinned(path: string, flags = 0): number {
  if (path.startsWith(`${BPFFS}/`)) ensureBpffs();
  scratch.reset();
  const a = attr(20).u64(0, scratch.put(path)).u32(12, flags);
  return bpfCall(BpfCommand.OBJ_GET, a, { subject: path, explain: { ENOENT: `nothing is pinned at ${path}`, EINVAL: `${path} is not on a bpf filesystem` } });
}
