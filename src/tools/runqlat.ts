/** runqlat: scheduler run-queue latency as log2 histograms, overall, per process or per thread. */
import { formatUsage, type OptionSpec, parseToolArgs, positiveInteger, positiveNumber } from './args.ts';
import { type ToolDefinition, flag, jsonLine, numberOption } from './definition.ts';
import { ToolUsageError } from './errors.ts';
import { clockTime, formatLog2Histogram, type HistogramBucket, log2Buckets } from './format.ts';
import { type ToolRunOptions, cString, drainHistograms, intervalTool, openTool } from './runtime.ts';

export interface RunqlatHistogram {
  /** The process id (`perProcess`) or thread id (`perThread`), else undefined. */
  id?: number;
  comm?: string;
  unit: 'usecs' | 'msecs';
  buckets: HistogramBucket[];
  total: number;
}

export interface RunqlatOptions extends ToolRunOptions {
  milliseconds?: boolean;
  perProcess?: boolean;
  perThread?: boolean;
  pid?: number;
  interval?: number;
  count?: number;
}

/** Run-queue latency histograms per interval (or once at the end), until stopped. */
export function runqlat(options: RunqlatOptions = {}): AsyncGenerator<RunqlatHistogram[]> {
  if (options.perProcess && options.perThread) throw new ToolUsageError('per process (-P) and per thread (-L) exclude each other');
  const unit = options.milliseconds ? 'msecs' : 'usecs';
  const grouped = options.perProcess || options.perThread;
  const rodata = { group_by: options.perProcess ? 1 : options.perThread ? 2 : 0, target_tgid: options.pid ?? 0, in_msecs: options.milliseconds ?? false };
  return intervalTool(
    () => openTool('runqlat', rodata),
    (tool) => {
      const names = grouped ? tool.collection.map('names') : undefined;
      const histograms = [...drainHistograms(tool.collection.map('hist'))].sort(([a], [b]) => a - b);
      return histograms.map(([id, slots]) => {
        const buckets = log2Buckets(slots);
        const total = buckets.reduce((sum, b) => sum + b.count, 0);
        if (!grouped) return { unit, buckets, total };
        const key = new Uint8Array(4);
        new DataView(key.buffer).setUint32(0, id, true);
        const comm = names?.lookup(key);
        return { id, ...(comm ? { comm: cString(comm, 0, 16) } : {}), unit, buckets, total };
      });
    },
    options,
  );
}

const OPTIONS: OptionSpec[] = [
  { short: 'T', long: 'timestamp', kind: 'flag', help: 'include timestamp on output' },
  { short: 'm', long: 'milliseconds', kind: 'flag', help: 'millisecond histogram' },
  { short: 'P', long: 'pids', kind: 'flag', help: 'print a histogram per process ID' },
  { short: 'L', long: 'tids', kind: 'flag', help: 'print a histogram per thread ID' },
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'trace this PID only' },
];

const usage = formatUsage('runqlat', '[options] [interval [count]]', "Summarize run queue (scheduler) latency as a histogram, as BCC's runqlat prints it.", OPTIONS, [
  'tsbpf runqlat            # summarize run queue latency as a histogram',
  'tsbpf runqlat 1 10       # print 1 second summaries, 10 times',
  'tsbpf runqlat -mT 1      # 1s summaries, milliseconds, and timestamps',
  'tsbpf runqlat -P         # show each PID separately',
  'tsbpf runqlat -p 185     # trace PID 185 only',
]);

export function formatRunqlat(histograms: readonly RunqlatHistogram[], label: 'pid' | 'tid' | undefined): string {
  return histograms.map((h) => `${label !== undefined ? `\n${label} = ${h.id}\n` : ''}${formatLog2Histogram(h.buckets, h.unit)}`).join('');
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values, positional } = parseToolArgs(args, OPTIONS, 2);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const label = flag(values, 'pids') ? 'pid' : flag(values, 'tids') ? 'tid' : undefined;
  const intervals = runqlat({
    signal,
    milliseconds: flag(values, 'milliseconds'),
    perProcess: flag(values, 'pids'),
    perThread: flag(values, 'tids'),
    pid: numberOption(values, 'pid'),
    interval: positiveNumber(positional[0], 'interval'),
    count: positiveInteger(positional[1], 'count'),
    onReady: () => {
      if (!json) write('Tracing run queue latency... Hit Ctrl-C to end.\n');
    },
  });
  for await (const histograms of intervals) {
    if (json) {
      for (const h of histograms) write(jsonLine({ time: clockTime(), ...h }));
      continue;
    }
    write(`\n${flag(values, 'timestamp') ? `${clockTime()}\n` : ''}${formatRunqlat(histograms, label)}`);
  }
}

export const runqlatTool: ToolDefinition = { name: 'runqlat', summary: 'run queue (scheduler) latency as log2 histograms, per PID/TID with -P/-L (BCC runqlat)', usage, run };
