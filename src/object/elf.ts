/**
 * A strict reader for the ELF64 relocatable objects clang emits for BPF
 * (little- or big-endian). Every header, section, symbol, string and
 * relocation is bounds-checked; anything malformed becomes an ObjectError
 * naming the section and offset. Only what a BPF loader needs is decoded;
 * with `kind: 'linked'` it also reads the symbols and program headers of
 * executables and shared libraries (uprobe targets).
 */
import { ObjectError } from './errors.ts';
import type { ByteOrder } from './spec.ts';

/** The largest zero-filled (SHT_NOBITS) section accepted: well above any BPF program's .bss, far below what would exhaust memory. */
const MAX_NOBITS_SIZE = 1 << 26;

export const SectionType = {
  NULL: 0,
  PROGBITS: 1,
  SYMTAB: 2,
  STRTAB: 3,
  RELA: 4,
  NOBITS: 8,
  REL: 9,
  DYNSYM: 11,
  SYMTAB_SHNDX: 18,
} as const;

export const SectionFlag = { WRITE: 0x1, ALLOC: 0x2, EXECINSTR: 0x4 } as const;

export const SymbolType = { NOTYPE: 0, OBJECT: 1, FUNC: 2, SECTION: 3, FILE: 4, GNU_IFUNC: 10 } as const;

/** p_type and p_flags of program headers. */
export const SegmentType = { LOAD: 1 } as const;
export const SegmentFlag = { EXECUTE: 0x1, WRITE: 0x2, READ: 0x4 } as const;
export const SymbolBinding = { LOCAL: 0, GLOBAL: 1, WEAK: 2 } as const;

/** Special section indexes of st_shndx. */
export const SHN_UNDEF = 0;
const SHN_LORESERVE = 0xff00;
export const SHN_ABS = 0xfff1;
export const SHN_COMMON = 0xfff2;
const SHN_XINDEX = 0xffff;

/** BPF relocation types (llvm's ELFRelocs/BPF.def). */
export const RelocationType = {
  NONE: 0,
  R_BPF_64_64: 1,
  R_BPF_64_ABS64: 2,
  R_BPF_64_ABS32: 3,
  R_BPF_64_NODYLD32: 4,
  R_BPF_64_32: 10,
} as const;

export const EM_BPF = 247;
const ET_REL = 1;
const ET_EXEC = 2;
const ET_DYN = 3;
const EHDR_SIZE = 64;
const PHDR_SIZE = 56;
const SHDR_SIZE = 64;
const SYM_SIZE = 24;
const REL_SIZE = 16;
const RELA_SIZE = 24;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  /** Virtual address when loaded (sh_addr; 0 in relocatable objects). */
  address: number;
  /** File offset of the contents. */
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  entsize: number;
}

export interface ElfSymbol {
  index: number;
  name: string;
  type: number;
  binding: number;
  visibility: number;
  /** Section index, or one of SHN_UNDEF / SHN_ABS / SHN_COMMON. */
  sectionIndex: number;
  value: number;
  size: number;
}

export interface ElfRelocation {
  /** Byte offset in the target section. */
  offset: number;
  type: number;
  symbol: ElfSymbol;
  /** Explicit addend (SHT_RELA), or undefined for SHT_REL. */
  addend?: bigint;
}

/** A program header (linked files only). */
export interface ElfSegment {
  index: number;
  type: number;
  flags: number;
  /** File offset of the segment. */
  offset: number;
  /** Virtual address. */
  vaddr: number;
  fileSize: number;
  memorySize: number;
}

export interface ElfFileOptions {
  /**
   * 'relocatable' (default): a BPF object as clang emits it (ET_REL, EM_BPF,
   * one .symtab, relocations decoded). 'linked': an executable or shared
   * library of any machine (ET_EXEC/ET_DYN), as uprobes attach to: .symtab
   * and .dynsym (either may be missing, e.g. stripped) and the program
   * headers are read; relocations are not.
   */
  kind?: 'relocatable' | 'linked';
}

export class ElfFile {
  readonly sections: ElfSection[] = [];
  /** .symtab entries (empty for a linked file without one). */
  readonly symbols: ElfSymbol[] = [];
  /** .dynsym entries (linked files only). */
  readonly dynamicSymbols: ElfSymbol[] = [];
  /** Program headers (linked files only). */
  readonly segments: ElfSegment[] = [];
  readonly byteOrder: ByteOrder;
  /** Relocation entries by the index of the section they apply to. */
  readonly relocations = new Map<number, ElfRelocation[]>();
  private readonly view: DataView;
  private readonly little: boolean;

  readonly kind: 'relocatable' | 'linked';

