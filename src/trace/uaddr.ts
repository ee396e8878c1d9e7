/**
 * uaddr("sym"): the address of a symbol of the probed binary. The ELF
 * gives link-time addresses; a position-independent binary is loaded at a
 * bias. In a uprobe or USDT probe the instruction pointer is the probed
 * address, so the program computes `ip - probed + symbol`, which is the
 * symbol's run-time address whether or not the binary was relocated.
 */
import { readFileSync } from 'node:fs';
import { ElfFile, SHN_UNDEF, SegmentType, SymbolType } from '../object/index.ts';

export interface UserSymbol {
  address: bigint;
  size: number;
}

function readElf(path: string): ElfFile {
  return new ElfFile(readFileSync(path), { kind: 'linked' });
}

/** A defined data or function symbol of `path` (.symtab, then .dynsym), or a message saying why there is none. */
export function userSymbol(path: string, name: string): UserSymbol | string {
  let elf: ElfFile;
  try {
    elf = readElf(path);
  } catch (error) {
    return `cannot read the symbols of ${path}: ${(error as Error).message}`;
  }
  const defined = (s: { name: string; type: number; sectionIndex: number }): boolean =>
    s.sectionIndex !== SHN_UNDEF && (s.type === SymbolType.OBJECT || s.type === SymbolType.FUNC || s.type === SymbolType.NOTYPE) && s.name.split('@')[0] === name;
  const found = elf.symbols.find(defined) ?? elf.dynamicSymbols.find(defined);
  if (found === undefined) return `Could not resolve symbol: ${path}:${name}`;
  return { address: BigInt(found.value), size: found.size };
}

/** The link-time address of file offset `offset` of `path` (the PT_LOAD segment holding it). */
export function virtualAddressOf(path: string, offset: bigint): bigint | string {
  let elf: ElfFile;
  try {
    elf = readElf(path);
  } catch (error) {
    return `cannot read ${path}: ${(error as Error).message}`;
  }
  const at = Number(offset);
  const segment = elf.segments.find((s) => s.type === SegmentType.LOAD && at >= s.offset && at < s.offset + s.fileSize);
  if (segment === undefined) return `offset 0x${offset.toString(16)} of ${path} is in no loadable segment`;
  return BigInt(at - segment.offset + segment.vaddr);
}
