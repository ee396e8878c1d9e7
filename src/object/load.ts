/**
 * Turns a clang-compiled BPF object into a CollectionSpec: ELF → BTF →
 * maps, global data and externs → code relocations → one linked program
 * per entry function.
 */
import { readFile } from '../host/node.ts';
import { type Btf, parseBtf } from '../btf/index.ts';
import { parseBtfExt } from '../btf/ext.ts';
import { decode } from '../isa/encoding.ts';
import type { Instruction } from '../isa/instruction.ts';
import { CallSrc, LdImm64Src, OPCODE_CALL, OPCODE_LDDW } from '../isa/opcodes.ts';
import { TsbpfError } from '../errors.ts';
import { MapType } from '../uapi/enums.ts';
import { ElfFile, type ElfRelocation, type ElfSection, type ElfSymbol, RelocationType, SHN_ABS, SHN_COMMON, SHN_UNDEF, SectionFlag, SectionType, SymbolBinding, SymbolType } from './elf.ts';
import { ObjectError } from './errors.ts';
import { type CodeFunction, type CodeSection, type SectionRelocation, linkProgram } from './link.ts';
import { BPF_F_MMAPABLE, BPF_F_RDONLY_PROG, type MapLocation, globalDataKind, globalDataMap, parseBtfMaps, parseLegacyMaps, parseNamedMapSection } from './maps.ts';
import { classifySection } from './sections.ts';
import type { CollectionSpec, ExternSpec, MapSpec, ProgramSpec, VariableSpec } from './spec.ts';

const KCONFIG_SECTION = '.kconfig';

/**
 * A size-0 symbol that names a function in objects from before clang 8:
 * NOTYPE or FUNC, global, or local but not one of the compiler's branch
 * labels (`LBB0_3`, `.Ltmp1`).
 */
function isUnsizedFunctionSymbol(symbol: ElfSymbol): boolean {
  if (symbol.size !== 0 || symbol.name === '') return false;
  if (symbol.type !== SymbolType.NOTYPE && symbol.type !== SymbolType.FUNC) return false;
  return symbol.binding !== SymbolBinding.LOCAL || !/^\.?L/.test(symbol.name);
}
const KSYMS_SECTION = '.ksyms';

/**
 * Reads a BPF object (a path or its bytes) into a CollectionSpec.
 * Synchronous: parsing and linking are pure computation, and a path is read
 * synchronously. Throws ObjectError (or BtfError for a malformed .BTF /
 * .BTF.ext) for anything malformed.
 */
export function loadCollectionSpec(source: Uint8Array | string): CollectionSpec {
  const bytes = typeof source === 'string' ? readObjectFile(source) : source;
  return new ObjectLoader(bytes).load();
}

function readObjectFile(path: string): Uint8Array {
  try {
    return readFile(path);
  } catch (err) {
    // Host errors (HostUnavailableError in a browser, InputTooLargeError) already name the file and the remedy.
    if (err instanceof TsbpfError) throw err;
    throw Object.assign(new ObjectError(`cannot read ${path}: ${(err as Error).message}`), { cause: err });
  }
}

/** Rethrows a non-tsbpf error from BTF code as an ObjectError for `section`. */
function inSection<T>(section: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    if (err instanceof TsbpfError) throw err;
    throw new ObjectError(`unexpected failure: ${(err as Error).message}`, section);
  }
}

class ObjectLoader {
  private readonly elf: ElfFile;
  private btf: Btf | undefined;
  private readonly maps: Record<string, MapSpec> = {};
  private readonly variables: Record<string, VariableSpec> = {};
  private readonly externs: Record<string, ExternSpec> = {};
  /** Where each map's definition lives, for relocations against map symbols. */
  private readonly mapLocations: MapLocation[] = [];
  /** Global data maps by section index. */
  private readonly dataMaps = new Map<number, string>();
  private readonly code = new Map<number, CodeSection>();

  constructor(bytes: Uint8Array) {
    this.elf = new ElfFile(bytes);
  }

