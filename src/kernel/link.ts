/**
 * Attaching programs. Every attach function returns a `Link` whose close()
 * detaches; BPF links (LINK_CREATE, RAW_TRACEPOINT_OPEN) are fd objects that
 * can also be pinned, updated with another program and force-detached.
 */
import { existsSync, readFileSync } from 'node:fs';
import { AttachType, ProgramType, attachTypeName, programTypeName } from '../uapi/enums.ts';
import { BpfCommand, attr, bpfCall, scratch } from './bpf.ts';
import { loadKernelBtf } from '../btf/core.ts';
import type { BtfKind } from '../btf/types.ts';
import { findFunctionOffset } from './elf-symbols.ts';
import { KernelArgumentError, NotSupportedError, type Capability } from './errors.ts';
import { FdResource, OwnedFd } from './fd.ts';
import { NativeBuffer, sysIfIndexToName, sysIfNameToIndex, sysOpen, sysSetsockopt } from './ffi.ts';
import { linkInfo, type LinkInfo } from './info.ts';
import { pinObject } from './map.ts';
import { PerfSoftware, PerfType, encodePerfAttr, perfEventOpen, probePmu, tracepointId } from './perf.ts';
import { possibleCpus } from './map.ts';
import type { KernelProgram } from './program.ts';

/** Something attached; close() detaches it. Closing twice is harmless. */
export interface Link {
  /** What is attached where, e.g. `XDP program 'drop' on veth1 (ifindex 7, driver mode)`. */
  readonly description: string;
  readonly closed: boolean;
  close(): void;
}

/** LINK_CREATE attr offsets. */
const LC = { progFd: 0, target: 4, attachType: 8, flags: 12, union: 16, size: 64 };

/** A BPF link: a kernel object holding the attachment, referenced by an fd. */
export class KernelLink extends FdResource implements Link {
  protected readonly kind = 'link';
  readonly description: string;

  readonly #auxiliary: OwnedFd[];

  /** `auxiliary` fds (the perf event of a tracepoint or uprobe link) are closed with the link. */
  constructor(fd: number, description: string, auxiliary: OwnedFd[] = []) {
    super(fd, () => auxiliary.forEach((a) => a.close()));
    this.description = description;
    this.#auxiliary = auxiliary;
  }

  /** The link's fd and its auxiliary fds, now the caller's to close (closeLinksConcurrently). */
  takeFds(): { link: number; auxiliary: number[] } {
    const auxiliary = this.#auxiliary.filter((a) => !a.closed).map((a) => a.take());
    return { link: this.disown(), auxiliary };
  }

  protected override describe(): string {
    return `link (${this.description})`;
  }

  /** Detaches the program while keeping the link fd (BPF_LINK_DETACH); later updates fail with ENOLINK. */
  detach(): void {
    bpfCall(BpfCommand.LINK_DETACH, attr(4).u32(0, this.fd), { subject: this.describe(), explain: { EOPNOTSUPP: 'this link type cannot be detached explicitly (close it instead)' } });
  }

  /** Atomically replaces the attached program (BPF_LINK_UPDATE). */
  update(program: KernelProgram, expectedOld?: KernelProgram): void {
    const a = attr(16).u32(0, this.fd).u32(4, program.fd);
    if (expectedOld) a.u32(8, 1 << 1 /* BPF_F_REPLACE */).u32(12, expectedOld.fd);
    bpfCall(BpfCommand.LINK_UPDATE, a, {
      subject: this.describe(),
      explain: { ENOLINK: 'the link was detached', EOPNOTSUPP: 'this link type does not support replacing its program', EPERM: 'the old program does not match (BPF_F_REPLACE)' },
    });
  }

  pin(path: string): void {
    pinObject(this.fd, path, this.describe());
  }

  info(): LinkInfo {
    return linkInfo(this.fd);
  }
}

