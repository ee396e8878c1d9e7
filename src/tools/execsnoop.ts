/** execsnoop: new processes (execve) with their full argument list. */
import { closeSync, openSync } from 'node:fs';
import { formatUsage, type OptionSpec, parseToolArgs } from './args.ts';
import { type ToolDefinition, flag, jsonLine, printEvents, numberOption, stringOption } from './definition.ts';
import { ToolError } from './errors.ts';
import { left, right } from './format.ts';
import { type OpenTool, type ToolRunOptions, cString, eventTool, openTool } from './runtime.ts';

export interface ExecEvent {
  timestampNs: bigint;
  pid: number;
  ppid: number;
  uid: number;
  /** The cgroup v2 id of the process (the inode number of its cgroup directory). */
  cgroupId: bigint;
  /** The process name after the exec (the file name for a successful one). */
  comm: string;
  /** execve's return value: 0, or -errno. */
  ret: number;
  /** argv, up to `maxArgs` arguments (7680 bytes in all; a failed exec's arguments each up to 127 bytes). */
  argv: string[];
  /** argv had more arguments than were read. */
  truncated: boolean;
}

export interface ExecsnoopOptions extends ToolRunOptions {
  /** Include failed execs (default: successful ones only, as BCC). */
  includeFailed?: boolean;
  /** Only processes in this cgroup v2 directory or below it. */
  cgroup?: string;
  uid?: number;
  /** Arguments to read (default 20, at most 60). */
  maxArgs?: number;
}

const MAX_ARGS = 60;

/** args_count of arguments read whole from the new image, to be split here. */
const UNCOUNTED = 0xffffffff;

function decode(record: Uint8Array, includeFailed: boolean, maxArgs: number): ExecEvent | undefined {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const ret = view.getInt32(28, true);
  if (ret !== 0 && !includeFailed) return undefined;
  const count = view.getUint32(32, true);
  const size = Math.min(view.getUint32(36, true), record.length - 60);
  const bytes = record.subarray(60, 60 + size);
  // Each argument ends with a NUL; the last one may have been cut at the buffer's end.
  let argv = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8').split('\0');
  if (bytes.at(-1) === 0) argv.pop();
  let truncated = view.getUint32(40, true) !== 0;
  if (count !== UNCOUNTED) argv = argv.slice(0, count);
  else if (argv.length > maxArgs) {
    argv = argv.slice(0, maxArgs);
    truncated = true;
  }
  return {
    timestampNs: view.getBigUint64(0, true),
    cgroupId: view.getBigUint64(8, true),
    pid: view.getUint32(16, true),
    ppid: view.getUint32(20, true),
    uid: view.getUint32(24, true),
    ret,
    truncated,
    comm: cString(record, 44, 16),
    argv,
  };
}

/** Loads execsnoop with its cgroup filter: the cgroup directory's fd goes into the cgroup array, then is closed. */
function openExecsnoop(options: ExecsnoopOptions): OpenTool {
  const maxArgs = options.maxArgs ?? 20;
  if (!Number.isInteger(maxArgs) || maxArgs < 1 || maxArgs > MAX_ARGS) throw new ToolError(`max-args must be 1 to ${MAX_ARGS}, got ${maxArgs}`);
  let cgroupFd: number | undefined;
  if (options.cgroup !== undefined) {
    try {
      cgroupFd = openSync(options.cgroup, 'r');
    } catch (error) {
      throw new ToolError(`cannot open cgroup ${options.cgroup}: ${(error as Error).message}`);
    }
  }
  try {
    const tool = openTool('execsnoop', { max_args: maxArgs, filter_cgroup: cgroupFd !== undefined, target_uid: options.uid ?? 0xffffffff });
    if (cgroupFd !== undefined) {
      try {
        const value = new Uint8Array(4);
        new DataView(value.buffer).setUint32(0, cgroupFd, true);
        tool.collection.map('cgroup').update(new Uint8Array(4), value);
      } catch (error) {
        tool.close();
        throw new ToolError(`${options.cgroup} is not a cgroup v2 directory: ${(error as Error).message}`);
      }
    }
    return tool;
  } finally {
    if (cgroupFd !== undefined) closeSync(cgroupFd);
  }
}

/** execve() calls, one event each, until stopped. */
export function execsnoop(options: ExecsnoopOptions = {}): AsyncGenerator<ExecEvent> {
  return eventTool(() => openExecsnoop(options), (record) => decode(record, options.includeFailed ?? false, options.maxArgs ?? 20), options);
}

