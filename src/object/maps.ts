/**
 * Map definitions of a BPF object: BTF-defined maps in `.maps` (libbpf's
 * __uint/__type/__array encoding), legacy `maps` sections (libbpf's
 * struct bpf_map_def and iproute2's struct bpf_elf_map), and the internal
 * maps backing global data (`.data*`, `.rodata*`, `.bss*`).
 */
import type { Btf } from '../btf/index.ts';
import type { BtfType, CompositeType } from '../btf/index.ts';
import { MapType } from '../uapi/enums.ts';
import { type ElfFile, type ElfSection, type ElfSymbol, SectionFlag, SectionType, SymbolType } from './elf.ts';
import { ObjectError } from './errors.ts';
import type { MapEntry, MapSpec, Pinning, VariableSpec } from './spec.ts';

/** BPF_F_RDONLY_PROG and BPF_F_MMAPABLE (include/uapi/linux/bpf.h). */
export const BPF_F_RDONLY_PROG = 1 << 7;
export const BPF_F_MMAPABLE = 1 << 10;

/** LIBBPF_PIN_BY_NAME; iproute2's PIN_OBJECT_NS / PIN_GLOBAL_NS. */
const LIBBPF_PIN_BY_NAME = 1;
const IPROUTE2_PIN_OBJECT_NS = 1;
const IPROUTE2_PIN_GLOBAL_NS = 2;

const isMapInMap = (type: number): boolean => type === MapType.ARRAY_OF_MAPS || type === MapType.HASH_OF_MAPS;

/** Where a `.maps` variable lives, to resolve relocations against it. */
export interface MapLocation {
  section: number;
  offset: number;
  size: number;
  name: string;
}

/** `values` initialisers of a BTF map: slot `index` is relocated to a symbol. */
interface ValuesSlot {
  mapName: string;
  /** Byte range of the `values` array within `.maps`. */
  start: number;
  end: number;
  /** Prog array (slots name programs) or map-in-map (slots name maps). */
  holds: 'program' | 'map';
}

export interface BtfMapsResult {
  maps: MapSpec[];
  locations: MapLocation[];
}

/** Parses BTF-defined maps of the `.maps` section. */
export function parseBtfMaps(elf: ElfFile, section: ElfSection, btf: Btf | undefined, programSymbolName: (symbol: ElfSymbol) => string | undefined): BtfMapsResult {
  if (btf === undefined) throw new ObjectError('BTF-defined maps need the object\'s BTF, and there is no .BTF section', section.name);
  const datasec = btf.findByName(section.name, 'datasec')[0];
  if (datasec === undefined || datasec.kind !== 'datasec') throw new ObjectError('no BTF DATASEC describes the section', section.name);
  const maps: MapSpec[] = [];
  const locations: MapLocation[] = [];
  const slots: ValuesSlot[] = [];
  for (const info of datasec.vars) {
    const variable = btfType(btf, info.type, section.name);
    if (variable.kind !== 'var') throw new ObjectError(`DATASEC entry [${info.type}] is a ${variable.kind.toUpperCase()}, expected a VAR`, section.name, info.offset);
    if (info.offset + info.size > section.size || info.offset > section.size) {
      throw new ObjectError(`map '${variable.name}' (${info.size} bytes at ${info.offset}) lies outside the ${section.size}-byte section`, section.name, info.offset);
    }
    const def = btfType(btf, variable.type, section.name, true);
    if (def.kind !== 'struct') throw new ObjectError(`map '${variable.name}' is a ${def.kind.toUpperCase()}, expected a struct definition`, section.name, info.offset);
    const map = parseBtfMapDef(btf, variable.name, def, section.name, info.offset);
    const values = def.members.find((m) => m.name === 'values');
    if (values !== undefined) {
      const start = info.offset + values.bitOffset / 8;
      const holds = map.type === MapType.PROG_ARRAY ? 'program' : 'map';
      slots.push({ mapName: map.name, start, end: info.offset + info.size, holds });
    }
    maps.push(map);
    locations.push({ section: section.index, offset: info.offset, size: info.size, name: variable.name });
  }
  collectValues(elf, section, maps, locations, slots, programSymbolName);
  return { maps, locations };
}