  load(): CollectionSpec {
    const license = this.license();
    const kernelVersion = this.kernelVersion();
    this.btf = this.parseBtf();
    this.fixDatasecs();
    this.collectCode();
    this.collectMaps();
    this.collectExterns();
    for (const section of this.code.values()) this.resolveCodeRelocations(section);
    this.attachBtfExt();
    const programs: Record<string, ProgramSpec> = {};
    for (const section of this.code.values()) {
      if (section.name === '.text') continue;
      const info = classifySection(section.name);
      for (const fn of section.functions) {
        if (fn.subprogramOnly) continue;
        if (Object.hasOwn(programs, fn.name)) throw new ObjectError(`two programs are named '${fn.name}'`, section.name);
        const linked = linkProgram(fn, this.code);
        const program: ProgramSpec = {
          name: fn.name,
          section: section.name,
          type: info?.programType ?? 0,
          sleepable: info?.sleepable ?? false,
          programFlags: info?.programFlags ?? 0,
          ...linked,
          license,
          kernelVersion,
        };
        if (info?.expectedAttachType !== undefined) program.expectedAttachType = info.expectedAttachType;
        if (info?.attachTo !== undefined) program.attachTo = info.attachTo;
        if (this.btf !== undefined) program.btf = this.btf;
        programs[fn.name] = program;
      }
    }
    this.checkMapContents(programs);
    const spec: CollectionSpec = {
      programs,
      maps: this.maps,
      variables: this.variables,
      externs: this.externs,
      byteOrder: this.elf.byteOrder,
      license,
      kernelVersion,
    };
    if (this.btf !== undefined) spec.btf = this.btf;
    return spec;
  }

  private license(): string {
    const section = this.elf.sectionByName('license');
    if (section === undefined) return '';
    const data = this.elf.contents(section);
    const end = data.indexOf(0);
    return new TextDecoder().decode(end < 0 ? data : data.subarray(0, end));
  }

  private kernelVersion(): number {
    const section = this.elf.sectionByName('version');
    if (section === undefined) return 0;
    if (section.size !== 4) throw new ObjectError(`is ${section.size} bytes, expected a 4-byte kernel version`, section.name);
    return this.elf.u32(section.offset);
  }

  private parseBtf(): Btf | undefined {
    const section = this.elf.sectionByName('.BTF');
    if (section === undefined || section.type === SectionType.NOBITS) return undefined;
    return inSection('.BTF', () => parseBtf(this.elf.contents(section), { endianness: this.elf.byteOrder }));
  }

  /**
   * Like libbpf's btf_fixup_datasec: DATASEC sizes and variable offsets come
   * from the ELF section and symbol table, which are authoritative (old
   * compilers left them zero), and the kernel needs them right.
   */
  private fixDatasecs(): void {
    if (this.btf === undefined) return;
    for (const type of this.btf.types) {
      if (type.kind !== 'datasec') continue;
      const section = this.elf.sectionByName(type.name);
      if (section === undefined) continue; // .kconfig / .ksyms are laid out by collectExterns
      type.size = section.size;
      for (const info of type.vars) {
        const variable = this.btf.types[info.type];
        if (variable?.kind !== 'var') continue;
        const symbol = this.elf.symbols.find((s) => s.sectionIndex === section.index && s.name === variable.name && s.type !== SymbolType.SECTION);
        if (symbol !== undefined) info.offset = symbol.value;
      }
      type.vars.sort((a, b) => a.offset - b.offset);
    }
  }

  private collectCode(): void {
    for (const section of this.elf.sections) {
      if (section.type !== SectionType.PROGBITS || (section.flags & SectionFlag.EXECINSTR) === 0 || section.size === 0) continue;
      if (section.size % 8 !== 0) throw new ObjectError(`code size ${section.size} is not a multiple of 8`, section.name);
      const instructions = decode(this.elf.contents(section), { endianness: this.elf.byteOrder, validate: false });
      const functions = this.sectionFunctions(section);
      for (let i = 1; i < functions.length; i++) {
        if (functions[i]!.start < functions[i - 1]!.end) {
          throw new ObjectError(`functions '${functions[i - 1]!.name}' and '${functions[i]!.name}' overlap`, section.name, functions[i]!.start * 8);
        }
      }
      this.code.set(section.index, { index: section.index, name: section.name, instructions, relocations: new Map(), functions, funcInfo: [], lineInfo: [], coreRelocations: [] });
    }
  }

