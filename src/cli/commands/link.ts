import { PERF_EVENT_TYPE_NAMES, linkInfo, listIds, withObjectFd, type LinkInfo, bigintJson } from '../../kernel/index.ts';
import { attachTypeName, linkTypeName } from '../../uapi/enums.ts';
import { type CliCommand, type CliIo, UsageError, parseFlags } from '../command.ts';

const usage = `usage: tsbpf link list [--json]

BPF links in the kernel (needs root), as bpftool names them: id, link type
(raw_tracepoint, perf_event, xdp, tcx, cgroup...), program id and the
attachment details (interface, cgroup, tracepoint, attach type, and for
perf_event links the event type: tracepoint, uprobe, kprobe... with its
tracepoint, file or function).
`;

/** Details by bpftool's names, with attach and perf event types named. */
function namedDetails(info: LinkInfo): Record<string, string | number | bigint> {
  const out: Record<string, string | number | bigint> = {};
  for (const [key, value] of Object.entries(info.details)) {
    if (key === 'attachType') out.attach_type = attachTypeName(Number(value)).toLowerCase();
    else if (key === 'perfEventType') out.event_type = PERF_EVENT_TYPE_NAMES[Number(value)] ?? `unknown(${value})`;
    else out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value;
  }
  return out;
}

function line(info: LinkInfo): string {
  const details = Object.entries(namedDetails(info))
    .map(([k, v]) => `${k} ${String(v)}`)
    .join('  ');
  return `${info.id}: ${linkTypeName(info.type).toLowerCase()}  prog ${info.progId}${details ? `\n\t${details}` : ''}\n`;
}

function json(info: LinkInfo): Record<string, unknown> {
  return { id: info.id, type: linkTypeName(info.type).toLowerCase(), prog_id: info.progId, ...namedDetails(info) };
}

async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { flags } = parseFlags(rest, ['--json'], 0);
  if (sub !== 'list') throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
  const infos = listIds('link').flatMap((id) => withObjectFd('link', id, linkInfo) ?? []);
  io.stdout(flags.has('--json') ? `${JSON.stringify(infos.map(json), bigintJson, 2)}\n` : infos.map(line).join(''));
  return 0;
}

export const command: CliCommand = { name: 'link', summary: 'list BPF links in the kernel', usage, run };
