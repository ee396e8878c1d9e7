import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';
import { delimiter } from 'node:path';
import type { AttachPoint } from './ast.ts';
import { traceError } from './errors.ts';
import { type UsdtProbe, UsdtError, readUsdtProbes } from './usdt.ts';

export type ProbeKind =
  | 'begin' | 'end' | 'tracepoint' | 'rawtracepoint' | 'uprobe' | 'uretprobe' | 'kprobe' | 'kretprobe' | 'fentry' | 'fexit' | 'profile' | 'interval' | 'software' | 'hardware' | 'usdt';

/** One concrete attach point after wildcard expansion. */
export interface ProbeTarget {
  kind: ProbeKind;
  /** The name `probe` prints: `tracepoint:syscalls:sys_enter_read`, `BEGIN`, `uretprobe:/bin/bash:readline`. */
  name: string;
  category?: string;
  event?: string;
  path?: string;
  symbol?: string;
  offset?: number;
  /** profile/interval/software: the period in nanoseconds, or the frequency in Hz. */
  periodNs?: number;
  frequency?: number;
  count?: number;
  /** software/hardware: the PERF_COUNT_SW_* / PERF_COUNT_HW_* counter. */
  config?: number;
  /** usdt: the probe from the binary's notes (location, semaphore, arguments). */
  usdt?: UsdtProbe;
}

const ALIASES: Record<string, ProbeKind> = {
  BEGIN: 'begin', begin: 'begin', END: 'end', end: 'end',
  tracepoint: 'tracepoint', t: 'tracepoint', rawtracepoint: 'rawtracepoint', rt: 'rawtracepoint',
  uprobe: 'uprobe', u: 'uprobe', uretprobe: 'uretprobe', ur: 'uretprobe',
  kprobe: 'kprobe', k: 'kprobe', kretprobe: 'kretprobe', kr: 'kretprobe',
  kfunc: 'fentry', fentry: 'fentry', f: 'fentry', kretfunc: 'fexit', fexit: 'fexit', fr: 'fexit',
  profile: 'profile', p: 'profile', interval: 'interval', i: 'interval', software: 'software', s: 'software', hardware: 'hardware', h: 'hardware', usdt: 'usdt', U: 'usdt',
};

/** Nanoseconds per unit of profile/interval probes. */
const UNITS: Record<string, number> = { s: 1e9, ms: 1e6, us: 1e3, ns: 1, hz: 0 };

export const TRACEFS_ROOT = '/sys/kernel/tracing';

/** Shell-style wildcard to a whole-string regex. */
export function wildcard(pattern: string): RegExp {
  return new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
}

