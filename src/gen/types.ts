/**
 * `tsbpf gen types`: TypeScript bindings for a compiled object, as bpf2go
 * and `bpftool gen skeleton` write Go and C ones. From the object's BTF:
 * a type for every map key and value, every record a program submits to a
 * ring buffer or perf event array, every global variable section, and a
 * loader returning the object's maps, readers, variables and programs typed
 * end to end on either backend (the runtime is ./skeleton.ts).
 *
 * TypeScript shapes follow the value codec (src/btf/value.ts): structs
 * become interfaces, integers above 53 bits and pointers `bigint`, `char`
 * arrays `string`, enums unions of their enumerator names (and `number`
 * for values no enumerator has).
 */
import type { Btf } from '../btf/btf.ts';
import type { BtfType, CompositeType } from '../btf/types.ts';
import { TsbpfError } from '../errors.ts';
import { LdImm64Src } from '../isa/opcodes.ts';
import type { CollectionSpec, MapSpec, ProgramSpec } from '../object/spec.ts';
import { MapType, mapTypeName } from '../uapi/enums.ts';
import { mapTypeRule } from '../uapi/maps.ts';

/** A problem generating bindings: no BTF, an ambiguous record type, a bad option. */
export class GenerateError extends TsbpfError {
  override name = 'GenerateError';
}

export interface GenerateOptions {
  /** The binding's name: `loadNAME`, `NAMEObjects` (default: from the object's file name). */
  name: string;
  /** The object's bytes, embedded in the bindings (base64) so they load without the file. */
  object: Uint8Array;
  /** Where the bindings import tsbpf from (default 'tsbpf'; a relative path to src/ in tests). */
  importFrom?: string;
  /** Record types by ring buffer / perf event array map name, overriding what the programs' code suggests. */
  records?: Readonly<Record<string, string>>;
}

/** `exec_event` → `ExecEvent`; characters TypeScript identifiers cannot hold become `_`. */
export function pascalCase(name: string): string {
  const words = name.replace(/[^A-Za-z0-9]+/g, '_').split('_').filter((w) => w !== '');
  const joined = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  return /^[0-9]/.test(joined) ? `_${joined}` : joined || '_';
}

/** A property key: bare when it is an identifier, quoted otherwise (`.rodata.str1.1`). */
const propertyKey = (name: string): string => (/^[A-Za-z_$][\w$]*$/.test(name) ? name : JSON.stringify(name));

/** Writes TypeScript declarations for BTF types, naming each struct, union and enum once. */
class TypeWriter {
  readonly declarations: string[] = [];
  readonly #names = new Map<number, string>();
  readonly #taken = new Set<string>();

  constructor(
    readonly btf: Btf,
    reserved: Iterable<string>,
  ) {
    for (const name of reserved) this.#taken.add(name);
  }

  /** A fresh exported name based on `base`. */
  claim(base: string): string {
    let name = base;
    for (let n = 2; this.#taken.has(name); n++) name = `${base}${n}`;
    this.#taken.add(name);
    return name;
  }

  /** The TypeScript type of values of BTF type `id`, declaring named types on the way. */
  type(id: number): string {
    const t = this.#strip(id);
    switch (t.kind) {
      case 'int':
        if (t.encoding === 'bool' && t.bits <= 8 && t.offset === 0) return 'boolean';
        return t.bits > 53 ? 'bigint' : 'number';
      case 'float':
        return 'number';
      case 'ptr':
        return 'bigint';
      case 'enum':
      case 'enum64':
        return this.#named(t, () => `${t.values.map((v) => JSON.stringify(v.name)).join(' | ') || 'never'} | number`, 'type');
      case 'array': {
        const element = this.#strip(t.elemType);
        if (element.kind === 'int' && element.size === 1 && (element.encoding === 'char' || element.name === 'char')) return 'string';
        const inner = this.type(t.elemType);
        return /^[\w.]+$/.test(inner) ? `${inner}[]` : `Array<${inner}>`;
      }
      case 'struct':
      case 'union':
        return this.#named(t, () => this.#body(t, '  '), 'interface');
      case 'datasec':
        return `{ ${t.vars.map((v) => `${propertyKey(this.btf.typeById(v.type).name)}: ${this.type(v.type)}`).join('; ')} }`;
      case 'var':
        return this.type(t.type);
      default:
        return 'never';
    }
  }

  /** Through typedefs and qualifiers to the type that decides the shape. */
  #strip(id: number): BtfType {
    let t = this.btf.typeById(id);
    while (t.kind === 'typedef' || t.kind === 'const' || t.kind === 'volatile' || t.kind === 'restrict' || t.kind === 'type_tag') t = this.btf.typeById(t.type);
    return t;
  }

