/** biolatency: block device I/O latency as log2 histograms, overall or per disk. */
import { readFileSync, readdirSync } from 'node:fs';
import { formatUsage, type OptionSpec, parseToolArgs, positiveInteger, positiveNumber } from './args.ts';
import { type ToolDefinition, flag, jsonLine } from './definition.ts';
import { clockTime, formatLog2Histogram, type HistogramBucket, log2Buckets } from './format.ts';
import { type ToolRunOptions, drainHistograms, intervalTool, openTool } from './runtime.ts';

export interface BiolatencyHistogram {
  /** The disk's name with `perDisk` (`loop0`, `sda`), else undefined. */
  disk?: string;
  unit: 'usecs' | 'msecs';
  buckets: HistogramBucket[];
  /** I/Os counted in this histogram. */
  total: number;
}

export interface BiolatencyOptions extends ToolRunOptions {
  milliseconds?: boolean;
  perDisk?: boolean;
  /** Include the time requests waited in the OS queue (from insert, not issue). */
  queued?: boolean;
  interval?: number;
  count?: number;
}

/** Disk names by dev_t (MAJOR << 20 | MINOR, as the kernel stores it), from /sys/class/block. */
function diskNames(): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const name of readdirSync('/sys/class/block')) {
      const [major, minor] = readFileSync(`/sys/class/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
      if (major !== undefined && minor !== undefined) names.set((major << 20) | minor, name);
    }
  } catch {
    // no sysfs: disks are shown by number
  }
  return names;
}

/** Latency histograms per interval (or once at the end), until stopped. */
export function biolatency(options: BiolatencyOptions = {}): AsyncGenerator<BiolatencyHistogram[]> {
  const unit = options.milliseconds ? 'msecs' : 'usecs';
  const rodata = { include_queued: options.queued ?? false, per_disk: options.perDisk ?? false, in_msecs: options.milliseconds ?? false };
  return intervalTool(
    () => openTool('biolatency', rodata, {}, options.queued ? undefined : ['on_issue', 'on_complete']),
    (tool) => {
      const names = options.perDisk ? diskNames() : new Map<number, string>();
      return [...drainHistograms(tool.collection.map('hist'))]
        .sort(([a], [b]) => a - b)
        .map(([dev, slots]) => {
          const buckets = log2Buckets(slots);
          const total = buckets.reduce((sum, b) => sum + b.count, 0);
          return { ...(options.perDisk ? { disk: names.get(dev) ?? `${dev >>> 20}:${dev & 0xfffff}` } : {}), unit, buckets, total };
        });
    },
    options,
  );
}

const OPTIONS: OptionSpec[] = [
  { short: 'T', long: 'timestamp', kind: 'flag', help: 'include timestamp on output' },
  { short: 'm', long: 'milliseconds', kind: 'flag', help: 'millisecond histogram' },
  { short: 'Q', long: 'queued', kind: 'flag', help: 'include OS queued time in I/O time' },
  { short: 'D', long: 'disks', kind: 'flag', help: 'print a histogram per disk device' },
];

const usage = formatUsage('biolatency', '[options] [interval [count]]', "Summarize block device I/O latency as a histogram, as BCC's biolatency prints it.", OPTIONS, [
  'tsbpf biolatency         # summarize block I/O latency as a histogram',
  'tsbpf biolatency 1 10    # print 1 second summaries, 10 times',
  'tsbpf biolatency -mT 1   # 1s summaries, milliseconds, and timestamps',
  'tsbpf biolatency -Q      # include OS queued time in I/O time',
  'tsbpf biolatency -D      # show each disk device separately',
]);

export function formatBiolatency(histograms: readonly BiolatencyHistogram[]): string {
  return histograms.map((h) => `${h.disk !== undefined ? `\ndisk = ${h.disk}\n` : ''}${formatLog2Histogram(h.buckets, h.unit)}`).join('');
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values, positional } = parseToolArgs(args, OPTIONS, 2);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const intervals = biolatency({
    signal,
    milliseconds: flag(values, 'milliseconds'),
    perDisk: flag(values, 'disks'),
    queued: flag(values, 'queued'),
    interval: positiveNumber(positional[0], 'interval'),
    count: positiveInteger(positional[1], 'count'),
    onReady: () => {
      if (!json) write('Tracing block device I/O... Hit Ctrl-C to end.\n');
    },
  });
  for await (const histograms of intervals) {
    if (json) {
      for (const h of histograms) write(jsonLine({ time: clockTime(), ...h }));
      continue;
    }
    write(`\n${flag(values, 'timestamp') ? `${clockTime()}\n` : ''}${formatBiolatency(histograms)}`);
  }
}

export const biolatencyTool: ToolDefinition = { name: 'biolatency', summary: 'block I/O latency as log2 histograms, per disk with -D (BCC biolatency)', usage, run };