  /**
   * The functions of a code section. Sized FUNC symbols, as clang 8 and
   * later emit them; failing those, the kernel-era loaders' reading: older
   * clang marks functions with size-0 NOTYPE symbols, each running to the
   * next one (cilium/ebpf's reading); a section with no symbol at all is one
   * program named after the section (iproute2, bcc, samples/bpf's
   * bpf_load.c).
   */
  private sectionFunctions(section: ElfSection): CodeFunction[] {
    const inSection = this.elf.symbols.filter((s) => s.sectionIndex === section.index);
    const functions: CodeFunction[] = [];
    for (const symbol of inSection) {
      if (symbol.type !== SymbolType.FUNC || symbol.size === 0) continue;
      if (symbol.value % 8 !== 0 || symbol.size % 8 !== 0 || symbol.value + symbol.size > section.size) {
        throw new ObjectError(`function '${symbol.name}' (${symbol.size} bytes at ${symbol.value}) is misaligned or outside the ${section.size}-byte section`, section.name, symbol.value);
      }
      functions.push({ name: symbol.name, sectionIndex: section.index, start: symbol.value / 8, end: (symbol.value + symbol.size) / 8 });
    }
    if (functions.length > 0) return functions.sort((a, b) => a.start - b.start);
    const starts = new Map<number, ElfSymbol>();
    for (const symbol of inSection) {
      if (!isUnsizedFunctionSymbol(symbol)) continue;
      if (symbol.value % 8 !== 0 || symbol.value >= section.size) {
        throw new ObjectError(`function '${symbol.name}' at byte ${symbol.value} is misaligned or outside the ${section.size}-byte section`, section.name, symbol.value);
      }
      // Two names at one offset (an alias): a global name wins over a local one.
      if (!starts.has(symbol.value) || symbol.binding !== SymbolBinding.LOCAL) starts.set(symbol.value, symbol);
    }
    if (starts.size === 0) return [{ name: section.name, sectionIndex: section.index, start: 0, end: section.size / 8 }];
    const offsets = [...starts.keys()].sort((a, b) => a - b);
    if (offsets[0] !== 0) throw new ObjectError(`code before the first function symbol ('${starts.get(offsets[0]!)!.name}' at byte ${offsets[0]}) belongs to no function`, section.name, 0);
    // A static function after the section's start is a callee: those loaders loaded a section from its first instruction.
    return offsets.map((offset, i) => {
      const symbol = starts.get(offset)!;
      const fn: CodeFunction = { name: symbol.name, sectionIndex: section.index, start: offset / 8, end: (offsets[i + 1] ?? section.size) / 8 };
      if (offset > 0 && symbol.binding === SymbolBinding.LOCAL) fn.subprogramOnly = true;
      return fn;
    });
  }

  /** The program name an entry function symbol stands for (prog array initialisers). */
  private programOfSymbol = (symbol: ElfSymbol): string | undefined => {
    const section = this.code.get(symbol.sectionIndex);
    if (section === undefined || section.name === '.text' || symbol.type !== SymbolType.FUNC) return undefined;
    return section.functions.find((f) => f.start * 8 === symbol.value)?.name;
  };

  private addMap(map: MapSpec, sectionName: string): void {
    if (Object.hasOwn(this.maps, map.name)) throw new ObjectError(`two maps are named '${map.name}'`, sectionName);
    this.maps[map.name] = map;
  }

