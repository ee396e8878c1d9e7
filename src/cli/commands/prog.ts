import { disassemble } from '../../isa/disasm.ts';
import { decode } from '../../isa/encoding.ts';
import { programInfo, programXlated, listIds, withObjectFd, type ProgramInfo } from '../../kernel/info.ts';
import { programTypeName } from '../../uapi/enums.ts';
import { helperByName } from '../../uapi/helpers.ts';
import { KernelSymbols } from '../../kernel/symbolize.ts';
import { TsbpfError } from '../../errors.ts';
import { type CliCommand, type CliIo, UsageError, parseFlags, parseObjectId } from '../command.ts';
import { bigintJson } from '../../kernel/format.ts';

const usage = `usage: tsbpf prog list [--json]
       tsbpf prog show ID [--json]
       tsbpf prog dump ID [--kernel]

Programs loaded in the kernel (needs root).

  list         every program: id, type, name, tag, sizes, maps
  show ID      one program, with its verifier and run statistics
  dump ID      the instructions as the kernel rewrote them (xlated), disassembled
  --json       machine-readable output
  --kernel     the verifier log's syntax instead of llvm-objdump's
`;

function line(info: ProgramInfo): string {
  const maps = info.mapIds.length > 0 ? `  map_ids ${info.mapIds.join(',')}` : '';
  return `${info.id}: ${programTypeName(info.type).toLowerCase()}  name ${info.name || '-'}  tag ${info.tag}${info.gplCompatible ? '  gpl' : ''}\n\txlated ${info.xlatedSize}B  jited ${info.jitedSize}B  verified_insns ${info.verifiedInstructions}  uid ${info.createdByUid}${maps}\n`;
}

/**
 * Names the helper calls of xlated code as bpftool does: the kernel keeps
 * each call's target as an offset from `__bpf_call_base`, which kallsyms
 * turns into the function (`bpf_ringbuf_reserve`), printed with its helper
 * id (`#131`) when it is one. Without readable kallsyms, calls stay numeric.
 */
function xlatedCallNamer(): ((imm: number) => string | undefined) | undefined {
  let symbols: KernelSymbols;
  try {
    symbols = new KernelSymbols();
  } catch {
    return undefined;
  }
  const base = symbols.address('__bpf_call_base');
  if (base === undefined) return undefined;
  return (imm) => {
    const symbol = symbols.lookup(base + BigInt(imm));
    if (symbol === undefined || symbol.offset !== 0n) return undefined;
    const helper = symbol.name.startsWith('bpf_') ? helperByName(symbol.name.slice(4)) : undefined;
    return helper ? `${symbol.name}#${helper.id}` : symbol.name;
  };
}

async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { flags, positional } = parseFlags(rest, sub === 'dump' ? ['--kernel'] : ['--json'], sub === 'list' ? 0 : 1);
  const json = flags.has('--json');
  switch (sub) {
    case 'list': {
      const infos = listIds('prog').flatMap((id) => withObjectFd('prog', id, programInfo) ?? []);
      io.stdout(json ? `${JSON.stringify(infos, bigintJson, 2)}\n` : infos.map(line).join(''));
      return 0;
    }
    case 'show': {
      const id = parseObjectId(positional[0], 'program');
      const info = withObjectFd('prog', id, programInfo);
      if (!info) throw new TsbpfError(`there is no program with id ${id}`);
      if (json) io.stdout(`${JSON.stringify(info, bigintJson, 2)}\n`);
      else io.stdout(`${line(info)}\tloaded ${info.loadTime}ns after boot  run_cnt ${info.runCount}  run_time_ns ${info.runTimeNs}  btf_id ${info.btfId}\n`);
      return 0;
    }
    case 'dump': {
      const id = parseObjectId(positional[0], 'program');
      const bytes = withObjectFd('prog', id, programXlated);
      if (!bytes) throw new TsbpfError(`there is no program with id ${id}`);
      io.stdout(disassemble(decode(bytes, { validate: false }), { style: flags.has('--kernel') ? 'kernel' : undefined, callName: xlatedCallNamer() }));
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
  }
}

export const command: CliCommand = { name: 'prog', summary: 'list, show and dump programs loaded in the kernel', usage, run };