  constructor(
    readonly bytes: Uint8Array,
    options: ElfFileOptions = {},
  ) {
    this.kind = options.kind ?? 'relocatable';
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (bytes.length < EHDR_SIZE) throw new ObjectError(`file is ${bytes.length} bytes, shorter than an ELF64 header`, 'ELF header', 0);
    if (bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
      throw new ObjectError('not an ELF file (bad magic)', 'ELF header', 0);
    }
    if (bytes[4] !== 2) throw new ObjectError(`ELF class ${bytes[4]} is not ELFCLASS64`, 'ELF header', 4);
    if (bytes[5] !== 1 && bytes[5] !== 2) throw new ObjectError(`ELF data encoding ${bytes[5]} is neither little nor big endian`, 'ELF header', 5);
    this.little = bytes[5] === 1;
    this.byteOrder = this.little ? 'little' : 'big';
    if (bytes[6] !== 1) throw new ObjectError(`ELF ident version ${bytes[6]} is not 1`, 'ELF header', 6);
    const type = this.u16(16);
    if (this.kind === 'linked') {
      if (type !== ET_EXEC && type !== ET_DYN) throw new ObjectError(`ELF type ${type} is not an executable or shared library (ET_EXEC/ET_DYN)`, 'ELF header', 16);
    } else {
      if (type !== ET_REL) throw new ObjectError(`ELF type ${type} is not a relocatable object (ET_REL)`, 'ELF header', 16);
      const machine = this.u16(18);
      if (machine !== EM_BPF && machine !== 0) throw new ObjectError(`ELF machine ${machine} is not EM_BPF (247)`, 'ELF header', 18);
    }
    this.readSections();
    this.checkOverlaps();
    if (this.kind === 'linked') {
      this.symbols.push(...this.readSymbolTable(SectionType.SYMTAB, false));
      this.dynamicSymbols.push(...this.readSymbolTable(SectionType.DYNSYM, false));
      this.readSegments();
    } else {
      this.symbols.push(...this.readSymbolTable(SectionType.SYMTAB, true));
      this.readRelocations();
    }
  }

  u16(at: number): number {
    return this.view.getUint16(at, this.little);
  }
  u32(at: number): number {
    return this.view.getUint32(at, this.little);
  }
  i32(at: number): number {
    return this.view.getInt32(at, this.little);
  }
  /** A 64-bit field as a number; values beyond 2^53 stay huge (so fail bounds checks) but lose precision. */
  u64(at: number): number {
    const hi = this.view.getUint32(this.little ? at + 4 : at, this.little);
    const lo = this.view.getUint32(this.little ? at : at + 4, this.little);
    return hi * 0x1_0000_0000 + lo;
  }

  private readSections(): void {
    const shoff = this.u64(0x28);
    const shentsize = this.u16(0x3a);
    let shnum = this.u16(0x3c);
    let shstrndx = this.u16(0x3e);
    if (shoff === 0) throw new ObjectError('no section header table', 'ELF header', 0x28);
    if (shentsize !== SHDR_SIZE) throw new ObjectError(`section header size ${shentsize}, expected ${SHDR_SIZE}`, 'ELF header', 0x3a);
    this.checkRange(shoff, SHDR_SIZE, 'section header table', 'ELF header', 0x28);
    // Extended numbering: counts too large for 16 bits live in section 0.
    if (shnum === 0) shnum = this.u64(shoff + 0x20);
    if (shstrndx === SHN_XINDEX) shstrndx = this.u32(shoff + 0x28);
    if (shnum === 0 || shnum > (this.bytes.length - shoff) / SHDR_SIZE) {
      throw new ObjectError(`section header table of ${shnum} entries at ${shoff} does not fit in ${this.bytes.length} bytes`, 'ELF header', 0x3c);
    }
    for (let i = 0; i < shnum; i++) {
      const at = shoff + i * SHDR_SIZE;
      const section: ElfSection = {
        index: i,
        name: '',
        type: this.u32(at + 4),
        flags: this.u64(at + 8),
        address: this.u64(at + 0x10),
        offset: this.u64(at + 0x18),
        size: this.u64(at + 0x20),
        link: this.u32(at + 0x28),
        info: this.u32(at + 0x2c),
        align: this.u64(at + 0x30),
        entsize: this.u64(at + 0x38),
      };
      if (section.type !== SectionType.NOBITS && section.type !== SectionType.NULL) {
        this.checkRange(section.offset, section.size, `contents of section ${i}`, `#${i}`, at + 0x18, at + 0x20);
      } else if (section.type === SectionType.NOBITS && section.size > MAX_NOBITS_SIZE) {
        // .bss takes no file space, so its size is the one count the file cannot bound: bound it here.
        throw new ObjectError(`SHT_NOBITS section of ${this.exactU64(section.size, at + 0x20)} bytes (more than ${MAX_NOBITS_SIZE})`, `#${i}`, at + 0x20);
      }
      this.sections.push(section);
    }
    if (shstrndx === 0 || shstrndx >= shnum) throw new ObjectError(`section name table index ${shstrndx} out of range (${shnum} sections)`, 'ELF header', 0x3e);
    const names = this.sections[shstrndx]!;
    if (names.type !== SectionType.STRTAB) throw new ObjectError(`section name table ${shstrndx} is not a string table`, 'ELF header', 0x3e);
    for (const section of this.sections) {
      section.name = this.string(names, this.u32(shoff + section.index * SHDR_SIZE), `name of section ${section.index}`);
    }
  }