  private collectMaps(): void {
    for (const section of this.elf.sections) {
      if (section.name === '.maps' && section.type === SectionType.PROGBITS) {
        const { maps, locations } = parseBtfMaps(this.elf, section, this.btf, this.programOfSymbol);
        for (const map of maps) this.addMap(map, section.name);
        this.mapLocations.push(...locations);
      } else if ((section.name === 'maps' || section.name.startsWith('maps/')) && section.type === SectionType.PROGBITS) {
        const { maps, locations } = section.name === 'maps' ? parseLegacyMaps(this.elf, section) : parseNamedMapSection(this.elf, section);
        for (const map of maps) this.addMap(map, section.name);
        this.mapLocations.push(...locations);
      } else {
        const kind = globalDataKind(section);
        if (kind === undefined || section.size === 0) continue;
        const { map, variables } = globalDataMap(this.elf, section, kind, this.btf);
        this.addMap(map, section.name);
        this.dataMaps.set(section.index, map.name);
        for (const variable of variables) {
          if (!Object.hasOwn(this.variables, variable.name)) this.variables[variable.name] = variable;
        }
      }
    }
  }

  /**
   * Undefined symbols are externs: `.kconfig` values (CONFIG_*,
   * LINUX_KERNEL_VERSION...) live in an internal read-only `.kconfig` map
   * laid out here; `.ksyms` are kernel variables and functions the backend
   * resolves in kernel BTF.
   */
  private collectExterns(): void {
    const kconfigSec = this.btf?.findByName(KCONFIG_SECTION, 'datasec')[0];
    const ksymsSec = this.btf?.findByName(KSYMS_SECTION, 'datasec')[0];
    const inDatasec = (datasec: typeof kconfigSec, name: string): number | undefined => {
      if (datasec?.kind !== 'datasec') return undefined;
      return datasec.vars.find((v) => this.btf!.types[v.type]?.name === name)?.type;
    };
    const kconfig: { spec: ExternSpec; size: number; align: number }[] = [];
    for (const symbol of this.elf.symbols) {
      if (symbol.sectionIndex !== SHN_UNDEF || symbol.name === '' || symbol.binding === SymbolBinding.LOCAL) continue;
      const kconfigType = inDatasec(kconfigSec, symbol.name);
      const ksymType = inDatasec(ksymsSec, symbol.name);
      const funcType = this.btf?.findByName(symbol.name, 'func').find((t) => t.kind === 'func' && t.linkage === 'extern');
      const isKconfig = kconfigType !== undefined || (this.btf === undefined && /^(CONFIG|LINUX)_/.test(symbol.name));
      const spec: ExternSpec = { name: symbol.name, kind: isKconfig ? 'kconfig' : 'ksym', weak: symbol.binding === SymbolBinding.WEAK };
      const typeId = kconfigType ?? ksymType ?? funcType?.id;
      if (typeId !== undefined) spec.typeId = typeId;
      if (isKconfig) {
        if (kconfigType === undefined || this.btf === undefined) throw new ObjectError(`kconfig extern '${symbol.name}' needs BTF to know its type`, KCONFIG_SECTION);
        const varType = this.btf.typeById(kconfigType);
        const valueType = varType.kind === 'var' ? varType.type : kconfigType;
        const size = inSection(KCONFIG_SECTION, () => this.btf!.sizeOf(valueType));
        const align = inSection(KCONFIG_SECTION, () => this.btf!.alignOf(valueType));
        kconfig.push({ spec, size, align });
      } else {
        spec.isFunction = symbol.type === SymbolType.FUNC || funcType !== undefined || this.btf?.types[ksymType ?? 0]?.kind === 'func';
      }
      this.externs[symbol.name] = spec;
    }
    if (kconfig.length === 0) return;
    // libbpf's order: larger alignment first, then size, then name; each value aligned.
    kconfig.sort((a, b) => b.align - a.align || a.size - b.size || (a.spec.name < b.spec.name ? -1 : 1));
    let offset = 0;
    for (const k of kconfig) {
      offset = Math.ceil(offset / k.align) * k.align;
      k.spec.offset = offset;
      k.spec.size = k.size;
      offset += k.size;
    }
    const size = Math.ceil(offset / 8) * 8;
    const map: MapSpec = {
      name: KCONFIG_SECTION,
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: size,
      maxEntries: 1,
      flags: BPF_F_MMAPABLE | BPF_F_RDONLY_PROG,
      pinning: 'none',
      contents: [],
      initialData: new Uint8Array(size),
      readOnly: true,
      frozen: true,
      section: KCONFIG_SECTION,
    };
    if (kconfigSec?.kind === 'datasec') {
      kconfigSec.size = size;
      for (const info of kconfigSec.vars) {
        const k = kconfig.find((e) => e.spec.typeId === info.type);
        if (k !== undefined) info.offset = k.spec.offset!;
      }
      kconfigSec.vars.sort((a, b) => a.offset - b.offset);
      map.btfValueTypeId = kconfigSec.id;
    }
    this.addMap(map, KCONFIG_SECTION);
  }

