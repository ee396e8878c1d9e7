import { probeAll, type FeatureResult } from '../../kernel/index.ts';
import { ProgramType } from '../../uapi/enums.ts';
import { type CliCommand, type CliIo, UsageError, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf feature [--json] [--helpers TYPE[,TYPE...]|all]

Probes what the running kernel supports (needs root): map types, program
types and link kinds by creating minimal objects, and with --helpers the
helpers each listed program type may call (a tiny program calling each
helper, judged by the verifier's answer, like libbpf's probes).

  --helpers xdp,kprobe   program types by name (case-insensitive), or 'all'
  --json                 machine-readable output
`;

function table(title: string, results: FeatureResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length), 4);
  const rows = results.map((r) => `  ${r.name.toLowerCase().padEnd(width)}  ${r.state.padEnd(13)}  ${r.evidence}`);
  return `${title}:\n${rows.join('\n')}\n\n`;
}

function parseTypes(text: string | undefined): number[] {
  if (text === undefined) throw new UsageError('--helpers needs program types');
  if (text === 'all') return Object.values(ProgramType);
  return text.split(',').map((name) => {
    const type = (ProgramType as Record<string, number>)[name.toUpperCase()];
    if (type === undefined) throw new UsageError(`unknown program type '${name}' (one of ${Object.keys(ProgramType).join(', ').toLowerCase()})`);
    return type;
  });
}

async function run(args: string[], io: CliIo): Promise<number> {
  let json = false;
  let helpersFor: number[] | undefined;
  for (let n = 0; n < args.length; n++) {
    const arg = args[n]!;
    if (arg === '--json') json = true;
    else if (arg === '--helpers') helpersFor = parseTypes(args[++n]);
    else if (arg.startsWith('-')) throw unknownOption(arg);
    else throw unexpectedArgument(arg);
  }
  const report = probeAll({ helpersFor });
  if (json) {
    io.stdout(`${JSON.stringify(report, null, 2)}\n`);
    return 0;
  }
  let out = table('map types', report.mapTypes) + table('program types', report.programTypes) + table('link kinds', report.linkKinds);
  for (const [type, results] of Object.entries(report.helpers ?? {})) out += table(`helpers for ${type.toLowerCase()} programs`, results);
  io.stdout(out);
  return 0;
}

export const command: CliCommand = { name: 'feature', summary: 'probe the kernel for map types, program types, helpers and link kinds', usage, run };
