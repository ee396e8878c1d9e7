/** tcpconnect: active TCP connections (connect()), IPv4 and IPv6, from sock:inet_sock_set_state. */
import { formatUsage, type OptionSpec, parseToolArgs } from './args.ts';
import { type ToolDefinition, flag, jsonLine, printEvents, listOption, numberOption } from './definition.ts';
import { ToolUsageError } from './errors.ts';
import { formatAddress, left, leftCut } from './format.ts';
import { type ToolRunOptions, cString, eventTool, openTool } from './runtime.ts';

export interface ConnectEvent {
  timestampNs: bigint;
  pid: number;
  uid: number;
  comm: string;
  /** 4 or 6. */
  ipVersion: 4 | 6;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
}

export interface TcpconnectOptions extends ToolRunOptions {
  pid?: number;
  uid?: number;
  /** Only these destination ports (at most 16). */
  ports?: readonly number[];
  /** Only IPv4 or only IPv6. */
  ipVersion?: 4 | 6;
}

const AF_INET = 2;
const AF_INET6 = 10;
const MAX_PORTS = 16;

function decode(record: Uint8Array): ConnectEvent {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const family = view.getUint16(16, true);
  return {
    timestampNs: view.getBigUint64(0, true),
    pid: view.getUint32(8, true),
    uid: view.getUint32(12, true),
    ipVersion: family === AF_INET ? 4 : 6,
    sport: view.getUint16(18, true),
    dport: view.getUint16(20, true),
    saddr: formatAddress(family, record.subarray(24, 40)),
    daddr: formatAddress(family, record.subarray(40, 56)),
    comm: cString(record, 56, 16),
  };
}

/** Outgoing TCP connections, one event each, until stopped. */
export function tcpconnect(options: TcpconnectOptions = {}): AsyncGenerator<ConnectEvent> {
  const ports = options.ports ?? [];
  if (ports.length > MAX_PORTS) throw new ToolUsageError(`at most ${MAX_PORTS} ports can be traced, got ${ports.length}`);
  const rodata = {
    target_tgid: options.pid ?? 0,
    target_uid: options.uid ?? 0xffffffff,
    family_only: options.ipVersion === 4 ? AF_INET : options.ipVersion === 6 ? AF_INET6 : 0,
    port_count: ports.length,
    ports: { elementSize: 2, values: ports },
  };
  return eventTool(() => openTool('tcpconnect', rodata), decode, options);
}

const OPTIONS: OptionSpec[] = [
  { short: 't', long: 'timestamp', kind: 'flag', help: 'include a timestamp column (seconds since the first event)' },
  { short: 'U', long: 'print-uid', kind: 'flag', help: 'include a UID column' },
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'trace this PID only' },
  { short: 'u', long: 'uid', kind: 'integer', value: 'UID', help: 'trace this UID only' },
  { short: 'P', long: 'port', kind: 'list', value: 'PORTS', help: 'comma-separated list of destination ports to trace' },
  { short: '4', long: 'ipv4', kind: 'flag', help: 'trace IPv4 family only' },
  { short: '6', long: 'ipv6', kind: 'flag', help: 'trace IPv6 family only' },
  { short: 'L', long: 'lport', kind: 'flag', help: 'include the LPORT column' },
  { short: 'd', long: 'duration', kind: 'number', value: 'SECONDS', help: 'total duration of trace in seconds' },
];

const usage = formatUsage('tcpconnect', '[options]', "Trace TCP active connections (connect()), IPv4 and IPv6, as BCC's tcpconnect prints them. Events come from the sock:inet_sock_set_state tracepoint (no kprobes needed).", OPTIONS, [
  'tsbpf tcpconnect            # trace all TCP connect()s',
  'tsbpf tcpconnect -t -p 181  # PID 181 only, with timestamps',
  'tsbpf tcpconnect -P 80,81   # only destination ports 80 and 81',
]);

export function tcpconnectHeader(timestamp: boolean, printUid: boolean, lport: boolean): string {
  return `${timestamp ? left('TIME(s)', 9) : ''}${printUid ? left('UID', 6) : ''}${left('PID', 6)} ${left('COMM', 12)} ${left('IP', 2)} ${left('SADDR', 16)} ${lport ? `${left('LPORT', 6)} ` : ''}${left('DADDR', 16)} ${left('DPORT', 4)}\n`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values } = parseToolArgs(args, OPTIONS, 0);
  if (flag(values, 'help')) return write(usage);
  if (flag(values, 'ipv4') && flag(values, 'ipv6')) throw new ToolUsageError('-4 and -6 exclude each other');
  const json = flag(values, 'json');
  const [timestamp, printUid, lport] = [flag(values, 'timestamp'), flag(values, 'print-uid'), flag(values, 'lport')];
  const events = tcpconnect({
    signal,
    pid: numberOption(values, 'pid'),
    uid: numberOption(values, 'uid'),
    ports: listOption(values, 'port'),
    ...(flag(values, 'ipv4') ? { ipVersion: 4 as const } : flag(values, 'ipv6') ? { ipVersion: 6 as const } : {}),
    duration: numberOption(values, 'duration'),
    onLost: (count) => write(json ? jsonLine({ lost: count }) : `Possibly lost ${count} samples\n`),
    onReady: () => {
      if (!json) write(tcpconnectHeader(timestamp, printUid, lport));
    },
  });
  await printEvents(events, write, json, (e, seconds) => {
    const time = timestamp ? left(seconds.toFixed(3), 9) : '';
    return `${time}${printUid ? left(e.uid, 6) : ''}${left(e.pid, 6)} ${leftCut(e.comm, 12)} ${left(e.ipVersion, 2)} ${left(e.saddr, 16)} ${lport ? `${left(e.sport, 6)} ` : ''}${left(e.daddr, 16)} ${left(e.dport, 4)}\n`;
  });
}

export const tcpconnectTool: ToolDefinition = { name: 'tcpconnect', summary: 'trace TCP connect()s, IPv4 and IPv6: PID, COMM, IP, SADDR, DADDR, DPORT (BCC tcpconnect)', usage, run };