  private resolveCodeRelocations(section: CodeSection): void {
    for (const reloc of this.elf.relocations.get(section.index) ?? []) {
      if (reloc.type === RelocationType.NONE) continue;
      if (reloc.offset % 8 !== 0) throw new ObjectError(`relocation at byte ${reloc.offset} is not on an instruction boundary`, section.name, reloc.offset);
      const index = reloc.offset / 8;
      const insn = section.instructions[index]!;
      const resolved = this.resolveCodeRelocation(section, index, insn, reloc);
      section.relocations.set(index, resolved);
    }
  }

  private resolveCodeRelocation(section: CodeSection, index: number, insn: Instruction, reloc: ElfRelocation): SectionRelocation {
    const symbol = reloc.symbol;
    const where = `relocation against '${symbol.name || `symbol ${symbol.index}`}' at instruction ${index}`;
    const fail = (problem: string): never => {
      throw new ObjectError(`${where}: ${problem}`, section.name, reloc.offset);
    };
    const isCall = insn.opcode === OPCODE_CALL;
    const isLddw = insn.opcode === OPCODE_LDDW;
    if (!isCall && !isLddw) fail(`instruction opcode 0x${insn.opcode.toString(16)} is neither lddw nor call`);
    if (isLddw && index + 1 >= section.instructions.length) fail('lddw is truncated by the end of the section');
    // SHT_REL keeps the addend in the instruction; SHT_RELA adds an explicit one.
    const addend = insn.imm + (reloc.addend !== undefined ? Number(BigInt.asIntN(32, reloc.addend)) : 0);
    if (symbol.sectionIndex === SHN_UNDEF) {
      if (symbol.name === '') fail('undefined symbol without a name');
      const extern = this.externs[symbol.name];
      if (extern === undefined) fail('undefined symbol that is not an extern');
      if (isCall) {
        if (extern!.kind !== 'ksym') fail('call to a kconfig extern');
        extern!.isFunction = true;
        insn.src = CallSrc.KFUNC;
        insn.imm = 0;
        return { kind: 'ksym', externName: symbol.name, isFunction: true };
      }
      const next = section.instructions[index + 1]!;
      if (extern!.kind === 'kconfig') {
        insn.src = LdImm64Src.MAP_VALUE;
        insn.imm = 0;
        next.imm = extern!.offset!;
        return { kind: 'kconfig', externName: symbol.name, mapName: KCONFIG_SECTION, offset: extern!.offset! };
      }
      // A typed ksym (BTF VAR of a real type) is resolved by BTF id; a typeless one (`extern const void x __ksym`) by kallsyms address.
      const varType = extern!.typeId !== undefined ? this.btf?.types[extern!.typeId] : undefined;
      const typed = varType?.kind === 'var' && this.btf!.resolve(varType.type).kind !== 'void';
      insn.src = typed ? LdImm64Src.BTF_ID : LdImm64Src.IMM64;
      insn.imm = 0;
      next.imm = 0;
      return { kind: 'ksym', externName: symbol.name, isFunction: extern!.isFunction ?? false };
    }
    if (symbol.sectionIndex === SHN_ABS || symbol.sectionIndex === SHN_COMMON) fail('symbol is absolute or common, not in a section');
    const target = this.elf.sections[symbol.sectionIndex]!;
    const targetCode = this.code.get(target.index);
    if (targetCode !== undefined) {
      if (isCall) {
        if (insn.src !== CallSrc.LOCAL) fail(`call with src ${insn.src} relocated against code (expected a bpf-to-bpf call, src 1)`);
        if (symbol.value % 8 !== 0) fail(`target offset ${symbol.value} is not on an instruction boundary`);
        return { kind: 'code', via: 'call', targetSection: target.index, targetIndex: symbol.value / 8 + insn.imm + 1 };
      }
      const byteOffset = symbol.value + addend;
      if (byteOffset % 8 !== 0 || byteOffset < 0) fail(`function pointer to byte ${byteOffset}, not an instruction boundary`);
      insn.src = LdImm64Src.FUNC;
      return { kind: 'code', via: 'func', targetSection: target.index, targetIndex: byteOffset / 8 };
    }
    if (isCall) fail(`call target is in non-code section '${target.name}'`);
    const next = section.instructions[index + 1]!;
    const dataMap = this.dataMaps.get(target.index);
    if (dataMap !== undefined) {
      const offset = (symbol.type === SymbolType.SECTION ? 0 : symbol.value) + addend;
      if (offset < 0 || offset > target.size) fail(`offset ${offset} is outside '${target.name}' (${target.size} bytes)`);
      insn.src = LdImm64Src.MAP_VALUE;
      insn.imm = 0;
      next.imm = offset;
      return { kind: 'mapValue', mapName: dataMap, offset };
    }
    const mapOffset = symbol.value + (symbol.type === SymbolType.SECTION ? addend : 0);
    const map = this.mapLocations.find((l) => l.section === target.index && l.offset === mapOffset);
    if (map !== undefined) {
      insn.src = LdImm64Src.MAP_FD;
      insn.imm = 0;
      next.imm = 0;
      return { kind: 'map', mapName: map.name };
    }
    return fail(`symbol is in section '${target.name}', which is neither code, a map definition nor global data`);
  }

