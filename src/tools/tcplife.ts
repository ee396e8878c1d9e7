/** tcplife: TCP sessions when they close, with bytes each way and their lifespan. */
import { formatUsage, type OptionSpec, parseToolArgs } from './args.ts';
import { type ToolDefinition, flag, jsonLine, printEvents, listOption, numberOption } from './definition.ts';
import { ToolUsageError } from './errors.ts';
import { clockTime, formatAddress, left, leftCut, right } from './format.ts';
import { type ToolRunOptions, cString, eventTool, openTool } from './runtime.ts';

export interface TcpSession {
  timestampNs: bigint;
  pid: number;
  comm: string;
  ipVersion: 4 | 6;
  laddr: string;
  lport: number;
  raddr: string;
  rport: number;
  txBytes: bigint;
  rxBytes: bigint;
  /** From the first state change seen to TCP_CLOSE. */
  durationMs: number;
}

export interface TcplifeOptions extends ToolRunOptions {
  pid?: number;
  localPorts?: readonly number[];
  remotePorts?: readonly number[];
  ipVersion?: 4 | 6;
}

const AF_INET = 2;
const AF_INET6 = 10;
const MAX_PORTS = 16;

function decode(record: Uint8Array): TcpSession {
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const family = view.getUint16(36, true);
  return {
    timestampNs: view.getBigUint64(0, true),
    durationMs: Number(view.getBigUint64(8, true)) / 1e6,
    rxBytes: view.getBigUint64(16, true),
    txBytes: view.getBigUint64(24, true),
    pid: view.getUint32(32, true),
    ipVersion: family === AF_INET ? 4 : 6,
    lport: view.getUint16(38, true),
    rport: view.getUint16(40, true),
    laddr: formatAddress(family, record.subarray(44, 60)),
    raddr: formatAddress(family, record.subarray(60, 76)),
    comm: cString(record, 76, 16),
  };
}

function portList(ports: readonly number[] | undefined, what: string): { elementSize: number; values: readonly number[] } {
  if ((ports?.length ?? 0) > MAX_PORTS) throw new ToolUsageError(`at most ${MAX_PORTS} ${what} ports, got ${ports!.length}`);
  return { elementSize: 2, values: ports ?? [] };
}

/** Closed TCP sessions, one event each, until stopped. */
export function tcplife(options: TcplifeOptions = {}): AsyncGenerator<TcpSession> {
  const rodata = {
    target_tgid: options.pid ?? 0,
    family_only: options.ipVersion === 4 ? AF_INET : options.ipVersion === 6 ? AF_INET6 : 0,
    local_port_count: options.localPorts?.length ?? 0,
    local_ports: portList(options.localPorts, 'local'),
    remote_port_count: options.remotePorts?.length ?? 0,
    remote_ports: portList(options.remotePorts, 'remote'),
  };
  return eventTool(() => openTool('tcplife', rodata), decode, options);
}

const OPTIONS: OptionSpec[] = [
  { short: 'T', long: 'time', kind: 'flag', help: 'include a time column on output (HH:MM:SS)' },
  { short: 't', long: 'timestamp', kind: 'flag', help: 'include a timestamp on output (seconds)' },
  { short: 'w', long: 'wide', kind: 'flag', help: 'wide column output (fits IPv6 addresses)' },
  { short: 's', long: 'csv', kind: 'flag', help: 'comma separated values output' },
  { short: 'p', long: 'pid', kind: 'integer', value: 'PID', help: 'trace this PID only' },
  { short: 'L', long: 'localport', kind: 'list', value: 'PORTS', help: 'comma-separated list of local ports to trace' },
  { short: 'D', long: 'remoteport', kind: 'list', value: 'PORTS', help: 'comma-separated list of remote ports to trace' },
  { short: '4', long: 'ipv4', kind: 'flag', help: 'trace IPv4 family only' },
  { short: '6', long: 'ipv6', kind: 'flag', help: 'trace IPv6 family only' },
  { short: 'd', long: 'duration', kind: 'number', value: 'SECONDS', help: 'total duration of trace in seconds' },
];

const usage = formatUsage('tcplife', '[options]', "Trace the lifespan of TCP sessions and summarize: PID, COMM, addresses, ports, TX_KB, RX_KB and MS, as BCC's tcplife prints them (from sock:inet_sock_set_state).", OPTIONS, [
  'tsbpf tcplife           # trace all TCP connect()s',
  'tsbpf tcplife -w -t     # wide columns for IPv6, with timestamps',
  'tsbpf tcplife -L 80,81  # only local ports 80 and 81',
]);