  /** Anonymous types are written in place; named ones declared once and referred to by name. */
  #named(t: BtfType, body: () => string, form: 'type' | 'interface'): string {
    if (t.name === '') return form === 'interface' ? `{\n${body()}}` : body();
    const known = this.#names.get(t.id);
    if (known !== undefined) return known;
    const name = this.claim(pascalCase(t.name));
    this.#names.set(t.id, name);
    const kind = t.kind === 'enum' || t.kind === 'enum64' ? 'enum' : t.kind;
    this.declarations.push(form === 'interface' ? `/** ${kind} ${t.name} */\nexport interface ${name} {\n${body()}}\n` : `/** ${kind} ${t.name} */\nexport type ${name} = ${body()};\n`);
    return name;
  }

  /** Members as the codec decodes them: anonymous struct and union members lifted into the parent. */
  #body(t: CompositeType, indent: string): string {
    let out = '';
    for (const m of t.members) {
      const resolved = this.#strip(m.type);
      if (m.name === '' && (resolved.kind === 'struct' || resolved.kind === 'union')) {
        out += this.#body(resolved, indent);
        continue;
      }
      if (m.name === '') continue;
      const type = m.bitSize > 0 ? (m.bitSize > 53 ? 'bigint' : resolved.kind === 'enum' || resolved.kind === 'enum64' ? this.type(m.type) : 'number') : this.type(m.type);
      out += `${indent}${propertyKey(m.name)}: ${type};\n`;
    }
    return out;
  }
}

/** A ring buffer or perf event array the programs write to, with the size of what they write when the code says. */
interface EventWrite {
  mapName: string;
  size: number | undefined;
}

const HELPER_RINGBUF_OUTPUT = 130;
const HELPER_RINGBUF_RESERVE = 131;
const HELPER_PERF_EVENT_OUTPUT = 25;

/**
 * Calls to bpf_ringbuf_reserve/bpf_ringbuf_output/bpf_perf_event_output:
 * the map is the last `lddw r1, map` before the call and the size the last
 * constant moved into the size argument's register (r2, r2, r5).
 */
function eventWrites(program: ProgramSpec): EventWrite[] {
  const mapAt = new Map(program.relocations.filter((r) => r.kind === 'map').map((r) => [r.insnIndex, r.mapName]));
  const writes: EventWrite[] = [];
  const registers = new Map<number, { map?: string; constant?: number }>();
  program.instructions.forEach((insn, index) => {
    const cls = insn.opcode & 0x07;
    if (insn.opcode === 0x18 && insn.src === LdImm64Src.MAP_FD && mapAt.has(index)) registers.set(insn.dst, { map: mapAt.get(index)! });
    else if (insn.opcode === 0xb7 || insn.opcode === 0xb4) registers.set(insn.dst, { constant: insn.imm });
    else if (insn.opcode === 0xbf) registers.set(insn.dst, { ...registers.get(insn.src) });
    else if (insn.opcode === 0x85 && insn.src === 0) {
      const sizeRegister = insn.imm === HELPER_PERF_EVENT_OUTPUT ? 5 : insn.imm === HELPER_RINGBUF_OUTPUT ? 3 : 2;
      const map = registers.get(1)?.map;
      if (map !== undefined && (insn.imm === HELPER_RINGBUF_RESERVE || insn.imm === HELPER_RINGBUF_OUTPUT || insn.imm === HELPER_PERF_EVENT_OUTPUT)) {
        writes.push({ mapName: map, size: registers.get(sizeRegister)?.constant });
      }
      for (let r = 0; r <= 5; r++) registers.delete(r); // calls clobber r0-r5
    } else if (cls === 0x00 || cls === 0x01 || cls === 0x04 || cls === 0x07) {
      registers.delete(insn.dst); // any other load or arithmetic writes the register
    }
  });
  return writes;
}