  private attachBtfExt(): void {
    const section = this.elf.sectionByName('.BTF.ext');
    if (section === undefined || this.btf === undefined) return;
    const ext = inSection('.BTF.ext', () => parseBtfExt(this.elf.contents(section), this.btf!, { endianness: this.elf.byteOrder }));
    const byName = new Map([...this.code.values()].map((c) => [c.name, c]));
    /** Moves one kind of per-section record onto its code section, in instruction order. */
    const attach = <T extends { insnIndex: number }>(bySection: Map<string, T[]>, what: string, list: (code: CodeSection) => T[]): void => {
      for (const [name, records] of bySection) {
        const code = byName.get(name);
        if (code === undefined) throw new ObjectError(`${what} for section '${name}', which is not a code section`, '.BTF.ext');
        const out = list(code);
        for (const r of records) {
          if (r.insnIndex >= code.instructions.length) throw new ObjectError(`${what} for instruction ${r.insnIndex} of '${code.name}', which has ${code.instructions.length}`, '.BTF.ext');
          out.push(r);
        }
        out.sort((x, y) => x.insnIndex - y.insnIndex);
      }
    };
    attach(ext.funcInfo, 'func_info', (code) => code.funcInfo);
    attach(ext.lineInfo, 'line_info', (code) => code.lineInfo);
    attach(ext.coreRelos, 'CO-RE relocation', (code) => code.coreRelocations);
  }

  /** `values` initialisers must name programs and maps of the collection. */
  private checkMapContents(programs: Record<string, ProgramSpec>): void {
    for (const map of Object.values(this.maps)) {
      for (const entry of map.contents) {
        const value = entry.value;
        if (value instanceof Uint8Array) continue;
        if ('program' in value && !Object.hasOwn(programs, value.program)) throw new ObjectError(`map '${map.name}' refers to unknown program '${value.program}'`, map.section);
        if ('map' in value && !Object.hasOwn(this.maps, value.map)) throw new ObjectError(`map '${map.name}' refers to unknown map '${value.map}'`, map.section);
      }
    }
  }
}
