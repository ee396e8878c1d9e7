/**
 * Minimal ELF64 reader for uprobes: finds a function symbol in an executable
 * or shared library (.symtab, then .dynsym) and converts its virtual address
 * to the file offset the uprobe PMU wants (via the PT_LOAD segment holding
 * it, like libbpf's elf_sym_offset).
 */
import { readFileSync } from 'node:fs';
import { KernelArgumentError } from './errors.ts';

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const PT_LOAD = 1;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const SHN_UNDEF = 0;

export interface SymbolLocation {
  name: string;
  /** Symbol value (virtual address). */
  address: bigint;
  /** Offset in the file, what uprobes attach to. */
  fileOffset: bigint;
  size: bigint;
}

/** Locates function `symbol` in ELF file `path`. */
export function findFunctionOffset(path: string, symbol: string): SymbolLocation {
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (error) {
    throw new KernelArgumentError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (data.length < 64 || data.readUInt32BE(0) !== 0x7f454c46) throw new KernelArgumentError(`${path} is not an ELF file`);
  if (data[4] !== 2) throw new KernelArgumentError(`${path} is not a 64-bit ELF file`);
  if (data[5] !== 1) throw new KernelArgumentError(`${path} is big-endian; only little-endian ELF is supported`);
  const shoff = Number(data.readBigUInt64LE(0x28));
  const shentsize = data.readUInt16LE(0x3a);
  const shnum = data.readUInt16LE(0x3c);
  const phoff = Number(data.readBigUInt64LE(0x20));
  const phentsize = data.readUInt16LE(0x36);
  const phnum = data.readUInt16LE(0x38);

  const sections = Array.from({ length: shnum }, (_, i) => {
    const base = shoff + i * shentsize;
    return {
      type: data.readUInt32LE(base + 4),
      offset: Number(data.readBigUInt64LE(base + 0x18)),
      size: Number(data.readBigUInt64LE(base + 0x20)),
      link: data.readUInt32LE(base + 0x28),
      entsize: Number(data.readBigUInt64LE(base + 0x38)),
    };
  });

  let found: { address: bigint; size: bigint } | undefined;
  for (const wanted of [SHT_SYMTAB, SHT_DYNSYM]) {
    for (const section of sections) {
      if (section.type !== wanted || section.entsize === 0) continue;
      const strings = sections[section.link];
      if (!strings) continue;
      for (let off = section.offset; off + 24 <= section.offset + section.size; off += section.entsize) {
        const info = data[off + 4]!;
        const kind = info & 0xf;
        if ((kind !== STT_FUNC && kind !== STT_GNU_IFUNC) || data.readUInt16LE(off + 6) === SHN_UNDEF) continue;
        const nameStart = strings.offset + data.readUInt32LE(off);
        const nameEnd = data.indexOf(0, nameStart);
        // Versioned dynamic names ("malloc@@GLIBC_2.2.5") match their base name.
        const name = data.toString('latin1', nameStart, nameEnd).split('@')[0];
        if (name !== symbol) continue;
        found = { address: data.readBigUInt64LE(off + 8), size: data.readBigUInt64LE(off + 16) };
        break;
      }
      if (found) break;
    }
    if (found) break;
  }
  if (!found) throw new KernelArgumentError(`function '${symbol}' not found in the symbol tables of ${path}`);

  for (let i = 0; i < phnum; i++) {
    const base = phoff + i * phentsize;
    if (data.readUInt32LE(base) !== PT_LOAD) continue;
    const flags = data.readUInt32LE(base + 4);
    const offset = data.readBigUInt64LE(base + 8);
    const vaddr = data.readBigUInt64LE(base + 16);
    const memsz = data.readBigUInt64LE(base + 40);
    const executable = (flags & 1) !== 0;
    if (executable && found.address >= vaddr && found.address < vaddr + memsz) {
      return { name: symbol, address: found.address, fileOffset: found.address - vaddr + offset, size: found.size };
    }
  }
  throw new KernelArgumentError(`function '${symbol}' in ${path} (address 0x${found.address.toString(16)}) is not inside an executable PT_LOAD segment`);
}
