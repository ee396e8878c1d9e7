/**
 * Test helper: the raw bytes of named sections of a clang-built BPF object
 * (ELF64, either byte order). Only what the BTF tests need to get `.BTF`,
 * `.BTF.ext` and program sections out of a fixture; the real ELF loader is
 * src/object.
 */
import { readFileSync } from 'node:fs';

export interface ElfSections {
  littleEndian: boolean;
  sections: Map<string, Uint8Array>;
}

export function readElfSections(path: string): ElfSections {
  const bytes = new Uint8Array(readFileSync(path));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== 0x7f454c46 || bytes[4] !== 2) throw new Error(`${path}: not an ELF64 file`);
  const le = bytes[5] === 1;
  const shoff = Number(view.getBigUint64(0x28, le));
  const shentsize = view.getUint16(0x3a, le);
  const shnum = view.getUint16(0x3c, le);
  const shstrndx = view.getUint16(0x3e, le);
  const header = (i: number) => {
    const base = shoff + i * shentsize;
    return {
      name: view.getUint32(base, le),
      type: view.getUint32(base + 4, le),
      offset: Number(view.getBigUint64(base + 0x18, le)),
      size: Number(view.getBigUint64(base + 0x20, le)),
    };
  };
  const strtab = header(shstrndx);
  const sections = new Map<string, Uint8Array>();
  for (let i = 1; i < shnum; i++) {
    const h = header(i);
    const nameStart = strtab.offset + h.name;
    const name = new TextDecoder().decode(bytes.subarray(nameStart, bytes.indexOf(0, nameStart)));
    // SHT_NOBITS (.bss) has no file contents.
    sections.set(name, h.type === 8 ? new Uint8Array(h.size) : bytes.subarray(h.offset, h.offset + h.size));
  }
  return { littleEndian: le, sections };
}

export function section(elf: ElfSections, name: string): Uint8Array {
  const s = elf.sections.get(name);
  if (!s) throw new Error(`no section ${name}; have ${[...elf.sections.keys()].join(', ')}`);
  return s;
}
