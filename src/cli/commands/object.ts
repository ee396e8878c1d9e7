import { loadCollectionSpec } from '../../object/load.ts';
import { describeRelocation } from '../../object/listing.ts';
import type { CollectionSpec, LegacyMapFields, MapSpec } from '../../object/spec.ts';
import { attachTypeName, mapTypeName, programTypeName } from '../../uapi/enums.ts';
import { type CliCommand, type CliIo, UsageError, readInputFile, unexpectedArgument, unknownOption } from '../command.ts';

const usage = `usage: tsbpf object FILE.o [--json]

Lists what a BPF object holds: programs (name, section, type, expected
attach type, attach target, linked instruction count), maps, global
variables, externs, relocations and a BTF summary.

  --json   the whole CollectionSpec as JSON (instructions included; BTF
           summarised; bigints and byte arrays as strings)
`;

/** A legacy definition's own fields: its layout and what it sets besides the common ones (raw pinning the loader does not apply included). */
function legacyFields(legacy: LegacyMapFields): string {
  const set = [
    legacy.id ? `id=${legacy.id}` : '',
    legacy.pinning !== undefined && legacy.pinning > 2 ? `pin-value=${legacy.pinning} (not pinned)` : '',
    legacy.namespace ? `namespace=${legacy.namespace}` : '',
  ].filter((f) => f !== '');
  return `${legacy.layout}${set.length > 0 ? `(${set.join(' ')})` : ''}`;
}

function mapLine(m: MapSpec): string {
  const extra = [
    m.flags !== 0 ? `flags=0x${m.flags.toString(16)}` : '',
    m.pinning !== 'none' ? `pinning=${m.pinning}` : '',
    m.legacy ? legacyFields(m.legacy) : '',
    m.readOnly ? 'read-only' : '',
    m.mapExtra !== undefined ? `map_extra=${m.mapExtra}` : '',
    m.innerMap ? `inner=${mapTypeName(m.innerMap.type)}(key ${m.innerMap.keySize}, value ${m.innerMap.valueSize}, max ${m.innerMap.maxEntries})` : '',
    m.contents.length > 0 ? `contents=[${m.contents.map((c) => `${typeof c.key === 'number' ? c.key : '…'}:${c.value instanceof Uint8Array ? '…' : 'program' in c.value ? c.value.program : c.value.map}`).join(', ')}]` : '',
  ].filter((s) => s !== '');
  return `  ${m.name.padEnd(20)} ${mapTypeName(m.type).padEnd(14)} key ${String(m.keySize).padStart(3)}  value ${String(m.valueSize).padStart(5)}  max ${String(m.maxEntries).padStart(7)}  ${m.section}${extra.length ? `  ${extra.join(' ')}` : ''}`;
}

function summary(spec: CollectionSpec): string {
  const out: string[] = [];
  out.push(`byte order ${spec.byteOrder}, license '${spec.license}'${spec.kernelVersion ? `, kernel version 0x${spec.kernelVersion.toString(16)}` : ''}`);
  out.push(spec.btf ? `BTF: ${spec.btf.types.length - 1} types` : 'BTF: none');
  out.push('', `programs (${Object.keys(spec.programs).length}):`);
  for (const p of Object.values(spec.programs)) {
    const attach = [p.expectedAttachType !== undefined ? `attach ${attachTypeName(p.expectedAttachType)}` : '', p.attachTo !== undefined ? `to ${p.attachTo}` : '', p.sleepable ? 'sleepable' : ''].filter((s) => s);
    out.push(`  ${p.name.padEnd(20)} ${`'${p.section}'`.padEnd(28)} ${(p.type === 0 ? 'UNSPEC' : programTypeName(p.type)).padEnd(16)} ${String(p.instructions.length).padStart(6)} insns${attach.length ? `  ${attach.join(' ')}` : ''}`);
    if (p.functions.length > 1) out.push(`      functions: ${p.functions.map((f) => `${f.name}@${f.insnIndex}`).join(', ')}`);
    for (const r of p.relocations) out.push(`      ${String(r.insnIndex).padStart(5)}: ${describeRelocation(r)}`);
    if (p.coreRelocations.length > 0) out.push(`      CO-RE relocations: ${p.coreRelocations.length}`);
  }
  out.push('', `maps (${Object.keys(spec.maps).length}):`);
  for (const m of Object.values(spec.maps)) out.push(mapLine(m));
  const variables = Object.values(spec.variables);
  if (variables.length > 0) {
    out.push('', `variables (${variables.length}):`);
    for (const v of variables) out.push(`  ${v.name.padEnd(20)} ${v.mapName}+${v.offset} (${v.size} bytes)${v.typeId !== undefined && spec.btf ? ` ${spec.btf.describe(v.typeId)}` : ''}${v.isStatic ? ' static' : ''}`);
  }
  const externs = Object.values(spec.externs);
  if (externs.length > 0) {
    out.push('', `externs (${externs.length}):`);
    for (const e of externs) out.push(`  ${e.name.padEnd(20)} ${e.kind}${e.isFunction ? ' function' : ''}${e.weak ? ' weak' : ''}${e.offset !== undefined ? ` at .kconfig+${e.offset} (${e.size} bytes)` : ''}`);
  }
  return `${out.join('\n')}\n`;
}

function toJson(spec: CollectionSpec): string {
  const btfSummary = spec.btf ? { types: spec.btf.types.length - 1, endianness: spec.btf.endianness } : undefined;
  return `${JSON.stringify(
    { ...spec, btf: btfSummary },
    (key, value: unknown) => {
      if (typeof value === 'bigint') return value.toString();
      if (value instanceof Uint8Array) return Buffer.from(value).toString('hex');
      if (key === 'btf' && value !== btfSummary) return undefined;
      return value;
    },
    2,
  )}\n`;
}

async function run(args: string[], io: CliIo): Promise<number> {
  let file: string | undefined;
  let json = false;
  for (const arg of args) {
    if (arg === '--json') json = true;
    else if (arg.startsWith('-')) throw unknownOption(arg);
    else if (file !== undefined) throw unexpectedArgument(arg);
    else file = arg;
  }
  if (file === undefined) throw new UsageError('missing FILE.o');
  const spec = loadCollectionSpec(await readInputFile(file, io));
  io.stdout(json ? toJson(spec) : summary(spec));
  return 0;
}

export const command: CliCommand = {
  name: 'object',
  summary: 'list the programs, maps, variables and relocations of a BPF object',
  usage,
  run,
};