/** Links made of several parts (a perf event per CPU), closed together. */
export class LinkGroup implements Link {
  readonly description: string;
  readonly links: readonly Link[];
  constructor(description: string, links: Link[]) {
    this.description = description;
    this.links = links;
  }
  get closed(): boolean {
    return this.links.every((l) => l.closed);
  }
  close(): void {
    for (const link of this.links) link.close();
  }
}

function linkCreate(
  program: KernelProgram,
  target: number,
  attachType: number,
  description: string,
  options: { flags?: number; fill?: (a: ReturnType<typeof attr>) => void; capabilities?: Capability[]; explain?: Partial<Record<string, string>>; auxiliary?: OwnedFd[] } = {},
): KernelLink {
  const a = attr(LC.size).u32(LC.progFd, program.fd).u32(LC.target, target).u32(LC.attachType, attachType).u32(LC.flags, options.flags ?? 0);
  options.fill?.(a);
  const fd = bpfCall(BpfCommand.LINK_CREATE, a, {
    subject: `${attachTypeName(attachType)} for ${programTypeName(program.type)} program '${program.name}' (${description})`,
    capabilities: options.capabilities ?? ['CAP_BPF', 'CAP_PERFMON'],
    explain: { EINVAL: `the kernel does not accept a ${programTypeName(program.type)} program with attach type ${attachTypeName(attachType)} here`, ...options.explain },
  });
  return new KernelLink(fd, description, options.auxiliary);
}

/** Links a BPF program to an open perf event (tracepoint, uprobe, kprobe, sampling event). */
function attachToPerfEvent(program: KernelProgram, event: OwnedFd, description: string, cookie = 0n): KernelLink {
  try {
    return linkCreate(program, event.fd, AttachType.PERF_EVENT, description, {
      fill: (a) => a.u64(LC.union, cookie),
      auxiliary: [event],
    });
  } catch (error) {
    event.close();
    throw error;
  }
}

function requireType(program: KernelProgram, types: number[], what: string): void {
  if (!types.includes(program.type)) {
    throw new KernelArgumentError(`${what} needs a ${types.map(programTypeName).join(' or ')} program, got ${programTypeName(program.type)} program '${program.name}'`);
  }
}

/** Attaches a TRACEPOINT program to `category/name` (e.g. `syscalls`, `sys_enter_openat`); `cookie` is what bpf_get_attach_cookie returns in it. */
export function attachTracepoint(program: KernelProgram, category: string, name: string, cookie = 0n): KernelLink {
  requireType(program, [ProgramType.TRACEPOINT], 'attachTracepoint');
  const id = tracepointId(category, name);
  const event = perfEventOpen(encodePerfAttr({ type: PerfType.TRACEPOINT, config: id }), { pid: -1, cpu: 0 }, `tracepoint ${category}/${name}`);
  return attachToPerfEvent(program, event, `tracepoint ${category}/${name}`, cookie);
}

/** Attaches a RAW_TRACEPOINT program (BPF_RAW_TRACEPOINT_OPEN). */
export function attachRawTracepoint(program: KernelProgram, name: string): KernelLink {
  requireType(program, [ProgramType.RAW_TRACEPOINT, ProgramType.RAW_TRACEPOINT_WRITABLE], 'attachRawTracepoint');
  scratch.reset();
  const a = attr(24).u64(0, scratch.put(name)).u32(8, program.fd);
  const fd = bpfCall(BpfCommand.RAW_TRACEPOINT_OPEN, a, {
    subject: `raw tracepoint ${name} for program '${program.name}'`,
    capabilities: ['CAP_BPF', 'CAP_PERFMON'],
    explain: { ENOENT: `there is no raw tracepoint named '${name}'` },
  });
  return new KernelLink(fd, `raw tracepoint ${name}`);
}

const VMLINUX_BTF = '/sys/kernel/btf/vmlinux';

