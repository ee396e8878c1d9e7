/**
 * Addresses to names: kernel addresses through /proc/kallsyms, user
 * addresses through a process's mappings and the ELF symbol tables of the
 * files it maps, and stack trace map values (`bpf_get_stackid`) to frames.
 * Used by `tsbpf prog dump` (helper calls in xlated code) and by anything
 * that prints stacks.
 */
import { readFileSync } from 'node:fs';
import { ElfFile, SegmentType, SymbolType } from '../object/elf.ts';
import { KernelArgumentError } from './errors.ts';

/** A symbol an address falls in: its name, the distance from its start, and the module or file it belongs to. */
export interface ResolvedSymbol {
  name: string;
  offset: bigint;
  /** Kernel module (`[nf_tables]`) or file (`/usr/lib/libc.so.6`) when not vmlinux. */
  module?: string;
}

/** Leading underscores mark internal names: the fewer, the more a name is what people call the function. */
const preference = (name: string): number => name.length - name.replace(/^_+/, '').length;

/** Symbols sorted by address, looked up by binary search. */
class SortedSymbols {
  readonly #addresses: bigint[] = [];
  readonly #names: string[] = [];
  readonly #modules: (string | undefined)[] = [];
  readonly #sizes: (bigint | undefined)[] = [];

  constructor(entries: Array<{ address: bigint; name: string; module?: string; size?: bigint }>) {
    entries.sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : preference(a.name) - preference(b.name)));
    for (const e of entries) {
      // Aliases (`malloc` and `__libc_malloc`): the first, most public name of each address stands.
      if (this.#addresses.at(-1) === e.address) continue;
      this.#addresses.push(e.address);
      this.#names.push(e.name);
      this.#modules.push(e.module);
      this.#sizes.push(e.size);
    }
  }

  get size(): number {
    return this.#addresses.length;
  }

  /** The last symbol at or before `address` (within its size when the size is known). */
  lookup(address: bigint): ResolvedSymbol | undefined {
    let low = 0;
    let high = this.#addresses.length - 1;
    let found = -1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      if (this.#addresses[mid]! <= address) {
        found = mid;
        low = mid + 1;
      } else high = mid - 1;
    }
    if (found < 0) return undefined;
    const offset = address - this.#addresses[found]!;
    const size = this.#sizes[found];
    if (size !== undefined && size > 0n && offset >= size) return undefined;
    const module = this.#modules[found];
    return { name: this.#names[found]!, offset, ...(module !== undefined ? { module } : {}) };
  }
}

/** /proc/kallsyms, parsed once: text and data symbols of the kernel and its modules. */
export class KernelSymbols {
  readonly #sorted: SortedSymbols;
  readonly #byName = new Map<string, bigint>();

  /** Parses kallsyms text (default: reads /proc/kallsyms). Addresses all zero (kptr_restrict) are an error. */
  constructor(text?: string) {
    const source = text ?? readKallsymsText();
    const entries: Array<{ address: bigint; name: string; module?: string }> = [];
    for (const line of source.split('\n')) {
      const match = /^([0-9a-fA-F]+) (\S) (\S+)(?:\s+\[(\S+)\])?/.exec(line);
      if (match === null) continue;
      const address = BigInt(`0x${match[1]}`);
      if (address === 0n) continue;
      const name = match[3]!;
      entries.push({ address, name, ...(match[4] !== undefined ? { module: `[${match[4]}]` } : {}) });
      if (!this.#byName.has(name)) this.#byName.set(name, address);
    }
    if (entries.length === 0) throw new KernelArgumentError('/proc/kallsyms shows no addresses (kernel.kptr_restrict, or not running with CAP_SYSLOG): kernel addresses cannot be named');
    this.#sorted = new SortedSymbols(entries);
  }

  lookup(address: bigint): ResolvedSymbol | undefined {
    return this.#sorted.lookup(address);
  }

  /** The address of `name` (the first one when several symbols share it). */
  address(name: string): bigint | undefined {
    return this.#byName.get(name);
  }
}

function readKallsymsText(): string {
  try {
    return readFileSync('/proc/kallsyms', 'latin1');
  } catch (error) {
    throw new KernelArgumentError(`cannot read /proc/kallsyms: ${(error as Error).message}`);
  }
}

/** The function symbols of an ELF executable or library, by virtual address, with the segments that map file offsets to addresses. */
export class ElfSymbols {
  readonly #sorted: SortedSymbols;
  readonly #segments: Array<{ offset: bigint; vaddr: bigint; size: bigint }>;

  constructor(
    readonly path: string,
    bytes?: Uint8Array,
  ) {
    const elf = new ElfFile(bytes ?? readFileSync(path), { kind: 'linked' });
    const entries = [...elf.symbols, ...elf.dynamicSymbols]
      .filter((s) => (s.type === SymbolType.FUNC || s.type === SymbolType.GNU_IFUNC) && s.value !== 0)
      .map((s) => ({ address: BigInt(s.value), name: s.name.split('@')[0]!, size: BigInt(s.size) }));
    this.#sorted = new SortedSymbols(entries);
    this.#segments = elf.segments.filter((s) => s.type === SegmentType.LOAD).map((s) => ({ offset: BigInt(s.offset), vaddr: BigInt(s.vaddr), size: BigInt(s.fileSize) }));
  }

