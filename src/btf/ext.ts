/**
 * `.BTF.ext` parsing: func_info, line_info and CO-RE relocation records per
 * ELF section (libbpf's btf_ext__new, kernel Documentation/bpf/btf.rst
 * "BTF Extension"). Record sizes come from the blob, so records that a
 * newer compiler made longer are read by their known prefix.
 */
import { type Btf, type Endianness, detectEndianness } from './btf.ts';
import { BtfError } from './types.ts';

export type CoreRelocationKind =
  | 'field_byte_offset'
  | 'field_byte_size'
  | 'field_exists'
  | 'field_signed'
  | 'field_lshift_u64'
  | 'field_rshift_u64'
  | 'type_id_local'
  | 'type_id_target'
  | 'type_exists'
  | 'type_size'
  | 'enum_value_exists'
  | 'enum_value'
  | 'type_matches';

/** enum bpf_core_relo_kind, index = the kernel's number. */
export const CORE_RELOCATION_KINDS: readonly CoreRelocationKind[] = [
  'field_byte_offset',
  'field_byte_size',
  'field_exists',
  'field_signed',
  'field_lshift_u64',
  'field_rshift_u64',
  'type_id_local',
  'type_id_target',
  'type_exists',
  'type_size',
  'enum_value_exists',
  'enum_value',
  'type_matches',
];

/** The kernel's number of a relocation kind (enum bpf_core_relo_kind). */
export const coreRelocationKindNumber = (kind: CoreRelocationKind): number => CORE_RELOCATION_KINDS.indexOf(kind);

/*
 * The record types below serve both the parsed `.BTF.ext` (where `insnIndex`
 * counts the 8-byte slots of the record's ELF section) and the object
 * loader's ProgramSpec (where it counts slots of the linked program).
 */

export interface CoreRelocation {
  /** Instruction index (8-byte slots). */
  insnIndex: number;
  /** Root type id in the local (object) BTF. */
  typeId: number;
  /** Accessor string, e.g. `0:1:2`. */
  accessString: string;
  kind: CoreRelocationKind;
}

export interface FuncInfo {
  /** Instruction index (8-byte slots; the file stores bytes). */
  insnIndex: number;
  /** BTF_KIND_FUNC type id. */
  typeId: number;
}

export interface LineInfo {
  /** Instruction index (8-byte slots; the file stores bytes). */
  insnIndex: number;
  fileName: string;
  line: number;
  column: number;
  /** The source line's text ('' when the compiler did not record it). */
  lineText: string;
  /** Offsets into the BTF string section, as bpf_line_info carries them to the kernel. */
  fileNameOffset: number;
  lineTextOffset: number;
}

export interface BtfExt {
  funcInfo: Map<string, FuncInfo[]>;
  lineInfo: Map<string, LineInfo[]>;
  coreRelos: Map<string, CoreRelocation[]>;
  /** Record sizes found in the blob (what the kernel must be given as func_info_rec_size / line_info_rec_size). */
  funcInfoRecordSize: number;
  lineInfoRecordSize: number;
}

const SECTION = '.BTF.ext';
const MIN_HEADER = 24;

interface InfoBlock {
  what: string;
  view: DataView;
  le: boolean;
  /** Absolute offsets of the block within the blob. */
  start: number;
  end: number;
  minRecordSize: number;
}

/** Walks one info block: rec_size, then per ELF section {name_off, num_info, records}. */
function readInfoBlock(block: InfoBlock, btf: Btf, record: (secName: string, pos: number, index: number) => void): number {
  const { view, le, what } = block;
  if (block.end === block.start) return block.minRecordSize;
  if (block.end - block.start < 4) throw new BtfError(`${SECTION} ${what}: ${block.end - block.start} bytes, too short for the record size`, { section: SECTION, offset: block.start });
  const recSize = view.getUint32(block.start, le);
  if (recSize < block.minRecordSize || recSize % 4 !== 0 || recSize > 1024) {
    throw new BtfError(`${SECTION} ${what}: invalid record size ${recSize} (at least ${block.minRecordSize}, a multiple of 4)`, { section: SECTION, offset: block.start });
  }
  let pos = block.start + 4;
  while (pos < block.end) {
    if (block.end - pos < 8) throw new BtfError(`${SECTION} ${what}: truncated section header at offset ${pos}`, { section: SECTION, offset: pos });
    const nameOff = view.getUint32(pos, le);
    const count = view.getUint32(pos + 4, le);
    let secName: string;
    try {
      secName = btf.stringAt(nameOff);
    } catch {
      throw new BtfError(`${SECTION} ${what}: section name offset ${nameOff} at offset ${pos} is outside the BTF string section`, { section: SECTION, offset: pos });
    }
    if (count === 0) throw new BtfError(`${SECTION} ${what}: section '${secName}' at offset ${pos} has no records`, { section: SECTION, offset: pos });
    pos += 8;
    if (count * recSize > block.end - pos) {
      throw new BtfError(`${SECTION} ${what}: section '${secName}' declares ${count} records of ${recSize} bytes but only ${block.end - pos} bytes remain`, { section: SECTION, offset: pos - 4 });
    }
    for (let i = 0; i < count; i++) {
      record(secName, pos, i);
      pos += recSize;
    }
  }
  return recSize;
}

