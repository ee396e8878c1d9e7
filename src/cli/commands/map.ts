import { fdById, listIds, mapInfo, withObjectFd, type MapInfo } from '../../kernel/info.ts';
import { KernelMap, openPinned, possibleCpus } from '../../kernel/map.ts';
import { mapTypeName } from '../../uapi/enums.ts';
import { TsbpfError } from '../../errors.ts';
import { type CliCommand, type CliIo, UsageError, parseFlags, parseObjectId } from '../command.ts';
import { bigintJson, hex } from '../../kernel/format.ts';

const usage = `usage: tsbpf map list [--json]
       tsbpf map dump ID|PINNED_PATH [--json]

Maps in the kernel (needs root).

  list               every map: id, type, name, key/value sizes, max entries, flags
  dump ID|PATH       every entry of the map with that id or pinned at PATH (hex);
                     per-CPU maps show one value per possible CPU
  --json             machine-readable output
`;

function line(info: MapInfo): string {
  return `${info.id}: ${mapTypeName(info.type).toLowerCase()}  name ${info.name || '-'}  flags 0x${info.flags.toString(16)}\n\tkey ${info.keySize}B  value ${info.valueSize}B  max_entries ${info.maxEntries}${info.btfId ? `  btf_id ${info.btfId}` : ''}\n`;
}

const NOT_ITERABLE = new Set(['RINGBUF', 'USER_RINGBUF', 'PERF_EVENT_ARRAY', 'QUEUE', 'STACK', 'BLOOM_FILTER', 'STRUCT_OPS', 'ARENA']);

function dump(fd: number, json: boolean, io: CliIo): void {
  const info = mapInfo(fd);
  const typeName = mapTypeName(info.type);
  if (NOT_ITERABLE.has(typeName)) throw new TsbpfError(`map ${info.id} is a ${typeName} map: it has no keys to iterate`);
  const map = new KernelMap(fd, { type: info.type, name: info.name, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries, flags: info.flags });
  try {
    const rows: Array<{ key: string; value?: string; values?: string[] }> = [];
    for (const key of map.keys()) {
      if (map.perCpu) {
        const values = map.lookupPerCpu(key);
        if (values) rows.push({ key: hex(key), values: values.map(hex) });
      } else {
        const value = map.lookup(key);
        if (value) rows.push({ key: hex(key), value: hex(value) });
      }
    }
    if (json) {
      io.stdout(`${JSON.stringify({ map: info, entries: rows }, bigintJson, 2)}\n`);
      return;
    }
    for (const row of rows) {
      if (row.values) io.stdout(`key: ${row.key}\n${row.values.map((v, cpu) => `  value (CPU ${String(cpu).padStart(2, '0')}): ${v}`).join('\n')}\n`);
      else io.stdout(`key: ${row.key}  value: ${row.value}\n`);
    }
    io.stdout(`Found ${rows.length} element${rows.length === 1 ? '' : 's'}${map.perCpu ? ` (${possibleCpus()} possible CPUs)` : ''}\n`);
  } finally {
    map.close(); // closes fd
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { flags, positional } = parseFlags(rest, ['--json'], sub === 'dump' ? 1 : 0);
  const json = flags.has('--json');
  switch (sub) {
    case 'list': {
      const infos = listIds('map').flatMap((id) => withObjectFd('map', id, mapInfo) ?? []);
      io.stdout(json ? `${JSON.stringify(infos, bigintJson, 2)}\n` : infos.map(line).join(''));
      return 0;
    }
    case 'dump': {
      const target = positional[0];
      if (target === undefined) throw new UsageError('missing map id or pinned path');
      const fd = target.includes('/') ? openPinned(target) : fdById('map', parseObjectId(target, 'map'));
      dump(fd, json, io);
      return 0;
    }
    default:
      throw new UsageError(sub === undefined ? 'missing subcommand' : `unknown subcommand '${sub}'`);
  }
}

export const command: CliCommand = { name: 'map', summary: 'list maps in the kernel and dump their entries', usage, run };