/**
 * The id of the first vmlinux BTF type named `name` of `kind`, or undefined.
 * The kernel's BTF is parsed by src/btf once per process (the same parse
 * CO-RE relocation uses) and indexed by name on first lookup.
 */
export function vmlinuxTypeId(name: string, kind: BtfKind): number | undefined {
  if (!existsSync(VMLINUX_BTF)) {
    throw new NotSupportedError(`the kernel has no BTF (${VMLINUX_BTF} is missing): fentry/fexit, tp_btf, LSM programs and kernel symbols (ksyms) need CONFIG_DEBUG_INFO_BTF`);
  }
  return loadKernelBtf(VMLINUX_BTF).findByName(name, kind)[0]?.id;
}

export type TracingTargetKind = 'fentry' | 'fexit' | 'fmod_ret' | 'tp_btf' | 'lsm' | 'iter';

/**
 * The attach_btf_id to load a TRACING/LSM program with: the vmlinux FUNC for
 * fentry/fexit/fmod_ret, the `btf_trace_<name>` TYPEDEF for tp_btf, the
 * `bpf_lsm_<hook>` FUNC for LSM, the `bpf_iter_<name>` FUNC for iterators
 * (libbpf's find_attach_btf_id).
 */
export function tracingTargetBtfId(kind: TracingTargetKind, name: string): number {
  const [typeName, btfKind]: [string, BtfKind] =
    kind === 'tp_btf' ? [`btf_trace_${name}`, 'typedef'] : kind === 'lsm' ? [`bpf_lsm_${name}`, 'func'] : kind === 'iter' ? [`bpf_iter_${name}`, 'func'] : [name, 'func'];
  const id = vmlinuxTypeId(typeName, btfKind);
  if (id === undefined) throw new KernelArgumentError(`${kind} target '${name}' not found in the kernel's BTF (no ${btfKind === 'typedef' ? 'typedef' : 'function'} ${typeName})`);
  return id;
}

const TRACING_KIND_BY_ATTACH_TYPE = new Map<number, TracingTargetKind>([
  [AttachType.TRACE_FENTRY, 'fentry'],
  [AttachType.TRACE_FEXIT, 'fexit'],
  [AttachType.MODIFY_RETURN, 'fmod_ret'],
  [AttachType.TRACE_RAW_TP, 'tp_btf'],
  [AttachType.LSM_MAC, 'lsm'],
  [AttachType.LSM_CGROUP, 'lsm'],
  [AttachType.TRACE_ITER, 'iter'],
]);

/**
 * The attach_btf_id a program of this type and expected attach type must be
 * loaded with, found from its attach target (the section name's `fentry/NAME`
 * part); undefined for programs that take none.
 */
export function loadTimeAttachBtfId(type: number, expectedAttachType: number | undefined, target: string | undefined, what: string): number | undefined {
  if (type !== ProgramType.TRACING && type !== ProgramType.LSM) return undefined;
  const kind = expectedAttachType === undefined ? undefined : TRACING_KIND_BY_ATTACH_TYPE.get(expectedAttachType);
  if (kind === undefined) throw new KernelArgumentError(`${what}: a ${programTypeName(type)} program needs an expected attach type (fentry, fexit, fmod_ret, tp_btf, lsm or iter)`);
  if (target === undefined || target === '') throw new KernelArgumentError(`${what}: a ${kind} program needs a target (e.g. SEC("${kind}/NAME"))`);
  return tracingTargetBtfId(kind, target);
}

/** Attaches a TRACING (fentry/fexit/fmod_ret/tp_btf) or LSM program loaded with its attach_btf_id. */
export function attachTracing(program: KernelProgram): KernelLink {
  requireType(program, [ProgramType.TRACING, ProgramType.LSM, ProgramType.EXT], 'attachTracing');
  return linkCreate(program, 0, program.expectedAttachType, `${attachTypeName(program.expectedAttachType)} '${program.name}'`);
}