function instructionIndex(byteOffset: number, what: string, pos: number): number {
  if (byteOffset % 8 !== 0) throw new BtfError(`${SECTION} ${what}: insn_off ${byteOffset} at offset ${pos} is not a multiple of 8`, { section: SECTION, offset: pos });
  return byteOffset / 8;
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

/** Parses `.BTF.ext`; strings and type ids refer to `btf` (the object's `.BTF`). */
export function parseBtfExt(bytes: Uint8Array, btf: Btf, options: { endianness?: Endianness } = {}): BtfExt {
  const le = detectEndianness(bytes, SECTION, options.endianness) === 'little';
  if (bytes.length < MIN_HEADER) throw new BtfError(`${SECTION} is ${bytes.length} bytes, shorter than the ${MIN_HEADER}-byte header`, { section: SECTION, offset: 0 });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint8(2) !== 1) throw new BtfError(`${SECTION}: unsupported version ${view.getUint8(2)}`, { section: SECTION, offset: 2 });
  if (view.getUint8(3) !== 0) throw new BtfError(`${SECTION}: unsupported flags 0x${view.getUint8(3).toString(16)}`, { section: SECTION, offset: 3 });
  const hdrLen = view.getUint32(4, le);
  if (hdrLen < MIN_HEADER || hdrLen > bytes.length) throw new BtfError(`${SECTION}: header length ${hdrLen} is outside [${MIN_HEADER}, ${bytes.length}]`, { section: SECTION, offset: 4 });
  const block = (what: string, headerPos: number, minRecordSize: number): InfoBlock => {
    const off = view.getUint32(headerPos, le);
    const len = view.getUint32(headerPos + 4, le);
    const start = hdrLen + off;
    if (off % 4 !== 0) throw new BtfError(`${SECTION} ${what}: offset ${off} is not 4-byte aligned`, { section: SECTION, offset: headerPos });
    if (start + len > bytes.length) throw new BtfError(`${SECTION} ${what}: [${start}, ${start + len}) exceeds the ${bytes.length}-byte section`, { section: SECTION, offset: headerPos });
    return { what, view, le, start, end: start + len, minRecordSize };
  };
  const ext: BtfExt = { funcInfo: new Map(), lineInfo: new Map(), coreRelos: new Map(), funcInfoRecordSize: 8, lineInfoRecordSize: 16 };
  const typeCount = btf.types.length;
  const typeId = (id: number, what: string, pos: number): number => {
    if (id >= typeCount) throw new BtfError(`${SECTION} ${what}: type id ${id} at offset ${pos} is out of range (${typeCount} types)`, { section: SECTION, offset: pos, typeId: id });
    return id;
  };
  const string = (off: number, what: string, pos: number): string => {
    try {
      return btf.stringAt(off);
    } catch {
      throw new BtfError(`${SECTION} ${what}: string offset ${off} at offset ${pos} is outside the BTF string section`, { section: SECTION, offset: pos });
    }
  };

  ext.funcInfoRecordSize = readInfoBlock(block('func_info', 8, 8), btf, (sec, pos) => {
    push(ext.funcInfo, sec, { insnIndex: instructionIndex(view.getUint32(pos, le), 'func_info', pos), typeId: typeId(view.getUint32(pos + 4, le), 'func_info', pos) });
  });
  ext.lineInfoRecordSize = readInfoBlock(block('line_info', 16, 16), btf, (sec, pos) => {
    const fileNameOffset = view.getUint32(pos + 4, le);
    const lineTextOffset = view.getUint32(pos + 8, le);
    const lineCol = view.getUint32(pos + 12, le);
    push(ext.lineInfo, sec, {
      insnIndex: instructionIndex(view.getUint32(pos, le), 'line_info', pos),
      fileName: string(fileNameOffset, 'line_info file name', pos),
      lineText: string(lineTextOffset, 'line_info line', pos),
      line: lineCol >>> 10,
      column: lineCol & 0x3ff,
      fileNameOffset,
      lineTextOffset,
    });
  });
  if (hdrLen >= 32) {
    readInfoBlock(block('core_relo', 24, 16), btf, (sec, pos) => {
      const kindNo = view.getUint32(pos + 12, le);
      const kind = CORE_RELOCATION_KINDS[kindNo];
      if (kind === undefined) throw new BtfError(`${SECTION} core_relo: unknown relocation kind ${kindNo} at offset ${pos}`, { section: SECTION, offset: pos });
      const accessString = string(view.getUint32(pos + 8, le), 'core_relo access string', pos);
      if (!/^\d+(:\d+)*$/.test(accessString)) throw new BtfError(`${SECTION} core_relo: malformed access string '${accessString}' at offset ${pos}`, { section: SECTION, offset: pos });
      push(ext.coreRelos, sec, {
        insnIndex: instructionIndex(view.getUint32(pos, le), 'core_relo', pos),
        typeId: typeId(view.getUint32(pos + 4, le), 'core_relo', pos),
        accessString,
        kind,
      });
    });
  }
  return ext;
}