  /** The function containing virtual address `vaddr` (as the file's symbols count addresses). */
  lookup(vaddr: bigint): ResolvedSymbol | undefined {
    const symbol = this.#sorted.lookup(vaddr);
    return symbol && { ...symbol, module: this.path };
  }

  /** The virtual address that file offset `offset` is loaded at, when a PT_LOAD segment holds it. */
  addressOfOffset(offset: bigint): bigint | undefined {
    const segment = this.#segments.find((s) => offset >= s.offset && offset < s.offset + s.size);
    return segment && offset - segment.offset + segment.vaddr;
  }
}

/** One line of /proc/PID/maps that maps a file. */
interface FileMapping {
  start: bigint;
  end: bigint;
  fileOffset: bigint;
  path: string;
}

/** User-space addresses of one process named through the ELF files it maps (read when first needed). */
export class ProcessSymbols {
  readonly #mappings: FileMapping[];
  readonly #files = new Map<string, ElfSymbols | undefined>();

  constructor(readonly pid: number) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/maps`, 'latin1');
    } catch (error) {
      throw new KernelArgumentError(`cannot read the mappings of process ${pid}: ${(error as Error).message}`);
    }
    this.#mappings = [];
    for (const line of text.split('\n')) {
      const match = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(\/.*)$/.exec(line);
      if (match) this.#mappings.push({ start: BigInt(`0x${match[1]}`), end: BigInt(`0x${match[2]}`), fileOffset: BigInt(`0x${match[3]}`), path: match[4]! });
    }
  }

  /** The function holding `address`; for a mapped file without a symbol there, the hex address as the name and the file as the module. */
  lookup(address: bigint): ResolvedSymbol | undefined {
    const mapping = this.#mapping(address);
    if (mapping === undefined) return undefined;
    return this.resolve(address) ?? { name: `0x${address.toString(16)}`, offset: 0n, module: mapping.path };
  }

  /** The function holding `address`, or undefined when no symbol of a mapped file covers it. */
  resolve(address: bigint): ResolvedSymbol | undefined {
    const mapping = this.#mapping(address);
    const elf = mapping && this.#elf(mapping.path);
    if (mapping === undefined || elf === undefined) return undefined;
    const vaddr = elf.addressOfOffset(address - mapping.start + mapping.fileOffset);
    return vaddr !== undefined ? elf.lookup(vaddr) : undefined;
  }

  #mapping(address: bigint): FileMapping | undefined {
    return this.#mappings.find((m) => address >= m.start && address < m.end);
  }

  #elf(path: string): ElfSymbols | undefined {
    if (!this.#files.has(path)) {
      let symbols: ElfSymbols | undefined;
      try {
        symbols = new ElfSymbols(path);
      } catch {
        symbols = undefined; // deleted, unreadable or not ELF: frames show the file and address
      }
      this.#files.set(path, symbols);
    }
    return this.#files.get(path);
  }
}

/**
 * ProcessSymbols of many processes, each read on first use (a tracer sees
 * addresses of whatever processes its probes hit). A process that is gone
 * or unreadable resolves nothing.
 */
export class ProcessSymbolsCache {
  readonly #processes = new Map<number, ProcessSymbols | undefined>();

  resolve(pid: number, address: bigint): ResolvedSymbol | undefined {
    if (!this.#processes.has(pid)) {
      let symbols: ProcessSymbols | undefined;
      try {
        symbols = new ProcessSymbols(pid);
      } catch {
        symbols = undefined;
      }
      this.#processes.set(pid, symbols);
    }
    return this.#processes.get(pid)?.resolve(address);
  }

  /** Forgets every process (pids are reused). */
  reset(): void {
    this.#processes.clear();
  }
}

/** The instruction pointers of a stack trace map value (`u64 ips[]`, ended by the first zero). */
export function stackAddresses(value: Uint8Array): bigint[] {
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const out: bigint[] = [];
  for (let at = 0; at + 8 <= value.length; at += 8) {
    const ip = view.getBigUint64(at, true);
    if (ip === 0n) break;
    out.push(ip);
  }
  return out;
}

/** `name+0x1c [module]`, or the bare hex address when nothing names it. */
export function formatSymbol(address: bigint, symbol: ResolvedSymbol | undefined): string {
  if (symbol === undefined) return `0x${address.toString(16)}`;
  return `${symbol.name}${symbol.offset > 0n ? `+0x${symbol.offset.toString(16)}` : ''}${symbol.module !== undefined ? ` ${symbol.module}` : ''}`;
}

/** Frames of a stack (kernel addresses through `kernel`, others through `process`), innermost first. */
export function symbolizeStack(addresses: readonly bigint[], resolvers: { kernel?: KernelSymbols; process?: ProcessSymbols }): string[] {
  return addresses.map((address) => {
    // Kernel addresses have the top bit set on every 64-bit architecture Linux supports.
    const resolver = address >= 0x8000_0000_0000_0000n ? resolvers.kernel : resolvers.process;
    return formatSymbol(address, resolver?.lookup(address));
  });
}