export interface UprobeOptions {
  /** Executable or shared library path. */
  path: string;
  /** Function name in its symbol table (or give `offset`). */
  symbol?: string;
  /** File offset of the instruction to probe (added to the symbol's offset when both are given). */
  offset?: number;
  /** Only this process (default: every process running the file). */
  pid?: number;
  retprobe?: boolean;
  cookie?: bigint;
  /**
   * File offset of a USDT semaphore (a u16 the probed program tests before
   * preparing a probe's arguments): the kernel increments it in every
   * process mapping the file while the uprobe is attached.
   */
  refCounterOffset?: number;
}

/** Bit of a uprobe perf event's config where the semaphore offset starts (PERF_UPROBE_REF_CTR_OFFSET_SHIFT). */
const REF_CTR_OFFSET_SHIFT = 32n;

/** Attaches a KPROBE-type program as a uprobe or uretprobe. */
export function attachUprobe(program: KernelProgram, options: UprobeOptions): KernelLink {
  requireType(program, [ProgramType.KPROBE], 'attachUprobe');
  if (!existsSync(options.path)) throw new KernelArgumentError(`uprobe target ${options.path} does not exist`);
  const pmu = probePmu('uprobe');
  const base = options.symbol !== undefined ? findFunctionOffset(options.path, options.symbol).fileOffset : 0n;
  const offset = base + BigInt(options.offset ?? 0);
  scratch.reset();
  const pathAddress = scratch.put(options.path);
  const what = `${options.retprobe ? 'uretprobe' : 'uprobe'} ${options.path}:${options.symbol ?? ''}+0x${offset.toString(16)}${options.pid !== undefined ? ` pid ${options.pid}` : ''}`;
  const event = perfEventOpen(
    encodePerfAttr({ type: pmu.type, config: (options.retprobe ? 1n << BigInt(pmu.retprobeBit) : 0n) | (BigInt(options.refCounterOffset ?? 0) << REF_CTR_OFFSET_SHIFT), config1: pathAddress, config2: offset, samplePeriod: 1 }),
    options.pid !== undefined ? { pid: options.pid, cpu: -1 } : { pid: -1, cpu: 0 },
    what,
  );
  return attachToPerfEvent(program, event, what, options.cookie);
}

/** Attaches a KPROBE program to kernel function `symbol` (+offset). Fails with NotSupportedError when the kernel has no kprobe PMU. */
export function attachKprobe(program: KernelProgram, options: { symbol: string; offset?: number; retprobe?: boolean; cookie?: bigint }): KernelLink {
  requireType(program, [ProgramType.KPROBE], 'attachKprobe');
  const pmu = probePmu('kprobe');
  scratch.reset();
  const what = `${options.retprobe ? 'kretprobe' : 'kprobe'} ${options.symbol}+${options.offset ?? 0}`;
  const event = perfEventOpen(
    encodePerfAttr({ type: pmu.type, config: options.retprobe ? 1n << BigInt(pmu.retprobeBit) : 0n, config1: scratch.put(options.symbol), config2: options.offset ?? 0, samplePeriod: 1 }),
    { pid: -1, cpu: 0 },
    what,
  );
  return attachToPerfEvent(program, event, what, options.cookie);
}

/** Attaches a PERF_EVENT program to CPU-clock sampling at `frequency` Hz on every CPU, or on `cpus` (what profilers do). */
export function attachCpuClockSampling(program: KernelProgram, frequency: number, cpus?: readonly number[]): LinkGroup {
  if (!Number.isInteger(frequency) || frequency < 1) throw new KernelArgumentError(`sampling frequency must be a positive integer (Hz), got ${frequency}`);
  return attachPerfEventSampling(program, { type: PerfType.SOFTWARE, config: PerfSoftware.CPU_CLOCK, frequency, name: 'cpu-clock' }, cpus);
}

/** A sampling perf event: a software or hardware counter firing every `period` events, or `frequency` times a second. */
export interface SamplingEvent {
  type: number;
  config: number;
  period?: number;
  frequency?: number;
  /** Shown in errors and link descriptions (`page-faults`, `cycles`). */
  name: string;
}

