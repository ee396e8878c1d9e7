import { btfData, fdById, listIds, mapInfo, withObjectFd, type MapInfo, KernelSymbols, stackAddresses, symbolizeStack, KernelMap, openPinned, possibleCpus, bigintJson, hexBytes as hex } from '../../kernel/index.ts';
import { parseBtf } from '../../btf/btf.ts';
import { type BtfValue, type BtfValueCodec, btfValueCodec } from '../../btf/value.ts';
import { MapType } from '../../uapi/enums.ts';
import { mapTypeName } from '../../uapi/enums.ts';
import { TsbpfError } from '../../errors.ts';
import { type CliCommand, type CliIo, UsageError, parseFlags, parseObjectId } from '../command.ts';

const usage = `usage: tsbpf map list [--json]
       tsbpf map dump ID|PINNED_PATH [--json]

Maps in the kernel (needs root).

  list               every map: id, type, name, key/value sizes, max entries, flags
  dump ID|PATH       every entry of the map with that id or pinned at PATH:
                     decoded from the map's BTF when it has some (bpftool's
                     {"comm":"sh"}: 114), hex otherwise; stack trace maps as
                     symbolised frames (kallsyms); per-CPU maps show one value
                     per possible CPU
  --json             machine-readable output
`;

function line(info: MapInfo): string {
  return `${info.id}: ${mapTypeName(info.type).toLowerCase()}  name ${info.name || '-'}  flags 0x${info.flags.toString(16)}\n\tkey ${info.keySize}B  value ${info.valueSize}B  max_entries ${info.maxEntries}${info.btfId ? `  btf_id ${info.btfId}` : ''}\n`;
}

const NOT_ITERABLE = new Set(['RINGBUF', 'USER_RINGBUF', 'PERF_EVENT_ARRAY', 'QUEUE', 'STACK', 'BLOOM_FILTER', 'STRUCT_OPS', 'ARENA']);

/** A decoded value as bpftool prints BTF values: JSON, with 64-bit integers and addresses as plain numbers. */
export function formatBtfValue(value: BtfValue): string {
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return `[${value.map(formatBtfValue).join(',')}]`;
  if (typeof value === 'object') return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${formatBtfValue(v)}`).join(',')}}`;
  return JSON.stringify(value);
}

/** How a map's keys and values print: through BTF codecs when the map has BTF types, as hex bytes otherwise. */
interface Printer {
  key(bytes: Uint8Array): string;
  value(bytes: Uint8Array): string;
  /** Decoded forms for --json (undefined without BTF). */
  decodedKey?(bytes: Uint8Array): BtfValue;
  decodedValue?(bytes: Uint8Array): BtfValue;
}

function printer(info: MapInfo): Printer {
  if (info.type === MapType.STACK_TRACE) {
    let symbols: KernelSymbols | undefined;
    try {
      symbols = new KernelSymbols();
    } catch {
      symbols = undefined; // kallsyms hidden: frames print as addresses
    }
    const frames = (bytes: Uint8Array): string[] => symbolizeStack(stackAddresses(bytes), { kernel: symbols });
    return { key: (b) => String(new DataView(b.buffer, b.byteOffset).getUint32(0, true)), value: (b) => `\n${frames(b).map((f) => `    ${f}`).join('\n')}`, decodedValue: (b) => frames(b) };
  }
  if (info.btfId === 0 || info.btfValueTypeId === 0) return { key: hex, value: hex };
  const btfBytes = withObjectFd('btf', info.btfId, btfData);
  if (btfBytes === undefined) return { key: hex, value: hex }; // the BTF went away with its last user
  const btf = parseBtf(btfBytes);
  const value = btfValueCodec(btf, info.btfValueTypeId);
  let key: BtfValueCodec | undefined;
  if (info.btfKeyTypeId !== 0) key = btfValueCodec(btf, info.btfKeyTypeId);
  const decodeKey = (b: Uint8Array): BtfValue => (key ? key.decode(b) : info.keySize === 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : hex(b));
  return { key: (b) => formatBtfValue(decodeKey(b)), value: (b) => formatBtfValue(value.decode(b)), decodedKey: decodeKey, decodedValue: (b) => value.decode(b) };
}

function dump(fd: number, json: boolean, io: CliIo): void {
  const info = mapInfo(fd);
  const typeName = mapTypeName(info.type);
  if (NOT_ITERABLE.has(typeName)) throw new TsbpfError(`map ${info.id} is a ${typeName} map: it has no keys to iterate`);
  const map = new KernelMap(fd, { type: info.type, name: info.name, keySize: info.keySize, valueSize: info.valueSize, maxEntries: info.maxEntries, flags: info.flags });
  try {
    const print = printer(info);
    const rows: Array<{ key: Uint8Array; values: Uint8Array[] }> = [];
    for (const key of map.keys()) {
      const values = map.perCpu ? map.lookupPerCpu(key) : [map.lookup(key)].filter((v) => v !== undefined);
      if (values && values.length > 0) rows.push({ key, values });
    }
    if (json) {
      const entries = rows.map(({ key, values }) => ({
        key: hex(key),
        ...(map.perCpu ? { values: values.map(hex) } : { value: hex(values[0]!) }),
        ...(print.decodedKey ? { formatted: { key: print.decodedKey(key), ...(map.perCpu ? { values: values.map((v) => print.decodedValue!(v)) } : { value: print.decodedValue!(values[0]!) }) } } : {}),
        ...(!print.decodedKey && print.decodedValue ? { frames: print.decodedValue(values[0]!) } : {}),
      }));
      io.stdout(`${JSON.stringify({ map: info, entries }, bigintJson, 2)}\n`);
      return;
    }
    const decoded = print.decodedKey !== undefined;
    for (const { key, values } of rows) {
      if (map.perCpu) io.stdout(`key: ${print.key(key)}\n${values.map((v, cpu) => `  value (CPU ${String(cpu).padStart(2, '0')}): ${print.value(v)}`).join('\n')}\n`);
      else io.stdout(decoded ? `${print.key(key)}: ${print.value(values[0]!)}\n` : `key: ${print.key(key)}  value: ${print.value(values[0]!)}\n`);
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
