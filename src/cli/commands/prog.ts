import { readFileSync } from 'node:fs';
import { disassemble } from '../../isa/disasm.ts';
import { decode } from '../../isa/encoding.ts';
import { programInfo, programXlated, listIds, withObjectFd, type ProgramInfo, KernelSymbols, bigintJson } from '../../kernel/index.ts';
import { programTypeName } from '../../uapi/enums.ts';
import { helperByName } from '../../uapi/helpers.ts';
import { TsbpfError } from '../../errors.ts';
import { type CliCommand, type CliIo, UsageError, parseFlags, parseObjectId } from '../command.ts';

const usage = `usage: tsbpf prog list [--json]
       tsbpf prog show ID [--json]
       tsbpf prog dump ID [--kernel]

Programs loaded in the kernel (needs root).

  list         every program as bpftool shows it: id, type, name, tag, gpl,
               loaded_at (a date), uid, xlated/jited sizes, map_ids, btf_id,
               verified_insns, and run_time_ns/run_cnt when statistics are on
               (sysctl kernel.bpf_stats_enabled=1)
  show ID      one program, the same fields
  dump ID      the instructions as the kernel rewrote them (xlated), disassembled
  --json       machine-readable output
  --kernel     the verifier log's syntax instead of llvm-objdump's
`;

/** Wall-clock time of a CLOCK_BOOTTIME nanosecond stamp (bpf_prog_info.load_time), through /proc/uptime. */
function bootTimeToDate(nanoseconds: bigint): Date {
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'latin1').split(' ')[0]);
  return new Date(Date.now() - uptimeSeconds * 1000 + Number(nanoseconds / 1_000_000n));
}

/** `2026-12-03T09:46:47+0000`, bpftool's loaded_at. */
function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}+0000`;
}

/** The fields of `bpftool prog show --json`, by bpftool's names. */
function bpftoolJson(info: ProgramInfo): Record<string, unknown> {
  const loaded = bootTimeToDate(info.loadTime);
  return {
    id: info.id,
    type: programTypeName(info.type).toLowerCase(),
    name: info.name,
    tag: info.tag,
    gpl_compatible: info.gplCompatible,
    ...(info.runCount > 0n || info.runTimeNs > 0n ? { run_time_ns: info.runTimeNs, run_cnt: info.runCount } : {}),
    ...(info.recursionMisses > 0n ? { recursion_misses: info.recursionMisses } : {}),
    loaded_at: Math.floor(loaded.getTime() / 1000),
    uid: info.createdByUid,
    bytes_xlated: info.xlatedSize,
    jited: info.jitedSize > 0,
    bytes_jited: info.jitedSize,
    ...(info.mapIds.length > 0 ? { map_ids: info.mapIds } : {}),
    ...(info.btfId > 0 ? { btf_id: info.btfId } : {}),
    verified_insns: info.verifiedInstructions,
  };
}

/** bpftool's text form: the header line (with run statistics when enabled), load time and owner, sizes and maps, BTF. */
function line(info: ProgramInfo): string {
  const stats = info.runCount > 0n || info.runTimeNs > 0n ? `  run_time_ns ${info.runTimeNs} run_cnt ${info.runCount}` : '';
  const maps = info.mapIds.length > 0 ? `  map_ids ${info.mapIds.join(',')}` : '';
  return (
    `${info.id}: ${programTypeName(info.type).toLowerCase()}  name ${info.name || '-'}  tag ${info.tag}${info.gplCompatible ? '  gpl' : ''}${stats}\n` +
    `\tloaded_at ${isoSeconds(bootTimeToDate(info.loadTime))}  uid ${info.createdByUid}\n` +
    `\txlated ${info.xlatedSize}B  jited ${info.jitedSize}B${maps}\n` +
    `${info.btfId > 0 ? `\tbtf_id ${info.btfId}\n` : ''}` +
    `\tverified_insns ${info.verifiedInstructions}\n`
  );
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
      io.stdout(json ? `${JSON.stringify(infos.map(bpftoolJson), bigintJson, 2)}\n` : infos.map(line).join(''));
      return 0;
    }
    case 'show': {
      const id = parseObjectId(positional[0], 'program');
      const info = withObjectFd('prog', id, programInfo);
      if (!info) throw new TsbpfError(`there is no program with id ${id}`);
      io.stdout(json ? `${JSON.stringify(bpftoolJson(info), bigintJson, 2)}\n` : line(info));
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
