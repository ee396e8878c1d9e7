/**
 * perfmon (the performance-monitoring use case): per process, over each
 * interval, the time on CPU, the time blocked off CPU, and the run-queue
 * latency (total, mean, worst, count), from the scheduler's tracepoints.
 */
import { formatUsage, type OptionSpec, parseToolArgs, positiveInteger, positiveNumber } from './args.ts';
import { type ToolDefinition, flag, jsonLine, numberOption } from './definition.ts';
import { clockTime, left, right } from './format.ts';
import { type OpenTool, type ToolRunOptions, cString, intervalTool, openTool } from './runtime.ts';

export interface ProcessSummary {
  pid: number;
  comm: string;
  onCpuMs: number;
  offCpuMs: number;
  runqMs: number;
  /** Times the process's threads waited on a run queue. */
  runqCount: number;
  runqAvgUs: number;
  runqMaxUs: number;
  /** Context switches away from the process's threads. */
  switches: number;
}

export interface PerfmonInterval {
  /** Seconds this summary covers. */
  seconds: number;
  /** Processes sorted by CPU time, highest first. */
  processes: ProcessSummary[];
}

export interface PerfmonOptions extends ToolRunOptions {
  pid?: number;
  interval?: number;
  count?: number;
}

function snapshot(tool: OpenTool, since: { at: bigint }): PerfmonInterval {
  const now = process.hrtime.bigint();
  const seconds = Number(now - since.at) / 1e9;
  since.at = now;
  const processes: ProcessSummary[] = [];
  for (const [key, value] of tool.collection.map('processes').lookupAndDeleteBatch()) {
    const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
    const u64 = (at: number): number => Number(v.getBigUint64(at, true));
    const runqCount = u64(32);
    processes.push({
      pid: new DataView(key.buffer, key.byteOffset, key.byteLength).getUint32(0, true),
      comm: cString(value, 48, 16),
      onCpuMs: u64(0) / 1e6,
      offCpuMs: u64(8) / 1e6,
      runqMs: u64(16) / 1e6,
      runqCount,
      runqAvgUs: runqCount > 0 ? u64(16) / runqCount / 1e3 : 0,
      runqMaxUs: u64(24) / 1e3,
      switches: u64(40),
    });
  }
  processes.sort((a, b) => b.onCpuMs - a.onCpuMs || a.pid - b.pid);
  return { seconds, processes };
}

/** Per-process CPU, off-CPU and run-queue summaries per interval (or once at the end), until stopped. */
export function perfmon(options: PerfmonOptions = {}): AsyncGenerator<PerfmonInterval> {
  const since = { at: 0n };
  return intervalTool(
    () => {
      const tool = openTool('perfmon', { target_tgid: options.pid ?? 0 });
      since.at = process.hrtime.bigint();
      return tool;
    },
    (tool) => snapshot(tool, since),
    options,
  );
}

const OPTIONS: OptionSpec[] = [
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'this process only' },
  { short: 'T', long: 'top', kind: 'integer', value: 'N', help: 'print only the N processes with the most CPU time (default 20)' },
  { long: 'timestamp', kind: 'flag', help: 'accepted for symmetry; every summary starts with its time' },
];

const usage = formatUsage('perfmon', '[options] [interval [count]]', 'Per-process CPU time, off-CPU (blocked) time and run-queue latency over each interval, from sched_switch and sched_wakeup (no sampling: every context switch is counted).', OPTIONS, [
  'tsbpf perfmon 1        # one summary a second until Ctrl-C',
  'tsbpf perfmon 5 3      # three 5-second summaries',
  'tsbpf perfmon -p 185 1 # PID 185 only',
]);

export const PERFMON_HEADER = `${left('PID', 7)} ${left('COMM', 16)} ${right('ON-CPU ms', 10)} ${right('OFF-CPU ms', 11)} ${right('RUNQ ms', 9)} ${right('RUNQ AVG us', 12)} ${right('RUNQ MAX us', 12)} ${right('SWITCHES', 9)}`;

export function formatPerfmon(interval: PerfmonInterval, top: number): string {
  const rows = interval.processes.slice(0, top).map(
    (p) =>
      `${left(p.pid, 7)} ${left(p.comm, 16)} ${right(p.onCpuMs.toFixed(1), 10)} ${right(p.offCpuMs.toFixed(1), 11)} ${right(p.runqMs.toFixed(2), 9)} ${right(p.runqAvgUs.toFixed(1), 12)} ${right(p.runqMaxUs.toFixed(1), 12)} ${right(p.switches, 9)}`,
  );
  return `${clockTime()}  ${interval.seconds.toFixed(2)} s, ${interval.processes.length} processes\n${PERFMON_HEADER}\n${rows.join('\n')}${rows.length > 0 ? '\n' : ''}\n`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values, positional } = parseToolArgs(args, OPTIONS, 2);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const top = numberOption(values, 'top') ?? 20;
  const intervals = perfmon({
    signal,
    pid: numberOption(values, 'pid'),
    interval: positiveNumber(positional[0], 'interval'),
    count: positiveInteger(positional[1], 'count'),
    onReady: () => {
      if (!json) write('Tracing CPU, off-CPU and run queue time per process... Hit Ctrl-C to end.\n\n');
    },
  });
  for await (const interval of intervals) write(json ? jsonLine({ time: clockTime(), ...interval, processes: interval.processes.slice(0, top) }) : formatPerfmon(interval, top));
}

export const perfmonTool: ToolDefinition = { name: 'perfmon', summary: 'per-process CPU time, off-CPU time and run queue latency per interval', usage, run };