/** Attaches a PERF_EVENT program to a sampling perf event on every CPU (or on `cpus`), one event per CPU. */
export function attachPerfEventSampling(program: KernelProgram, event: SamplingEvent, cpus?: readonly number[]): LinkGroup {
  requireType(program, [ProgramType.PERF_EVENT], 'attachPerfEventSampling');
  const rate = event.frequency ?? event.period;
  if (rate === undefined || !Number.isInteger(rate) || rate < 1) throw new KernelArgumentError(`${event.name}: the sampling ${event.frequency !== undefined ? 'frequency' : 'period'} must be a positive integer, got ${rate}`);
  const every = event.frequency !== undefined ? `${rate} Hz` : `every ${rate}`;
  const links: Link[] = [];
  try {
    const all = possibleCpus();
    const chosen = cpus ?? Array.from({ length: all }, (_, cpu) => cpu);
    const wrong = chosen.find((cpu) => !Number.isInteger(cpu) || cpu < 0 || cpu >= all);
    if (wrong !== undefined) throw new KernelArgumentError(`CPU ${wrong} does not exist (possible CPUs 0-${all - 1})`);
    for (const cpu of chosen) {
      const description = `${event.name} ${every} on CPU ${cpu}`;
      const fd = perfEventOpen(encodePerfAttr({ type: event.type, config: event.config, samplePeriod: rate, frequency: event.frequency !== undefined }), { pid: -1, cpu }, description);
      links.push(attachToPerfEvent(program, fd, description));
    }
  } catch (error) {
    links.forEach((l) => l.close());
    throw error;
  }
  return new LinkGroup(`${event.name} sampling ${every} on ${links.length} CPUs`, links);
}

/** An interface index from a name (in this thread's network namespace) or an index. */
export function resolveInterface(iface: string | number): { ifindex: number; label: string } {
  if (typeof iface === 'number') {
    if (!Number.isInteger(iface) || iface <= 0) throw new KernelArgumentError(`invalid interface index ${iface}`);
    const name = sysIfIndexToName(iface);
    if (name === undefined) throw new KernelArgumentError(`network interface ifindex ${iface} does not exist (in this network namespace)`);
    return { ifindex: iface, label: `${name} (ifindex ${iface})` };
  }
  const ifindex = sysIfNameToIndex(iface);
  if (ifindex === 0) throw new KernelArgumentError(`network interface '${iface}' does not exist (in this network namespace)`);
  return { ifindex, label: `${iface} (ifindex ${ifindex})` };
}

export type XdpMode = 'generic' | 'driver' | 'offload';
const XDP_FLAGS: Record<XdpMode, number> = { generic: 1 << 1, driver: 1 << 2, offload: 1 << 3 };

/** Attaches an XDP program to an interface with a BPF link. Without `mode` the kernel picks driver mode when supported, else generic. */
export function attachXdp(program: KernelProgram, iface: string | number, mode?: XdpMode): KernelLink {
  requireType(program, [ProgramType.XDP], 'attachXdp');
  const { ifindex, label } = resolveInterface(iface);
  const description = `XDP '${program.name}' on ${label}${mode ? `, ${mode} mode` : ''}`;
  return linkCreate(program, ifindex, AttachType.XDP, description, {
    flags: mode ? XDP_FLAGS[mode] : 0,
    capabilities: ['CAP_NET_ADMIN', 'CAP_BPF'],
    explain: {
      ENODEV: `interface ${label} does not exist`,
      EBUSY: `another XDP program is already attached to ${label}`,
      EOPNOTSUPP: `${label} does not support XDP in ${mode ?? 'the requested'} mode`,
      EINVAL: `the kernel rejected XDP on ${label}${mode ? ` in ${mode} mode` : ''}`,
    },
  });
}

