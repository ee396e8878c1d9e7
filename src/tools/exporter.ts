/**
 * tsbpf's tools as the exporter's metric sources (`tool:` in a config).
 * Each factory starts its tool in the background: interval tools
 * (biolatency, runqlat, syscount) drain their maps every `interval` seconds
 * into cumulative totals, event tools (execsnoop, opensnoop) count their
 * events as they arrive; a scrape reads the totals. src/export is used for
 * its types only, so the exporter does not depend on the tools.
 */
import { constants } from 'node:os';
import type { ExportedProgram, MetricTool, ToolFactory, ToolHistogramValue, ToolMetric, ToolOptions, ToolValue } from '../export/index.ts';
import { biolatency } from './biolatency.ts';
import { ToolError } from './errors.ts';
import { execsnoop } from './execsnoop.ts';
import type { HistogramBucket } from './format.ts';
import { opensnoop } from './opensnoop.ts';
import { runqlat } from './runqlat.ts';
import type { LoadedTool, ToolRunOptions } from './runtime.ts';
import { syscount } from './syscount.ts';

/** Log2 slots kept as buckets: upper bounds 2 µs to 2^26 µs (67 s); slower values land above the last bound. */
const LOG2_SLOTS = 26;
const LOG2_BOUNDS_SECONDS = Array.from({ length: LOG2_SLOTS }, (_, i) => 2 ** (i + 1) / 1e6);

const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, number]) => [number, name]));

/** The programs a running tool loaded, as the exporter lists them (`ebpf_program_*` metrics). */
function exportedPrograms(loaded: LoadedTool): ExportedProgram[] {
  return Object.entries(loaded.collection.programs).map(([name, program]) => {
    const link = loaded.links.links[name];
    const skipped = loaded.links.skipped[name];
    const attachment: ExportedProgram['attachment'] = link !== undefined ? { attached: true, description: link.description } : { attached: false, reason: skipped ?? 'not attached by the tool' };
    return { name, attachment, info: () => program.info() };
  });
}

/** Counts per label set, summed as the tool reports them. */
class Totals {
  readonly #values = new Map<string, { labels: string[]; value: number }>();

  add(labels: string[], amount: number): void {
    const key = JSON.stringify(labels);
    const entry = this.#values.get(key);
    if (entry === undefined) this.#values.set(key, { labels, value: amount });
    else entry.value += amount;
  }

  read(): ToolValue[] {
    return [...this.#values.values()].map(({ labels, value }) => ({ labels, value }));
  }
}

/** Log2 histograms per label set, in seconds, from the tools' µs buckets. */
class Log2Totals {
  readonly #values = new Map<string, { labels: string[]; counts: number[] }>();

  add(labels: string[], buckets: readonly HistogramBucket[]): void {
    const key = JSON.stringify(labels);
    let entry = this.#values.get(key);
    if (entry === undefined) {
      entry = { labels, counts: new Array<number>(LOG2_SLOTS + 1).fill(0) };
      this.#values.set(key, entry);
    }
    // Bucket `high` is 2^slot - 1 µs; the first (0 -> 1) is slot 1.
    for (const bucket of buckets) entry.counts[Math.min(Math.log2(bucket.high + 1) - 1, LOG2_SLOTS)]! += bucket.count;
  }