function btfType(btf: Btf, id: number, section: string, resolve = false): BtfType {
  try {
    return resolve ? btf.resolve(id) : btf.typeById(id);
  } catch (err) {
    throw new ObjectError(`bad BTF type reference: ${(err as Error).message}`, section);
  }
}

/** The `N` of `__uint(name, N)`: a pointer to an array of N elements. */
function uintField(btf: Btf, mapName: string, field: string, typeId: number, section: string, offset: number): number {
  const ptr = btfType(btf, typeId, section, true);
  if (ptr.kind !== 'ptr') throw new ObjectError(`map '${mapName}': attribute '${field}' is a ${ptr.kind.toUpperCase()}, expected __uint() (a pointer to an array)`, section, offset);
  const array = btfType(btf, ptr.type, section, true);
  if (array.kind !== 'array') throw new ObjectError(`map '${mapName}': attribute '${field}' points to a ${array.kind.toUpperCase()}, expected an array`, section, offset);
  return array.nelems;
}

/** `__ulong(name, N)` (an enum holding N) or `__uint(name, N)`. */
function longField(btf: Btf, mapName: string, field: string, typeId: number, section: string, offset: number): bigint {
  const t = btfType(btf, typeId, section, true);
  if ((t.kind === 'enum' || t.kind === 'enum64') && t.values.length === 1) return BigInt.asUintN(64, t.values[0]!.value);
  return BigInt(uintField(btf, mapName, field, typeId, section, offset));
}

/** The T of `__type(name, T)`: a pointer to T. */
function typeField(btf: Btf, mapName: string, field: string, typeId: number, section: string, offset: number): { id: number; size: number } {
  const ptr = btfType(btf, typeId, section, true);
  if (ptr.kind !== 'ptr') throw new ObjectError(`map '${mapName}': attribute '${field}' is a ${ptr.kind.toUpperCase()}, expected __type() (a pointer)`, section, offset);
  try {
    return { id: ptr.type, size: btf.sizeOf(ptr.type) };
  } catch (err) {
    throw new ObjectError(`map '${mapName}': ${field} type has no size: ${(err as Error).message}`, section, offset);
  }
}