/** Attaches a SCHED_CLS program to an interface's ingress or egress with a tcx link (Linux 6.6+). */
export function attachTcx(program: KernelProgram, iface: string | number, direction: 'ingress' | 'egress'): KernelLink {
  requireType(program, [ProgramType.SCHED_CLS], 'attachTcx');
  const { ifindex, label } = resolveInterface(iface);
  return linkCreate(program, ifindex, direction === 'ingress' ? AttachType.TCX_INGRESS : AttachType.TCX_EGRESS, `tcx ${direction} '${program.name}' on ${label}`, {
    capabilities: ['CAP_NET_ADMIN', 'CAP_BPF'],
    explain: { ENODEV: `interface ${label} does not exist` },
  });
}

const SOL_SOCKET = 1;
const SO_ATTACH_BPF = 50;
const SO_DETACH_BPF = 27;

/** A socket filter attached with setsockopt(SO_ATTACH_BPF); close() detaches it. */
class SocketFilterLink implements Link {
  readonly description: string;
  #socketFd: number;
  constructor(socketFd: number, description: string) {
    this.#socketFd = socketFd;
    this.description = description;
  }
  get closed(): boolean {
    return this.#socketFd < 0;
  }
  close(): void {
    if (this.#socketFd < 0) return;
    const fd = this.#socketFd;
    this.#socketFd = -1;
    try {
      sysSetsockopt(fd, SOL_SOCKET, SO_DETACH_BPF, new Uint8Array(4), `setsockopt(${fd}, SO_DETACH_BPF)`);
    } catch {
      // the socket may already be closed, which detaches the filter too
    }
  }
}

/** Attaches a SOCKET_FILTER program to a socket fd (the caller keeps owning the socket). */
export function attachSocketFilter(program: KernelProgram, socketFd: number): Link {
  requireType(program, [ProgramType.SOCKET_FILTER], 'attachSocketFilter');
  const value = new Uint8Array(4);
  new DataView(value.buffer).setInt32(0, program.fd, true);
  sysSetsockopt(socketFd, SOL_SOCKET, SO_ATTACH_BPF, value, `setsockopt(${socketFd}, SO_ATTACH_BPF, program '${program.name}')`);
  return new SocketFilterLink(socketFd, `socket filter '${program.name}' on socket fd ${socketFd}`);
}

const SO_ATTACH_FILTER = 26;

/**
 * Attaches a classic BPF program (struct sock_filter[], host byte order,
 * 8 bytes an instruction) with setsockopt(SO_ATTACH_FILTER): the kernel
 * checks it (sk_chk_filter) and converts it to eBPF itself. close()
 * detaches it (SO_DETACH_FILTER).
 */
export function attachClassicFilter(socketFd: number, filter: Uint8Array): Link {
  if (filter.length === 0 || filter.length % 8 !== 0 || filter.length / 8 > 0xffff) throw new KernelArgumentError(`a classic filter is 1 to 65535 8-byte instructions, got ${filter.length} bytes`);
  // struct sock_fprog { u16 len; struct sock_filter *filter; }: the kernel reads the instructions through the pointer, so they live in native memory.
  const instructions = NativeBuffer.allocate(filter.length);
  try {
    instructions.bytes.set(filter);
    const fprog = new Uint8Array(16);
    const view = new DataView(fprog.buffer);
    view.setUint16(0, filter.length / 8, true);
    view.setBigUint64(8, instructions.address, true);
    sysSetsockopt(socketFd, SOL_SOCKET, SO_ATTACH_FILTER, fprog, `setsockopt(${socketFd}, SO_ATTACH_FILTER, ${filter.length / 8} instructions)`);
  } finally {
    instructions.free();
  }
  return new SocketFilterLink(socketFd, `classic filter of ${filter.length / 8} instructions on socket fd ${socketFd}`);
}

/** The cgroup v2 mount point, from /proc/mounts. */
export function cgroup2Mount(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mountPoint, fsType] = line.split(' ');
    if (fsType === 'cgroup2' && mountPoint) return mountPoint.replace(/\\040/g, ' ');
  }
  throw new NotSupportedError('no cgroup2 filesystem is mounted (see /proc/mounts)');
}