  read(): ToolHistogramValue[] {
    return [...this.#values.values()].map(({ labels, counts }) => ({ labels, counts: [...counts] }));
  }
}

/**
 * Runs `stream` in the background with a stop signal: resolves once the
 * tool's programs are attached (or rejects with why it could not start);
 * `consume` sees each item; close() stops the tool and waits until its
 * programs are gone.
 */
async function runInBackground<T>(stream: (run: ToolRunOptions) => AsyncIterable<T>, consume: (item: T) => void, metrics: ToolMetric[]): Promise<MetricTool> {
  const controller = new AbortController();
  let programs: ExportedProgram[] = [];
  let ready!: () => void;
  const started = new Promise<void>((resolve) => (ready = resolve));
  const running = (async () => {
    for await (const item of stream({ signal: controller.signal, onReady: (loaded) => ((programs = loaded ? exportedPrograms(loaded) : []), ready()) })) consume(item);
  })();
  await Promise.race([started, running.then(() => Promise.reject(new ToolError('the tool stopped before its programs were attached')))]);
  // A tool failing later stops its totals from growing; close() still waits for its cleanup.
  const finished = running.catch(() => undefined);
  return {
    get programs() {
      return programs;
    },
    metrics,
    close: async () => {
      controller.abort();
      await finished;
    },
  };
}

/** Seconds between two reads of an interval tool's maps: how stale a scrape may be. */
const intervalOption = (options: ToolOptions): number => options.integer('interval', 1, 1, 3600);

/** An optional pid filter (0: every process). */
const pidOption = (options: ToolOptions): number | undefined => options.integer('pid', 0, 0, 2 ** 22) || undefined;

const biolatencyFactory: ToolFactory = (options) => {
  const perDisk = options.boolean('per_disk', false);
  const queued = options.boolean('queued', false);
  const interval = intervalOption(options);
  const totals = new Log2Totals();
  const labelNames = perDisk ? ['disk'] : [];
  return runInBackground(
    (run) => biolatency({ ...run, perDisk, queued, interval }),
    (histograms) => {
      for (const histogram of histograms) totals.add(perDisk ? [histogram.disk ?? ''] : [], histogram.buckets);
    },
    [{ type: 'histogram', name: 'block_io_latency_seconds', help: `Block I/O latency${queued ? ' from insertion in the OS queue' : ' from issue to the device'} to completion (log2 buckets)`, labelNames, bounds: LOG2_BOUNDS_SECONDS, read: () => totals.read() }],
  );
};

const runqlatFactory: ToolFactory = (options) => {
  const pid = pidOption(options);
  const interval = intervalOption(options);
  const totals = new Log2Totals();
  return runInBackground(
    (run) => runqlat({ ...run, ...(pid !== undefined ? { pid } : {}), interval }),
    (histograms) => {
      for (const histogram of histograms) totals.add([], histogram.buckets);
    },
    [{ type: 'histogram', name: 'run_queue_latency_seconds', help: 'Time tasks waited on a CPU run queue before running (log2 buckets)', labelNames: [], bounds: LOG2_BOUNDS_SECONDS, read: () => totals.read() }],
  );
};

const syscountFactory: ToolFactory = (options) => {
  const perProcess = options.boolean('per_process', false);
  const latency = options.boolean('latency', false);
  const failuresOnly = options.boolean('failures_only', false);
  const pid = pidOption(options);
  const interval = intervalOption(options);
  const calls = new Totals();
  const seconds = new Totals();
  const labelNames = [perProcess ? 'comm' : 'syscall'];
  const metrics: ToolMetric[] = [{ type: 'counter', name: 'syscalls_total', help: `System calls${failuresOnly ? ' that failed' : ''}, per ${perProcess ? 'process name' : 'syscall'}`, labelNames, read: () => calls.read() }];
  if (latency) metrics.push({ type: 'counter', name: 'syscall_seconds_total', help: `Time spent in system calls, per ${perProcess ? 'process name' : 'syscall'}`, labelNames, read: () => seconds.read() });
  return runInBackground(
    (run) => syscount({ ...run, byProcess: perProcess, latency, failuresOnly, ...(pid !== undefined ? { pid } : {}), interval }),
    ({ rows }) => {
      for (const row of rows) {
        calls.add([row.name], row.count);
        if (latency) seconds.add([row.name], row.totalNs / 1e9);
      }
    },
    metrics,
  );
};

const execsnoopFactory: ToolFactory = (options) => {
  const includeFailed = options.boolean('include_failed', false);
  const cgroup = options.string('cgroup', '');
  const execs = new Totals();
  const labelNames = includeFailed ? ['comm', 'error'] : ['comm'];
  return runInBackground(
    (run) => execsnoop({ ...run, includeFailed, ...(cgroup !== '' ? { cgroup } : {}), maxArgs: 1 }),
    (event) => execs.add(includeFailed ? [event.comm, event.ret < 0 ? (ERRNO_NAMES.get(-event.ret) ?? String(-event.ret)) : ''] : [event.comm], 1),
    [{ type: 'counter', name: 'execs_total', help: `exec() calls${includeFailed ? ' (error: the errno of a failed one, empty on success)' : ' that succeeded'}, per process name after the exec`, labelNames, read: () => execs.read() }],
  );
};

const opensnoopFactory: ToolFactory = (options) => {
  const failedOnly = options.boolean('failed_only', false);
  const name = options.string('name', '');
  const pid = pidOption(options);
  const opens = new Totals();
  return runInBackground(
    (run) => opensnoop({ ...run, failedOnly, ...(name !== '' ? { name } : {}), ...(pid !== undefined ? { pid } : {}) }),
    (event) => opens.add([event.comm, event.errno === 0 ? '' : (ERRNO_NAMES.get(event.errno) ?? String(event.errno))], 1),
    [{ type: 'counter', name: 'opens_total', help: 'open(), openat() and openat2() calls per process name; error: the errno of a failed one, empty on success', labelNames: ['comm', 'error'], read: () => opens.read() }],
  );
};

/** The tools the exporter can run, by the name a config's `tool:` gives. */
export const EXPORTER_TOOLS: Readonly<Record<string, ToolFactory>> = {
  biolatency: biolatencyFactory,
  runqlat: runqlatFactory,
  syscount: syscountFactory,
  execsnoop: execsnoopFactory,
  opensnoop: opensnoopFactory,
};