/** The named struct a ring buffer or perf event array carries: given, or the one struct of the size the programs write. */
function recordType(spec: CollectionSpec, btf: Btf, map: MapSpec, given: string | undefined): CompositeType | undefined {
  const structs = btf.types.filter((t): t is CompositeType => (t.kind === 'struct' || t.kind === 'union') && t.name !== '');
  if (given !== undefined) {
    const found = structs.find((t) => t.name === given);
    if (found === undefined) throw new GenerateError(`record type '${given}' for map '${map.name}' is not a named struct or union in the object's BTF`);
    return found;
  }
  const sizes = new Set(Object.values(spec.programs).flatMap((p) => eventWrites(p).filter((w) => w.mapName === map.name && w.size !== undefined).map((w) => w.size!)));
  if (sizes.size !== 1) return undefined;
  const [size] = sizes;
  const candidates = structs.filter((t) => t.size === size && !t.name.startsWith('bpf_') && !t.name.startsWith('__'));
  return candidates.length === 1 ? candidates[0] : undefined;
}

const GLOBAL_SECTIONS: ReadonlyArray<[string, string]> = [
  ['.rodata', 'rodata'],
  ['.data', 'data'],
  ['.bss', 'bss'],
];

/** An interface of members, or an empty record type when there are none (linters refuse empty interfaces). */
function group(name: string, members: readonly string[]): string {
  return members.length === 0 ? `export type ${name} = Record<string, never>;\n` : `export interface ${name} {\n${members.join('\n')}\n}\n`;
}