function parseBtfMapDef(btf: Btf, name: string, def: CompositeType, section: string, offset: number, outer?: CompositeType): MapSpec {
  const map: MapSpec = {
    name,
    type: 0 as MapType,
    keySize: 0,
    valueSize: 0,
    maxEntries: 0,
    flags: 0,
    pinning: 'none',
    contents: [],
    readOnly: false,
    frozen: false,
    section,
  };
  let explicitKeySize: number | undefined;
  let explicitValueSize: number | undefined;
  let hasType = false;
  for (const member of def.members) {
    const at = offset + Math.floor(member.bitOffset / 8);
    switch (member.name) {
      case 'type':
        map.type = uintField(btf, name, 'type', member.type, section, at) as MapType;
        hasType = true;
        break;
      case 'max_entries':
        map.maxEntries = uintField(btf, name, 'max_entries', member.type, section, at);
        break;
      case 'map_flags':
        map.flags = uintField(btf, name, 'map_flags', member.type, section, at);
        break;
      case 'numa_node':
        map.numaNode = uintField(btf, name, 'numa_node', member.type, section, at);
        break;
      case 'map_extra':
        map.mapExtra = longField(btf, name, 'map_extra', member.type, section, at);
        break;
      case 'key_size':
        explicitKeySize = uintField(btf, name, 'key_size', member.type, section, at);
        break;
      case 'value_size':
        explicitValueSize = uintField(btf, name, 'value_size', member.type, section, at);
        break;
      case 'key': {
        const key = typeField(btf, name, 'key', member.type, section, at);
        map.keySize = key.size;
        map.btfKeyTypeId = key.id;
        break;
      }
      case 'value': {
        const value = typeField(btf, name, 'value', member.type, section, at);
        map.valueSize = value.size;
        map.btfValueTypeId = value.id;
        break;
      }
      case 'pinning': {
        const pinning = uintField(btf, name, 'pinning', member.type, section, at);
        if (pinning !== 0 && pinning !== LIBBPF_PIN_BY_NAME) throw new ObjectError(`map '${name}': unknown pinning ${pinning}`, section, at);
        map.pinning = pinning === 0 ? 'none' : 'by-name';
        break;
      }
      case 'values':
        // An inner definition with its own 'values' would nest without end when it names itself (C allows that).
        if (outer !== undefined) {
          const itself = outer === def ? ": 'values' names the outer map's own definition, a map-in-map that contains itself" : '';
          throw new ObjectError(`map '${name}': an inner map definition cannot have 'values' itself${itself}`, section, at);
        }
        parseValuesMember(btf, map, def, member.type, section, at);
        break;
      default:
        throw new ObjectError(`map '${name}': unknown attribute '${member.name}'`, section, at);
    }
  }
  if (!hasType) throw new ObjectError(`map '${name}': no map type`, section, offset);
  if (explicitKeySize !== undefined) {
    if (map.btfKeyTypeId !== undefined && map.keySize !== explicitKeySize) {
      throw new ObjectError(`map '${name}': key_size ${explicitKeySize} conflicts with the key type's size ${map.keySize}`, section, offset);
    }
    map.keySize = explicitKeySize;
  }
  if (explicitValueSize !== undefined) {
    if (map.btfValueTypeId !== undefined && map.valueSize !== explicitValueSize) {
      throw new ObjectError(`map '${name}': value_size ${explicitValueSize} conflicts with the value type's size ${map.valueSize}`, section, offset);
    }
    map.valueSize = explicitValueSize;
  }
  fillFdMapSizes(map);
  return map;
}

/** `__array(values, T)`: T is the inner map definition (map-in-map) or a function prototype (prog array). */
function parseValuesMember(btf: Btf, map: MapSpec, def: CompositeType, typeId: number, section: string, at: number): void {
  const array = btfType(btf, typeId, section, true);
  if (array.kind !== 'array') throw new ObjectError(`map '${map.name}': 'values' is a ${array.kind.toUpperCase()}, expected __array()`, section, at);
  const ptr = btfType(btf, array.elemType, section, true);
  if (ptr.kind !== 'ptr') throw new ObjectError(`map '${map.name}': 'values' elements are ${ptr.kind.toUpperCase()}, expected pointers`, section, at);
  const target = btfType(btf, ptr.type, section, true);
  if (isMapInMap(map.type)) {
    if (target.kind !== 'struct') throw new ObjectError(`map '${map.name}': inner map definition is a ${target.kind.toUpperCase()}, expected a struct`, section, at);
    const inner = parseBtfMapDef(btf, `${map.name}.inner`, target, section, at, def);
    if (isMapInMap(inner.type)) throw new ObjectError(`map '${map.name}': inner map is itself a map-in-map`, section, at);
    map.innerMap = inner;
  } else if (map.type === MapType.PROG_ARRAY) {
    if (target.kind !== 'func_proto') throw new ObjectError(`map '${map.name}': prog array 'values' point to a ${target.kind.toUpperCase()}, expected a function prototype`, section, at);
  } else {
    throw new ObjectError(`map '${map.name}': 'values' initialisers need a prog array or map-in-map, not type ${map.type}`, section, at);
  }
}