const O_RDONLY = 0;
const O_DIRECTORY = 0o200000;

/** Attaches a cgroup program (CGROUP_SKB, CGROUP_SOCK, CGROUP_SOCK_ADDR, ...) to a cgroup v2 directory with a link. */
export function attachCgroup(program: KernelProgram, cgroupPath: string, attachType: number): KernelLink {
  if (!existsSync(cgroupPath)) throw new KernelArgumentError(`cgroup ${cgroupPath} does not exist`);
  const dir = new OwnedFd(sysOpen(cgroupPath, O_RDONLY | O_DIRECTORY), 'cgroup directory');
  try {
    return linkCreate(program, dir.fd, attachType, `${attachTypeName(attachType)} '${program.name}' on cgroup ${cgroupPath}`, {
      capabilities: ['CAP_NET_ADMIN', 'CAP_BPF'],
      explain: { EBADF: `${cgroupPath} is not a cgroup v2 directory` },
    });
  } finally {
    dir.close(); // the link holds its own reference to the cgroup
  }
}

/** BPF_F_ALLOW_OVERRIDE / BPF_F_ALLOW_MULTI / BPF_F_REPLACE for PROG_ATTACH. */
export const ProgAttachFlags = { ALLOW_OVERRIDE: 1, ALLOW_MULTI: 2, REPLACE: 4 } as const;

/** An attachment made with BPF_PROG_ATTACH; close() runs BPF_PROG_DETACH. */
class ProgAttachment implements Link {
  readonly description: string;
  readonly #target: OwnedFd;
  readonly #program: KernelProgram;
  readonly #attachType: number;
  #closed = false;
  constructor(target: OwnedFd, program: KernelProgram, attachType: number, description: string) {
    this.#target = target;
    this.#program = program;
    this.#attachType = attachType;
    this.description = description;
  }
  get closed(): boolean {
    return this.#closed;
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (!this.#program.closed && !this.#target.closed) {
        bpfCall(BpfCommand.PROG_DETACH, attr(20).u32(0, this.#target.fd).u32(4, this.#program.fd).u32(8, this.#attachType), {
          subject: this.description,
          capabilities: ['CAP_NET_ADMIN', 'CAP_BPF'],
        });
      }
    } finally {
      this.#target.close();
    }
  }
}

/**
 * Attaches with the pre-link API (BPF_PROG_ATTACH) to a cgroup v2 directory:
 * the attachment outlives this process unless closed, so prefer
 * attachCgroup; this exists for kernels and tools that expect it.
 */
export function attachCgroupLegacy(program: KernelProgram, cgroupPath: string, attachType: number, flags = ProgAttachFlags.ALLOW_MULTI): Link {
  if (!existsSync(cgroupPath)) throw new KernelArgumentError(`cgroup ${cgroupPath} does not exist`);
  const dir = new OwnedFd(sysOpen(cgroupPath, O_RDONLY | O_DIRECTORY), 'cgroup directory');
  const description = `${attachTypeName(attachType)} '${program.name}' on cgroup ${cgroupPath} (PROG_ATTACH)`;
  try {
    bpfCall(BpfCommand.PROG_ATTACH, attr(20).u32(0, dir.fd).u32(4, program.fd).u32(8, attachType).u32(12, flags), {
      subject: description,
      capabilities: ['CAP_NET_ADMIN', 'CAP_BPF'],
      explain: { EPERM: 'another program is attached without BPF_F_ALLOW_MULTI/OVERRIDE, or access is denied' },
    });
  } catch (error) {
    dir.close();
    throw error;
  }
  return new ProgAttachment(dir, program, attachType, description);
}