  /** Contents of sections must not overlap each other or the headers. */
  private checkOverlaps(): void {
    const shoff = this.u64(0x28);
    const extents: { start: number; end: number; what: string }[] = [
      { start: 0, end: EHDR_SIZE, what: 'the ELF header' },
      { start: shoff, end: shoff + this.sections.length * SHDR_SIZE, what: 'the section header table' },
    ];
    for (const s of this.sections) {
      if (s.type === SectionType.NOBITS || s.type === SectionType.NULL || s.size === 0) continue;
      extents.push({ start: s.offset, end: s.offset + s.size, what: `section '${s.name}'` });
    }
    extents.sort((a, b) => a.start - b.start || a.end - b.end);
    for (let i = 1; i < extents.length; i++) {
      const prev = extents[i - 1]!;
      const cur = extents[i]!;
      if (cur.start < prev.end) throw new ObjectError(`${cur.what} at ${cur.start} overlaps ${prev.what} (${prev.start}..${prev.end})`, undefined, cur.start);
    }
  }

  /** The entries of the symbol table of `type` (.symtab or .dynsym): at most one such table, exactly one if `required`. */
  private readSymbolTable(type: number, required: boolean): ElfSymbol[] {
    const tables = this.sections.filter((s) => s.type === type);
    const what = type === SectionType.DYNSYM ? 'dynamic symbol table (SHT_DYNSYM)' : 'symbol table (SHT_SYMTAB)';
    if (tables.length === 0) {
      if (required) throw new ObjectError(`no ${what}`);
      return [];
    }
    if (tables.length > 1) throw new ObjectError(`${tables.length} ${what}s, expected one`, tables[1]!.name);
    const symtab = tables[0]!;
    if (symtab.entsize !== SYM_SIZE) throw new ObjectError(`symbol entry size ${symtab.entsize}, expected ${SYM_SIZE}`, symtab.name);
    if (symtab.size % SYM_SIZE !== 0) throw new ObjectError(`size ${symtab.size} is not a multiple of ${SYM_SIZE}`, symtab.name);
    const strtab = this.linkedSection(symtab, SectionType.STRTAB);
    const count = symtab.size / SYM_SIZE;
    const symbols: ElfSymbol[] = [];
    for (let i = 0; i < count; i++) {
      const at = symtab.offset + i * SYM_SIZE;
      const info = this.bytes[at + 4]!;
      let sectionIndex = this.u16(at + 6);
      if (sectionIndex === SHN_XINDEX) throw new ObjectError(`symbol ${i} uses extended section indexes (SHN_XINDEX), not supported`, symtab.name, at - symtab.offset);
      if (sectionIndex !== SHN_UNDEF && sectionIndex < SHN_LORESERVE && sectionIndex >= this.sections.length) {
        throw new ObjectError(`symbol ${i} refers to section ${sectionIndex}, there are ${this.sections.length}`, symtab.name, at - symtab.offset);
      }
      if (sectionIndex >= SHN_LORESERVE && sectionIndex !== SHN_ABS && sectionIndex !== SHN_COMMON) sectionIndex = SHN_UNDEF;
      symbols.push({
        index: i,
        name: this.string(strtab, this.u32(at), `name of symbol ${i}`),
        type: info & 0xf,
        binding: info >> 4,
        visibility: this.bytes[at + 5]! & 0x3,
        sectionIndex,
        value: this.u64(at + 8),
        size: this.u64(at + 16),
      });
    }
    return symbols;
  }

