/**
 * BPF_OBJ_GET_INFO_BY_FD (struct bpf_prog_info, bpf_map_info, bpf_link_info,
 * bpf_btf_info) and the id space: *_GET_NEXT_ID, *_GET_FD_BY_ID.
 */
import { BpfCommand, attr, bpfCall, decodeCString, scratch, tryBpfCall } from './bpf.ts';
import { sysClose, errnoValue } from './ffi.ts';
import { KernelArgumentError } from './errors.ts';
import { OwnedFd } from './fd.ts';

export type ObjectKind = 'prog' | 'map' | 'link' | 'btf';

const NEXT_ID: Record<ObjectKind, BpfCommand> = {
  prog: BpfCommand.PROG_GET_NEXT_ID,
  map: BpfCommand.MAP_GET_NEXT_ID,
  link: BpfCommand.LINK_GET_NEXT_ID,
  btf: BpfCommand.BTF_GET_NEXT_ID,
};
const FD_BY_ID: Record<ObjectKind, BpfCommand> = {
  prog: BpfCommand.PROG_GET_FD_BY_ID,
  map: BpfCommand.MAP_GET_FD_BY_ID,
  link: BpfCommand.LINK_GET_FD_BY_ID,
  btf: BpfCommand.BTF_GET_FD_BY_ID,
};

/** Every id of that kind of object in the kernel, ascending. */
export function listIds(kind: ObjectKind): number[] {
  const ids: number[] = [];
  let id = 0;
  while (true) {
    const a = attr(12).u32(0, id);
    const { ret, errno } = tryBpfCall(NEXT_ID[kind], a);
    if (ret < 0) {
      if (errno === errnoValue('ENOENT')) return ids;
      bpfCall(NEXT_ID[kind], attr(12).u32(0, id), { capabilities: ['CAP_SYS_ADMIN'] }); // throws with the message
    }
    id = a.readU32(4);
    ids.push(id);
  }
}

/** A new fd (owned by the caller) for the object with that id. */
export function fdById(kind: ObjectKind, id: number): number {
  return bpfCall(FD_BY_ID[kind], attr(12).u32(0, id), {
    subject: `${kind} id ${id}`,
    capabilities: ['CAP_SYS_ADMIN'],
    explain: { ENOENT: `there is no ${kind} with id ${id}` },
  });
}

/**
 * Raw info of an fd: fills `size` bytes of the info struct; `prepare` may
 * point array fields at native buffers (set their lengths and addresses).
 */
function rawInfo(fd: number, size: number, prepare?: (info: DataView) => void): DataView {
  scratch.reset();
  const info = scratch.take(size);
  prepare?.(info.view);
  const a = attr(16).u32(0, fd).u32(4, size).u64(8, info.address);
  bpfCall(BpfCommand.OBJ_GET_INFO_BY_FD, a, { subject: `fd ${fd}` });
  return info.view;
}

/**
 * Where an info struct points at a user buffer the kernel fills: the
 * offsets of its address (u64) and count (u32) fields, and the bytes one
 * counted element takes (1 for byte lengths).
 */
interface InfoBufferField {
  readonly address: number;
  readonly count: number;
  readonly elementSize: number;
}

/** rawInfo with an output buffer of `count` elements behind `field`; returns the struct and the buffer. */
function rawInfoWithBuffer(fd: number, size: number, field: InfoBufferField, count: number): { info: DataView; buffer: DataView } {
  let buffer: DataView | undefined;
  // rawInfo resets the scratch area, so the buffer is taken inside prepare.
  const info = rawInfo(fd, size, (view) => {
    const taken = scratch.take(count * field.elementSize);
    buffer = taken.view;
    view.setBigUint64(field.address, taken.address, true);
    view.setUint32(field.count, count, true);
  });
  return { info, buffer: buffer! };
}

const u64 = (v: DataView, off: number): bigint => v.getBigUint64(off, true);
const u32 = (v: DataView, off: number): number => v.getUint32(off, true);
const i32 = (v: DataView, off: number): number => v.getInt32(off, true);
const cstr = (v: DataView, off: number, len: number): string => decodeCString(new Uint8Array(v.buffer, v.byteOffset + off, len));

export interface ProgramInfo {
  type: number;
  id: number;
  /** The 8-byte program tag (hash of the instructions), hex. */
  tag: string;
  name: string;
  jitedSize: number;
  xlatedSize: number;
  /** Nanoseconds since boot when loaded. */
  loadTime: bigint;
  createdByUid: number;
  mapIds: number[];
  btfId: number;
  gplCompatible: boolean;
  /** Instructions the verifier processed (0 before Linux 5.16). */
  verifiedInstructions: number;
  /** With ENABLE_STATS(BPF_STATS_RUN_TIME) on. */
  runTimeNs: bigint;
  runCount: bigint;
  recursionMisses: bigint;
  attachBtfObjId: number;
  attachBtfId: number;
}

