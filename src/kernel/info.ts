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

const u64 = (v: DataView, off: number): bigint => v.getBigUint64(off, true);
const u32 = (v: DataView, off: number): number => v.getUint32(off, true);
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

export function programInfo(fd: number): ProgramInfo {
  const first = rawInfo(fd, PROG_INFO_SIZE);
  const mapCount = u32(first, 52);
  let mapIds: number[] = [];
  let v = first;
  if (mapCount > 0) {
    // Second call with a buffer for the map ids. Scratch is reset by rawInfo, so allocate inside prepare.
    let idsView: DataView | undefined;
    v = rawInfo(fd, PROG_INFO_SIZE, (info) => {
      const ids = scratch.take(mapCount * 4);
      idsView = ids.view;
      info.setUint32(52, mapCount, true);
      info.setBigUint64(56, ids.address, true);
    });
    mapIds = Array.from({ length: Math.min(mapCount, u32(v, 52)) }, (_, i) => idsView!.getUint32(i * 4, true));
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
  const size = u32(rawInfo(fd, PROG_INFO_SIZE), 20);
  if (size === 0) throw new KernelArgumentError('the kernel returned no translated instructions (bpf_jit_harden or kernel.kptr_restrict may hide them)');
  let out: Uint8Array | undefined;
  rawInfo(fd, PROG_INFO_SIZE, (info) => {
    const buf = scratch.take(size);
    out = buf.bytes;
    info.setUint32(20, size, true);
    info.setBigUint64(32, buf.address, true);
  });
  return out!.slice();
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

export function linkInfo(fd: number): LinkInfo {
  let v = rawInfo(fd, 64);
  let nameView: DataView | undefined;
  if (u32(v, 0) === LINK.rawTracepoint) {
    // Ask again with room for the tracepoint's name (other link types read these bytes as their own fields).
    v = rawInfo(fd, 64, (info) => {
      const name = scratch.take(128);
      nameView = name.view;
      info.setBigUint64(16, name.address, true);
      info.setUint32(24, 128, true);
    });
  }
  const type = u32(v, 0);
  const details: Record<string, number | bigint | string> = {};
  switch (type) {
    case LINK.rawTracepoint:
      details.tracepoint = cstr(nameView!, 0, 128);
      break;
    case LINK.tracing:
      details.attachType = u32(v, 16);
      details.targetObjId = u32(v, 20);
      details.targetBtfId = u32(v, 24);
      break;
    case LINK.cgroup:
      details.cgroupId = u64(v, 16);
      details.attachType = u32(v, 24);
      break;
    case LINK.netns:
      details.netnsIno = u32(v, 16);
      details.attachType = u32(v, 20);
      break;
    case LINK.xdp:
      details.ifindex = u32(v, 16);
      break;
    case LINK.tcx:
    case LINK.netkit:
      details.ifindex = u32(v, 16);
      details.attachType = u32(v, 20);
      break;
    case LINK.netfilter:
      details.pf = u32(v, 16);
      details.hooknum = u32(v, 20);
      details.priority = v.getInt32(24, true);
      break;
    case LINK.perfEvent:
      details.perfEventType = u32(v, 16);
      break;
  }
  return { type, id: u32(v, 4), progId: u32(v, 8), details };
}

export interface BtfInfo {
  id: number;
  size: number;
  name: string;
  kernelBtf: boolean;
}

export function btfInfo(fd: number): BtfInfo {
  let nameView: DataView | undefined;
  const v = rawInfo(fd, 32, (info) => {
    const name = scratch.take(64);
    nameView = name.view;
    info.setBigUint64(16, name.address, true);
    info.setUint32(24, 64, true);
  });
  return { size: u32(v, 8), id: u32(v, 12), name: cstr(nameView!, 0, 64), kernelBtf: u32(v, 28) !== 0 };
}

/** Runs `use` with a temporary fd for the object `id`; closes it afterwards. Returns undefined if the object vanished. */
export function withObjectFd<T>(kind: ObjectKind, id: number, use: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = fdById(kind, id);
  } catch (error) {
    if ((error as { code?: string }).code === 'ENOENT') return undefined;
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