function listDirectory(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

/** Every tracepoint `category:name` matching the patterns (in tracefs order, sorted). */
export function matchTracepoints(category: string, event: string, root = TRACEFS_ROOT): { category: string; event: string }[] {
  const categories = wildcard(category);
  const events = wildcard(event);
  const out: { category: string; event: string }[] = [];
  for (const c of listDirectory(`${root}/events`)) {
    if (!categories.test(c)) continue;
    for (const e of listDirectory(`${root}/events/${c}`)) if (events.test(e) && existsSync(`${root}/events/${c}/${e}/format`)) out.push({ category: c, event: e });
  }
  return out;
}

/** Library directories searched for `libc:` style uprobe targets. */
const LIBRARY_DIRS = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu', '/lib64', '/usr/lib64', '/lib', '/usr/lib', '/usr/local/lib'];

/** Resolves a uprobe target: an absolute path, a program on $PATH, or a library name (`libc`, `libc.so.6`). */
/** Whether `path` starts with the ELF magic (a library rather than a linker script). */
function isElf(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const magic = Buffer.alloc(4);
    return readSync(fd, magic, 0, 4, 0) === 4 && magic.toString('latin1') === '\x7fELF';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function resolveBinary(target: string): string | undefined {
  if (target.startsWith('/')) return existsSync(target) ? target : undefined;
  for (const dir of (process.env['PATH'] ?? '/usr/bin:/bin').split(delimiter)) {
    const candidate = `${dir}/${target}`;
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  const base = target.startsWith('lib') ? target : `lib${target}`;
  for (const dir of LIBRARY_DIRS) {
    // The shortest name that is ELF: `libc.so` is often a linker script (libc6-dev), `libc.so.6` the library.
    const names = listDirectory(dir).filter((n) => (n === base || n.startsWith(`${base}.so`)) && isElf(`${dir}/${n}`));
    names.sort((a, b) => a.length - b.length);
    if (names[0] !== undefined) return `${dir}/${names[0]}`;
  }
  return undefined;
}

/** Expands one attach point to its concrete probes. Wildcards that match nothing are an error, as in bpftrace. */
export function expandAttachPoint(point: AttachPoint, root = TRACEFS_ROOT): ProbeTarget[] {
  const parts = point.text.split(':');
  const kind = ALIASES[parts[0]!];
  const fail = (problem: string): never => {
    throw traceError(problem, point.span);
  };
  if (kind === undefined) return fail(`Invalid probe type: ${parts[0]}`);
  switch (kind) {
    case 'begin':
    case 'end':
      if (parts.length !== 1) fail(`${parts[0]} probes take no arguments`);
      return [{ kind, name: kind === 'begin' ? 'BEGIN' : 'END' }];
    case 'tracepoint': {
      if (parts.length !== 3 || parts[1] === '' || parts[2] === '') fail('tracepoint probes need a category and a name: tracepoint:category:name');
      const matches = matchTracepoints(parts[1]!, parts[2]!, root);
      if (matches.length === 0) fail(`tracepoint not found: ${parts[1]}:${parts[2]}`);
      return matches.map((m) => ({ kind, name: `tracepoint:${m.category}:${m.event}`, category: m.category, event: m.event }));
    }
    case 'rawtracepoint': {
      const event = parts.length === 3 ? parts[2]! : parts[1];
      if (event === undefined || event === '' || parts.length > 3) return fail('rawtracepoint probes need a name: rawtracepoint:name');
      if (/[*?]/.test(event)) fail('wildcards are not supported in rawtracepoint probes');
      return [{ kind, name: `rawtracepoint:${event}`, event }];
    }
    case 'uprobe':
    case 'uretprobe': {
      if (parts.length !== 3 || parts[1] === '' || parts[2] === '') fail(`${kind} probes need a binary and a function: ${kind}:/path/to/binary:function`);
      const path = resolveBinary(parts[1]!) ?? fail(`${parts[1]}: no such binary or library`);
      const target = parts[2]!;
      if (/[*?]/.test(target)) fail(`wildcards in ${kind} function names are not supported yet`);
      const offset = /^(0x[0-9a-fA-F]+|\d+)$/.test(target) ? Number(target) : undefined;
      return [{ kind, name: `${kind}:${path}:${target}`, path, ...(offset !== undefined ? { offset } : { symbol: target }) }];
    }
    case 'kprobe':
    case 'kretprobe':
    case 'fentry':
    case 'fexit': {
      const symbol = parts.length === 3 ? parts[2]! : parts[1];
      if (symbol === undefined || symbol === '' || parts.length > 3) return fail(`${kind} probes need a kernel function: ${kind}:function`);
      return [{ kind, name: `${kind === 'fentry' ? 'kfunc' : kind === 'fexit' ? 'kretfunc' : kind}:${symbol}`, symbol }];
    }
    case 'profile':
    case 'interval': {
      let unit = parts[1] ?? '';
      let value = parts[2];
      const compact = /^(\d+)(s|ms|us|ns|hz)$/.exec(unit);
      if (parts.length === 2 && compact !== null) [unit, value] = [compact[2]!, compact[1]!];
      else if (parts.length !== 3) fail(`${kind} probes need a unit and a count: ${kind}:s:1, ${kind}:hz:99`);
      if (!(unit in UNITS)) fail(`${kind} unit must be one of hz, s, ms, us, ns: got '${unit}'`);
      if (kind === 'interval' && unit === 'hz') fail('interval probes take s, ms, us or ns');
      if (!/^\d+$/.test(value ?? '') || Number(value) < 1) fail(`${kind} count must be a positive integer: got '${value}'`);
      const n = Number(value);
      const name = `${kind}:${unit}:${n}`;
      return [unit === 'hz' ? { kind, name, frequency: n } : { kind, name, periodNs: n * UNITS[unit]! }];
    }
    case 'software':
    case 'hardware': {
      if (parts.length < 2 || parts[1] === '') fail(`${kind} probes need an event: ${kind}:event:count`);
      const table = kind === 'software' ? SOFTWARE_EVENTS : HARDWARE_EVENTS;
      const known = table.find((e) => e.names.includes(parts[1]!));
      if (known === undefined) fail(`unknown ${kind} event '${parts[1]}': one of ${table.map((e) => e.names[0]).join(', ')}`);
      const count = parts[2] !== undefined && parts[2] !== '' ? Number(parts[2]) : known!.defaultCount;
      if (!(Number.isInteger(count) && count > 0)) fail(`${kind} count must be a positive integer`);
      return [{ kind, name: `${kind}:${parts[1]}:${parts[2] ?? ''}`, event: parts[1]!, count, config: known!.config }];
    }
    case 'usdt': {
      // usdt:binary:provider:name or usdt:binary:name; * and ? match in provider and name.
      if ((parts.length !== 3 && parts.length !== 4) || parts.slice(1).some((p) => p === '')) fail('usdt probes need a binary and a probe: usdt:/path/to/binary:provider:name');
      const path = resolveBinary(parts[1]!) ?? fail(`${parts[1]}: no such binary or library`);
      const [providerPattern, namePattern] = parts.length === 4 ? [parts[2]!, parts[3]!] : ['*', parts[2]!];
      let notes: UsdtProbe[];
      try {
        notes = readUsdtProbes(path);
      } catch (error) {
        if (error instanceof UsdtError) fail(error.message);
        throw error;
      }
      const matches = notes.filter((n) => wildcard(providerPattern).test(n.provider) && wildcard(namePattern).test(n.name));
      if (matches.length === 0) fail(`${path} has no USDT probe ${providerPattern}:${namePattern}${notes.length === 0 ? ' (it has no .note.stapsdt notes)' : ''}`);
      return matches.map((usdt) => ({ kind, name: `usdt:${path}:${usdt.provider}:${usdt.name}`, path, offset: usdt.offset, usdt }));
    }
  }
}

/** A perf counter `software:NAME:count` / `hardware:NAME:count` samples: its names, PERF_COUNT_* config and bpftrace's default count. */
interface PerfCounter {
  names: string[];
  config: number;
  defaultCount: number;
}

/** PERF_TYPE_SOFTWARE counters, with bpftrace's names and default sampling counts. */
const SOFTWARE_EVENTS: readonly PerfCounter[] = [
  { names: ['cpu-clock', 'cpu'], config: 0, defaultCount: 1_000_000 },
  { names: ['task-clock'], config: 1, defaultCount: 1_000_000 },
  { names: ['page-faults', 'faults'], config: 2, defaultCount: 100 },
  { names: ['context-switches', 'cs'], config: 3, defaultCount: 1000 },
  { names: ['cpu-migrations'], config: 4, defaultCount: 1 },
  { names: ['minor-faults'], config: 5, defaultCount: 100 },
  { names: ['major-faults'], config: 6, defaultCount: 1 },
  { names: ['alignment-faults'], config: 7, defaultCount: 1 },
  { names: ['emulation-faults'], config: 8, defaultCount: 1 },
  { names: ['dummy'], config: 9, defaultCount: 1 },
  { names: ['bpf-output'], config: 10, defaultCount: 1 },
];

/** PERF_TYPE_HARDWARE counters (they need a hardware PMU). */
const HARDWARE_EVENTS: readonly PerfCounter[] = [
  { names: ['cpu-cycles', 'cycles'], config: 0, defaultCount: 1_000_000 },
  { names: ['instructions'], config: 1, defaultCount: 1_000_000 },
  { names: ['cache-references'], config: 2, defaultCount: 1_000_000 },
  { names: ['cache-misses'], config: 3, defaultCount: 1_000_000 },
  { names: ['branch-instructions', 'branches'], config: 4, defaultCount: 100_000 },
  { names: ['branch-misses'], config: 5, defaultCount: 100_000 },
  { names: ['bus-cycles'], config: 6, defaultCount: 100_000 },
  { names: ['frontend-stalls'], config: 7, defaultCount: 1_000_000 },
  { names: ['backend-stalls'], config: 8, defaultCount: 1_000_000 },
  { names: ['ref-cycles'], config: 9, defaultCount: 1_000_000 },
];

/**
 * Tracepoints that observe what a kprobe on a common kernel function
 * observes, for the error given when kprobes are unavailable.
 */
export const TRACEPOINT_EQUIVALENTS: Record<string, string> = {
  tcp_connect: 'tracepoint:sock:inet_sock_set_state',
  tcp_v4_connect: 'tracepoint:sock:inet_sock_set_state',
  tcp_v6_connect: 'tracepoint:sock:inet_sock_set_state',
  tcp_set_state: 'tracepoint:sock:inet_sock_set_state',
  inet_csk_accept: 'tracepoint:sock:inet_sock_set_state',
  tcp_close: 'tracepoint:sock:inet_sock_set_state',
  tcp_retransmit_skb: 'tracepoint:tcp:tcp_retransmit_skb',
  tcp_send_reset: 'tracepoint:tcp:tcp_send_reset',
  tcp_drop: 'tracepoint:skb:kfree_skb',
  kfree_skb: 'tracepoint:skb:kfree_skb',
  do_sys_open: 'tracepoint:syscalls:sys_enter_openat',
  do_sys_openat2: 'tracepoint:syscalls:sys_enter_openat',
  vfs_read: 'tracepoint:syscalls:sys_enter_read',
  vfs_write: 'tracepoint:syscalls:sys_enter_write',
  ksys_read: 'tracepoint:syscalls:sys_enter_read',
  ksys_write: 'tracepoint:syscalls:sys_enter_write',
  do_nanosleep: 'tracepoint:syscalls:sys_enter_nanosleep',
  hrtimer_nanosleep: 'tracepoint:syscalls:sys_enter_nanosleep',
  vfs_open: 'tracepoint:syscalls:sys_enter_openat',
  do_execve: 'tracepoint:syscalls:sys_enter_execve',
  do_exit: 'tracepoint:sched:sched_process_exit',
  wake_up_new_task: 'tracepoint:sched:sched_wakeup_new',
  finish_task_switch: 'tracepoint:sched:sched_switch',
  blk_account_io_start: 'tracepoint:block:block_io_start',
  blk_account_io_done: 'tracepoint:block:block_io_done',
  blk_mq_start_request: 'tracepoint:block:block_rq_issue',
  __blk_account_io_start: 'tracepoint:block:block_io_start',
  __blk_account_io_done: 'tracepoint:block:block_io_done',
  oom_kill_process: 'tracepoint:oom:mark_victim',
  security_file_open: 'tracepoint:syscalls:sys_enter_openat',
  __x64_sys_execve: 'tracepoint:syscalls:sys_enter_execve',
  handle_mm_fault: 'tracepoint:exceptions:page_fault_user',
  kmem_cache_alloc: 'tracepoint:kmem:kmem_cache_alloc',
  kmalloc: 'tracepoint:kmem:kmalloc',
  schedule: 'tracepoint:sched:sched_switch',
  do_unlinkat: 'tracepoint:syscalls:sys_enter_unlinkat',
  vfs_unlink: 'tracepoint:syscalls:sys_enter_unlinkat',
  do_mount: 'tracepoint:syscalls:sys_enter_mount',
  cap_capable: 'tracepoint:capability:cap_capable',
};

/** The tracepoint to suggest for kernel function `symbol`: the table, else a syscall tracepoint for `__x64_sys_NAME`/`__se_sys_NAME`. */
export function tracepointEquivalent(symbol: string, root = TRACEFS_ROOT): string | undefined {
  const known = TRACEPOINT_EQUIVALENTS[symbol];
  if (known !== undefined) return known;
  const syscall = /^(?:__x64_sys_|__ia32_sys_|__se_sys_|__do_sys_|ksys_|sys_)(\w+)$/.exec(symbol);
  if (syscall !== null && existsSync(`${root}/events/syscalls/sys_enter_${syscall[1]}`)) return `tracepoint:syscalls:sys_enter_${syscall[1]}`;
  return undefined;
}

/** Possible CPUs from sysfs ("0-3,5" is 6), or 1 where it cannot be read (the browser, a sandbox). */
export function possibleCpuCount(path = '/sys/devices/system/cpu/possible'): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return 1;
  }
  let highest = 0;
  for (const part of text.trim().split(',')) {
    const last = Number(part.split('-').at(-1));
    if (Number.isInteger(last) && last >= 0) highest = Math.max(highest, last + 1);
  }
  return Math.min(Math.max(highest, 1), 8192);
}
