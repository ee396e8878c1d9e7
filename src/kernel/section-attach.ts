/**
 * Attaching a program where its SEC() name says, as libbpf's skeleton
 * `attach()` and bpf_program__attach do: `tracepoint/CAT/NAME`,
 * `raw_tp/NAME`, `tp_btf/NAME` (and the other BTF-targeted tracing
 * sections), `uprobe/BINARY:FUNCTION[+OFFSET]` and `uretprobe/...`,
 * `kprobe/FUNCTION`, `xdp` (with an interface), `perf_event` (CPU-clock
 * sampling).
 */
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { AttachOptions } from '../backend/index.ts';
import { classifySection } from '../object/sections.ts';
import type { ProgramSpec } from '../object/spec.ts';
import { ProgramType } from '../uapi/enums.ts';
import { KernelArgumentError } from './errors.ts';
import { type Link, attachCpuClockSampling, attachKprobe, attachRawTracepoint, attachTracepoint, attachTracing, attachUprobe, attachXdp } from './link.ts';
import type { KernelProgram } from './program.ts';

/** Why a program has no attach point of its own (its SEC() names none, or needs options that were not given). */
export interface NoAttachPoint {
  reason: string;
}

/** Directories libbpf searches for a uprobe binary given without a path (besides $PATH for executables). */
const LIBRARY_DIRECTORIES = ['/lib64', '/lib', '/usr/lib64', '/usr/lib', '/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib/aarch64-linux-gnu'];

/** `binary` as given in a uprobe section: a path, or a name searched in $PATH (executables) and the library directories. */
export function resolveUprobeBinary(binary: string): string {
  if (binary.includes('/')) return binary;
  const directories = binary.includes('.so') ? LIBRARY_DIRECTORIES : (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  for (const directory of directories) {
    const candidate = join(directory, binary);
    if (existsSync(candidate)) return candidate;
  }
  throw new KernelArgumentError(`uprobe binary '${binary}' is in none of ${directories.join(', ') || '(empty $PATH)'}: give its path`);
}

/** `BINARY:FUNCTION[+OFFSET]` (libbpf's uprobe section target); the binary is everything before the last ':'. */
export function parseUprobeTarget(target: string, where: string): { path: string; symbol?: string; offset?: number } {
  const colon = target.lastIndexOf(':');
  if (colon <= 0) throw new KernelArgumentError(`${where}: uprobe target '${target}' is not BINARY:FUNCTION[+OFFSET]`);
  const path = resolveUprobeBinary(target.slice(0, colon));
  const match = /^(?:([A-Za-z_.$@][\w.$@]*)(?:\+(0x[0-9a-fA-F]+|\d+))?|(0x[0-9a-fA-F]+|\d+))$/.exec(target.slice(colon + 1));
  if (match === null) throw new KernelArgumentError(`${where}: uprobe function '${target.slice(colon + 1)}' is not FUNCTION[+OFFSET] or an offset`);
  const offset = match[2] ?? match[3];
  return { path, ...(match[1] !== undefined ? { symbol: match[1] } : {}), ...(offset !== undefined ? { offset: Number(offset) } : {}) };
}

/**
 * Attaches `program` where the section of `spec` says. Returns the link, or
 * why the section gives no attach point (the caller decides whether that is
 * an error); a target that is there but wrong throws.
 */
export function attachFromSection(program: KernelProgram, spec: ProgramSpec, options: AttachOptions = {}): Link | NoAttachPoint {
  const where = `program '${spec.name}' (SEC("${spec.section}"))`;
  const info = classifySection(spec.section);
  const target = spec.attachTo;
  const kind = info?.def?.targetKind;
  const retprobe = info?.def?.returnProbe ?? false;
  switch (program.type) {
    case ProgramType.TRACEPOINT: {
      if (target === undefined) return { reason: `${where}: the section names no tracepoint (tracepoint/CATEGORY/NAME)` };
      const slash = target.indexOf('/');
      if (slash <= 0 || slash === target.length - 1) throw new KernelArgumentError(`${where}: tracepoint '${target}' is not CATEGORY/NAME`);
      return attachTracepoint(program, target.slice(0, slash), target.slice(slash + 1));
    }
    case ProgramType.RAW_TRACEPOINT:
    case ProgramType.RAW_TRACEPOINT_WRITABLE:
      if (target === undefined) return { reason: `${where}: the section names no raw tracepoint (raw_tp/NAME)` };
      return attachRawTracepoint(program, target);
    case ProgramType.TRACING:
    case ProgramType.LSM:
      // The target was resolved to a BTF id when the program was loaded.
      return attachTracing(program);
    case ProgramType.KPROBE:
      if (target === undefined) return { reason: `${where}: the section names no function (uprobe/BINARY:FUNCTION or kprobe/FUNCTION)` };
      if (kind === 'user-function') return attachUprobe(program, { ...parseUprobeTarget(target, where), retprobe, ...(options.pid !== undefined ? { pid: options.pid } : {}) });
      if (kind === 'kernel-function') {
        const plus = /^(.+?)(?:\+(0x[0-9a-fA-F]+|\d+))?$/.exec(target)!;
        return attachKprobe(program, { symbol: plus[1]!, retprobe, ...(plus[2] !== undefined ? { offset: Number(plus[2]) } : {}) });
      }
      return { reason: `${where}: ${spec.section.split('/')[0]} sections are not attached automatically yet` };
    case ProgramType.XDP:
      if (spec.expectedAttachType !== undefined && spec.section !== 'xdp' && spec.section !== 'xdp.frags') return { reason: `${where}: a devmap/cpumap XDP program runs from its map, not an interface` };
      if (options.interface === undefined) return { reason: `${where}: XDP needs an interface: attach({ interface: 'eth0' })` };
      return attachXdp(program, options.interface, options.xdpMode === 'native' ? 'driver' : options.xdpMode);
    case ProgramType.PERF_EVENT:
      return attachCpuClockSampling(program, options.perfEvent?.frequency ?? 99, options.perfEvent?.cpus);
    default:
      return { reason: `${where}: ${spec.section} programs have no attach point in their section (attach them with the attach* functions)` };
  }
}
