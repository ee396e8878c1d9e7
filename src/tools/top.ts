/**
 * `tsbpf top`: the BPF programs loaded in the kernel with their run count
 * and run time per second, refreshed like top. Run-time statistics are
 * switched on with BPF_ENABLE_STATS for as long as the tool runs (the same
 * switch as the kernel.bpf_stats_enabled sysctl, which is left untouched):
 * closing the returned fd switches them back off, even if tsbpf is killed.
 */
import { enableRunTimeStats, listIds, programInfo, withObjectFd } from '../kernel/index.ts';
import { programTypeName } from '../uapi/index.ts';
import { formatUsage, type OptionSpec, parseToolArgs } from './args.ts';
import { type ToolDefinition, flag, jsonLine, numberOption } from './definition.ts';
import { ToolUsageError } from './errors.ts';
import { clockTime, left, right } from './format.ts';
import { type ToolRunOptions, sleep, stopSignal } from './runtime.ts';

export interface ProgramActivity {
  id: number;
  type: string;
  name: string;
  runsPerSecond: number;
  runTimeNsPerSecond: number;
  /** Mean nanoseconds per run over the interval (0 when it did not run). */
  averageRunNs: number;
  /** Run time as a share of one CPU. */
  cpuPercent: number;
  /** Totals since statistics were switched on. */
  runCount: bigint;
  runTimeNs: bigint;
}

export interface TopSnapshot {
  seconds: number;
  programs: ProgramActivity[];
}

export interface TopOptions extends ToolRunOptions {
  /** Seconds between refreshes (default 1). */
  delay?: number;
  /** Refreshes before stopping. */
  iterations?: number;
}

interface Totals {
  type: number;
  name: string;
  runCount: bigint;
  runTimeNs: bigint;
}

function readTotals(): Map<number, Totals> {
  const totals = new Map<number, Totals>();
  for (const id of listIds('prog')) {
    // A program unloaded between listing and opening is simply gone.
    const info = withObjectFd('prog', id, (fd) => programInfo(fd));
    if (info) totals.set(id, { type: info.type, name: info.name, runCount: info.runCount, runTimeNs: info.runTimeNs });
  }
  return totals;
}

/** Program activity per refresh, busiest first, until stopped. */
export async function* bpfTop(options: TopOptions = {}): AsyncGenerator<TopSnapshot> {
  const delay = options.delay ?? 1;
  if (!(delay > 0)) throw new ToolUsageError(`the delay must be a positive number of seconds, got ${delay}`);
  const stop = stopSignal(options);
  const stats = enableRunTimeStats();
  try {
    let before = readTotals();
    let at = process.hrtime.bigint();
    options.onReady?.();
    for (let shown = 0; options.iterations === undefined || shown < options.iterations; shown++) {
      const stopped = await sleep(delay * 1000, stop.signal);
      const now = process.hrtime.bigint();
      const seconds = Number(now - at) / 1e9;
      const after = readTotals();
      const programs: ProgramActivity[] = [];
      for (const [id, t] of after) {
        const previous = before.get(id);
        const runs = Number(t.runCount - (previous?.runCount ?? 0n));
        const timeNs = Number(t.runTimeNs - (previous?.runTimeNs ?? 0n));
        programs.push({
          id,
          type: programTypeName(t.type).toLowerCase(),
          name: t.name,
          runsPerSecond: runs / seconds,
          runTimeNsPerSecond: timeNs / seconds,
          averageRunNs: runs > 0 ? timeNs / runs : 0,
          cpuPercent: (100 * timeNs) / (seconds * 1e9),
          runCount: t.runCount,
          runTimeNs: t.runTimeNs,
        });
      }
      programs.sort((a, b) => b.runTimeNsPerSecond - a.runTimeNsPerSecond || b.runsPerSecond - a.runsPerSecond || a.id - b.id);
      yield { seconds, programs };
      before = after;
      at = now;
      if (stopped) break;
    }
  } finally {
    stats.close();
    stop.dispose();
  }
}

const OPTIONS: OptionSpec[] = [
  { short: 'd', long: 'delay', kind: 'number', value: 'SECONDS', help: 'seconds between refreshes (default 1)' },
  { short: 'n', long: 'iterations', kind: 'integer', value: 'N', help: 'stop after N refreshes' },
  { short: 'm', long: 'max', kind: 'integer', value: 'N', help: 'show at most N programs (default: all)' },
];

const usage = formatUsage('top', '[options]', 'Show the BPF programs loaded in the kernel, busiest first, with run count and run time per second, refreshed like top. Statistics are on only while it runs (BPF_ENABLE_STATS).', OPTIONS, [
  'tsbpf top              # refresh every second until Ctrl-C (q does not quit: use Ctrl-C)',
  'tsbpf top -d 2 -n 5    # five refreshes, two seconds apart',
  'tsbpf top --json -n 1  # one JSON snapshot',
]);

export const TOP_HEADER = `${right('ID', 7)} ${left('TYPE', 16)} ${left('NAME', 16)} ${right('RUNS/s', 10)} ${right('RUN TIME/s', 12)} ${right('AVG ns', 9)} ${right('%CPU', 6)}`;

export function formatTop(snapshot: TopSnapshot, max: number): string {
  const rows = snapshot.programs
    .slice(0, max)
    .map(
      (p) =>
        `${right(p.id, 7)} ${left(p.type, 16)} ${left(p.name || '-', 16)} ${right(p.runsPerSecond.toFixed(0), 10)} ${right(`${(p.runTimeNsPerSecond / 1e3).toFixed(1)} us`, 12)} ${right(p.averageRunNs.toFixed(0), 9)} ${right(p.cpuPercent.toFixed(2), 6)}`,
    );
  return `tsbpf top - ${clockTime()}  ${snapshot.programs.length} programs, ${snapshot.seconds.toFixed(2)} s interval\n\n${TOP_HEADER}\n${rows.join('\n')}\n`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values } = parseToolArgs(args, OPTIONS, 0);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const max = numberOption(values, 'max') ?? Infinity;
  // On a terminal each refresh replaces the last, as top; piped, snapshots follow each other.
  const clear = !json && process.stdout.isTTY ? '\x1b[H\x1b[2J' : '';
  for await (const snapshot of bpfTop({ signal, delay: numberOption(values, 'delay'), iterations: numberOption(values, 'iterations') })) {
    write(json ? jsonLine({ time: clockTime(), ...snapshot, programs: snapshot.programs.slice(0, max) }) : `${clear}${formatTop(snapshot, max)}${clear ? '' : '\n'}`);
  }
}

export const topTool: ToolDefinition = { name: 'top', summary: 'loaded BPF programs with run count and run time per second, refreshed like top', usage, run };