  private readSegments(): void {
    const phoff = this.u64(0x20);
    const phentsize = this.u16(0x36);
    const phnum = this.u16(0x38);
    if (phnum === 0) return;
    if (phentsize !== PHDR_SIZE) throw new ObjectError(`program header size ${phentsize}, expected ${PHDR_SIZE}`, 'ELF header', 0x36);
    this.checkRange(phoff, phnum * PHDR_SIZE, 'program header table', 'ELF header', 0x20);
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * PHDR_SIZE;
      this.segments.push({
        index: i,
        type: this.u32(at),
        flags: this.u32(at + 4),
        offset: this.u64(at + 8),
        vaddr: this.u64(at + 0x10),
        fileSize: this.u64(at + 0x20),
        memorySize: this.u64(at + 0x28),
      });
    }
  }

  private readRelocations(): void {
    for (const section of this.sections) {
      if (section.type !== SectionType.REL && section.type !== SectionType.RELA) continue;
      const rela = section.type === SectionType.RELA;
      const entry = rela ? RELA_SIZE : REL_SIZE;
      if (section.size % entry !== 0) throw new ObjectError(`size ${section.size} is not a multiple of the ${entry}-byte entry`, section.name);
      if (section.info === 0 || section.info >= this.sections.length) {
        throw new ObjectError(`relocations apply to section ${section.info}, there are ${this.sections.length}`, section.name);
      }
      const target = this.sections[section.info]!;
      // Relocations of debug info and other sections a loader never reads are not decoded.
      if (!isLoaderRelevant(target)) continue;
      this.linkedSection(section, SectionType.SYMTAB);
      const list = this.relocations.get(target.index) ?? [];
      const count = section.size / entry;
      for (let i = 0; i < count; i++) {
        const at = section.offset + i * entry;
        const offset = this.u64(at);
        const symbolIndex = this.u32(this.little ? at + 12 : at + 8);
        const type = this.u32(this.little ? at + 8 : at + 12);
        const where = at - section.offset;
        if (symbolIndex >= this.symbols.length) throw new ObjectError(`relocation ${i} refers to symbol ${symbolIndex}, there are ${this.symbols.length}`, section.name, where);
        const width = type === RelocationType.R_BPF_64_64 ? 16 : type === RelocationType.R_BPF_64_ABS64 ? 8 : 4;
        if (type !== RelocationType.NONE && offset + width > target.size) {
          throw new ObjectError(`relocation ${i} at offset ${offset} is outside '${target.name}' (${target.size} bytes)`, section.name, where);
        }
        const reloc: ElfRelocation = { offset, type, symbol: this.symbols[symbolIndex]! };
        if (rela) reloc.addend = this.view.getBigInt64(at + 16, this.little);
        list.push(reloc);
      }
      this.relocations.set(target.index, list);
    }
  }

  /** The section named by `section.link`, which must be of type `type`. */
  private linkedSection(section: ElfSection, type: number): ElfSection {
    const linked = this.sections[section.link];
    if (section.link === 0 || linked === undefined || linked.type !== type) {
      throw new ObjectError(`sh_link ${section.link} does not name a section of type ${type}`, section.name);
    }
    return linked;
  }

  /** A NUL-terminated string at `offset` of a string table. */
  string(table: ElfSection, offset: number, what: string): string {
    if (offset >= table.size) throw new ObjectError(`${what}: string offset ${offset} is beyond the string table (${table.size} bytes)`, table.name || `#${table.index}`, offset);
    const start = table.offset + offset;
    const end = this.bytes.indexOf(0, start);
    if (end < 0 || end >= table.offset + table.size) throw new ObjectError(`${what}: string at ${offset} is not NUL-terminated`, table.name || `#${table.index}`, offset);
    return decodeString(this.bytes, start, end);
  }

  /** The contents of a section (zeros for SHT_NOBITS). */
  contents(section: ElfSection): Uint8Array {
    if (section.type === SectionType.NOBITS) return new Uint8Array(section.size);
    return this.bytes.subarray(section.offset, section.offset + section.size);
  }

  sectionByName(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The 64-bit field at `at` as exact decimal text (u64() rounds values beyond 2^53). */
  private exactU64(value: number, at: number | undefined): string {
    return value > Number.MAX_SAFE_INTEGER && at !== undefined ? this.view.getBigUint64(at, this.little).toString() : String(value);
  }

  /** `size` bytes at `offset` (read from the fields at `fieldOffset` and `sizeAt`) lie inside the file. */
  private checkRange(offset: number, size: number, what: string, section: string, fieldOffset: number, sizeAt?: number): void {
    if (offset > this.bytes.length || size > this.bytes.length - offset) {
      throw new ObjectError(
        `${what} (${this.exactU64(size, sizeAt)} bytes at ${this.exactU64(offset, fieldOffset)}) extends past the end of the ${this.bytes.length}-byte file`,
        section,
        fieldOffset,
      );
    }
  }
}

/** Sections whose relocations the loader applies: code, map definitions. */
function isLoaderRelevant(section: ElfSection): boolean {
  return (section.flags & SectionFlag.EXECINSTR) !== 0 || section.name === '.maps';
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Names are almost always short ASCII: built directly; longer or non-ASCII ones go through the UTF-8 decoder (identical for ASCII, faster for long names). */
function decodeString(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > 16) return utf8.decode(bytes.subarray(start, end));
  let s = '';
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte >= 0x80) return utf8.decode(bytes.subarray(start, end));
    s += String.fromCharCode(byte);
  }
  return s;
}
