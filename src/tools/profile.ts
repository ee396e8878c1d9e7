/** profile: timed sampling of on-CPU stacks, printed as BCC does, folded (-f), or as an SVG flame graph (--svg). */
import { writeFileSync } from 'node:fs';
import { formatUsage, type OptionSpec, parseToolArgs, positiveNumber } from './args.ts';
import { type ToolDefinition, flag, jsonLine, numberOption, stringOption } from './definition.ts';
import { ToolError, ToolUsageError } from './errors.ts';
import { flameGraphSvg } from './flamegraph.ts';
import { type ToolRunOptions, intervalTool, openTool } from './runtime.ts';
import { type StackFormat, StackNamer, type StackSample, foldedLine, readStackSamples, stackBlock } from './stacks.ts';

export interface ProfileOptions extends ToolRunOptions {
  /** Samples per second on each CPU (default 49, as BCC). */
  frequency?: number;
  pid?: number;
  tid?: number;
  userStacksOnly?: boolean;
  kernelStacksOnly?: boolean;
  includeIdle?: boolean;
}

/** Samples until stopped (duration or signal), then every sampled stack with its count, fewest first. */
export async function profile(options: ProfileOptions = {}): Promise<StackSample[]> {
  const frequency = options.frequency ?? 49;
  if (!Number.isInteger(frequency) || frequency < 1 || frequency > 100_000) throw new ToolUsageError(`the frequency must be an integer from 1 to 100000 Hz, got ${frequency}`);
  if (options.userStacksOnly && options.kernelStacksOnly) throw new ToolUsageError('user stacks only (-U) and kernel stacks only (-K) exclude each other');
  const rodata = {
    target_tgid: options.pid ?? 0,
    target_tid: options.tid ?? 0,
    user_stacks_only: options.userStacksOnly ?? false,
    kernel_stacks_only: options.kernelStacksOnly ?? false,
    include_idle: options.includeIdle ?? false,
  };
  const namer = new StackNamer();
  // The target's mappings are read while it runs, so that its frames can be named even if it exits before the report.
  if (options.pid !== undefined) namer.remember(options.pid);
  let result: StackSample[] = [];
  for await (const samples of intervalTool(
    () => openTool('profile', rodata, { perfEvent: { frequency } }),
    (tool) => readStackSamples(tool.collection.map('counts'), tool.collection.map('stacks'), namer),
    options,
  ))
    result = samples;
  return result;
}

const OPTIONS: OptionSpec[] = [
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'profile this PID only' },
  { short: 'L', long: 'tid', kind: 'integer', value: 'TID', help: 'profile this thread only' },
  { short: 'U', long: 'user-stacks-only', kind: 'flag', help: 'show stacks from user space only (no kernel space stacks)' },
  { short: 'K', long: 'kernel-stacks-only', kind: 'flag', help: 'show stacks from kernel space only (no user space stacks)' },
  { short: 'F', long: 'frequency', kind: 'integer', value: 'HZ', help: 'sample frequency, Hertz (default 49)' },
  { short: 'd', long: 'delimited', kind: 'flag', help: 'insert delimiter between kernel/user stacks' },
  { short: 'I', long: 'include-idle', kind: 'flag', help: 'include CPU idle stacks' },
  { short: 'f', long: 'folded', kind: 'flag', help: 'output folded format, one line per stack (for flame graphs)' },
  { long: 'svg', kind: 'string', value: 'FILE', help: 'also write an SVG flame graph to FILE' },
];

const usage = formatUsage('profile', '[options] [duration]', "Profile CPU stack traces at a timed interval, as BCC's profile prints them; -f prints folded stacks for flamegraph.pl or speedscope, --svg draws the flame graph itself. Kernel frames are named from /proc/kallsyms, user frames from the ELF symbols of the process's files.", OPTIONS, [
  'tsbpf profile                  # profile stack traces at 49 Hertz until Ctrl-C',
  'tsbpf profile -F 99 5          # profile at 99 Hertz for 5 seconds only',
  'tsbpf profile -p 185 -f 10     # PID 185 for 10 seconds, folded',
  'tsbpf profile -F 999 --svg cpu.svg 10',
]);

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values, positional } = parseToolArgs(args, OPTIONS, 1);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const format: StackFormat = { userOnly: flag(values, 'user-stacks-only'), kernelOnly: flag(values, 'kernel-stacks-only'), delimited: flag(values, 'delimited') };
  const frequency = numberOption(values, 'frequency') ?? 49;
  const pid = numberOption(values, 'pid');
  const duration = positiveNumber(positional[0], 'duration');
  const folded = flag(values, 'folded');
  const samples = await profile({
    signal,
    frequency,
    pid,
    tid: numberOption(values, 'tid'),
    userStacksOnly: format.userOnly,
    kernelStacksOnly: format.kernelOnly,
    includeIdle: flag(values, 'include-idle'),
    duration,
    onReady: () => {
      if (json || folded) return;
      const who = pid !== undefined ? `PID [${pid}]` : 'all threads';
      const stacks = format.userOnly ? 'user' : format.kernelOnly ? 'kernel' : 'user + kernel';
      write(`Sampling at ${frequency} Hertz of ${who} by ${stacks} stack${duration !== undefined ? ` for ${duration} secs.` : '... Hit Ctrl-C to end.'}\n`);
    },
  });
  const svg = stringOption(values, 'svg');
  if (svg !== undefined) {
    try {
      writeFileSync(svg, flameGraphSvg(samples.map((s) => foldedLine(s, format)), { title: 'CPU Flame Graph (tsbpf profile)' }));
    } catch (error) {
      throw new ToolError(`cannot write ${svg}: ${(error as Error).message}`);
    }
  }
  if (json) for (const s of samples) write(jsonLine(s));
  else if (folded) for (const s of samples) write(`${foldedLine(s, format)}\n`);
  else write(samples.map((s) => stackBlock(s, format)).join(''));
}

export const profileTool: ToolDefinition = { name: 'profile', summary: 'sample on-CPU stacks (-F HZ); folded output (-f) and SVG flame graphs (--svg) (BCC profile)', usage, run };
