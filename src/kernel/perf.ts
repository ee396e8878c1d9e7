/**
 * perf_event_open(2): struct perf_event_attr assembly, tracefs and PMU
 * discovery for tracepoints, uprobes and kprobes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { NotSupportedError, SyscallError, type Capability } from './errors.ts';
import { OwnedFd } from './fd.ts';
import { errnoName, sysMount, sysPerfEventOpen } from './ffi.ts';

export const PerfType = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2, HW_CACHE: 3, RAW: 4, BREAKPOINT: 5 } as const;
export const PerfSoftware = { CPU_CLOCK: 0, TASK_CLOCK: 1, BPF_OUTPUT: 10 } as const;
/** PERF_SAMPLE_RAW. */
export const PERF_SAMPLE_RAW = 1 << 10;
const PERF_FLAG_FD_CLOEXEC = 1 << 3;
/** sizeof(struct perf_event_attr), PERF_ATTR_SIZE_VER7. */
const PERF_ATTR_SIZE = 128;

export interface PerfEventAttr {
  type: number;
  config?: bigint | number;
  /** sample_period, or sample_freq when `frequency` is set. */
  samplePeriod?: bigint | number;
  frequency?: boolean;
  sampleType?: number;
  disabled?: boolean;
  /** Wake the reader after this many samples (or bytes, with `watermark`). */
  wakeupEvents?: number;
  watermark?: boolean;
  config1?: bigint | number;
  config2?: bigint | number;
}

/** Encodes struct perf_event_attr. */
export function encodePerfAttr(options: PerfEventAttr): Uint8Array {
  const bytes = new Uint8Array(PERF_ATTR_SIZE);
  const v = new DataView(bytes.buffer);
  v.setUint32(0, options.type, true);
  v.setUint32(4, PERF_ATTR_SIZE, true);
  v.setBigUint64(8, BigInt(options.config ?? 0), true);
  v.setBigUint64(16, BigInt(options.samplePeriod ?? 0), true);
  v.setBigUint64(24, BigInt(options.sampleType ?? 0), true);
  let flags = 0n;
  if (options.disabled) flags |= 1n << 0n;
  if (options.frequency) flags |= 1n << 10n;
  if (options.watermark) flags |= 1n << 14n;
  v.setBigUint64(40, flags, true);
  v.setUint32(48, options.wakeupEvents ?? 0, true);
  v.setBigUint64(56, BigInt(options.config1 ?? 0), true);
  v.setBigUint64(64, BigInt(options.config2 ?? 0), true);
  return bytes;
}

/** perf_event_open; returns an owned fd. `keepAlive` is referenced until the call returns (config1 pointers). */
export function perfEventOpen(
  attrBytes: Uint8Array,
  target: { pid: number; cpu: number },
  what: string,
  capabilities: readonly Capability[] = ['CAP_PERFMON'],
): OwnedFd {
  const { ret, errno } = sysPerfEventOpen(attrBytes, target.pid, target.cpu, -1, PERF_FLAG_FD_CLOEXEC);
  if (ret < 0) {
    const code = errnoName(errno);
    const detail =
      code === 'ENOENT' ? 'no such event' : code === 'ESRCH' ? `no process ${target.pid}` : code === 'EINVAL' ? 'the kernel rejected the event attributes' : undefined;
    throw new SyscallError(`perf_event_open(${what})`, code, errno, detail, capabilities);
  }
  return new OwnedFd(ret, 'perf event');
}

const TRACEFS_CANDIDATES = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

/** The tracefs mount point, mounting tracefs at /sys/kernel/tracing when it is not mounted anywhere. */
export function tracefs(): string {
  for (const dir of TRACEFS_CANDIDATES) if (existsSync(`${dir}/events`)) return dir;
  const target = TRACEFS_CANDIDATES[0]!;
  if (!existsSync(target)) throw new NotSupportedError(`tracefs is not available: ${target} does not exist (kernel built without CONFIG_TRACING?)`);
  sysMount('nodev', target, 'tracefs');
  if (!existsSync(`${target}/events`)) throw new NotSupportedError(`mounted tracefs at ${target} but it has no events directory`);
  return target;
}

/** The id of tracepoint `category/name` from tracefs. */
export function tracepointId(category: string, name: string): number {
  if (!/^[\w.-]+$/.test(category) || !/^[\w.-]+$/.test(name)) {
    throw new NotSupportedError(`invalid tracepoint name '${category}/${name}'`);
  }
  const path = `${tracefs()}/events/${category}/${name}/id`;
  if (!existsSync(path)) throw new NotSupportedError(`tracepoint ${category}/${name} does not exist (no ${path})`);
  return Number(readFileSync(path, 'utf8').trim());
}

/** The dynamic PMU type of `uprobe` or `kprobe`, with its retprobe config bit. */
export function probePmu(kind: 'uprobe' | 'kprobe'): { type: number; retprobeBit: number } {
  const dir = `/sys/bus/event_source/devices/${kind}`;
  if (!existsSync(`${dir}/type`)) {
    throw new NotSupportedError(
      kind === 'kprobe'
        ? `kprobes are not available: this kernel has no kprobe PMU (${dir} is missing; CONFIG_KPROBE_EVENTS is not built in)`
        : `uprobes are not available: this kernel has no uprobe PMU (${dir} is missing; CONFIG_UPROBE_EVENTS is not built in)`,
    );
  }
  const type = Number(readFileSync(`${dir}/type`, 'utf8').trim());
  let retprobeBit = 0;
  const format = `${dir}/format/retprobe`;
  if (existsSync(format)) {
    const match = /config:(\d+)/.exec(readFileSync(format, 'utf8'));
    if (match) retprobeBit = Number(match[1]);
  }
  return { type, retprobeBit };
}