const PROG_INFO_SIZE = 232;
/** bpf_prog_info's map_ids (nr_map_ids, map_ids) and xlated_prog_insns (xlated_prog_len) arrays. */
const PROG_MAP_IDS: InfoBufferField = { count: 52, address: 56, elementSize: 4 };
const PROG_XLATED: InfoBufferField = { count: 20, address: 32, elementSize: 1 };

export function programInfo(fd: number): ProgramInfo {
  const first = rawInfo(fd, PROG_INFO_SIZE);
  const mapCount = u32(first, 52);
  let mapIds: number[] = [];
  let v = first;
  if (mapCount > 0) {
    // Second call with a buffer for the map ids.
    const { info, buffer } = rawInfoWithBuffer(fd, PROG_INFO_SIZE, PROG_MAP_IDS, mapCount);
    v = info;
    mapIds = Array.from({ length: Math.min(mapCount, u32(v, PROG_MAP_IDS.count)) }, (_, i) => buffer.getUint32(i * 4, true));
  }
  return decodeProgramInfo(v, mapIds);
}

function decodeProgramInfo(v: DataView, mapIds: number[]): ProgramInfo {
  const tag = Array.from(new Uint8Array(v.buffer, v.byteOffset + 8, 8), (b) => b.toString(16).padStart(2, '0')).join('');
  return {
    type: u32(v, 0),
    id: u32(v, 4),
    tag,
    jitedSize: u32(v, 16),
    xlatedSize: u32(v, 20),
    loadTime: u64(v, 40),
    createdByUid: u32(v, 48),
    mapIds,
    name: cstr(v, 64, 16),
    gplCompatible: (u32(v, 84) & 1) === 1,
    btfId: u32(v, 128),
    runTimeNs: u64(v, 192),
    runCount: u64(v, 200),
    recursionMisses: u64(v, 208),
    verifiedInstructions: u32(v, 216),
    attachBtfObjId: u32(v, 220),
    attachBtfId: u32(v, 224),
  };
}

/** The instructions as the kernel rewrote them after verification (xlated), 8 bytes each. */
export function programXlated(fd: number): Uint8Array {
  const size = u32(rawInfo(fd, PROG_INFO_SIZE), PROG_XLATED.count);
  if (size === 0) throw new KernelArgumentError('the kernel returned no translated instructions (bpf_jit_harden or kernel.kptr_restrict may hide them)');
  const { buffer } = rawInfoWithBuffer(fd, PROG_INFO_SIZE, PROG_XLATED, size);
  return new Uint8Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + size));
}

export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
  ifindex: number;
  btfId: number;
  btfKeyTypeId: number;
  btfValueTypeId: number;
  btfVmlinuxValueTypeId: number;
  mapExtra: bigint;
}

export function mapInfo(fd: number): MapInfo {
  const v = rawInfo(fd, 88);
  return {
    type: u32(v, 0),
    id: u32(v, 4),
    keySize: u32(v, 8),
    valueSize: u32(v, 12),
    maxEntries: u32(v, 16),
    flags: u32(v, 20),
    name: cstr(v, 24, 16),
    ifindex: u32(v, 40),
    btfVmlinuxValueTypeId: u32(v, 44),
    btfId: u32(v, 64),
    btfKeyTypeId: u32(v, 68),
    btfValueTypeId: u32(v, 72),
    mapExtra: u64(v, 80),
  };
}

export interface LinkInfo {
  type: number;
  id: number;
  progId: number;
  /** Type-specific details (interface index, attach type, cgroup id, tracepoint name...). */
  details: Record<string, number | bigint | string>;
}

const LINK = { rawTracepoint: 1, tracing: 2, cgroup: 3, netns: 5, xdp: 6, perfEvent: 7, netfilter: 10, tcx: 11, netkit: 13 };
const LINK_INFO_SIZE = 64;
/** bpf_link_info.raw_tracepoint's tp_name / tp_name_len, read with a second call. */
const LINK_TP_NAME: InfoBufferField = { address: 16, count: 24, elementSize: 1 };
const TP_NAME_SIZE = 128;

type FieldReader = (v: DataView, off: number) => number | bigint;
/** The fields of each link type's part of the bpf_link_info union (at offset 16): name, reader, offset. */
const LINK_DETAILS: Record<number, ReadonlyArray<readonly [string, FieldReader, number]>> = {
  [LINK.tracing]: [['attachType', u32, 16], ['targetObjId', u32, 20], ['targetBtfId', u32, 24]],
  [LINK.cgroup]: [['cgroupId', u64, 16], ['attachType', u32, 24]],
  [LINK.netns]: [['netnsIno', u32, 16], ['attachType', u32, 20]],
  [LINK.xdp]: [['ifindex', u32, 16]],
  [LINK.tcx]: [['ifindex', u32, 16], ['attachType', u32, 20]],
  [LINK.netkit]: [['ifindex', u32, 16], ['attachType', u32, 20]],
  [LINK.netfilter]: [['pf', u32, 16], ['hooknum', u32, 20], ['priority', i32, 24]],
  [LINK.perfEvent]: [['perfEventType', u32, 16]],
};

