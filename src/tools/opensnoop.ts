/** opensnoop: file opens as they return (open, openat, openat2). */
import { formatUsage, type OptionSpec, parseToolArgs } from './args.ts';
import { type ToolDefinition, flag, jsonLine, printEvents, numberOption, stringOption } from './definition.ts';
import { left, right } from './format.ts';
import { type ToolRunOptions, cString, eventTool, openTool } from './runtime.ts';

export interface OpenEvent {
  /** CLOCK_MONOTONIC nanoseconds. */
  timestampNs: bigint;
  pid: number;
  tid: number;
  uid: number;
  comm: string;
  /** The file descriptor, or -1 when the open failed. */
  fd: number;
  /** errno of a failed open, else 0. */
  errno: number;
  flags: number;
  mode: number;
  path: string;
}

export interface OpensnoopOptions extends ToolRunOptions {
  /** Only this process (tgid). */
  pid?: number;
  /** Only this thread. */
  tid?: number;
  uid?: number;
  /** Only opens that failed. */
  failedOnly?: boolean;
  /** Only processes whose name contains this. */
  name?: string;
}

const PATH_BYTES = 256;

function decode(record: Uint8Array, name: string | undefined): OpenEvent | undefined {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const comm = cString(record, 32, 16);
  if (name !== undefined && !comm.includes(name)) return undefined;
  const ret = view.getInt32(20, true);
  return {
    timestampNs: view.getBigUint64(0, true),
    pid: view.getUint32(8, true),
    tid: view.getUint32(12, true),
    uid: view.getUint32(16, true),
    comm,
    fd: ret >= 0 ? ret : -1,
    errno: ret >= 0 ? 0 : -ret,
    flags: view.getInt32(24, true),
    mode: view.getUint32(28, true),
    path: cString(record, 48, PATH_BYTES),
  };
}

/** File opens, one event each, until stopped. */
export function opensnoop(options: OpensnoopOptions = {}): AsyncGenerator<OpenEvent> {
  const rodata = { target_tgid: options.pid ?? 0, target_tid: options.tid ?? 0, target_uid: options.uid ?? 0xffffffff, failed_only: options.failedOnly ?? false };
  return eventTool(() => openTool('opensnoop', rodata), (record) => decode(record, options.name), options);
}

const OPTIONS: OptionSpec[] = [
  { short: 't', long: 'timestamp', kind: 'flag', help: 'include a timestamp column (seconds since the first event)' },
  { short: 'U', long: 'print-uid', kind: 'flag', help: 'include a UID column' },
  { short: 'x', long: 'failed', kind: 'flag', help: 'only show failed opens' },
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'trace this PID only' },
  { long: 'tid', kind: 'integer', value: 'TID', help: 'trace this TID only' },
  { short: 'u', long: 'uid', kind: 'integer', value: 'UID', help: 'trace this UID only' },
  { short: 'n', long: 'name', kind: 'string', value: 'NAME', help: 'only print process names containing this name' },
  { short: 'd', long: 'duration', kind: 'number', value: 'SECONDS', help: 'total duration of trace in seconds' },
];

const usage = formatUsage('opensnoop', '[options]', 'Trace open() syscalls (open, openat, openat2): PID, COMM, FD (-1 on failure), ERR (errno) and PATH, as BCC\'s opensnoop prints them.', OPTIONS, [
  'tsbpf opensnoop               # trace all open() syscalls',
  'tsbpf opensnoop -t -x         # with timestamps, failed opens only',
  'tsbpf opensnoop -p 181 -d 10  # PID 181 only, for 10 seconds',
]);

/** BCC's header line for these options. */
export function opensnoopHeader(timestamp: boolean, printUid: boolean): string {
  return `${timestamp ? left('TIME(s)', 14) : ''}${printUid ? left('UID', 6) : ''}${left('PID', 6)} ${left('COMM', 16)} ${right('FD', 4)} ${right('ERR', 3)} PATH\n`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values } = parseToolArgs(args, OPTIONS, 0);
  if (flag(values, 'help')) return write(usage);
  const json = flag(values, 'json');
  const timestamp = flag(values, 'timestamp');
  const printUid = flag(values, 'print-uid');
  const events = opensnoop({
    signal,
    pid: numberOption(values, 'pid'),
    tid: numberOption(values, 'tid'),
    uid: numberOption(values, 'uid'),
    failedOnly: flag(values, 'failed'),
    name: stringOption(values, 'name'),
    duration: numberOption(values, 'duration'),
    onLost: (count) => write(json ? jsonLine({ lost: count }) : `Possibly lost ${count} samples\n`),
    onReady: () => {
      if (!json) write(opensnoopHeader(timestamp, printUid));
    },
  });
  await printEvents(events, write, json, (e, seconds) => {
    const time = timestamp ? left(seconds.toFixed(9), 14) : '';
    return `${time}${printUid ? left(e.uid, 6) : ''}${left(e.pid, 6)} ${left(e.comm, 16)} ${right(e.fd, 4)} ${right(e.errno, 3)} ${e.path}\n`;
  });
}

export const opensnoopTool: ToolDefinition = { name: 'opensnoop', summary: 'trace open() syscalls: PID, COMM, FD, ERR, PATH (BCC opensnoop)', usage, run };
