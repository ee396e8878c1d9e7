/** syscount: system calls counted per syscall or per process, with their latency when asked. */
import { syscallName } from '../uapi/index.ts';
import { formatUsage, type OptionSpec, parseToolArgs } from './args.ts';
import { type ToolDefinition, flag, jsonLine, numberOption } from './definition.ts';
import { clockTime, left, right } from './format.ts';
import { type OpenTool, type ToolRunOptions, cString, intervalTool, openTool } from './runtime.ts';

export interface SyscountRow {
  /** Syscall number, or the process id with `byProcess`. */
  key: number;
  /** The syscall's name (`[unknown: N]` when not in the table) or the process's name. */
  name: string;
  count: number;
  /** Total latency (with `latency`), else 0. */
  totalNs: number;
}

export interface SyscountInterval {
  /** Rows sorted by count (by latency with `latency`), all of them. */
  rows: SyscountRow[];
}

export interface SyscountOptions extends ToolRunOptions {
  pid?: number;
  tid?: number;
  failuresOnly?: boolean;
  /** Only calls failing with this errno. */
  errno?: number;
  byProcess?: boolean;
  latency?: boolean;
  interval?: number;
  count?: number;
}

/** The name BCC prints for syscall `n`. */
export function syscallLabel(n: number): string {
  return syscallName(n, process.arch) ?? `[unknown: ${n}]`;
}

function snapshot(tool: OpenTool, options: SyscountOptions): SyscountInterval {
  const rows: SyscountRow[] = [];
  for (const [key, value] of tool.collection.map('stats').lookupAndDeleteBatch()) {
    const keyView = new DataView(key.buffer, key.byteOffset, key.byteLength);
    const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const id = keyView.getUint32(0, true);
    rows.push({ key: id, name: options.byProcess ? cString(value, 16, 16) : syscallLabel(id), count: Number(view.getBigUint64(0, true)), totalNs: Number(view.getBigUint64(8, true)) });
  }
  rows.sort((a, b) => (options.latency ? b.totalNs - a.totalNs : b.count - a.count) || a.key - b.key);
  return { rows };
}

/** Syscall counts per interval (or once at the end), until stopped. */
export function syscount(options: SyscountOptions = {}): AsyncGenerator<SyscountInterval> {
  const rodata = {
    target_tgid: options.pid ?? 0,
    target_tid: options.tid ?? 0,
    failures_only: options.failuresOnly ?? false,
    target_errno: options.errno ?? 0,
    by_process: options.byProcess ?? false,
    measure_latency: options.latency ?? false,
  };
  return intervalTool(() => openTool('syscount', rodata), (tool) => snapshot(tool, options), options);
}

const OPTIONS: OptionSpec[] = [
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'trace only this pid' },
  { short: 't', long: 'tid', kind: 'integer', value: 'TID', help: 'trace only this tid' },
  { short: 'i', long: 'interval', kind: 'number', value: 'SECONDS', help: 'print summary at this interval (seconds)' },
  { short: 'd', long: 'duration', kind: 'number', value: 'SECONDS', help: 'total duration of trace, in seconds' },
  { short: 'T', long: 'top', kind: 'integer', value: 'N', help: 'print only the top syscalls by count or latency (default 10)' },
  { short: 'x', long: 'failures', kind: 'flag', help: 'trace only failed syscalls (return < 0)' },
  { short: 'e', long: 'errno', kind: 'integer', value: 'ERRNO', help: 'trace only syscalls that return this error (numeric)' },
  { short: 'L', long: 'latency', kind: 'flag', help: 'collect syscall latency' },
  { short: 'm', long: 'milliseconds', kind: 'flag', help: 'display latency in milliseconds (default: microseconds)' },
  { short: 'P', long: 'process', kind: 'flag', help: 'count by process and not by syscall' },
];

const usage = formatUsage('syscount', '[options]', "Summarize syscall counts and latencies, as BCC's syscount prints them.", OPTIONS, [
  'tsbpf syscount             # count syscalls until Ctrl-C',
  'tsbpf syscount -p 181 -L   # PID 181 only, with latency',
  'tsbpf syscount -P -i 1     # count by process, every second',
]);

export function formatSyscount(interval: SyscountInterval, options: { byProcess: boolean; latency: boolean; milliseconds: boolean; top: number }): string {
  const keyColumn = options.byProcess ? 'PID    COMM' : 'SYSCALL';
  const label = (r: SyscountRow): string => (options.byProcess ? `${left(r.key, 6)} ${left(r.name, 15)}` : r.name);
  const rows = interval.rows.slice(0, options.top);
  const lines = [`[${clockTime()}]`];
  if (options.latency) {
    lines.push(`${left(keyColumn, 22)} ${right('COUNT', 8)} ${right(options.milliseconds ? 'TIME (ms)' : 'TIME (us)', 16)}`);
    for (const r of rows) lines.push(`${left(label(r), 22)} ${right(r.count, 8)} ${right((r.totalNs / (options.milliseconds ? 1e6 : 1e3)).toFixed(options.milliseconds ? 6 : 3), 16)}`);
  } else {
    lines.push(`${left(keyColumn, 22)} ${right('COUNT', 8)}`);
    for (const r of rows) lines.push(`${left(label(r), 22)} ${right(r.count, 8)}`);
  }
  return `${lines.join('\n')}\n\n`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values } = parseToolArgs(args, OPTIONS, 0);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const format = { byProcess: flag(values, 'process'), latency: flag(values, 'latency'), milliseconds: flag(values, 'milliseconds'), top: numberOption(values, 'top') ?? 10 };
  const intervals = syscount({
    signal,
    pid: numberOption(values, 'pid'),
    tid: numberOption(values, 'tid'),
    failuresOnly: flag(values, 'failures'),
    errno: numberOption(values, 'errno'),
    byProcess: format.byProcess,
    latency: format.latency,
    interval: numberOption(values, 'interval'),
    duration: numberOption(values, 'duration'),
    onReady: () => {
      if (!json) write(`Tracing ${flag(values, 'failures') ? 'failed ' : ''}syscalls, printing top ${format.top}... Ctrl+C to quit.\n`);
    },
  });
  for await (const interval of intervals) write(json ? jsonLine({ rows: interval.rows.slice(0, format.top) }) : formatSyscount(interval, format));
}

export const syscountTool: ToolDefinition = { name: 'syscount', summary: 'count syscalls per syscall or per process, with latency (BCC syscount)', usage, run };