/** Turns relocations in `.maps` that land in `values` arrays into map contents. */
function collectValues(elf: ElfFile, section: ElfSection, maps: MapSpec[], locations: MapLocation[], slots: ValuesSlot[], programSymbolName: (symbol: ElfSymbol) => string | undefined): void {
  for (const reloc of elf.relocations.get(section.index) ?? []) {
    const slot = slots.find((s) => reloc.offset >= s.start && reloc.offset < s.end);
    if (slot === undefined) throw new ObjectError(`relocation at ${reloc.offset} is not inside a map's 'values' initialiser`, section.name, reloc.offset);
    if ((reloc.offset - slot.start) % 8 !== 0) throw new ObjectError(`relocation at ${reloc.offset} is not aligned to a 'values' slot`, section.name, reloc.offset);
    const index = (reloc.offset - slot.start) / 8;
    const map = maps.find((m) => m.name === slot.mapName)!;
    if (index >= map.maxEntries) throw new ObjectError(`map '${map.name}': 'values' initialiser at index ${index} is beyond max_entries ${map.maxEntries}`, section.name, reloc.offset);
    let value: MapEntry['value'];
    if (slot.holds === 'program') {
      const program = programSymbolName(reloc.symbol);
      if (program === undefined) throw new ObjectError(`map '${map.name}': slot ${index} refers to '${reloc.symbol.name}', which is not a program`, section.name, reloc.offset);
      value = { program };
    } else {
      const inner = locations.find((l) => l.section === reloc.symbol.sectionIndex && l.offset === reloc.symbol.value);
      if (inner === undefined) throw new ObjectError(`map '${map.name}': slot ${index} refers to '${reloc.symbol.name}', which is not a map`, section.name, reloc.offset);
      value = { map: inner.name };
    }
    map.contents.push({ key: index, value });
  }
  for (const map of maps) map.contents.sort((a, b) => (a.key as number) - (b.key as number));
}

/** samples/bpf's bpf_load.c-era struct bpf_map_def: the five fields, inner_map_idx, numa_node. */
const BPF_LOAD_MAP_DEF_SIZE = 28;
/** BPF_F_NUMA_NODE (include/uapi/linux/bpf.h). */
const BPF_F_NUMA_NODE = 1 << 2;

/** gobpf's struct bpf_map_def: the five fields, pinning, then a 256-byte pin namespace (BUF_SIZE_MAP_NS). */
const GOBPF_MAP_DEF_SIZE = 280;
const GOBPF_NAMESPACE_OFFSET = 24;
const GOBPF_NAMESPACE_SIZE = 256;

/** Pinning values that mean "pinned by name" in every legacy layout: PIN_OBJECT_NS and PIN_GLOBAL_NS. */
const pinnedByName = (pinning: number): Pinning => (pinning === IPROUTE2_PIN_OBJECT_NS || pinning === IPROUTE2_PIN_GLOBAL_NS ? 'by-name' : 'none');

/**
 * One legacy definition of `size` bytes at `offset` in `section`, its
 * layout chosen by size: 20 bytes or less is libbpf's struct bpf_map_def
 * {type, key_size, value_size, max_entries, map_flags}; gobpf's 280-byte
 * bpf_map_def adds pinning and a pin namespace; 28 bytes or more is
 * iproute2's struct bpf_elf_map {..., id, pinning[, inner_id, inner_idx]}
 * as tc and Cilium use it. Fields beyond a shorter definition read as zero.
 */