type Layout = 'normal' | 'wide' | 'csv';

export function tcplifeHeader(layout: Layout, time: boolean, timestamp: boolean): string {
  const prefix = layout === 'csv' ? `${time ? 'TIME,' : ''}${timestamp ? 'TIME(s),' : ''}` : `${time ? `${left('TIME', 8)} ` : ''}${timestamp ? `${left('TIME(s)', 9)} ` : ''}`;
  if (layout === 'csv') return `${prefix}PID,COMM,IP,LADDR,LPORT,RADDR,RPORT,TX_KB,RX_KB,MS\n`;
  if (layout === 'wide') return `${prefix}${left('PID', 5)} ${leftCut('COMM', 16)} ${left('IP', 2)} ${left('LADDR', 39)} ${left('LPORT', 5)} ${left('RADDR', 39)} ${left('RPORT', 5)} ${right('TX_KB', 6)} ${right('RX_KB', 6)} MS\n`;
  return `${prefix}${left('PID', 5)} ${leftCut('COMM', 10)} ${left('LADDR', 15)} ${left('LPORT', 5)} ${left('RADDR', 15)} ${left('RPORT', 5)} ${right('TX_KB', 5)} ${right('RX_KB', 5)} MS\n`;
}

export function formatSession(s: TcpSession, layout: Layout): string {
  const tx = Number(s.txBytes / 1024n);
  const rx = Number(s.rxBytes / 1024n);
  const ms = s.durationMs.toFixed(2);
  if (layout === 'csv') return `${s.pid},${s.comm},${s.ipVersion},${s.laddr},${s.lport},${s.raddr},${s.rport},${tx},${rx},${ms}`;
  if (layout === 'wide') return `${left(s.pid, 5)} ${leftCut(s.comm, 16)} ${left(s.ipVersion, 2)} ${left(s.laddr, 39)} ${left(s.lport, 5)} ${left(s.raddr, 39)} ${left(s.rport, 5)} ${right(tx, 6)} ${right(rx, 6)} ${ms}`;
  return `${left(s.pid, 5)} ${leftCut(s.comm, 10)} ${left(s.laddr, 15)} ${left(s.lport, 5)} ${left(s.raddr, 15)} ${left(s.rport, 5)} ${right(tx, 5)} ${right(rx, 5)} ${ms}`;
}

async function run(args: readonly string[], write: (text: string) => void, signal: AbortSignal): Promise<void> {
  const { values } = parseToolArgs(args, OPTIONS, 0);
  if (flag(values, 'help')) return write(usage);
  if (flag(values, 'ipv4') && flag(values, 'ipv6')) throw new ToolUsageError('-4 and -6 exclude each other');
  const json = flag(values, 'json');
  const layout: Layout = flag(values, 'csv') ? 'csv' : flag(values, 'wide') ? 'wide' : 'normal';
  const [time, timestamp] = [flag(values, 'time'), flag(values, 'timestamp')];
  const sessions = tcplife({
    signal,
    pid: numberOption(values, 'pid'),
    localPorts: listOption(values, 'localport'),
    remotePorts: listOption(values, 'remoteport'),
    ...(flag(values, 'ipv4') ? { ipVersion: 4 as const } : flag(values, 'ipv6') ? { ipVersion: 6 as const } : {}),
    duration: numberOption(values, 'duration'),
    onLost: (count) => write(json ? jsonLine({ lost: count }) : `Possibly lost ${count} samples\n`),
    onReady: () => {
      if (!json) write(tcplifeHeader(layout, time, timestamp));
    },
  });
  await printEvents(sessions, write, json, (s, secondsSinceFirst) => {
    const seconds = secondsSinceFirst.toFixed(6);
    const prefix = layout === 'csv' ? `${time ? `${clockTime()},` : ''}${timestamp ? `${seconds},` : ''}` : `${time ? `${left(clockTime(), 8)} ` : ''}${timestamp ? `${left(seconds, 9)} ` : ''}`;
    return `${prefix}${formatSession(s, layout)}\n`;
  });
}

export const tcplifeTool: ToolDefinition = { name: 'tcplife', summary: 'trace TCP sessions when they close: addresses, ports, TX_KB, RX_KB, MS (BCC tcplife)', usage, run };