const OPTIONS: OptionSpec[] = [
  { short: 'T', long: 'time', kind: 'flag', help: 'include a time column (HH:MM:SS)' },
  { short: 't', long: 'timestamp', kind: 'flag', help: 'include a timestamp column (seconds since the first event)' },
  { short: 'x', long: 'fails', kind: 'flag', help: 'include failed exec()s' },
  { short: 'q', long: 'quote', kind: 'flag', help: 'add quotemarks (") around arguments' },
  { short: 'U', long: 'print-uid', kind: 'flag', help: 'include a UID column' },
  { short: 'u', long: 'uid', kind: 'integer', value: 'UID', help: 'trace this UID only' },
  { short: 'n', long: 'name', kind: 'string', value: 'NAME', help: 'only print commands matching this name, any arg' },
  { short: 'l', long: 'line', kind: 'string', value: 'LINE', help: 'only print commands where an argument contains this' },
  { long: 'cgroup', kind: 'string', value: 'PATH', help: 'only processes in this cgroup v2 directory (and below)' },
  { long: 'max-args', kind: 'integer', value: 'N', help: 'maximum number of arguments parsed and displayed (default 20, at most 60)' },
  { short: 'd', long: 'duration', kind: 'number', value: 'SECONDS', help: 'total duration of trace in seconds' },
];

const usage = formatUsage('execsnoop', '[options]', "Trace exec() syscalls: PCOMM, PID, PPID, RET and the full ARGS, as BCC's execsnoop prints them.", OPTIONS, [
  'tsbpf execsnoop                 # trace all exec() syscalls',
  'tsbpf execsnoop -x -t           # include failed exec()s, with timestamps',
  'tsbpf execsnoop --cgroup /sys/fs/cgroup/system.slice/docker-1234.scope',
]);

/** BCC's header line for these options. */
export function execsnoopHeader(time: boolean, timestamp: boolean, printUid: boolean): string {
  return `${time ? left('TIME', 9) : ''}${timestamp ? `${left('TIME(s)', 8)} ` : ''}${printUid ? `${left('UID', 6)} ` : ''}${left('PCOMM', 16)} ${left('PID', 6)} ${left('PPID', 6)} ${right('RET', 3)} ARGS\n`;
}

/** The ARGS column: arguments joined by spaces, quoted with -q, ` ...` when argv was cut. */
export function formatArgs(event: Pick<ExecEvent, 'argv' | 'truncated'>, quote: boolean): string {
  const args = event.argv.map((a) => (quote ? `"${a.replaceAll('"', '\\"')}"` : a));
  return `${args.join(' ')}${event.truncated ? ' ...' : ''}`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values } = parseToolArgs(args, OPTIONS, 0);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const [time, timestamp, printUid, quote] = ['time', 'timestamp', 'print-uid', 'quote'].map((name) => flag(values, name)) as [boolean, boolean, boolean, boolean];
  const name = stringOption(values, 'name');
  const line = stringOption(values, 'line');
  const events = execsnoop({
    signal,
    includeFailed: flag(values, 'fails'),
    cgroup: stringOption(values, 'cgroup'),
    uid: numberOption(values, 'uid'),
    maxArgs: numberOption(values, 'max-args'),
    duration: numberOption(values, 'duration'),
    onLost: (count) => write(json ? jsonLine({ lost: count }) : `Possibly lost ${count} samples\n`),
    onReady: () => {
      if (!json) write(execsnoopHeader(time, timestamp, printUid));
    },
  });
  const matching = filterEvents(events, (e) => (name === undefined || e.comm.includes(name) || e.argv.some((a) => a.includes(name))) && (line === undefined || e.argv.some((a) => a.includes(line))));
  await printEvents(matching, write, json, (e, secondsSinceFirst) => {
    const clock = time ? left(new Date().toTimeString().slice(0, 8), 9) : '';
    const seconds = timestamp ? `${left(secondsSinceFirst.toFixed(3), 8)} ` : '';
    return `${clock}${seconds}${printUid ? `${left(e.uid, 6)} ` : ''}${left(e.comm, 16)} ${left(e.pid, 6)} ${left(e.ppid, 6)} ${right(e.ret, 3)} ${formatArgs(e, quote)}\n`;
  });
}

async function* filterEvents<E>(events: AsyncIterable<E>, keep: (event: E) => boolean): AsyncGenerator<E> {
  for await (const event of events) if (keep(event)) yield event;
}

export const execsnoopTool: ToolDefinition = { name: 'execsnoop', summary: 'trace exec() syscalls with their full argv: PCOMM, PID, PPID, RET, ARGS (BCC execsnoop)', usage, run };