/** enum bpf_perf_event_type: what a perf_event link is attached to, by bpftool's names. */
export const PERF_EVENT_TYPE_NAMES: Readonly<Record<number, string>> = { 1: 'uprobe', 2: 'uretprobe', 3: 'kprobe', 4: 'kretprobe', 5: 'tracepoint', 6: 'event' };
/** bpf_link_info.perf_event's name / name_len for uprobes (file), kprobes (function) and tracepoints. */
const PERF_EVENT_NAME: InfoBufferField = { address: 24, count: 32, elementSize: 1 };
const PERF_EVENT_NAME_FIELD: Readonly<Record<number, string>> = { 1: 'file', 2: 'file', 3: 'function', 4: 'function', 5: 'tracepoint' };

export function linkInfo(fd: number): LinkInfo {
  let v = rawInfo(fd, LINK_INFO_SIZE);
  const details: Record<string, number | bigint | string> = {};
  if (u32(v, 0) === LINK.rawTracepoint) {
    // Ask again with room for the tracepoint's name (other link types read these bytes as their own fields).
    const { info, buffer } = rawInfoWithBuffer(fd, LINK_INFO_SIZE, LINK_TP_NAME, TP_NAME_SIZE);
    v = info;
    details.tracepoint = cstr(buffer, 0, TP_NAME_SIZE);
  }
  for (const [name, read, offset] of LINK_DETAILS[u32(v, 0)] ?? []) details[name] = read(v, offset);
  const nameField = u32(v, 0) === LINK.perfEvent ? PERF_EVENT_NAME_FIELD[u32(v, 16)] : undefined;
  if (nameField !== undefined) {
    const { info, buffer } = rawInfoWithBuffer(fd, LINK_INFO_SIZE, PERF_EVENT_NAME, TP_NAME_SIZE);
    v = info;
    details[nameField] = cstr(buffer, 0, TP_NAME_SIZE);
    if (nameField !== 'tracepoint') details.offset = u32(v, 36);
  }
  return { type: u32(v, 0), id: u32(v, 4), progId: u32(v, 8), details };
}

export interface BtfInfo {
  id: number;
  size: number;
  name: string;
  kernelBtf: boolean;
}

/** bpf_btf_info's name / name_len. */
const BTF_NAME: InfoBufferField = { address: 16, count: 24, elementSize: 1 };
const BTF_NAME_SIZE = 64;

/** bpf_btf_info's btf / btf_size: the raw BTF the kernel holds. */
const BTF_DATA: InfoBufferField = { address: 0, count: 8, elementSize: 1 };

/** The raw BTF (header, types, strings) of a BTF object, as BTF_LOAD received it. */
export function btfData(fd: number): Uint8Array {
  const size = u32(rawInfo(fd, 32), BTF_DATA.count);
  const { buffer } = rawInfoWithBuffer(fd, 32, BTF_DATA, size);
  return new Uint8Array(buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + size));
}

export function btfInfo(fd: number): BtfInfo {
  const { info: v, buffer: name } = rawInfoWithBuffer(fd, 32, BTF_NAME, BTF_NAME_SIZE);
  return { size: u32(v, 8), id: u32(v, 12), name: cstr(name, 0, BTF_NAME_SIZE), kernelBtf: u32(v, 28) !== 0 };
}

/**
 * Errnos of an id lookup that mean "not there now": ENOENT for an object
 * released since its id was listed, EAGAIN (EWOULDBLOCK) for a link still
 * being created, whose id the kernel does not hand out until it is settled.
 */
const NOT_THERE = new Set(['ENOENT', 'EAGAIN', 'EWOULDBLOCK']);

/** Runs `use` with a temporary fd for the object `id`; closes it afterwards. Returns undefined if the object vanished or is not yet there. */
export function withObjectFd<T>(kind: ObjectKind, id: number, use: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = fdById(kind, id);
  } catch (error) {
    if (NOT_THERE.has((error as { code?: string }).code ?? '')) return undefined;
    throw error;
  }
  try {
    return use(fd);
  } finally {
    sysClose(fd);
  }
}

/** BPF_STATS_RUN_TIME: until the returned handle is closed the kernel records run_time_ns/run_cnt for every program. */
export function enableRunTimeStats(): OwnedFd {
  return new OwnedFd(bpfCall(BpfCommand.ENABLE_STATS, attr(4).u32(0, 0), { capabilities: ['CAP_SYS_ADMIN'] }), 'run-time statistics');
}
