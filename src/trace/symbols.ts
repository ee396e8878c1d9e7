/**
 * Address to symbol for kstack/ustack/ksym/usym: the kernel from
 * /proc/kallsyms, user space from the ELF symbol tables of the files a
 * process maps (/proc/PID/maps). Kept here until the library's reusable
 * symbolisation module lands; the interface is small so the two can merge.
 */
import { readFileSync } from 'node:fs';
import { ElfFile, SHN_UNDEF, SegmentType, SymbolType } from '../object/index.ts';

interface Symbol {
  address: bigint;
  size: bigint;
  name: string;
}

function lookup(table: readonly Symbol[], address: bigint): Symbol | undefined {
  let low = 0;
  let high = table.length - 1;
  let found: Symbol | undefined;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const s = table[mid]!;
    if (s.address <= address) {
      found = s;
      low = mid + 1;
    } else {
      high = mid - 1;
    }
  }
  return found;
}

function hex(address: bigint): string {
  return `0x${address.toString(16)}`;
}

export class KernelSymbols {
  #table: Symbol[] | undefined;

  constructor(readonly path = '/proc/kallsyms') {}

  get #symbols(): Symbol[] {
    if (this.#table !== undefined) return this.#table;
    const table: Symbol[] = [];
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch {
      // Without kallsyms every frame prints as an address.
    }
    for (const line of text.split('\n')) {
      const [address, type, name] = line.split(/\s+/);
      if (address === undefined || name === undefined || !/^[tTwW]$/.test(type ?? '')) continue;
      const value = BigInt(`0x${address}`);
      if (value !== 0n) table.push({ address: value, size: 0n, name });
    }
    table.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
    this.#table = table;
    return table;
  }

  /** `name+offset` (or `name`), or the address in hex when no symbol covers it. */
  symbolize(address: bigint, withOffset = true): string {
    const s = lookup(this.#symbols, address);
    if (s === undefined) return hex(address);
    return withOffset ? `${s.name}+${address - s.address}` : s.name;
  }

  /** The address of a kernel function or variable (kaddr()). */
  address(name: string): bigint | undefined {
    if (this.#table === undefined) {
      try {
        for (const line of readFileSync(this.path, 'utf8').split('\n')) {
          const [address, , symbol] = line.split(/\s+/);
          if (symbol === name && address !== undefined) return BigInt(`0x${address}`);
        }
      } catch {
        return undefined;
      }
      return undefined;
    }
    return this.#table.find((s) => s.name === name)?.address;
  }
}

interface Mapping {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
  path: string;
}

interface ElfSymbols {
  symbols: Symbol[];
  /** File offset to virtual address of the executable segments. */
  segments: { offset: bigint; vaddr: bigint; size: bigint }[];
}

export class UserSymbols {
  readonly #files = new Map<string, ElfSymbols | undefined>();
  readonly #maps = new Map<number, Mapping[]>();

  #mappings(pid: number): Mapping[] {
    let maps = this.#maps.get(pid);
    if (maps !== undefined) return maps;
    maps = [];
    try {
      for (const line of readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
        const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
        if (m !== null) maps.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), fileOffset: BigInt(`0x${m[3]}`), path: m[4]! });
      }
    } catch {
      // The process is gone: its frames print as addresses.
    }
    this.#maps.set(pid, maps);
    return maps;
  }

  #file(path: string): ElfSymbols | undefined {
    if (this.#files.has(path)) return this.#files.get(path);
    let result: ElfSymbols | undefined;
    try {
      const elf = new ElfFile(readFileSync(path), { kind: 'linked' });
      const symbols = [...elf.symbols, ...elf.dynamicSymbols]
        .filter((s) => (s.type === SymbolType.FUNC || s.type === SymbolType.GNU_IFUNC) && s.sectionIndex !== SHN_UNDEF && s.value !== 0)
        .map((s) => ({ address: BigInt(s.value), size: BigInt(s.size), name: s.name.split('@')[0]! }))
        .sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
      const segments = elf.segments.filter((s) => s.type === SegmentType.LOAD).map((s) => ({ offset: BigInt(s.offset), vaddr: BigInt(s.vaddr), size: BigInt(s.memorySize) }));
      result = { symbols, segments };
    } catch {
      result = undefined;
    }
    this.#files.set(path, result);
    return result;
  }

  /** `name+offset` for an address of process `pid`, or the address in hex. */
  symbolize(address: bigint, pid: number, withOffset = true): string {
    const mapping = this.#mappings(pid).find((m) => address >= m.start && address < m.end);
    if (mapping === undefined) return hex(address);
    const file = this.#file(mapping.path);
    if (file === undefined) return hex(address);
    const fileOffset = address - mapping.start + mapping.fileOffset;
    const segment = file.segments.find((s) => fileOffset >= s.offset && fileOffset < s.offset + s.size);
    if (segment === undefined) return hex(address);
    const vaddr = fileOffset - segment.offset + segment.vaddr;
    const s = lookup(file.symbols, vaddr);
    if (s === undefined || (s.size > 0n && vaddr >= s.address + s.size)) return hex(address);
    return withOffset ? `${s.name}+${vaddr - s.address}` : s.name;
  }

  /** Forgets cached process maps (a pid may be reused). */
  reset(): void {
    this.#maps.clear();
  }
}