function legacyMapDef(elf: ElfFile, section: ElfSection, name: string, offset: number, size: number): MapSpec {
  if (offset + size > section.size || size < 4) {
    throw new ObjectError(`map '${name}' (${size} bytes at ${offset}) does not fit in the ${section.size}-byte section`, section.name, offset);
  }
  const field = (index: number): number => (index * 4 + 4 <= size ? elf.u32(section.offset + offset + index * 4) : 0);
  const map: MapSpec = {
    name,
    type: field(0) as MapType,
    keySize: field(1),
    valueSize: field(2),
    maxEntries: field(3),
    flags: field(4),
    pinning: 'none',
    contents: [],
    readOnly: false,
    frozen: false,
    section: section.name,
  };
  if (size === GOBPF_MAP_DEF_SIZE) {
    const raw = elf.contents(section).subarray(offset + GOBPF_NAMESPACE_OFFSET, offset + GOBPF_NAMESPACE_OFFSET + GOBPF_NAMESPACE_SIZE);
    const end = raw.indexOf(0);
    map.legacy = { layout: 'gobpf', pinning: field(5), namespace: new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end)) };
    map.pinning = pinnedByName(field(5));
  } else if (size === BPF_LOAD_MAP_DEF_SIZE && (isMapInMap(map.type) || (map.flags & BPF_F_NUMA_NODE) !== 0)) {
    // As large as iproute2's 7-field bpf_elf_map, which has no map-in-map and no NUMA node: these only mean something here.
    map.legacy = { layout: 'bpf_load_map_def', innerMapIndex: field(5) };
    if ((map.flags & BPF_F_NUMA_NODE) !== 0) map.numaNode = field(6);
  } else if (size >= 28) {
    map.legacy = { layout: 'bpf_elf_map', pinning: field(6), id: field(5), innerId: field(7), innerIndex: field(8) };
    map.pinning = pinnedByName(field(6));
  } else {
    map.legacy = { layout: 'bpf_map_def' };
  }
  fillFdMapSizes(map);
  return map;
}

/** Prog arrays, map-in-maps and perf event arrays hold 4-byte fds or ids: libbpf fills sizes left unset. */
function fillFdMapSizes(map: MapSpec): void {
  if (map.type === MapType.PROG_ARRAY || map.type === MapType.PERF_EVENT_ARRAY || isMapInMap(map.type)) {
    if (map.keySize === 0 && map.type !== MapType.HASH_OF_MAPS) map.keySize = 4;
    if (map.valueSize === 0) map.valueSize = 4;
  }
}

/**
 * Legacy map definitions in a `maps` section: one symbol per map, each
 * definition running to its symbol's size or, for the size-0 symbols of old
 * compilers, to the next symbol (see legacyMapDef for the layouts).
 */
export function parseLegacyMaps(elf: ElfFile, section: ElfSection): BtfMapsResult {
  const symbols = elf.symbols
    .filter((s) => s.sectionIndex === section.index && s.name !== '' && s.type !== SymbolType.SECTION && s.type !== SymbolType.FILE)
    .sort((a, b) => a.value - b.value);
  if (symbols.length === 0) return { maps: [], locations: [] };
  const maps: MapSpec[] = [];
  const locations: MapLocation[] = [];
  symbols.forEach((symbol, i) => {
    const nextStart = symbols.slice(i + 1).find((s) => s.value > symbol.value)?.value ?? section.size;
    const size = symbol.size > 0 ? symbol.size : nextStart - symbol.value;
    maps.push(legacyMapDef(elf, section, symbol.name, symbol.value, size));
    locations.push({ section: section.index, offset: symbol.value, size, name: symbol.name });
  });
  linkIproute2MapInMap(maps, section.name);
  linkBpfLoadMapInMap(maps, section.name);
  return { maps, locations };
}

/** bpf_load.c's map-in-map: `inner_map_idx` is the inner template's position among the section's maps. */
function linkBpfLoadMapInMap(maps: MapSpec[], section: string): void {
  for (const outer of maps) {
    if (outer.legacy?.layout !== 'bpf_load_map_def' || !isMapInMap(outer.type)) continue;
    const index = outer.legacy.innerMapIndex ?? 0;
    const inner = maps[index];
    if (inner === undefined || inner === outer) throw new ObjectError(`map '${outer.name}': inner_map_idx ${index} names no other map of the section (it has ${maps.length})`, section);
    outer.innerMap = { ...inner, name: `${outer.name}.inner`, contents: [] };
  }
}

/**
 * A `maps/NAME` section (gobpf and the bcc-era loaders built on it): one
 * map, named NAME, whose definition is the whole section.
 */