/** The bindings' TypeScript source. */
export function generateTypes(spec: CollectionSpec, options: GenerateOptions): string {
  const btf = spec.btf;
  if (btf === undefined) throw new GenerateError('the object has no BTF (.BTF section): compile it with -g');
  const base = pascalCase(options.name);
  const from = options.importFrom ?? 'tsbpf';
  // A package name uses its subpath exports; a path (tests, a checkout) the sources' index files.
  const entry = (area: string): string => (from.startsWith('.') || from.startsWith('/') ? `${from}/${area}/index.ts` : `${from}/${area}`);
  const writer = new TypeWriter(btf, [`${base}Objects`, `${base}Maps`, `${base}Programs`, `${base}Readers`, ...GLOBAL_SECTIONS.map(([, s]) => `${base}${pascalCase(s)}`)]);
  const mapLines: string[] = [];
  const mapValues: string[] = [];
  const ringLines: string[] = [];
  const ringValues: string[] = [];
  const notes: string[] = [];
  for (const map of Object.values(spec.maps)) {
    if (map.name.startsWith('.')) continue; // global data: the variable sections below
    const key = propertyKey(map.name);
    if (map.type === MapType.RINGBUF || map.type === MapType.PERF_EVENT_ARRAY) {
      const record = recordType(spec, btf, map, options.records?.[map.name]);
      const kind = map.type === MapType.RINGBUF ? 'ringbuf' : 'perfbuf';
      if (record === undefined) notes.push(`map '${map.name}': no record type found (give --record ${map.name}=STRUCT, and make sure the struct is in the BTF); records are bytes`);
      const type = record === undefined ? 'Uint8Array' : writer.type(record.id);
      ringLines.push(`  /** ${mapTypeName(map.type).toLowerCase()} '${map.name}'${record ? `: struct ${record.name} records` : ''} */\n  readonly ${key}: EventStream<${type}>;`);
      ringValues.push(`      ${key}: skeleton.${kind}(${JSON.stringify(map.name)}, ${record ? record.id : 'undefined'}),`);
      continue;
    }
    const perCpu = mapTypeRule(map.type)?.perCpu ?? false;
    const hasBtf = map.btfValueTypeId !== undefined && map.btfValueTypeId > 0;
    const label = `/** ${mapTypeName(map.type).toLowerCase()} '${map.name}' (max_entries ${map.maxEntries}) */`;
    if (!hasBtf) {
      mapLines.push(`  ${label}\n  readonly ${key}: BpfMap;`);
      mapValues.push(`      get ${key}() { return skeleton.rawMap(${JSON.stringify(map.name)}); },`);
      continue;
    }
    const keyType = map.btfKeyTypeId ? writer.type(map.btfKeyTypeId) : map.keySize === 4 ? 'number' : 'null';
    const valueType = writer.type(map.btfValueTypeId!);
    mapLines.push(`  ${label}\n  readonly ${key}: ${perCpu ? 'PerCpuTypedMap' : 'TypedMap'}<${keyType}, ${valueType}>;`);
    mapValues.push(`      get ${key}() { return skeleton.${perCpu ? 'perCpuMap' : 'map'}<${keyType}, ${valueType}>(${JSON.stringify(map.name)}); },`);
  }

  const sectionLines: string[] = [];
  const sectionValues: string[] = [];
  for (const [section, property] of GLOBAL_SECTIONS) {
    const map = spec.maps[section];
    const datasec = btf.findByName(section, 'datasec')[0];
    if (map === undefined || datasec?.kind !== 'datasec') continue;
    const name = `${base}${pascalCase(property)}`;
    const members = datasec.vars.map((v) => `  ${propertyKey(btf.typeById(v.type).name)}: ${writer.type(v.type)};\n`).join('');
    writer.declarations.push(`/** Global variables in ${section}${section === '.rodata' ? ' (settable until the object is loaded)' : ''}. */\nexport interface ${name} {\n${members}}\n`);
    sectionLines.push(`  readonly ${property}: ${name};`);
    sectionValues.push(`    ${property}: skeleton.variables<${name}>(${JSON.stringify(section)}),`);
  }

  const programLines = Object.values(spec.programs).map((p) => `  /** SEC("${p.section}")${p.attachTo ? `: attaches to ${p.attachTo}` : ''} */\n  readonly ${propertyKey(p.name)}: BpfProgram;`);
  const programValues = Object.values(spec.programs).map((p) => `      get ${propertyKey(p.name)}() { return skeleton.program(${JSON.stringify(p.name)}); },`);

  const objectBase64 = encodeBase64(options.object);
  const lines = [
    `// Generated by \`tsbpf gen types\` from ${options.name}.o: do not edit.`,
    ...notes.map((n) => `// Note: ${n}`),
    `import type { ${['BpfMap', 'BpfProgram', 'PerCpuTypedMap', 'TypedMap'].filter((t) => [...mapLines, ...programLines].some((l) => l.includes(`: ${t}`))).join(', ') || 'BpfProgram'} } from '${entry('backend')}';`,
    `import { type EventStream, type SkeletonObjects, type SkeletonOptions, openSkeleton } from '${entry('gen')}';`,
    '',
    ...writer.declarations,
    group(`${base}Maps`, mapLines),
    group(`${base}Readers`, ringLines),
    group(`${base}Programs`, programLines),
    `/** The object's maps, event readers, variables and programs; it loads on first use of a map or program (set .rodata first). */`,
    `export interface ${base}Objects extends SkeletonObjects {`,
    `  readonly maps: ${base}Maps;`,
    `  readonly ringbufs: ${base}Readers;`,
    `  readonly programs: ${base}Programs;`,
    ...sectionLines,
    '}',
    '',
    `const OBJECT = '${objectBase64}';`,
    '',
    `/** Opens ${options.name}.o on the kernel (\`{ backend: 'kernel' }\`) or in the VM (default). */`,
    `export async function load${base}(options: SkeletonOptions = {}): Promise<${base}Objects> {`,
    `  const skeleton = await openSkeleton(OBJECT, options);`,
    `  return skeleton.objects<${base}Objects>({`,
    `    maps: {\n${mapValues.join('\n')}\n    },`,
    `    ringbufs: {\n${ringValues.join('\n')}\n    },`,
    `    programs: {\n${programValues.join('\n')}\n    },`,
    ...sectionValues,
    `  });`,
    `}`,
    '',
  ];
  return lines.join('\n');
}

/** Base64 without Node's Buffer, so that the generator also runs in browsers. */
export function encodeBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let at = 0; at < bytes.length; at += 0x8000) binary += String.fromCharCode(...bytes.subarray(at, at + 0x8000));
  return btoa(binary);
}
