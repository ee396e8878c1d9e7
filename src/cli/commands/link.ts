import { linkInfo, listIds, withObjectFd, type LinkInfo } from '../../kernel/info.ts';
import { attachTypeName, linkTypeName } from '../../uapi/enums.ts';
import { type CliCommand, type CliIo, UsageError, parseFlags } from '../command.ts';
import { bigintJson } from '../../kernel/format.ts';

const usage = `usage: tsbpf link list [--json]

BPF links in the kernel (needs root): id, type, program id and the
attachment details (interface, cgroup, tracepoint, attach type).
`;

function line(info: LinkInfo): string {
  const details = Object.entries(info.details)
    .map(([k, v]) => `${k} ${k === 'attachType' ? attachTypeName(Number(v)).toLowerCase() : String(v)}`)
    .join('  ');
  return `${info.id}: ${linkTypeName(info.type).toLowerCase()}  prog ${info.progId}${details ? `  ${details}` : ''}\n`;
}

async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { flags } = parseFlags(rest, ['--json'], 0);
  if (sub !== 'list') throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
  const infos = listIds('link').flatMap((id) => withObjectFd('link', id, linkInfo) ?? []);
  io.stdout(flags.has('--json') ? `${JSON.stringify(infos, bigintJson, 2)}\n` : infos.map(line).join(''));
  return 0;
}

export const command: CliCommand = { name: 'link', summary: 'list BPF links in the kernel', usage, run };
