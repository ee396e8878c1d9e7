/** offcputime: time threads spent blocked off-CPU, summed per stack trace. */
import { formatUsage, type OptionSpec, parseToolArgs, positiveNumber } from './args.ts';
import { type ToolDefinition, flag, jsonLine, numberOption } from './definition.ts';
import { ToolUsageError } from './errors.ts';
import { type ToolRunOptions, intervalTool, openTool } from './runtime.ts';
import { type StackFormat, StackNamer, type StackSample, foldedLine, readStackSamples, stackBlock } from './stacks.ts';

export interface OffcputimeOptions extends ToolRunOptions {
  pid?: number;
  tid?: number;
  userThreadsOnly?: boolean;
  kernelThreadsOnly?: boolean;
  /** Only blocks of at least this many microseconds (default 1). */
  minBlockUs?: number;
  maxBlockUs?: number;
  /** Only tasks leaving the CPU in this state (2: TASK_UNINTERRUPTIBLE...). */
  state?: number;
}

/** Traces until stopped, then every off-CPU stack with its total microseconds (`value`), smallest first. */
export async function offcputime(options: OffcputimeOptions = {}): Promise<StackSample[]> {
  if (options.userThreadsOnly && options.kernelThreadsOnly) throw new ToolUsageError('user threads only (-u) and kernel threads only (-k) exclude each other');
  const rodata = {
    target_tgid: options.pid ?? 0,
    target_tid: options.tid ?? 0,
    user_threads_only: options.userThreadsOnly ?? false,
    kernel_threads_only: options.kernelThreadsOnly ?? false,
    min_block_us: options.minBlockUs ?? 1,
    max_block_us: options.maxBlockUs ?? 2n ** 64n - 1n,
    state_filter: options.state ?? -1,
  };
  const namer = new StackNamer();
  if (options.pid !== undefined) namer.remember(options.pid);
  let result: StackSample[] = [];
  for await (const samples of intervalTool(
    () => openTool('offcputime', rodata),
    (tool) => readStackSamples(tool.collection.map('offcpu_us'), tool.collection.map('stacks'), namer),
    options,
  ))
    result = samples;
  return result;
}

const OPTIONS: OptionSpec[] = [
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'trace this PID only' },
  { short: 't', long: 'tid', kind: 'integer', value: 'TID', help: 'trace this TID only' },
  { short: 'u', long: 'user-threads-only', kind: 'flag', help: 'user threads only (no kernel threads)' },
  { short: 'k', long: 'kernel-threads-only', kind: 'flag', help: 'kernel threads only (no user threads)' },
  { short: 'U', long: 'user-stacks-only', kind: 'flag', help: 'show stacks from user space only (no kernel space stacks)' },
  { short: 'K', long: 'kernel-stacks-only', kind: 'flag', help: 'show stacks from kernel space only (no user space stacks)' },
  { short: 'd', long: 'delimited', kind: 'flag', help: 'insert delimiter between kernel/user stacks' },
  { short: 'f', long: 'folded', kind: 'flag', help: 'output folded format' },
  { short: 'm', long: 'min-block-time', kind: 'integer', value: 'US', help: 'the amount of time in microseconds over which we store traces (default 1)' },
  { short: 'M', long: 'max-block-time', kind: 'integer', value: 'US', help: 'the amount of time in microseconds under which we store traces' },
  { long: 'state', kind: 'integer', value: 'STATE', help: 'filter on this thread state bitmask (eg, 2 == TASK_UNINTERRUPTIBLE)' },
];

const usage = formatUsage('offcputime', '[options] [duration]', "Summarize off-CPU time by stack trace, as BCC's offcputime prints it (microseconds).", OPTIONS, [
  'tsbpf offcputime             # trace off-CPU stack time until Ctrl-C',
  'tsbpf offcputime 5           # trace for 5 seconds only',
  'tsbpf offcputime -f 5        # 5 seconds, and output in folded format',
  'tsbpf offcputime -m 1000     # trace only events that last more than 1000 usec',
  'tsbpf offcputime -p 185      # only trace threads for PID 185',
]);

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values, positional } = parseToolArgs(args, OPTIONS, 1);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const folded = flag(values, 'folded');
  const format: StackFormat = { userOnly: flag(values, 'user-stacks-only'), kernelOnly: flag(values, 'kernel-stacks-only'), delimited: flag(values, 'delimited') };
  if (format.userOnly && format.kernelOnly) throw new ToolUsageError('-U and -K exclude each other');
  const pid = numberOption(values, 'pid');
  const duration = positiveNumber(positional[0], 'duration');
  const samples = await offcputime({
    signal,
    pid,
    tid: numberOption(values, 'tid'),
    userThreadsOnly: flag(values, 'user-threads-only'),
    kernelThreadsOnly: flag(values, 'kernel-threads-only'),
    minBlockUs: numberOption(values, 'min-block-time'),
    maxBlockUs: numberOption(values, 'max-block-time'),
    state: numberOption(values, 'state'),
    duration,
    onReady: () => {
      if (json || folded) return;
      const who = pid !== undefined ? `PID [${pid}]` : 'all threads';
      const stacks = format.userOnly ? 'user' : format.kernelOnly ? 'kernel' : 'user + kernel';
      write(`Tracing off-CPU time (us) of ${who} by ${stacks} stack${duration !== undefined ? ` for ${duration} secs.` : '... Hit Ctrl-C to end.'}\n`);
    },
  });
  if (json) for (const s of samples) write(jsonLine(s));
  else if (folded) for (const s of samples) write(`${foldedLine(s, format)}\n`);
  else write(samples.map((s) => stackBlock(s, format)).join(''));
}

export const offcputimeTool: ToolDefinition = { name: 'offcputime', summary: 'off-CPU time summed per stack trace, folded with -f (BCC offcputime)', usage, run };