export function parseNamedMapSection(elf: ElfFile, section: ElfSection): BtfMapsResult {
  const name = section.name.slice('maps/'.length);
  if (name === '') throw new ObjectError("a 'maps/' section needs a map name after the slash", section.name);
  return { maps: [legacyMapDef(elf, section, name, 0, section.size)], locations: [{ section: section.index, offset: 0, size: section.size, name }] };
}

/**
 * iproute2 map-in-map: an outer map names its inner template by `inner_id`;
 * every map whose `id` equals it is placed at its `inner_idx`.
 */
function linkIproute2MapInMap(maps: MapSpec[], section: string): void {
  for (const outer of maps) {
    const innerId = outer.legacy?.innerId ?? 0;
    if (innerId === 0) continue;
    if (!isMapInMap(outer.type)) throw new ObjectError(`map '${outer.name}' has inner_id ${innerId} but is not a map-in-map`, section);
    const inners = maps.filter((m) => m !== outer && m.legacy?.id === innerId);
    if (inners.length === 0) throw new ObjectError(`map '${outer.name}': no map has id ${innerId} (its inner_id)`, section);
    outer.innerMap = { ...inners[0]!, name: `${outer.name}.inner`, contents: [] };
    for (const inner of inners) outer.contents.push({ key: inner.legacy!.innerIndex ?? 0, value: { map: inner.name } });
  }
}

export type GlobalDataKind = 'data' | 'rodata' | 'bss';

/** `.data`, `.data.foo`, `.rodata*`, `.bss*` → their kind (libbpf's SEC_DATA / SEC_RODATA / SEC_BSS). */
export function globalDataKind(section: ElfSection): GlobalDataKind | undefined {
  if ((section.flags & SectionFlag.ALLOC) === 0 || (section.flags & SectionFlag.EXECINSTR) !== 0) return undefined;
  const is = (prefix: string): boolean => section.name === prefix || section.name.startsWith(`${prefix}.`);
  if (is('.bss') && section.type === SectionType.NOBITS) return 'bss';
  if (section.type !== SectionType.PROGBITS) return undefined;
  if (is('.data')) return 'data';
  if (is('.rodata')) return 'rodata';
  return undefined;
}

/** The internal ARRAY map holding a global data section, and its variables. */
export function globalDataMap(elf: ElfFile, section: ElfSection, kind: GlobalDataKind, btf: Btf | undefined): { map: MapSpec; variables: VariableSpec[] } {
  const datasec = btf?.findByName(section.name, 'datasec')[0];
  const map: MapSpec = {
    name: section.name,
    type: MapType.ARRAY,
    keySize: 4,
    valueSize: section.size,
    maxEntries: 1,
    flags: BPF_F_MMAPABLE | (kind === 'rodata' ? BPF_F_RDONLY_PROG : 0),
    pinning: 'none',
    contents: [],
    initialData: elf.contents(section).slice(),
    readOnly: kind === 'rodata',
    frozen: kind === 'rodata',
    section: section.name,
  };
  if (datasec !== undefined) map.btfValueTypeId = datasec.id;
  const variables: VariableSpec[] = [];
  for (const symbol of elf.symbols) {
    if (symbol.sectionIndex !== section.index || symbol.type !== SymbolType.OBJECT || symbol.name === '') continue;
    if (symbol.value + symbol.size > section.size) {
      throw new ObjectError(`variable '${symbol.name}' (${symbol.size} bytes at ${symbol.value}) lies outside the ${section.size}-byte section`, section.name, symbol.value);
    }
    const variable: VariableSpec = { name: symbol.name, mapName: map.name, offset: symbol.value, size: symbol.size, isStatic: symbol.binding === 0 };
    if (datasec?.kind === 'datasec' && btf !== undefined) {
      const info = datasec.vars.find((v) => btf.types[v.type]?.name === symbol.name);
      const v = info !== undefined ? btf.types[info.type] : undefined;
      if (v?.kind === 'var') variable.typeId = v.type;
    }
    variables.push(variable);
  }
  return { map, variables };
}
