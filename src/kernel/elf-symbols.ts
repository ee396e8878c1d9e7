/**
 * Uprobe targets: finds a function symbol in an executable or shared
 * library (.symtab, then .dynsym) and converts its virtual address to the
 * file offset the uprobe PMU wants (via the executable PT_LOAD segment
 * holding it, like libbpf's elf_sym_offset). The file is read by
 * src/object/elf.ts's strict ElfFile.
 */
import { readFileSync } from 'node:fs';
import { ElfFile, SHN_UNDEF, SegmentFlag, SegmentType, SymbolType, type ElfSymbol } from '../object/elf.ts';
import { ObjectError } from '../object/errors.ts';
import { KernelArgumentError } from './errors.ts';

export interface SymbolLocation {
  name: string;
  /** Symbol value (virtual address). */
  address: bigint;
  /** Offset in the file, what uprobes attach to. */
  fileOffset: bigint;
  size: bigint;
}

/** A defined function (or GNU indirect function) named `symbol`; versioned dynamic names ("malloc@@GLIBC_2.2.5") match their base name. */
function isFunctionNamed(entry: ElfSymbol, symbol: string): boolean {
  if (entry.type !== SymbolType.FUNC && entry.type !== SymbolType.GNU_IFUNC) return false;
  return entry.sectionIndex !== SHN_UNDEF && entry.name.split('@')[0] === symbol;
}

/** Locates function `symbol` in ELF file `path`. */
export function findFunctionOffset(path: string, symbol: string): SymbolLocation {
  let elf: ElfFile;
  try {
    elf = new ElfFile(readFileSync(path), { kind: 'linked' });
  } catch (error) {
    if (error instanceof ObjectError) throw new KernelArgumentError(`${path} is not a usable ELF executable or shared library: ${error.message}`);
    throw new KernelArgumentError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const found = elf.symbols.find((s) => isFunctionNamed(s, symbol)) ?? elf.dynamicSymbols.find((s) => isFunctionNamed(s, symbol));
  if (found === undefined) throw new KernelArgumentError(`function '${symbol}' not found in the symbol tables of ${path}`);
  const segment = elf.segments.find(
    (s) => s.type === SegmentType.LOAD && (s.flags & SegmentFlag.EXECUTE) !== 0 && found.value >= s.vaddr && found.value < s.vaddr + s.memorySize,
  );
  if (segment === undefined) {
    throw new KernelArgumentError(`function '${symbol}' in ${path} (address 0x${found.value.toString(16)}) is not inside an executable PT_LOAD segment`);
  }
  return { name: symbol, address: BigInt(found.value), fileOffset: BigInt(found.value - segment.vaddr + segment.offset), size: BigInt(found.size) };
}
